"""Variance-aware LLM distillation (study Section 7.3, Appendix F).

From the same teacher samples (temperature 1), students are distilled with: a direct
fine-tune on ground truth (the reference), single-response targets, and for each k the
multi-response, averaging and variance-weighting targets (:mod:`jaxkd.llm.selection`), plus
token-level soft targets (not in the study). All methods train the same number of steps on the
same batch size; the pairs and training tokens each saw are recorded so methods can also be
compared at equal compute. Measured: cosine to ground-truth answers (and its inter-student
variance), noise slope and R^2, average noise, average systematic noise.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from jaxkd import _validation as v
from jaxkd import rng
from jaxkd.config import option
from jaxkd.experiments import common, llm_common as lc
from jaxkd.llm import selection
from jaxkd.runs import RunDir

MODELS = lc.LLMConfig.MODELS


@dataclasses.dataclass(frozen=True)
class Config(lc.LLMConfig):
    PRESETS: ClassVar[dict] = lc.paper()

    ks: tuple[int, ...] = option((3, 5), "teacher responses per prompt k (at least 2)")

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "ks", v.check_grid("k", self.ks, lambda n, k: v.check_int(n, k, minimum=2)))


def methods(ks) -> list[tuple[str, str, int]]:
    """(label, method, k) rows of the table, in order, for the k grid ``ks``."""
    rows = [("direct fine-tune", "direct", 0), ("single", "single", 1)]
    for k in ks:
        rows += [(f"multi-response k={k}", "multi", k), (f"averaging k={k}", "averaging", k),
                 (f"variance-weighting k={k}", "variance-weighting", k)]
    return rows + [("soft targets (token KD)", "soft", 1)]


def run(cfg: Config, run_dir: RunDir | None = None) -> dict:
    task = lc.build_task(cfg, None if run_dir is None else run_dir.shared)
    kmax = max(cfg.ks)
    teacher_texts = lc.sample_model(task, task.teacher, kmax, 1.0, rng.stream(cfg.seed, "teacher_sampling"))
    teacher_embs = lc.embed(task, teacher_texts)
    base_embs = lc.embed(task, lc.sample_model(task, task.base, cfg.samples, 1.0, rng.stream(cfg.seed, "base_eval")))
    t_eval = lc.embed(task, lc.sample_model(task, task.teacher, cfg.samples, 1.0, rng.stream(cfg.seed, "teacher_eval")))
    order = rng.student_keys(rng.stream(cfg.seed, "data_order"), cfg.num_students)
    # The reference: the base student fine-tuned directly on ground truth (deterministic, so a
    # resumed run recomputes the same numbers); systematic noise is measured against it.
    direct_embs, direct_noise = lc.direct_reference(task)

    def point(p):
        i, (label, method, k) = p
        if method == "direct":
            compute = {"steps": cfg.student_steps, "training_tokens": 0, "pairs": 0}
            s_embs = direct_embs
        else:
            kk = max(k, 1)
            pairs = selection.select(method, [t[:kk] for t in teacher_texts], teacher_embs[:, :kk], base_embs)
            students = lc.train_students(task, pairs, order, soft_targets=(method == "soft"))
            compute = students.compute
            s_embs = lc.embed(task, lc.sample_students(
                task, students, cfg.samples, 1.0, rng.point_key(rng.stream(cfg.seed, "student_eval"), i)))
        return {"method_index": i, "k": k, **lc.summarize(task, s_embs, t_eval, direct_noise=direct_noise),
                **compute}

    points = [(f"m-{i:02d}", (i, row)) for i, row in enumerate(methods(cfg.ks))]
    return common.columns(common.sweep(run_dir, points, point, desc="llm-variance-aware"))
