"""The configuration of teacher-noise: ``Config`` and its presets (imports no JAX: the command
line builds its flags from it)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from jaxkd import _validation as v
from jaxkd.config import option
from jaxkd.experiments import regression_config

ALPHAS_PAPER = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 1.75, 2.0)
MODELS = ("linear", "mlp")


@dataclasses.dataclass(frozen=True)
class Config(regression_config.RegressionConfig):
    MODELS: ClassVar[tuple[str, ...]] = MODELS

    PRESETS: ClassVar[dict] = {("quick", "mlp"): {"num_students": 100},
                               ("paper", "*"): {"alphas": ALPHAS_PAPER, "num_students": 1000}}

    split_seed: int = 42  # the study's script
    alphas: tuple[float, ...] = option((0.0, 0.25, 0.5, 1.0, 1.5, 2.0),
                                       "teacher noise levels α (σ² = α·Var(y_train))")

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "alphas", v.check_grid("alphas", self.alphas, v.check_nonnegative))
