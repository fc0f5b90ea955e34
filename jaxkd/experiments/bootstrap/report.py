"""The report of bootstrap: its figures and its document."""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import LogLocator, NullLocator, ScalarFormatter

from jaxkd import document as doc
from jaxkd.experiments import fit
from jaxkd.experiments.bootstrap.config import MLP_SCRIPT
from jaxkd.experiments.bootstrap.run import Results
from jaxkd.formatting import fmt
from jaxkd.plotting import nan_array, subplots


def _b_axis(ax, b) -> None:
    """The log b axis of both figures, ticked at the sizes that were run (x only: the log y
    axis keeps its minor ticks, which carry its labels when it spans less than a decade)."""
    ax.set_xticks(b)
    ax.set_xticklabels([str(int(x)) for x in b], rotation=45, fontsize=8)
    ax.xaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_locator(LogLocator(subs="all"))
    ax.set_xlabel("bootstrap sample size b (rows)")


def fig_bootstrap_variance(res: Results):
    """Log-log variance against b, ±2 SE. The axis spans the ground-truth curve and its closed
    forms; teacher-labelled variances far below it (5.1's zero, up to rounding, for linear
    students) are drawn at the bottom edge and said so in the legend, not allowed to stretch
    the axis."""
    fig, ax = subplots(figsize=(5.5, 4))
    b = np.asarray(res.b)
    truth = np.asarray(res.truth_variance, float)
    teacher = nan_array(res.teacher_variance)
    shown = np.concatenate([truth, nan_array((res.sandwich_truth_variance if res.sandwich_truth_variance is not None else truth)),
                            teacher[teacher > 1e-8 * np.nanmax(truth)]])  # rounding-level zeros excluded
    bottom = 0.5 * np.nanmin(shown)
    ax.errorbar(b, truth, yerr=2 * nan_array(res.truth_variance_se), fmt="o-", capsize=2,
                label="ground-truth labels (±2 SE)")
    low = teacher < bottom
    t_err = np.where(low, 0.0, 2 * nan_array(res.teacher_variance_se))
    ax.errorbar(b, np.maximum(teacher, bottom), yerr=t_err, fmt="s-", capsize=2,
                label="teacher labels (±2 SE)" + (" (at the edge: below the axis)" if low.any() else ""))
    ax.set_xscale("log")
    ax.set_yscale("log")
    if res.predicted_truth_variance is not None:
        ax.plot(b, np.maximum(nan_array(res.teacher_variance_full_rank), bottom), "^:",
                label="teacher labels, full-rank resamples (5.1: zero; at the edge)")
        ax.plot(b, res.predicted_truth_variance, "--", label="(τ²/b)·xᵀΣ⁻¹x (5.2)")
        ax.plot(b, nan_array(res.gaussian_truth_variance), ":", label="τ²/(b−d−1)·xᵀΣ⁻¹x (Gaussian)")
        if res.sandwich_truth_variance is not None:
            ax.plot(b, res.sandwich_truth_variance, "-.", label="xᵀΣ⁻¹ΩΣ⁻¹x/b, sandwich (X.2)")
    ax.set_ylim(bottom=bottom)
    _b_axis(ax, b)
    ax.set_ylabel("inter-student variance (standardized target)²")
    ax.set_title("Bootstrap students: predictive variance")
    ax.legend(fontsize=8)
    return fig


