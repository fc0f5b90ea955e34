"""Progress of long steps, with or without a terminal.

One API for every long loop in jaxkd (sweeps, distillation, ``jaxkd reproduce``)::

    from jaxkd import progress

    with progress.task("distilling", total=steps, unit="step") as p:
        for batch in batches:
            ...
            p.advance(1, note=f"loss {loss:.3f}")

On a terminal (stderr is a TTY) each task is a tqdm bar. Anywhere else (a log file, CI, a pipe,
a notebook) it writes plain timestamped lines to stderr: one when the task starts, one when it
ends, and in between one at least every ``interval`` seconds (default 30) -- written by a
heartbeat thread, so a line appears even while one long compiled call runs and ``advance`` is
not called::

    2025-06-01 12:00:00 reproduce 3/14 > distilling: started, 0/300 steps
    2025-06-01 12:00:30 reproduce 3/14 > distilling: 40/300 steps (13%), 30 s, loss 0.312
    2025-06-01 12:01:10 reproduce 3/14 > distilling: done, 300/300 steps in 70 s

Tasks nest: a line names every open task, outermost first, and only the innermost one sends
heartbeats. :func:`log` writes one line without breaking a bar.

Environment: ``JAXKD_PROGRESS`` = ``bar`` | ``lines`` | ``off`` overrides the choice;
``JAXKD_PROGRESS_INTERVAL`` sets the seconds between lines (default 30).

:func:`quiet_third_party` silences the progress bars and advisory warnings of Hugging Face
libraries (their "Loading weights" bars, generation-config notices), which otherwise interleave
with jaxkd's lines; errors still show.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
import warnings
from typing import Iterator, TextIO

from tqdm.std import tqdm  # not tqdm.auto, which would try notebook widgets (TqdmWarning IProgress)

_lock = threading.RLock()
_stack: list["Task"] = []
_heartbeat: threading.Thread | None = None
_wake = threading.Event()


def mode(stream: TextIO | None = None) -> str:
    """``"bar"`` on a terminal, ``"lines"`` elsewhere, unless ``JAXKD_PROGRESS`` says."""
    forced = os.environ.get("JAXKD_PROGRESS", "").strip().lower()
    if forced in ("bar", "lines", "off"):
        return forced
    stream = stream or sys.stderr
    try:
        return "bar" if stream.isatty() else "lines"
    except (AttributeError, ValueError):
        return "lines"


def interval() -> float:
    """Seconds between progress lines without a terminal (``JAXKD_PROGRESS_INTERVAL``, 30)."""
    try:
        value = float(os.environ.get("JAXKD_PROGRESS_INTERVAL", "30"))
    except ValueError:
        return 30.0
    return value if value > 0 else 30.0


def _stamp() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")


def _seconds(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min"


class Task:
    """An open task (made by :func:`task`): ``advance`` it, ``note`` what it is doing."""

    def __init__(self, name: str, total: int | None, unit: str, stream: TextIO, how: str):
        self.name, self.total, self.unit, self.stream, self.mode = name, total, unit, stream, how
        self.done = 0
        self.note_text = ""
        self.started = time.monotonic()
        self.last_line = self.started
        self._bar = None
        if how == "bar":
            self._bar = tqdm(total=total, desc=name, unit=unit, file=stream, leave=False, dynamic_ncols=True)

    def advance(self, n: int = 1, *, note: str | None = None) -> None:
        """``n`` more units done; ``note`` (optional) replaces the task's short status text."""
        with _lock:
            self.done += n
            if note is not None:
                self.note_text = note
            if self._bar is not None:
                if note is not None:
                    self._bar.set_postfix_str(note, refresh=False)
                self._bar.update(n)
            elif self.mode == "lines" and time.monotonic() - self.last_line >= interval():
                self._line()

    def note(self, text: str) -> None:
        """Set the short status text (shown in the bar, or on the next line)."""
        with _lock:
            self.note_text = text
            if self._bar is not None:
                self._bar.set_postfix_str(text)

    def _count(self) -> str:
        if self.total:
            return f"{self.done}/{self.total} {self.unit}s ({100 * self.done / self.total:.0f}%)"
        return f"{self.done} {self.unit}s"

    def _label(self) -> str:
        i = _stack.index(self) if self in _stack else len(_stack)
        outer = [f"{t.name} {t.done + 1}/{t.total}" if t.total else t.name for t in _stack[:i]]
        return " > ".join([*outer, self.name])

    def _line(self, event: str | None = None) -> None:
        now = time.monotonic()
        self.last_line = now
        if event == "start":
            body = f"started, {self._count()}"
        elif event == "end":
            body = f"done, {self._count()} in {_seconds(now - self.started)}"
        elif event == "stop":
            body = f"stopped after {self._count()} in {_seconds(now - self.started)}"
        else:
            body = f"{self._count()}, {_seconds(now - self.started)}"
        if self.note_text:
            body += f", {self.note_text}"
        print(f"{_stamp()} {self._label()}: {body}", file=self.stream, flush=True)

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()


