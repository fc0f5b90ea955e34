"""Cap every side of a benchmark at one x86 instruction set, to measure a machine without
AVX-512 on one that has it.

``--isa avx2`` sets, before NumPy, SciPy, JAX or PyTorch load, the switch each library reads:

* XLA (jaxkd): ``--xla_cpu_max_isa=AVX2`` in ``XLA_FLAGS``, for every loop XLA compiles, and
  ``--xla_cpu_experimental_ynn_fusion_type=`` (YNNPACK off): YNNPACK chooses its kernels from
  the CPU itself and ignores the cap (its ``avx512`` matrix-product kernels ran under
  ``xla_cpu_max_isa=AVX2``), and jaxkd's own settings (:mod:`jaxkd.compiler`) keep it off anyway;
* OpenBLAS (NumPy's and SciPy's): ``OPENBLAS_CORETYPE=Haswell``, its AVX2 kernels;
* NumPy's own SIMD loops: ``NPY_DISABLE_CPU_FEATURES`` names its AVX-512 targets;
* PyTorch: ``ATEN_CPU_CAPABILITY=avx2`` (ATen's kernels), ``MKL_ENABLE_INSTRUCTIONS=AVX2`` (its
  BLAS) and ``ONEDNN_MAX_CPU_ISA=AVX2`` (oneDNN).

Each library reads its switch once, when it loads or first runs, so the cap must be in the
environment before any of them is imported. A benchmark calls :func:`from_argv` first thing,
before its other imports; if one of the libraries is already loaded it re-executes the
process with the cap in its environment. As a wrapper, for any command::

    python benchmarks/isa.py --isa avx2 -- python -m jaxkd.cli reproduce --preset paper ...

``native`` (the default) changes nothing: a process started under the wrapper keeps its cap. What each library then reports is in the
benchmark's machine description (:func:`machine.describe`), so a run says whether the cap held.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys

#: The caps a benchmark accepts.
CHOICES = ("native", "avx2")
#: Set in the environment once a cap is applied (a re-executed process does not apply it again).
MARKER = "JAXKD_BENCH_ISA"
_LIBRARIES = ("numpy", "scipy", "jax", "jaxlib", "torch")


class UsageError(ValueError):
    """A cap this machine cannot apply (one sentence; the benchmarks exit 2 with it)."""


def environment(isa: str, base: dict | None = None) -> dict:
    """The environment variables that cap every library at ``isa``, merged into ``base``
    (default: this process's environment). ``native`` returns ``base`` unchanged.

    Raises:
      UsageError: ``isa`` is not one of :data:`CHOICES`, or the CPU lacks what it names.
    """
    env = dict(os.environ if base is None else base)
    if isa not in CHOICES:
        raise UsageError(f"--isa must be one of {', '.join(CHOICES)}; got {isa!r}.")
    if isa == "native":
        return env
    flags = cpu_flags()
    if flags and not {"avx2", "fma"} <= flags:
        raise UsageError("--isa avx2 caps a CPU that has AVX2 and FMA; this one lacks them, so it "
                         "already runs below the cap.")
    xla = [f for f in env.get("XLA_FLAGS", "").split()
           if not f.startswith(("--xla_cpu_max_isa", "--xla_cpu_experimental_ynn_fusion_type"))]
    env["XLA_FLAGS"] = " ".join([*xla, "--xla_cpu_max_isa=AVX2", "--xla_cpu_experimental_ynn_fusion_type="])
    env["OPENBLAS_CORETYPE"] = "Haswell"
    env["NPY_DISABLE_CPU_FEATURES"] = " ".join(_numpy_avx512_targets())
    env["ATEN_CPU_CAPABILITY"] = "avx2"
    env["MKL_ENABLE_INSTRUCTIONS"] = "AVX2"
    env["ONEDNN_MAX_CPU_ISA"] = env["DNNL_MAX_CPU_ISA"] = "AVX2"
    env[MARKER] = isa
    return env


def _numpy_avx512_targets() -> list[str]:
    """NumPy's AVX-512 dispatch targets by name (from 2.3 they are grouped as X86_V4; naming
    one NumPy does not dispatch to only warns)."""
    try:
        major, minor = (int(x) for x in importlib.metadata.version("numpy").split(".")[:2])
    except (importlib.metadata.PackageNotFoundError, ValueError):
        major, minor = 2, 3
    if (major, minor) >= (2, 3):
        return ["X86_V4", "AVX512_ICL", "AVX512_SPR"]
    return ["AVX512F", "AVX512CD", "AVX512_KNL", "AVX512_KNM", "AVX512_SKX", "AVX512_CLX", "AVX512_CNL",
            "AVX512_ICL", "AVX512_SPR"]


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none): jaxkd's reader,
    which imports no numerical library, so the cap still comes first."""
    from jaxkd import provenance

    return provenance.cpu_info()[1]


def requested(argv: list[str]) -> str | None:
    """The value of ``--isa`` in ``argv`` (``--isa X`` or ``--isa=X``), else None."""
    for i, arg in enumerate(argv):
        if arg == "--isa" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--isa="):
            return arg.split("=", 1)[1]
    return None


def in_effect() -> str:
    """The cap this process runs under (``native`` when none was applied)."""
    return os.environ.get(MARKER, "native")


def from_argv(argv: list[str] | None = None) -> str:
    """Apply the ``--isa`` of ``argv`` (default ``sys.argv``) to this process: set the
    environment in place when none of the capped libraries is loaded yet, else re-execute the
    process with it. Exits 2 with one sentence on a cap it cannot apply. Returns the cap."""
    argv = sys.argv if argv is None else argv
    isa = requested(argv)
    if isa is None or isa == in_effect():
        return in_effect()  # nothing asked, or already applied (by the wrapper or a re-execution)
    try:
        env = environment(isa)
    except UsageError as e:
        print(f"{os.path.basename(argv[0]) if argv else 'benchmark'}: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    if isa == "native":
        return in_effect()
    if any(name in sys.modules for name in _LIBRARIES):
        os.execve(sys.executable, [sys.executable, *sys.argv], env)
    os.environ.clear()
    os.environ.update(env)
    return isa


def main(argv: list[str] | None = None) -> int:
    """``isa.py --isa CAP -- COMMAND ...``: run COMMAND with every library capped at CAP."""
    argv = sys.argv[1:] if argv is None else argv
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        print("isa.py: error: usage: isa.py --isa {native,avx2} -- COMMAND [ARG ...].", file=sys.stderr)
        return 2
    split = argv.index("--")
    try:
        env = environment(requested(argv[:split]) or "native")
    except UsageError as e:
        print(f"isa.py: error: {e}", file=sys.stderr)
        return 2
    command = argv[split + 1:]
    os.execvpe(command[0], command, env)
    return 0  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
