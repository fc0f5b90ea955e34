"""What an experiment is: a small typed record naming its package, whose four modules each hold
one concern.

Every experiment of the study is a package ``jaxkd/experiments/<name>/`` with the same face:

* ``__init__.py`` -- its docstring only (the command line's summary and description);
* ``config.py`` -- ``Config``, a frozen dataclass mixing in :class:`jaxkd.config.Presets`
  (fields with their help, presets in ``PRESETS``), importing no JAX and no optional extra, so
  the command line builds every flag from it in a fraction of a second;
* ``run.py`` -- ``Results`` (a subclass of :class:`jaxkd.experiments.results.Results`) and
  ``run(config, run_dir=None) -> Results``: the computation;
* ``report.py`` -- ``figures(results) -> {file name: figure}`` and ``document(results) ->
  jaxkd.document.Section``;
* ``claims.py`` -- ``CLAIMS``, the study's claims it judges (:class:`jaxkd.claims.Claim`).

:class:`Experiment` imports each module when it is first asked for, and holds what it finds to
that face: a module that lacks a name, or a name of the wrong kind, is refused with a
``TypeError`` naming it. Nothing here imports JAX: the command line reads the records.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import re
from types import ModuleType
from typing import Any, Callable

from jaxkd import _extras
from jaxkd.config import Presets


@dataclasses.dataclass(frozen=True)
class Experiment:
    """One experiment: its command-line name (``teacher-noise``), its package
    (``jaxkd.experiments.teacher_noise``) and the optional extra its run needs (``"llm"``), if
    any. ``Config``, ``Results``, ``run``, ``figures``, ``document`` and ``CLAIMS`` are its
    modules' names, imported on first use."""

    name: str
    package: str
    extra: str | None = None

    def _module(self, part: str) -> ModuleType:
        return importlib.import_module(f"{self.package}.{part}" if part else self.package)

    def _get(self, part: str, attr: str, ok: Callable[[Any], bool], what: str):
        module = self._module(part)
        value = getattr(module, attr, None)
        if value is None or not ok(value):
            raise TypeError(f"{module.__name__}.{attr} must be {what} (see jaxkd.experiments.experiment).")
        return value

    @property
    def available(self) -> bool:
        """Whether the packages this experiment's run needs are installed."""
        return self.extra is None or not _extras.missing(self.extra)

    def require(self) -> None:
        """Raise :class:`jaxkd._extras.MissingExtra` (one sentence naming the install command)
        when the packages of this experiment's extra are not installed."""
        if self.extra is not None:
            _extras.require(self.extra, f"jaxkd run {self.name}")

    @property
    def summary(self) -> str:
        """The first sentence of the package's docstring."""
        return _summary_of(self._module("").__doc__)[0]

    @property
    def description(self) -> str:
        """The first paragraph of the package's docstring, lines joined."""
        return _summary_of(self._module("").__doc__)[1]

    @property
    def Config(self) -> type:  # noqa: N802 (the class, by its name in config.py)
        return self._get("config", "Config", lambda c: isinstance(c, type) and dataclasses.is_dataclass(c)
                         and issubclass(c, Presets) and c.__dataclass_params__.frozen
                         and {"preset", "model", "seed"} <= {f.name for f in dataclasses.fields(c)},
                         "a frozen dataclass mixing in jaxkd.config.Presets with preset, model and seed fields")

    @property
    def Results(self) -> type:  # noqa: N802
        # Imported here, as the modules are: the record is read by `jaxkd --help`, which
        # imports neither the results machinery nor the claims' statistics (scipy).
        from jaxkd.experiments.results import Results

        return self._get("run", "Results", lambda c: isinstance(c, type) and dataclasses.is_dataclass(c)
                         and issubclass(c, Results), "a dataclass subclass of jaxkd.experiments.results.Results")

    @property
    def run(self) -> Callable:
        """``run(config, run_dir=None) -> Results``."""
        return self._get("run", "run", callable, "a function of (config, run_dir)")

    @property
    def figures(self) -> Callable:
        """``figures(results) -> {file name: matplotlib figure}``."""
        return self._get("report", "figures", callable, "a function of (results)")

    @property
    def document(self) -> Callable:
        """``document(results) -> jaxkd.document.Section``."""
        return self._get("report", "document", callable, "a function of (results)")

    @property
    def CLAIMS(self) -> tuple:  # noqa: N802
        from jaxkd.claims import Claim

        return self._get("claims", "CLAIMS", lambda c: isinstance(c, tuple) and all(isinstance(x, Claim) for x in c),
                         "a tuple of jaxkd.claims.Claim")


@functools.cache
def _summary_of(doc: str | None) -> tuple[str, str]:
    """(first sentence, first paragraph) of a docstring, lines joined."""
    para = " ".join((doc or "").strip().split("\n\n")[0].split())
    first = re.split(r"(?<=[.?!])\s+(?=[A-Z])", para, maxsplit=1)[0]
    return first, para
