"""Teacher output uncertainty (study Sections 4.1-4.2): students distilled from a noisy teacher.

For each noise level alpha, ``sigma^2 = alpha Var(y_train)``; N students each see one noisy
response per input (standard distillation). Measured: inter-student variance of the test
predictions (docs/theorems.md 4.1), test MSE against the teacher (4.2) and against the ground
truth (4.3), and the variance across students of each student's test MSE against the ground
truth: what the study's figure calls "variance" (its scripts record it), quadratic in sigma^2
for OLS students (X.1), so the linear run is the control for the MLP curve's shape.

* ``model="linear"``: OLS teacher, N OLS students in one solve; closed forms drawn over them.
* ``model="mlp"``: MLP teacher trained on the true labels, N MLP students (same architecture,
  vmapped); the linear sweep runs alongside so the two curves are plotted together. Student
  inits are the same at every alpha (init stream), so the curve isolates teacher noise.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from jaxkd import _validation as v
from jaxkd import document as doc
from jaxkd import compiler, rng, sharding, targets, teachers, uncertainty
from jaxkd.claims import Claim, Interval, curvature, trend
from jaxkd.config import option
from jaxkd.experiments import protocol, regression
from jaxkd.formatting import fmt
from jaxkd.plotting import subplots
from jaxkd.runs import RunDir, columns, sweep
from jaxkd.students import mlp
from jaxkd.theory import closed_forms as cf

ALPHAS_PAPER = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 1.75, 2.0)
MODELS = ("linear", "mlp")


@dataclasses.dataclass(frozen=True)
class Config(regression.RegressionConfig):
    MODELS: ClassVar[tuple[str, ...]] = MODELS

    PRESETS: ClassVar[dict] = {("quick", "mlp"): {"num_students": 100},
                               ("paper", "*"): {"alphas": ALPHAS_PAPER, "num_students": 1000}}

    split_seed: int = 42  # the study's script
    alphas: tuple[float, ...] = option((0.0, 0.25, 0.5, 1.0, 1.5, 2.0),
                                       "teacher noise levels α (σ² = α·Var(y_train))")

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "alphas", v.check_grid("alphas", self.alphas, v.check_nonnegative))


def _predictions(resp: jax.Array, task: regression.LinearTask) -> jax.Array:
    """N OLS students' test predictions from their label sets: resp (N, 1, n) -> (N, m). The
    students' coefficients are the label-to-coefficient map applied to their labels (one matrix
    product; the same numbers as solving for each student, to rounding), then one product
    gives their test predictions."""
    return (targets.single(resp) @ task.to_coef) @ task.X_test.T


@jax.jit
def _student_predictions(keys: jax.Array, task: regression.LinearTask, sigma2) -> jax.Array:
    """One noisy response per input for each student key, then :func:`_predictions`:
    keys (N,) -> (N, m) (the path of ``--chunk`` and of several devices)."""
    return _predictions(teachers.batched_responses(keys, task.mu, sigma2, 1), task)


@functools.partial(jax.jit, static_argnums=(2, 3))
def _level_deviates(noise: jax.Array, index, num_students: int, n: int) -> jax.Array:
    """A level's keys, ``fold_in(noise, index)`` split per student, and their deviates:
    (N, 1, n) float32 (:func:`jaxkd.teachers.deviates`)."""
    return teachers.deviates(rng.student_keys(rng.point_key(noise, index), num_students), 1, n)


def _level_metrics(eps: jax.Array, task: regression.LinearTask, sigma2) -> dict:
    """A level's students and metrics from its deviates (the draw is a program of its own: see
    :func:`jaxkd.teachers.deviates`); compiled with :func:`jaxkd.compiler.library_products`."""
    return _level_metrics_program()(eps, task, sigma2)


@functools.cache
def _level_metrics_program():
    """The compiled :func:`_level_metrics`, its options decided at first use (after the caller
    set up XLA): its two float64 products are skinny, where YNNPACK's kernels take about half
    the CPU time of XLA's emitter (the whole 15-level sweep: 77-82 against 90-99 ms of CPU,
    alternating processes, load 11-14)."""

    def program(eps, task, sigma2):
        preds = _predictions(teachers.responses(task.mu, sigma2, eps), task)
        return uncertainty.ensemble_metrics(preds, task.mu_test, task.y_test)

    return jax.jit(program, compiler_options=compiler.library_products())


def _simulate(task: regression.LinearTask, sigma2, noise: jax.Array, index: int, num_students: int,
              chunk=None) -> dict:
    """Metrics of ``num_students`` students at one noise level; keys from ``fold_in(noise,
    index)``, the same on every path."""
    if chunk is None and sharding.device_count() == 1:
        return {k: x[0] for k, x in _simulate_all(task, [sigma2], noise, [index], num_students).items()}
    keys = rng.student_keys(rng.point_key(noise, index), num_students)
    preds = sharding.map_students(_student_predictions, keys, task, sigma2, in_axes=(0, None, None), block=chunk)
    return jax.device_get(_metrics(preds, task.mu_test, task.y_test))


def _simulate_all(task: regression.LinearTask, sigma2s, noise: jax.Array, indices, num_students: int) -> dict:
    """Metrics of every level in ``indices`` on one device without chunks, each level two
    programs (draw, then students and metrics), all dispatched before any result is read so
    that the levels run back to back: {metric: (L,)}."""
    n = task.mu.shape[0]
    pending = [_level_metrics(_level_deviates(noise, i, num_students, n), task, s2)
               for i, s2 in zip(indices, sigma2s)]
    levels = jax.device_get(pending)
    return {k: np.asarray([lv[k] for lv in levels]) for k in levels[0]}


_metrics = jax.jit(uncertainty.ensemble_metrics)


@jax.jit
def _closed_forms(task: regression.LinearTask, sigma2s: jax.Array):
    """c (4.1), the noise-free test MSE against the truth (4.3) and X.1 at every noise level
    (the closed form broadcasts over sigma^2), in one program."""
    return (cf.mean_test_leverage(task.X, task.X_test),
            cf.observed_label_mse(task.X, task.X_test, task.mu, task.y_test, 0.0),
            cf.test_mse_variance(task.X, task.X_test, task.mu, task.y_test, sigma2s))


def _run_linear(cfg: Config, run_dir: RunDir | None, tag: str = "") -> dict:
    with jax.enable_x64(True):
        task = regression.linear_task(cfg.dataset, split_seed=cfg.split_seed, drop_b=cfg.drop_b)
        regression.guard_memory(cfg, task.X.shape[0], task.X_test.shape[0], task.X.shape[1])
        noise = rng.stream(cfg.seed, "teacher_noise")
        c, bias_truth, x1 = jax.device_get(_closed_forms(task, jnp.asarray(cfg.alphas) * task.var_y))
        c, bias_truth = float(c), float(bias_truth)

        one_program = cfg.chunk is None and sharding.device_count() == 1
        every = {}  # the one program's metrics for all levels, computed when a level is first missing

        def point(p):
            sigma2 = p[1] * task.var_y
            if one_program and not every:
                every.update(_simulate_all(task, np.asarray(cfg.alphas) * task.var_y, noise,
                                           range(len(cfg.alphas)), cfg.num_students))
            sim = ({k: x[p[0]] for k, x in every.items()} if one_program else
                   _simulate(task, sigma2, noise, p[0], cfg.num_students, cfg.chunk))
            return {"sigma2": sigma2, **sim,
                    "predicted_variance": sigma2 * c,             # 4.1
                    "predicted_mse_teacher": sigma2 * c,          # 4.2, linear teacher
                    "predicted_mse_truth": bias_truth + sigma2 * c,  # 4.3, observed labels
                    "predicted_mse_truth_variance": x1[p[0]]}  # X.1

        points = [(f"{tag}alpha-{i:02d}", (i, a)) for i, a in enumerate(cfg.alphas)]
        rows = sweep(run_dir, points, point, desc=f"teacher-noise (linear{', ' + tag if tag else ''})")
    return {**columns(rows), "c": c}


def _run_mlp(cfg: Config, run_dir: RunDir | None) -> dict:
    task = regression.mlp_task(cfg)
    noise = rng.stream(cfg.seed, "teacher_noise")
    init = mlp.init_ensemble(task.train.widths,
                             rng.student_keys(rng.stream(cfg.seed, "init"), cfg.num_students), cfg.init)

    def point(p):
        sigma2 = p[1] * task.var_y
        Y = targets.single(teachers.sample_responses(rng.point_key(noise, p[0]), task.mu, sigma2,
                                                     num_students=cfg.num_students))
        return {"sigma2": sigma2, **regression.train_and_measure(task, init, Y, chunk=cfg.chunk)}

    points = [(f"alpha-{i:02d}", (i, a)) for i, a in enumerate(cfg.alphas)]
    rows = sweep(run_dir, points, point, desc="teacher-noise (mlp)")
    return columns(rows)


@dataclasses.dataclass(frozen=True)
class Results(protocol.EnsembleResults):
    """Typed results, per noise level α (grid order). Linear students carry the closed forms
    (``predicted_*``, ``c``); MLP students carry ``linear``, the OLS control run beside them on
    the same split and noise levels (itself a linear :class:`Results`)."""

    alpha: tuple[float, ...]
    sigma2: tuple[float, ...]
    num_students: int
    predicted_variance: tuple[float, ...] | None = None           # 4.1 (linear)
    predicted_mse_teacher: tuple[float, ...] | None = None        # 4.2 (linear)
    predicted_mse_truth: tuple[float, ...] | None = None          # 4.3 (linear)
    predicted_mse_truth_variance: tuple[float, ...] | None = None  # X.1 (linear)
    c: float | None = None                                        # mean test leverage (linear)
    linear: "Results | None" = None                               # the OLS control (MLP)

    @classmethod
    def build(cls, config, values: dict) -> "Results":
        values = dict(values)
        if isinstance(values.get("linear"), dict):  # measured, or read back from results.json
            values["linear"] = cls.build(config, {k: v for k, v in values["linear"].items() if k != "config"})
        return super().build(config, values)

    @property
    def closed_forms(self) -> "Results":
        """The results holding the linear closed forms: these, or the MLP run's OLS control."""
        return self if self.linear is None else self.linear


