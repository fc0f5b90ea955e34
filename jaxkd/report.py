"""Tables and figures from results: one function per figure, markdown per experiment.

Figures are matplotlib PNGs with labelled axes; closed forms from THEOREMS.md are drawn as
lines over the simulated points they predict.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from jaxkd.runs import RunDir  # noqa: E402


def fmt(x, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    x = float(x)
    return f"{x:.{digits}g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.{max(digits - 1, 1)}e}"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence]) -> str:
    """A GitHub-flavoured markdown table; numbers are formatted with :func:`fmt`."""
    cells = [[c if isinstance(c, str) else fmt(c) for c in row] for row in rows]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def _nan(values) -> np.ndarray:
    return np.array([np.nan if x is None else x for x in values], dtype=float)


# --- teacher-noise ----------------------------------------------------------------------------


def fig_teacher_noise_variance(res: dict):
    fig, ax = plt.subplots(figsize=(5.5, 4))
    a = np.asarray(res["alpha"])
    ax.errorbar(a, res["inter_student_variance"], yerr=2 * np.asarray(res["inter_student_variance_se"]),
                fmt="o", label="simulated (±2 SE)")
    ax.plot(a, res["predicted_variance"], "-", label="closed form σ²c (4.1)")
    ax.set_xlabel("teacher noise level α (σ² = α·Var(y_train))")
    ax.set_ylabel("inter-student variance (standardized target)²")
    ax.set_title("Inter-student variance vs teacher noise")
    ax.legend()
    return fig


def fig_teacher_noise_mse(res: dict):
    fig, ax = plt.subplots(figsize=(5.5, 4))
    a = np.asarray(res["alpha"])
    ax.plot(a, res["mse_teacher"], "o", label="vs teacher, simulated")
    ax.plot(a, res["predicted_mse_teacher"], "-", label="vs teacher, closed form (4.2)")
    ax.plot(a, res["mse_truth"], "s", label="vs ground truth, simulated")
    ax.plot(a, res["predicted_mse_truth"], "--", label="vs ground truth, closed form (4.3)")
    ax.set_xlabel("teacher noise level α")
    ax.set_ylabel("test MSE (standardized target)²")
    ax.set_title("Student test MSE vs teacher noise")
    ax.legend()
    return fig


def report_teacher_noise(res: dict, cfg, run_dir: RunDir) -> str:
    run_dir.save_figure(fig_teacher_noise_variance(res), "variance.png")
    run_dir.save_figure(fig_teacher_noise_mse(res), "mse.png")
    rows = [[a, s2, v, p, mt, pt, my, py] for a, s2, v, p, mt, pt, my, py in zip(
        res["alpha"], res["sigma2"], res["inter_student_variance"], res["predicted_variance"],
        res["mse_teacher"], res["predicted_mse_teacher"], res["mse_truth"], res["predicted_mse_truth"])]
    table = markdown_table(["α", "σ²", "V simulated", "V = σ²c (4.1)", "MSE teacher",
                            "σ²c (4.2)", "MSE truth", "closed form (4.3)"], rows)
    return (f"# Teacher output uncertainty ({cfg.model}, {cfg.dataset}, {cfg.num_students} students)\n\n"
            f"Study Section 4; THEOREMS.md 4.1-4.3. c = tr(X* G⁻¹ X*ᵀ)/m = {fmt(res['c'])}.\n\n"
            f"{table}\n\n![inter-student variance](variance.png)\n\n![test MSE](mse.png)\n")


# --- bootstrap --------------------------------------------------------------------------------


def fig_bootstrap_variance(res: dict):
    fig, ax = plt.subplots(figsize=(5.5, 4))
    b = np.asarray(res["b"])
    ax.loglog(b, res["truth_variance"], "o-", label="ground-truth labels")
    ax.loglog(b, np.maximum(_nan(res["teacher_variance"]), 1e-300), "s-", label="teacher labels (all)")
    ax.loglog(b, np.maximum(_nan(res["teacher_variance_full_rank"]), 1e-300), "^:",
              label="teacher labels (full-rank resamples)")
    ax.loglog(b, res["predicted_truth_variance"], "--", label="(τ²/b)·xᵀΣ⁻¹x (5.2)")
    ax.loglog(b, _nan(res["gaussian_truth_variance"]), ":", label="τ²/(b−d−1)·xᵀΣ⁻¹x (Gaussian)")
    ax.set_xlabel("bootstrap sample size b (rows)")
    ax.set_ylabel("inter-student variance (standardized target)²")
    ax.set_title("Bootstrap students: predictive variance")
    ax.legend(fontsize=8)
    return fig


def fig_bootstrap_mse(res: dict):
    fig, ax = plt.subplots(figsize=(5.5, 4))
    b = np.asarray(res["b"])
    ax.loglog(b, res["truth_mse"], "o-", label="ground-truth labels")
    ax.loglog(b, res["teacher_mse"], "s-", label="teacher labels")
    ax.loglog(b, res["predicted_truth_mse"], "--", label="τ²(1 + d/b) (5.3)")
    ax.set_xlabel("bootstrap sample size b (rows)")
    ax.set_ylabel("test MSE vs observed labels")
    ax.set_title("Bootstrap students: test MSE")
    ax.legend(fontsize=8)
    return fig


def report_bootstrap(res: dict, cfg, run_dir: RunDir) -> str:
    run_dir.save_figure(fig_bootstrap_variance(res), "variance.png")
    run_dir.save_figure(fig_bootstrap_mse(res), "mse.png")
    keys = ["b", "full_rank_fraction", "teacher_variance", "teacher_variance_full_rank",
            "truth_variance", "predicted_truth_variance", "teacher_mse", "truth_mse",
            "predicted_truth_mse"]
    table = markdown_table(["b", "full-rank share", "V teacher-labelled", "V teacher (full rank)",
                            "V ground truth", "(τ²/b)xᵀΣ⁻¹x (5.2)", "MSE teacher-labelled",
                            "MSE ground truth", "τ²(1+d/b) (5.3)"],
                           list(zip(*(res[k] for k in keys))))
    return (f"# Bootstrap students ({cfg.model}, {cfg.dataset}, {cfg.num_students} students)\n\n"
            f"Study Section 5.2; THEOREMS.md 5.1-5.3. τ̂² (OLS residual variance) = {fmt(res['tau2_hat'])}, "
            f"d = {res['d']}, n = {res['n']}. Rank-deficient resamples get the minimum-norm fit; "
            "5.1's zero variance holds for the full-rank ones.\n\n"
            f"{table}\n\n![variance](variance.png)\n\n![MSE](mse.png)\n")


# --- variance-aware ---------------------------------------------------------------------------

_METHOD_LABELS = {"average": "averaging", "oracle": "variance-weighting (oracle)",
                  "honest": "variance-weighting (honest)"}


def _by_alpha(res: dict):
    alphas = list(dict.fromkeys(res["alpha"]))
    for a in alphas:
        rows = [i for i, x in enumerate(res["alpha"]) if x == a]
        yield a, rows


def fig_variance_aware(res: dict, metric: str, ylabel: str):
    groups = list(_by_alpha(res))
    fig, axes = plt.subplots(1, len(groups), figsize=(4.2 * len(groups), 3.8), squeeze=False)
    for ax, (a, rows) in zip(axes[0], groups):
        k = np.asarray(res["k"])[rows]
        for method, label in _METHOD_LABELS.items():
            ax.loglog(k, np.asarray(res[f"{method}_{metric}"])[rows], "o-", ms=3, label=label)
        if metric == "variance":
            ax.loglog(k, np.asarray(res["predicted_average_variance"])[rows], "k--", label="(σ²/k)c (7.1)")
        ax.set_title(f"α = {a}")
        ax.set_xlabel("teacher responses per input k")
        ax.set_ylabel(ylabel)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def report_variance_aware(res: dict, cfg, run_dir: RunDir) -> str:
    run_dir.save_figure(fig_variance_aware(res, "variance", "inter-student variance"), "variance.png")
    run_dir.save_figure(fig_variance_aware(res, "mse_teacher", "test MSE vs teacher"), "mse.png")
    headers = ["α", "k", "V (σ²/k)c", "V averaging", "V oracle", "V honest",
               "MSE truth averaging", "MSE truth oracle", "MSE truth honest"]
    keys = ["alpha", "k", "predicted_average_variance", "average_variance", "oracle_variance",
            "honest_variance", "average_mse_truth", "oracle_mse_truth", "honest_mse_truth"]
    table = markdown_table(headers, list(zip(*(res[k] for k in keys))))
    return (f"# Variance-aware distillation ({cfg.model}, {cfg.dataset}, {cfg.num_students} students)\n\n"
            "Study Section 7; THEOREMS.md 7.1-7.4. *Oracle* combines the averaged responses with the "
            "clean teacher mean (the study's experiment; not available in practice). *Honest* combines "
            "them with a cross-fitted student, variances estimated from the data.\n\n"
            f"{table}\n\n![variance](variance.png)\n\n![MSE](mse.png)\n")


REPORTS: dict[str, Callable] = {
    "teacher-noise": report_teacher_noise,
    "bootstrap": report_bootstrap,
    "variance-aware": report_variance_aware,
}


def theory_table(checks) -> str:
    """Markdown table of ``theory.verify`` checks."""
    rows = [[c.result, c.case, c.predicted, c.observed, c.tolerance, "pass" if c.passed else "FAIL"]
            for c in checks]
    return markdown_table(["result", "statement", "closed form", "simulated", "tolerance", ""], rows)
