"""The report of output-entropy: its figures and its document."""

from __future__ import annotations

import numpy as np

from jaxkd import document as doc
from jaxkd.experiments import fit
from jaxkd.experiments.output_entropy.run import (
    GROUPS,
    MARGIN_FLOOR,
    MIN_EXAMPLES,
    MIN_REPLICATES,
    ROLES,
    STUDENTS,
    Results,
    group_score,
    is_judged,
    num,
)
from jaxkd.formatting import fmt
from jaxkd.plotting import subplots

_ROLE_LABELS = {"teacher": "teacher", "student_hard": "student (hard labels)", "student_soft": "student (soft, T)"}


def fig_output_entropy(res: Results):
    """The study's display: per dataset (columns) and model class (rows), mean entropy ± std
    per group for the teacher and the students, averaged over replicates; under each group its
    mean size per replicate for teacher / hard / soft student ("n = 0": nobody in the group)."""
    keys = list(res.runs)
    datasets = list(dict.fromkeys(k.rsplit("-", 1)[0] for k in keys))
    models = list(dict.fromkeys(k.rsplit("-", 1)[1] for k in keys))
    fig, axes = subplots(len(models), len(datasets), figsize=(4.2 * len(datasets), 3.4 * len(models)),
                         squeeze=False, sharey="row")
    x = np.arange(len(GROUPS))
    for i, model in enumerate(models):
        for j, name in enumerate(datasets):
            ax, r = axes[i][j], res.runs.get(f"{name}-{model}")
            if r is None:
                ax.set_visible(False)
                continue
            for off, role in zip((-0.27, 0.0, 0.27), ROLES):
                mean = np.array([np.nan_to_num(num(getattr(r, f"{role}_{g}_mean"))) for g in GROUPS])
                std = np.array([np.nan_to_num(num(getattr(r, f"{role}_{g}_std"))) for g in GROUPS])
                ax.bar(x + off, mean, width=0.27, yerr=[np.minimum(std, mean), std], capsize=2,
                       label=_ROLE_LABELS[role])
            # Mean group size per replicate, teacher / hard / soft ("n = 0": an empty group).
            counts = ["/".join(_count(num(getattr(r, f"{role}_{g}_count"))) for role in ROLES) for g in GROUPS]
            ax.set_xticks(x, [f"{g}\nn={c}" for g, c in zip(GROUPS, counts)], fontsize=9)
            ax.set_title(f"{name}, {model} (acc: T {fmt(r.teacher_accuracy, 3)}, S {fmt(r.student_hard_accuracy, 3)})",
                         fontsize=9)
            ax.set_ylim(bottom=0)
            if j == 0:
                ax.set_ylabel("predictive entropy (nats)\nmean ± std, by own correctness", fontsize=9)
    axes[0][0].legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def _count(x: float) -> str:
    """A mean group size, short: whole numbers from 10 up, one decimal below."""
    return "0" if not np.isfinite(x) or x == 0 else (f"{x:.0f}" if x >= 10 else f"{x:.1f}")


def fig_entropy_difference(res: Results):
    """What decides the claim: per dataset-model and group of the teacher's test examples, the
    hard-label student's mean entropy minus the teacher's, mean over replicates with its 95%
    interval, against the shaded retraining margin (±1.96 × RMS of retrained teachers'
    differences). Groups too small to judge are drawn hollow."""
    keys = list(res.runs)
    fig, axes = subplots(1, len(GROUPS), figsize=(4.2 * len(GROUPS), 0.45 * len(keys) + 1.6), sharey=True,
                         squeeze=False)
    y = np.arange(len(keys))[::-1]
    for ax, g in zip(axes[0], GROUPS):
        for yi, key in zip(y, keys):
            r = res.runs[key]
            margin = num(getattr(r, f"teacher_{g}_margin"))
            if np.isfinite(margin):
                ax.fill_betweenx([yi - 0.35, yi + 0.35], -margin, margin, color="0.85", lw=0)
            d, lo, hi = (num(getattr(r, f"student_hard_{g}_{k}")) for k in ("delta", "delta_low", "delta_high"))
            if np.isfinite(d):
                judged = is_judged(r, g)
                ax.errorbar([d], [yi], xerr=[[d - lo], [hi - d]], fmt="o", capsize=3,
                            color="C0" if judged else "0.5", mfc="C0" if judged else "white")
        ax.axvline(0, color="k", lw=0.8)
        ax.set_title(f"{g} (teacher's groups)", fontsize=10)
        ax.set_xlabel("Δ entropy, student − teacher (nats)", fontsize=9)
    axes[0][0].set_yticks(y, keys, fontsize=9)
    fig.suptitle("Hard-label students: Δ entropy with 95% interval over replicates; grey band: retraining margin",
                 fontsize=10)
    fig.tight_layout()
    return fig


