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
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from jaxkd import _validation as v
from jaxkd import rng, sharding, targets, teachers
from jaxkd.config import option
from jaxkd.experiments import common
from jaxkd.runs import RunDir
from jaxkd.students import linear, mlp
from theory import closed_forms as cf

ALPHAS_PAPER = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 1.75, 2.0)
MODELS = ("linear", "mlp")


@dataclasses.dataclass(frozen=True)
class Config(common.RegressionConfig):
    MODELS: ClassVar[tuple[str, ...]] = MODELS

    PRESETS: ClassVar[dict] = {("quick", "mlp"): {"num_students": 100},
                               ("paper", "*"): {"alphas": ALPHAS_PAPER, "num_students": 1000}}

    alphas: tuple[float, ...] = option((0.0, 0.25, 0.5, 1.0, 1.5, 2.0),
                                       "teacher noise levels α (σ² = α·Var(y_train))")

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "alphas", v.check_grid("alphas", self.alphas, v.check_nonnegative))


@jax.jit
def _student_predictions(keys: jax.Array, task: common.LinearTask, sigma2) -> jax.Array:
    """One noisy response per input for each student key, N OLS students, their test
    predictions: keys (N,) -> (N, m). Only predictions are needed, so the students are the
    label-to-prediction map applied to their labels (one matrix product, same numbers as
    solving for each student's coefficients, to rounding)."""
    resp = teachers.batched_responses(keys, task.mu, sigma2, 1)
    return targets.single(resp) @ task.to_test.T


def _simulate(task: common.LinearTask, sigma2, key: jax.Array, num_students: int, chunk=None) -> dict:
    keys = jax.random.split(key, num_students)
    preds = sharding.map_students(_student_predictions, keys, task, sigma2, in_axes=(0, None, None), block=chunk)
    return _metrics(preds, task.mu_test, task.y_test)


_metrics = jax.jit(common.ensemble_metrics)


def _run_linear(cfg: Config, run_dir: RunDir | None, prefix: str = "", tag: str = "") -> dict:
    with jax.enable_x64(True):
        task = common.linear_task(cfg.dataset, split_seed=cfg.split_seed, drop_b=cfg.drop_b)
        common.guard_memory(cfg, task.X.shape[0], task.X_test.shape[0], task.X.shape[1])
        noise = rng.stream(cfg.seed, "teacher_noise")
        c = float(cf.mean_test_leverage(task.X, task.X_test))
        bias_truth = float(cf.observed_label_mse(task.X, task.X_test, task.mu, task.y_test, 0.0))
        # X.1 at every noise level at once (the closed form broadcasts over sigma^2).
        x1 = np.asarray(cf.test_mse_variance(task.X, task.X_test, task.mu, task.y_test,
                                             jnp.asarray(cfg.alphas) * task.var_y))

        def point(p):
            sigma2 = p[1] * task.var_y
            sim = _simulate(task, sigma2, rng.point_key(noise, p[0]), cfg.num_students, cfg.chunk)
            return {"sigma2": sigma2, **sim,
                    "predicted_variance": sigma2 * c,             # 4.1
                    "predicted_mse_teacher": sigma2 * c,          # 4.2, linear teacher
                    "predicted_mse_truth": bias_truth + sigma2 * c,  # 4.3, observed labels
                    "predicted_mse_truth_variance": x1[p[0]]}  # X.1

        points = [(f"{tag}alpha-{i:02d}", (i, a)) for i, a in enumerate(cfg.alphas)]
        rows = common.sweep(run_dir, points, point, desc=f"teacher-noise (linear{', ' + tag if tag else ''})")
    return {f"{prefix}{k}": val for k, val in {**common.columns(rows), "c": c}.items()}


def _run_mlp(cfg: Config, run_dir: RunDir | None) -> dict:
    task = common.mlp_task(cfg)
    noise = rng.stream(cfg.seed, "teacher_noise")
    init = mlp.init_ensemble(task.train.widths,
                             rng.student_keys(rng.stream(cfg.seed, "init"), cfg.num_students))

    def point(p):
        sigma2 = p[1] * task.var_y
        Y = targets.single(teachers.sample_responses(rng.point_key(noise, p[0]), task.mu, sigma2,
                                                     num_students=cfg.num_students))
        return {"sigma2": sigma2, **common.train_and_measure(task, init, Y, chunk=cfg.chunk)}

    points = [(f"alpha-{i:02d}", (i, a)) for i, a in enumerate(cfg.alphas)]
    rows = common.sweep(run_dir, points, point, desc="teacher-noise (mlp)")
    # The linear sweep beside it (OLS teacher and students on the same split and noise levels).
    linear_part = _run_linear(cfg, run_dir, prefix="linear_", tag="linear-")
    return {**common.columns(rows), **linear_part}


def run(cfg: Config, run_dir: RunDir | None = None) -> dict:
    """Run the sweep; returns results (numbers only). ``run_dir`` enables save/resume."""
    body = _run_linear(cfg, run_dir) if cfg.model == "linear" else _run_mlp(cfg, run_dir)
    return {"alpha": list(cfg.alphas), **body, "num_students": cfg.num_students}
