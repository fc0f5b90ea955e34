"""The regression task the tabular experiments share: its config fields, the split with its
OLS or MLP teacher, and the memory guard.

:class:`RegressionConfig` holds the fields every regression experiment has (model, dataset,
students, seeds, the MLP's widths, epochs, learning rate and initialisation); an experiment's
``Config`` subclasses it and adds its grid. :func:`linear_task` and :func:`mlp_task` load,
split and standardize the dataset and fit the teacher; :func:`guard_memory` refuses a number
of students the machine cannot hold before anything is allocated.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from jaxkd import _validation as v
from jaxkd import memory, rng, uncertainty
from jaxkd.config import NO_FLAG, Presets, option
from jaxkd.data import DATASETS, check_available, load_dataset, split
from jaxkd.students import linear, mlp


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


def validate_common(cfg, task: str = "regression") -> None:
    """Checks shared by the experiment configs (students, seeds, dataset and its task)."""
    v.check_int("number of students", cfg.num_students, minimum=2)
    v.check_int("seed", cfg.seed, minimum=0)
    v.check_int("split seed", cfg.split_seed, minimum=0)
    check_available(cfg.dataset)
    spec = DATASETS.get(cfg.dataset)
    if spec is not None and spec.task != task:
        raise ValueError(f"dataset {cfg.dataset!r} is a {spec.task} set; this experiment needs {task}.")


def guard_memory(cfg: "RegressionConfig", n: int, m: int, d: int) -> None:
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


def mlp_task(cfg: "RegressionConfig") -> MLPTask:
    """Split the config's dataset and train the MLP teacher on the true labels, from the
    ``teacher_init`` stream: the students' architecture, or ``cfg.teacher_hidden`` where a
    config has one (the study's bootstrap teacher is wider than its students), initialised
    as ``cfg.init`` says."""
    sp = split(load_dataset(cfg.dataset, drop_b=cfg.drop_b), seed=cfg.split_seed)
    guard_memory(cfg, *sp.X_train.shape[:1], sp.X_test.shape[0], sp.X_train.shape[1])
    train = mlp.TrainConfig(widths=(sp.X_train.shape[1], *cfg.hidden, 1),
                            learning_rate=cfg.learning_rate, epochs=cfg.epochs)
    hidden_t = getattr(cfg, "teacher_hidden", None) or cfg.hidden
    teacher_train = dataclasses.replace(train, widths=(sp.X_train.shape[1], *hidden_t, 1))
    X, X_test = jnp.asarray(sp.X_train, jnp.float32), jnp.asarray(sp.X_test, jnp.float32)
    teacher = mlp.init_ensemble(teacher_train.widths, rng.stream(cfg.seed, "teacher_init")[None], cfg.init)
    teacher = mlp.train_ensemble(teacher_train, teacher, X, sp.y_train)
    mu = mlp.predict(teacher_train.widths, teacher, X)[0, :, 0]
    mu_test = mlp.predict(teacher_train.widths, teacher, X_test)[0, :, 0]
    return MLPTask(X, X_test, jnp.asarray(sp.y_train, jnp.float32), jnp.asarray(sp.y_test, jnp.float32),
                   mu, mu_test, float(np.var(sp.y_train)), train)


def train_and_measure(task: MLPTask, init, Y, *, train=None, chunk=None, **kwargs) -> dict:
    """Train MLP students from ``init`` on targets ``Y`` and measure them on the test set
    (:func:`jaxkd.uncertainty.ensemble_metrics`); ``kwargs`` go to
    :func:`jaxkd.students.mlp.train_ensemble`."""
    train = task.train if train is None else train
    params = mlp.train_ensemble(train, init, task.X, Y, chunk=chunk, **kwargs)
    preds = mlp.predict(train.widths, params, task.X_test)[..., 0]
    return uncertainty.ensemble_metrics(preds, task.mu_test, task.y_test)


@dataclasses.dataclass(frozen=True)
class RegressionConfig(Presets):
    """Fields every regression experiment shares; subclasses add their grids.

    ``hidden``, ``epochs``, ``learning_rate`` and ``init`` apply to MLP students (and their
    teacher) only (the study's teacher-noise protocol: 13 -> 16 -> 1 ReLU, Adam lr 0.01, 200
    full-batch epochs, PyTorch's default initialisation). ``chunk`` is the number of students
    computed at a time on each device (:mod:`jaxkd.sharding`); results are identical for any
    device count at the same chunk.
    """

    MODELS: ClassVar[tuple[str, ...]] = ("linear",)

    preset: str = option("quick", "preset these values came from", flag=NO_FLAG)
    model: str = option("linear", "student (and teacher) model class")
    dataset: str = option("boston", "dataset name (see `jaxkd datasets`) or a regression .csv (target = last column)")
    num_students: int = option(200, "number of students N", flag="--students")
    seed: int = option(0, "root seed: every source of randomness is a named stream under it")
    split_seed: int = option(0, "seed of the 80/20 train/test split")
    drop_b: bool = option(False, "drop Boston's feature B (see jaxkd/data/BOSTON.md)")
    hidden: tuple[int, ...] = option((16,), "MLP hidden layer widths")
    epochs: int = option(200, "MLP training epochs (full batch unless the experiment sets a batch size)")
    learning_rate: float = option(0.01, "MLP Adam learning rate")
    init: str = option("torch", "MLP initialisation: torch (uniform ±1/sqrt(fan_in) weights and biases, "
                       "PyTorch's default, which the study's scripts use) or he (Kaiming-normal weights, zero biases)")
    chunk: int | None = option(None, "students computed at a time on each device (bounds memory; results are "
                               "identical across --devices at the same --chunk)")

    def floats_per_student(self, n: int, m: int, d: int) -> tuple[float, float]:
        """Memory model for :func:`guard_memory`: (numbers held for every student, numbers in
        one chunk's working set per student) for n training rows, m test rows, d features.
        Linear students hold their responses and targets (float64); MLP students their
        targets, weights, parameters with Adam state, and one chunk's activations (float32)."""
        if self.model == "linear":
            return self.responses_per_input() * n + 6 * n + 4 * m, 0.0
        widths = (d, *self.hidden, 1)
        params = sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))
        # Targets and weights: host array, device copy, padded copy for the chunks.
        return 6 * n + 6 * params + 2 * m, 8 * n * sum(self.hidden)

    def responses_per_input(self) -> int:
        """Teacher responses each linear student draws per input (k)."""
        return 1

    def __post_init__(self):
        name = self.__module__.rsplit(".", 1)[-1].replace("_", "-")
        v.check_choice(f"model for {name}", self.model, self.MODELS)
        validate_common(self)
        hidden = tuple(self.hidden)
        for w in hidden:
            v.check_int("each hidden width", w)
        object.__setattr__(self, "hidden", hidden)
        v.check_int("epochs", self.epochs)
        v.check_positive("learning rate", self.learning_rate)
        v.check_choice("initialisation", self.init, mlp.INITS)
        if self.chunk is not None:
            v.check_int("chunk", self.chunk)
