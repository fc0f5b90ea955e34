"""The configuration of variance-attribution: ``Config`` and its presets (imports no JAX: the
command line builds its flags from it)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from jaxkd import _validation as v
from jaxkd.config import option
from jaxkd.experiments import regression_config

MODELS = ("mlp",)


@dataclasses.dataclass(frozen=True)
class Config(regression_config.RegressionConfig):
    MODELS: ClassVar[tuple[str, ...]] = MODELS

    PRESETS: ClassVar[dict] = {("paper", "*"): {"num_students": 1000, "epochs": 200}}

    model: str = "mlp"
    split_seed: int = 42  # as the teacher-noise experiment (the study's script)
    alpha: float = option(0.5, "teacher noise level α of the noisy cases")
    batch_size: int = option(32, "minibatch size (the data order is a source of randomness here)")
    frozen_draws: int = option(10, "groups of students, each with its own draw of the frozen sources; "
                               "the students divide equally among them")
    num_students: int = 100
    epochs: int = 50

    def __post_init__(self):
        super().__post_init__()
        v.check_nonnegative("alpha", self.alpha)
        v.check_int("batch size", self.batch_size)
        v.check_int("frozen draws", self.frozen_draws, minimum=2)
        if self.num_students % self.frozen_draws or self.num_students < 2 * self.frozen_draws:
            raise ValueError(f"--students ({self.num_students}) must be a multiple of --frozen-draws "
                             f"({self.frozen_draws}) with at least two students per draw.")
