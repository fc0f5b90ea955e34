"""The configuration of llm-variance-aware: ``Config`` and its presets (imports no JAX: the
command line builds its flags from it)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from jaxkd import _validation as v
from jaxkd.config import option
from jaxkd.experiments.llm_study import config as llm_config


@dataclasses.dataclass(frozen=True)
class Config(llm_config.LLMConfig):
    PRESETS: ClassVar[dict] = llm_config.paper(ks=(3, 5), study_schedule=True, jaxkd_methods=True,
                                               converged_rows=True)

    ks: tuple[int, ...] = option((3,), "teacher responses per prompt k (at least 2)")
    study_schedule: bool = option(False, "also train every corrected method on the study's schedule (epochs x k "
                                  "passes over its own set: multi-response k² times single's steps) and the k× steps "
                                  "rows of the steps x method grid; the quick preset leaves them out to keep its "
                                  "budget (most of this step's training), the paper preset runs them")
    converged_rows: bool = option(False, "also train single-response and every corrected method to its own "
                                  "convergence (training-loss change below 1e-3 over 5 epochs, at most 3 x the epochs "
                                  "over its own set), and decide there; the quick preset leaves them out to keep its "
                                  "budget and decides at equal epochs per target, the paper preset runs them")
    jaxkd_methods: bool = option(False, "also train jaxkd's two additions to the study's methods: token-level soft "
                                 "targets and jaxkd's variance weighting (the variance of the mean); the quick preset "
                                 "leaves them out to keep its budget, the paper preset runs them")

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "ks", v.check_grid("k", self.ks, lambda n, k: v.check_int(n, k, minimum=2)))
