"""The machine's measured rates, for the physical floor every benchmark prints.

Both rates are measured in the same run as the benchmark, on the same threads:

* ``matmul_gflops``: a large float32 matrix product (the best case for arithmetic);
* ``bandwidth_gbs``: a large array copy (bytes read + bytes written per second), an
  upper bound on what streaming element-wise code can reach.

A benchmark's floor is ``max(FLOPs / matmul rate, bytes / bandwidth)``: no implementation
of the same arithmetic and the same compulsory memory traffic can beat it on this machine.
"""

from __future__ import annotations

import time

import numpy as np


def matmul_gflops(size: int = 2048, repeats: int = 5, dtype=np.float32) -> float:
    """Best-of rate of an (size x size) @ (size x size) product through jax (XLA's CPU GEMM)."""
    import jax
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.key(0), (size, size), jnp.dtype(dtype))
    f = jax.jit(lambda x: x @ x)
    return 2 * size**3 / _best_of(lambda: f(a).block_until_ready(), repeats) / 1e9


def _best_of(fn, repeats: int) -> float:
    """Fastest of ``repeats`` timed calls, after one untimed warm-up call."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def bandwidth_gbs(megabytes: int = 512, repeats: int = 5) -> float:
    """Best-of copy rate of a ``megabytes`` float32 array (read + write counted), on jax's
    default device (an accelerator's memory), else in host memory with NumPy."""
    import jax

    if jax.default_backend() != "cpu":
        x = jax.numpy.ones(megabytes * 2**20 // 4, jax.numpy.float32)
        f = jax.jit(lambda a: a + 1.0)
        return 2 * x.nbytes / _best_of(lambda: f(x).block_until_ready(), repeats) / 1e9
    src = np.ones(megabytes * 2**20 // 4, np.float32)
    dst = np.empty_like(src)
    return 2 * src.nbytes / _best_of(lambda: np.copyto(dst, src), repeats) / 1e9


def floor(flops: float, bytes_moved: float, gflops: float, gbs: float) -> dict:
    """The physical floor of a computation and which resource sets it."""
    compute, memory = flops / gflops / 1e9, bytes_moved / gbs / 1e9
    return {"flops": flops, "bytes": bytes_moved, "compute_seconds": compute, "memory_seconds": memory,
            "floor_seconds": max(compute, memory), "bound": "compute" if compute >= memory else "memory"}
