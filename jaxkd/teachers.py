"""Teacher response models.

A teacher's output for input ``i`` is random: ``y_ij = mu_i + eps_ij`` with
``eps_ij ~ N(0, sigma^2)`` i.i.d. (docs/theorems.md, setting). ``mu`` can come from any fitted
teacher (OLS, an MLP, a user's own model). For language models and classifiers the response
is a categorical draw from the teacher's answer distribution (docs/theorems.md C.1).

Functions here take one student's key and return one student's responses; the batched
versions vmap over a leading student axis of keys.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxkd import _validation as v
from jaxkd import rng


def gaussian_responses(key: jax.Array, mean: ArrayLike, sigma2: ArrayLike, k: int) -> jax.Array:
    """Draw ``k`` noisy teacher responses for every input (one student's label set).

    Args:
      key: PRNG key, shape ().
      mean: teacher mean output ``mu``, shape (n,).
      sigma2: noise variance ``sigma^2 >= 0``, scalar.
      k: responses per input (static).

    Returns:
      Responses ``mu + eps``, shape (k, n), in ``mean``'s dtype.

    The standard normal deviates are drawn at float32 resolution (:func:`jaxkd.rng.normal`)
    and then cast (arithmetic stays in ``mean``'s dtype): a deviate's float32 rounding
    (relative 6e-8) is four orders of magnitude below the Monte Carlo error of any sweep jaxkd
    runs, and a float64 draw costs several times more.
    """
    return responses(mean, sigma2, rng.normal(key, (k, jnp.shape(mean)[0])))


def responses(mean: ArrayLike, sigma2: ArrayLike, eps: jax.Array) -> jax.Array:
    """Teacher responses ``mu + sigma eps`` from standard normal deviates, in ``mean``'s dtype:
    mean (n,), sigma2 scalar, eps (..., n) -> (..., n)."""
    mean = jnp.asarray(mean)
    mean = mean.reshape((1,) * (eps.ndim - 1) + mean.shape)  # explicit: no silent rank promotion
    return mean + jnp.sqrt(jnp.asarray(sigma2, mean.dtype)) * eps.astype(mean.dtype)


@functools.partial(jax.jit, static_argnums=(1, 2))
def deviates(keys: jax.Array, k: int, n: int) -> jax.Array:
    """The standard normal deviates of :func:`batched_responses`, float32, as a program of
    their own: keys (N,) -> (N, k, n).

    Float64 teachers should draw here and form the responses in a second program
    (:func:`responses`): when the draw shares a loop with float64 arithmetic, XLA:CPU
    vectorises the whole loop, hash included, at float64's width, half float32's (the draw's
    CPU time doubles). Same numbers either way: :func:`batched_responses` is
    ``responses(mean, sigma2, deviates(keys, k, n))``.
    """
    return jax.vmap(lambda key: rng.normal(key, (k, n)))(keys)


def sample_responses(
    key: jax.Array, mean: ArrayLike, sigma2: float, *, k: int = 1, num_students: int
) -> jax.Array:
    """Draw ``k`` responses per input for each of ``num_students`` independent students.

    Validates its inputs (``ValueError`` on NaN, wrong shape, ``sigma2 < 0``, ``k < 1``).

    Args:
      key: PRNG key of the teacher-noise stream, shape ().
      mean: teacher mean output, shape (n,).
      sigma2: noise variance, >= 0.
      k: responses per input, >= 1.
      num_students: number of independent label sets N, >= 1.

    Returns:
      Responses, shape (N, k, n).
    """
    mean = v.as_float_array("teacher mean", mean, ndim=1)
    sigma2 = v.check_nonnegative("teacher noise variance sigma2", sigma2)
    k = v.check_int("k (responses per input)", k)
    num_students = v.check_int("number of students", num_students)
    keys = jax.random.split(key, num_students)
    mean = jnp.asarray(mean)
    return _responses(mean, sigma2, deviates(keys, k, mean.shape[0]))  # two programs (see deviates)


_responses = jax.jit(responses)


@functools.partial(jax.jit, static_argnums=3)
def batched_responses(keys: jax.Array, mean: jax.Array, sigma2, k: int) -> jax.Array:
    """Core of :func:`sample_responses` (no validation; jit/vmap-safe): one label set of k
    responses per key. keys (N,), mean (n,), sigma2 scalar, k static -> (N, k, n)."""
    return jax.vmap(gaussian_responses, in_axes=(0, None, None, None))(keys, mean, sigma2, k)


def categorical_responses(key: jax.Array, probs: ArrayLike, k: int) -> jax.Array:
    """Draw ``k`` answers from a teacher's answer distribution (one student's sample).

    Args:
      key: PRNG key, shape ().
      probs: answer probabilities, shape (K,), summing to one.
      k: number of sampled answers (static).

    Returns:
      Answer indices in ``[0, K)``, shape (k,).
    """
    probs = jnp.asarray(probs)
    return jax.random.categorical(key, jnp.log(probs), shape=(k,))


def sample_answers(key: jax.Array, probs: ArrayLike, *, k: int, num_students: int) -> jax.Array:
    """Draw ``k`` teacher answers for each of ``num_students`` students: shape (N, k).

    Validates ``probs`` (finite, non-negative, sums to one) and ``k``.
    """
    probs = v.as_float_array("answer probabilities", probs, ndim=1)
    if (probs < 0).any() or abs(probs.sum() - 1.0) > 1e-6:
        raise ValueError(
            f"answer probabilities must be non-negative and sum to 1, got sum {probs.sum():.6g}."
        )
    k = v.check_int("k (sampled answers)", k)
    num_students = v.check_int("number of students", num_students)
    keys = jax.random.split(key, num_students)
    draw = jax.vmap(categorical_responses, in_axes=(0, None, None))
    return jax.jit(draw, static_argnums=2)(keys, jnp.asarray(probs), k)
