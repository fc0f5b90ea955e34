"""The configuration of objectives: ``Config`` and its presets (imports no JAX: the command line
builds its flags from it)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from jaxkd import _validation as v
from jaxkd.config import NO_FLAG, Presets, option
from jaxkd.experiments.classifier_config import check_classifiers

MODELS = ("logistic", "mlp")
OFFLINE = ("digits", "wine", "breast-cancer")  # as output-entropy (jaxkd.experiments.output_entropy)


@dataclasses.dataclass(frozen=True)
class Config(Presets):
    PRESETS: ClassVar[dict] = {("paper", "*"): {"teacher_hidden": 128, "student_hidden": 64, "epochs": 300,
                                                "num_seeds": 20}}

    preset: str = option("quick", "preset these values came from", flag=NO_FLAG)
    model: str = option("all", "model class: all (every class in models), logistic or mlp (that class alone)")
    datasets: tuple[str, ...] = option(OFFLINE, "classification datasets (see `jaxkd datasets`)")
    models: tuple[str, ...] = option(MODELS, "model classes to run when model is all")
    teacher_hidden: int = option(32, "MLP teachers' hidden width (the study: 128)")
    student_hidden: int = option(16, "MLP students' hidden width (the study: half the teacher's)")
    epochs: int = option(150, "full-batch Adam epochs of the teachers")
    student_epochs: int = option(3000, "students' full-batch Adam epochs: the cap of the stopping rule (the "
                                 "budget, with --stopping-tol none)")
    hard_epochs: int | None = option(300, "hard-label students' epochs, a fixed budget when the others train to "
                                     "stationarity (separable training data gives hard labels no stationary point; "
                                     "300: the study's classifiers); none: they train like the others")
    stopping_tol: float | None = option(2e-5, "students train to stationarity: each stops once its training loss "
                                        "moves by less than this share of itself over 20 epochs or its gradient "
                                        "norm falls below 10 times it (none: every student trains student_epochs)")
    learning_rate: float = option(0.01, "Adam learning rate")
    temperature: float = option(1.0, "temperature T of the soft-target objectives (both logits divided by T)")
    betas: tuple[float, ...] = option((0.1, 0.5, 0.9), "JSD(β) objectives between forward KL (β=0) and reverse KL (β=1)")
    num_seeds: int = option(10, "seeds: each a fresh teacher and a fresh student initialization", flag="--seeds")
    seed: int = option(0, "root seed: every source of randomness is a named stream under it")
    split_seed: int = option(0, "seed of the 80/20 train/test split")

    def __post_init__(self):
        check_classifiers(self, "objectives", MODELS)
        v.check_positive("temperature", self.temperature)
        v.check_int("student epochs", self.student_epochs)
        if self.hard_epochs is not None:
            v.check_int("hard-label epochs", self.hard_epochs)
        if self.stopping_tol is not None:
            v.check_positive("stopping tolerance", self.stopping_tol)

        def beta(n, b):
            if not 0.0 < b < 1.0:
                raise ValueError(f"each β must lie strictly between 0 and 1 (forward and reverse KL are run "
                                 f"anyway), got {b}.")
            return float(b)

        betas = v.check_grid("betas", self.betas, beta)
        if list(betas) != sorted(set(betas)):
            raise ValueError(f"betas must be increasing and distinct, got {betas}.")
        object.__setattr__(self, "betas", betas)
        v.check_int("number of seeds", self.num_seeds, minimum=2)
        v.check_int("seed", self.seed, minimum=0)
        v.check_int("split seed", self.split_seed, minimum=0)

    @property
    def fit_label(self) -> str:
        """How far the students train, in words."""
        if self.stopping_tol is None:
            return f"{self.student_epochs} epochs"
        hard = "" if self.hard_epochs is None else f"; hard labels {self.hard_epochs} epochs"
        return f"to stationarity (tolerance {self.stopping_tol:g}, cap {self.student_epochs} epochs{hard})"

    def refits(self) -> dict[str, "Config"]:
        """The other fits the claims are re-judged at (label -> config): twice the deciding
        budget (double the cap and the hard-label epochs, half the tolerance), and, for students
        trained to stationarity, every student at the teachers' fixed budget (the budget the
        students had before they were trained to stationarity)."""
        tol = None if self.stopping_tol is None else self.stopping_tol / 2
        hard = None if self.hard_epochs is None else 2 * self.hard_epochs
        out = {"2x": dataclasses.replace(self, student_epochs=2 * self.student_epochs, stopping_tol=tol,
                                         hard_epochs=hard)}
        if self.stopping_tol is not None:
            out["fixed"] = dataclasses.replace(self, student_epochs=self.epochs, stopping_tol=None)
        return out

    def objectives(self) -> tuple[tuple[str, float, float, bool], ...]:
        """(label, β, T, hard) for every objective, in the order students are stacked: hard
        labels, forward KL, JSD(β) for each β, reverse KL."""
        T = self.temperature
        return (("hard labels", 0.0, 1.0, True), ("forward KL", 0.0, T, False),
                *((f"JSD({b:g})", b, T, False) for b in self.betas), ("reverse KL", 1.0, T, False))
