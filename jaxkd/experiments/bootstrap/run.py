"""The computation of bootstrap: ``run(config, run_dir) -> Results``."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from jaxkd import bootstrap, rng, uncertainty
from jaxkd.experiments import regression
from jaxkd.experiments import results as base
from jaxkd.experiments.bootstrap.config import Config
from jaxkd.runs import RunDir, columns, sweep
from jaxkd.students import ensemble, linear, mlp
from jaxkd.theory import closed_forms as cf


def _point(task: regression.LinearTask, b: int, key: jax.Array, num_students: int, tau2: float,
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
    task = regression.mlp_task(cfg)
    n = task.X.shape[0]
    _check_sizes(cfg, n)
    one = mlp.init_params(task.train.widths, rng.stream(cfg.seed, "init"), cfg.init)
    init = jax.tree.map(lambda x: jnp.broadcast_to(x, (cfg.num_students, *x.shape)), one)
    key = rng.stream(cfg.seed, "bootstrap")

    def point(p):
        _, b = p
        idx = bootstrap.resample_indices(rng.point_key(key, rng.grid_id(b)), n, b,
                                         num_students=cfg.num_students)
        counts = jax.vmap(lambda r: jnp.zeros(n, jnp.float32).at[r].add(1.0))(idx)  # (N, n)
        out = {"b": b}
        # Teacher-labelled and truth-labelled students share init and resamples: one ensemble
        # of 2N students (the first N on the teacher's labels).
        N = cfg.num_students
        Y = jnp.concatenate([jnp.broadcast_to(task.mu, (N, n)), jnp.broadcast_to(task.y_train, (N, n))])
        params, losses = mlp.train_recorded(task.train, ensemble.stack([init, init]), task.X, Y,
                                            weights=jnp.concatenate([counts, counts]), chunk=cfg.chunk)
        preds = mlp.predict(task.train.widths, params, task.X_test)[..., 0]
        for label, part, loss in (("teacher", preds[:N], losses[:N]), ("truth", preds[N:], losses[N:])):
            m = uncertainty.ensemble_metrics(part, task.mu_test, task.y_test)
            out |= {f"{label}_variance": m.inter_student_variance,
                    f"{label}_variance_se": m.inter_student_variance_se,
                    f"{label}_mse": m.mse_truth, f"{label}_mse_std": m.mse_truth_std,
                    f"{label}_fit": regression.fit_of(loss, task.train, part, task.y_test)}
        return out

    points = [(f"b-{b:06d}", (i, b)) for i, b in enumerate(cfg.sizes)]
    rows = sweep(run_dir, points, point, desc="bootstrap (mlp)")
    return {**columns(rows), "n": n, "num_students": cfg.num_students}


@dataclasses.dataclass(frozen=True)
class Results(base.Results):
    """Typed results (per bootstrap size b; teacher- and truth-labelled students). MLP students
    carry ``teacher_fit`` and ``truth_fit``: per b each label kind's N students'
    :class:`jaxkd.experiments.fit.FitSummary` as JSON (trained in one call, summarised apart;
    training loss: the bootstrap-weighted squared error; held-out loss: the test MSE against the
    truth). None for OLS students, which have no training budget."""

    b: tuple[int, ...]
    teacher_variance: tuple[float, ...]
    teacher_variance_se: tuple[float, ...]
    teacher_mse: tuple[float, ...]
    teacher_mse_std: tuple[float, ...]
    truth_variance: tuple[float, ...]
    truth_variance_se: tuple[float, ...]
    truth_mse: tuple[float, ...]
    truth_mse_std: tuple[float, ...]
    n: int
    full_rank_fraction: tuple[float, ...] | None = None
    teacher_variance_full_rank: tuple[float, ...] | None = None
    truth_variance_full_rank: tuple[float, ...] | None = None
    predicted_truth_variance: tuple[float, ...] | None = None
    gaussian_truth_variance: tuple[float, ...] | None = None
    predicted_truth_mse: tuple[float, ...] | None = None
    sandwich_truth_variance: tuple[float, ...] | None = None
    observed_truth_mse: tuple[float, ...] | None = None
    tau2_hat: float | None = None
    d: int | None = None
    full_data_test_mse: float | None = None
    num_students: int | None = None
    teacher_fit: tuple[dict, ...] | None = None
    truth_fit: tuple[dict, ...] | None = None


def run(cfg: Config, run_dir: RunDir | None = None) -> Results:
    """Run the sweep (``run_dir`` enables save/resume) and return its typed results."""
    return Results.build(cfg, _columns(cfg, run_dir))


def _columns(cfg: Config, run_dir: RunDir | None) -> dict:
    if cfg.model == "mlp":
        return _run_mlp(cfg, run_dir)
    with jax.enable_x64(True):
        task = regression.config_linear_task(cfg)
        n, d = task.X.shape
        _check_sizes(cfg, n)
        resid = task.y_train - task.mu
        tau2 = float(resid @ resid / (n - d))  # residual variance of the OLS fit
        Sigma = task.X.T @ task.X / n
        key = rng.stream(cfg.seed, "bootstrap")
        points = [(f"b-{b:06d}", (i, b)) for i, b in enumerate(cfg.sizes)]
        rows = sweep(
            run_dir, points,
            lambda p: _point(task, p[1], rng.point_key(key, rng.grid_id(p[1])), cfg.num_students, tau2, Sigma,
                             cfg.chunk),
            desc=f"bootstrap ({cfg.model})",
        )
        return {**columns(rows), "tau2_hat": tau2, "d": d, "n": n,
                "full_data_test_mse": float(np.mean((np.asarray(task.mu_test) - np.asarray(task.y_test)) ** 2))}
