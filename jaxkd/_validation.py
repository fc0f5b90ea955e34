"""Input validation at the public boundary.

Public functions come in two kinds, and each docstring says which it is:

* **entry points** take user data (CLI, configs, ``teachers.sample_responses``, ``linear.fit``,
  ``linear.fit_resampled``, ``linear.cross_fit``, ``mlp.train_ensemble``, ``ensemble.init`` /
  ``train`` / ``fit`` / ``predict``, ``llm.distill.*``, ``llm.checkpoint.load``, ...): they check their
  inputs here once and raise ``ValueError`` with one sentence saying what is wrong and how to
  fix it;
* **cores** are pure array functions meant to be called inside ``jax.jit`` / ``jax.vmap``
  (``targets.*``, ``uncertainty.*``, ``linear.solve``, ``linear.predict``,
  ``linear.cross_fit_core``, ``teachers.gaussian_responses``, ``teachers.batched_responses``,
  ``llm.objective.*``, ``llm.sampling.sequence_logprob_core``, ``ensemble.run_block``,
  ``ensemble.epoch_batches``, ``mlp.train_one``, ``mlp.train_block_fused``):
  they cannot inspect concrete values, so they do not validate and assume clean arrays of the
  shapes their docstrings give.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def as_float_array(name: str, value, *, ndim: int | Sequence[int] | None = None) -> np.ndarray:
    """Return ``value`` as a finite floating numpy array, or raise ``ValueError``.

    Args:
      name: how the argument is called in the message.
      value: array-like.
      ndim: required number of dimensions (an int or a collection of allowed ints).
    """
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{name} must be a numeric array ({exc}).") from None
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be a numeric array, got dtype {arr.dtype}.")
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            want = " or ".join(str(a) for a in allowed)
            raise ValueError(f"{name} must have {want} dimensions, got shape {arr.shape}.")
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}).")
    bad = ~np.isfinite(arr)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{name} contains {int(bad.sum())} NaN or infinite value(s), the first at index "
            f"{where}; clean or impute them before distilling."
        )
    return arr


def check_same_rows(name_a: str, a: np.ndarray, name_b: str, b: np.ndarray) -> None:
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"{name_a} has {a.shape[0]} rows but {name_b} has {b.shape[0]}; they must match."
        )


def check_int(name: str, value, *, minimum: int = 1) -> int:
    """Return ``value`` as an int >= ``minimum`` or raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}.")
    return int(value)


def check_nonnegative(name: str, value) -> float:
    """Return ``value`` as a finite float >= 0 or raise ``ValueError``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}.") from None
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}.")
    if v < 0:
        raise ValueError(f"{name} must be non-negative, got {v}.")
    return v


def check_positive(name: str, value) -> float:
    v = check_nonnegative(name, value)
    if v == 0:
        raise ValueError(f"{name} must be positive, got 0.")
    return v


def check_grid(name: str, values, check) -> tuple:
    """Validate a non-empty grid of values with ``check(name, value)``; return a tuple."""
    values = tuple(values)
    if not values:
        raise ValueError(f"{name} must hold at least one value.")
    return tuple(check(f"each value of {name}", v) for v in values)


def check_choice(name: str, value: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of: {', '.join(choices)}.")
    return value
