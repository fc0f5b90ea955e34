"""Where a result came from: the code that made it, the packages and devices it ran on.

* :func:`source_digest` -- a SHA-256 over jaxkd's installed files (its theory included). It identifies
  the code whether or not it came from git; a run folder records it and ``--resume`` refuses a
  run made by other code (:mod:`jaxkd.runs`).
* :func:`git_commit` -- the commit the code was checked out at, and whether its files differ
  from it, when the package lives in a git work tree (an editable install); ``None`` otherwise.
* :func:`version` -- ``0.1.0+g<commit>`` (``.modified`` when the work tree differs from it), or
  the static ``jaxkd.__version__`` outside git.
* :func:`record` -- all of it plus package versions (jax, jaxlib, flax, optax, numpy, ...),
  Python, platform, the devices JAX sees, for ``summary.json`` and the report header.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

import jaxkd

PACKAGES = ("jax", "jaxlib", "flax", "optax", "numpy", "scipy", "scikit-learn", "matplotlib",
            "torch", "transformers", "sentence-transformers", "tokenizers", "safetensors")
_ROOTS = (Path(jaxkd.__file__).resolve().parent,)


def _roots() -> tuple[Path, ...]:
    """The package folders whose files make up "the code": jaxkd (jaxkd/theory inside it)."""
    return _ROOTS


@functools.cache
def source_digest() -> str:
    """SHA-256 (hex) over the relative path and bytes of every file of the jaxkd package
    (caches and compiled files excluded)."""
    h = hashlib.sha256()
    for root in _roots():
        files = sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                       and p.suffix not in (".pyc", ".pyo"))
        for p in files:
            rel = f"{root.name}/{p.relative_to(root).as_posix()}"
            data = p.read_bytes()
            h.update(f"{rel}\0{len(data)}\0".encode())
            h.update(data)
    return h.hexdigest()


@functools.cache
def git_commit() -> tuple[str | None, bool | None]:
    """``(commit, modified)`` of the git work tree holding the package, or ``(None, None)``
    when it is not in one (an installed wheel) or git is unavailable. ``modified``: a tracked
    or new file under jaxkd/ differs from the commit."""
    top = _ROOTS[0].parent
    if not (top / ".git").exists():
        return None, None
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}
    try:
        commit = subprocess.run(["git", "-C", str(top), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, env=env)
        if commit.returncode != 0:
            return None, None
        status = subprocess.run(["git", "-C", str(top), "status", "--porcelain", "--", *(r.name for r in _roots())],
                                capture_output=True, text=True, timeout=10, env=env)
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit.stdout.strip(), (bool(status.stdout.strip()) if status.returncode == 0 else None)


def version() -> str:
    """``jaxkd.__version__`` with the git commit as local version (``0.1.0+g1a2b3c4d``, plus
    ``.modified`` when the work tree differs), or the plain version outside git."""
    commit, modified = git_commit()
    if commit is None:
        return jaxkd.__version__
    return f"{jaxkd.__version__}+g{commit[:8]}{'.modified' if modified else ''}"


def code() -> dict:
    """What identifies the code: version, commit, modified flag, source digest."""
    commit, modified = git_commit()
    return {"version": version(), "commit": commit, "modified": modified, "source_sha256": source_digest()}


def packages(names=PACKAGES) -> dict[str, str]:
    """Installed versions of ``names`` (default: the packages jaxkd runs on); those not installed
    are left out."""
    out = {}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def devices() -> dict:
    """The devices JAX computes on: platform, kind, count (all processes) and local count."""
    import jax  # here, not at the top: `jaxkd --version` reads provenance and must not start JAX

    devs = jax.devices()
    return {"platform": devs[0].platform, "kind": devs[0].device_kind, "count": len(devs),
            "local_count": jax.local_device_count(), "processes": jax.process_count(),
            "cpu_cores": os.cpu_count()}


def cpu_info(path: str = "/proc/cpuinfo") -> tuple[dict[str, str], set[str]]:
    """``/proc/cpuinfo``'s first processor as a dict (model name, vendor, ...) and its feature
    flags; both empty where there is no such file."""
    info: dict[str, str] = {}
    try:
        with open(path) as f:
            for line in f:
                if ":" in line:
                    key, value = (x.strip() for x in line.split(":", 1))
                    info.setdefault(key, value)
    except OSError:
        pass
    return info, set(info.get("flags", "").split())


def cpu() -> dict:
    """The CPU model, the vector extensions XLA can use and the ``XLA_FLAGS`` in effect: an
    instruction-set cap (``--xla_cpu_max_isa``) or another CPU changes speed and, through the
    order of floating-point operations, the last bits of every number."""
    info, flags = cpu_info()
    return {"model": info.get("model name") or platform.processor() or platform.machine(),
            "vector_extensions": [f for f in ("avx2", "fma", "avx512f") if f in flags],
            "xla_flags": os.environ.get("XLA_FLAGS", "")}


def record() -> dict:
    """Everything above, as JSON-ready values."""
    return {**code(), "packages": packages(), "python": platform.python_version(),
            "platform": platform.platform(), "devices": devices(), "cpu": cpu()}


def describe(rec: dict) -> str:
    """One line for a header or ``--version``: version, commit, source, packages, devices."""
    parts = [f"jaxkd {rec['version']}"]
    if rec.get("commit"):
        parts.append(f"commit {rec['commit'][:12]}{' (modified)' if rec.get('modified') else ''}")
    parts.append(f"source sha256 {rec['source_sha256'][:12]}")
    pk = rec.get("packages", {})
    parts.append(", ".join(f"{n} {pk[n]}" for n in ("jax", "jaxlib", "flax", "optax", "numpy") if n in pk))
    dev = rec.get("devices")
    if dev:
        parts.append(f"{dev['count']} x {dev['kind']} ({dev['platform']}, {dev['cpu_cores']} CPU cores)")
    return "; ".join(p for p in parts if p)
