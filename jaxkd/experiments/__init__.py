"""Experiments, one module per study section: ``Config.from_preset`` -> ``run`` -> results.

``EXPERIMENTS`` (name -> module) imports every experiment the first time it is used; the
command line reads :mod:`jaxkd.experiments.registry` instead, which imports an experiment only
when it runs.
"""

from __future__ import annotations

from types import ModuleType


def __getattr__(name: str):
    if name == "EXPERIMENTS":
        from jaxkd.experiments import registry

        experiments: dict[str, ModuleType] = {n: registry.load(n) for n in registry.MODULES}
        globals()["EXPERIMENTS"] = experiments
        return experiments
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["EXPERIMENTS"]
