"""The computation of teacher-noise: ``run(config, run_dir) -> Results``."""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxkd import compiler, rng, sharding, targets, teachers, uncertainty
from jaxkd.experiments import regression
from jaxkd.experiments import results as base
from jaxkd.experiments.teacher_noise.config import Config
from jaxkd.runs import RunDir, columns, sweep
from jaxkd.students import mlp
from jaxkd.theory import closed_forms as cf


def _predictions(resp: jax.Array, task: regression.LinearTask) -> jax.Array:
    """N OLS students' test predictions from their label sets: resp (N, 1, n) -> (N, m). The
    students' coefficients are the label-to-coefficient map applied to their labels (one matrix
    product; the same numbers as solving for each student, to rounding), then one product
    gives their test predictions."""
    return (targets.single(resp) @ task.to_coef) @ task.X_test.T


@jax.jit
def _student_predictions(keys: jax.Array, task: regression.LinearTask, sigma2) -> jax.Array:
    """One noisy response per input for each student key, then :func:`_predictions`:
    keys (N,) -> (N, m) (the path of ``--chunk`` and of several devices)."""
    return _predictions(teachers.batched_responses(keys, task.mu, sigma2, 1), task)


@functools.partial(jax.jit, static_argnums=(2, 3))
def _level_deviates(noise: jax.Array, index, num_students: int, n: int) -> jax.Array:
    """A level's keys, ``fold_in(noise, index)`` (``index``: the level's :func:`jaxkd.rng.grid_id`)
    split per student, and their deviates:
    (N, 1, n) float32 (:func:`jaxkd.teachers.deviates`)."""
    return teachers.deviates(rng.student_keys(rng.point_key(noise, index), num_students), 1, n)


def _level_metrics(eps: jax.Array, task: regression.LinearTask, sigma2) -> uncertainty.EnsembleMetrics:
    """A level's students and metrics from its deviates (the draw is a program of its own: see
    :func:`jaxkd.teachers.deviates`); compiled with :func:`jaxkd.compiler.library_products`."""
    return _level_metrics_program()(eps, task, sigma2)


@functools.cache
def _level_metrics_program():
    """The compiled :func:`_level_metrics`, its options decided at first use (after the caller
    set up XLA): its two float64 products are skinny, where YNNPACK's kernels take about half
    the CPU time of XLA's emitter (the whole 15-level sweep: 77-82 against 90-99 ms of CPU,
    alternating processes, load 11-14)."""

    def program(eps, task, sigma2):
        preds = _predictions(teachers.responses(task.mu, sigma2, eps), task)
        return uncertainty.ensemble_metrics(preds, task.mu_test, task.y_test)

    return jax.jit(program, compiler_options=compiler.library_products())


def _simulate(task: regression.LinearTask, sigma2, noise: jax.Array, index: int, num_students: int,
              chunk=None) -> dict:
    """Metrics of ``num_students`` students at one noise level; keys from ``fold_in(noise,
    index)`` (``index``: the level's :func:`jaxkd.rng.grid_id`), the same on every path."""
    if chunk is None and sharding.device_count() == 1:
        return {k: x[0] for k, x in _simulate_all(task, [sigma2], noise, [index], num_students).items()}
    keys = rng.student_keys(rng.point_key(noise, index), num_students)
    preds = sharding.map_students(_student_predictions, keys, task, sigma2, in_axes=(0, None, None), block=chunk)
    return jax.device_get(_metrics(preds, task.mu_test, task.y_test))._asdict()


def _simulate_all(task: regression.LinearTask, sigma2s, noise: jax.Array, indices, num_students: int) -> dict:
    """Metrics of every level in ``indices`` on one device without chunks, each level two
    programs (draw, then students and metrics), all dispatched before any result is read so
    that the levels run back to back: {metric: (L,)}."""
    n = task.mu.shape[0]
    pending = [_level_metrics(_level_deviates(noise, i, num_students, n), task, s2)
               for i, s2 in zip(indices, sigma2s)]
    levels = jax.device_get(pending)
    return {k: np.asarray([getattr(lv, k) for lv in levels]) for k in uncertainty.EnsembleMetrics._fields}


_metrics = jax.jit(uncertainty.ensemble_metrics)


@jax.jit
def _closed_forms(task: regression.LinearTask, sigma2s: jax.Array):
    """c (4.1), the noise-free test MSE against the truth (4.3) and X.1 at every noise level
    (the closed form broadcasts over sigma^2), in one program."""
    return (cf.mean_test_leverage(task.X, task.X_test),
            cf.observed_label_mse(task.X, task.X_test, task.mu, task.y_test, 0.0),
            cf.test_mse_variance(task.X, task.X_test, task.mu, task.y_test, sigma2s))


