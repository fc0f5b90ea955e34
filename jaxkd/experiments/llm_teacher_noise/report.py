"""The report of llm-teacher-noise: its figures and its document."""

from __future__ import annotations

import numpy as np

from jaxkd import document as doc
from jaxkd.experiments.llm_study import report
from jaxkd.experiments.llm_teacher_noise.run import Results
from jaxkd.plotting import subplots


def fig_llm_temperature(res: Results):
    fig, (a1, a2, a3) = subplots(1, 3, figsize=(13, 3.8))
    T = res.temperature
    report.errorbar(a1, T, res, "alignment", "o-", label="alignment (greedy answers)")
    report.errorbar(a1, T, res, "centroid_cosine", "s-", label="students: cosine to true centroid (S.2)")
    report.errorbar(a1, T, res, "teacher_centroid_cosine", "^--", label="teacher at T: cosine to true centroid")
    a1.set_xlabel("teacher temperature")
    a1.set_ylabel("cosine similarity")
    a1.legend(fontsize=7)
    report.errorbar(a2, T, res, "inter_student_variance", "o-", label="between-student variance (uncorrected)")
    report.errorbar(a2, T, res, "inter_student_variance_floor", "x:", label="its sampling floor (S.1)")
    report.errorbar(a2, T, res, "inter_student_variance_corrected", "s-", label="corrected (S.1)")
    a2.set_xlabel("teacher temperature")
    a2.set_ylabel("variance of mean embedding")
    a2.legend(fontsize=7)
    report.errorbar(a3, T, res, "greedy_disagreement", "o-", label="greedy disagreement")
    report.errorbar(a3, T, res, "variance_share", "s-", label="share: teacher variance ≥ student's (Table 2)")
    a3.set_xlabel("teacher temperature")
    a3.set_ylabel("cosine distance / share")
    a3.legend(fontsize=7)
    fig.tight_layout()
    return fig


def shared_bins(a, b, count: int = 10) -> np.ndarray:
    """Histogram edges both samples share, wide enough to show a sample whose values are all
    equal (identical answers project to one point: a zero-width range would hide its bar)."""
    both = np.concatenate([np.asarray(a, float), np.asarray(b, float)])
    lo, hi = float(both.min()), float(both.max())
    half = max((hi - lo) / 2, 0.05 * max(abs(lo), abs(hi)), 1e-3)
    mid = (lo + hi) / 2
    return np.linspace(mid - 1.05 * half, mid + 1.05 * half, count + 1)


def fig_llm_pc1(res: Results):
    """Appendix B.2: teacher's and a student's answers on the first principal component."""
    prompts = res.shown_prompts
    idx = [0, len(res.temperature) - 1]
    fig, axes = subplots(len(prompts), 2, figsize=(9, 3 * len(prompts)), squeeze=False)
    for r, _ in enumerate(prompts):
        for c, i in enumerate(idx):
            ax = axes[r][c]
            bins = shared_bins(res.pc1_teacher[i][r], res.pc1_student[i][r])
            ax.hist(res.pc1_teacher[i][r], bins=bins, alpha=0.6, label="teacher")
            ax.hist(res.pc1_student[i][r], bins=bins, alpha=0.6, label="student")
            ax.set_title(f"prompt {prompts[r]}, T = {res.temperature[i]}", fontsize=9)
            ax.set_xlabel("projection on first principal component")
            ax.set_ylabel("answers")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def figures(res: Results) -> dict:
    """This experiment's figures, by file name (the document refers to them)."""
    return {"temperature.png": fig_llm_temperature(res), "pc1.png": fig_llm_pc1(res),
            "training.png": report.fig_training(res, [f"T = {T}" for T in res.temperature])}


def document(res: Results) -> doc.Section:
    """This experiment's report: tables and the figures of :func:`figures`."""
    main = report.table(res, "T", res.temperature,
                    ["alignment", "greedy_disagreement", "logprob_spread", "inter_student_variance",
                     "inter_student_variance_floor", "inter_student_variance_corrected"],
                    ["alignment (greedy)", "greedy disagreement", "log-prob spread", "between-student var",
                     "its floor (S.1)", "corrected (S.1)"])
    spread = report.table(res, "T", res.temperature,
                      ["teacher_entropy", "student_entropy", "narrower_share", "intra_variance_gap", "variance_share",
                       "teacher_hallucination", "hallucination", "teacher_tv_excess", "tv_excess",
                       "teacher_noise", "student_noise"],
                      ["teacher H", "student H", "share narrower (H)", "intra var, student − teacher",
                       "Table 2 share", "teacher hallucination", "student hallucination",
                       "teacher TV excess (S.3)", "student TV excess (S.3)", "teacher noise", "student noise"])
    title = "LLM teacher output uncertainty: temperature sweep (Section 4.3, App. B.2, Table 2)"
    return report.llm_section(title, res, [
        doc.Paragraph("Each student learns its own teacher answer per prompt (drawn at T); init and data order are "
                      "the same for every student of a replicate. Students are sampled at temperature 1; the teacher "
                      "at T."),
        main,
        doc.Paragraph(doc.Strong("Predictive spread and Table 2"), " (share of prompts whose teacher embedding "
                      "variance is at least the students'):"),
        spread, doc.Figure("temperature.png", "temperature"), doc.Figure("pc1.png", "PC1 projections"),
        doc.Figure("training.png", "the students' training loss at every step")],
        steps=res.steps[0])
