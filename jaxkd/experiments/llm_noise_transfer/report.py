"""The report of llm-noise-transfer: its figures and its document."""

from __future__ import annotations

import numpy as np

from jaxkd import document as doc
from jaxkd.experiments.llm_noise_transfer.run import Results
from jaxkd.experiments.llm_study import report
from jaxkd.formatting import fmt
from jaxkd.plotting import subplots


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
