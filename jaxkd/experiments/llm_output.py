"""LLM student output uncertainty (study Section 6.2, Table 2; docs/theorems.md C.1).

N students distilled from identical supervision (the teacher's single answer per prompt) and
identical init, differing only in data order. Their predictive distributions are compared with
the teacher's, prompt by prompt: answer-distribution entropy (over the corpus's known valid
answers plus "hallucination"), the share of prompts where students are narrower, the exact
entropy of the true distributions, and the intra-model variance gap.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from jaxkd import rng
from jaxkd.experiments import common, llm_common as lc
from jaxkd.runs import RunDir

MODELS = lc.LLMConfig.MODELS


@dataclasses.dataclass(frozen=True)
class Config(lc.LLMConfig):
    PRESETS: ClassVar[dict] = lc.paper(num_students=20)

    num_students: int = 8


def run(cfg: Config, run_dir: RunDir | None = None) -> dict:
    task = lc.build_task(cfg, None if run_dir is None else run_dir.shared)

    def point(_):
        targets = lc.sample_model(task, task.teacher, 1, 1.0, rng.stream(cfg.seed, "teacher_sampling"))
        order = rng.student_keys(rng.stream(cfg.seed, "data_order"), cfg.num_students)
        students = lc.train_students(task, [(q, s[0]) for q, s in enumerate(targets)], order)
        t_embs = lc.embed(task, lc.sample_model(task, task.teacher, cfg.samples, 1.0, rng.stream(cfg.seed, "teacher_eval")))
        s_embs = lc.embed(task, lc.sample_students(task, students, cfg.samples, 1.0, rng.stream(cfg.seed, "student_eval")))
        t = lc.describe(task, t_embs)
        s_entropy = np.mean([lc.describe(task, e)["entropy"] for e in s_embs], axis=0)
        return {**lc.summarize(task, s_embs, t_embs),
                "prompt_true_entropy": [it.entropy for it in task.corpus.items],
                "prompt_teacher_entropy": t["entropy"].tolist(), "prompt_student_entropy": s_entropy.tolist(),
                "prompt_valid_answers": [len(it.answers) for it in task.corpus.items]}

    return common.sweep(run_dir, [("all", None)], point, desc="llm-output")[0]
