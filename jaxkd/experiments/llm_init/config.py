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

    scales: tuple[float, ...] = option((0.0, 0.05), "init perturbation scales s (the quick preset: 0 and the "
                                       "study's largest, which the claim reads; the paper preset: 0 and 1%, 2%, ..., 5%)")
    tracked_students: int = option(2, "students whose parameter trajectories are drawn")
    mlp_replicates: int = option(40, "replicates of the MLP comparator, each its own MLP teacher and one init shared "
                                 "by its students (the classes share no randomness, so they are compared unpaired; "
                                 "an MLP replicate costs little, so many more than the language model's)")

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "scales", v.check_grid("perturbation scales", self.scales, v.check_nonnegative))
        if 0.0 not in self.scales or len(self.scales) < 2:
            raise ValueError(f"perturbation scales must include 0 and a scale above it (got {self.scales}): each "
                             "class's effect is its increment over its own unperturbed students.")
        v.check_int("tracked students", self.tracked_students)
        v.check_int("MLP comparator replicates", self.mlp_replicates, minimum=2)
        if self.tracked_students > self.num_students:
            raise ValueError(f"tracked students ({self.tracked_students}) cannot exceed the students per "
                             f"replicate ({self.num_students}).")
