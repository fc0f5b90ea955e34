"""Experiments, one module per study section: ``Config.from_preset`` -> ``run`` -> results."""

from __future__ import annotations

from types import ModuleType

from jaxkd.experiments import (
    bootstrap,
    init_perturbation,
    output_entropy,
    teacher_noise,
    variance_attribution,
    variance_aware,
)

EXPERIMENTS: dict[str, ModuleType] = {
    "teacher-noise": teacher_noise,
    "init-perturbation": init_perturbation,
    "bootstrap": bootstrap,
    "output-entropy": output_entropy,
    "variance-aware": variance_aware,
    "variance-attribution": variance_attribution,
}

__all__ = ["EXPERIMENTS"]
