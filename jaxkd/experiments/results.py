"""The typed results every experiment's ``run`` returns: :class:`Results` (frozen, holding its
config, saved as ``results.json`` by field name) and :class:`EnsembleResults` (a grid whose
points each measure one ensemble, :class:`jaxkd.uncertainty.EnsembleMetrics`'s fields)."""

from __future__ import annotations

import dataclasses
from typing import Any

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
    """Results whose grid points each measure one ensemble
    (:class:`jaxkd.uncertainty.EnsembleMetrics`): its fields, by the same names, one entry per
    point."""

    inter_student_variance: tuple[float, ...]
    inter_student_variance_se: tuple[float, ...]
    mse_teacher: tuple[float, ...]
    mse_teacher_std: tuple[float, ...]
    mse_truth: tuple[float, ...]
    mse_truth_std: tuple[float, ...]
    mse_truth_variance: tuple[float, ...]
    mse_truth_variance_se: tuple[float, ...]
