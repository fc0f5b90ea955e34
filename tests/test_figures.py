"""Figures show the uncertainty that decides their claim, and stay readable (issue 26's list)."""

import numpy as np
from matplotlib.figure import Figure

from experiment_modules import face
bootstrap = face("bootstrap")
init_perturbation = face("init_perturbation")
output_entropy = face("output_entropy")
teacher_noise = face("teacher_noise")
variance_attribution = face("variance_attribution")
variance_aware = face("variance_aware")


def _drawn(fig: Figure) -> Figure:
    fig.canvas.draw()
    return fig


def _labelled_ticks(axis) -> list[str]:
    """The labels of the ticks inside the axis's view (major and minor), non-empty ones."""
    low, high = sorted(axis.get_view_interval())
    out = []
    for minor in (False, True):
        for loc, label in zip(axis.get_ticklocs(minor=minor), axis.get_ticklabels(minor=minor)):
            if low <= loc <= high and label.get_text():
                out.append(label.get_text())
    return out


def _error_bars(ax) -> int:
    return sum(1 for c in ax.containers if type(c).__name__ == "ErrorbarContainer")


def _boot_results():
    """MLP bootstrap results whose MSEs and variances stay inside one decade (0.2 to 0.35):
    where a log axis without minor ticks has no labelled tick at all."""
    cfg = bootstrap.Config.from_preset("quick", model="mlp", num_students=100)
    b = (40, 80, 121, 202, 404)
    values = {"b": b, "n": 404, "num_students": 100}
    for label, top in (("teacher", 0.3), ("truth", 0.35)):
        curve = tuple(top - 0.03 * i for i in range(5))
        values |= {f"{label}_variance": curve, f"{label}_variance_se": (0.01,) * 5, f"{label}_mse": curve,
                   f"{label}_mse_std": (0.05,) * 5}
    return bootstrap.Results.build(cfg, values)


def test_bootstrap_figures_label_the_log_axis_and_carry_error_bars():
    for fig in bootstrap.figures(_boot_results()).values():
        ax = _drawn(fig).axes[0]
        assert _labelled_ticks(ax.yaxis), "a log axis spanning less than a decade lost its labels"
        assert _error_bars(ax) == 2


def test_teacher_noise_figures_show_the_control_on_its_own_scale():
    res = teacher_noise.run(teacher_noise.Config.from_preset("quick", model="mlp", num_students=8, epochs=20,
                                                             alphas=(0.0, 1.0, 2.0)))
    figs = teacher_noise.figures(res)
    spread = _drawn(figs["mse_variance.png"])
    assert len(spread.axes) == 2  # MLP and OLS in their own panels: the control is not flattened
    assert _error_bars(spread.axes[1]) == 1 and len(spread.axes[1].lines) >= 2  # simulated ± SE, X.1
    assert _error_bars(figs["variance.png"].axes[0]) == 2 and _error_bars(figs["mse.png"].axes[0]) == 4


def test_variance_aware_figures_show_ses_and_the_stability_interval():
    res = variance_aware.run(variance_aware.Config.from_preset("quick", num_students=20, ks=(1, 3), alphas=(1.0,)))
    figs = variance_aware.figures(res)
    assert _error_bars(figs["variance.png"].axes[0]) == len(variance_aware.METHODS)
    assert _error_bars(figs["stability.png"].axes[0]) == 1


def test_init_perturbation_figure_has_no_empty_decades_and_shows_the_margins():
    res = init_perturbation.run(init_perturbation.Config.from_preset("quick", num_students=6, epochs=10,
                                                                     scales=(0.0, 0.05)))
    fig = _drawn(init_perturbation.figures(res)["init_perturbation.png"])
    assert fig.axes[2].get_yscale() == "log"  # fresh inits: every variance is positive
    low, high = fig.axes[2].get_ylim()
    assert np.log10(high / low) < 6
    assert _error_bars(fig.axes[0]) == 1 and _error_bars(fig.axes[1]) == 1
    assert len(fig.axes[0].patches) >= 1  # the shaded margin


def test_entropy_figures_are_readable_and_show_the_deciding_interval():
    res = output_entropy.run(output_entropy.Config.from_preset("quick", datasets=("wine",), epochs=20, replicates=2))
    figs = output_entropy.figures(res)
    bars = _drawn(figs["entropy.png"])
    width, height = bars.get_size_inches() * bars.dpi
    assert width < 1600 and height > 300  # one panel per dataset and model class, not a 2292 x 467 strip
    ticks = [t.get_text() for ax in bars.axes for t in ax.get_xticklabels()]
    assert ticks and all("\nn=" in t for t in ticks)  # every group says how many examples it holds
    assert min(t.get_fontsize() for ax in bars.axes for t in ax.get_xticklabels()) >= 9
    diff = _drawn(figs["entropy_difference.png"])
    assert len(diff.axes) == len(output_entropy.GROUPS)
    assert sum(_error_bars(ax) for ax in diff.axes) >= 2 and all(ax.collections for ax in diff.axes[:2])


def test_attribution_figure_shows_both_indices_with_error_bars():
    res = variance_attribution.run(variance_attribution.Config.from_preset("quick", num_students=8, frozen_draws=4,
                                                                           epochs=3))
    ax = _drawn(variance_attribution.figures(res)["attribution.png"]).axes[0]
    assert len(ax.patches) == 2 * len(variance_attribution.SOURCES)  # first-order and total per source
    assert sum(1 for c in ax.containers if type(c).__name__ == "BarContainer" and c.errorbar is not None) == 2
