"""The configuration of llm-init: ``Config`` and its presets (imports no JAX: the command line
builds its flags from it)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from jaxkd import _validation as v
from jaxkd.config import option
from jaxkd.experiments.llm_study import config as llm_config


@dataclasses.dataclass(frozen=True)
class Config(llm_config.LLMConfig):
    PRESETS: ClassVar[dict] = llm_config.paper(num_students=20, scales=(0.0, 0.01, 0.02, 0.03, 0.04, 0.05))

    scales: tuple[float, ...] = option((0.0, 0.01, 0.05), "init perturbation scales s (the quick preset: 0, the "
                                       "study's smallest and largest; the paper preset: 0 and 1%, 2%, ..., 5%)")
    tracked_students: int = option(2, "students whose parameter trajectories are drawn")

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "scales", v.check_grid("perturbation scales", self.scales, v.check_nonnegative))
        if 0.0 not in self.scales or len(self.scales) < 2:
            raise ValueError(f"perturbation scales must include 0 and a scale above it (got {self.scales}): each "
                             "class's effect is its increment over its own unperturbed students.")
        v.check_int("tracked students", self.tracked_students)
        if self.tracked_students > self.num_students:
            raise ValueError(f"tracked students ({self.tracked_students}) cannot exceed the students per "
                             f"replicate ({self.num_students}).")
