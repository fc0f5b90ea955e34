"""A memory guard: refuse a request too big for the machine before anything is allocated.

Experiments estimate the peak bytes of their student computation from the config and the
data's shape (:meth:`jaxkd.experiments.regression.RegressionConfig.floats_per_student`, through
:func:`jaxkd.experiments.regression.guard_memory`) and call
:func:`check_fits` before drawing a single student. The estimate counts the arrays that scale
with the number of students (targets, weights, parameters and optimizer state, predictions)
plus the working set of one chunk of students; it is an estimate, so the guard keeps a margin
(``FRACTION`` of what is available). Language-model distillation sizes its chunks of students
and of sampled sequences against the same budget (:mod:`jaxkd.llm.budget`).
"""

from __future__ import annotations

import os

import jax

FRACTION = 0.8


def available_bytes() -> int:
    """Bytes the computation may use: on accelerators the first device's memory limit minus
    what is in use; on CPU the kernel's ``MemAvailable`` (physical memory where unknown)."""
    device = jax.devices()[0]
    if device.platform != "cpu":
        stats = device.memory_stats() or {}
        if "bytes_limit" in stats:
            return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def human(n: float) -> str:
    """1536 -> '1.5 KiB'."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError


def check_fits(estimate: float, what: str, advice: str, *, available: int | None = None) -> None:
    """Raise ``ValueError`` (one sentence: estimate, memory, what to change) when ``estimate``
    bytes exceed ``FRACTION`` of the available memory."""
    limit = available_bytes() if available is None else available
    if estimate > FRACTION * limit:
        raise ValueError(f"{what} needs about {human(estimate)} of memory at its peak, but this machine has "
                         f"{human(limit)} available ({jax.default_backend()}); {advice}.")
