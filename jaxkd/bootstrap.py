"""Bootstrap resampling for student training sets (docs/theorems.md 5.1-5.3).

Each student draws its own ``b`` row indices with replacement from the ``n`` training rows,
from its own key of the data-order/bootstrap stream.
"""

from __future__ import annotations

import functools

import jax

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
