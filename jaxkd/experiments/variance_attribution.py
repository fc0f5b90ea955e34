"""Which source of randomness makes MLP students disagree? (beyond the study)

Three sources each have their own PRNG stream: teacher noise (the labels), initialization,
and minibatch order. N students are trained with all three varying, then with one varying
and the other two frozen (every student shares one key for the frozen sources). The share of
each source is ``V_source / V_all``; the remainder ``V_all - sum V_source`` is interaction
(negative when the sources overlap, positive when they compound).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp

from jaxkd import _validation as v
from jaxkd import rng, targets, teachers
from jaxkd.config import option
from jaxkd.experiments import common
from jaxkd.formatting import markdown_table
from jaxkd.plotting import subplots
from jaxkd.runs import RunDir
from jaxkd.students import mlp

MODELS = ("mlp",)
SOURCES = ("teacher_noise", "init", "data_order")
CASES = ("all", *SOURCES, "none")


@dataclasses.dataclass(frozen=True)
class Config(common.RegressionConfig):
    MODELS: ClassVar[tuple[str, ...]] = MODELS

    PRESETS: ClassVar[dict] = {("paper", "*"): {"num_students": 1000, "epochs": 200}}

    model: str = "mlp"
    alpha: float = option(0.5, "teacher noise level α of the noisy cases")
    batch_size: int = option(32, "minibatch size (the data order is a source of randomness here)")
    num_students: int = 100
    epochs: int = 50

    def __post_init__(self):
        super().__post_init__()
        v.check_nonnegative("alpha", self.alpha)
        v.check_int("batch size", self.batch_size)


@dataclasses.dataclass(frozen=True)
class Results(common.EnsembleResults):
    """Typed results (per case (which sources of randomness vary), then the shares of the total)."""

    case_index: tuple[int, ...]
    share_teacher_noise: float
    share_init: float
    share_data_order: float
    interaction: float
    share_interaction: float


def run(cfg: Config, run_dir: RunDir | None = None) -> Results:
    """Run the sweep (``run_dir`` enables save/resume) and return its typed results."""
    return Results.build(cfg, _columns(cfg, run_dir))


def _columns(cfg: Config, run_dir: RunDir | None) -> dict:
    task = common.mlp_task(cfg)
    train = dataclasses.replace(task.train, batch_size=cfg.batch_size)
    sigma2 = cfg.alpha * task.var_y
    n = cfg.num_students

    def keys(source: str, varying: bool):
        root = rng.stream(cfg.seed, source)
        # Frozen: every student gets the same key; varying: one key per student.
        return rng.student_keys(root, n) if varying else jax.numpy.broadcast_to(root, (n,))

    def point(case):
        vary = {s: case in ("all", s) for s in SOURCES}
        noise_keys, init_keys, order_keys = (keys(s, vary[s]) for s in SOURCES)
        # With every source frozen ("none") the N students are one student N times (same
        # targets, init and data order): trained once, measured as N.
        m = n if any(vary.values()) else 1
        Y = jax.vmap(teachers.gaussian_responses, in_axes=(0, None, None, None))(
            noise_keys[:m], task.mu, sigma2, 1)
        params = mlp.train_ensemble(train, mlp.init_ensemble(train.widths, init_keys[:m]), task.X,
                                    targets.single(Y), order_keys=order_keys[:m], chunk=cfg.chunk)
        preds = mlp.predict(train.widths, params, task.X_test)[..., 0]
        return common.ensemble_metrics(jnp.broadcast_to(preds, (n, preds.shape[1])), task.mu_test, task.y_test)

    rows = common.sweep(run_dir, [(c, c) for c in CASES], point, desc="variance-attribution (mlp)")
    V = {case: row["inter_student_variance"] for case, row in zip(CASES, rows)}
    out = {"case_index": list(range(len(CASES))), **common.columns(rows)}
    for s in SOURCES:
        out[f"share_{s}"] = V[s] / V["all"]
    out["interaction"] = V["all"] - sum(V[s] for s in SOURCES)
    out["share_interaction"] = out["interaction"] / V["all"]
    return out


# --- report: figures and markdown ----------------------------------------------------------


def fig_variance_attribution(res: Results):

    fig, ax = subplots(figsize=(5.5, 3.8))
    labels = [s.replace("_", " ") for s in SOURCES] + ["interaction"]
    values = [getattr(res, f"share_{s}") for s in SOURCES] + [res.share_interaction]
    ax.bar(labels, values)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_ylabel("share of inter-student variance (V_source / V_all)")
    ax.set_title("Sources of MLP student disagreement")
    return fig


def figures(res: Results) -> dict:
    """This experiment's figures, by file name (the markdown refers to them)."""
    return {"attribution.png": fig_variance_attribution(res)}



def markdown(res: Results) -> str:
    """This experiment's report: tables and the figures of :func:`figures`."""
    cfg = res.config

    V = res.inter_student_variance
    rows = [[case.replace("_", " ") + (" only" if case in SOURCES else ""), V[i],
             V[i] / V[0] if V[0] else float("nan"), res.mse_truth[i]] for i, case in enumerate(CASES)]
    rows.append(["interaction remainder", res.interaction, res.share_interaction, float("nan")])
    table = markdown_table(["varying", "inter-student variance", "share of all", "test MSE (truth)"], rows)
    return (f"# Variance attribution (mlp, {cfg.dataset}, {cfg.num_students} students)\n\n"
            f"α = {cfg.alpha}, minibatches of {cfg.batch_size}, {cfg.epochs} epochs. Each row varies one "
            "source's PRNG stream across students and freezes the others; 'all' varies all three, "
            "'none' none (zero by construction).\n\n"
            f"{table}\n\n![attribution](attribution.png)\n")
