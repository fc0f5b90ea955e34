"""Which source of randomness makes MLP students disagree? Sensitivity indices of the
inter-student variance over teacher noise, initialization and minibatch order (beyond the study).

Each source has its own PRNG stream. N students are trained with all three varying (``V_all``,
the inter-student variance of the test predictions), then, for each source s, twice more:

* **only s varies**: the students fall into ``frozen_draws`` groups; in each group the other two
  sources are frozen at one draw of their own (every student of the group shares those keys)
  and s varies. The mean over groups of the within-group variance estimates
  ``E[Var(f | the others)]``, so ``T_s = mean / V_all`` is s's **total index**: its share of
  the variance alone and through every interaction.
* **s frozen**: in each group s is frozen at one draw and the others vary:
  ``S_s = 1 - mean / V_all`` is s's **first-order index**, the share explained by s alone
  (``Var(E[f | s]) / Var(f)``).

Averaging over frozen draws is what makes these indices (Sobol's first-order and total
indices, estimated by frozen-group variances) rather than the shares at one arbitrary frozen
draw of the others; their standard errors come from the spread of the group variances (delta
method for the ratio). ``sum T_s - sum S_s`` is the weight of the interactions.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from jaxkd import _validation as v
from jaxkd import document as doc
from jaxkd import rng, targets, teachers, uncertainty
from jaxkd.claims import Claim
from jaxkd.config import option
from jaxkd.experiments import protocol, regression
from jaxkd.formatting import fmt
from jaxkd.plotting import subplots
from jaxkd.runs import RunDir, columns, sweep
from jaxkd.students import mlp

MODELS = ("mlp",)
SOURCES = ("teacher_noise", "init", "data_order")
CASES = ("all", *(f"only-{s}" for s in SOURCES), *(f"fixed-{s}" for s in SOURCES))


@dataclasses.dataclass(frozen=True)
class Config(regression.RegressionConfig):
    MODELS: ClassVar[tuple[str, ...]] = MODELS

    PRESETS: ClassVar[dict] = {("paper", "*"): {"num_students": 1000, "epochs": 200}}

    model: str = "mlp"
    split_seed: int = 42  # as the teacher-noise experiment (the study's script)
    alpha: float = option(0.5, "teacher noise level α of the noisy cases")
    batch_size: int = option(32, "minibatch size (the data order is a source of randomness here)")
    frozen_draws: int = option(10, "groups of students, each with its own draw of the frozen sources; "
                               "the students divide equally among them")
    num_students: int = 100
    epochs: int = 50

    def __post_init__(self):
        super().__post_init__()
        v.check_nonnegative("alpha", self.alpha)
        v.check_int("batch size", self.batch_size)
        v.check_int("frozen draws", self.frozen_draws, minimum=2)
        if self.num_students % self.frozen_draws or self.num_students < 2 * self.frozen_draws:
            raise ValueError(f"--students ({self.num_students}) must be a multiple of --frozen-draws "
                             f"({self.frozen_draws}) with at least two students per draw.")


@dataclasses.dataclass(frozen=True)
class Results(protocol.Results):
    """Typed results: per case (``all``, ``only-<source>``, ``fixed-<source>``) the mean over
    frozen draws of the within-group inter-student variance and its SE (``all``: the variance
    over every student), and the mean test MSE; then each source's first-order and total
    index with SEs."""

    case: tuple[str, ...]
    group_variance: tuple[float, ...]
    group_variance_se: tuple[float, ...]
    mse_truth: tuple[float, ...]
    first_order_teacher_noise: float
    first_order_teacher_noise_se: float
    first_order_init: float
    first_order_init_se: float
    first_order_data_order: float
    first_order_data_order_se: float
    total_teacher_noise: float
    total_teacher_noise_se: float
    total_init: float
    total_init_se: float
    total_data_order: float
    total_data_order_se: float
    num_students: int
    frozen_draws: int

    def index(self, kind: str, source: str) -> tuple[float, float]:
        """``(value, SE)`` of the ``kind`` ("first_order" or "total") index of ``source``."""
        return getattr(self, f"{kind}_{source}"), getattr(self, f"{kind}_{source}_se")


def run(cfg: Config, run_dir: RunDir | None = None) -> Results:
    """Run the sweep (``run_dir`` enables save/resume) and return its typed results."""
    return Results.build(cfg, _columns(cfg, run_dir))


def _keys(cfg: Config, source: str, varying: bool) -> jax.Array:
    """(N,) keys of ``source``: one per student when it varies, else one per frozen draw,
    shared by that draw's group of students."""
    n, g = cfg.num_students, cfg.frozen_draws
    if varying:
        return rng.student_keys(rng.stream(cfg.seed, source), n)
    frozen = rng.student_keys(rng.stream(cfg.seed, f"{source}/frozen"), g)
    return jnp.repeat(frozen, n // g)


def _columns(cfg: Config, run_dir: RunDir | None) -> dict:
    task = regression.mlp_task(cfg)
    train = dataclasses.replace(task.train, batch_size=cfg.batch_size)
    sigma2 = cfg.alpha * task.var_y
    g = cfg.frozen_draws

    def point(case):
        vary = {s: case == "all" or case == f"only-{s}" or (case.startswith("fixed-") and case != f"fixed-{s}")
                for s in SOURCES}
        noise_keys, init_keys, order_keys = (_keys(cfg, s, vary[s]) for s in SOURCES)
        Y = jax.vmap(teachers.gaussian_responses, in_axes=(0, None, None, None))(noise_keys, task.mu, sigma2, 1)
        params = mlp.train_ensemble(train, mlp.init_ensemble(train.widths, init_keys, cfg.init), task.X,
                                    targets.single(Y), order_keys=order_keys, chunk=cfg.chunk)
        preds = mlp.predict(train.widths, params, task.X_test)[..., 0]  # (N, m)
        mse = float(jnp.mean(uncertainty.mse(preds, task.y_test)))
        if case == "all":
            q = np.asarray(uncertainty.inter_student_contributions(preds))
            return {"case": case, "group_variance": q.mean(), "group_variance_se": q.std(ddof=1) / np.sqrt(q.size),
                    "mse_truth": mse}
        groups = np.asarray(jax.vmap(uncertainty.inter_student_variance)(preds.reshape(g, -1, preds.shape[1])))
        return {"case": case, "group_variance": groups.mean(), "group_variance_se": groups.std(ddof=1) / np.sqrt(g),
                "mse_truth": mse}

    rows = sweep(run_dir, [(c, c) for c in CASES], point, desc="variance-attribution (mlp)")
    out = {**columns(rows), "num_students": cfg.num_students, "frozen_draws": g}
    V = {r["case"]: (r["group_variance"], r["group_variance_se"]) for r in rows}
    va, va_se = V["all"]
    for s in SOURCES:
        for kind, case in (("total", f"only-{s}"), ("first_order", f"fixed-{s}")):
            a, a_se = V[case]
            ratio = a / va
            se = ratio * float(np.hypot(a_se / a if a else 0.0, va_se / va))
            out[f"{kind}_{s}"] = ratio if kind == "total" else 1.0 - ratio
            out[f"{kind}_{s}_se"] = se
    return out


# --- report: figures and document ----------------------------------------------------------

_LABELS = {"teacher_noise": "teacher noise", "init": "initialization", "data_order": "minibatch order"}


def fig_variance_attribution(res: Results):
    """First-order and total index per source, ±2 SE."""
    fig, ax = subplots(figsize=(6, 3.8))
    x = np.arange(len(SOURCES))
    for off, kind, label in ((-0.18, "first_order", "first-order index S (alone)"),
                             (0.18, "total", "total index T (with interactions)")):
        vals, ses = zip(*(res.index(kind, s) for s in SOURCES))
        ax.bar(x + off, vals, width=0.34, yerr=2 * np.asarray(ses), capsize=3, label=label)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(x, [_LABELS[s] for s in SOURCES])
    ax.set_ylabel("share of the inter-student variance")
    ax.set_title(f"Sources of MLP student disagreement (±2 SE, {res.frozen_draws} frozen draws)")
    ax.legend(fontsize=8)
    return fig


def figures(res: Results) -> dict:
    """This experiment's figures, by file name (the document refers to them)."""
    return {"attribution.png": fig_variance_attribution(res)}


def document(res: Results) -> doc.Section:
    """This experiment's report: tables and the figures of :func:`figures`."""
    cfg = res.config
    rows = []
    for s in SOURCES:
        (S, S_se), (T, T_se) = res.index("first_order", s), res.index("total", s)
        rows.append([_LABELS[s], f"{fmt(S, 3)} ± {fmt(S_se, 2)}", f"{fmt(T, 3)} ± {fmt(T_se, 2)}"])
    sum_S = sum(res.index("first_order", s)[0] for s in SOURCES)
    sum_T = sum(res.index("total", s)[0] for s in SOURCES)
    cases = doc.Table(["case", "mean within-group inter-student variance", "SE", "mean test MSE (truth)"],
                      [[c, V, se, m] for c, V, se, m in zip(res.case, res.group_variance, res.group_variance_se,
                                                             res.mse_truth)])
    return doc.Section(f"Variance attribution (mlp, {cfg.dataset}, {cfg.num_students} students)", [
        doc.Paragraph(f"Beyond the study. α = {cfg.alpha}, minibatches of {cfg.batch_size}, {cfg.epochs} epochs, "
                      f"{cfg.init} initialisation. For each source, 'only' lets it vary while the others are frozen "
                      f"at one draw per group of {cfg.num_students // res.frozen_draws} students ({res.frozen_draws} "
                      "groups), 'fixed' freezes it per group while the others vary. The total index T is the "
                      "mean 'only' variance over V_all; the first-order index S is one minus the mean 'fixed' "
                      "variance over V_all. Both are averaged over the frozen draws (± SE from their spread)."),
        doc.Table(["source", "first-order index S (± SE)", "total index T (± SE)"], rows),
        doc.Paragraph(f"Σ S = {fmt(sum_S, 3)}, Σ T = {fmt(sum_T, 3)}: the interactions carry about "
                      f"{fmt(sum_T - sum_S, 2)} of the variance (0 when the sources add)."),
        cases,
        doc.Figure("attribution.png", "first-order and total indices, ±2 SE")])


# No claim of the study reads this experiment (it goes beyond the study).
CLAIMS: tuple[Claim, ...] = ()
