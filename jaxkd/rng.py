"""Named PRNG streams: one key per source of randomness.

An experiment derives every key from one seed and a *name* (``"teacher_noise"``, ``"init"``,
``"data_order"``, ...), then folds in grid-point indices and splits per student. Varying one
source while freezing the others is then a matter of changing one stream's seed, and a grid
point's numbers do not depend on which other points ran before it (so resumed runs match).
"""

from __future__ import annotations

import zlib

import jax
import jax.numpy as jnp


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


def permutation(key: jax.Array, n: int) -> jax.Array:
    """A uniformly random permutation of ``range(n)``, (n,) int32, several times faster on CPU
    than ``jax.random.permutation`` for the small n of minibatch orders.

    ``jax.random.permutation`` sorts random 32-bit keys together with the indices (a
    two-operand sort, which XLA:CPU runs through a comparator). Here each round sorts one
    uint32 word per index instead, random bits above the index's ``b = bit_length(n - 1)``
    bits, so the sort's result carries the permutation in its low bits. Two rounds with
    independent keys: a tie between two indices' random bits in the second round keeps their
    order from the first, which is random, so the permutation is biased only where both rounds
    tie the same pair, probability at most ``n^2 / 2 * 2^(-2 (32 - b))`` (1.2e-9 for n = 404).
    Above n = 2,048 that bound passes 1e-6 and ``jax.random.permutation`` is used instead.
    Measured on a 2-core CPU, 200,000 permutations of 404 (1,000 students x 200 epochs):
    3.1-3.4 s against 10.8-11.1 s for ``jax.random.permutation``.
    """
    if n > 2048:
        return jax.random.permutation(key, n).astype(jnp.int32)
    b = max(1, (n - 1).bit_length())
    index = jnp.arange(n, dtype=jnp.uint32)
    low = jnp.uint32((1 << b) - 1)
    order = index
    for k in jax.random.split(key, 2):
        words = jax.lax.sort((jax.random.bits(k, (n,), jnp.uint32) >> b) << b | index)
        order = order[(words & low).astype(jnp.int32)]
    return order.astype(jnp.int32)
