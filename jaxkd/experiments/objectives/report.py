"""The report of objectives: its figures and its document."""

from __future__ import annotations

import numpy as np

from jaxkd import document as doc
from jaxkd.experiments import fit
from jaxkd.experiments.objectives.run import Cell, Results, entropy_gap, stopping, t_interval
from jaxkd.formatting import fmt
from jaxkd.plotting import subplots


def fig_entropy_gap(res: Results):
    """Entropy gap to the teacher (all test examples) per objective, one line per dataset-model,
    with 95% intervals over seeds."""
    labels = res.labels
    fig, ax = subplots(1, 1, figsize=(max(7.0, 1.2 * len(labels)), 4.2))
    x = np.arange(len(labels))
    for i, (key, cell) in enumerate(res.runs.items()):
        est = np.array([t_interval(entropy_gap(cell, o)) for o in range(len(labels))])
        off = (i - (len(res.runs) - 1) / 2) * 0.06
        ax.errorbar(x + off, est[:, 0], yerr=[est[:, 0] - est[:, 1], est[:, 2] - est[:, 0]], marker="o",
                    capsize=2, label=key)
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set_xticks(x, labels)
    ax.set_ylabel("student − teacher mean entropy (nats), 95% CI")
    ax.set_title("Predictive entropy of distilled classifiers by objective")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def figures(res: Results) -> dict:
    """This experiment's figures, by file name (the document refers to them)."""
    return {"entropy_gap.png": fig_entropy_gap(res)}


def _ci(x, digits: int = 3) -> str:
    est, lo, hi, _ = t_interval(x)
    if not np.isfinite(est):
        return "n/a"
    return f"{fmt(est, digits)} [{fmt(lo, digits)}, {fmt(hi, digits)}]" if np.isfinite(lo) else fmt(est, digits)


def fits(res: Results, cell: Cell) -> list[tuple[str, fit.FitSummary]]:
    """Each objective's students in a cell: how far they trained (:class:`jaxkd.experiments.fit.FitSummary`;
    the loss is the objective itself, on the training and on the test inputs)."""
    cfg = res.config
    rule = stopping(cfg)
    if cell.student_steps is None:  # saved before fits were recorded
        return []
    steps, conv = cell.array("student_steps"), cell.array("student_converged")
    train, held = cell.array("student_train_loss"), cell.array("student_held_out_loss")
    rows = []
    for o, (label, _, _, hard) in enumerate(cfg.objectives()):
        on_rule = rule is not None and not (hard and cfg.hard_epochs is not None)
        budget = cfg.student_epochs if on_rule or rule is None else cfg.hard_epochs
        rows.append((label, fit.FitSummary(int(steps.shape[1]), budget, float(steps[o].mean()), float(train[o].mean()),
                                           float(held[o].mean()), float(conv[o].mean()), on_rule,
                                           fit.rule_text(rule) if on_rule else "a fixed budget")))
    return rows


def document(res: Results) -> doc.Section:
    """This experiment's report: per dataset-model, the teacher's row and each objective's, then the
    X.5 training-set check and the figure."""
    cfg = res.config
    headers = ["model", "accuracy", "ECE", "entropy, all", "Δ entropy, all", "Δ entropy, teacher right",
               "Δ entropy, teacher wrong", "agreement"]
    blocks = [doc.Paragraph(
        f"Teachers trained on the true labels ({cfg.num_seeds} seeds, {cfg.epochs} epochs of full-batch Adam, lr "
        f"{cfg.learning_rate}; MLP teachers {cfg.teacher_hidden} hidden units, students {cfg.student_hidden}); "
        f"students trained {cfg.fit_label}. "
        f"Students distilled from each seed's teacher with every objective: hard argmax labels (the study's "
        f"setting, T = 1), and the teacher's logits at T = {cfg.temperature:g} under forward KL, JSD(β) (TRL's β: "
        "0 forward, 1 reverse) and reverse KL. Each cell: mean over seeds and its 95% Student-t interval. "
        "Δ entropy = student minus teacher mean predictive entropy (nats) on the same test examples, paired by "
        "seed; 'teacher right / wrong' are the test examples the seed's teacher classifies correctly / not. "
        "ECE: expected calibration error, 15 equal-width bins.")]
    for key, cell in res.runs.items():
        rows = [["teacher", _ci(cell.array("teacher_accuracy")), _ci(cell.array("teacher_ece")),
                 _ci(cell.array("teacher_entropy_all")), "0", "0", "0", "1"]]
        for o, label in enumerate(res.labels):
            rows.append([label, _ci(cell.array("student_accuracy")[o]), _ci(cell.array("student_ece")[o]),
                         _ci(cell.array("student_entropy_all")[o]), _ci(entropy_gap(cell, o, "all")),
                         _ci(entropy_gap(cell, o, "correct")), _ci(entropy_gap(cell, o, "incorrect")),
                         _ci(cell.array("student_agreement")[o])])
        wrong = cell.array("teacher_count_incorrect")
        blocks += [doc.Paragraph(doc.Strong(key), f": {cell.num_classes} classes, {cell.train_size} training and "
                                 f"{cell.test_size} test examples; the teachers get {fmt(float(np.mean(wrong)), 3)} "
                                 "test examples wrong on average."),
                   doc.Table(headers, rows), *fit.table(fits(res, cell), f"{key} students")]
    x5 = []
    for key, cell in res.runs.items():
        for o in (0, 1):  # hard labels and forward KL: the objectives X.5 covers
            gap, kl = cell.array("student_train_entropy_gap")[o], cell.array("student_train_kl")[o]
            x5.append([key, res.labels[o], _ci(gap, 4), _ci(kl, 4), _ci(gap - kl, 4)])
    blocks += [
        doc.Paragraph("Training-set check of X.5 (docs/theorems.md): at a stationary point of forward KL the "
                      "student's mean entropy exceeds its target's by exactly the mean residual KL(p‖q) (the target "
                      "is the teacher at T, or the one-hot label). The last column is the remainder, zero at "
                      "stationarity; its size says how far from stationary the students stopped."),
        doc.Table(["dataset-model", "objective", "H(q) − H(target), train", "KL(target‖q), train",
                   "remainder"], x5),
        doc.Figure("entropy_gap.png", "entropy gap to the teacher per objective")]
    return doc.Section("Which distillation objective keeps the teacher's uncertainty? (classifiers)", blocks)
