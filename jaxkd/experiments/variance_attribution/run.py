"""The computation of variance-attribution: ``run(config, run_dir) -> Results``."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from jaxkd import rng, targets, teachers, uncertainty
from jaxkd.experiments import regression
from jaxkd.experiments import results as base
from jaxkd.experiments.variance_attribution.config import Config
from jaxkd.runs import RunDir, columns, sweep
from jaxkd.students import mlp

SOURCES = ("teacher_noise", "init", "data_order")
CASES = ("all", *(f"only-{s}" for s in SOURCES), *(f"fixed-{s}" for s in SOURCES))


@dataclasses.dataclass(frozen=True)
class Results(base.Results):
    """Typed results: per case (``all``, ``only-<source>``, ``fixed-<source>``) the mean over
    frozen draws of the within-group inter-student variance and its SE (``all``: the variance
    over every student), and the mean test MSE; then each source's first-order and total
    index with SEs; ``fit``: per case its N students' :class:`jaxkd.experiments.fit.FitSummary`
    as JSON (training loss: the epoch's mean minibatch loss; steps: epochs x minibatches per
    epoch; held-out loss: the test MSE against the truth)."""

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
    fit: tuple[dict, ...] | None = None

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
        params, losses = mlp.train_recorded(train, mlp.init_ensemble(train.widths, init_keys, cfg.init), task.X,
                                            targets.single(Y), order_keys=order_keys, chunk=cfg.chunk)
        preds = mlp.predict(train.widths, params, task.X_test)[..., 0]  # (N, m)
        mse = float(jnp.mean(uncertainty.mse(preds, task.y_test)))
        fit = regression.fit_of(losses, train, preds, task.y_test, n=task.X.shape[0])
        if case == "all":
            q = np.asarray(uncertainty.inter_student_contributions(preds))
            return {"case": case, "group_variance": q.mean(), "group_variance_se": q.std(ddof=1) / np.sqrt(q.size),
                    "mse_truth": mse, "fit": fit}
        groups = np.asarray(jax.vmap(uncertainty.inter_student_variance)(preds.reshape(g, -1, preds.shape[1])))
        return {"case": case, "group_variance": groups.mean(), "group_variance_se": groups.std(ddof=1) / np.sqrt(g),
                "mse_truth": mse, "fit": fit}

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
