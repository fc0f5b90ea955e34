"""Experiments, one module per study section: ``Config.from_preset`` -> ``run`` -> results."""

from __future__ import annotations

from types import ModuleType

from jaxkd.experiments import bootstrap, teacher_noise, variance_aware

EXPERIMENTS: dict[str, ModuleType] = {
    "teacher-noise": teacher_noise,
    "bootstrap": bootstrap,
    "variance-aware": variance_aware,
}

__all__ = ["EXPERIMENTS"]
