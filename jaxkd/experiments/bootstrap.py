"""Student initialization uncertainty via bootstrap (study Section 5.2).

N students each fit b rows drawn with replacement from the training set, labelled either by
the teacher (noise-free OLS outputs; docs/theorems.md 5.1 predicts zero variance) or by the ground
truth (5.2: variance about ``(tau^2/b) x^T Sigma^{-1} x``; 5.3: MSE about ``tau^2 (1 + d/b)``).
Both variants use the same resampled rows for each student, so their difference is the labels.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.ticker import LogLocator, NullLocator, ScalarFormatter

from jaxkd import _validation as v
from jaxkd import bootstrap, rng, uncertainty
from jaxkd import document as doc
from jaxkd.claims import Claim, Interval
from jaxkd.config import option
from jaxkd.experiments import protocol, regression
from jaxkd.formatting import fmt
from jaxkd.plotting import nan_array, subplots
from jaxkd.runs import RunDir, columns, sweep
from jaxkd.students import ensemble, linear, mlp
from jaxkd.theory import closed_forms as cf

MODELS = ("linear", "mlp")
SIZES_PAPER = (40, 80, 121, 161, 202, 242, 282, 323, 363, 404)  # int(f * 404), f = 0.1, ..., 1.0
MLP_SCRIPT = {"split_seed": 1, "teacher_hidden": (128,), "hidden": (64,), "epochs": 300, "learning_rate": 1e-3}


@dataclasses.dataclass(frozen=True)
class Config(regression.RegressionConfig):
    MODELS: ClassVar[tuple[str, ...]] = MODELS

    # The study's scripts: b = 10%, 20%, ..., 100% of the 404 training rows; the MLP script splits
    # with seed 1 (the linear one with 42) and trains a 128-wide teacher and 64-wide students
    # for 300 epochs at Adam lr 1e-3.
    PRESETS: ClassVar[dict] = {
        ("quick", "mlp"): {"num_students": 100, **MLP_SCRIPT},
        ("paper", "*"): {"sizes": SIZES_PAPER, "num_students": 1000},
        ("paper", "mlp"): MLP_SCRIPT,
    }

    split_seed: int = 42  # the study's linear script (the MLP presets: 1, its MLP script)
    sizes: tuple[int, ...] = option((40, 80, 121, 202, 404), "bootstrap sample sizes b")
    teacher_hidden: tuple[int, ...] | None = option(None, "MLP teacher's hidden widths (default: the students')")

    def __post_init__(self):
        super().__post_init__()
        if self.teacher_hidden is not None:
            object.__setattr__(self, "teacher_hidden", tuple(
                v.check_int("each teacher hidden width", w) for w in self.teacher_hidden))
        object.__setattr__(self, "sizes", v.check_grid(
            "bootstrap sizes", self.sizes, lambda n, x: v.check_int(n, x, minimum=2)))

    def floats_per_student(self, n: int, m: int, d: int) -> tuple[float, float]:
        # Each student's resampled rows (indices, and for linear students the gathered design)
        # and its bootstrap counts come on top of the common model.
        held, chunk = super().floats_per_student(n, m, d)
        extra = max(self.sizes) * (d + 2) if self.model == "linear" else n
        return held + extra, chunk


def _point(task: regression.LinearTask, b: int, key: jax.Array, num_students: int, tau2: float,
           Sigma: jax.Array, chunk=None) -> dict:
    n, d = task.X.shape
    idx = bootstrap.resample_indices(key, n, b, num_students=num_students)
    full = np.asarray(linear.resample_rank(task.X, idx) == d)
    out = {"b": b, "full_rank_fraction": full.mean()}
    for label, y in (("teacher", task.mu), ("truth", task.y_train)):
        preds = linear.predict(linear.fit_resampled(task.X, y, idx, chunk=chunk), task.X_test)
        q = uncertainty.inter_student_contributions(preds)
        mse = uncertainty.mse(preds, task.y_test)
        # 5.1 speaks of full-rank resamples; rank-deficient ones get the minimum-norm fit.
        out[f"{label}_variance_full_rank"] = (
            uncertainty.inter_student_variance(np.asarray(preds)[full]) if full.sum() > 1 else np.nan)
        out |= {f"{label}_variance": jnp.mean(q),
                f"{label}_variance_se": jnp.std(q, ddof=1) / jnp.sqrt(num_students),
                f"{label}_mse": jnp.mean(mse), f"{label}_mse_std": jnp.std(mse, ddof=1)}
    out["predicted_truth_variance"] = cf.ground_truth_bootstrap_variance(task.X_test, Sigma, tau2, b)
    out["gaussian_truth_variance"] = (cf.gaussian_design_bootstrap_variance(task.X_test, Sigma, tau2, b)
                                      if b > d + 1 else np.nan)
    out["predicted_truth_mse"] = cf.ground_truth_bootstrap_mse(tau2, d, b)
    # X.2 / X.3: the same students under heteroscedastic residuals, on the fixed test split.
    out["sandwich_truth_variance"] = cf.sandwich_bootstrap_variance(task.X, task.y_train - task.mu, task.X_test, b)
    out["observed_truth_mse"] = cf.bootstrap_observed_mse(task.X, task.y_train, task.X_test, task.y_test, b)
    return out


def _check_sizes(cfg: Config, n: int) -> None:
    too_big = [b for b in cfg.sizes if b > n]
    if too_big:
        raise ValueError(f"bootstrap sizes {too_big} exceed the {n} training rows of {cfg.dataset!r}.")


def _run_mlp(cfg: Config, run_dir: RunDir | None) -> dict:
    """MLP students from one fixed init; bootstrap counts enter as example weights."""
    task = regression.mlp_task(cfg)
    n = task.X.shape[0]
    _check_sizes(cfg, n)
    one = mlp.init_params(task.train.widths, rng.stream(cfg.seed, "init"), cfg.init)
    init = jax.tree.map(lambda x: jnp.broadcast_to(x, (cfg.num_students, *x.shape)), one)
    key = rng.stream(cfg.seed, "bootstrap")

    def point(p):
        i, b = p
        idx = bootstrap.resample_indices(rng.point_key(key, i), n, b,
                                         num_students=cfg.num_students)
        counts = jax.vmap(lambda r: jnp.zeros(n, jnp.float32).at[r].add(1.0))(idx)  # (N, n)
        out = {"b": b}
        # Teacher-labelled and truth-labelled students share init and resamples: one ensemble
        # of 2N students (the first N on the teacher's labels).
        N = cfg.num_students
        Y = jnp.concatenate([jnp.broadcast_to(task.mu, (N, n)), jnp.broadcast_to(task.y_train, (N, n))])
        params = mlp.train_ensemble(task.train, ensemble.stack([init, init]), task.X, Y,
                                    weights=jnp.concatenate([counts, counts]), chunk=cfg.chunk)
        preds = mlp.predict(task.train.widths, params, task.X_test)[..., 0]
        for label, part in (("teacher", preds[:N]), ("truth", preds[N:])):
            m = uncertainty.ensemble_metrics(part, task.mu_test, task.y_test)
            out |= {f"{label}_variance": m["inter_student_variance"],
                    f"{label}_variance_se": m["inter_student_variance_se"],
                    f"{label}_mse": m["mse_truth"], f"{label}_mse_std": m["mse_truth_std"]}
        return out

    points = [(f"b-{b:06d}", (i, b)) for i, b in enumerate(cfg.sizes)]
    rows = sweep(run_dir, points, point, desc="bootstrap (mlp)")
    return {**columns(rows), "n": n, "num_students": cfg.num_students}


@dataclasses.dataclass(frozen=True)
class Results(protocol.Results):
    """Typed results (per bootstrap size b; teacher- and truth-labelled students)."""

    b: tuple[int, ...]
    teacher_variance: tuple[float, ...]
    teacher_variance_se: tuple[float, ...]
    teacher_mse: tuple[float, ...]
    teacher_mse_std: tuple[float, ...]
    truth_variance: tuple[float, ...]
    truth_variance_se: tuple[float, ...]
    truth_mse: tuple[float, ...]
    truth_mse_std: tuple[float, ...]
    n: int
    full_rank_fraction: tuple[float, ...] | None = None
    teacher_variance_full_rank: tuple[float, ...] | None = None
    truth_variance_full_rank: tuple[float, ...] | None = None
    predicted_truth_variance: tuple[float, ...] | None = None
    gaussian_truth_variance: tuple[float, ...] | None = None
    predicted_truth_mse: tuple[float, ...] | None = None
    sandwich_truth_variance: tuple[float, ...] | None = None
    observed_truth_mse: tuple[float, ...] | None = None
    tau2_hat: float | None = None
    d: int | None = None
    full_data_test_mse: float | None = None
    num_students: int | None = None


def run(cfg: Config, run_dir: RunDir | None = None) -> Results:
    """Run the sweep (``run_dir`` enables save/resume) and return its typed results."""
    return Results.build(cfg, _columns(cfg, run_dir))


def _columns(cfg: Config, run_dir: RunDir | None) -> dict:
    if cfg.model == "mlp":
        return _run_mlp(cfg, run_dir)
    with jax.enable_x64(True):
        task = regression.linear_task(cfg.dataset, split_seed=cfg.split_seed, drop_b=cfg.drop_b)
        regression.guard_memory(cfg, task.X.shape[0], task.X_test.shape[0], task.X.shape[1])
        n, d = task.X.shape
        _check_sizes(cfg, n)
        resid = task.y_train - task.mu
        tau2 = float(resid @ resid / (n - d))  # residual variance of the OLS fit
        Sigma = task.X.T @ task.X / n
        key = rng.stream(cfg.seed, "bootstrap")
        points = [(f"b-{b:06d}", (i, b)) for i, b in enumerate(cfg.sizes)]
        rows = sweep(
            run_dir, points,
            lambda p: _point(task, p[1], rng.point_key(key, p[0]), cfg.num_students, tau2, Sigma, cfg.chunk),
            desc=f"bootstrap ({cfg.model})",
        )
        return {**columns(rows), "tau2_hat": tau2, "d": d, "n": n,
                "full_data_test_mse": float(np.mean((np.asarray(task.mu_test) - np.asarray(task.y_test)) ** 2))}


# --- report: figures and document ----------------------------------------------------------


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
                          f"13 → {', '.join(map(str, cfg.hidden))} → 1, Adam lr {cfg.learning_rate}, {cfg.epochs} "
                          f"full-batch epochs, {cfg.init} initialisation; every student starts from the same init "
                          "(as the study's script); bootstrap counts weight the full-batch loss, which is training on "
                          "the resampled rows. MSE is against the observed test labels."),
            doc.Paragraph(_departures(res)),
            table, *figures])
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


# --- claims: what the study says this experiment shows, judged from its results ------------


def _bootstrap(res: Results) -> Interval:
    b = np.asarray(res.b)
    t, g = np.asarray(res.teacher_variance), np.asarray(res.truth_variance)
    t_se, g_se = np.asarray(res.teacher_variance_se), np.asarray(res.truth_variance_se)
    nonzero = bool(t[0] > 3 * t_se[0])
    shrink = bool(t[-1] < t[0] and g[-1] < g[0])
    # Deciding quantity: log(ground-truth V / teacher-labelled V) at the smallest b (> 0: smaller).
    ratio = np.log(g[0] / t[0]) if t[0] > 0 else np.inf
    se = float(np.hypot(g_se[0] / g[0], t_se[0] / t[0])) if t[0] > 0 else 0.0
    lo, hi = ratio - 1.96 * se, ratio + 1.96 * se
    return Interval(float(ratio), float(lo), float(hi), res.num_students, (
        f"b = {b[0]}: teacher-labelled {fmt(t[0])} ± {fmt(t_se[0])} vs ground truth {fmt(g[0])} ± {fmt(g_se[0])}, "
        f"log ratio {fmt(ratio, 3)}, 95% interval [{fmt(lo, 3)}, {fmt(hi, 3)}]; b = {b[-1]}: {fmt(t[-1])} vs "
        f"{fmt(g[-1])}"), precondition=nonzero and shrink)


CLAIMS: tuple[Claim, ...] = (
    Claim("bootstrap", "init", "Teacher-labelled bootstrap gives non-zero but smaller variance than "
          "ground-truth bootstrap for MLP students at small b; both shrink as b grows",
          "teacher-labelled V > 3 SE at the smallest b and both V lower at the largest b (else not "
          "reproduced); smaller: 95% interval of log(ground-truth V / teacher-labelled V) at the smallest b "
          "above 0 (reproduced), below 0 (not reproduced), else inconclusive",
          ("bootstrap-mlp",), _bootstrap),
)
