"""LLM teacher output uncertainty (study Section 4.3, Appendix B.2): a teacher-temperature sweep.

At each temperature the teacher answers every prompt once; N students are distilled on those
answers. Measured: alignment of students with the teacher, inter-student variance, noise,
hallucination, ground-truth similarity; and, for the figure, the teacher's and a student's
sampled answers projected on the first principal component of their embeddings (App. B.2).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxkd import rng
from jaxkd.experiments import common, llm_common as lc
from jaxkd.runs import RunDir

MODELS = lc.LLMConfig.MODELS


@dataclasses.dataclass(frozen=True)
class Config(lc.TemperatureConfig):
    temperatures: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0)



def pc1_projection(teacher_embs, student_embs):
    """Project both sample sets (n, E) on the first principal component of their union."""
    from sklearn.decomposition import PCA

    both = np.concatenate([teacher_embs, student_embs])
    pc = PCA(n_components=1).fit(both)
    return pc.transform(teacher_embs)[:, 0], pc.transform(student_embs)[:, 0]


def run(cfg: Config, run_dir: RunDir | None = None) -> dict:
    task = lc.build_task(cfg, None if run_dir is None else run_dir.shared)
    key = rng.stream(cfg.seed, "teacher_sampling")
    order = rng.student_keys(rng.stream(cfg.seed, "data_order"), cfg.num_students)
    # The most ambiguous prompts are the ones worth projecting (App. B.2).
    shown = sorted(range(len(task.corpus)), key=lambda p: -task.corpus.items[p].entropy)[:2]

    def point(p):
        i, T = p
        t_embs, s_embs = lc.distil_at_temperature(task, T, rng.point_key(key, i), order)
        out = {"temperature": T, **lc.summarize(task, s_embs, t_embs)}
        proj = [pc1_projection(t_embs[q], s_embs[0, q]) for q in shown]
        out["pc1_teacher"] = [a.tolist() for a, _ in proj]
        out["pc1_student"] = [b.tolist() for _, b in proj]
        return out

    rows = common.sweep(run_dir, [(f"T-{i:02d}", (i, T)) for i, T in enumerate(cfg.temperatures)],
                        point, desc="llm-teacher-noise")
    return {**common.columns(rows), "shown_prompts": shown}
