"""Bootstrap resampling for student training sets (docs/theorems.md 5.1-5.3).

Each student draws its own ``b`` row indices with replacement from the ``n`` training rows,
from its own key of the data-order/bootstrap stream (:func:`resample_indices`), or, what a
weighted fit needs, how many times each row was drawn (:func:`resample_counts`: a multinomial
draw, whose cost does not grow with b).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxkd import _validation as v


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _indices(key, n, b, num_students):
    keys = jax.random.split(key, num_students)
    return jax.vmap(lambda k: jax.random.randint(k, (b,), 0, n))(keys)


def resample_indices(key: jax.Array, n: int, b: int, *, num_students: int) -> jax.Array:
    """Bootstrap row indices for every student.

    Args:
      key: key of the bootstrap stream, shape ().
      n: rows available.
      b: draws per student (with replacement), >= 1.
      num_students: N >= 1.

    Returns:
      Integer indices in ``[0, n)``, shape (N, b).
    """
    n = v.check_int("number of rows n", n)
    b = v.check_int("bootstrap sample size b", b)
    num_students = v.check_int("number of students", num_students)
    return _indices(key, n, b, num_students)


@functools.partial(jax.jit, static_argnums=(1, 3))
def _counts(key, n, b, num_students):
    p = jnp.full((n,), 1.0 / n, jnp.float32)
    return jax.random.multinomial(key, b, p, shape=(num_students, n), dtype=jnp.float32)


def resample_counts(key: jax.Array, n: int, b: int, *, num_students: int) -> jax.Array:
    """How many times each of the ``n`` rows appears in each student's ``b`` draws with
    replacement: every row is ``Multinomial(b, 1/n)``. A bootstrap student weighted by these
    counts is the student fitted on the resampled rows (duplicates counted), at a cost that
    does not grow with b (about 0.4 s for 20,000 students of 50 rows on a 2-core CPU).

    Args:
      key: key of the bootstrap stream, shape ().
      n: rows available.
      b: draws per student (with replacement), >= 1.
      num_students: N >= 1.

    Returns:
      Counts, float32 of shape (N, n); every row sums to b.
    """
    n = v.check_int("number of rows n", n)
    b = v.check_int("bootstrap sample size b", b)
    num_students = v.check_int("number of students", num_students)
    return _counts(key, n, float(b), num_students)