def fig_bootstrap_mse(res: Results):
    """Mean test MSE against b, ±2 SE of the mean."""
    fig, ax = subplots(figsize=(5.5, 4))
    b = np.asarray(res.b)
    n = res.num_students or res.config.num_students
    for key, fmt_, label in (("truth", "o-", "ground-truth labels"), ("teacher", "s-", "teacher labels")):
        ax.errorbar(b, getattr(res, f"{key}_mse"), yerr=2 * nan_array(getattr(res, f"{key}_mse_std")) / np.sqrt(n),
                    fmt=fmt_, capsize=2, label=f"{label} (±2 SE)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    if res.predicted_truth_mse is not None:
        ax.plot(b, res.predicted_truth_mse, "--", label="τ²(1 + d/b) (5.3)")
    if res.observed_truth_mse is not None:
        ax.plot(b, res.observed_truth_mse, "-.", label="MSE(full fit) + tr(X*ᵀX* Cov_b)/m (X.3)")
    _b_axis(ax, b)
    ax.set_ylabel("mean test MSE vs observed labels")
    ax.set_title("Bootstrap students: test MSE")
    ax.legend(fontsize=8)
    return fig


def figures(res: Results) -> dict:
    """This experiment's figures, by file name (the document refers to them)."""
    return {"variance.png": fig_bootstrap_variance(res), "mse.png": fig_bootstrap_mse(res)}


def script_sizes(n: int) -> tuple[int, ...]:
    """The study's bootstrap grid: 10%, 20%, ..., 100% of the n training rows (int-truncated)."""
    return tuple(sorted({max(1, int(f / 10 * n)) for f in range(1, 11)}))


def _departures(res: Results) -> str:
    """Where the MLP run differs from the study's script, in words."""
    cfg, grid = res.config, tuple(int(x) for x in res.b)
    out = []
    if grid != script_sizes(res.n):
        out.append(f"b = {', '.join(map(str, grid))} (the script: 10%, 20%, ..., 100% of the {res.n} training rows, "
                   f"{', '.join(map(str, script_sizes(res.n)))})")
    if cfg.num_students != 1000:
        out.append(f"{cfg.num_students} students per b and label (the script: 1,000)")
    script = dict(MLP_SCRIPT, init="torch")
    for field, value in script.items():
        if getattr(cfg, field) != value:
            out.append(f"{field.replace('_', ' ')} {getattr(cfg, field)} (the script: {value})")
    return ("Departures from the study's script: " + "; ".join(out) + "." if out
            else "Everything as the study's script (data_driven/nn.py) but the PRNG.")


def document(res: Results) -> doc.Section:
    """This experiment's report: tables and the figures of :func:`figures`."""
    cfg = res.config
    figures = [doc.Figure("variance.png", "inter-student variance, ±2 SE"), doc.Figure("mse.png", "mean test MSE, ±2 SE")]
    if cfg.model == "mlp":
        keys = ["b", "teacher_variance", "truth_variance", "teacher_mse", "truth_mse"]
        table = doc.Table(["b", "V teacher-labelled", "V ground truth", "MSE teacher-labelled",
                           "MSE ground truth"], list(zip(*(getattr(res, k) for k in keys))))
        teacher = ", ".join(map(str, cfg.teacher_hidden or cfg.hidden))
        return doc.Section(f"Bootstrap students (mlp, {cfg.dataset}, {cfg.num_students} students)", [
            doc.Paragraph(f"Study Section 5.2. Split seed {cfg.split_seed}; teacher 13 → {teacher} → 1 and students "
                          f"13 → {', '.join(map(str, cfg.hidden))} → 1, Adam lr {cfg.learning_rate}, {cfg.students_epochs} "
                          f"full-batch epochs, {cfg.init} initialisation; every student starts from the same init "
                          "(as the study's script); bootstrap counts weight the full-batch loss, which is training on "
                          "the resampled rows. MSE is against the observed test labels."),
            doc.Paragraph(_departures(res)),
            table, *fit.table([(f"b = {b}, {kind}", fits[i]) for i, b in enumerate(res.b)
                               for kind, fits in (("teacher-labelled", res.teacher_fit), ("ground truth", res.truth_fit))
                               if fits is not None]),
            *figures])
    keys = ["b", "full_rank_fraction", "teacher_variance", "teacher_variance_full_rank",
            "truth_variance", "predicted_truth_variance", "sandwich_truth_variance", "teacher_mse", "truth_mse",
            "predicted_truth_mse", "observed_truth_mse"]
    table = doc.Table(["b", "full-rank share", "V teacher-labelled", "V teacher (full rank)",
                       "V ground truth", "(τ²/b)xᵀΣ⁻¹x (5.2)", "sandwich/b (X.2)", "MSE teacher-labelled",
                       "MSE ground truth", "τ²(1+d/b) (5.3)", "X.3"],
                      list(zip(*(getattr(res, k) for k in keys))))
    V, V52, V_x2 = (np.asarray(getattr(res, k), float) for k in ("truth_variance", "predicted_truth_variance",
                                                        "sandwich_truth_variance"))
    d, b = res.d, np.asarray(res.b, float)
    inflation = fmt(b[0] / (b[0] - d - 1), 3) if b[0] > d + 1 else "undefined (b <= d + 1)"
    gap = (f"At b = {fmt(b[0])} the simulated ground-truth variance is {fmt(V[0] / V_x2[0], 3)}x the sandwich "
           f"(X.2) and {fmt(V[0] / V52[0], 3)}x 5.2's homoscedastic form, against a Gaussian-design inflation ",
           doc.Formula("b/(b-d-1)"), f" = {inflation}; at b = {fmt(b[-1])} the ratios are {fmt(V[-1] / V_x2[-1], 3)} "
           f"and {fmt(V[-1] / V52[-1], 3)}. Boston's residuals are heteroscedastic, so 5.2 and 5.3 (which assume "
           "one noise level τ²) are not expected to hold here; X.2 and X.3 are their heteroscedastic, "
           "fixed-test-split counterparts.")
    return doc.Section(f"Bootstrap students ({cfg.model}, {cfg.dataset}, {cfg.num_students} students)", [
        doc.Paragraph("Study Section 5.2; docs/theorems.md 5.1-5.3, X.2-X.3. Split seed "
                      f"{cfg.split_seed} (the study's linear script). τ̂² (OLS residual variance) = "
                      f"{fmt(res.tau2_hat)}, d = {res.d}, n = {res.n}. Rank-deficient resamples get the "
                      "minimum-norm fit; 5.1's zero variance holds for the full-rank ones."),
        table, doc.Paragraph(*gap), *figures])
