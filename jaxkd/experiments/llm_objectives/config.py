"""The configuration of llm-objectives: ``Config`` and its presets (imports no JAX: the command
line builds its flags from it)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from jaxkd.config import option
from jaxkd.experiments.llm_study import config as llm_config


@dataclasses.dataclass(frozen=True)
class Config(llm_config.TemperatureConfig):
    """Teacher temperatures (quick: 1, 2; paper: 0.5, 1, 1.5, 2) and the shared llm fields."""

    PRESETS: ClassVar[dict] = llm_config.paper(temperatures=(0.5, 1.0, 1.5, 2.0))

    temperatures: tuple[float, ...] = option((1.0, 2.0), "teacher sampling temperatures")