def figures(res: Results) -> dict:
    """This experiment's figures, by file name (the document refers to them)."""
    return {"entropy.png": fig_output_entropy(res), "entropy_difference.png": fig_entropy_difference(res)}








def _fits(res: Results) -> list:
    """The fit table's rows: per dataset-model its teachers (a row of their own), then each
    student kind (their held-out loss: the test cross-entropy against the true labels)."""
    names = {"teacher": "teachers", "student_hard": "hard-label students", "student_soft": "soft-target students"}
    return [(f"{key}, {names[role]}", getattr(r, f"{role}_fit")) for key, r in res.runs.items() for role in ROLES]


def document(res: Results) -> doc.Section:
    """This experiment's report: tables and the figures of :func:`figures`."""
    cfg = res.config
    rows = []
    for key, r in res.runs.items():
        for role in STUDENTS:
            for g in GROUPS:
                sig = num(getattr(r, f"{role}_{g}_significant"))
                d, lo, hi = (num(getattr(r, f"{role}_{g}_{k}")) for k in ("delta", "delta_low", "delta_high"))
                margin = num(getattr(r, f"teacher_{g}_margin"))
                if not np.isfinite(d):
                    verdict = "empty"
                elif not is_judged(r, g):
                    verdict = "too few to judge"
                else:
                    _, low, high = group_score(r, g, role)
                    verdict = "within" if low > 0 else ("outside" if high < 0 else "undecided")
                cell = (lambda role: f"{fmt(num(getattr(r, f'{role}_{g}_mean')), 3)} ± "
                        f"{fmt(num(getattr(r, f'{role}_{g}_std')), 2)} (n={fmt(num(getattr(r, f'{role}_{g}_count')), 3)})")
                rows.append([key, role.split("_")[1], g, r.teacher_accuracy, getattr(r, f"{role}_accuracy"),
                             cell("teacher"), cell(role), None if not np.isfinite(sig) else f"{fmt(100 * sig, 3)}%",
                             "n/a" if not np.isfinite(d) else f"{fmt(d, 3)} [{fmt(lo, 3)}, {fmt(hi, 3)}]",
                             None if not np.isfinite(margin) else f"±{fmt(margin, 3)}",
                             f"{int(num(getattr(r, f'{role}_{g}_examples')))} / {int(num(getattr(r, f'{role}_{g}_replicates')))}",
                             verdict])
    table = doc.Table(["dataset-model", "student target", "group", "teacher acc", "student acc",
                       "teacher entropy (own groups)", "student entropy (own groups)", "disjoint ± std (study)",
                       "Δ entropy on the teacher's group [95%]", "retraining margin", "examples / replicates",
                       "Δ within margin"], rows)
    return doc.Section("Student output uncertainty: predictive entropy of distilled classifiers", [
        doc.Paragraph(
            f"Study Section 6.1, {cfg.replicates} replicates per dataset and model class (the study trains one "
            f"teacher and one student): each its own teacher trained on the true labels and its own students. "
            f"Teacher hidden {cfg.teacher_hidden}, student hidden {cfg.student_hidden} (MLP), {cfg.epochs} epochs of "
            f"full-batch Adam for the teachers and {cfg.students_epochs} for the students (lr {cfg.learning_rate}), {cfg.init} initialisation, stratified split with seed "
            f"{cfg.split_seed}. Hard: the student learns the teacher's argmax labels (the study). Soft: it learns "
            f"the teacher's probabilities at T = {cfg.temperature} (not in the study). Entropies, accuracies and "
            "counts are means over replicates; entropy std with ddof 0 as the study's script."),
        doc.Paragraph(
            "'disjoint ± std' is the study's rule, each model grouped by its own correctness: the share of "
            "replicates where the teacher's and the student's mean ± std intervals are disjoint. The verdict uses "
            "the paired comparison: on each replicate's teacher-correct / teacher-incorrect test examples, the "
            "student's mean entropy minus the teacher's; mean and 95% t-interval over replicates; the margin is "
            "1.96 × the root mean square of the same difference between two independently trained teachers "
            f"(at least {MARGIN_FLOOR} nats). Groups under {MIN_EXAMPLES} examples per replicate or "
            f"{MIN_REPLICATES} replicates are reported, not judged."),
        doc.Paragraph("Departures from the study's scripts: features are standardized on the training split (the "
                      "scripts standardize all rows before splitting); several replicates instead of one; the "
                      "soft-target student is jaxkd's addition."),
        table, *fit.table(_fits(res), "teachers and students"),
        doc.Figure("entropy.png", "predictive entropy by group (the study's display)"),
        doc.Figure("entropy_difference.png", "Δ entropy with its 95% interval against the retraining margin")])
