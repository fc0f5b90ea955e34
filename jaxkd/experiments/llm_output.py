"""LLM student output uncertainty (study Section 6.2, Figure 10; docs/theorems.md C.1).

Protocol (the study's): every student learns the teacher's **greedy** answers from the same
init; the students of a replicate also share the data order, so they are the same model and
all their differences are output sampling (their corrected between-student variance must be
about 0 while the uncorrected one sits on its floor, S.1). R replicates differ in data order.
Teacher and students are sampled at each temperature of the grid; measured per replicate:
alignment of the mean sampled answers, the within-model embedding variance gap (student −
teacher), answer entropies, the exact distribution measures (S.2) and the share of prompts where
the students are narrower.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax.numpy as jnp
import numpy as np

from jaxkd import document as doc
from jaxkd import rng
from jaxkd.claims import Claim, Interval
from jaxkd.experiments import llm_common as lc
from jaxkd.formatting import fmt
from jaxkd.llm import metrics as tm
from jaxkd.plotting import subplots
from jaxkd.runs import RunDir, columns, sweep

MODELS = lc.LLMConfig.MODELS


@dataclasses.dataclass(frozen=True)
class Config(lc.TemperatureConfig):
    """Sampling temperatures of teacher and students (quick: 0.5, 1, 1.5)."""

    PRESETS: ClassVar[dict] = lc.paper(num_students=20, temperatures=(0.5, 0.8, 1.0, 1.2, 1.5, 2.0))

    temperatures: tuple[float, ...] = (0.5, 1.0, 1.5)


@dataclasses.dataclass(frozen=True)
class Results(lc.SweepResults):
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
    task = lc.build_task(cfg, None if run_dir is None else run_dir.shared)
    greedy = lc.teacher_reference(task, 1.0)["greedy"]
    # Replicate r's students share one order key: identical students within a replicate.
    keys = rng.student_keys(rng.stream(cfg.seed, "data_order"), cfg.replicates)
    order = jnp.repeat(keys, cfg.num_students)

    def compute():
        students = lc.distil_students(task, list(enumerate(greedy)), steps=cfg.steps(len(greedy)), order=order)
        return lc.outputs(task, students, rng.stream(cfg.seed, "student_eval"), cfg.temperatures)

    out = lc.cached(task, lc.work_key(cfg, "output", temperatures=list(map(float, cfg.temperatures))), compute)
    near_one = int(np.argmin(np.abs(np.asarray(cfg.temperatures) - 1.0)))
    R, N = cfg.replicates, cfg.num_students

    def point(p):
        i, T = p
        teacher = lc.teacher_reference(task, T)
        row = {"temperature": T, **lc.measure(task, out, teacher, T), "passes": float(cfg.epochs),
               "steps": out["compute"]["steps"]}
        s = lc.embed(task, out["samples"][str(float(T))])
        t = lc.embed(task, teacher["samples"])
        row["sample_alignment"] = [float(np.mean([tm.alignment(e, t).mean() for e in s[r * N:(r + 1) * N]]))
                                   for r in range(R)]
        if i == near_one:
            row["_teacher_entropy"] = lc.describe(task, t)["entropy"].tolist()
            row["_student_entropy"] = np.mean([lc.describe(task, e)["entropy"] for e in s], axis=0).tolist()
        return row

    rows = sweep(run_dir, [(f"T-{i:02d}", (i, T)) for i, T in enumerate(cfg.temperatures)], point,
                        desc="llm-output")
    per = rows[near_one]
    cols = columns([{k: v for k, v in r.items() if not k.startswith("_")} for r in rows])
    return {**cols, "prompt_true_entropy": [it.entropy for it in task.corpus.items],
            "prompt_teacher_entropy": per["_teacher_entropy"], "prompt_student_entropy": per["_student_entropy"],
            "prompt_valid_answers": [len(it.answers) for it in task.corpus.items]}


# --- report: figures and document ----------------------------------------------------------


def figures(res: Results) -> dict:
    """This experiment's figures, by file name (the document refers to them)."""
    fig, (a1, a2, a3) = subplots(1, 3, figsize=(14, 4))
    T = res.temperature
    lc.errorbar(a1, T, res, "sample_alignment", "o-", label="alignment of mean sampled answers")
    lc.errorbar(a1, T, res, "centroid_cosine", "s-", label="students: cosine to true centroid (S.2)")
    a1.set_xlabel("sampling temperature (teacher and students)")
    a1.set_ylabel("cosine")
    a1.legend(fontsize=7)
    lc.errorbar(a2, T, res, "intra_variance_gap", "o-", label="within-model variance, student − teacher")
    a2.axhline(0.0, color="k", lw=0.8)
    a2.set_xlabel("sampling temperature (teacher and students)")
    a2.set_ylabel("embedding variance gap")
    a2.legend(fontsize=7)
    a3.scatter(res.prompt_teacher_entropy, res.prompt_student_entropy, c=res.prompt_valid_answers, s=12)
    top = max(max(res.prompt_teacher_entropy), max(res.prompt_student_entropy), 0.1)
    a3.plot([0, top], [0, top], "k--", lw=0.8)
    a3.set_xlabel("teacher answer entropy (nats)")
    a3.set_ylabel("student answer entropy (mean over students)")
    a3.set_title("Suppression: points below the diagonal (C.1), T ≈ 1", fontsize=9)
    fig.tight_layout()
    return {"output.png": fig}


