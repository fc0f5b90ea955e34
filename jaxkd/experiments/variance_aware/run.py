"""The computation of variance-aware: ``run(config, run_dir) -> Results``."""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.model_selection import KFold

from jaxkd import rng, sharding, targets, teachers, uncertainty
from jaxkd.experiments import regression
from jaxkd.experiments import results as base
from jaxkd.experiments.variance_aware.config import Config
from jaxkd.runs import RunDir, columns, sweep
from jaxkd.students import linear, mlp
from jaxkd.theory import closed_forms as cf

METHODS = ("average", "study", "leverage_oracle", "honest")
NUM_FOLDS = 5


@functools.partial(jax.jit, static_argnums=3)
def _draw(keys, mu, sigma2, k):
    """The k-dependent stage (compiled per k, small): averaged responses, their estimated
    variance (zero for k = 1, where the cross-fit residuals estimate it) and the study's
    variance-weighted targets: (N, n), (N,), (N, n)."""
    resp = teachers.batched_responses(keys, mu, sigma2, k)
    pooled = targets.pooled_response_variance(resp) / k if k >= 2 else jnp.zeros(keys.shape[0], mu.dtype)
    return targets.average(resp), pooled, targets.study_variance_weighted(resp, sigma2, mu)


@jax.jit
def _distil(task, folds, lev_single, sigma2, k, ybar, pooled, study):
    """The k-independent stage (compiled once): targets, N students per method, metrics."""
    crossfit, lev = linear.cross_fit_core(task.X, ybar, folds, NUM_FOLDS)
    var_ybar = jnp.where(k >= 2, pooled, targets.crossfit_residual_variance(ybar, crossfit, lev))
    built = {
        "average": ybar,
        "study": study,
        "leverage_oracle": targets.leverage_oracle_weighted(ybar, sigma2 / k, task.mu, sigma2 * lev_single),
        "honest": targets.honest_variance_weighted(ybar, var_ybar, crossfit, lev),
    }
    preds = {name: linear.predict(linear.solve(task.factor, task.X, y), task.X_test) for name, y in built.items()}
    out = {}
    for name, p in preds.items():
        out |= _method_metrics(name, p, task)
    return out | _stability(preds["average"], preds["study"], task)


def _stability(average, study, task) -> dict:
    """The study's Figure 11 comparison, paired (the same responses and, for MLPs, the same
    inits behind both): ``log(Var_students MSE_average / Var_students MSE_study)`` of the test
    MSE against the truth, and its SE (:func:`jaxkd.uncertainty.log_variance_ratio`); above 0
    when variance weighting gives the more stable students. preds (N, m) each."""
    ratio, se = uncertainty.log_variance_ratio(uncertainty.mse(average, task.y_test), uncertainty.mse(study, task.y_test))
    return {"stability_log_ratio": ratio, "stability_log_ratio_se": se}


_REPORTED = {"variance": "inter_student_variance", "variance_se": "inter_student_variance_se",
             "mse_teacher": "mse_teacher", "mse_truth": "mse_truth", "mse_truth_std": "mse_truth_std"}


def _method_metrics(name: str, preds, task) -> dict:
    """One method's students measured by :func:`uncertainty.ensemble_metrics`, under the method's
    name: preds (N, m) -> {"<name>_variance", ...}."""
    m = uncertainty.ensemble_metrics(preds, task.mu_test, task.y_test)
    return {f"{name}_{short}": getattr(m, key) for short, key in _REPORTED.items()}


def _point(task, folds, lev_single, c, sigma2, k, key, num_students, chunk=None) -> dict:
    # The heavy stage (N x n x k Gaussian draws) runs with the student axis over devices.
    keys = jax.random.split(key, num_students)
    ybar, pooled, study = sharding.map_students(_draw, keys, task.mu, sigma2, k, in_axes=(0, None, None, None),
                                                static_argnums=(3,), block=chunk)
    out = _distil(task, folds, lev_single, sigma2, float(k), ybar, pooled, study)
    return {"sigma2": sigma2, "k": k, "predicted_average_variance": sigma2 / k * c, **out}


def _fold_ids(n: int, seed: int) -> jax.Array:
    folds = np.empty(n, dtype=np.int32)
    for f, (_, held) in enumerate(KFold(NUM_FOLDS, shuffle=True, random_state=seed).split(np.zeros(n))):
        folds[held] = f
    return jnp.asarray(folds)


