"""The configuration of bootstrap: ``Config`` and its presets (imports no JAX: the command line
builds its flags from it)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from jaxkd import _validation as v
from jaxkd.config import option
from jaxkd.experiments import regression_config

MODELS = ("linear", "mlp")
SIZES_PAPER = (40, 80, 121, 161, 202, 242, 282, 323, 363, 404)  # int(f * 404), f = 0.1, ..., 1.0
MLP_SCRIPT = {"split_seed": 1, "teacher_hidden": (128,), "hidden": (64,), "epochs": 300, "learning_rate": 1e-3}


@dataclasses.dataclass(frozen=True)
class Config(regression_config.RegressionConfig):
    MODELS: ClassVar[tuple[str, ...]] = MODELS

    # The study's scripts: b = 10%, 20%, ..., 100% of the 404 training rows; the MLP script splits
    # with seed 1 (the linear one with 42) and trains a 128-wide teacher and 64-wide students
    # for 300 epochs at Adam lr 1e-3.
    PRESETS: ClassVar[dict] = {
        ("quick", "mlp"): {"num_students": 100, **MLP_SCRIPT},
        ("paper", "*"): {"sizes": SIZES_PAPER, "num_students": 1000},
        ("paper", "mlp"): MLP_SCRIPT,
    }

    split_seed: int = 42  # the study's linear script (the MLP presets: 1, its MLP script)
    sizes: tuple[int, ...] = option((40, 80, 121, 202, 404), "bootstrap sample sizes b")
    teacher_hidden: tuple[int, ...] | None = option(None, "MLP teacher's hidden widths (default: the students')")

    def __post_init__(self):
        super().__post_init__()
        if self.teacher_hidden is not None:
            object.__setattr__(self, "teacher_hidden", tuple(
                v.check_int("each teacher hidden width", w) for w in self.teacher_hidden))
        object.__setattr__(self, "sizes", v.check_grid(
            "bootstrap sizes", self.sizes, lambda n, x: v.check_int(n, x, minimum=2)))

    def floats_per_student(self, n: int, m: int, d: int) -> tuple[float, float]:
        # Each student's resampled rows (indices, and for linear students the gathered design)
        # and its bootstrap counts come on top of the common model.
        held, chunk = super().floats_per_student(n, m, d)
        extra = max(self.sizes) * (d + 2) if self.model == "linear" else n
        return held + extra, chunk
