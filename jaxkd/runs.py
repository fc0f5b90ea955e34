"""Run directories: config, per-point results, results.json, figures, report; atomic, resumable.

Layout of a run directory::

    config.json      what was asked (experiment, model, preset, seed, grids) + jaxkd version
                     and the digest of the code that ran (jaxkd.provenance)
    points/*.json    one file per finished grid point (the unit of resume)
    results.json     numbers only, stable keys, written once the sweep is complete
    *.png            figures
    report.md        tables and figures for a reader

Every file is written to a temporary name in the same folder and renamed into place, so a
half-written file never exists under its final name. ``--resume`` reuses finished points
after checking that the stored config equals the requested one and that the same code (by
source digest) wrote it. :func:`sweep` is the loop every experiment runs its grid with: it
computes the points a run folder does not hold yet and saves each as soon as it exists.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from jaxkd import progress, provenance

FORMAT_VERSION = 1


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a same-folder temporary file, fsync and rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual file mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def to_jsonable(obj: Any) -> Any:
    """Convert numpy/jax scalars and arrays to plain JSON values; NaN/inf become None; objects
    with ``to_json()`` (typed results) and dataclasses by their fields."""
    if hasattr(obj, "to_json"):
        return to_jsonable(obj.to_json())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj))
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):
        return to_jsonable(obj.tolist())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    return obj


def atomic_write_json(path: Path, obj: Any) -> None:
    text = json.dumps(to_jsonable(obj), indent=2, sort_keys=False, allow_nan=False)
    atomic_write_bytes(path, (text + "\n").encode())


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc.msg}); delete it or the run folder.") from None


class RunDir:
    """A run directory. Open with :meth:`open`; then ``has_point``/``load_point``/``save_point``
    for each grid point, and ``write_json``/``write_text``/``save_figure`` for outputs.

    ``shared`` is the folder for work several runs can reuse (the language-model setup, cached
    by a hash of what it depends on): ``<path>/shared`` unless the caller names another (
    ``jaxkd reproduce`` gives every step the top folder's)."""

    def __init__(self, path: Path, config: dict, shared: Path | None = None):
        self.path = Path(path)
        self.config = config
        self.shared = Path(shared) if shared is not None else self.path / "shared"

    @classmethod
    def open(cls, path, config: dict, *, resume: bool = False, overwrite: bool = False,
             shared=None) -> "RunDir":
        """Create or reopen a run directory for ``config``; ``overwrite`` also empties its own
        ``shared`` folder (one named by the caller is the caller's to manage).

        Raises:
          ValueError: the folder holds another run and neither ``resume`` nor ``overwrite`` was
            given; ``resume`` was given but the stored config or format differs; or the folder
            cannot be written.
        """
        path = Path(path)
        stored = {"format": FORMAT_VERSION, "jaxkd": provenance.version(), "code": provenance.source_digest(),
                  **to_jsonable(config)}
        cfg_path = path / "config.json"
        if path.exists() and not path.is_dir():
            raise ValueError(f"--out {path} is a file, not a folder.")
        if cfg_path.exists() and not overwrite:
            if not resume:
                raise ValueError(
                    f"{path} already holds a run; pass --resume to continue it or --overwrite "
                    "to start again, or choose another --out."
                )
            old = read_json(cfg_path)
            if old.get("format") != FORMAT_VERSION or old.get("code") != stored["code"]:
                raise ValueError(
                    f"{path} was written by other code (jaxkd {old.get('jaxkd')}, source "
                    f"{str(old.get('code'))[:12]}, format {old.get('format')}); this is jaxkd {stored['jaxkd']}, "
                    f"source {stored['code'][:12]}, format {FORMAT_VERSION}, so it cannot be resumed: pass "
                    "--overwrite to start again or choose another --out."
                )
            diff = sorted(k for k in set(old) | set(stored) if k != "jaxkd" and old.get(k) != stored.get(k))
            if diff:
                raise ValueError(
                    f"{path} holds a run with a different config ({', '.join(diff)} differ); "
                    "resume with the same options or choose another --out."
                )
        elif path.exists() and any(path.iterdir()) and not overwrite and not cfg_path.exists():
            raise ValueError(f"--out {path} exists and is not a jaxkd run folder; choose another.")
        try:
            path.mkdir(parents=True, exist_ok=True)
            if overwrite:
                for old_file in list(path.glob("points/*.json")) + [path / "results.json"]:
                    old_file.unlink(missing_ok=True)
                if shared is None and (path / "shared").is_dir():
                    shutil.rmtree(path / "shared")
            atomic_write_json(cfg_path, stored)
        except OSError as exc:
            raise ValueError(f"cannot write to --out {path}: {exc.strerror}.") from None
        return cls(path, stored, shared)

    def _point_path(self, key: str) -> Path:
        return self.path / "points" / f"{key}.json"

    def has_any_point(self) -> bool:
        return any((self.path / "points").glob("*.json"))

    def has_point(self, key: str) -> bool:
        return self._point_path(key).exists()

    def load_point(self, key: str) -> dict:
        return read_json(self._point_path(key))

    def save_point(self, key: str, values: dict) -> None:
        atomic_write_json(self._point_path(key), values)

    def write_json(self, name: str, obj: Any) -> Path:
        atomic_write_json(self.path / name, obj)
        return self.path / name

    def write_text(self, name: str, text: str) -> Path:
        atomic_write_bytes(self.path / name, text.encode())
        return self.path / name

    def save_figure(self, fig, name: str) -> Path:
        """Save a matplotlib figure as PNG atomically."""
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
        atomic_write_bytes(self.path / name, buf.getvalue())
        return self.path / name


def sweep(run_dir: RunDir | None, points: Iterable[tuple[str, Any]], compute: Callable[[Any], dict], *,
          desc: str) -> list[dict]:
    """Compute every grid point, reusing points a resumed run already finished.

    ``points`` are ``(key, point)`` pairs; ``compute(point)`` returns the point's numbers by
    name. Each point's numbers are saved atomically as soon as they exist, so a killed sweep
    loses at most the point in flight. ``compute`` must depend only on the point (its PRNG keys
    are folded from the point's index), which makes resumed results identical to a fresh run.
    """
    points = list(points)
    out = []
    with progress.task(desc, total=len(points), unit="point") as bar:
        for key, point in points:
            bar.note(key)
            if run_dir is not None and run_dir.has_point(key):
                out.append(run_dir.load_point(key))
            else:
                values = {name: _plain(val) for name, val in compute(point).items()}
                if run_dir is not None:
                    run_dir.save_point(key, values)
                out.append(values)
            bar.advance()
    return out


def _plain(value):
    """A JSON-shaped copy of an array or scalar: nested lists of Python numbers."""
    arr = np.asarray(value)
    return arr.item() if arr.ndim == 0 else arr.tolist()


def columns(rows: list[dict]) -> dict[str, list]:
    """List of per-point dicts -> dict of per-key lists (results.json layout)."""
    return {k: [r[k] for r in rows] for k in rows[0]} if rows else {}

