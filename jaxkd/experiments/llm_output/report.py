"""The report of llm-output: its figures and its document."""

from __future__ import annotations

import numpy as np

from jaxkd import document as doc
from jaxkd.experiments.llm_output.run import Results
from jaxkd.experiments.llm_study import report, stats
from jaxkd.formatting import fmt
from jaxkd.plotting import subplots


def figures(res: Results) -> dict:
    """This experiment's figures, by file name (the document refers to them)."""
    fig, (a1, a2, a3) = subplots(1, 3, figsize=(14, 4))
    T = res.temperature
    report.errorbar(a1, T, res, "sample_alignment", "o-", label="alignment of mean sampled answers")
    report.errorbar(a1, T, res, "centroid_cosine", "s-", label="students: cosine to true centroid (S.2)")
    a1.set_xlabel("sampling temperature (teacher and students)")
    a1.set_ylabel("cosine")
    a1.legend(fontsize=7)
    report.errorbar(a2, T, res, "intra_variance_gap", "o-", label="within-model variance, student − teacher")
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
    # One set of students, sampled at every temperature: one training curve.
    return {"output.png": fig, "training.png": report.fig_training(res, ["the students"])}


def document(res: Results) -> doc.Section:
    """This experiment's report: tables and the figures of :func:`figures`."""
    main = report.table(res, "T", res.temperature,
                        ["intra_variance_gap", "teacher_entropy", "student_entropy", "narrower_share",
                         "teacher_hallucination", "hallucination", "teacher_tv_excess", "tv_excess", "entropy_gap",
                         "inter_student_variance", "inter_student_variance_corrected"],
                        ["intra var, student − teacher", "teacher H", "student H", "share narrower",
                         "teacher hallucination", "student hallucination", "teacher TV excess (S.3)",
                         "student TV excess (S.3)", "student H − true H (S.3)", "between-student var",
                         "corrected (S.1)"])
    al = doc.BulletList([f"T = {T}: alignment of mean sampled answers {stats.cell(a)}"
                         for T, a in zip(res.temperature, res.sample_alignment)])
    return report.llm_section("LLM student output uncertainty (Section 6.2, Figure 10; docs/theorems.md C.1)", res, [
        doc.Paragraph("Students learn the teacher's greedy answers from one init; within a replicate they also share "
                      "the data order (identical students: their corrected between-student variance is about 0 "
                      "while the uncorrected one is its sampling floor). Mean true answer entropy "
                      f"{fmt(float(np.mean(res.prompt_true_entropy)))} nats."),
        main, al, doc.Figure("output.png", "output"),
        doc.Figure("training.png", "the students' training loss at every step")], steps=res.steps[0])
