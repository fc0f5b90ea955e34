"""Teacher output uncertainty (study Section 4): students distilled from a noisy teacher.

For each noise level alpha, ``sigma^2 = alpha Var(y_train)``; N students each see one noisy
response per input (standard distillation). Measured: inter-student variance on the test set
(THEOREMS.md 4.1), test MSE against the teacher (4.2) and against the ground truth (4.3),
each beside its closed form.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp

from jaxkd import _validation as v
from jaxkd import rng, targets, teachers, uncertainty
from jaxkd.experiments import common
from jaxkd.runs import RunDir
from jaxkd.students import linear
from theory import closed_forms as cf

ALPHAS_PAPER = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 1.75, 2.0)
MODELS = ("linear",)


@dataclasses.dataclass(frozen=True)
class Config:
    preset: str = "quick"
    model: str = "linear"
    dataset: str = "boston"
    alphas: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0)
    num_students: int = 200
    seed: int = 0
    split_seed: int = 0
    drop_b: bool = False

    def __post_init__(self):
        v.check_choice("model for teacher-noise", self.model, MODELS)
        common.validate_common(self)
        object.__setattr__(self, "alphas", v.check_grid("alphas", self.alphas, v.check_nonnegative))

    @classmethod
    def from_preset(cls, preset: str = "quick", **overrides) -> "Config":
        table = {"quick": {}, "paper": {"alphas": ALPHAS_PAPER, "num_students": 1000}}
        return common.preset_config(cls, preset, table, **overrides)


@functools.partial(jax.jit, static_argnums=3)
def _simulate(task: common.LinearTask, sigma2, key: jax.Array, num_students: int) -> dict:
    resp = teachers._batched_gaussian(jax.random.split(key, num_students), task.mu, sigma2, 1)
    theta = linear.solve(task.factor, task.X, targets.single(resp))  # (N, d)
    preds = linear.predict(theta, task.X_test)  # (N, m)
    q = uncertainty.inter_student_contributions(preds)
    mse_t = uncertainty.mse(preds, task.mu_test)
    mse_y = uncertainty.mse(preds, task.y_test)
    return {
        "inter_student_variance": jnp.mean(q),
        "inter_student_variance_se": jnp.std(q, ddof=1) / jnp.sqrt(num_students),
        "mse_teacher": jnp.mean(mse_t),
        "mse_teacher_std": jnp.std(mse_t, ddof=1),
        "mse_truth": jnp.mean(mse_y),
        "mse_truth_std": jnp.std(mse_y, ddof=1),
    }


def _linear_point(task: common.LinearTask, sigma2: float, key: jax.Array, num_students: int,
                  c: float, bias_truth: float) -> dict:
    sim = _simulate(task, sigma2, key, num_students)
    return {"sigma2": sigma2, **sim,
            "predicted_variance": sigma2 * c,             # 4.1
            "predicted_mse_teacher": sigma2 * c,          # 4.2, linear teacher
            "predicted_mse_truth": bias_truth + sigma2 * c}  # 4.3, observed labels


def run(cfg: Config, run_dir: RunDir | None = None) -> dict:
    """Run the sweep; returns results (numbers only). ``run_dir`` enables save/resume."""
    with jax.enable_x64(True):
        task = common.linear_task(cfg.dataset, split_seed=cfg.split_seed, drop_b=cfg.drop_b)
        noise = rng.stream(cfg.seed, "teacher_noise")
        c = float(cf.mean_test_leverage(task.X, task.X_test))
        bias_truth = float(cf.observed_label_mse(task.X, task.X_test, task.mu, task.y_test, 0.0))
        points = [(f"alpha-{i:02d}", (i, a)) for i, a in enumerate(cfg.alphas)]
        rows = common.sweep(
            run_dir, points,
            lambda p: _linear_point(task, p[1] * task.var_y, rng.point_key(noise, p[0]),
                                    cfg.num_students, c, bias_truth),
            desc=f"teacher-noise ({cfg.model})",
        )
        return {"alpha": list(cfg.alphas), **common.columns(rows), "c": c}
