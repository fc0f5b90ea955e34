"""The config fields every regression experiment shares (:class:`RegressionConfig`) and the
checks they need: JAX-free, so the command line builds its flags from it without importing JAX."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from jaxkd import _validation as v
from jaxkd.config import NO_FLAG, Presets, option
from jaxkd.data import DATASETS, check_available

#: MLP initialisations (the choices of ``--init``; :data:`jaxkd.students.mlp.INITS`, held equal by a test).
INITS = ("he", "torch")


def validate_common(cfg, task: str = "regression") -> None:
    """Checks shared by the experiment configs (students, seeds, dataset and its task)."""
    v.check_int("number of students", cfg.num_students, minimum=2)
    v.check_int("seed", cfg.seed, minimum=0)
    v.check_int("split seed", cfg.split_seed, minimum=0)
    check_available(cfg.dataset)
    spec = DATASETS.get(cfg.dataset)
    if spec is not None and spec.task != task:
        raise ValueError(f"dataset {cfg.dataset!r} is a {spec.task} set; this experiment needs {task}.")



@dataclasses.dataclass(frozen=True)
class RegressionConfig(Presets):
    """Fields every regression experiment shares; subclasses add their grids.

    ``hidden``, ``epochs``, ``learning_rate`` and ``init`` apply to MLP students (and their
    teacher) only (the study's teacher-noise protocol: 13 -> 16 -> 1 ReLU, Adam lr 0.01, 200
    full-batch epochs, PyTorch's default initialisation). ``chunk`` is the number of students
    computed at a time on each device (:mod:`jaxkd.sharding`); results are identical for any
    device count at the same chunk.
    """

    MODELS: ClassVar[tuple[str, ...]] = ("linear",)

    preset: str = option("quick", "preset these values came from", flag=NO_FLAG)
    model: str = option("linear", "student (and teacher) model class")
    dataset: str = option("boston", "dataset name (see `jaxkd datasets`) or a regression .csv (target = last column)")
    num_students: int = option(200, "number of students N", flag="--students")
    seed: int = option(0, "root seed: every source of randomness is a named stream under it")
    split_seed: int = option(0, "seed of the 80/20 train/test split")
    drop_b: bool = option(False, "drop Boston's feature B (see jaxkd/data/BOSTON.md)")
    hidden: tuple[int, ...] = option((16,), "MLP hidden layer widths")
    epochs: int = option(200, "MLP training epochs (full batch unless the experiment sets a batch size)")
    student_epochs: int | None = option(None, "MLP students' epochs when they differ from the teacher's "
                                        "(none: epochs; reproduce re-judges the claims at twice the students' budget)")
    learning_rate: float = option(0.01, "MLP Adam learning rate")
    init: str = option("torch", "MLP initialisation: torch (uniform ±1/sqrt(fan_in) weights and biases, "
                       "PyTorch's default, which the study's scripts use) or he (Kaiming-normal weights, zero biases)")
    chunk: int | None = option(None, "students computed at a time on each device (bounds memory; results are "
                               "identical across --devices at the same --chunk)")

    def floats_per_student(self, n: int, m: int, d: int) -> tuple[float, float]:
        """Memory model for :func:`guard_memory`: (numbers held for every student, numbers in
        one chunk's working set per student) for n training rows, m test rows, d features.
        Linear students hold their responses and targets (float64); MLP students their
        targets, weights, parameters with Adam state, and one chunk's activations (float32)."""
        if self.model == "linear":
            return self.responses_per_input() * n + 6 * n + 4 * m, 0.0
        widths = (d, *self.hidden, 1)
        params = sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))
        # Targets and weights: host array, device copy, padded copy for the chunks.
        return 6 * n + 6 * params + 2 * m, 8 * n * sum(self.hidden)

    @property
    def students_epochs(self) -> int:
        """The MLP students' epochs: ``student_epochs``, or the teacher's ``epochs``."""
        return self.epochs if self.student_epochs is None else self.student_epochs

    @property
    def fit_label(self) -> str | None:
        """The MLP students' budget in words (None for OLS students: nothing to train)."""
        return f"{self.students_epochs} epochs" if self.model == "mlp" else None

    def refits(self) -> dict[str, "RegressionConfig"]:
        """MLP students re-judged at twice their budget (the teacher unchanged)."""
        return ({"2x": dataclasses.replace(self, student_epochs=2 * self.students_epochs)} if self.model == "mlp"
                else {})

    def responses_per_input(self) -> int:
        """Teacher responses each linear student draws per input (k)."""
        return 1

    def __post_init__(self):
        name = self.__module__.rsplit(".", 1)[-1].replace("_", "-")
        v.check_choice(f"model for {name}", self.model, self.MODELS)
        validate_common(self)
        hidden = tuple(self.hidden)
        for w in hidden:
            v.check_int("each hidden width", w)
        object.__setattr__(self, "hidden", hidden)
        v.check_int("epochs", self.epochs)
        if self.student_epochs is not None:
            v.check_int("student epochs", self.student_epochs)
        v.check_positive("learning rate", self.learning_rate)
        v.check_choice("initialisation", self.init, INITS)
        if self.chunk is not None:
            v.check_int("chunk", self.chunk)
