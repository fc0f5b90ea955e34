"""Shared pieces of the experiments: presets, the resumable sweep loop, the linear task."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterable

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from jaxkd import _validation as v
from jaxkd.data import DATASETS, check_available, load_dataset, split
from jaxkd.runs import RunDir
from jaxkd.students import linear

PRESETS = ("quick", "paper")


def preset_config(cls, preset: str, table: dict[str, dict[str, Any]], **overrides):
    """Build ``cls`` from ``table[preset]`` with ``overrides`` (None values ignored)."""
    v.check_choice("preset", preset, list(table))
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(k for k, val in overrides.items() if val is not None and k not in fields)
    if unknown:
        raise ValueError(f"{cls.__module__.rsplit('.', 1)[-1]} has no option {', '.join(unknown)}.")
    values = {**table[preset], **{k: val for k, val in overrides.items() if val is not None}}
    return cls(preset=preset, **values)


def sweep(
    run_dir: RunDir | None,
    points: Iterable[tuple[str, Any]],
    compute: Callable[[Any], dict],
    *,
    desc: str,
) -> list[dict]:
    """Compute every grid point, reusing points a resumed run already finished.

    Each point's numbers are saved atomically as soon as they exist, so a killed sweep loses
    at most the point in flight. ``compute`` must depend only on the point (its PRNG keys are
    folded from the point's index), which makes resumed results identical to a fresh run.
    """
    points = list(points)
    out = []
    with tqdm(total=len(points), desc=desc, unit="point", disable=None, leave=False) as bar:
        for key, point in points:
            if run_dir is not None and run_dir.has_point(key):
                out.append(run_dir.load_point(key))
            else:
                values = {name: _plain(val) for name, val in compute(point).items()}
                if run_dir is not None:
                    run_dir.save_point(key, values)
                out.append(values)
            bar.update()
    return out


def _plain(value):
    arr = np.asarray(value)
    return arr.item() if arr.ndim == 0 else arr.tolist()


def columns(rows: list[dict]) -> dict[str, list]:
    """List of per-point dicts -> dict of per-key lists (results.json layout)."""
    return {k: [r[k] for r in rows] for k in rows[0]} if rows else {}


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class LinearTask:
    """A regression split prepared for linear distillation (float64).

    X (n, d+1) and X_test (m, d+1) carry an intercept column; the teacher is OLS on the
    training labels, ``mu`` (n,) and ``mu_test`` (m,) are its outputs.
    """

    X: jnp.ndarray
    X_test: jnp.ndarray
    y_train: jnp.ndarray
    y_test: jnp.ndarray
    mu: jnp.ndarray
    mu_test: jnp.ndarray
    factor: linear.GramFactor
    var_y: float = dataclasses.field(metadata={"static": True})


def linear_task(dataset: str, *, split_seed: int = 0, drop_b: bool = False) -> LinearTask:
    """Load, split and standardize ``dataset``; fit the OLS teacher. Call under x64."""
    ds = load_dataset(dataset, drop_b=drop_b)
    if ds.task != "regression":
        raise ValueError(f"dataset {dataset!r} is a classification set; this experiment needs regression.")
    sp = split(ds, seed=split_seed)
    X = linear.add_intercept(jnp.asarray(sp.X_train))
    X_test = linear.add_intercept(jnp.asarray(sp.X_test))
    linear.check_design(X, "the training design")
    theta_t = linear.fit(X, sp.y_train)
    return LinearTask(X, X_test, jnp.asarray(sp.y_train), jnp.asarray(sp.y_test), X @ theta_t,
                      X_test @ theta_t, linear.gram_factor(X), float(np.var(sp.y_train)))


def validate_common(cfg, task: str = "regression") -> None:
    """Checks shared by the experiment configs (students, seeds, dataset and its task)."""
    v.check_int("number of students", cfg.num_students, minimum=2)
    v.check_int("seed", cfg.seed, minimum=0)
    v.check_int("split seed", cfg.split_seed, minimum=0)
    check_available(cfg.dataset)
    spec = DATASETS.get(cfg.dataset)
    if spec is not None and spec.task != task:
        raise ValueError(f"dataset {cfg.dataset!r} is a {spec.task} set; this experiment needs {task}.")


@dataclasses.dataclass(frozen=True)
class MLPTask:
    """A regression split with a trained MLP teacher (float32).

    ``mu`` (n,) and ``mu_test`` (m,) are the teacher's outputs; ``teacher`` its parameters.
    """

    X: jnp.ndarray
    X_test: jnp.ndarray
    y_train: jnp.ndarray
    y_test: jnp.ndarray
    mu: jnp.ndarray
    mu_test: jnp.ndarray
    var_y: float
    train: "object"  # mlp.TrainConfig of the students


def mlp_task(dataset: str, *, hidden: tuple[int, ...], epochs: int, learning_rate: float,
             seed: int, split_seed: int = 0, drop_b: bool = False) -> MLPTask:
    """Split ``dataset`` and train the MLP teacher (same architecture as the students) on the
    true labels, from the ``teacher_init`` stream."""
    from jaxkd import rng
    from jaxkd.students import mlp

    ds = load_dataset(dataset, drop_b=drop_b)
    sp = split(ds, seed=split_seed)
    cfg = mlp.TrainConfig(widths=(sp.X_train.shape[1], *hidden, 1), learning_rate=learning_rate,
                          epochs=epochs)
    X, X_test = jnp.asarray(sp.X_train, jnp.float32), jnp.asarray(sp.X_test, jnp.float32)
    teacher = mlp.init_ensemble(cfg.widths, rng.stream(seed, "teacher_init")[None])
    teacher = mlp.train_ensemble(cfg, teacher, X, sp.y_train)
    mu = mlp.predict(cfg.widths, teacher, X)[0, :, 0]
    mu_test = mlp.predict(cfg.widths, teacher, X_test)[0, :, 0]
    return MLPTask(X, X_test, jnp.asarray(sp.y_train, jnp.float32), jnp.asarray(sp.y_test, jnp.float32),
                   mu, mu_test, float(np.var(sp.y_train)), cfg)


def ensemble_metrics(preds: jnp.ndarray, teacher_test: jnp.ndarray, y_test: jnp.ndarray,
                     prefix: str = "") -> dict:
    """Inter-student variance (with SE) and test MSE against teacher and truth: preds (N, m)."""
    from jaxkd import uncertainty

    q = uncertainty.inter_student_contributions(preds)
    mse_t = uncertainty.mse(preds, teacher_test)
    mse_y = uncertainty.mse(preds, y_test)
    n = preds.shape[0]
    return {f"{prefix}inter_student_variance": jnp.mean(q),
            f"{prefix}inter_student_variance_se": jnp.std(q, ddof=1) / jnp.sqrt(n),
            f"{prefix}mse_teacher": jnp.mean(mse_t), f"{prefix}mse_teacher_std": jnp.std(mse_t, ddof=1),
            f"{prefix}mse_truth": jnp.mean(mse_y), f"{prefix}mse_truth_std": jnp.std(mse_y, ddof=1)}


def validate_mlp(cfg) -> None:
    """Checks of the MLP-only fields shared by the experiment configs."""
    hidden = tuple(cfg.hidden)
    for w in hidden:
        v.check_int("each hidden width", w)
    object.__setattr__(cfg, "hidden", hidden)
    v.check_int("epochs", cfg.epochs)
    v.check_positive("learning rate", cfg.learning_rate)
    if cfg.chunk is not None:
        v.check_int("chunk", cfg.chunk)