def document(res: Results) -> doc.Section:
    """This experiment's report: tables and the figures of :func:`figures`."""
    cfg = res.config
    main = lc.table(res, "T", res.temperature,
                    ["intra_variance_gap", "teacher_entropy", "student_entropy", "narrower_share",
                     "teacher_total_variation", "total_variation", "entropy_gap",
                     "inter_student_variance", "inter_student_variance_corrected"],
                    ["intra var, student − teacher", "teacher H", "student H", "share narrower",
                     "teacher TV to truth", "student TV to truth", "student H − true H",
                     "between-student var", "corrected (S.1)"])
    al = doc.BulletList([f"T = {T}: alignment of mean sampled answers {lc.cell(a)}"
                         for T, a in zip(res.temperature, res.sample_alignment)])
    return lc.llm_section("LLM student output uncertainty (Section 6.2, Figure 10; docs/theorems.md C.1)", cfg, [
        doc.Paragraph("Students learn the teacher's greedy answers from one init; within a replicate they also share "
                      "the data order (identical students: their corrected between-student variance is about 0 "
                      "while the uncorrected one is its sampling floor). Mean true answer entropy "
                      f"{fmt(float(np.mean(res.prompt_true_entropy)))} nats."),
        main, al, doc.Figure("output.png", "output")], steps=res.steps[0])


# --- claims: what the study says this experiment shows, judged from its results ------------


def _llm_narrower(res: Results) -> Interval:
    i = int(np.argmin(np.abs(np.asarray(res.temperature) - 1.0)))
    gap = -np.asarray(res.intra_variance_gap[i])
    m, lo, hi = lc.mean_interval(gap)
    h = lc.mean_interval(np.asarray(res.teacher_entropy[i]) - np.asarray(res.student_entropy[i]))
    return Interval(m, lo, hi, len(gap),
                    f"at T = {fmt(res.temperature[i])}: within-model embedding variance, teacher − students "
                    f"{lc.span(m, lo, hi)} over {len(gap)} replicates; answer entropy, teacher − "
                    f"students {lc.span(*h)} nats; students narrower on "
                    f"{fmt(100 * float(np.mean(res.narrower_share[i])), 3)}% of prompts")


CLAIMS: tuple[Claim, ...] = (
    Claim("llm-narrower", "output", "LLM students' predictive variance is narrower than the teacher's",
          "at sampling temperature 1, the teacher's within-model embedding variance minus the students', "
          "per replicate: its 95% interval lies above 0", ("llm-output-gpt2",), _llm_narrower),
)
