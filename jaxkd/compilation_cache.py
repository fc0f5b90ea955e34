"""JAX's persistent compilation cache for the ``jaxkd`` command: compile a program once per
machine, not once per invocation.

The CLI turns it on before it runs anything. Where the compiled programs go: the
``JAXKD_COMPILATION_CACHE`` environment variable (a folder, or ``off`` to disable), else
``$XDG_CACHE_HOME/jaxkd/jax`` (``~/.cache/jaxkd/jax``). Entries are keyed by JAX on the
program, its shapes, the jax/jaxlib version and the device, so a stale entry is never reused;
deleting the folder is always safe. Library users opt in with :func:`enable`.
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
    return path
