"""JAX's persistent compilation cache for the ``jaxkd`` command: compile a program once per
machine, not once per invocation.

The CLI turns it on before it runs anything. Where the compiled programs go: the
``JAXKD_COMPILATION_CACHE`` environment variable (a folder, or ``off`` to disable), else
``$XDG_CACHE_HOME/jaxkd/jax`` (``~/.cache/jaxkd/jax``). Entries are keyed by JAX on the
program, its shapes, the jax/jaxlib version and the device, so a stale entry is never reused;
deleting the folder is always safe. Library users opt in with :func:`enable`.

Processes may share the folder (the test workers, notebook kernels, runs side by side). JAX
(0.10) writes an entry in place and reads it without a lock, so a process could read another's
half-written program and abort (seen once in ``make test``, inside XLA's deserialisation).
:func:`enable` makes every write atomic instead (:func:`_atomic_put`: the bytes go to a
temporary file in the folder, renamed into place), so a reader finds a whole entry or none.
JAX's own remedy, a size limit (which takes a file lock around every access), rescans every
entry on each write, which costs seconds on a cache of thousands of entries.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax

ENV = "JAXKD_COMPILATION_CACHE"
OFF = ("off", "0", "false", "no", "none")


def default_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "jaxkd" / "jax"


def _atomic_put(self, key: str, value: bytes) -> None:
    """JAX's ``LRUCache.put`` without a size limit, written atomically: the entry appears whole
    (``os.replace`` of a temporary file in the same folder) or not at all."""
    from jax._src import lru_cache

    if not key:
        raise ValueError("key cannot be empty")
    path = self.path / f"{key}{lru_cache._CACHE_SUFFIX}"
    if path.exists():
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(value)
    os.replace(tmp, path)


def _make_writes_atomic() -> bool:
    """Install :func:`_atomic_put` for caches without a size limit; False (JAX's own put kept)
    where this JAX's cache is not the one it was written for."""
    try:
        from jax._src import lru_cache
    except ImportError:
        return False
    cache = getattr(lru_cache, "LRUCache", None)
    if cache is None or not hasattr(lru_cache, "_CACHE_SUFFIX"):
        return False
    if getattr(cache.put, "_jaxkd", False):
        return True  # installed already
    global JAX_PUT
    JAX_PUT = cache.put

    def put(self, key, value):
        if getattr(self, "eviction_enabled", True):
            return JAX_PUT(self, key, value)  # a size limit: JAX locks the folder itself
        return _atomic_put(self, key, value)

    put._jaxkd = True
    cache.put = put
    return True


#: JAX's own ``LRUCache.put``, once :func:`enable` has replaced it.
JAX_PUT = None


def enable(directory: str | os.PathLike | None = None) -> Path | None:
    """Cache every compiled program in ``directory`` (default: the environment setting, else
    :func:`default_dir`). Returns the folder, or None when disabled (``JAXKD_COMPILATION_CACHE=off``,
    which turns JAX's cache off even where ``JAX_COMPILATION_CACHE_DIR`` would turn it on)."""
    setting = os.environ.get(ENV, "")
    if directory is None and setting.lower() in OFF and setting:
        jax.config.update("jax_enable_compilation_cache", False)  # off even if JAX_* variables say on
        return None
    path = Path(directory or setting or default_dir()).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"cannot create the compilation cache folder {path} ({exc.strerror}); "
                         f"set {ENV} to a writable folder or to 'off'.") from None
    jax.config.update("jax_compilation_cache_dir", str(path))
    # jaxkd's programs compile in well under the default 1 s threshold but add up to seconds
    # per invocation; cache them all (entries are kilobytes).
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    _make_writes_atomic()
    return path
