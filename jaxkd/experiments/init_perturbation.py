"""Student initialization uncertainty (study Section 5.1): multiplicative init perturbations.

A deterministic teacher (sigma^2 = 0); every student trains on the MLP teacher's outputs from a
Kaiming initialization perturbed by :func:`jaxkd.students.mlp.perturb` at scale s (weights
times ``1 + eps``, ``eps ~ N(0, s^2)``, per student from the ``init_perturbation`` stream).

* ``fresh_init=True`` (the study's scripts, the ``paper`` preset): every student draws its own
  Kaiming init, and biases move by ``N(0, (bias_scale s)^2)`` (``bias_scale`` 0.1); the spread at
  s = 0 is the spread of fresh inits, and s adds to it.
* ``fresh_init=False`` (the ``quick`` preset): all students share one init, so s = 0 gives N
  identical students and any spread is the perturbation's.

Measured against s: mean and variance across students of the test MSE, the inter-student
variance of the test predictions, and the variance across students of the parameters (averaged
over parameters) before and after training, whose ratio says whether training amplifies or
damps the initial spread. Departure from the study: it uses 10,000 replicates per s; the
paper preset runs 1,000 (``--students 10000`` runs the study's count).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax

from jaxkd import _validation as v
from jaxkd import rng
from jaxkd.config import option
from jaxkd.experiments import common
from jaxkd.runs import RunDir
from jaxkd.students import mlp

MODELS = ("mlp",)


@dataclasses.dataclass(frozen=True)
class Config(common.RegressionConfig):
    MODELS: ClassVar[tuple[str, ...]] = MODELS

    PRESETS: ClassVar[dict] = {("paper", "*"): {  # the study's scripts: 13 -> 128 -> 1, 300 epochs
        "scales": tuple(round(0.05 * i, 2) for i in range(9)), "num_students": 1000,
        "hidden": (128,), "epochs": 300, "fresh_init": True, "bias_scale": 0.1}}

    model: str = "mlp"
    scales: tuple[float, ...] = option((0.0, 0.01, 0.05, 0.1, 0.2), "init perturbation scales s")
    num_students: int = 100
    fresh_init: bool = option(False, "each student its own Kaiming init before perturbing (the study's "
                              "scripts); default: one shared init")
    bias_scale: float | None = option(None, "biases shifted by N(0, (bias_scale·s)²) instead of multiplied "
                                      "like weights (zero biases stay zero then); the study's scripts: 0.1")

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "scales", v.check_grid("perturbation scales", self.scales,
                                                        v.check_nonnegative))
        if self.bias_scale is not None:
            v.check_nonnegative("bias scale", self.bias_scale)


def run(cfg: Config, run_dir: RunDir | None = None) -> dict:
    task = common.mlp_task(cfg)
    init_key = rng.stream(cfg.seed, "init")
    perturb_key = rng.stream(cfg.seed, "init_perturbation")

    def point(p):
        i, s = p
        keys = rng.student_keys(rng.point_key(perturb_key, i), cfg.num_students)
        if cfg.fresh_init:  # the same fresh inits at every s, so s's effect is paired
            base = mlp.init_ensemble(task.train.widths, rng.student_keys(init_key, cfg.num_students))
            init = jax.vmap(mlp.perturb, in_axes=(0, 0, None, None))(base, keys, s, cfg.bias_scale)
        else:
            base = mlp.init_params(task.train.widths, init_key)
            init = jax.vmap(mlp.perturb, in_axes=(None, 0, None, None))(base, keys, s, cfg.bias_scale)
        params = mlp.train_ensemble(task.train, init, task.X, task.mu, chunk=cfg.chunk)
        out = common.ensemble_metrics(mlp.predict(task.train.widths, params, task.X_test)[..., 0],
                                      task.mu_test, task.y_test)
        return {"scale": s, **out, "param_variance_before": mlp.parameter_variance(init),
                "param_variance_after": mlp.parameter_variance(params)}

    points = [(f"s-{i:02d}", (i, s)) for i, s in enumerate(cfg.scales)]
    rows = common.sweep(run_dir, points, point, desc="init-perturbation (mlp)")
    return {**common.columns(rows), "num_students": cfg.num_students}
