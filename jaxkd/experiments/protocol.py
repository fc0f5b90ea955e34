"""What every experiment module is: the :class:`Experiment` protocol and the typed results it
returns.

An experiment module has one face (docs/architecture.md): a frozen ``Config`` with presets, a
``Results`` class (a subclass of :class:`Results`), ``run(config, run_dir=None) -> Results``,
``figures(results) -> {file name: matplotlib figure}``, ``document(results) ->
jaxkd.document.Section`` and ``CLAIMS``, the study's claims it judges. :func:`check` holds a
module to that face; :func:`jaxkd.experiments.registry.load` runs it on every experiment it
imports, so a module that drifts is refused with one sentence saying what it lacks.
"""

from __future__ import annotations

import dataclasses
import inspect
from types import ModuleType
from typing import Any, Callable, Protocol, runtime_checkable

from jaxkd.claims import Claim
from jaxkd.config import Presets
from jaxkd.runs import to_jsonable


def frozen(value):
    """JSON-shaped values made immutable: lists (of lists) become tuples."""
    if isinstance(value, (list, tuple)):
        return tuple(frozen(v) for v in value)
    return value


@dataclasses.dataclass(frozen=True)
class Results:
    """Base of every experiment's typed results: a frozen dataclass holding the config it came
    from and one field per measured quantity (per-point fields are tuples over the grid, in
    grid order; aggregates are scalars). Fields typed ``X | None`` exist for some models only
    (None otherwise). ``to_json()`` is what ``results.json`` holds: the field names are its
    stable keys."""

    config: Any

    @classmethod
    def build(cls, config, values: dict) -> "Results":
        """The typed results from measured ``values`` (field name -> value); every field that is
        not optional must be given, and nothing else may be."""
        fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "config"}
        extra = sorted(set(values) - set(fields))
        missing = sorted(n for n, f in fields.items() if f.default is dataclasses.MISSING and n not in values)
        if extra or missing:
            raise TypeError(f"{cls.__module__}.Results: unexpected {extra}, missing {missing}.")
        return cls(config=config, **{k: frozen(val) for k, val in values.items()})

    @classmethod
    def from_json(cls, config, data: dict) -> "Results":
        """The typed results from what ``results.json`` holds (its "config" entry is replaced by
        ``config``; JSON's None stands where a value was NaN)."""
        return cls.build(config, {k: val for k, val in data.items() if k != "config"})

    def to_json(self) -> dict:
        """``{"config": ..., field: value, ...}``; optional fields that are None are left out."""
        out = {"config": to_jsonable(dataclasses.asdict(self.config))}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name != "config" and not (value is None and f.default is None):
                out[f.name] = to_jsonable(value)
        return out


@dataclasses.dataclass(frozen=True)
class EnsembleResults(Results):
    """Results whose grid points each measure one ensemble by
    :func:`jaxkd.uncertainty.ensemble_metrics`: those quantities, one entry per point."""

    inter_student_variance: tuple[float, ...]
    inter_student_variance_se: tuple[float, ...]
    mse_teacher: tuple[float, ...]
    mse_teacher_std: tuple[float, ...]
    mse_truth: tuple[float, ...]
    mse_truth_std: tuple[float, ...]
    mse_truth_variance: tuple[float, ...]
    mse_truth_variance_se: tuple[float, ...]


@runtime_checkable
class Experiment(Protocol):
    """The face of an experiment module (module attributes)."""

    Config: type
    Results: type
    CLAIMS: tuple
    run: Callable[..., Results]
    figures: Callable[[Results], dict]
    document: Callable[[Results], Any]


# Callables and the parameters they must accept, in order.
_SIGNATURES = {"run": ("cfg", "run_dir"), "figures": ("res",), "document": ("res",)}


def check(module: ModuleType) -> ModuleType:
    """``module`` if it satisfies :class:`Experiment`, else ``TypeError`` naming what is wrong:
    a missing attribute, a ``Config`` that is not a frozen dataclass with presets, a ``Results``
    that is not a :class:`Results` dataclass, a callable with other parameters, or ``CLAIMS``
    that are not :class:`~jaxkd.claims.Claim` objects."""
    name = module.__name__
    missing = [a for a in ("Config", "Results", "CLAIMS", *_SIGNATURES) if not hasattr(module, a)]
    if missing:
        raise TypeError(f"experiment module {name} lacks {', '.join(missing)} (see jaxkd.experiments.protocol).")
    cfg = module.Config
    if not (dataclasses.is_dataclass(cfg) and issubclass(cfg, Presets) and cfg.__dataclass_params__.frozen):
        raise TypeError(f"{name}.Config must be a frozen dataclass mixing in jaxkd.config.Presets.")
    if not ({"preset", "model", "seed"} <= {f.name for f in dataclasses.fields(cfg)}):
        raise TypeError(f"{name}.Config must have preset, model and seed fields.")
    res = module.Results
    if not (dataclasses.is_dataclass(res) and issubclass(res, Results)):
        raise TypeError(f"{name}.Results must be a dataclass subclass of jaxkd.experiments.protocol.Results.")
    for attr, params in _SIGNATURES.items():
        fn = getattr(module, attr)
        got = tuple(inspect.signature(fn).parameters)[:len(params)] if callable(fn) else None
        if got is None or len(got) < len(params):
            raise TypeError(f"{name}.{attr} must be a function of ({', '.join(params)}).")
    if not (isinstance(module.CLAIMS, tuple) and all(isinstance(c, Claim) for c in module.CLAIMS)):
        raise TypeError(f"{name}.CLAIMS must be a tuple of jaxkd.claims.Claim.")
    return module