def run(cfg: Config, run_dir: RunDir | None = None) -> Results:
    """Run the sweep (``run_dir`` enables save/resume) and return its typed results."""
    return Results.build(cfg, _columns(cfg, run_dir))


def _columns(cfg: Config, run_dir: RunDir | None) -> dict:
    """The measured values by field name (see :class:`Results`)."""
    head = {"alpha": list(cfg.alphas), "num_students": cfg.num_students}
    if cfg.model == "linear":
        return {**head, **_run_linear(cfg, run_dir)}
    return {**head, **_run_mlp(cfg, run_dir), "linear": {**head, **_run_linear(cfg, run_dir, tag="linear-")}}


# --- report: figures and document ----------------------------------------------------------


def _chord(ax, a, f, **kw) -> None:
    """The straight line from the first level to the last: a curve above it bends downward,
    below it upward (what super-linear means)."""
    ax.plot([a[0], a[-1]], [f[0], f[-1]], ":", color="0.4", lw=1, **kw)


def fig_teacher_noise_variance(res: Results):
    """V against α, ±2 SE; with MLP students, the straight chord the claim's curvature is
    measured against (4.1: OLS students' V is exactly linear)."""
    fig, ax = subplots(figsize=(5.5, 4))
    a = np.asarray(res.alpha)
    lin = res.closed_forms
    if res.linear is not None:
        ax.errorbar(a, res.inter_student_variance, yerr=2 * np.asarray(res.inter_student_variance_se),
                    fmt="s-", capsize=2, label="MLP students (±2 SE)")
        _chord(ax, a, np.asarray(res.inter_student_variance), label="MLP: straight line α₀ → α_max")
    ax.errorbar(a, lin.inter_student_variance, yerr=2 * np.asarray(lin.inter_student_variance_se),
                fmt="o", capsize=2, label="linear students (±2 SE)")
    ax.plot(a, lin.predicted_variance, "-", label="linear closed form σ²c (4.1)")
    ax.set_xlabel("teacher noise level α (σ² = α·Var(y_train))")
    ax.set_ylabel("inter-student variance V (standardized target)²")
    ax.set_title("Inter-student variance vs teacher noise")
    ax.legend(fontsize=8)
    return fig