def _run_linear(cfg: Config, run_dir: RunDir | None, tag: str = "") -> dict:
    with jax.enable_x64(True):
        task = regression.config_linear_task(cfg)
        noise = rng.stream(cfg.seed, "teacher_noise")
        c, bias_truth, x1 = jax.device_get(_closed_forms(task, jnp.asarray(cfg.alphas) * task.var_y))
        c, bias_truth = float(c), float(bias_truth)

        one_program = cfg.chunk is None and sharding.device_count() == 1
        every = {}  # the one program's metrics for all levels, computed when a level is first missing

        def point(p):
            sigma2 = p[1] * task.var_y
            if one_program and not every:
                every.update(_simulate_all(task, np.asarray(cfg.alphas) * task.var_y, noise,
                                           [rng.grid_id(a) for a in cfg.alphas], cfg.num_students))
            sim = ({k: x[p[0]] for k, x in every.items()} if one_program else
                   _simulate(task, sigma2, noise, rng.grid_id(p[1]), cfg.num_students, cfg.chunk))
            return {"sigma2": sigma2, **sim,
                    "predicted_variance": sigma2 * c,             # 4.1
                    "predicted_mse_teacher": sigma2 * c,          # 4.2, linear teacher
                    "predicted_mse_truth": bias_truth + sigma2 * c,  # 4.3, observed labels
                    "predicted_mse_truth_variance": x1[p[0]]}  # X.1

        points = [(f"{tag}alpha-{i:02d}", (i, a)) for i, a in enumerate(cfg.alphas)]
        rows = sweep(run_dir, points, point, desc=f"teacher-noise (linear{', ' + tag if tag else ''})")
    return {**columns(rows), "c": c}


def _run_mlp(cfg: Config, run_dir: RunDir | None) -> dict:
    task = regression.mlp_task(cfg)
    noise = rng.stream(cfg.seed, "teacher_noise")
    init = mlp.init_ensemble(task.train.widths,
                             rng.student_keys(rng.stream(cfg.seed, "init"), cfg.num_students), cfg.init)

    def point(p):
        sigma2 = p[1] * task.var_y
        Y = targets.single(teachers.sample_responses(rng.point_key(noise, rng.grid_id(p[1])), task.mu, sigma2,
                                                     num_students=cfg.num_students))
        metrics, fit = regression.train_and_measure(task, init, Y, chunk=cfg.chunk)
        return {"sigma2": sigma2, **metrics._asdict(), "fit": fit}

    points = [(f"alpha-{i:02d}", (i, a)) for i, a in enumerate(cfg.alphas)]
    rows = sweep(run_dir, points, point, desc="teacher-noise (mlp)")
    return columns(rows)


@dataclasses.dataclass(frozen=True)
class Results(base.EnsembleResults):
    """Typed results, per noise level α (grid order). Linear students carry the closed forms
    (``predicted_*``, ``c``); MLP students carry ``linear``, the OLS control run beside them on
    the same split and noise levels (itself a linear :class:`Results`), and ``fit``: per level
    the students' :class:`jaxkd.experiments.fit.FitSummary` as JSON (held-out loss: their test
    MSE against the truth; None for OLS students, which have no training budget)."""

    alpha: tuple[float, ...]
    sigma2: tuple[float, ...]
    num_students: int
    predicted_variance: tuple[float, ...] | None = None           # 4.1 (linear)
    predicted_mse_teacher: tuple[float, ...] | None = None        # 4.2 (linear)
    predicted_mse_truth: tuple[float, ...] | None = None          # 4.3 (linear)
    predicted_mse_truth_variance: tuple[float, ...] | None = None  # X.1 (linear)
    c: float | None = None                                        # mean test leverage (linear)
    linear: "Results | None" = None                               # the OLS control (MLP)
    fit: tuple[dict, ...] | None = None                           # per level, the students' fit (MLP)

    @classmethod
    def build(cls, config, values: dict) -> "Results":
        values = dict(values)
        if isinstance(values.get("linear"), dict):  # measured, or read back from results.json
            values["linear"] = cls.build(config, {k: v for k, v in values["linear"].items() if k != "config"})
        return super().build(config, values)

    @property
    def closed_forms(self) -> "Results":
        """The results holding the linear closed forms: these, or the MLP run's OLS control."""
        return self if self.linear is None else self.linear


def run(cfg: Config, run_dir: RunDir | None = None) -> Results:
    """Run the sweep (``run_dir`` enables save/resume) and return its typed results."""
    return Results.build(cfg, _columns(cfg, run_dir))


def _columns(cfg: Config, run_dir: RunDir | None) -> dict:
    """The measured values by field name (see :class:`Results`)."""
    head = {"alpha": list(cfg.alphas), "num_students": cfg.num_students}
    if cfg.model == "linear":
        return {**head, **_run_linear(cfg, run_dir)}
    return {**head, **_run_mlp(cfg, run_dir), "linear": {**head, **_run_linear(cfg, run_dir, tag="linear-")}}
