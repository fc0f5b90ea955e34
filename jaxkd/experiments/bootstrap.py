"""Student initialization uncertainty via bootstrap (study Section 5.2).

N students each fit b rows drawn with replacement from the training set, labelled either by
the teacher (noise-free OLS outputs; docs/theorems.md 5.1 predicts zero variance) or by the ground
truth (5.2: variance about ``(tau^2/b) x^T Sigma^{-1} x``; 5.3: MSE about ``tau^2 (1 + d/b)``).
Both variants use the same resampled rows for each student, so their difference is the labels.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from jaxkd import _validation as v
from jaxkd import bootstrap, rng, uncertainty
from jaxkd.config import option
from jaxkd.experiments import common
from jaxkd.runs import RunDir
from jaxkd.students import ensemble, linear, mlp
from theory import closed_forms as cf

MODELS = ("linear", "mlp")


@dataclasses.dataclass(frozen=True)
class Config(common.RegressionConfig):
    MODELS: ClassVar[tuple[str, ...]] = MODELS

    PRESETS: ClassVar[dict] = {
        ("quick", "mlp"): {"num_students": 100},
        ("paper", "*"): {"sizes": (20, 30, 50, 75, 100, 150, 200, 300, 404), "num_students": 1000},
        ("paper", "mlp"): {"teacher_hidden": (128,), "hidden": (64,)},  # the study's scripts
    }

    sizes: tuple[int, ...] = option((25, 50, 100, 200, 404), "bootstrap sample sizes b")
    teacher_hidden: tuple[int, ...] | None = option(None, "MLP teacher's hidden widths (default: the students')")

    def __post_init__(self):
        super().__post_init__()
        if self.teacher_hidden is not None:
            object.__setattr__(self, "teacher_hidden", tuple(
                v.check_int("each teacher hidden width", w) for w in self.teacher_hidden))
        object.__setattr__(self, "sizes", v.check_grid(
            "bootstrap sizes", self.sizes, lambda n, x: v.check_int(n, x, minimum=2)))

    def floats_per_student(self, n: int, m: int, d: int) -> tuple[float, float]:
        # Each student's resampled rows (indices, and for linear students the gathered design)
        # and its bootstrap counts come on top of the common model.
        held, chunk = super().floats_per_student(n, m, d)
        extra = max(self.sizes) * (d + 2) if self.model == "linear" else n
        return held + extra, chunk


def _point(task: common.LinearTask, b: int, key: jax.Array, num_students: int, tau2: float,
           Sigma: jax.Array, chunk=None) -> dict:
    n, d = task.X.shape
    idx = bootstrap.resample_indices(key, n, b, num_students=num_students)
    full = np.asarray(linear.resample_rank(task.X, idx) == d)
    out = {"b": b, "full_rank_fraction": full.mean()}
    for label, y in (("teacher", task.mu), ("truth", task.y_train)):
        preds = linear.predict(linear.fit_resampled(task.X, y, idx, chunk=chunk), task.X_test)
        q = uncertainty.inter_student_contributions(preds)
        mse = uncertainty.mse(preds, task.y_test)
        # 5.1 speaks of full-rank resamples; rank-deficient ones get the minimum-norm fit.
        out[f"{label}_variance_full_rank"] = (
            uncertainty.inter_student_variance(np.asarray(preds)[full]) if full.sum() > 1 else np.nan)
        out |= {f"{label}_variance": jnp.mean(q),
                f"{label}_variance_se": jnp.std(q, ddof=1) / jnp.sqrt(num_students),
                f"{label}_mse": jnp.mean(mse), f"{label}_mse_std": jnp.std(mse, ddof=1)}
    out["predicted_truth_variance"] = cf.ground_truth_bootstrap_variance(task.X_test, Sigma, tau2, b)
    out["gaussian_truth_variance"] = (cf.gaussian_design_bootstrap_variance(task.X_test, Sigma, tau2, b)
                                      if b > d + 1 else np.nan)
    out["predicted_truth_mse"] = cf.ground_truth_bootstrap_mse(tau2, d, b)
    # X.2 / X.3: the same students under heteroscedastic residuals, on the fixed test split.
    out["sandwich_truth_variance"] = cf.sandwich_bootstrap_variance(task.X, task.y_train - task.mu, task.X_test, b)
    out["observed_truth_mse"] = cf.bootstrap_observed_mse(task.X, task.y_train, task.X_test, task.y_test, b)
    return out


def _check_sizes(cfg: Config, n: int) -> None:
    too_big = [b for b in cfg.sizes if b > n]
    if too_big:
        raise ValueError(f"bootstrap sizes {too_big} exceed the {n} training rows of {cfg.dataset!r}.")


def _run_mlp(cfg: Config, run_dir: RunDir | None) -> dict:
    """MLP students from one fixed init; bootstrap counts enter as example weights."""
    task = common.mlp_task(cfg)
    n = task.X.shape[0]
    _check_sizes(cfg, n)
    one = mlp.init_params(task.train.widths, rng.stream(cfg.seed, "init"))
    init = jax.tree.map(lambda x: jnp.broadcast_to(x, (cfg.num_students, *x.shape)), one)
    key = rng.stream(cfg.seed, "bootstrap")

    def point(p):
        i, b = p
        idx = bootstrap.resample_indices(rng.point_key(key, i), n, b,
                                         num_students=cfg.num_students)
        counts = jax.vmap(lambda r: jnp.zeros(n, jnp.float32).at[r].add(1.0))(idx)  # (N, n)
        out = {"b": b}
        # Teacher-labelled and truth-labelled students share init and resamples: one ensemble
        # of 2N students (the first N on the teacher's labels).
        N = cfg.num_students
        Y = jnp.concatenate([jnp.broadcast_to(task.mu, (N, n)), jnp.broadcast_to(task.y_train, (N, n))])
        params = mlp.train_ensemble(task.train, ensemble.stack([init, init]), task.X, Y,
                                    weights=jnp.concatenate([counts, counts]), chunk=cfg.chunk)
        preds = mlp.predict(task.train.widths, params, task.X_test)[..., 0]
        for label, part in (("teacher", preds[:N]), ("truth", preds[N:])):
            m = common.ensemble_metrics(part, task.mu_test, task.y_test)
            out |= {f"{label}_variance": m["inter_student_variance"],
                    f"{label}_variance_se": m["inter_student_variance_se"],
                    f"{label}_mse": m["mse_truth"], f"{label}_mse_std": m["mse_truth_std"]}
        return out

    points = [(f"b-{b:06d}", (i, b)) for i, b in enumerate(cfg.sizes)]
    rows = common.sweep(run_dir, points, point, desc="bootstrap (mlp)")
    return {**common.columns(rows), "n": n, "num_students": cfg.num_students}


def run(cfg: Config, run_dir: RunDir | None = None) -> dict:
    if cfg.model == "mlp":
        return _run_mlp(cfg, run_dir)
    with jax.enable_x64(True):
        task = common.linear_task(cfg.dataset, split_seed=cfg.split_seed, drop_b=cfg.drop_b)
        common.guard_memory(cfg, task.X.shape[0], task.X_test.shape[0], task.X.shape[1])
        n, d = task.X.shape
        _check_sizes(cfg, n)
        resid = task.y_train - task.mu
        tau2 = float(resid @ resid / (n - d))  # residual variance of the OLS fit
        Sigma = task.X.T @ task.X / n
        key = rng.stream(cfg.seed, "bootstrap")
        points = [(f"b-{b:06d}", (i, b)) for i, b in enumerate(cfg.sizes)]
        rows = common.sweep(
            run_dir, points,
            lambda p: _point(task, p[1], rng.point_key(key, p[0]), cfg.num_students, tau2, Sigma, cfg.chunk),
            desc=f"bootstrap ({cfg.model})",
        )
        return {**common.columns(rows), "tau2_hat": tau2, "d": d, "n": n,
                "full_data_test_mse": float(np.mean((np.asarray(task.mu_test) - np.asarray(task.y_test)) ** 2))}
