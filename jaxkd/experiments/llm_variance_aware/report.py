"""The report of llm-variance-aware: its figures and its document."""

from __future__ import annotations

import numpy as np

from jaxkd import document as doc
from jaxkd.experiments.llm_study import report, stats
from jaxkd.experiments.llm_variance_aware.config import Config
from jaxkd.experiments.llm_variance_aware.run import (
    NAMES,
    Results,
    row_values,
    similarity_metric,
)
from jaxkd.plotting import subplots


def figures(res: Results) -> dict:
    """This experiment's figures, by file name (the document refers to them)."""
    fig, (a1, a2) = subplots(1, 2, figsize=(12, 4.5))
    y = np.arange(len(res.label))
    metric, title = similarity_metric(res)
    for ax, name, title in ((a1, metric, title),
                            (a2, "systematic_noise", "systematic noise (S.4; vs the direct fine-tune on single-answer "
                                                     "corpora)")):
        m = np.array([stats.mean_interval(row_values(res, name, i)) for i in range(len(res.label))])
        ax.errorbar(m[:, 0], y, xerr=[m[:, 0] - m[:, 1], m[:, 2] - m[:, 0]], fmt="o", capsize=3)
        ax.set_yticks(y)
        ax.set_yticklabels(res.label, fontsize=7)
        ax.invert_yaxis()
        ax.set_title(title, fontsize=9)
    a2.axvline(0.0, color="k", lw=0.8)
    fig.tight_layout()
    return {"methods.png": fig, "training.png": report.fig_training(res, res.label)}


def document(res: Results) -> doc.Section:
    """This experiment's report: tables and the figures of :func:`figures`."""
    idx = range(len(res.label))
    table = report.table(res, "method", res.label,
                         ["tv_excess", "hallucination", "entropy_gap", "centroid_cosine", "gt_similarity",
                          "systematic_noise", "student_noise", "noise_slope", "noise_r2",
                          "inter_student_variance_corrected", "greedy_disagreement"],
                         ["TV excess to truth (S.3)", "hallucination", "H − true H (S.3)", "cos to true centroid (S.2)",
                          "cos to nearest valid", "systematic noise (S.4)", "avg noise", "noise slope", "R²",
                          "between-student var (corrected)", "greedy disagreement"])
    compute = doc.Table(["method", "schedule", "steps", "passes", "pairs per student", "training tokens"],
                        [[res.label[i], res.schedule[i], res.steps[i], res.passes[i], res.pairs[i],
                          res.training_tokens[i]] for i in idx])
    return report.llm_section("Variance-aware LLM distillation (Section 7.3, Table 1; App. F)", res, [
        doc.Paragraph("Rows marked 'equal' train the single-response steps and decide the claims; " + (
            "rows marked 'study' train for epochs × k passes over their own set (the study's schedule, so compute "
            "grows with k: its verdicts are compute-confounded); 'k× steps' rows complete the steps × method grid. "
            if "study" in res.schedule else "the study's schedule (epochs × k passes over each method's set) and the "
            "steps × method grid were not run (--study-schedule; on at the paper preset). ") +
            f"Teacher TV excess to the truth: {stats.cell(res.teacher_tv_excess[0])}; the truth's own noise "
            f"{stats.cell(res.true_noise[0])}."),
        table, doc.Paragraph(doc.Strong("Gain over single-response against compute"), " (single − method of the "
                             "deciding similarity measure, paired by replicate, per steps budget):"), grid(res),
        doc.Paragraph(doc.Strong("Compute per row")), compute, doc.Figure("methods.png", "methods"),
        doc.Figure("training.png", "the students' training loss at every step")],
        passes="passes per row as in the compute table", departures_extra=departures(res.config))


def departures(cfg: Config) -> list[list[str]]:
    """This experiment's rows of the departures table: which schedules and methods ran."""
    return [["variance-aware training schedule", "epochs × k passes over each method's set (multi-response: k² "
             "times single's steps)", ("every method at its own convergence (deciding); " if cfg.converged_rows else "")
             + "every method at equal epochs per target (multi-response k × single's steps; "
             + ("beside" if cfg.converged_rows else "deciding") + ") and at single's steps (beside)" + (
                 "; the study's schedule and a steps × method grid beside" if cfg.study_schedule else
                 "; the study's schedule not run (--study-schedule)"),
             "like for like: at equal steps multi-response sees each of its k× pairs 1/k as often, so it "
             "measures how far training got" + ("" if cfg.converged_rows else "; converged rows (--converged-rows) "
                                               "are left to the paper preset to keep the quick budget")
             + ("" if cfg.study_schedule else "; the study's schedule, k to k² times the steps per row, is left to "
                "the paper preset")],
            ["variance-aware methods", "single, multi-response, averaging, variance weighting",
             "the same and the direct fine-tune" + (
                 ", jaxkd's variance weighting and token-level soft targets" if cfg.jaxkd_methods else
                 " (jaxkd's two additions: --jaxkd-methods)"),
             "the study's methods decide; the additions are jaxkd's" + (
                 "" if cfg.jaxkd_methods else ", left to the paper preset to keep the quick budget")]]


def grid(res: Results) -> doc.Table:
    """The steps x method grid: each method's gain over single-response trained for the same
    steps, at every steps budget the rows hold."""
    metric, _ = similarity_metric(res)
    values = [row_values(res, metric, i) for i in range(len(res.label))]
    cells = {}
    for i in range(len(res.label)):
        if res.method[i] in ("direct", "soft"):
            continue
        cells.setdefault(res.steps[i], {})[NAMES.get(res.method[i], res.method[i]) + (
            f" k={res.k[i]}" if res.method[i] != "single" else "")] = values[i]
    names = sorted({n for c in cells.values() for n in c if n != "single"})
    rows = []
    for steps in sorted(cells):
        base = cells[steps].get("single")
        rows.append([steps] + [stats.cell(base - cells[steps][n]) if base is not None and n in cells[steps] else "—"
                               for n in names])
    return doc.Table(["steps"] + names, rows)
