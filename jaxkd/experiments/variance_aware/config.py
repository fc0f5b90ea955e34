"""The configuration of variance-aware: ``Config`` and its presets (imports no JAX: the command
line builds its flags from it)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from jaxkd import _validation as v
from jaxkd.config import option
from jaxkd.experiments import regression_config

MODELS = ("linear", "mlp")
KS_PAPER = (1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 20, 30, 40, 50)


@dataclasses.dataclass(frozen=True)
class Config(regression_config.RegressionConfig):
    MODELS: ClassVar[tuple[str, ...]] = MODELS

    PRESETS: ClassVar[dict] = {
        ("quick", "mlp"): {"num_students": 100, "ks": (1, 3, 10), "alphas": (0.1, 0.5, 1.0)},
        ("paper", "*"): {"alphas": (0.01, 0.1, 0.5, 1.0), "ks": KS_PAPER, "num_students": 1000},
    }

    split_seed: int = 42  # the study's scripts
    alphas: tuple[float, ...] = option((0.1, 1.0), "teacher noise levels α (σ² = α·Var(y_train))")
    ks: tuple[int, ...] = option((1, 3, 5, 10, 20), "teacher responses per input k")

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "alphas", v.check_grid("alphas", self.alphas, v.check_positive))
        object.__setattr__(self, "ks", v.check_grid("k", self.ks, v.check_int))

    def responses_per_input(self) -> int:
        return max(self.ks)
