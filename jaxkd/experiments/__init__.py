"""Experiments, one module per study section: ``Config.from_preset`` -> ``run`` -> results."""

from __future__ import annotations

from types import ModuleType

from jaxkd.experiments import (
    bootstrap,
    init_perturbation,
    llm_init,
    llm_noise_transfer,
    llm_output,
    llm_teacher_noise,
    llm_variance_aware,
    objectives,
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
    "objectives": objectives,
    "llm-teacher-noise": llm_teacher_noise,
    "llm-init": llm_init,
    "llm-output": llm_output,
    "llm-variance-aware": llm_variance_aware,
    "llm-noise-transfer": llm_noise_transfer,
}

__all__ = ["EXPERIMENTS"]
