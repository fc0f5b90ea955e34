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
from jaxkd.claims import Claim
from jaxkd.experiments import common, llm_common as lc
from jaxkd.formatting import fmt, markdown_table
from jaxkd.plotting import subplots
from jaxkd.runs import RunDir

MODELS = lc.LLMConfig.MODELS


@dataclasses.dataclass(frozen=True)
class Config(lc.LLMConfig):
    PRESETS: ClassVar[dict] = lc.paper(num_students=20)

    num_students: int = 8


@dataclasses.dataclass(frozen=True)
class Results(common.Results):
    """Typed results (one run: students against the teacher, and per-prompt entropies)."""

    alignment: float
    inter_student_variance: float
    inter_student_variance_floor: float
    inter_student_variance_corrected: float
    intra_variance_gap: float
    teacher_noise: float
    student_noise: float
    noise_slope: float
    noise_intercept: float
    noise_r2: float
    gt_similarity: float
    gt_similarity_variance: float
    teacher_gt_similarity: float
    hallucination: float
    teacher_hallucination: float
    student_entropy: float
    teacher_entropy: float
    true_entropy: float
    narrower_share: float
    prompt_true_entropy: tuple[float, ...]
    prompt_teacher_entropy: tuple[float, ...]
    prompt_student_entropy: tuple[float, ...]
    prompt_valid_answers: tuple[int, ...]


def run(cfg: Config, run_dir: RunDir | None = None) -> Results:
    """Run the sweep (``run_dir`` enables save/resume) and return its typed results."""
    return Results.build(cfg, _columns(cfg, run_dir))


def _columns(cfg: Config, run_dir: RunDir | None) -> dict:
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


# --- report: figures and markdown ----------------------------------------------------------


def figures(res: Results) -> dict:
    """This experiment's figures, by file name (the markdown refers to them)."""
    fig, ax = subplots(figsize=(5, 4))
    ax.scatter(res.prompt_teacher_entropy, res.prompt_student_entropy, c=res.prompt_valid_answers)
    top = max(max(res.prompt_teacher_entropy), max(res.prompt_student_entropy), 0.1)
    ax.plot([0, top], [0, top], "k--", lw=0.8)
    ax.set_xlabel("teacher answer entropy (nats)")
    ax.set_ylabel("student answer entropy (nats, mean over students)")
    ax.set_title("Suppression: points below the diagonal (C.1)")
    return {"entropy.png": fig}



def markdown(res: Results) -> str:
    """This experiment's report: tables and the figures of :func:`figures`."""
    cfg = res.config
    summary = markdown_table(["", "value"], [
        ["mean true entropy (nats)", res.true_entropy], ["mean teacher entropy", res.teacher_entropy],
        ["mean student entropy", res.student_entropy],
        ["share of prompts where students are narrower", res.narrower_share],
        ["intra-model variance, student − teacher", res.intra_variance_gap],
        ["inter-student variance", res.inter_student_variance], ["alignment", res.alignment]])
    rows = list(zip(range(len(res.prompt_true_entropy)), res.prompt_valid_answers,
                    res.prompt_true_entropy, res.prompt_teacher_entropy, res.prompt_student_entropy))
    per = markdown_table(["prompt", "valid answers K", "true H", "teacher H", "student H"], rows)
    return (lc.llm_header("LLM student output uncertainty (Section 6.2, Table 2; docs/theorems.md C.1)", cfg)
            + "Students share supervision (one teacher answer per prompt) and init; only batch order "
            f"differs.\n\n{summary}\n\n{per}\n\n![entropy](entropy.png)\n")


# --- claims: what the study says this experiment shows, judged from its results ------------


def _llm_narrower(out, noise) -> tuple[bool, str]:
    s_noise, t_noise = np.asarray(noise.student_noise), np.asarray(noise.teacher_noise)
    ok = out.narrower_share > 0.5 and out.student_entropy < out.teacher_entropy and np.all(s_noise < t_noise)
    return ok, (f"answer entropy {fmt(out.student_entropy)} (students) vs {fmt(out.teacher_entropy)} "
                f"(teacher) nats, narrower on {fmt(100 * out.narrower_share, 3)}% of prompts; per-prompt "
                f"noise below the teacher's at {int(np.sum(s_noise < t_noise))} of {len(s_noise)} temperatures")


CLAIMS: tuple[Claim, ...] = (
    Claim("llm-narrower", "output", "LLM students' predictive variance is narrower than the teacher's",
          "students' answer entropy below the teacher's, narrower on most prompts, and student noise "
          "below teacher noise at every temperature", ("llm-output-gpt2", "llm-teacher-noise-gpt2"),
          _llm_narrower),
)
