"""Noise transfer across teacher temperatures (study Sections 6.2, 7.3): how much of the
teacher's per-prompt noise reaches students (slope and R² of student noise on teacher noise
across prompts, per replicate), and the students' systematic noise: their per-prompt noise
minus the noise of the true answer distribution itself (S.4), with the base students fine-tuned
directly on one reference answer per prompt (the study's reference) beside it. The students are
llm-teacher-noise's (each its own teacher draws; reused from the shared folder when that
experiment ran first).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxkd import document as doc
from jaxkd.experiments.llm_study import config as llm_config
from jaxkd.experiments.llm_study import measures, replicates, report, setup
from jaxkd.experiments.llm_teacher_noise import distil_at_temperature
from jaxkd.formatting import fmt
from jaxkd.llm import metrics as tm
from jaxkd.plotting import subplots
from jaxkd.runs import RunDir, columns, sweep

MODELS = llm_config.LLMConfig.MODELS


@dataclasses.dataclass(frozen=True)
class Config(llm_config.TemperatureConfig):
    """Temperatures (quick: 0.5, 1, 2; paper: the study's six) and the shared llm fields."""


@dataclasses.dataclass(frozen=True)
class Results(measures.SweepResults):
    """Typed results (per teacher temperature; measures per replicate)."""

    temperature: tuple[float, ...]
    direct_systematic_noise: tuple[tuple[float, ...], ...]
    direct_hallucination: tuple[tuple[float, ...], ...]
    direct_noise: float


def run(cfg: Config, run_dir: RunDir | None = None) -> Results:
    """Run the sweep (``run_dir`` enables save/resume) and return its typed results."""
    return Results.build(cfg, _columns(cfg, run_dir))


def _columns(cfg: Config, run_dir: RunDir | None) -> dict:
    task = setup.build_task(cfg, None if run_dir is None else run_dir.shared)
    direct = replicates.direct_reference(task)

    def point(T):
        out = distil_at_temperature(task, T)
        return {"temperature": T, **measures.measure(task, out, replicates.teacher_reference(task, T), direct=direct),
                "passes": float(cfg.epochs), "steps": out.compute["steps"]}

    rows = sweep(run_dir, [(f"T-{i:02d}", T) for i, T in enumerate(cfg.temperatures)], point,
                        desc="llm-noise-transfer")
    d = measures.embed(task, direct.samples.at(1.0))
    return {**columns(rows), "direct_noise": float(np.mean([tm.pairwise_cosine_distance(e) for e in d])),
            **measures.regime(task)}


# --- report: figures and document ----------------------------------------------------------


def figures(res: Results) -> dict:
    """This experiment's figures, by file name (the document refers to them)."""
    fig, (a1, a2) = subplots(1, 2, figsize=(11, 4))
    T = res.temperature
    report.errorbar(a1, T, res, "noise_slope", "o-", label="slope of student on teacher noise")
    report.errorbar(a1, T, res, "noise_r2", "s-", label="R²")
    report.errorbar(a1, T, res, "systematic_noise", "^-", label="systematic noise")
    a1.axhline(0.0, color="k", lw=0.8)
    a1.set_xlabel("teacher temperature")
    a1.set_ylabel("value")
    a1.legend(fontsize=8)
    i = int(np.argmin(np.abs(np.asarray(T) - 1.0)))
    x, y = np.asarray(res.prompt_teacher_noise[i]), np.asarray(res.prompt_student_noise[i])
    a2.scatter(x, y, s=12, label="prompts")
    slope, intercept = np.polyfit(x, y, 1)
    grid = np.linspace(x.min(), x.max(), 2)
    a2.plot(grid, intercept + slope * grid, "r-", label=f"least squares: {fmt(slope, 3)} x + {fmt(intercept, 3)}")
    a2.set_xlabel(f"teacher noise per prompt (T = {T[i]})")
    a2.set_ylabel("student noise per prompt (mean over students)")
    a2.legend(fontsize=8)
    fig.tight_layout()
    return {"noise_transfer.png": fig, "training.png": report.fig_training(res, [f"T = {T}" for T in res.temperature])}


def document(res: Results) -> doc.Section:
    """This experiment's report: tables and the figures of :func:`figures`."""
    table = report.table(res, "T", res.temperature,
                         ["teacher_noise", "student_noise", "true_noise", "noise_slope", "noise_r2", "systematic_noise",
                          "direct_systematic_noise"],
                         ["teacher noise", "student noise", "the truth's noise (S.4)", "slope", "R²",
                          "systematic noise (vs the truth)", "the direct fine-tune's (vs the truth)"])
    return report.llm_section("LLM noise transfer across teacher temperatures (Sections 6.2, 7.3)", res, [
        doc.Paragraph("Systematic noise is a model's per-prompt noise minus the noise of the true answer distribution "
                      "(S.4); the base students fine-tuned directly on one reference answer per prompt for the same "
                      f"epochs (the study's reference; their mean noise {fmt(res.direct_noise)}) are shown beside."),
        table, doc.Figure("noise_transfer.png", "noise transfer"),
        doc.Figure("training.png", "the students' training loss at every step")], steps=res.steps[0])


CLAIMS: tuple = ()  # noise transfer is reported, not judged: the study states no claim about its size