def fig_teacher_noise_mse(res: Results):
    """Mean test MSE against α, ±2 SE of the mean; the MLP chord as in the variance figure."""
    fig, ax = subplots(figsize=(8.5, 4))  # room for the legend beside the axes
    a = np.asarray(res.alpha)
    lin = res.closed_forms
    se = lambda r, k: 2 * np.asarray(getattr(r, f"{k}_std")) / np.sqrt(r.num_students)  # noqa: E731
    if res.linear is not None:
        ax.errorbar(a, res.mse_teacher, yerr=se(res, "mse_teacher"), fmt="^-", capsize=2, label="MLP vs teacher")
        ax.errorbar(a, res.mse_truth, yerr=se(res, "mse_truth"), fmt="v-", capsize=2,
                    label="MLP vs ground truth (±2 SE)")
        _chord(ax, a, np.asarray(res.mse_truth), label="MLP vs truth: straight line")
    ax.errorbar(a, lin.mse_teacher, yerr=se(lin, "mse_teacher"), fmt="o", capsize=2, label="linear vs teacher, simulated")
    ax.plot(a, lin.predicted_mse_teacher, "-", label="linear vs teacher, closed form (4.2)")
    ax.errorbar(a, lin.mse_truth, yerr=se(lin, "mse_truth"), fmt="s", capsize=2, label="linear vs ground truth, simulated")
    ax.plot(a, lin.predicted_mse_truth, "--", label="linear vs ground truth, closed form (4.3)")
    ax.set_xlabel("teacher noise level α")
    ax.set_ylabel("mean test MSE (standardized target)²")
    ax.set_title("Student test MSE vs teacher noise (±2 SE of the mean)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    fig.tight_layout()
    return fig


def fig_teacher_noise_mse_variance(res: Results):
    """The study's "variance": the spread across students of each one's test MSE against the
    ground truth, ±2 SE. MLP and OLS students in panels of their own (the OLS control is an
    order of magnitude smaller), the OLS panel with X.1's closed form: quadratic in σ², so
    this curve bends upward for OLS students too."""
    a = np.asarray(res.alpha)
    lin = res.closed_forms
    panels = ([("MLP students", res, None)] if res.linear is not None else []) + [
        ("linear (OLS) students", lin, lin.predicted_mse_truth_variance)]
    fig, axes = subplots(1, len(panels), figsize=(4.8 * len(panels), 3.8), squeeze=False)
    for ax, (title, r, closed) in zip(axes[0], panels):
        ax.errorbar(a, r.mse_truth_variance, yerr=2 * np.asarray(r.mse_truth_variance_se), fmt="o-" if closed is None
                    else "o", capsize=2, label="simulated (±2 SE)")
        if closed is not None:
            ax.plot(a, closed, "-", label="closed form (X.1)")
        _chord(ax, a, np.asarray(r.mse_truth_variance), label="straight line")
        ax.set_xlabel("teacher noise level α")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("Var across students of test MSE vs truth")
    fig.suptitle("The study's 'variance': spread of the test MSE", fontsize=11)
    fig.tight_layout()
    return fig


def figures(res: Results) -> dict:
    """This experiment's figures, by file name (the document refers to them)."""
    return {"variance.png": fig_teacher_noise_variance(res), "mse.png": fig_teacher_noise_mse(res),
            "mse_variance.png": fig_teacher_noise_mse_variance(res)}


def document(res: Results) -> doc.Section:
    """This experiment's report: tables and the figures of :func:`figures`."""
    cfg = res.config
    lin = res.closed_forms
    columns = [getattr(lin, k) for k in ("sigma2", "inter_student_variance", "predicted_variance", "mse_teacher",
                                         "predicted_mse_teacher", "mse_truth", "predicted_mse_truth",
                                         "mse_truth_variance", "predicted_mse_truth_variance")]
    headers = ["α", "σ²", "V linear", "V = σ²c (4.1)", "MSE teacher", "σ²c (4.2)", "MSE truth",
               "closed form (4.3)", "Var(MSE truth)", "closed form (X.1)"]
    if res.linear is not None:
        columns += [res.inter_student_variance, res.mse_teacher, res.mse_truth, res.mse_truth_variance]
        headers += ["V MLP", "MLP MSE teacher", "MLP MSE truth", "MLP Var(MSE truth)"]
    blocks = [doc.Paragraph(f"Study Section 4; docs/theorems.md 4.1-4.3, X.1. Split seed {cfg.split_seed} (the study's "
                            "script); the linear columns are OLS teacher and students on the same split. ",
                            doc.Formula(f"c = tr(X* G⁻¹ X*ᵀ)/m = {fmt(lin.c)}"), "."),
              doc.Paragraph("V is the variance of the students' test predictions; Var(MSE truth) is the variance "
                            "across students of each one's test MSE against the ground truth, the quantity the "
                            "study's figure plots as \"variance\". The latter is quadratic in σ² even for OLS "
                            "students (X.1), so its bend is no evidence of a non-linear effect; V and the mean test "
                            "MSE are linear in σ² for any linear smoother (4.1, 4.3), and the claim is judged on them.")]
    if res.linear is not None:
        blocks.append(doc.Paragraph(
            f"MLP teacher and students 13 → {', '.join(map(str, cfg.hidden))} → 1, Adam lr {cfg.learning_rate}, "
            f"{cfg.epochs} full-batch epochs, {cfg.init} initialisation (torch: PyTorch's default, as the study's "
            "script). Departure from the study's script: each student keeps its own init at every α (the study draws "
            "new seeds per level), so the levels are paired and the curve isolates teacher noise."))
    blocks += [doc.Table(headers, list(zip(res.alpha, *columns))),
               doc.Figure("variance.png", "inter-student variance, ±2 SE"),
               doc.Figure("mse.png", "mean test MSE, ±2 SE"),
               doc.Figure("mse_variance.png", "variance of the test MSE, ±2 SE; OLS students against X.1")]
    return doc.Section(f"Teacher output uncertainty ({cfg.model}, {cfg.dataset}, {cfg.num_students} students)", blocks)


# --- claims: what the study says this experiment shows, judged from its results ------------


def _mlp_noise(res: Results) -> Interval:
    """Super-linear growth of V and of the mean test MSE, each against 0: for OLS students (any
    linear smoother) both are exactly linear in sigma^2 (4.1, 4.3), so a curvature above 0 is
    the students' own non-linearity. The 97.5% interval of each (two at once: 95% jointly);
    the claim's interval is the smaller of the two."""
    a = np.asarray(res.alpha, float)
    V, mse = np.asarray(res.inter_student_variance), np.asarray(res.mse_truth)
    n = res.num_students
    grows = trend(a, V) > 0.9 and trend(a, mse) > 0.9
    z = float(stats.norm.ppf(1 - 0.025 / 2))
    kv, kv_se = curvature(a, V, res.inter_student_variance_se)
    km, km_se = curvature(a, mse, np.asarray(res.mse_truth_std) / np.sqrt(n))
    lin = res.linear
    kv_ols, kv_ols_se = curvature(a, lin.inter_student_variance, lin.inter_student_variance_se)
    km_ols, km_ols_se = curvature(a, lin.mse_truth, np.asarray(lin.mse_truth_std) / np.sqrt(lin.num_students))
    kx, kx_se = curvature(a, res.mse_truth_variance, res.mse_truth_variance_se)
    kx1, _ = curvature(a, lin.predicted_mse_truth_variance, np.ones_like(a))  # X.1, exact
    lo, hi = min(kv - z * kv_se, km - z * km_se), min(kv + z * kv_se, km + z * km_se)
    return Interval(min(kv, km), lo, hi, n, (
        f"V {fmt(V[0])} → {fmt(V[-1])} and test MSE vs truth {fmt(mse[0])} → {fmt(mse[-1])} over α "
        f"(rank correlations {fmt(trend(a, V), 2)}, {fmt(trend(a, mse), 2)}); curvature (share of the rise "
        f"from the quadratic term, all {a.size} levels): V {fmt(kv, 3)}, 97.5% interval [{fmt(kv - z * kv_se, 3)}, "
        f"{fmt(kv + z * kv_se, 3)}]; test MSE {fmt(km, 3)}, [{fmt(km - z * km_se, 3)}, {fmt(km + z * km_se, 3)}]; "
        f"the exact control for both is 0 (4.1, 4.3: linear in σ² for any linear smoother; the OLS students "
        f"beside them measure {fmt(kv_ols, 2)} ± {fmt(kv_ols_se, 2)} and {fmt(km_ols, 2)} ± {fmt(km_ols_se, 2)}). "
        f"The study's 'variance' (variance of the test MSE) bends by {fmt(kx, 3)} ± {fmt(kx_se, 2)}, against "
        f"{fmt(kx1, 3)} for OLS students by X.1 (quadratic in σ²: not evidence of a non-linear effect)"),
        precondition=grows)


CLAIMS: tuple[Claim, ...] = (
    Claim("mlp-noise", "teacher", "MLP students: inter-student variance and test MSE grow with teacher noise, "
          "super-linearly", "V and the mean test MSE rank-correlate with α above 0.9 (else not reproduced); "
          "super-linear: the curvature of each over all noise levels (weighted quadratic fit: the share of "
          "the rise the quadratic term accounts for) is above the exact control 0 (4.1 and 4.3: both are "
          "linear in σ² for OLS and any linear smoother). Reproduced when both 97.5% intervals (95% jointly) "
          "are above 0, not reproduced when one is below 0, inconclusive otherwise",
          ("teacher-noise-mlp",), _mlp_noise),
)

