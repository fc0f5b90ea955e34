"""The report of llm-topk: its figures and its document."""

from __future__ import annotations

import numpy as np

from jaxkd import document as doc
from jaxkd.experiments.llm_study import report, stats
from jaxkd.experiments.llm_topk.run import FULL, Results, row_at
from jaxkd.formatting import fmt
from jaxkd.plotting import subplots


def _ks(res: Results) -> list[int]:
    return sorted({k for k, f in zip(res.k, res.form) if f != "full"})


def figures(res: Results) -> dict:
    """Answer entropy and the students' tail mass (over the teacher's) against k, per form and budget."""
    fig, (a1, a2) = subplots(1, 2, figsize=(12, 4.5))
    ks = _ks(res)
    for budget in dict.fromkeys(res.budget):
        for form, name, marker in (("bucket", "+ tail", "o"), ("renormalised", "renormalised", "s")):
            idx = [row_at(res, budget, f"top-{k} {name}") for k in ks]
            h = np.array([stats.mean_interval(res.student_entropy[i]) for i in idx])
            t = np.array([stats.mean_interval(np.asarray(res.student_tail_mass[i]) / np.asarray(res.teacher_tail_mass[i]))
                          for i in idx])
            for ax, v in ((a1, h), (a2, t)):
                ax.errorbar(ks, v[:, 0], yerr=[v[:, 0] - v[:, 1], v[:, 2] - v[:, 0]], marker=marker, capsize=3,
                            label=f"{form}, {budget}")
        full = stats.mean_interval(res.student_entropy[row_at(res, budget, FULL)])
        a1.axhline(full[0], ls="--", lw=0.8, color="k" if budget == "equal steps" else "grey",
                   label=f"full distribution, {budget}")
    a1.axhline(float(np.mean(res.teacher_entropy[0])), ls=":", color="k", label="teacher")
    a2.axhline(1.0, ls=":", color="k", label="the teacher's (X.8)")
    a1.set_ylabel("students' answer entropy (nats)")
    a2.set_ylabel("students' mass outside the teacher's top k / the teacher's")
    for ax in (a1, a2):
        ax.set_xscale("log")
        ax.set_xlabel("k (the teacher's kept tokens)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return {"topk.png": fig,
            "training.png": report.fig_training(res, [f"{t}, {b}" for t, b in zip(res.target, res.budget)])}


def document(res: Results) -> doc.Section:
    """This experiment's report: the file per k, the students per row, the figures."""
    files = doc.Table(["k", "file bytes per token", "full distribution's", "ratio", "file (all students' pairs)",
                       "teacher pass (s, when written)"],
                      [[k, res.bytes_per_token[i], res.full_bytes_per_token,
                        f"{res.full_bytes_per_token / res.bytes_per_token[i]:.1f}x", f"{res.file_bytes[i] / 1e6:.3f} MB",
                        fmt(res.teacher_seconds[i])]
                       for k in _ks(res) for i in [row_at(res, res.budget[0], f"top-{k} + tail")]])
    rows = doc.Table(["budget", "target", "steps (mean)", "converged", "students − teacher H", "H − true H (S.3)",
                      "TV excess (S.3)", "hallucination", "between-student var (corrected)", "log-prob spread",
                      "next-token ECE", "tail mass / teacher's (top k)"],
                     [[res.budget[i], res.target[i], fmt(float(np.mean(res.mean_steps[i]))),
                       stats.cell(res.converged_share[i]) if res.budget[i] == "converged" else "—",
                       stats.cell(np.asarray(res.student_entropy[i]) - np.asarray(res.teacher_entropy[i])),
                       stats.cell(res.entropy_gap[i]), stats.cell(res.tv_excess[i]), stats.cell(res.hallucination[i]),
                       stats.cell(res.inter_student_variance_corrected[i]), stats.cell(res.logprob_spread[i]),
                       stats.cell(res.next_token_ece[i]),
                       f"{stats.cell(np.asarray(res.student_tail_mass[i]) / np.asarray(res.teacher_tail_mass[i]))} "
                       f"(k = {res.tail_k[i]})"]
                      for i in range(len(res.target))])
    teacher = doc.Table(["teacher H", "teacher H − true H (S.3)", "teacher hallucination", "teacher next-token ECE"],
                        [[stats.cell(res.teacher_entropy[0]), stats.cell(res.teacher_entropy_gap[0]),
                          stats.cell(res.teacher_hallucination[0]), fmt(res.teacher_next_token_ece[0])]])
    cfg = res.config
    return report.llm_section("Beyond the study: a top-k teacher, cached once, and the students' uncertainty", res, [
        doc.Paragraph(f"Every student distils with forward KL from the teacher-logits file at T = {fmt(cfg.temperature)} "
                      "(the teacher's top k and one exact tail bucket per scored token, computed once over every "
                      "student's pairs and reused), on the positions of its own teacher draw. 'top-k + tail' fits the "
                      "student's k cells and its mass on every other token to the teacher's; 'top-k renormalised' "
                      "(Tunix's form) fits the teacher's k tokens renormalised; 'full distribution' is the untruncated "
                      "soft target. 'equal steps' rows train the same steps; 'converged' rows train until each "
                      "student's training loss changes by less than 1e-3 over 5 epochs (at most three times the "
                      "steps). The next-token ECE is on the true answers of the evaluation prompts, each weighted by "
                      "its probability; the tail mass is each student's next-token mass outside the teacher's top k "
                      "on its own training positions over the teacher's (the full row: outside the smallest k)."),
        files, teacher, rows, doc.Figure("topk.png", "answer entropy and tail mass against k"),
        doc.Figure("training.png", "the students' training loss at every step")], steps=res.steps[0])
