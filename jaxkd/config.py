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
import types
import typing
from typing import Any, ClassVar

NO_FLAG = "-"  # metadata flag value for fields the CLI sets some other way (e.g. preset)


def option(default: Any, help: str, *, flag: str | None = None) -> Any:
    """A config field with its CLI help; ``flag`` overrides the generated ``--field-name``."""
    return dataclasses.field(default=default, metadata={"help": help, "flag": flag})


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


class Presets:
    """Mixin for config dataclasses: ``PRESETS`` and :meth:`from_preset` (see the module)."""

    PRESETS: ClassVar[dict[tuple[str, str], dict[str, Any]]] = {}

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


def _parser_for(tp) -> tuple[Any, str]:
    """(argparse type callable or "flag", metavar) for a field's resolved type."""
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _parser_for(inner[0])
    if tp is bool:
        return "flag", ""
    if typing.get_origin(tp) is tuple:
        kind = args[0]
        return number_list(kind), f"{kind.__name__.upper()},..."
    if tp in (int, float, str):
        return {int: integer, float: real, str: str}[tp], tp.__name__.upper()
    raise TypeError(f"no CLI parser for field type {tp!r}")


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


def add_flags(parser: argparse.ArgumentParser, cls) -> None:
    """One flag per field of ``cls`` (except those whose flag is :data:`NO_FLAG`), default None
    so only what the user gives overrides the preset."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        flag = field_flag(cls, f.name)
        if flag == NO_FLAG:
            continue
        kind, metavar = _parser_for(hints[f.name])
        help_text = field_help(cls, f.name).replace("%", "%%")
        if kind == "flag":
            parser.add_argument(flag, dest=f.name, action="store_true", default=None, help=help_text)
        else:
            parser.add_argument(flag, dest=f.name, type=kind, metavar=metavar, default=None,
                                help=f"{help_text} (default: {_show(f.default)})")


def _show(value) -> str:
    if isinstance(value, tuple):
        return ",".join(str(x) for x in value)
    return "none" if value is None else str(value)


def overrides(args: argparse.Namespace, cls) -> dict[str, Any]:
    """The fields of ``cls`` the parsed ``args`` set."""
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)
            if field_flag(cls, f.name) != NO_FLAG and getattr(args, f.name, None) is not None}
