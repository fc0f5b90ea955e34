"""One config system for every experiment: frozen dataclasses whose fields carry their help,
presets keyed by (preset, model), and the CLI flags generated from the fields.

A config class is a frozen dataclass that mixes in :class:`Presets`. Each field is declared
with :func:`option` (its default is the quick preset's value; its help is the CLI's), and the
class's ``PRESETS`` table holds every other preset value, once: ``{(preset, model): {field:
value}}``, where model ``"*"`` applies to every model and a model's own entry is applied over
it. ``Config.from_preset(preset, **overrides)`` resolves a preset for the model in
``overrides`` (or the field default) and applies the overrides; the dataclass's
``__post_init__`` validates the result, so the library and the CLI share one validation path.
:func:`add_flags` turns the fields into argparse flags (``--field-name``; types, comma lists
and help from the field), so adding a field adds its flag.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import types
import typing
from typing import Any, ClassVar

NO_FLAG = "-"  # metadata flag value for fields the CLI sets some other way (e.g. preset)


def option(default: Any, help: str, *, flag: str | None = None, choices: tuple | None = None) -> Any:
    """A config field with its CLI help; ``flag`` overrides the generated ``--field-name``;
    ``choices`` lists the accepted values (of each element, for a tuple field)."""
    return dataclasses.field(default=default, metadata={"help": help, "flag": flag, "choices": choices})


def _metadata(cls, name: str, key: str):
    """``key`` of field ``name``'s metadata from the nearest class in the MRO that sets it (a
    subclass may redeclare a field with a new default and keep its help and flag)."""
    for klass in cls.__mro__:
        f = getattr(klass, "__dataclass_fields__", {}).get(name)
        if f is not None and f.metadata.get(key):
            return f.metadata[key]
    return None


def field_help(cls, name: str) -> str:
    """The help of field ``name``."""
    text = _metadata(cls, name, "help")
    if text is None:
        raise ValueError(f"{cls.__qualname__}.{name} has no help text; declare it with jaxkd.config.option.")
    return text


def field_flag(cls, name: str) -> str:
    """The CLI flag of field ``name``: ``--field-name`` unless the field names another."""
    return _metadata(cls, name, "flag") or "--" + name.replace("_", "-")


def field_choices(cls, name: str) -> tuple | None:
    """The accepted values of field ``name``: its ``choices``, or for ``model`` the class's
    ``MODELS``; None when any value of its type may do."""
    choices = _metadata(cls, name, "choices")
    if choices is None and name == "model":
        choices = getattr(cls, "MODELS", None)
    return None if choices is None else tuple(choices)


class Presets:
    """Mixin for config dataclasses: ``PRESETS`` and :meth:`from_preset` (see the module)."""

    PRESETS: ClassVar[dict[tuple[str, str], dict[str, Any]]] = {}

    @property
    def fit_label(self) -> str | None:
        """How far this config trains its students, in words (None: nothing is trained to a
        budget, as for OLS students)."""
        return None

    def refits(self) -> dict[str, "Presets"]:
        """The other training budgets this config's claims are re-judged at: label -> config
        (default: none)."""
        return {}

    @classmethod
    def preset_names(cls) -> tuple[str, ...]:
        return tuple(dict.fromkeys(["quick", *(p for p, _ in cls.PRESETS)]))

    @classmethod
    def from_preset(cls, preset: str = "quick", **overrides):
        """The config of ``preset`` for the model in ``overrides`` (default: the field's), with
        ``overrides`` applied (None values ignored)."""
        names = cls.preset_names()
        if preset not in names:
            raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(names)}.")
        fields = {f.name for f in dataclasses.fields(cls)}
        given = {k: val for k, val in overrides.items() if val is not None}
        unknown = sorted(k for k in given if k not in fields)
        if unknown:
            raise ValueError(f"{cls.__module__.rsplit('.', 1)[-1]} has no option {', '.join(unknown)}.")
        model = given.get("model", cls.__dataclass_fields__["model"].default)
        values = {}
        for key in ((preset, "*"), (preset, model)):
            entry = cls.PRESETS.get(key, {})
            values |= {k: (val() if callable(val) else val) for k, val in entry.items()}
        return cls(**{**values, **given, "preset": preset})


def number_list(kind):
    def parse(text: str):
        try:
            values = tuple(kind(x) for x in text.split(",") if x.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated {kind.__name__} values, got {text!r}") from None
        if not values:
            raise argparse.ArgumentTypeError("expected at least one value")
        return values

    return parse


def integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def real(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _kind(tp) -> str:
    """A field type as a short spec: int, float, str, bool, or int..., float..., str... for a
    comma-separated tuple; "?" appended when None is allowed."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _kind(inner[0]) + "?"
    if typing.get_origin(tp) is tuple:
        return typing.get_args(tp)[0].__name__ + "..."
    if tp in (bool, int, float, str):
        return tp.__name__
    raise TypeError(f"no CLI parser for field type {tp!r}")


def _show(value) -> str:
    if callable(value):  # a preset value computed when the config is built
        doc = (value.__doc__ or value.__name__).strip().splitlines()[0].rstrip(".")
        return f"computed: {doc[0].lower() + doc[1:]}"
    if isinstance(value, tuple):
        return ",".join(str(x) for x in value)
    return "none" if value is None else str(value)


def preset_values(cls) -> dict[str, dict[str, dict[str, Any]]]:
    """``{preset: {model: {field: value}}}``: what :meth:`Presets.from_preset` gives each field
    for each model before overrides and validation (a computed value stays a callable)."""
    models = field_choices(cls, "model") or (cls.__dataclass_fields__["model"].default,)
    out: dict = {}
    for preset in cls.preset_names():
        out[preset] = {}
        for model in models:
            values = {f.name: f.default for f in dataclasses.fields(cls)}
            for key in ((preset, "*"), (preset, model)):
                values |= cls.PRESETS.get(key, {})
            out[preset][model] = values
    return out


def defaults_text(cls, name: str) -> str:
    """The defaults of field ``name`` per preset (and per model where they differ), for help:
    ``200``; ``quick 200, paper 1000``; ``quick: linear 200, mlp 100; paper 1000``."""
    if name == "model":
        return _show(cls.__dataclass_fields__["model"].default)
    per = {p: {m: _show(vals[name]) for m, vals in by_model.items()} for p, by_model in preset_values(cls).items()}
    distinct = {v for by_model in per.values() for v in by_model.values()}
    if len(distinct) == 1:
        return distinct.pop()
    parts = []
    for preset, by_model in per.items():
        if len(set(by_model.values())) == 1:
            parts.append(f"{preset} {next(iter(by_model.values()))}")
        else:
            parts.append(f"{preset}: " + ", ".join(f"{m} {v}" for m, v in by_model.items()))
    return "; ".join(parts)


def field_specs(cls) -> list[dict]:
    """One dict per flag of ``cls`` (fields whose flag is not :data:`NO_FLAG`): field name,
    flag, kind (:func:`_kind`), help, choices, and the defaults text. The CLI builds its
    parser from these without importing the experiment's computation (:mod:`jaxkd.cli`)."""
    hints = typing.get_type_hints(cls)
    specs = []
    for f in dataclasses.fields(cls):
        flag = field_flag(cls, f.name)
        if flag == NO_FLAG:
            continue
        choices = field_choices(cls, f.name)
        specs.append({"field": f.name, "flag": flag, "kind": _kind(hints[f.name]), "help": field_help(cls, f.name),
                      "choices": None if choices is None else list(choices), "default": defaults_text(cls, f.name)})
    return specs


def parser_for_kind(kind: str):
    """The argparse ``type`` for a :func:`_kind` spec (None for a bool flag)."""
    base = kind.rstrip("?")
    if base.endswith("..."):
        return number_list({"int": int, "float": float, "str": str}[base[:-3]])
    return {"int": integer, "float": real, "str": str, "bool": None}[base]


def add_spec_flags(parser: argparse.ArgumentParser, specs: list[dict]) -> None:
    """One flag per spec (:func:`field_specs`), default None so only what the user gives
    overrides the preset; help ends with the defaults per preset."""
    for spec in specs:
        help_text = spec["help"].replace("%", "%%")
        base = spec["kind"].rstrip("?")
        if base == "bool":
            parser.add_argument(spec["flag"], dest=spec["field"], action=argparse.BooleanOptionalAction, default=None,
                                help=help_text + f" (default: {spec['default']})".replace("%", "%%"))
            continue
        choices = spec["choices"]
        metavar = base.upper().replace("...", ",...")
        if choices:
            metavar = "{" + ",".join(choices) + "}" + (",..." if base.endswith("...") else "")
        help_text += f" (default: {spec['default']})".replace("%", "%%")
        parser.add_argument(spec["flag"], dest=spec["field"], metavar=metavar, default=None, help=help_text,
                            type=_checked(parser_for_kind(spec["kind"]), choices))


def _checked(parse, choices):
    """``parse`` followed by a choices check that works for comma lists too."""
    if not choices:
        return parse

    def check(text):
        value = parse(text)
        for item in (value if isinstance(value, tuple) else (value,)):
            if item not in choices:
                close = ([c for c in choices if str(c).lower() == str(item).lower()]
                         or difflib.get_close_matches(str(item), choices, n=1))
                hint = f"; did you mean {close[0]}?" if close else ""
                raise argparse.ArgumentTypeError(f"{item!r} is not one of {', '.join(choices)}{hint}")
        return value

    return check


def checked_list(choices) -> Any:
    """An argparse ``type``: comma-separated names, each one of ``choices``."""
    return _checked(number_list(str), tuple(choices))


def add_flags(parser: argparse.ArgumentParser, cls) -> None:
    """One flag per field of ``cls`` (except those whose flag is :data:`NO_FLAG`), default None
    so only what the user gives overrides the preset."""
    add_spec_flags(parser, field_specs(cls))


def overrides(args: argparse.Namespace, cls) -> dict[str, Any]:
    """The fields of ``cls`` the parsed ``args`` set."""
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)
            if field_flag(cls, f.name) != NO_FLAG and getattr(args, f.name, None) is not None}
