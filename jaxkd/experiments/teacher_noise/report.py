"""The report of teacher-noise: its figures and its document."""

from __future__ import annotations

import numpy as np

from jaxkd import document as doc
from jaxkd.experiments import fit
from jaxkd.experiments.teacher_noise.run import Results
from jaxkd.formatting import fmt
from jaxkd.plotting import subplots


def _chord(ax, a, f, **kw) -> None:
    """The straight line from the first level to the last: a curve above it bends downward,
    below it upward (what super-linear means)."""
    ax.plot([a[0], a[-1]], [f[0], f[-1]], ":", color="0.4", lw=1, **kw)


def fig_teacher_noise_variance(res: Results):
    """V against α, ±2 SE; with MLP students, the straight chord the claim's curvature is
    measured against (4.1: OLS students' V is exactly linear)."""
    fig, ax = subplots(figsize=(5.5, 4))
    a = np.asarray(res.alpha)
    lin = res.closed_forms
    if res.linear is not None:
        ax.errorbar(a, res.inter_student_variance, yerr=2 * np.asarray(res.inter_student_variance_se),
                    fmt="s-", capsize=2, label="MLP students (±2 SE)")
        _chord(ax, a, np.asarray(res.inter_student_variance), label="MLP: straight line α₀ → α_max")
    ax.errorbar(a, lin.inter_student_variance, yerr=2 * np.asarray(lin.inter_student_variance_se),
                fmt="o", capsize=2, label="linear students (±2 SE)")
    ax.plot(a, lin.predicted_variance, "-", label="linear closed form σ²c (4.1)")
    ax.set_xlabel("teacher noise level α (σ² = α·Var(y_train))")
    ax.set_ylabel("inter-student variance V (standardized target)²")
    ax.set_title("Inter-student variance vs teacher noise")
    ax.legend(fontsize=8)
    return fig


