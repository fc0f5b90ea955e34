"""The configuration of llm-output: ``Config`` and its presets (imports no JAX: the command line
builds its flags from it)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from jaxkd.experiments.llm_study import config as llm_config


@dataclasses.dataclass(frozen=True)
class Config(llm_config.TemperatureConfig):
    """Sampling temperatures of teacher and students (quick: 0.5, 1, 1.5)."""

    PRESETS: ClassVar[dict] = llm_config.paper(num_students=20, temperatures=(0.5, 0.8, 1.0, 1.2, 1.5, 2.0))

    temperatures: tuple[float, ...] = (0.5, 1.0, 1.5)
