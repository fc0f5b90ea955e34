"""XLA settings for jaxkd's programs: :func:`configure` before the first JAX computation.

XLA:CPU (jaxlib 0.10) hands element-wise and reduction fusions to YNNPACK by default; on
jaxkd's shapes XLA's own loop emitter is faster, so jaxkd turns those fusions off
(``--xla_cpu_experimental_ynn_fusion_type=``; matrix products are unaffected). Measured on a
2-core x86 CPU, alternating runs of each setting in fresh processes: the 1,000-student MLP
ensemble's 200 epochs took 0.92-1.00 s with YNNPACK fusions and 0.83-0.87 s without; a 4-layer
GPT-2 training step 43-54 ms and 33-35 ms. It is a CPU setting; other backends ignore it.

XLA reads its flags once per process, from ``XLA_FLAGS``, when JAX starts its backends, so the
setting is process-wide and must come first: the ``jaxkd`` command calls :func:`configure`
before anything else, and so do the tests and the benchmarks. Library users opt in the same way
(``jaxkd.compiler.configure()`` at the top of a script); a flag already in ``XLA_FLAGS`` is left
as the user set it. ``JAXKD_XLA_OPTIONS=off`` keeps XLA's defaults (to compare).
"""

from __future__ import annotations

import os

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
