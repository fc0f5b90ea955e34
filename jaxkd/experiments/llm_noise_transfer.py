"""Noise transfer across teacher temperatures (study Sections 6.2, 7.3): how much of the
teacher's per-prompt noise reaches single-response students (slope and R^2 of student noise on
teacher noise across prompts), and the students' systematic noise: their noise minus that of
the base student fine-tuned directly on ground-truth answers.
"""

from __future__ import annotations

import dataclasses

import jax

from jaxkd import _validation as v
from jaxkd import rng
from jaxkd.experiments import common, llm_common as lc
from jaxkd.runs import RunDir

MODELS = lc.LLMConfig.MODELS


@dataclasses.dataclass(frozen=True)
class Config(lc.LLMConfig):
    temperatures: tuple[float, ...] = (0.5, 1.0, 1.5)

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "temperatures", v.check_grid("temperatures", self.temperatures, v.check_positive))

    @classmethod
    def from_preset(cls, preset: str = "quick", **overrides) -> "Config":
        return lc.llm_preset(cls, preset, {}, {"temperatures": (0.5, 0.8, 1.0, 1.2, 1.5, 2.0)}, **overrides)


def run(cfg: Config, run_dir: RunDir | None = None) -> dict:
    task = lc.build_task(cfg, None if run_dir is None else run_dir.path)
    key = rng.stream(cfg.seed, "teacher_sampling")
    order = rng.student_keys(rng.stream(cfg.seed, "data_order"), cfg.num_students)
    _, direct = lc.direct_reference(task)

    def point(p):
        i, T = p
        k = rng.point_key(key, i)
        targets = lc.sample_model(task, task.teacher, 1, T, k)
        g, st, _ = lc.train_students(task, [(q, s[0]) for q, s in enumerate(targets)], order)
        t_embs = lc.embed(task, lc.sample_model(task, task.teacher, cfg.samples, T, jax.random.fold_in(k, 1)))
        s_embs = lc.embed(task, lc.sample_students(task, g, st, cfg.samples, 1.0, jax.random.fold_in(k, 2)))
        return {"temperature": T, **lc.summarize(task, s_embs, t_embs, direct_noise=direct)}

    rows = common.sweep(run_dir, [(f"T-{i:02d}", (i, T)) for i, T in enumerate(cfg.temperatures)],
                        point, desc="llm-noise-transfer")
    return {**common.columns(rows), "direct_noise": float(direct.mean())}
