"""Linear students: N ordinary-least-squares fits as one factorization and one batched solve.

All N students share the design ``X``; they differ only in their labels. ``G = X^T X`` is
factored once (Cholesky) and the N right-hand sides ``X^T y_s`` are solved together, so 1,000
students cost about as much as one (docs/theorems.md: ``theta_hat = G^{-1} X^T ybar``).

Bootstrap students each see a different design; they are vmapped per-student solves of the
(pseudo-)inverse Gram matrix, which handles resamples whose design lost rank: from the rows
each student drew (:func:`fit_resampled`) or from how often it drew each row
(:func:`fit_weighted`, whose cost does not grow with the number of draws).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxkd import _validation as v
from jaxkd import sharding


class GramFactor(NamedTuple):
    """Cholesky factor of ``G = X^T X``.

    chol: lower-triangular L with ``L L^T = G``, shape (d, d).
    """

    chol: jax.Array


def add_intercept(X: ArrayLike) -> jax.Array:
    """Append a column of ones: (n, d) -> (n, d + 1)."""
    X = jnp.asarray(X)
    return jnp.concatenate([X, jnp.ones((X.shape[0], 1), X.dtype)], axis=1)


@jax.jit
def gram_factor(X: ArrayLike) -> GramFactor:
    """Factor ``G = X^T X`` once. X: (n, d)."""
    X = jnp.asarray(X)
    return GramFactor(jnp.linalg.cholesky(X.T @ X))


def _gram_solve(factor: GramFactor, rhs: jax.Array) -> jax.Array:
    """Solve ``G z = rhs`` for rhs of shape (d, r)."""
    tri = jax.scipy.linalg.solve_triangular
    return tri(factor.chol.T, tri(factor.chol, rhs, lower=True), lower=False)


@jax.jit
def solve(factor: GramFactor, X: ArrayLike, Y: ArrayLike) -> jax.Array:
    """OLS coefficients for every label set: ``theta_s = G^{-1} X^T y_s`` (core: jit-safe, no
    validation; :func:`fit` is the validated entry point, and :func:`gram_factor` of a
    rank-deficient X gives NaN, which :func:`check_design` reports in words).

    Args:
      factor: :func:`gram_factor` of X.
      X: design, (n, d).
      Y: label sets, (..., n) (leading axes are students, noise levels, ...).

    Returns:
      Coefficients, (..., d).
    """
    X, Y = jnp.asarray(X), jnp.asarray(Y)
    lead = Y.shape[:-1]
    rhs = X.T @ Y.reshape(-1, Y.shape[-1]).T  # (d, r)
    return _gram_solve(factor, rhs).T.reshape(*lead, X.shape[1])


@jax.jit
def coefficient_map(factor: GramFactor, X: ArrayLike) -> jax.Array:
    """The linear map from a label set to its OLS coefficients, ``C = X G^{-1}`` (n, d) (core:
    jit-safe, no validation). N students' coefficients are ``Y @ C`` (N, d) and their test
    predictions ``(Y @ C) @ X_test.T``: two plain matrix products, about (n + m) / d times fewer
    FLOPs than one product with the (m, n) label-to-prediction map when d is small."""
    X = jnp.asarray(X)
    return _gram_solve(factor, X.T).T


def predict(theta: ArrayLike, X: ArrayLike) -> jax.Array:
    """Predictions ``X theta_s`` for every student: theta (..., d), X (m, d) -> (..., m)."""
    return jnp.einsum("...d,md->...m", jnp.asarray(theta), jnp.asarray(X))


def check_design(X: ArrayLike, name: str = "X") -> np.ndarray:
    """Validate a design matrix: finite, 2-D, full column rank (else ``ValueError``)."""
    X = v.as_float_array(name, X, ndim=2)
    n, d = X.shape
    if n < d:
        raise ValueError(f"{name} has {n} rows and {d} columns; OLS needs at least as many rows.")
    rank = np.linalg.matrix_rank(X)
    if rank < d:
        raise ValueError(
            f"{name} has rank {rank} < {d} columns; drop collinear or constant features."
        )
    return X


def fit(X: ArrayLike, Y: ArrayLike) -> jax.Array:
    """Fit OLS students to every label set in ``Y`` (validated entry point).

    Args:
      X: design, (n, d), full column rank.
      Y: label sets, (n,) or (N, n) or any (..., n).

    Returns:
      Coefficients, (..., d).
    """
    X = check_design(X)
    Y = v.as_float_array("labels Y", Y)
    if Y.shape[-1] != X.shape[0]:
        raise ValueError(
            f"labels Y have {Y.shape[-1]} entries on their last axis but X has {X.shape[0]} rows."
        )
    X = jnp.asarray(X, dtype=Y.dtype)
    return solve(gram_factor(X), X, jnp.asarray(Y))


def hat_diagonal(X: ArrayLike) -> jax.Array:
    """Leverages ``h_i = x_i^T G^{-1} x_i``, (n,): ``Var(x_i^T theta_hat) = sigma^2 h_i`` (2.2)."""
    X = jnp.asarray(X)
    Z = _gram_solve(gram_factor(X), X.T)  # (d, n)
    return jnp.sum(X.T * Z, axis=0)


@jax.jit
def _bootstrap_fit(X, y, idx):
    def one(rows):  # one student: rows (b,)
        Xb, yb = X[rows], y[rows]
        return jnp.linalg.pinv(Xb.T @ Xb, hermitian=True) @ (Xb.T @ yb)

    return jax.vmap(one)(idx)


def fit_resampled(X: ArrayLike, y: ArrayLike, idx: ArrayLike, *, chunk: int | None = None) -> jax.Array:
    """OLS on each student's resampled rows (minimum-norm where a resample loses rank).

    Args:
      X: design, (n, d).
      y: labels shared by all students (teacher outputs or ground truth), (n,).
      idx: rows drawn by each student, (N, b), from :func:`jaxkd.bootstrap.resample_indices`.
      chunk: fit this many students at a time (bounds memory; see :mod:`jaxkd.sharding`).

    Returns:
      Coefficients, (N, d).
    """
    X = v.as_float_array("X", X, ndim=2)
    y = v.as_float_array("labels y", y, ndim=1)
    v.check_same_rows("X", X, "y", y)
    idx = np.asarray(idx)
    if idx.ndim != 2 or idx.dtype.kind not in "iu" or idx.min() < 0 or idx.max() >= X.shape[0]:
        raise ValueError(f"idx must be integer rows in [0, {X.shape[0]}) of shape (N, b).")
    return sharding.map_students(_fit_students, jnp.asarray(idx), jnp.asarray(X), jnp.asarray(y, X.dtype),
                                 in_axes=(0, None, None), block=chunk)


def _fit_students(idx, X, y):
    return _bootstrap_fit(X, y, idx)


@jax.jit
def _weighted_fit(W, X, y):
    def one(w):  # one student: w (n,)
        Xw = X * w[:, None]
        return jnp.linalg.pinv(Xw.T @ X, hermitian=True) @ (Xw.T @ y)

    return jax.vmap(one)(W)


def fit_weighted(X: ArrayLike, y: ArrayLike, weights: ArrayLike, *, chunk: int | None = None) -> jax.Array:
    """Weighted least squares for each student, ``theta_s = (X^T W_s X)^+ X^T W_s y`` (minimum
    norm where a student's weighted design loses rank). With bootstrap counts as weights
    (:func:`jaxkd.bootstrap.resample_counts`) it is the student fitted on the resampled rows:
    :func:`fit_resampled` to rounding, at a cost that does not grow with the number of draws.

    Args:
      X: design, (n, d).
      y: labels shared by all students, (n,).
      weights: non-negative weights per student, (N, n).
      chunk: fit this many students at a time (bounds memory; see :mod:`jaxkd.sharding`).

    Returns:
      Coefficients, (N, d).
    """
    X = v.as_float_array("X", X, ndim=2)
    y = v.as_float_array("labels y", y, ndim=1)
    v.check_same_rows("X", X, "y", y)
    W = v.as_float_array("weights", weights, ndim=2)
    if W.shape[1] != X.shape[0] or (W < 0).any():
        raise ValueError(f"weights must be non-negative, one per row of X: shape (N, {X.shape[0]}); got {W.shape}.")
    return sharding.map_students(_weighted_fit, jnp.asarray(W, X.dtype), jnp.asarray(X), jnp.asarray(y, X.dtype),
                                 in_axes=(0, None, None), block=chunk)


@jax.jit
def resample_rank(X: ArrayLike, idx: ArrayLike) -> jax.Array:
    """Column rank of each student's resampled design, (N,)."""
    X = jnp.asarray(X)
    return jax.vmap(lambda rows: jnp.linalg.matrix_rank(X[rows]))(jnp.asarray(idx))


def cross_fit(X: ArrayLike, Y: ArrayLike, fold_ids: ArrayLike, num_folds: int):
    """Cross-fitted OLS predictions: row i is predicted by a fit that never saw row i
    (validated entry point; :func:`cross_fit_core` is the jit-safe core).

    A first-stage student for honest variance weighting
    (:func:`jaxkd.targets.honest_variance_weighted`). All folds are solved at once (vmapped
    over folds, batched over label sets).

    Args:
      X: design, (n, d).
      Y: label sets, (..., n).
      fold_ids: fold of every row in ``[0, num_folds)``, (n,) (e.g. from sklearn's KFold).
      num_folds: number of folds F (static).

    Returns:
      ``(pred, leverage)``: predictions (..., n), and ``l_i = x_i^T G_{-f(i)}^{-1} x_i`` (n,),
      so that ``Var(pred_i) = s^2 l_i`` when the labels have i.i.d. noise of variance ``s^2``.
    """
    X = v.as_float_array("X", X, ndim=2)
    Y = v.as_float_array("label sets Y", Y)
    if Y.ndim < 1 or Y.shape[-1] != X.shape[0]:
        raise ValueError(f"label sets Y must end in the {X.shape[0]} rows of X; got shape {Y.shape}.")
    num_folds = v.check_int("number of folds", num_folds, minimum=2)
    fold_ids = np.asarray(fold_ids)
    if (fold_ids.shape != (X.shape[0],) or fold_ids.dtype.kind not in "iu" or fold_ids.min() < 0
            or fold_ids.max() >= num_folds):
        raise ValueError(f"fold_ids must be {X.shape[0]} integers in [0, {num_folds}).")
    for f in range(num_folds):
        check_design(X[fold_ids != f], f"the design without fold {f}")
    return cross_fit_core(jnp.asarray(X), jnp.asarray(Y, X.dtype), jnp.asarray(fold_ids), num_folds)


@functools.partial(jax.jit, static_argnums=3)
def cross_fit_core(X: jax.Array, Y: jax.Array, fold_ids: jax.Array, num_folds: int):
    """Core of :func:`cross_fit` (no validation; jit-safe): same arguments and returns."""
    lead = Y.shape[:-1]
    Yf = Y.reshape(-1, Y.shape[-1])  # (r, n)

    def one_fold(f):
        keep = (fold_ids != f).astype(X.dtype)  # (n,)
        Xk = X * keep[:, None]
        factor = GramFactor(jnp.linalg.cholesky(Xk.T @ X))
        theta = _gram_solve(factor, Xk.T @ Yf.T)  # (d, r)
        lev = jnp.sum(X.T * _gram_solve(factor, X.T), axis=0)  # (n,)
        return (X @ theta).T, lev  # (r, n), (n,)

    preds, levs = jax.vmap(one_fold)(jnp.arange(num_folds, dtype=fold_ids.dtype))  # (F, r, n), (F, n)
    rows = jnp.arange(X.shape[0], dtype=fold_ids.dtype)
    pred = preds[fold_ids, :, rows].T  # (r, n)
    lev = levs[fold_ids, rows]
    return pred.reshape(*lead, X.shape[0]), lev
