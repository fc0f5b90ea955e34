"""The configuration of init-perturbation: ``Config`` and its presets (imports no JAX: the command
line builds its flags from it)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from jaxkd import _validation as v
from jaxkd.config import option
from jaxkd.experiments import regression_config

MODELS = ("mlp",)
LABELS = ("truth", "teacher")


@dataclasses.dataclass(frozen=True)
class Config(regression_config.RegressionConfig):
    MODELS: ClassVar[tuple[str, ...]] = MODELS

    PRESETS: ClassVar[dict] = {("paper", "*"): {  # the study's script: 13 -> 128 -> 1, 10,000 replicates
        "scales": tuple(round(0.05 * i, 2) for i in range(9)), "num_students": 1000, "hidden": (128,)}}

    model: str = "mlp"
    split_seed: int = 42          # the study's script
    epochs: int = 300             # the study's script
    init: str = "he"              # the study's script re-initialises with Kaiming-normal weights, zero biases
    scales: tuple[float, ...] = option((0.0, 0.01, 0.05, 0.1, 0.2), "init perturbation scales s")
    num_students: int = 1000      # the students an equivalence at these margins needs (the claim states its power)
    labels: str = option("truth", "what the students learn: truth (the training labels, the study's script) or "
                         "teacher (an MLP teacher's outputs on the training inputs)")
    fresh_init: bool = option(True, "each student its own Kaiming init before perturbing (the study's script); "
                              "off: one init shared by all students")
    bias_scale: float | None = option(0.1, "biases shifted by N(0, (bias_scale·s)²) (the study's script: 0.1); "
                                      "none: multiplied like the weights (zero biases stay zero)")

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "scales", v.check_grid("perturbation scales", self.scales,
                                                        v.check_nonnegative))
        v.check_choice("labels", self.labels, LABELS)
        if self.bias_scale is not None:
            v.check_nonnegative("bias scale", self.bias_scale)
