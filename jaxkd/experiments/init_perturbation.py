"""Student initialization uncertainty (study Section 5.1): multiplicative init perturbations.

A deterministic teacher (sigma^2 = 0): every student trains on the MLP teacher's outputs from
the *same* Kaiming initialization, each weight multiplied by ``(1 + eps)``,
``eps ~ N(0, s^2)`` drawn per student from the ``init_perturbation`` stream. s = 0 gives N
identical students. Measured against s: mean and variance across students of the test MSE,
and the inter-student variance of the test predictions.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp

from jaxkd import _validation as v
from jaxkd import rng
from jaxkd.experiments import common
from jaxkd.runs import RunDir
from jaxkd.students import mlp

MODELS = ("mlp",)


@dataclasses.dataclass(frozen=True)
class Config(common.RegressionConfig):
    MODELS: ClassVar[tuple[str, ...]] = MODELS

    model: str = "mlp"
    scales: tuple[float, ...] = (0.0, 0.01, 0.05, 0.1, 0.2)
    num_students: int = 100

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "scales", v.check_grid("perturbation scales", self.scales,
                                                        v.check_nonnegative))

    @classmethod
    def from_preset(cls, preset: str = "quick", **overrides) -> "Config":
        table = {"quick": {}, "paper": {
            "scales": (0.0, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5), "num_students": 1000}}
        return common.preset_config(cls, preset, table, **overrides)


def run(cfg: Config, run_dir: RunDir | None = None) -> dict:
    task = common.mlp_task(cfg)
    base = mlp.init_params(task.train.widths, rng.stream(cfg.seed, "init"))
    perturb_key = rng.stream(cfg.seed, "init_perturbation")

    def point(p):
        i, s = p
        keys = rng.student_keys(rng.point_key(perturb_key, i), cfg.num_students)
        init = jax.vmap(mlp.perturb, in_axes=(None, 0, None))(base, keys, s)
        out = common.train_and_measure(task, init, task.mu, chunk=cfg.chunk)
        out["mse_truth_variance"] = jnp.square(out["mse_truth_std"])
        return {"scale": s, **out}

    points = [(f"s-{i:02d}", (i, s)) for i, s in enumerate(cfg.scales)]
    return common.columns(common.sweep(run_dir, points, point, desc="init-perturbation (mlp)"))