def _run_mlp(cfg: Config, run_dir: RunDir | None) -> dict:
    task = regression.mlp_task(cfg)
    X1 = linear.add_intercept(task.X)  # the OLS first stage's design
    folds = _fold_ids(X1.shape[0], cfg.split_seed)
    lev_single = linear.hat_diagonal(X1)
    init = mlp.init_ensemble(task.train.widths,
                             rng.student_keys(rng.stream(cfg.seed, "init"), cfg.num_students), cfg.init)
    key = rng.stream(cfg.seed, "teacher_noise")

    def point(p):
        _, _, alpha, k = p
        sigma2 = alpha * task.var_y
        resp = teachers.sample_responses(rng.point_key(key, rng.grid_id(alpha), rng.grid_id(k)), task.mu, sigma2, k=k,
                                         num_students=cfg.num_students)
        ybar = targets.average(resp)
        built = {"average": ybar,
                 "study": targets.study_variance_weighted(resp, sigma2, task.mu),
                 "leverage_oracle": targets.leverage_oracle_weighted(ybar, sigma2 / k, task.mu, sigma2 * lev_single)}
        if k >= 2:
            crossfit, lev = linear.cross_fit(X1, ybar, folds, NUM_FOLDS)
            v_ybar = targets.pooled_response_variance(resp) / k
            v_student = targets.crossfit_error_variance(ybar, v_ybar, crossfit, v_ybar * jnp.min(lev))
            built["honest"] = targets.combine(ybar, v_ybar[:, None], crossfit, v_student[:, None])
        else:
            built["honest"] = ybar
        # The methods' students share their inits: one ensemble of (distinct methods) x N students.
        # At k = 1 the study's weighting and the honest one are averaging (the same targets,
        # bit for bit: the study's weight on ybar is sigma^2 / (0 + sigma^2) = 1), so their
        # students are averaging's, trained once.
        same_as = {"study": "average", "honest": "average"} if k == 1 else {}
        trained = [name for name in METHODS if name not in same_as]
        together = jax.tree.map(lambda x: jnp.concatenate([x] * len(trained)), init)
        Y = jnp.concatenate([built[name] for name in trained])
        params, losses = mlp.train_recorded(task.train, together, task.X, Y, chunk=cfg.chunk)
        preds = mlp.predict(task.train.widths, params, task.X_test)[..., 0].reshape(len(trained), -1, task.X_test.shape[0])
        preds = dict(zip(trained, preds))
        losses = dict(zip(trained, losses.reshape(len(trained), cfg.num_students, -1)))
        out = {"sigma2": sigma2, "k": k}
        for name in METHODS:
            out |= _method_metrics(name, preds[same_as.get(name, name)], task)
            out[f"{name}_fit"] = regression.fit_of(losses[same_as.get(name, name)], task.train,
                                                   preds[same_as.get(name, name)], task.y_test)
        return out | _stability(preds["average"], preds[same_as.get("study", "study")], task)

    points = [(f"alpha-{i:02d}-k-{k:03d}", (i, j, a, k))
              for i, a in enumerate(cfg.alphas) for j, k in enumerate(cfg.ks)]
    rows = sweep(run_dir, points, point, desc="variance-aware (mlp)")
    return {"alpha": [a for a in cfg.alphas for _ in cfg.ks], **columns(rows),
            "num_students": cfg.num_students}


@dataclasses.dataclass(frozen=True)
class Results(base.Results):
    """Typed results (per (α, k) point, α-major; one column group per target method). MLP
    students carry ``<method>_fit``: per point each method's N students'
    :class:`jaxkd.experiments.fit.FitSummary` as JSON (the methods are trained in one call and
    summarised apart; at k = 1 the study's and the honest method's are averaging's students, so
    their fit is averaging's; held-out loss: the test MSE against the truth). None for OLS
    students, which have no training budget."""

    alpha: tuple[float, ...]
    sigma2: tuple[float, ...]
    k: tuple[int, ...]
    average_mse_teacher: tuple[float, ...]
    average_mse_truth: tuple[float, ...]
    average_mse_truth_std: tuple[float, ...]
    average_variance: tuple[float, ...]
    average_variance_se: tuple[float, ...]
    honest_mse_teacher: tuple[float, ...]
    honest_mse_truth: tuple[float, ...]
    honest_mse_truth_std: tuple[float, ...]
    honest_variance: tuple[float, ...]
    honest_variance_se: tuple[float, ...]
    leverage_oracle_mse_teacher: tuple[float, ...]
    leverage_oracle_mse_truth: tuple[float, ...]
    leverage_oracle_mse_truth_std: tuple[float, ...]
    leverage_oracle_variance: tuple[float, ...]
    leverage_oracle_variance_se: tuple[float, ...]
    study_mse_teacher: tuple[float, ...]
    study_mse_truth: tuple[float, ...]
    study_mse_truth_std: tuple[float, ...]
    study_variance: tuple[float, ...]
    study_variance_se: tuple[float, ...]
    stability_log_ratio: tuple[float, ...]      # log(Var MSE averaging / Var MSE study), paired
    stability_log_ratio_se: tuple[float, ...]
    predicted_average_variance: tuple[float, ...] | None = None
    c: float | None = None
    num_students: int | None = None
    average_fit: tuple[dict, ...] | None = None
    study_fit: tuple[dict, ...] | None = None
    leverage_oracle_fit: tuple[dict, ...] | None = None
    honest_fit: tuple[dict, ...] | None = None


def run(cfg: Config, run_dir: RunDir | None = None) -> Results:
    """Run the sweep (``run_dir`` enables save/resume) and return its typed results."""
    return Results.build(cfg, _columns(cfg, run_dir))


def _columns(cfg: Config, run_dir: RunDir | None) -> dict:
    if cfg.model == "mlp":
        return _run_mlp(cfg, run_dir)
    with jax.enable_x64(True):
        task = regression.config_linear_task(cfg)
        folds = _fold_ids(task.X.shape[0], cfg.split_seed)
        lev_single = linear.hat_diagonal(task.X)
        c = float(cf.mean_test_leverage(task.X, task.X_test))
        key = rng.stream(cfg.seed, "teacher_noise")
        points = [(f"alpha-{i:02d}-k-{k:03d}", (i, j, a, k))
                  for i, a in enumerate(cfg.alphas) for j, k in enumerate(cfg.ks)]
        rows = sweep(
            run_dir, points,
            lambda p: _point(task, folds, lev_single, c, p[2] * task.var_y, p[3],
                             rng.point_key(key, rng.grid_id(p[2]), rng.grid_id(p[3])), cfg.num_students, cfg.chunk),
            desc=f"variance-aware ({cfg.model})",
        )
        return {"alpha": [a for a in cfg.alphas for _ in cfg.ks], **columns(rows),
                "c": c}
