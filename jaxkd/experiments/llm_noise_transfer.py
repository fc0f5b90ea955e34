"""Noise transfer across teacher temperatures (study Sections 6.2, 7.3): how much of the
teacher's per-prompt noise reaches single-response students (slope and R^2 of student noise on
teacher noise across prompts), and the students' systematic noise: their noise minus that of
the base student fine-tuned directly on ground-truth answers.
"""

from __future__ import annotations

import dataclasses


from jaxkd import rng
from jaxkd.experiments import common, llm_common as lc
from jaxkd.runs import RunDir

MODELS = lc.LLMConfig.MODELS


@dataclasses.dataclass(frozen=True)
class Config(lc.TemperatureConfig):
    """Temperatures (quick: 0.5, 1, 1.5; paper: the study's six) and the shared llm fields."""


def run(cfg: Config, run_dir: RunDir | None = None) -> dict:
    task = lc.build_task(cfg, None if run_dir is None else run_dir.shared)
    key = rng.stream(cfg.seed, "teacher_sampling")
    order = rng.student_keys(rng.stream(cfg.seed, "data_order"), cfg.num_students)
    _, direct = lc.direct_reference(task)

    def point(p):
        i, T = p
        t_embs, s_embs = lc.distil_at_temperature(task, T, rng.point_key(key, i), order)
        return {"temperature": T, **lc.summarize(task, s_embs, t_embs, direct_noise=direct)}

    rows = common.sweep(run_dir, [(f"T-{i:02d}", (i, T)) for i, T in enumerate(cfg.temperatures)],
                        point, desc="llm-noise-transfer")
    return {**common.columns(rows), "direct_noise": float(direct.mean())}
