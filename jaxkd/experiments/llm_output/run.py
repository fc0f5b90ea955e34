"""The computation of llm-output: ``run(config, run_dir) -> Results``."""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxkd import rng
from jaxkd.experiments.llm_output.config import Config
from jaxkd.experiments.llm_study import config as llm_config
from jaxkd.experiments.llm_study import measures, replicates, setup
from jaxkd.llm import metrics as tm
from jaxkd.runs import RunDir, columns, sweep

MODELS = llm_config.LLMConfig.MODELS


@dataclasses.dataclass(frozen=True)
class Results(measures.SweepResults):
    """Typed results (per sampling temperature; measures per replicate)."""

    temperature: tuple[float, ...]
    sample_alignment: tuple[tuple[float, ...], ...]    # cosine of mean sampled embeddings, T x R
    prompt_true_entropy: tuple[float, ...]
    prompt_teacher_entropy: tuple[float, ...]           # at the temperature closest to 1
    prompt_student_entropy: tuple[float, ...]
    prompt_valid_answers: tuple[int, ...]


def run(cfg: Config, run_dir: RunDir | None = None) -> Results:
    """Run the sweep (``run_dir`` enables save/resume) and return its typed results."""
    return Results.build(cfg, _columns(cfg, run_dir))


def _columns(cfg: Config, run_dir: RunDir | None) -> dict:
    task = setup.build_task(cfg, None if run_dir is None else run_dir.shared)

    targets = list(enumerate(replicates.greedy_answers(task)))   # the teacher's greedy answers to the distillation prompts

    # Replicate r's students share one order key: identical students within a replicate.
    out = replicates.train_and_sample(task, targets, order=replicates.replicate_keys(task, "data_order"),
                                      key=rng.stream(cfg.seed, "student_eval"), temperatures=cfg.temperatures,
                                      cache={"kind": "output", "temperatures": list(map(float, cfg.temperatures))})
    near_one = int(np.argmin(np.abs(np.asarray(cfg.temperatures) - 1.0)))
    R, N = cfg.replicates, cfg.num_students

    def point(p):
        i, T = p
        teacher = replicates.teacher_reference(task, T)
        row = {"temperature": T, **measures.measure(task, out, teacher, T, targets=targets), "passes": float(out.compute.epochs),
               "steps": out.compute.steps}
        s = measures.embed(task, out.samples.at(T))
        t = measures.embed(task, teacher.samples)                          # (R, P, n, E)
        row["sample_alignment"] = [float(np.mean([tm.alignment(e, t[r]).mean() for e in s[r * N:(r + 1) * N]]))
                                   for r in range(R)]
        if i == near_one:
            row["_teacher_entropy"] = np.mean([measures.describe(task, e)["entropy"] for e in t], axis=0).tolist()
            row["_student_entropy"] = np.mean([measures.describe(task, e)["entropy"] for e in s], axis=0).tolist()
        return row

    rows = sweep(run_dir, [(f"T-{i:02d}", (i, T)) for i, T in enumerate(cfg.temperatures)], point,
                        desc="llm-output")
    per = rows[near_one]
    cols = columns([{k: v for k, v in r.items() if not k.startswith("_")} for r in rows])
    items = task.eval_corpus.items
    return {**cols, "prompt_true_entropy": [it.entropy for it in items],
            "prompt_teacher_entropy": per["_teacher_entropy"], "prompt_student_entropy": per["_student_entropy"],
            "prompt_valid_answers": [len(it.answers) for it in items], **measures.regime(task)}