@contextlib.contextmanager
def task(name: str, total: int | None = None, *, unit: str = "step",
         stream: TextIO | None = None) -> Iterator[Task]:
    """Open a task of ``total`` units (None: unknown) for the duration of the ``with`` block.

    Args:
      name: what is being done ("distilling", "teacher-noise points").
      total: how many units the task has, if known.
      unit: singular name of a unit ("step", "point", "student").
      stream: where lines and bars go (default: sys.stderr at the time of the call).

    Yields:
      the :class:`Task`; call ``advance(n, note=...)`` as work finishes.
    """
    stream = stream or sys.stderr
    how = mode(stream)
    t = Task(name, total, unit, stream, how)
    with _lock:
        _stack.append(t)
        if how == "lines":
            t._line("start")
            _start_heartbeat()
    ok = False
    try:
        yield t
        ok = True
    finally:
        with _lock:
            if how == "lines":
                t._line("end" if ok else "stop")
            t._close()
            _stack.remove(t)
            for outer in _stack:  # the lines just written named the open tasks too
                outer.last_line = t.last_line
            _wake.set()


def log(message: str, stream: TextIO | None = None) -> None:
    """One line of progress text: timestamped without a terminal, above the bars on one."""
    stream = stream or sys.stderr
    how = mode(stream)
    if how == "off":
        return
    with _lock:
        if how == "bar":
            tqdm.write(message, file=stream)
        else:
            print(f"{_stamp()} {message}", file=stream, flush=True)


def _start_heartbeat() -> None:
    global _heartbeat
    if _heartbeat is not None and _heartbeat.is_alive():
        return
    _wake.clear()
    _heartbeat = threading.Thread(target=_beat, name="jaxkd-progress", daemon=True)
    _heartbeat.start()


def _beat() -> None:
    """While a lines-mode task is open, write the innermost task's line whenever it has been
    silent for ``interval()`` seconds."""
    while True:
        with _lock:
            open_tasks = [t for t in _stack if t.mode == "lines"]
            if not open_tasks:
                return
            inner = open_tasks[-1]
            wait = inner.last_line + interval() - time.monotonic()
            if wait <= 0:
                inner._line()
                wait = interval()
        _wake.wait(min(wait, 1.0))
        _wake.clear()


def quiet_third_party() -> None:
    """Silence Hugging Face progress bars and advisory logging (warnings such as a missing
    ``bos_token_id`` in a generation config); errors still show. Safe to call before or after
    those libraries are imported, and when they are not installed."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # tqdm.auto (imported by sentence-transformers) warns in a notebook without ipywidgets; jaxkd
    # draws its own progress (module docstring).
    warnings.filterwarnings("ignore", message="IProgress not found", module="tqdm")
    if sys.modules.get("transformers") is not None:  # already imported: its settings are read
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    if sys.modules.get("huggingface_hub") is not None:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
