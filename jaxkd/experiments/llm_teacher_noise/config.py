"""The configuration of llm-teacher-noise: ``Config`` and its presets (imports no JAX: the command
line builds its flags from it)."""

from __future__ import annotations

import dataclasses

from jaxkd.experiments.llm_study import config as llm_config


@dataclasses.dataclass(frozen=True)
class Config(llm_config.TemperatureConfig):
    """Teacher temperatures (quick: 0.5, 1, 2; paper: the study's six) and the shared fields."""
