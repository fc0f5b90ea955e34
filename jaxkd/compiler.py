"""XLA settings for jaxkd's programs: :func:`configure` before the first JAX computation.

XLA:CPU (jaxlib 0.10) hands matrix products and element-wise and reduction fusions to YNNPACK by
default; jaxkd turns that off process-wide (``--xla_cpu_experimental_ynn_fusion_type=``), so
XLA compiles every loop and product itself. Measured on both kinds of 2-core AMD EPYC machine,
the one with AVX-512 and the same one capped at AVX2 (``benchmarks/isa.py``), four alternating
fresh processes per setting, CPU seconds (medians; the machine was shared, load 10-17, so wall
times were not comparable):

========================================  ===========  ===========  ===========  ===========
workload                                  AVX-512 off  AVX-512 on   AVX2 off     AVX2 on*
========================================  ===========  ===========  ===========  ===========
MLP ensemble, 1,000 x 200 epochs, h=16    1.65 s       1.67 s       2.22 s       2.20 s
MLP ensemble, 1,000 x 100 epochs, h=64    3.20 s       3.19 s       3.15 s       3.32 s
GPT-2 training step (4 layers, 8 x 64)    65 ms        75 ms        64 ms        77 ms
linear teacher-noise sweep (15 x 1,000)   85 ms        74 ms        79 ms        66 ms
========================================  ===========  ===========  ===========  ===========

(*YNNPACK picks its kernels from the CPU and ignores XLA's cap: "AVX2 on" ran its AVX-512
kernels.) Off is the better or equal setting for the MLP ensembles and GPT-2 on both kinds;
for the linear sweep on both kinds YNNPACK is better, through its float64 matrix products
(a second round of alternating processes: 77-82 ms with YNNPACK products against 90-99 ms
without). So one program overrides the process setting (:func:`library_products`): the linear
teacher-noise level's skinny float64 products ((1,000 x 404) x (404 x 14) and on) go to
YNNPACK, except under an instruction-set cap, which YNNPACK would not honour. No setting here
helps one kind and hurts the other. It is a CPU setting; other backends ignore it.

XLA reads its flags once per process, from ``XLA_FLAGS``, when JAX starts its backends, so the
setting is process-wide and must come first: the ``jaxkd`` command calls :func:`configure`
before anything else, and so do the tests and the benchmarks. Library users opt in the same way
(``jaxkd.compiler.configure()`` at the top of a script); a flag already in ``XLA_FLAGS`` is left
as the user set it. ``JAXKD_XLA_OPTIONS=off`` keeps XLA's defaults (to compare).
"""

from __future__ import annotations

import os

import jax

ENV = "JAXKD_XLA_OPTIONS"

#: The XLA flags :func:`configure` adds.
FLAGS = ("--xla_cpu_experimental_ynn_fusion_type=",)


def configure() -> bool:
    """Add :data:`FLAGS` to ``XLA_FLAGS`` for this process.

    Returns:
      True when the flags are in effect; False when ``JAXKD_XLA_OPTIONS=off``, or when JAX's
      backends had already started (XLA has read its flags; its defaults stay).

    Raises:
      ValueError: ``JAXKD_XLA_OPTIONS`` is set to something other than ``off``.
    """
    setting = os.environ.get(ENV, "")
    if setting not in ("", "off"):
        raise ValueError(f"{ENV} must be unset or 'off' (XLA's default options); got {setting!r}.")
    if setting == "off":
        return False
    from jax._src import xla_bridge  # no public test for "backends started" in jax 0.10

    if xla_bridge.backends_are_initialized():
        return False
    current = os.environ.get("XLA_FLAGS", "")
    missing = [f for f in FLAGS if f.split("=")[0] not in current]
    if missing:
        os.environ["XLA_FLAGS"] = " ".join([current, *missing]).strip()
    return True


#: The per-program option of :func:`library_products`.
LIBRARY_PRODUCTS = {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_DOT"}


def library_products() -> dict | None:
    """``compiler_options`` for ``jax.jit`` that hand a program's matrix products to YNNPACK, or
    None where jaxkd leaves the program to XLA's settings.

    None when ``JAXKD_XLA_OPTIONS=off`` (XLA's defaults already do it), on a backend other than
    CPU, and when ``XLA_FLAGS`` caps XLA's instruction set (``--xla_cpu_max_isa``): YNNPACK
    chooses its kernels from the CPU and ignores the cap, so under ``--isa avx2`` it would run
    AVX-512 code; capped, these products go through XLA's capped emitter instead (slower, so a
    capped run understates the program's speed on a CPU that really lacks AVX-512).
    """
    if os.environ.get(ENV, "") == "off" or jax.default_backend() != "cpu":
        return None
    if any(f.startswith("--xla_cpu_max_isa") for f in os.environ.get("XLA_FLAGS", "").split()):
        return None
    return dict(LIBRARY_PRODUCTS)
