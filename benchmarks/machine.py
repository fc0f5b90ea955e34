"""Where a benchmark ran: the machine's description and measured rates, printed at the top of
every benchmark and written into its JSON, and the physical floor.

:func:`describe` says which CPU (model, cores, the vector extensions it has: AVX2, AVX-512,
...), which instruction-set cap the run was under (:mod:`isa`) and what each library then uses
(XLA's cap, NumPy's SIMD targets, OpenBLAS's kernels, PyTorch's CPU capability), the library
versions, the load average, and two measured rates:

* ``matmul_gflops``: a large float32 matrix product (the best case for arithmetic);
* ``bandwidth_gbs``: a large array copy (bytes read + bytes written per second), an
  upper bound on what streaming element-wise code can reach.

A benchmark's floor is ``max(FLOPs / matmul rate, bytes / bandwidth)``: no implementation
of the same arithmetic and the same compulsory memory traffic can beat it on this machine.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import isa  # noqa: E402

#: /proc/cpuinfo flag -> the name a reader knows, in the order they are printed.
VECTOR_EXTENSIONS = {
    "sse4_2": "SSE4.2", "avx": "AVX", "avx2": "AVX2", "fma": "FMA", "avx512f": "AVX-512F",
    "avx512cd": "AVX-512CD", "avx512bw": "AVX-512BW", "avx512dq": "AVX-512DQ", "avx512vl": "AVX-512VL",
    "avx512_vnni": "AVX-512VNNI", "avx512_bf16": "AVX-512BF16", "avx512_fp16": "AVX-512FP16",
    "avx_vnni": "AVX-VNNI", "amx_tile": "AMX", "asimd": "NEON", "sve": "SVE",
}
VERSIONS = ("jax", "jaxlib", "flax", "optax", "numpy", "scipy", "scikit-learn", "torch", "transformers")


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


def cpu() -> dict:
    """The CPU as /proc/cpuinfo and the scheduler see it (model, vendor, family/model,
    logical CPUs, CPUs this process may use, cores, vector extensions present)."""
    from jaxkd import provenance

    info, flags = provenance.cpu_info()
    cores = info.get("cpu cores")
    return {
        "model": info.get("model name") or platform.processor() or platform.machine(),
        "vendor": info.get("vendor_id", ""),
        "family_model_stepping": "/".join(info.get(k, "?") for k in ("cpu family", "model", "stepping")),
        "arch": platform.machine(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cores_per_socket": int(cores) if cores and cores.isdigit() else None,
        "hypervisor": "hypervisor" in flags,
        "vector_extensions": [name for flag, name in VECTOR_EXTENSIONS.items() if flag in flags],
        "avx512": "avx512f" in flags,
    }


def libraries_in_effect() -> dict:
    """What each loaded library uses on this CPU under this process's cap: XLA's max ISA and
    YNNPACK setting (from ``XLA_FLAGS``), NumPy's highest enabled SIMD target, OpenBLAS's
    kernels, PyTorch's CPU capability (when torch is loaded)."""
    flags = os.environ.get("XLA_FLAGS", "").split()
    max_isa = next((f.split("=", 1)[1] for f in flags if f.startswith("--xla_cpu_max_isa=")), "native")
    ynn = next((f.split("=", 1)[1] for f in flags if f.startswith("--xla_cpu_experimental_ynn_fusion_type=")), None)
    out = {"xla_max_isa": max_isa, "xla_ynnpack_fusions": "XLA default" if ynn is None else (ynn or "off")}
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

        enabled = [t for t in __cpu_dispatch__ if __cpu_features__.get(t)]
        out["numpy_simd"] = enabled[-1] if enabled else "baseline"
    except ImportError:
        out["numpy_simd"] = "unknown"
    try:
        from threadpoolctl import threadpool_info

        blas = sorted({f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')}"
                       for i in threadpool_info() if i.get("user_api") == "blas"})
        out["blas"] = blas
    except ImportError:
        out["blas"] = []
    if "torch" in sys.modules:
        import torch

        out["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        out["mkl_instructions"] = os.environ.get("MKL_ENABLE_INSTRUCTIONS", "native")
    return out


def versions() -> dict:
    from jaxkd import provenance

    return {"python": platform.python_version(), **provenance.packages(VERSIONS)}


def finish(report: dict, json_path: str | None) -> int:
    """A benchmark's last lines: the load average at the end (also into ``report``), then the
    JSON file when one was asked for. Returns the exit code 0."""
    report["load_average_end"] = list(os.getloadavg())
    print(f"  load average at the end: {' '.join(f'{x:.2f}' for x in report['load_average_end'])}")
    if json_path:
        from jaxkd.runs import atomic_write_json

        atomic_write_json(json_path, report)
    return 0


def describe(matmul: float | None = None, bandwidth: float | None = None) -> dict:
    """Everything that says where a benchmark ran (see the module docstring). ``matmul`` and
    ``bandwidth``: the rates when the caller measured them, else measured here (float32 matrix
    product through jax, GFLOP/s; copy bandwidth, GB/s)."""
    import jax

    return {
        "cpu": cpu(),
        "isa_cap": isa.in_effect(),
        "libraries": libraries_in_effect(),
        "jax_backend": jax.default_backend(),
        "jax_device": jax.devices()[0].device_kind,
        "matmul_gflops_float32": matmul_gflops() if matmul is None else matmul,
        "bandwidth_gbs": bandwidth_gbs() if bandwidth is None else bandwidth,
        "versions": versions(),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def header(desc: dict) -> str:
    """The description as the lines a benchmark prints first."""
    c, lib = desc["cpu"], desc["libraries"]
    cap = desc["isa_cap"]
    uses = [f"XLA max ISA {lib['xla_max_isa']} (YNNPACK fusions {lib['xla_ynnpack_fusions']})",
            f"NumPy SIMD {lib['numpy_simd']}"] + [f"BLAS {b}" for b in lib["blas"]]
    if "torch_cpu_capability" in lib:
        uses.append(f"PyTorch {lib['torch_cpu_capability']} (MKL {lib['mkl_instructions']})")
    v = desc["versions"]
    load = desc["load_average"]
    return "\n".join([
        f"machine: {c['model']} ({c['vendor']} {c['family_model_stepping']}), {c['logical_cpus']} logical CPUs "
        f"({c['usable_cpus']} usable){', virtual machine' if c['hypervisor'] else ''}; jax on {desc['jax_device']}",
        f"  vector extensions: {' '.join(c['vector_extensions']) or 'unknown'}",
        f"  instruction-set cap: {cap}{' (none)' if cap == 'native' else ''}; in effect: {'; '.join(uses)}",
        f"  measured: matrix product {desc['matmul_gflops_float32']:.0f} GFLOP/s (float32), copy "
        f"{desc['bandwidth_gbs']:.1f} GB/s; load average {' '.join(f'{x:.2f}' for x in load) if load else 'n/a'}",
        "  versions: " + ", ".join(f"{k} {x}" for k, x in v.items()),
    ])


def floor(flops: float, bytes_moved: float, gflops: float, gbs: float) -> dict:
    """The physical floor of a computation and which resource sets it."""
    compute, memory = flops / gflops / 1e9, bytes_moved / gbs / 1e9
    return {"flops": flops, "bytes": bytes_moved, "compute_seconds": compute, "memory_seconds": memory,
            "floor_seconds": max(compute, memory), "bound": "compute" if compute >= memory else "memory"}
