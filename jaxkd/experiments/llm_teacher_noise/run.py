"""The computation of llm-teacher-noise: ``run(config, run_dir) -> Results``."""

from __future__ import annotations

import dataclasses

import numpy as np
from sklearn.decomposition import PCA

from jaxkd.experiments.llm_study import config as llm_config
from jaxkd.experiments.llm_study import measures, replicates, setup
from jaxkd.experiments.llm_teacher_noise.config import Config
from jaxkd.runs import RunDir, columns, sweep

MODELS = llm_config.LLMConfig.MODELS


def pc1_projection(teacher_embs, student_embs):
    """Project both sample sets (n, E) on the first principal component of their union."""
    both = np.concatenate([teacher_embs, student_embs])
    pc = PCA(n_components=1).fit(both)
    return pc.transform(teacher_embs)[:, 0], pc.transform(student_embs)[:, 0]


@dataclasses.dataclass(frozen=True)
class Results(measures.SweepResults):
    """Typed results (per teacher temperature; measures per replicate)."""

    temperature: tuple[float, ...]
    pc1_teacher: tuple
    pc1_student: tuple
    shown_prompts: tuple[int, ...]


def run(cfg: Config, run_dir: RunDir | None = None) -> Results:
    """Run the sweep (``run_dir`` enables save/resume) and return its typed results."""
    return Results.build(cfg, _columns(cfg, run_dir))


def _columns(cfg: Config, run_dir: RunDir | None) -> dict:
    task = setup.build_task(cfg, None if run_dir is None else run_dir.shared)
    # The most ambiguous prompts are the ones worth projecting (App. B.2).
    items = task.eval_corpus.items
    shown = sorted(range(len(items)), key=lambda p: -items[p].entropy)[:2]

    def point(T):
        out = replicates.distil_at_temperature(task, T)
        teacher = replicates.teacher_reference(task, T)
        t_embs, s_embs = measures.embed(task, teacher.samples[0]), measures.embed(task, out.samples.at(1.0)[0])
        proj = [pc1_projection(t_embs[q], s_embs[q]) for q in shown]
        return {"temperature": T, **measures.measure(task, out, teacher), "passes": float(out.compute.epochs),
                "steps": out.compute.steps,
                "pc1_teacher": [a.tolist() for a, _ in proj], "pc1_student": [b.tolist() for _, b in proj]}

    rows = sweep(run_dir, [(f"T-{i:02d}", T) for i, T in enumerate(cfg.temperatures)], point,
                        desc="llm-teacher-noise")
    return {**columns(rows), "shown_prompts": shown, **measures.regime(task)}
