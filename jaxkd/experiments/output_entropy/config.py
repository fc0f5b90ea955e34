"""The configuration of output-entropy: ``Config`` and its presets (imports no JAX: the command
line builds its flags from it)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from jaxkd import _validation as v
from jaxkd.config import NO_FLAG, Presets, option
from jaxkd.data import availability
from jaxkd.experiments.classifier_config import check_classifiers
from jaxkd.experiments.regression_config import INITS

MODELS = ("logistic", "mlp")
OFFLINE = ("digits", "wine", "breast-cancer")


def _cached_extras() -> tuple[str, ...]:
    """The paper preset adds MNIST and Covertype where their caches exist."""
    return OFFLINE + tuple(d for d in ("mnist", "covertype") if availability(d)[0])


@dataclasses.dataclass(frozen=True)
class Config(Presets):
    PRESETS: ClassVar[dict] = {("paper", "*"): {"datasets": _cached_extras}}

    preset: str = option("quick", "preset these values came from", flag=NO_FLAG)
    model: str = option("all", "model class: all (every class in models), logistic or mlp (that class alone)",
                        choices=("all", *MODELS))
    datasets: tuple[str, ...] = option(OFFLINE, "classification datasets (see `jaxkd datasets`)")
    models: tuple[str, ...] = option(MODELS, "model classes to run when model is all", choices=MODELS)
    teacher_hidden: int = option(128, "MLP teacher's hidden width")
    student_hidden: int = option(64, "MLP students' hidden width")
    epochs: int = option(300, "training epochs of teacher and students (full batch; the study's scripts: 300)")
    student_epochs: int | None = option(None, "students' epochs when they differ from the teacher's (none: epochs; "
                                        "reproduce re-judges the claim at twice the students' budget)")
    learning_rate: float = option(0.01, "Adam learning rate")
    init: str = option("torch", "initialisation: torch (uniform ±1/sqrt(fan_in) weights and biases, the study's "
                       "scripts) or he (Kaiming-normal weights, zero biases)", choices=INITS)
    temperature: float = option(2.0, "softmax temperature of the soft-target students' teacher probabilities")
    replicates: int = option(10, "independent teacher trainings per dataset and model class, each with its "
                             "own students (the study trains one)")
    seed: int = option(0, "root seed: every source of randomness is a named stream under it")
    split_seed: int = option(1, "seed of the stratified 80/20 train/test split (the study's scripts: 1)")

    @property
    def students_epochs(self) -> int:
        """The students' epochs: ``student_epochs``, or the teacher's ``epochs``."""
        return self.epochs if self.student_epochs is None else self.student_epochs

    @property
    def fit_label(self) -> str:
        return f"{self.students_epochs} epochs"

    def refits(self) -> dict[str, "Config"]:
        """The claim re-judged at twice the students' budget (the same teachers)."""
        return {"2x": dataclasses.replace(self, student_epochs=2 * self.students_epochs)}

    def __post_init__(self):
        check_classifiers(self, "output-entropy", MODELS)
        v.check_choice("initialisation", self.init, INITS)
        v.check_positive("temperature", self.temperature)
        v.check_int("replicates", self.replicates, minimum=2)
        if self.student_epochs is not None:
            v.check_int("student epochs", self.student_epochs)
        v.check_int("seed", self.seed, minimum=0)
        v.check_int("split seed", self.split_seed, minimum=0)
