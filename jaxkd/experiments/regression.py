"""The regression task the tabular experiments share: the split with its OLS or MLP teacher,
and the memory guard (the config fields: :mod:`jaxkd.experiments.regression_config`).

:func:`linear_task` and :func:`mlp_task` load,
split and standardize the dataset and fit the teacher; :func:`guard_memory` refuses a number
of students the machine cannot hold before anything is allocated.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from jaxkd import memory, rng, uncertainty
from jaxkd.data import load_dataset, split
from jaxkd.experiments import fit
from jaxkd.experiments.regression_config import RegressionConfig
from jaxkd.students import ensemble, linear, mlp


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class LinearTask:
    """A regression split prepared for linear distillation (float64).

    X (n, d+1) and X_test (m, d+1) carry an intercept column; the teacher is OLS on the
    training labels, ``mu`` (n,) and ``mu_test`` (m,) are its outputs; ``to_coef`` (n, d+1) maps a
    label set to its OLS student's coefficients.
    """

    X: jnp.ndarray
    X_test: jnp.ndarray
    y_train: jnp.ndarray
    y_test: jnp.ndarray
    mu: jnp.ndarray
    mu_test: jnp.ndarray
    factor: linear.GramFactor
    to_coef: jnp.ndarray  # (n, d+1): label set -> its OLS student's coefficients
    var_y: float = dataclasses.field(metadata={"static": True})


def linear_task(dataset: str, *, split_seed: int = 0, drop_b: bool = False) -> LinearTask:
    """Load, split and standardize ``dataset``; fit the OLS teacher. Call under x64."""
    ds = load_dataset(dataset, drop_b=drop_b)
    if ds.task != "regression":
        raise ValueError(f"dataset {dataset!r} is a classification set; this experiment needs regression.")
    sp = split(ds, seed=split_seed)
    X = np.hstack([sp.X_train, np.ones((sp.X_train.shape[0], 1))])
    X_test = np.hstack([sp.X_test, np.ones((sp.X_test.shape[0], 1))])
    linear.check_design(X, "the training design")
    mu, mu_test, factor, to_coef = _ols_teacher(jnp.asarray(X), jnp.asarray(X_test), jnp.asarray(sp.y_train))
    return LinearTask(jnp.asarray(X), jnp.asarray(X_test), jnp.asarray(sp.y_train), jnp.asarray(sp.y_test),
                      mu, mu_test, factor, to_coef, float(np.var(sp.y_train)))


@jax.jit
def _ols_teacher(X, X_test, y):
    """The OLS teacher on a validated design, in one program: its outputs on X and X_test, the
    Gram factor and the label-to-coefficient map."""
    factor = linear.gram_factor(X)
    theta = linear.solve(factor, X, y)
    return X @ theta, X_test @ theta, factor, linear.coefficient_map(factor, X)


def guard_memory(cfg: RegressionConfig, n: int, m: int, d: int) -> None:
    """Refuse, before anything is allocated, a number of students the machine cannot hold
    (``ValueError``: the estimate, the memory available and the flag to change)."""
    per_student, per_chunk = cfg.floats_per_student(n, m, d)
    itemsize = 8 if cfg.model == "linear" else 4
    N = cfg.num_students
    if cfg.chunk is not None:
        chunk = min(cfg.chunk, N)
    else:
        chunk = N if cfg.model == "linear" else mlp.auto_chunk(N, sum(cfg.hidden))
    need = itemsize * (N * per_student + chunk * per_chunk)
    available = memory.available_bytes()
    fit = int(max(memory.FRACTION * available / itemsize - chunk * per_chunk, 0) / per_student)
    name = cfg.__module__.rsplit(".", 1)[-1].replace("_", "-")
    memory.check_fits(need, f"{name} ({cfg.model}) with {N:,} students on {n:,} rows",
                      f"lower --students (about {fit:,} fit){', or --chunk' if per_chunk else ''}",
                      available=available)


def config_linear_task(cfg: RegressionConfig) -> LinearTask:
    """:func:`linear_task` of the config's dataset and split, then :func:`guard_memory` on its
    shape (a request too big is refused before any student exists). Call under x64."""
    task = linear_task(cfg.dataset, split_seed=cfg.split_seed, drop_b=cfg.drop_b)
    guard_memory(cfg, task.X.shape[0], task.X_test.shape[0], task.X.shape[1])
    return task


@dataclasses.dataclass(frozen=True)
class MLPTask:
    """A regression split with a trained MLP teacher (float32).

    ``mu`` (n,) and ``mu_test`` (m,) are the teacher's outputs; ``train`` is the students'
    :class:`jaxkd.students.mlp.TrainConfig`.
    """

    X: jnp.ndarray
    X_test: jnp.ndarray
    y_train: jnp.ndarray
    y_test: jnp.ndarray
    mu: jnp.ndarray
    mu_test: jnp.ndarray
    var_y: float
    train: mlp.TrainConfig  # the students' optimisation settings


def mlp_task(cfg: RegressionConfig) -> MLPTask:
    """Split the config's dataset and train the MLP teacher on the true labels, from the
    ``teacher_init`` stream: the students' architecture, or ``cfg.teacher_hidden`` where a
    config has one (the study's bootstrap teacher is wider than its students), initialised
    as ``cfg.init`` says, trained ``cfg.epochs``; the students' settings train
    ``cfg.students_epochs``."""
    sp = split(load_dataset(cfg.dataset, drop_b=cfg.drop_b), seed=cfg.split_seed)
    guard_memory(cfg, *sp.X_train.shape[:1], sp.X_test.shape[0], sp.X_train.shape[1])
    train = mlp.TrainConfig(widths=(sp.X_train.shape[1], *cfg.hidden, 1),
                            learning_rate=cfg.learning_rate, epochs=cfg.students_epochs)
    hidden_t = getattr(cfg, "teacher_hidden", None) or cfg.hidden
    teacher_train = dataclasses.replace(train, widths=(sp.X_train.shape[1], *hidden_t, 1), epochs=cfg.epochs)
    X, X_test = jnp.asarray(sp.X_train, jnp.float32), jnp.asarray(sp.X_test, jnp.float32)
    teacher = mlp.init_ensemble(teacher_train.widths, rng.stream(cfg.seed, "teacher_init")[None], cfg.init)
    teacher = mlp.train_ensemble(teacher_train, teacher, X, sp.y_train)
    mu = mlp.predict(teacher_train.widths, teacher, X)[0, :, 0]
    mu_test = mlp.predict(teacher_train.widths, teacher, X_test)[0, :, 0]
    return MLPTask(X, X_test, jnp.asarray(sp.y_train, jnp.float32), jnp.asarray(sp.y_test, jnp.float32),
                   mu, mu_test, float(np.var(sp.y_train)), train)


def train_and_measure(task: MLPTask, init, Y, *, train=None, chunk=None,
                      **kwargs) -> tuple[uncertainty.EnsembleMetrics, dict]:
    """Train MLP students from ``init`` on targets ``Y`` and measure them on the test set
    (:func:`jaxkd.uncertainty.ensemble_metrics`); ``kwargs`` go to
    :func:`jaxkd.students.mlp.train_recorded`. Returns the metrics and the students' fit
    (:func:`fit_of`: held-out loss their test MSE against the truth)."""
    train = task.train if train is None else train
    params, losses = mlp.train_recorded(train, init, task.X, Y, chunk=chunk, **kwargs)
    preds = mlp.predict(train.widths, params, task.X_test)[..., 0]
    return uncertainty.ensemble_metrics(preds, task.mu_test, task.y_test), fit_of(losses, train, preds, task.y_test)


def fit_of(epoch_losses, train: mlp.TrainConfig, preds, y_test, n: int | None = None) -> dict:
    """One ensemble's fit, as results.json holds it
    (:meth:`jaxkd.experiments.fit.FitSummary.recorded` ``.to_json()``): ``epoch_losses`` (N, E)
    from :func:`jaxkd.students.mlp.train_recorded`, the held-out loss each student's test MSE
    against the truth (``preds`` (N, m) against ``y_test`` (m,)); ``n`` training rows, needed
    with minibatches (the steps per epoch)."""
    per_epoch = 1 if n is None else ensemble.Schedule(train.epochs, train.batch_size).steps_per_epoch(n)
    return fit.FitSummary.recorded(epoch_losses, train.epochs, held_out=np.asarray(uncertainty.mse(preds, y_test)),
                                   steps_per_epoch=per_epoch).to_json()
