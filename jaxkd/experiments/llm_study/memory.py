"""The memory of an llm-* experiment: refused before anything trains when not even one student
fits, else trained and sampled in chunks of as many students as fit.

The R x N students never need to be in memory together: each chunk is distilled, sampled and
dropped (:func:`jaxkd.experiments.llm_study.replicates.train_and_sample`), so the peak is one
chunk's training or sampling, whatever R x N is. What the students keep grows with the number
of questions, so the guard reads the experiment's QA file (:func:`jaxkd.data.qa.load_qa_file`, which the setup
builds its corpus from too: it lives here, below :mod:`jaxkd.experiments.llm_study.setup`).
Estimates are bytes (:mod:`jaxkd.llm.budget`).
"""

from __future__ import annotations

import dataclasses

from jaxkd import memory
from jaxkd.data import qa
from jaxkd.experiments.llm_study.config import QUICK_POSITIONS, LLMConfig
from jaxkd.llm import budget, families


@dataclasses.dataclass(frozen=True)
class Estimate:
    """Peak bytes of an llm-* experiment: ``all_at_once`` (every student trained in one call, as
    before students were chunked), ``per_student`` (one student's training), ``chunk`` (students
    trained at a time on this machine), ``peak`` (one chunk's training) and ``one_sequence``
    (sampling one sequence from one student: the least sampling can do)."""

    all_at_once: int
    per_student: int
    chunk: int
    peak: int
    one_sequence: int


def estimate(cfg: LLMConfig, *, soft: bool = False) -> Estimate:
    """The estimate for ``cfg``'s student shape, a nominal prompt of 32 tokens plus an answer."""
    shape = families.config_from_hf(cfg.student) if cfg.student else families.CLASSES[cfg.model].tiny(cfg.vocab_size)
    model = families.abstract(shape)
    length = min(shape.n_positions if cfg.student else QUICK_POSITIONS, 32 + cfg.max_new_tokens)
    n = cfg.total_students
    per = budget.training_bytes(model, 1, cfg.batch_size, length, soft=soft)
    chunk = max(0, min(n, int(memory.FRACTION * memory.available_bytes() // per)))
    return Estimate(budget.training_bytes(model, n, cfg.batch_size, length, soft=soft), per, chunk, chunk * per,
                    budget.sampling_bytes(model, 1, 1, length))


def kept_bytes(cfg: LLMConfig) -> int:
    """What one student leaves behind after its chunk is dropped, at most: its greedy answer and
    its samples at every temperature for every prompt (``max_new_tokens`` tokens of about four
    characters each, plus Python's string overhead), its answer log-probabilities and its
    training losses (one float per step: at most epochs x pairs, three answers per question)."""
    temperatures = len(getattr(cfg, "temperatures", (1.0,)))
    texts = questions(cfg) * (1 + cfg.samples * temperatures)
    return texts * (4 * cfg.max_new_tokens + 64) + 8 * questions(cfg) + 8 * 3 * cfg.epochs * questions(cfg)


def questions(cfg: LLMConfig) -> int:
    """The number of questions ``cfg`` distils on: the synthetic corpus's, or its QA file's."""
    return cfg.num_questions if cfg.qa_file is None else len(qa.load_qa_file(cfg.qa_file))


def guard_memory(cfg: LLMConfig) -> None:
    """Refuse, before the setup trains anything, a configuration of which not even one student
    can be trained, or sampled one sequence at a time (``ValueError``: the estimate, the memory,
    what to change). The exact sizes are checked again by :mod:`jaxkd.llm.training` and
    :mod:`jaxkd.llm.generation` before they allocate."""
    e = estimate(cfg)
    n = cfg.total_students
    memory.check_fits(n * kept_bytes(cfg), f"keeping what {n:,} llm-* students produce ({cfg.replicates} replicates x "
                      f"{cfg.num_students:,})", "lower --students or --replicates")
    if e.chunk < 1:
        memory.check_fits(e.per_student, "training one llm-* student", "lower --batch-size or use a smaller student")
    memory.check_fits(e.one_sequence, "sampling one sequence from an llm-* student",
                      "lower --max-new-tokens or use a smaller student")
