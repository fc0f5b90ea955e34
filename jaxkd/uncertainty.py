"""Uncertainty metrics across and within students.

Predictions carry a leading student axis: ``preds`` has shape (N, m) for N students on m test
inputs. Inter-student variance is the study's main measure (docs/theorems.md, setting):
``V = (1/m) sum_x Var_students(f_s(x))`` with the unbiased sample variance.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike


def per_input_variance(preds: ArrayLike) -> jax.Array:
    """Unbiased variance across students at each input: (N, m) -> (m,)."""
    return jnp.var(jnp.asarray(preds), axis=0, ddof=1)


def inter_student_variance(preds: ArrayLike) -> jax.Array:
    """``V``: mean over inputs of the unbiased across-student variance. (N, m) -> ()."""
    return jnp.mean(per_input_variance(preds))


def inter_student_contributions(preds: ArrayLike) -> jax.Array:
    """Per-student terms ``q_s`` whose mean is ``V``: ``q_s = N/(N-1) mean_x (f_s - fbar)^2``.

    Their spread gives a standard error for ``V`` (``std(q)/sqrt(N)``). (N, m) -> (N,).
    """
    preds = jnp.asarray(preds)
    n = preds.shape[0]
    dev = preds - jnp.mean(preds, axis=0, keepdims=True)
    return jnp.mean(dev**2, axis=1) * (n / (n - 1))


def variance_with_se(x: ArrayLike) -> tuple[jax.Array, jax.Array]:
    """Unbiased sample variance of N draws and its standard error from their sample moments,
    ``sqrt((m4 - (N-3)/(N-1) s^4) / N)`` (no normality assumed). (N,) -> ((), ())."""
    x = jnp.asarray(x)
    n = x.shape[0]
    dev = x - jnp.mean(x)
    s2 = jnp.sum(dev**2) / (n - 1)
    m4 = jnp.mean(dev**4)
    return s2, jnp.sqrt(jnp.maximum(m4 - (n - 3) / (n - 1) * s2**2, 0.0) / n)


def mse(preds: ArrayLike, target: ArrayLike) -> jax.Array:
    """Mean squared error of each student: preds (..., m), target (m,) -> (...)."""
    preds = jnp.asarray(preds)
    return jnp.mean((preds - jnp.broadcast_to(target, preds.shape)) ** 2, axis=-1)


class EnsembleMetrics(NamedTuple):
    """What the tabular experiments measure of one ensemble, each a scalar (``()``; a pytree,
    so it is what a jitted :func:`ensemble_metrics` returns, and :func:`jax.device_get` keeps
    its type). The field names are those of
    :class:`jaxkd.experiments.results.EnsembleResults`, which holds one per grid point."""

    mse_truth_variance: jax.Array         # variance across students of the test MSE vs the truth (X.1)
    mse_truth_variance_se: jax.Array      # its standard error
    inter_student_variance: jax.Array     # V: mean over test inputs of the variance across students (4.1)
    inter_student_variance_se: jax.Array  # its standard error, from the per-student contributions
    mse_teacher: jax.Array                # mean across students of the test MSE against the teacher (4.2)
    mse_teacher_std: jax.Array            # its standard deviation across students
    mse_truth: jax.Array                  # mean across students of the test MSE against the truth (4.3)
    mse_truth_std: jax.Array              # its standard deviation across students


def ensemble_metrics(preds: ArrayLike, teacher_test: ArrayLike, y_test: ArrayLike) -> EnsembleMetrics:
    """What the tabular experiments measure of one ensemble: preds (N, m), the teacher's and the
    true test outputs (m,) -> :class:`EnsembleMetrics`.

    ``inter_student_variance`` V (with ``_se`` from the per-student contributions), the mean and
    standard deviation across students of the test MSE against the teacher (``mse_teacher``)
    and against the truth (``mse_truth``), and the variance across students of the test MSE
    against the truth with its standard error (``mse_truth_variance``: the study's teacher-noise
    "variance", docs/theorems.md X.1 for OLS students).
    """
    preds = jnp.asarray(preds)
    q = inter_student_contributions(preds)
    mse_t = mse(preds, teacher_test)
    mse_y = mse(preds, y_test)
    mse_var, mse_var_se = variance_with_se(mse_y)
    n = preds.shape[0]
    return EnsembleMetrics(
        mse_truth_variance=mse_var, mse_truth_variance_se=mse_var_se,
        inter_student_variance=jnp.mean(q), inter_student_variance_se=jnp.std(q, ddof=1) / jnp.sqrt(n),
        mse_teacher=jnp.mean(mse_t), mse_teacher_std=jnp.std(mse_t, ddof=1),
        mse_truth=jnp.mean(mse_y), mse_truth_std=jnp.std(mse_y, ddof=1))


def log_variance_ratio(x: ArrayLike, y: ArrayLike) -> tuple[jax.Array, jax.Array]:
    """``log(Var x / Var y)`` for paired draws (x_s, y_s), s = 1..N, and its standard error by
    the delta method, counting the pairing: with ``u = (x - xbar)^2 / s_x^2`` and
    ``w = (y - ybar)^2 / s_y^2``, ``SE^2 = Var(u - w) / N``. (N,), (N,) -> ((), ()).

    Paired draws share their randomness (the same teacher responses, the same inits), so the
    difference is far more precise than two independent variances would allow.
    """
    x, y = jnp.asarray(x), jnp.asarray(y)
    dx, dy = x - jnp.mean(x), y - jnp.mean(y)
    sx, sy = jnp.mean(dx**2), jnp.mean(dy**2)
    u, w = dx**2 / sx, dy**2 / sy
    return jnp.log(jnp.var(x, ddof=1) / jnp.var(y, ddof=1)), jnp.std(u - w, ddof=1) / jnp.sqrt(x.shape[0])


def variance_decomposition(samples: ArrayLike) -> dict[str, jax.Array]:
    """Split the predictive variance of stochastic students into across and within parts.

    With ``samples[s, r, x]`` the r-th sampled output of student s at input x, the law of total
    variance holds exactly for the population (ddof = 0) moments of the pooled samples:
    ``total = across + within``, where ``across`` is the variance of the student means and
    ``within`` the mean of each student's own variance. All three are averaged over inputs.

    Args:
      samples: (N, R, m): N students, R samples each, m inputs.

    Returns:
      dict with ``total``, ``across`` and ``within``, each a scalar.
    """
    samples = jnp.asarray(samples)
    n, r, m = samples.shape
    total = jnp.mean(jnp.var(samples.reshape(n * r, m), axis=0))
    across = jnp.mean(jnp.var(jnp.mean(samples, axis=1), axis=0))
    within = jnp.mean(jnp.var(samples, axis=1))
    return {"total": total, "across": across, "within": within}


def between_student_variance(samples: ArrayLike) -> dict[str, jax.Array]:
    """Between-student variance of sampled outputs, corrected for the sampling floor (**S.1**).

    Student s gives n sampled outputs with mean ``mbar_s`` and unbiased within-student variance
    ``w_s``. The across-student variance of ``mbar_s`` estimates ``B + E[w]/n``: even identical
    students keep the floor ``E[w]/n``. ``corrected = Var_s(mbar_s) - mean_s(w_s)/n`` is unbiased
    for B (one-way random effects); it can be negative by chance when B is near zero.

    Args:
      samples: (N, n, ...) with N >= 2 students and n >= 2 samples each; trailing axes
        (prompts, embedding dimensions) are averaged over.

    Returns:
      dict with ``uncorrected`` (the variance of the student means), ``floor`` (mean within
      variance / n) and ``corrected`` (their difference), each a scalar.
    """
    samples = jnp.asarray(samples)
    if samples.ndim < 2 or samples.shape[0] < 2 or samples.shape[1] < 2:
        raise ValueError(f"samples must be (students >= 2, samples >= 2, ...); got shape {samples.shape}.")
    n = samples.shape[1]
    uncorrected = jnp.mean(jnp.var(jnp.mean(samples, axis=1), axis=0, ddof=1))
    floor = jnp.mean(jnp.var(samples, axis=1, ddof=1)) / n
    return {"uncorrected": uncorrected, "floor": floor, "corrected": uncorrected - floor}


def entropy(probs: ArrayLike, axis: int = -1) -> jax.Array:
    """Shannon entropy in nats, with ``0 log 0 = 0``."""
    probs = jnp.asarray(probs)
    return -jnp.sum(jax.scipy.special.xlogy(probs, probs), axis=axis)


def empirical_distribution(answers: ArrayLike, num_answers: int) -> jax.Array:
    """Empirical answer distribution of sampled answers: (..., k) ints -> (..., K)."""
    answers = jnp.asarray(answers)
    onehot = jax.nn.one_hot(answers, num_answers)
    return jnp.mean(onehot, axis=-2)


def expected_calibration_error(probs: ArrayLike, labels: ArrayLike, num_bins: int = 15) -> jax.Array:
    """Expected calibration error of classifier probabilities: (..., m, C), (m,) ints -> (...).

    Confidence is the largest probability; examples fall into ``num_bins`` equal-width bins
    ``((b-1)/B, b/B]``; ``ECE = sum_b (n_b/m) |accuracy_b - mean confidence_b|`` (Guo et al.
    2017), computed as ``sum_b |sum_{x in b} (1[correct] - confidence)| / m``.
    """
    probs = jnp.asarray(probs)
    labels = jnp.asarray(labels)
    conf = jnp.max(probs, axis=-1)                                        # (..., m)
    correct = (jnp.argmax(probs, axis=-1) == jnp.broadcast_to(labels, conf.shape)).astype(probs.dtype)
    bins = jnp.clip(jnp.ceil(conf * num_bins).astype(jnp.int32) - 1, 0, num_bins - 1)
    onehot = jax.nn.one_hot(bins, num_bins, dtype=probs.dtype)            # (..., m, B)
    per_bin = jnp.sum(onehot * (correct - conf)[..., None], axis=-2)      # (..., B)
    return jnp.sum(jnp.abs(per_bin), axis=-1) / conf.shape[-1]
