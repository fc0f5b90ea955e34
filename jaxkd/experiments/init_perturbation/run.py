"""The computation of init-perturbation: ``run(config, run_dir) -> Results``."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from jaxkd import rng, uncertainty
from jaxkd.experiments import regression
from jaxkd.experiments import results as base
from jaxkd.experiments.init_perturbation.config import Config
from jaxkd.runs import RunDir, columns, sweep
from jaxkd.students import mlp

# "Insensitive": the mean test MSE moves by less than 1% of its unperturbed value, and the
# variance of the test MSE across students by less than 10% (a log ratio within ±log 1.1).
MEAN_MARGIN, VARIANCE_MARGIN = 0.01, float(np.log(1.1))


@dataclasses.dataclass(frozen=True)
class Results(base.EnsembleResults):
    """Typed results (per perturbation scale s); ``mse_truth_per_student`` holds every student's
    test MSE at every s (the same students, paired across s when inits are fresh); ``fit``: per
    s the students' :class:`jaxkd.experiments.fit.FitSummary` as JSON (held-out loss: their
    test MSE against the truth, whatever labels they learned); ``prediction_signal``: per s the
    variance across test inputs of the students' mean prediction (the scale their between-student
    variance is read against where another model class is compared)."""

    scale: tuple[float, ...]
    param_variance_before: tuple[float, ...]
    param_variance_after: tuple[float, ...]
    mse_truth_per_student: tuple[tuple[float, ...], ...]
    num_students: int
    fit: tuple[dict, ...] | None = None
    prediction_signal: tuple[float, ...] | None = None   # variance across test inputs of the students' mean prediction


def run(cfg: Config, run_dir: RunDir | None = None) -> Results:
    """Run the sweep (``run_dir`` enables save/resume) and return its typed results."""
    return Results.build(cfg, _columns(cfg, run_dir))


def _columns(cfg: Config, run_dir: RunDir | None) -> dict:
    task = regression.mlp_task(cfg)
    init_key = rng.stream(cfg.seed, "init")
    perturb_key = rng.stream(cfg.seed, "init_perturbation")
    # The study's script: the students learn the training labels; the MSE "vs teacher" is then
    # against the test labels too.
    Y, target_test = (task.y_train, task.y_test) if cfg.labels == "truth" else (task.mu, task.mu_test)

    def point(p):
        _, s = p
        keys = rng.student_keys(rng.point_key(perturb_key, rng.grid_id(s)), cfg.num_students)
        if cfg.fresh_init:  # the same fresh inits at every s, so s's effect is paired
            base = mlp.init_ensemble(task.train.widths, rng.student_keys(init_key, cfg.num_students), cfg.init)
            init = jax.vmap(mlp.perturb, in_axes=(0, 0, None, None))(base, keys, s, cfg.bias_scale)
        else:
            base = mlp.init_params(task.train.widths, init_key, cfg.init)
            init = jax.vmap(mlp.perturb, in_axes=(None, 0, None, None))(base, keys, s, cfg.bias_scale)
        params, losses = mlp.train_recorded(task.train, init, task.X, Y, chunk=cfg.chunk)
        preds = mlp.predict(task.train.widths, params, task.X_test)[..., 0]
        return {"scale": s, **uncertainty.ensemble_metrics(preds, target_test, task.y_test)._asdict(),
                "param_variance_before": mlp.parameter_variance(init),
                "param_variance_after": mlp.parameter_variance(params),
                "mse_truth_per_student": uncertainty.mse(preds, task.y_test),
                "prediction_signal": float(np.var(np.asarray(preds, np.float64).mean(axis=0))),
                "fit": regression.fit_of(losses, task.train, preds, task.y_test)}

    points = [(f"s-{i:02d}", (i, s)) for i, s in enumerate(cfg.scales)]
    rows = sweep(run_dir, points, point, desc="init-perturbation (mlp)")
    return {**columns(rows), "num_students": cfg.num_students}
