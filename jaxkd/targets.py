"""Distillation targets built from a teacher's k responses per input.

Pure functions of arrays; the response axis is ``-2`` (shape ``(..., k, n)``), so they apply
unchanged to one student's responses ``(k, n)`` or to a student batch ``(N, k, n)``.

* ``single``: standard distillation, one response per input (k = 1).
* ``average``: the sample mean of k responses (docs/theorems.md 7.1; UMVUE under Gaussian noise, 7.2).
* ``inverse_variance_weights`` / ``combine`` / ``combined_variance``: the optimal convex
  combination of two independent unbiased estimates (docs/theorems.md 7.3, 7.4).
* ``study_variance_weighted``: the study's published experiment: the averaged responses,
  weighted by the inverse of their per-input sample variance, combined with the *clean*
  teacher mean weighted by the inverse of the true noise variance (both unavailable in
  practice).
* ``leverage_oracle_weighted``: jaxkd's earlier oracle variant (true ``sigma^2/k`` for the
  average, the clean mean at a single-response student's leverage variance); kept, labelled,
  as a bound.
* ``honest_variance_weighted``: the same combination using only what a practitioner has: a
  student estimate independent of the responses it is combined with (e.g. a cross-fitted
  first-stage student, :func:`jaxkd.students.linear.cross_fit`), with both variances
  estimated from data.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike


def single(responses: ArrayLike) -> jax.Array:
    """Standard distillation target: the first response. (..., k, n) -> (..., n)."""
    return jnp.asarray(responses)[..., 0, :]


def average(responses: ArrayLike) -> jax.Array:
    """Averaged target ``ybar_i = (1/k) sum_j y_ij`` (docs/theorems.md 7.1). (..., k, n) -> (..., n)."""
    return jnp.mean(jnp.asarray(responses), axis=-2)


def median(responses: ArrayLike) -> jax.Array:
    """Sample median of the k responses, an unbiased but less efficient estimator (7.2)."""
    return jnp.median(jnp.asarray(responses), axis=-2)


def trimmed_mean(responses: ArrayLike, proportion: float = 0.2) -> jax.Array:
    """Mean after cutting ``floor(proportion * k)`` responses from each end (7.2 comparison)."""
    responses = jnp.sort(jnp.asarray(responses), axis=-2)
    k = responses.shape[-2]
    cut = int(proportion * k)
    return jnp.mean(responses[..., cut : k - cut, :], axis=-2)


def midrange(responses: ArrayLike) -> jax.Array:
    """(min + max) / 2 of the k responses (7.2 comparison)."""
    responses = jnp.asarray(responses)
    return 0.5 * (jnp.min(responses, axis=-2) + jnp.max(responses, axis=-2))


def inverse_variance_weights(var_teacher: ArrayLike, var_student: ArrayLike):
    """Weights minimising ``Var(a_T y_T + a_S y_S)`` subject to ``a_T + a_S = 1`` (docs/theorems.md 7.3).

    ``a_T = s_S / (s_T + s_S)`` and ``a_S = s_T / (s_T + s_S)``. Broadcasts elementwise.

    Args:
      var_teacher: variance of the teacher estimate ``s_T >= 0``.
      var_student: variance of the student estimate ``s_S >= 0``; ``s_T + s_S > 0``.

    Returns:
      ``(a_T, a_S)``, each with the broadcast shape of the inputs.
    """
    var_teacher, var_student = jnp.broadcast_arrays(var_teacher, var_student)
    total = var_teacher + var_student
    return var_student / total, var_teacher / total


def combine(y_teacher, var_teacher, y_student, var_student) -> jax.Array:
    """Inverse-variance combination ``z = a_T y_T + a_S y_S`` (docs/theorems.md 7.3)."""
    y_teacher, var_teacher, y_student, var_student = jnp.broadcast_arrays(
        y_teacher, var_teacher, y_student, var_student)
    a_t, a_s = inverse_variance_weights(var_teacher, var_student)
    return a_t * y_teacher + a_s * y_student


def combined_variance(var_teacher: ArrayLike, var_student: ArrayLike) -> jax.Array:
    """Variance of :func:`combine`: ``s_T s_S / (s_T + s_S)`` (docs/theorems.md 7.4)."""
    var_teacher, var_student = jnp.broadcast_arrays(var_teacher, var_student)
    return var_teacher * var_student / (var_teacher + var_student)


def pooled_response_variance(responses: ArrayLike) -> jax.Array:
    """Estimate ``sigma^2`` from k >= 2 responses per input: the pooled unbiased within-input
    sample variance. (..., k, n) -> (...).
    """
    return jnp.mean(jnp.var(jnp.asarray(responses), axis=-2, ddof=1), axis=-1)


def study_variance_weighted(responses: ArrayLike, sigma2: ArrayLike, teacher_mean: ArrayLike) -> jax.Array:
    """The study's variance-weighting target (Section 7.2 of the study, its published scripts).

    Per training input i: the teacher estimate is the average ``ybar_i`` of its k responses,
    weighted by ``w_T = 1 / s_i^2`` with ``s_i^2`` the sample variance of those k responses
    (ddof 0, not divided by k); the student estimate is the clean teacher mean ``mu_i``,
    weighted by ``w_S = 1 / sigma^2`` (the true teacher noise). Target
    ``a_T ybar_i + a_S mu_i`` with inverse-variance weights (7.3). At k = 1, ``s_i^2 = 0``: the
    weight on ``ybar`` is 1 and the target equals averaging.

    Args:
      responses: k teacher responses per input, (..., k, n).
      sigma2: the teacher's noise variance, > 0, scalar.
      teacher_mean: the clean teacher mean ``mu``, (n,).

    Returns:
      Targets, (..., n).
    """
    responses = jnp.asarray(responses)
    return combine(average(responses), jnp.var(responses, axis=-2), teacher_mean, sigma2)


def leverage_oracle_weighted(
    ybar: ArrayLike, var_ybar: ArrayLike, teacher_mean: ArrayLike, student_var: ArrayLike
) -> jax.Array:
    """jaxkd's oracle variant of variance weighting (not the study's: see
    :func:`study_variance_weighted`).

    ``z_i = combine(ybar_i, sigma^2 / k, mu_i, s_S,i)``: the averaged responses with their true
    variance ``sigma^2 / k``, combined with the clean teacher mean as if it were a student
    estimate of variance ``s_S,i`` (the experiments pass a single-response OLS student's
    ``sigma^2 h_i``, h_i its leverage). It needs ``mu`` and ``sigma^2``, which a practitioner
    does not have, and since leverages are small it puts most weight on the clean mean (about
    0.97 at k = 1 on Boston): a lower bound on what weighting could reach, not a method.

    Args:
      ybar: averaged responses, (..., n).
      var_ybar: their true variance ``sigma^2 / k``, scalar.
      teacher_mean: clean teacher mean ``mu``, shape (n,).
      student_var: variance attributed to the clean mean, shape (n,) or scalar.

    Returns:
      Targets, shape (..., n).
    """
    return combine(ybar, var_ybar, teacher_mean, student_var)


def crossfit_residual_variance(ybar: ArrayLike, student_mean: ArrayLike,
                               student_leverage: ArrayLike) -> jax.Array:
    """Estimate ``Var(ybar_i)`` from cross-fit residuals when k = 1 gives no replicates:
    ``mean_i((ybar_i - s_i)^2 / (1 + l_i))``, unbiased when the teacher lies in the student
    class. (..., n) -> (...).
    """
    ybar = jnp.asarray(ybar)
    lev = jnp.broadcast_to(student_leverage, ybar.shape)
    return jnp.mean((ybar - jnp.broadcast_to(student_mean, ybar.shape)) ** 2 / (1.0 + lev), axis=-1)


def crossfit_error_variance(ybar: ArrayLike, var_ybar: ArrayLike, student_mean: ArrayLike,
                            floor: ArrayLike) -> jax.Array:
    """Estimate the error variance of a first-stage student that may be biased.

    ``E[(ybar_i - s_i)^2] = Var(ybar_i) + Var(s_i) + bias_i^2`` for independent (cross-fitted)
    ``s``, so ``mean_i (ybar_i - s_i)^2 - v`` estimates the student's mean squared error for
    ``mu`` (variance plus squared bias), pooled over inputs. Clipped below at ``floor``.
    Shapes: ybar, student_mean (..., n); var_ybar (...); returns (...).
    """
    ybar = jnp.asarray(ybar)
    resid = jnp.mean((ybar - jnp.broadcast_to(student_mean, ybar.shape)) ** 2, axis=-1)
    return jnp.maximum(resid - jnp.asarray(var_ybar), floor)


def honest_variance_weighted(
    ybar: ArrayLike, var_ybar: ArrayLike, student_mean: ArrayLike, student_leverage: ArrayLike
) -> jax.Array:
    """Variance weighting from data alone (docs/theorems.md 7.3 with estimated variances).

    The teacher estimate is ``ybar_i`` with estimated variance ``v`` (one per label set:
    :func:`pooled_response_variance` / k for k >= 2, :func:`crossfit_residual_variance` for
    k = 1). The student estimate ``s_i`` must not use input i's responses (cross-fitting); for
    a linear first-stage student its variance is ``v * l_i`` with
    ``l_i = x_i^T G_{-f(i)}^{-1} x_i`` (:func:`jaxkd.students.linear.cross_fit`).

    Args:
      ybar: averaged responses, (..., n).
      var_ybar: estimated variance of ``ybar_i``, (...) (one per label set).
      student_mean: cross-fitted student predictions on the training inputs, (..., n).
      student_leverage: ``l_i``, shape (n,).

    Returns:
      Targets, shape (..., n).
    """
    ybar = jnp.asarray(ybar)
    lev = jnp.broadcast_to(student_leverage, ybar.shape)
    var = jnp.broadcast_to(jnp.asarray(var_ybar)[..., None], ybar.shape)
    return combine(ybar, var, student_mean, var * lev)
