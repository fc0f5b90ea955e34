"""The report of llm-objectives: its figures and its document."""

from __future__ import annotations

import numpy as np

from jaxkd import document as doc
from jaxkd.experiments.llm_objectives.run import OBJECTIVES, Results, row_at
from jaxkd.experiments.llm_study import report, stats
from jaxkd.formatting import fmt
from jaxkd.plotting import subplots


def figures(res: Results) -> dict:
    """Entropy gap to the teacher and between-student spread per objective, one line per T."""
    fig, (a1, a2) = subplots(1, 2, figsize=(13, 4.5))
    labels = [o[0] for o in OBJECTIVES]
    x = np.arange(len(labels))
    for j, T in enumerate(sorted(set(res.temperature))):
        idx = [row_at(res, T, lab) for lab in labels]
        gap = np.array([stats.mean_interval(np.asarray(res.student_entropy[i]) - np.asarray(res.teacher_entropy[i]))
                        for i in idx])
        spread = np.array([stats.mean_interval(res.logprob_spread[i]) for i in idx])
        off = (j - 0.5) * 0.15
        a1.errorbar(x + off, gap[:, 0], yerr=[gap[:, 0] - gap[:, 1], gap[:, 2] - gap[:, 0]], fmt="o", capsize=3,
                    label=f"teacher at T = {T}")
        a2.errorbar(x + off, spread[:, 0], yerr=[spread[:, 0] - spread[:, 1], spread[:, 2] - spread[:, 0]], fmt="o",
                    capsize=3, label=f"teacher at T = {T}")
    a1.axhline(0.0, color="k", lw=0.8)
    a1.set_ylabel("answer entropy, students − teacher (nats)")
    a2.set_ylabel("between-student log-prob spread (no floor)")
    for ax in (a1, a2):
        ax.set_xticks(x)
        ax.set_xticklabels(labels, rotation=35, ha="right", fontsize=7)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return {"objectives.png": fig,
            "training.png": report.fig_training(res, [f"{o}, T = {T}" for o, T in zip(res.objective, res.temperature)])}


def document(res: Results) -> doc.Section:
    """This experiment's report: tables and the figures of :func:`figures`."""
    labels = [f"{o} (T = {T})" for o, T in zip(res.objective, res.temperature)]
    gaps = doc.Table(["objective", "students − teacher H", "student H", "C.1 prediction (k samples)",
                      "H − true H (S.3)", "TV excess (S.3)", "hallucination", "between-student var (corrected)",
                      "log-prob spread"],
                     [[labels[i], stats.cell(np.asarray(res.student_entropy[i]) - np.asarray(res.teacher_entropy[i])),
                       stats.cell(res.student_entropy[i]),
                       fmt(res.c1_student_entropy[i]) if res.objective[i].startswith("sequence") else "—",
                       stats.cell(res.entropy_gap[i]), stats.cell(res.tv_excess[i]), stats.cell(res.hallucination[i]),
                       stats.cell(res.inter_student_variance_corrected[i]), stats.cell(res.logprob_spread[i])]
                      for i in range(len(labels))])
    teacher = doc.Table(["T", "teacher H", "teacher H − true H (S.3)", "teacher hallucination"],
                        [[T, stats.cell(res.teacher_entropy[row_at(res, T, OBJECTIVES[0][0])]),
                          stats.cell(res.teacher_entropy_gap[row_at(res, T, OBJECTIVES[0][0])]),
                          stats.cell(res.teacher_hallucination[row_at(res, T, OBJECTIVES[0][0])])]
                         for T in sorted(set(res.temperature))])
    return report.llm_section("Beyond the study: distillation objectives and the teacher's uncertainty", res, [
        doc.Paragraph("Every objective trains the single-response steps (compute matched). Divergence objectives "
                      "match the student's next-token distribution to the teacher's at T on the positions of the "
                      "student's own teacher draw (on-policy: of its own samples, a share λ of the steps); "
                      "sequence-level students fit the sampled text. Students are sampled at temperature 1, the "
                      "teacher at T. C.1's prediction is the mean entropy of an empirical distribution of k answers "
                      "drawn from the true distribution: what a sequence-level student that reproduced its k samples "
                      "exactly would show."),
        teacher, gaps, doc.Figure("objectives.png", "entropy gap and between-student spread per objective"),
        doc.Figure("training.png", "the students' training loss at every step")], steps=res.steps[0])
