"""The configuration every llm-* experiment shares (quick defaults, the paper preset's values).

JAX-free and importable without the llm extra, so the command line builds the llm-* flags from
it; the parts that read a checkpoint or build sampling settings import :mod:`jaxkd.llm` (the
optional extra) when they are used."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import ClassVar

from jaxkd import _validation as v
from jaxkd.config import NO_FLAG, Presets, option

# The paper preset of every llm-* experiment: Hugging Face checkpoints fine-tuned with the
# Trainer's defaults at lr 5e-5, 3 epochs at batch 10, as the study; the checkpoint's dropout.
PAPER = {"num_students": 10, "replicates": 5, "teacher_epochs": 3, "base_epochs": 0, "epochs": 3, "evaluation": "held-out",
         "batch_size": 10, "learning_rate": 5e-5, "teacher_learning_rate": 5e-5, "max_new_tokens": 64,
         "samples": 20}

#: The distillation optimizers by name (:data:`jaxkd.llm.optim.OPTIMIZERS`'s keys, held equal by a test).
OPTIMIZERS = ("trainer", "warmup-cosine")

#: Positions of the quick preset's models (jaxkd's small and tiny shapes of either family).
QUICK_POSITIONS = 128


def default_rungs(preset: str, epochs: int) -> tuple[int, ...]:
    """The fit ladder when ``--rungs`` is not given: two thirds of the epochs (the quick preset's
    40 of 60), and a third as well at the paper preset (1 and 2 of 3); rungs that fall on no
    epoch strictly inside the run are left out."""
    shares = (1 / 3, 2 / 3) if preset == "paper" else (2 / 3,)
    return tuple(dict.fromkeys(r for r in (round(f * epochs) for f in shares) if 1 <= r < epochs))


@dataclasses.dataclass(frozen=True)
class LLMConfig(Presets):
    """Fields shared by the llm-* experiments (quick defaults; ``PRESETS`` the paper's)."""

    MODELS: ClassVar[tuple[str, ...]] = ("gpt2", "llama")
    PRESETS: ClassVar[dict] = {("paper", "*"): PAPER}

    preset: str = option("quick", "preset these values came from", flag=NO_FLAG)
    model: str = option("gpt2", "decoder family of teacher and students: gpt2, or llama (the Llama family: Llama, "
                        "Qwen2, Qwen3, Mistral; at the paper preset the checkpoints' model_type must be one of them)")
    num_students: int = option(2, "students per replicate N", flag="--students")
    replicates: int = option(5, "independent replicates R behind every interval (at least 2): each its own teacher "
                             "draws, base student, data order and evaluation samples")
    seed: int = option(0, "root seed: every source of randomness is a named stream under it")
    num_questions: int = option(50, "questions in the synthetic QA corpus (quick preset)")
    vocab_size: int = option(512, "BPE vocabulary trained on the corpus (quick preset)")
    teacher_epochs: int = option(10, "passes of teacher training (fine-tuning) over its answers")
    teacher_learning_rate: float = option(3e-3, "peak learning rate of teacher and base-student training")
    base_epochs: int = option(16, "passes of base-student pre-training over the corpus's language, never over "
                              "question -> answer pairs (quick preset; 0 at paper: the checkpoint as published). 16, "
                              "not fewer: base students that know the answers' language reach valid answers sooner "
                              "along distillation, as the study's pre-trained DistilGPT2 does (scripts/regime_probe.py)")
    epochs: int = option(60, "passes over each student's distillation set (the study: 3; tiny students trained from "
                         "scratch need about 300 steps to learn the quick corpus)")
    rungs: tuple[int, ...] | None = option(None, "the fit ladder: epochs (of --epochs) at which every student is "
                                           "also measured as its training passes them (checkpoints of one run, the "
                                           "learning-rate schedule the whole run's; rows on other schedules at the "
                                           "same share of their training; rows trained to their own convergence "
                                           "are measured where they stopped), every claim judged there too "
                                           "(default: two thirds of --epochs: 40 of the quick preset's 60, the "
                                           "least-trained fit at which scripts/regime_probe.py found its students "
                                           "answering validly; the paper preset: 1 and 2 of its 3)")
    rung: int | None = option(None, "the rung these results are measured at (None: where training ended)",
                              flag=NO_FLAG)
    batch_size: int = option(10, "training batch size")
    learning_rate: float = option(3e-3, "peak learning rate of distillation")
    optimizer: str = option("trainer", "distillation optimizer: trainer (the Hugging Face Trainer's defaults, the "
                            "study's: AdamW, no weight decay, no warm-up, linear decay to 0) or warmup-cosine")
    samples: int = option(8, "sampled answers per prompt to measure a model (teacher and students alike)")
    evaluation: str = option("distillation", "prompts models are measured on: distillation (the students' own "
                             "distillation prompts) or held-out (the synthetic questions in a held-out phrasing; 20% "
                             "of a QA file's questions, held out from distillation)")
    max_new_tokens: int = option(16, "longest sampled answer, in tokens")
    top_k: int = option(50, "top-k sampling (0 keeps all tokens)")
    repetition_penalty: float = option(1.2, "repetition penalty (1 = off)")
    teacher: str | None = option(None, "paper preset: teacher Hugging Face checkpoint folder (the study: GPT-2)")
    student: str | None = option(None, "paper preset: student Hugging Face checkpoint folder (the study: DistilGPT2)")
    qa_file: str | None = option(None, "paper preset: BioASQ JSON or [{question, answer}] JSON")

    def __post_init__(self):
        v.check_choice("model for llm experiments", self.model, self.MODELS)
        for name in ("num_students", "replicates", "num_questions", "vocab_size", "teacher_epochs", "epochs",
                     "batch_size", "samples", "max_new_tokens"):
            minimum = 2 if name in ("num_students", "replicates", "samples") else 1
            v.check_int(name.replace("_", " "), getattr(self, name), minimum=minimum)
        v.check_int("base epochs", self.base_epochs, minimum=0)
        rungs = default_rungs(self.preset, self.epochs) if self.rungs is None else tuple(self.rungs)
        for r in rungs:
            v.check_int("rung", r)
        if list(rungs) != sorted(set(rungs)) or (rungs and rungs[-1] >= self.epochs):
            raise ValueError(f"--rungs must be increasing epochs below --epochs {self.epochs}; got {list(rungs)}.")
        object.__setattr__(self, "rungs", rungs)
        if self.rung is not None and self.rung not in rungs:
            raise ValueError(f"rung {self.rung} is not one of the rungs {list(rungs)}.")
        v.check_int("seed", self.seed, minimum=0)
        v.check_positive("learning rate", self.learning_rate)
        v.check_positive("teacher learning rate", self.teacher_learning_rate)
        v.check_choice("optimizer", self.optimizer, OPTIMIZERS)
        v.check_choice("evaluation", self.evaluation, ("distillation", "held-out"))
        self.sampling(1.0)
        paths = (self.teacher, self.student, self.qa_file)
        if self.preset == "paper" and None in paths:
            raise ValueError("--preset paper needs --teacher and --student Hugging Face checkpoint "
                             "folders and --qa-file (BioASQ or [{question, answer}] JSON).")
        for name, p in zip(("teacher", "student", "qa file"), paths):
            if p is not None and not Path(p).exists():
                raise ValueError(f"{name} path {p} does not exist.")
        if self.student is not None:
            self._check_families()
        if self.student is not None and self.base_epochs:
            raise ValueError("--base-epochs pre-trains the quick preset's base student; with --student the "
                             "checkpoint is used as published (give --base-epochs 0).")
        positions = self.positions
        if self.max_new_tokens >= positions:
            raise ValueError(f"--max-new-tokens {self.max_new_tokens} leaves no room for a prompt in the models' "
                             f"{positions} positions; give at most {positions - 8}.")

    def _check_families(self) -> None:
        """The checkpoints are of ``model``'s family (their configs read, exact or refused)."""
        from jaxkd.llm import families  # the optional extra: read the checkpoints' configs

        for role, path in (("teacher", self.teacher), ("student", self.student)):
            if path is not None:
                found = families.class_name(families.config_from_hf(path))
                if found != self.model:
                    raise ValueError(f"the {role} checkpoint {path} is a {found} model but --model is {self.model}; "
                                     f"give --model {found}.")

    @property
    def fit_label(self) -> str:
        """How far the students these results read have trained: "40 of 60 epochs" at a rung."""
        return f"{self.epochs} epochs" if self.rung is None else f"{self.rung} of {self.epochs} epochs"

    @property
    def fit_level(self) -> float:
        """The share of the run the students had trained (1 where it ended): orders the ladder."""
        return 1.0 if self.rung is None else self.rung / self.epochs

    def refits(self) -> dict[str, "LLMConfig"]:
        """The fit ladder: this config at every rung (:attr:`rungs`), each judged in its own
        right (the training is shared: the rungs are checkpoints of the same run)."""
        if self.rung is not None:
            return {}
        return {f"epoch-{r}": dataclasses.replace(self, rung=r) for r in self.rungs}

    @property
    def positions(self) -> int:
        """The students' positions (the longest prompt + answer they can hold)."""
        if self.student is not None:
            from jaxkd.llm import families  # the optional extra: read the checkpoints' configs

            return min(families.config_from_hf(self.student).n_positions,
                       families.config_from_hf(self.teacher).n_positions if self.teacher else math.inf)
        return QUICK_POSITIONS

    def sampling(self, temperature: float):
        """The :class:`jaxkd.llm.sampling.SamplingConfig` at ``temperature``."""
        from jaxkd.llm import sampling  # the optional extra

        return sampling.SamplingConfig(self.max_new_tokens, temperature, self.top_k, self.repetition_penalty)

    @property
    def greedy(self):
        """Top-1 decoding (the study's alignment), with the same length and repetition penalty."""
        return self.sampling(1.0).top1

    @property
    def family_label(self) -> str:
        """The decoder family in words, for reports: "GPT-2" or "Llama-family"."""
        return "GPT-2" if self.model == "gpt2" else "Llama-family"

    @property
    def total_students(self) -> int:
        return self.num_students * self.replicates

    def steps(self, pairs: int, passes: int | None = None) -> int:
        """Optimisation steps of ``passes`` (default ``epochs``) epochs over ``pairs`` training
        pairs at this batch size (the last batch of an epoch may be smaller)."""
        return (self.epochs if passes is None else passes) * math.ceil(pairs / self.batch_size)


@dataclasses.dataclass(frozen=True)
class SetupConfig:
    """What the shared setup (corpus, tokenizer, teacher, base student) depends on: the fields
    of the same names in :class:`LLMConfig`. :func:`jaxkd.experiments.llm_study.setup.build_setup`
    sees nothing else, and the cache key hashes all of it, so a field added here is part of the key."""

    seed: int
    model: str
    num_questions: int
    vocab_size: int
    replicates: int
    teacher_epochs: int
    base_epochs: int
    batch_size: int
    teacher_learning_rate: float
    teacher: str | None
    student: str | None
    qa_file: str | None
    evaluation: str

    @classmethod
    def of(cls, cfg: LLMConfig) -> "SetupConfig":
        return cls(**{f.name: getattr(cfg, f.name) for f in dataclasses.fields(cls)})


def paper(**extra) -> dict:
    """An llm-* experiment's PRESETS: the shared paper values plus its own."""
    return {("paper", "*"): {**PAPER, **extra}}


@dataclasses.dataclass(frozen=True)
class TemperatureConfig(LLMConfig):
    """An llm-* config with a teacher-temperature grid."""

    PRESETS: ClassVar[dict] = paper(temperatures=(0.5, 0.8, 1.0, 1.2, 1.5, 2.0))

    temperatures: tuple[float, ...] = option((0.5, 1.0, 2.0), "teacher sampling temperatures (the quick preset: the "
                                             "study's lowest, 1 and its highest; the paper preset: its six)")

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "temperatures", v.check_grid("temperatures", self.temperatures, v.check_positive))
