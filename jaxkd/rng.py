"""Named PRNG streams: one key per source of randomness.

An experiment derives every key from one seed and a *name* (``"teacher_noise"``, ``"init"``,
``"data_order"``, ...), then folds in grid-point indices and splits per student. Varying one
source while freezing the others is then a matter of changing one stream's seed, and a grid
point's numbers do not depend on which other points ran before it (so resumed runs match).
"""

from __future__ import annotations

import zlib

import jax


def stream(seed: int, name: str) -> jax.Array:
    """Return the root key of the stream ``name`` for ``seed``.

    Args:
      seed: the experiment's seed.
      name: the source of randomness; a stable CRC32 of it is folded into the seed key.

    Returns:
      A typed PRNG key array of shape ().
    """
    return jax.random.fold_in(jax.random.key(seed), zlib.crc32(name.encode()))


def point_key(key: jax.Array, *indices: int) -> jax.Array:
    """Fold grid-point indices into ``key`` (order matters)."""
    for i in indices:
        key = jax.random.fold_in(key, i)
    return key


def student_keys(key: jax.Array, num_students: int) -> jax.Array:
    """Split ``key`` into one key per student: shape (num_students,)."""
    return jax.random.split(key, num_students)
