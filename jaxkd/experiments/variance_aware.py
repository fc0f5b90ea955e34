"""Variance-aware distillation (study Section 7): averaging k responses vs variance weighting.

For each noise level alpha and number of responses k, N students are distilled with three
targets built from the same responses:

* ``average``: ``ybar`` (THEOREMS.md 7.1 predicts ``V = (sigma^2/k) c``);
* ``oracle``: the study's variance weighting, ``ybar`` combined with the clean teacher mean,
  the student estimate's variance taken as a single-response student's ``sigma^2 h_i``;
* ``honest``: ``ybar`` combined with a 5-fold cross-fitted OLS student, both variances
  estimated from the responses (:func:`jaxkd.targets.honest_variance_weighted`).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxkd import _validation as v
from jaxkd import rng, targets, teachers, uncertainty
from jaxkd.experiments import common
from jaxkd.runs import RunDir
from jaxkd.students import linear
from theory import closed_forms as cf

MODELS = ("linear",)
METHODS = ("average", "oracle", "honest")
KS_PAPER = (1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 20, 30, 40, 50)
NUM_FOLDS = 5


@dataclasses.dataclass(frozen=True)
class Config:
    preset: str = "quick"
    model: str = "linear"
    dataset: str = "boston"
    alphas: tuple[float, ...] = (0.1, 1.0)
    ks: tuple[int, ...] = (1, 3, 5, 10, 20)
    num_students: int = 200
    seed: int = 0
    split_seed: int = 0
    drop_b: bool = False

    def __post_init__(self):
        v.check_choice("model for variance-aware", self.model, MODELS)
        common.validate_common(self)
        object.__setattr__(self, "alphas", v.check_grid("alphas", self.alphas, v.check_positive))
        object.__setattr__(self, "ks", v.check_grid("k", self.ks, v.check_int))

    @classmethod
    def from_preset(cls, preset: str = "quick", **overrides) -> "Config":
        table = {"quick": {},
                 "paper": {"alphas": (0.01, 0.1, 0.5, 1.0), "ks": KS_PAPER, "num_students": 1000}}
        return common.preset_config(cls, preset, table, **overrides)


@functools.partial(jax.jit, static_argnums=(3, 4))
def _draw(mu, sigma2, key, k, num_students):
    """The k-dependent stage (compiled per k, small): averaged responses and their estimated
    variance, (N, n) and (N,) (zero for k = 1, where the cross-fit residuals estimate it)."""
    resp = teachers._batched_gaussian(jax.random.split(key, num_students), mu, sigma2, k)
    pooled = targets.pooled_response_variance(resp) / k if k >= 2 else jnp.zeros(num_students, mu.dtype)
    return targets.average(resp), pooled


@jax.jit
def _distil(task, folds, lev_single, sigma2, k, ybar, pooled):
    """The k-independent stage (compiled once): targets, N students per method, metrics."""
    crossfit, lev = linear._cross_fit(task.X, ybar, folds, NUM_FOLDS)
    var_ybar = jnp.where(k >= 2, pooled, targets.crossfit_residual_variance(ybar, crossfit, lev))
    built = {
        "average": ybar,
        "oracle": targets.oracle_variance_weighted(ybar, sigma2 / k, task.mu, sigma2 * lev_single),
        "honest": targets.honest_variance_weighted(ybar, var_ybar, crossfit, lev),
    }
    n = ybar.shape[0]
    out = {}
    for name, y in built.items():
        preds = linear.predict(linear.solve(task.factor, task.X, y), task.X_test)
        q = uncertainty.inter_student_contributions(preds)
        out |= {f"{name}_variance": jnp.mean(q),
                f"{name}_variance_se": jnp.std(q, ddof=1) / jnp.sqrt(n),
                f"{name}_mse_teacher": jnp.mean(uncertainty.mse(preds, task.mu_test)),
                f"{name}_mse_truth": jnp.mean(uncertainty.mse(preds, task.y_test))}
    return out


def _point(task, folds, lev_single, c, sigma2, k, key, num_students) -> dict:
    ybar, pooled = _draw(task.mu, sigma2, key, k, num_students)
    out = _distil(task, folds, lev_single, sigma2, float(k), ybar, pooled)
    return {"sigma2": sigma2, "k": k, "predicted_average_variance": sigma2 / k * c, **out}


def run(cfg: Config, run_dir: RunDir | None = None) -> dict:
    from sklearn.model_selection import KFold

    with jax.enable_x64(True):
        task = common.linear_task(cfg.dataset, split_seed=cfg.split_seed, drop_b=cfg.drop_b)
        folds = np.empty(task.X.shape[0], dtype=np.int32)
        kfold = KFold(NUM_FOLDS, shuffle=True, random_state=cfg.split_seed)
        for f, (_, held) in enumerate(kfold.split(np.asarray(task.X))):
            folds[held] = f
        folds = jnp.asarray(folds)
        lev_single = linear.hat_diagonal(task.X)
        c = float(cf.mean_test_leverage(task.X, task.X_test))
        key = rng.stream(cfg.seed, "teacher_noise")
        points = [(f"alpha-{i:02d}-k-{k:03d}", (i, j, a, k))
                  for i, a in enumerate(cfg.alphas) for j, k in enumerate(cfg.ks)]
        rows = common.sweep(
            run_dir, points,
            lambda p: _point(task, folds, lev_single, c, p[2] * task.var_y, p[3],
                             rng.point_key(key, p[0], p[1]), cfg.num_students),
            desc=f"variance-aware ({cfg.model})",
        )
        return {"alpha": [a for a in cfg.alphas for _ in cfg.ks], **common.columns(rows),
                "c": c}
