"""The configuration of llm-topk: ``Config`` and its presets (imports no JAX: the command line
builds its flags from it)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from jaxkd import _validation as v
from jaxkd.config import option
from jaxkd.experiments.llm_study import config as llm_config


@dataclasses.dataclass(frozen=True)
class Config(llm_config.LLMConfig):
    """The teacher's top-k sizes, its temperature and the convergence rows, beside the shared llm fields."""

    PRESETS: ClassVar[dict] = llm_config.paper()

    rungs: tuple[int, ...] | None = option((), "no fit ladder here: llm-topk judges X.8 and X.9 on its own budget axis "
                                    "(equal steps, and converged under the stopping rule), and its calibration and "
                                    "tail mass are measured on the trained students only")

    ks: tuple[int, ...] = option((1, 5, 20, 100), "teacher top-k sizes (each in both target forms; the full "
                                 "distribution is always a row)")
    temperature: float = option(1.0, "teacher temperature of the students' draws and of the soft targets")
    converged: bool = option(True, "also train every row until each student's training loss stops moving (relative "
                             "change below 1e-3 over 5 epochs, at most three times the steps)")

    def __post_init__(self):
        super().__post_init__()
        if self.rungs:
            raise ValueError("llm-topk runs no fit ladder (its calibration and tail mass are measured where training "
                             "ended, on its own budget axis: equal steps and converged); leave --rungs out.")
        object.__setattr__(self, "ks", v.check_grid("k", self.ks, lambda n, k: v.check_int(n, k, minimum=1)))
        v.check_positive("temperature", self.temperature)