def fig_teacher_noise_mse(res: Results):
    """Mean test MSE against α, ±2 SE of the mean; the MLP chord as in the variance figure."""
    fig, ax = subplots(figsize=(8.5, 4))  # room for the legend beside the axes
    a = np.asarray(res.alpha)
    lin = res.closed_forms
    se = lambda r, k: 2 * np.asarray(getattr(r, f"{k}_std")) / np.sqrt(r.num_students)  # noqa: E731
    if res.linear is not None:
        ax.errorbar(a, res.mse_teacher, yerr=se(res, "mse_teacher"), fmt="^-", capsize=2, label="MLP vs teacher")
        ax.errorbar(a, res.mse_truth, yerr=se(res, "mse_truth"), fmt="v-", capsize=2,
                    label="MLP vs ground truth (±2 SE)")
        _chord(ax, a, np.asarray(res.mse_truth), label="MLP vs truth: straight line")
    ax.errorbar(a, lin.mse_teacher, yerr=se(lin, "mse_teacher"), fmt="o", capsize=2, label="linear vs teacher, simulated")
    ax.plot(a, lin.predicted_mse_teacher, "-", label="linear vs teacher, closed form (4.2)")
    ax.errorbar(a, lin.mse_truth, yerr=se(lin, "mse_truth"), fmt="s", capsize=2, label="linear vs ground truth, simulated")
    ax.plot(a, lin.predicted_mse_truth, "--", label="linear vs ground truth, closed form (4.3)")
    ax.set_xlabel("teacher noise level α")
    ax.set_ylabel("mean test MSE (standardized target)²")
    ax.set_title("Student test MSE vs teacher noise (±2 SE of the mean)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    fig.tight_layout()
    return fig


def fig_teacher_noise_mse_variance(res: Results):
    """The study's "variance": the spread across students of each one's test MSE against the
    ground truth, ±2 SE. MLP and OLS students in panels of their own (the OLS control is an
    order of magnitude smaller), the OLS panel with X.1's closed form: quadratic in σ², so
    this curve bends upward for OLS students too."""
    a = np.asarray(res.alpha)
    lin = res.closed_forms
    panels = ([("MLP students", res, None)] if res.linear is not None else []) + [
        ("linear (OLS) students", lin, lin.predicted_mse_truth_variance)]
    fig, axes = subplots(1, len(panels), figsize=(4.8 * len(panels), 3.8), squeeze=False)
    for ax, (title, r, closed) in zip(axes[0], panels):
        ax.errorbar(a, r.mse_truth_variance, yerr=2 * np.asarray(r.mse_truth_variance_se), fmt="o-" if closed is None
                    else "o", capsize=2, label="simulated (±2 SE)")
        if closed is not None:
            ax.plot(a, closed, "-", label="closed form (X.1)")
        _chord(ax, a, np.asarray(r.mse_truth_variance), label="straight line")
        ax.set_xlabel("teacher noise level α")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("Var across students of test MSE vs truth")
    fig.suptitle("The study's 'variance': spread of the test MSE", fontsize=11)
    fig.tight_layout()
    return fig


def figures(res: Results) -> dict:
    """This experiment's figures, by file name (the document refers to them)."""
    return {"variance.png": fig_teacher_noise_variance(res), "mse.png": fig_teacher_noise_mse(res),
            "mse_variance.png": fig_teacher_noise_mse_variance(res)}


def document(res: Results) -> doc.Section:
    """This experiment's report: tables and the figures of :func:`figures`."""
    cfg = res.config
    lin = res.closed_forms
    columns = [getattr(lin, k) for k in ("sigma2", "inter_student_variance", "predicted_variance", "mse_teacher",
                                         "predicted_mse_teacher", "mse_truth", "predicted_mse_truth",
                                         "mse_truth_variance", "predicted_mse_truth_variance")]
    headers = ["α", "σ²", "V linear", "V = σ²c (4.1)", "MSE teacher", "σ²c (4.2)", "MSE truth",
               "closed form (4.3)", "Var(MSE truth)", "closed form (X.1)"]
    if res.linear is not None:
        columns += [res.inter_student_variance, res.mse_teacher, res.mse_truth, res.mse_truth_variance]
        headers += ["V MLP", "MLP MSE teacher", "MLP MSE truth", "MLP Var(MSE truth)"]
    blocks = [doc.Paragraph(f"Study Section 4; docs/theorems.md 4.1-4.3, X.1. Split seed {cfg.split_seed} (the study's "
                            "script); the linear columns are OLS teacher and students on the same split. ",
                            doc.Formula(f"c = tr(X* G⁻¹ X*ᵀ)/m = {fmt(lin.c)}"), "."),
              doc.Paragraph("V is the variance of the students' test predictions; Var(MSE truth) is the variance "
                            "across students of each one's test MSE against the ground truth, the quantity the "
                            "study's figure plots as \"variance\". The latter is quadratic in σ² even for OLS "
                            "students (X.1), so its bend is no evidence of a non-linear effect; V and the mean test "
                            "MSE are linear in σ² for any linear smoother (4.1, 4.3), and the claim is judged on them.")]
    if res.linear is not None:
        blocks.append(doc.Paragraph(
            f"MLP teacher and students 13 → {', '.join(map(str, cfg.hidden))} → 1, Adam lr {cfg.learning_rate}, "
            f"{cfg.students_epochs} full-batch epochs, {cfg.init} initialisation (torch: PyTorch's default, as the study's "
            "script). Departure from the study's script: each student keeps its own init at every α (the study draws "
            "new seeds per level), so the levels are paired and the curve isolates teacher noise."))
    blocks += [doc.Table(headers, list(zip(res.alpha, *columns))),
               *fit.table([(f"α = {fmt(a)}", f) for a, f in zip(res.alpha, res.fit or ())], "MLP students"),
               doc.Figure("variance.png", "inter-student variance, ±2 SE"),
               doc.Figure("mse.png", "mean test MSE, ±2 SE"),
               doc.Figure("mse_variance.png", "variance of the test MSE, ±2 SE; OLS students against X.1")]
    return doc.Section(f"Teacher output uncertainty ({cfg.model}, {cfg.dataset}, {cfg.num_students} students)", blocks)
