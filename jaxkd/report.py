"""Tables and figures from results: one function per figure, markdown per experiment.

Figures are matplotlib PNGs with labelled axes; closed forms from docs/theorems.md are drawn as
lines over the simulated points they predict.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from matplotlib.figure import Figure

from jaxkd.formatting import fmt, markdown_table
from jaxkd.runs import RunDir


def _subplots(*grid, figsize=None, **kwargs):
    """A figure and its axes without pyplot: no global backend or figure registry is touched,
    so importing or calling this module changes nothing for the caller (notebooks display the
    returned Figure; run folders save it)."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*grid, **kwargs)


def _nan(values) -> np.ndarray:
    return np.array([np.nan if x is None else x for x in values], dtype=float)


# --- teacher-noise ----------------------------------------------------------------------------


def fig_teacher_noise_variance(res: dict):
    fig, ax = _subplots(figsize=(5.5, 4))
    a = np.asarray(res["alpha"])
    lin = "linear_" if "linear_inter_student_variance" in res else ""
    if lin:
        ax.errorbar(a, res["inter_student_variance"], yerr=2 * np.asarray(res["inter_student_variance_se"]),
                    fmt="s-", label="MLP students (±2 SE)")
    ax.errorbar(a, res[f"{lin}inter_student_variance"], yerr=2 * np.asarray(res[f"{lin}inter_student_variance_se"]),
                fmt="o", label="linear students (±2 SE)")
    ax.plot(a, res[f"{lin}predicted_variance"], "-", label="linear closed form σ²c (4.1)")
    ax.set_xlabel("teacher noise level α (σ² = α·Var(y_train))")
    ax.set_ylabel("inter-student variance (standardized target)²")
    ax.set_title("Inter-student variance vs teacher noise")
    ax.legend()
    return fig


def fig_teacher_noise_mse(res: dict):
    fig, ax = _subplots(figsize=(8.5, 4))  # room for the legend beside the axes
    a = np.asarray(res["alpha"])
    lin = "linear_" if "linear_mse_teacher" in res else ""
    if lin:
        ax.plot(a, res["mse_teacher"], "^-", label="MLP vs teacher")
        ax.plot(a, res["mse_truth"], "v-", label="MLP vs ground truth")
    ax.plot(a, res[f"{lin}mse_teacher"], "o", label="linear vs teacher, simulated")
    ax.plot(a, res[f"{lin}predicted_mse_teacher"], "-", label="linear vs teacher, closed form (4.2)")
    ax.plot(a, res[f"{lin}mse_truth"], "s", label="linear vs ground truth, simulated")
    ax.plot(a, res[f"{lin}predicted_mse_truth"], "--", label="linear vs ground truth, closed form (4.3)")
    ax.set_xlabel("teacher noise level α")
    ax.set_ylabel("test MSE (standardized target)²")
    ax.set_title("Student test MSE vs teacher noise")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    fig.tight_layout()
    return fig


def fig_teacher_noise_mse_variance(res: dict):
    """The study's "variance": the spread across students of each one's test MSE against the
    ground truth, ±2 SE, with X.1's closed form over the linear students."""
    fig, ax = _subplots(figsize=(5.5, 4))
    a = np.asarray(res["alpha"])
    lin = "linear_" if "linear_mse_truth_variance" in res else ""
    if lin:
        ax.errorbar(a, res["mse_truth_variance"], yerr=2 * np.asarray(res["mse_truth_variance_se"]),
                    fmt="s-", capsize=2, label="MLP students (±2 SE)")
    ax.errorbar(a, res[f"{lin}mse_truth_variance"], yerr=2 * np.asarray(res[f"{lin}mse_truth_variance_se"]),
                fmt="o", capsize=2, label="linear students (±2 SE)")
    ax.plot(a, res[f"{lin}predicted_mse_truth_variance"], "-", label="linear closed form (X.1)")
    ax.set_xlabel("teacher noise level α")
    ax.set_ylabel("Var across students of test MSE vs truth")
    ax.set_title("The study's 'variance': spread of test MSE")
    ax.legend(fontsize=8)
    return fig


def report_teacher_noise(res: dict, cfg, run_dir: RunDir) -> str:
    run_dir.save_figure(fig_teacher_noise_variance(res), "variance.png")
    run_dir.save_figure(fig_teacher_noise_mse(res), "mse.png")
    run_dir.save_figure(fig_teacher_noise_mse_variance(res), "mse_variance.png")
    lin = "linear_" if cfg.model == "mlp" else ""
    keys = [f"{lin}{k}" for k in ("sigma2", "inter_student_variance", "predicted_variance",
                                  "mse_teacher", "predicted_mse_teacher", "mse_truth", "predicted_mse_truth",
                                  "mse_truth_variance", "predicted_mse_truth_variance")]
    headers = ["α", "σ²", "V linear", "V = σ²c (4.1)", "MSE teacher", "σ²c (4.2)", "MSE truth",
               "closed form (4.3)", "Var(MSE truth)", "closed form (X.1)"]
    if lin:
        keys += ["inter_student_variance", "mse_teacher", "mse_truth", "mse_truth_variance"]
        headers += ["V MLP", "MLP MSE teacher", "MLP MSE truth", "MLP Var(MSE truth)"]
    table = markdown_table(headers, list(zip(res["alpha"], *(res[k] for k in keys))))
    note = ("MLP teacher and students (same architecture, Kaiming init shared across α); the linear "
            "columns are OLS teacher and students on the same split. " if lin else "")
    return (f"# Teacher output uncertainty ({cfg.model}, {cfg.dataset}, {cfg.num_students} students)\n\n"
            f"Study Section 4; docs/theorems.md 4.1-4.3. {note}c = tr(X* G⁻¹ X*ᵀ)/m = {fmt(res[lin + 'c'])}.\n\n"
            "V is the variance of the students' test predictions; Var(MSE truth) is the variance across "
            "students of each one's test MSE against the ground truth, the quantity the study's figure plots "
            "as \"variance\". The latter is quadratic in σ² even for OLS students (X.1).\n\n"
            f"{table}\n\n![inter-student variance](variance.png)\n\n![test MSE](mse.png)\n\n"
            "![variance of the test MSE](mse_variance.png)\n")


# --- bootstrap --------------------------------------------------------------------------------


def fig_bootstrap_variance(res: dict):
    """Log-log variance against b. The axis spans the ground-truth curve and its closed forms;
    teacher-labelled variances far below it (5.1's zero, up to rounding, for linear students)
    are drawn at the bottom edge and said so in the legend, not allowed to stretch the axis."""
    fig, ax = _subplots(figsize=(5.5, 4))
    b = np.asarray(res["b"])
    truth = np.asarray(res["truth_variance"], float)
    teacher = _nan(res["teacher_variance"])
    shown = np.concatenate([truth, _nan(res.get("sandwich_truth_variance", truth)),
                            teacher[teacher > 1e-8 * np.nanmax(truth)]])  # rounding-level zeros excluded
    bottom = 0.5 * np.nanmin(shown)
    ax.loglog(b, truth, "o-", label="ground-truth labels")
    low = teacher < bottom
    ax.loglog(b, np.maximum(teacher, bottom), "s-",
              label="teacher labels" + (" (at the edge: below the axis)" if low.any() else ""))
    if "predicted_truth_variance" in res:
        ax.loglog(b, np.maximum(_nan(res["teacher_variance_full_rank"]), bottom), "^:",
                  label="teacher labels, full-rank resamples (5.1: zero; at the edge)")
        ax.loglog(b, res["predicted_truth_variance"], "--", label="(τ²/b)·xᵀΣ⁻¹x (5.2)")
        ax.loglog(b, _nan(res["gaussian_truth_variance"]), ":", label="τ²/(b−d−1)·xᵀΣ⁻¹x (Gaussian)")
        if "sandwich_truth_variance" in res:
            ax.loglog(b, res["sandwich_truth_variance"], "-.", label="xᵀΣ⁻¹ΩΣ⁻¹x/b, sandwich (X.2)")
    ax.set_ylim(bottom=bottom)
    ax.set_xticks(b)
    ax.set_xticklabels([str(int(x)) for x in b], rotation=45, fontsize=7)
    ax.minorticks_off()
    ax.set_xlabel("bootstrap sample size b (rows)")
    ax.set_ylabel("inter-student variance (standardized target)²")
    ax.set_title("Bootstrap students: predictive variance")
    ax.legend(fontsize=8)
    return fig


def fig_bootstrap_mse(res: dict):
    fig, ax = _subplots(figsize=(5.5, 4))
    b = np.asarray(res["b"])
    ax.loglog(b, res["truth_mse"], "o-", label="ground-truth labels")
    ax.loglog(b, res["teacher_mse"], "s-", label="teacher labels")
    if "predicted_truth_mse" in res:
        ax.loglog(b, res["predicted_truth_mse"], "--", label="τ²(1 + d/b) (5.3)")
    if "observed_truth_mse" in res:
        ax.loglog(b, res["observed_truth_mse"], "-.", label="MSE(full fit) + tr(X*ᵀX* Cov_b)/m (X.3)")
    ax.set_xticks(b)
    ax.set_xticklabels([str(int(x)) for x in b], rotation=45, fontsize=7)
    ax.minorticks_off()
    ax.set_xlabel("bootstrap sample size b (rows)")
    ax.set_ylabel("test MSE vs observed labels")
    ax.set_title("Bootstrap students: test MSE")
    ax.legend(fontsize=8)
    return fig


def report_bootstrap(res: dict, cfg, run_dir: RunDir) -> str:
    run_dir.save_figure(fig_bootstrap_variance(res), "variance.png")
    run_dir.save_figure(fig_bootstrap_mse(res), "mse.png")
    if cfg.model == "mlp":
        keys = ["b", "teacher_variance", "truth_variance", "teacher_mse", "truth_mse"]
        table = markdown_table(["b", "V teacher-labelled", "V ground truth", "MSE teacher-labelled",
                                "MSE ground truth"], list(zip(*(res[k] for k in keys))))
        return (f"# Bootstrap students (mlp, {cfg.dataset}, {cfg.num_students} students)\n\n"
                "Study Section 5.2. Every student starts from the same Kaiming init; bootstrap counts "
                "weight the full-batch loss. MSE is against the observed test labels.\n\n"
                f"{table}\n\n![variance](variance.png)\n\n![MSE](mse.png)\n")
    keys = ["b", "full_rank_fraction", "teacher_variance", "teacher_variance_full_rank",
            "truth_variance", "predicted_truth_variance", "sandwich_truth_variance", "teacher_mse", "truth_mse",
            "predicted_truth_mse", "observed_truth_mse"]
    table = markdown_table(["b", "full-rank share", "V teacher-labelled", "V teacher (full rank)",
                            "V ground truth", "(τ²/b)xᵀΣ⁻¹x (5.2)", "sandwich/b (X.2)", "MSE teacher-labelled",
                            "MSE ground truth", "τ²(1+d/b) (5.3)", "X.3"],
                           list(zip(*(res[k] for k in keys))))
    V, V52, V_x2 = (np.asarray(res[k], float) for k in ("truth_variance", "predicted_truth_variance",
                                                        "sandwich_truth_variance"))
    d, b = res["d"], np.asarray(res["b"], float)
    inflation = fmt(b[0] / (b[0] - d - 1), 3) if b[0] > d + 1 else "undefined (b <= d + 1)"
    gap = (f"At b = {fmt(b[0])} the simulated ground-truth variance is {fmt(V[0] / V_x2[0], 3)}x the sandwich "
           f"(X.2) and {fmt(V[0] / V52[0], 3)}x 5.2's homoscedastic form, against a Gaussian-design inflation "
           f"b/(b-d-1) = {inflation}; at b = {fmt(b[-1])} the ratios are {fmt(V[-1] / V_x2[-1], 3)} and "
           f"{fmt(V[-1] / V52[-1], 3)}. Boston's residuals are heteroscedastic, so 5.2 and 5.3 (which assume "
           "one noise level τ²) are not expected to hold here; X.2 and X.3 are their heteroscedastic, "
           "fixed-test-split counterparts.")
    return (f"# Bootstrap students ({cfg.model}, {cfg.dataset}, {cfg.num_students} students)\n\n"
            f"Study Section 5.2; docs/theorems.md 5.1-5.3, X.2-X.3. τ̂² (OLS residual variance) = {fmt(res['tau2_hat'])}, "
            f"d = {res['d']}, n = {res['n']}. Rank-deficient resamples get the minimum-norm fit; "
            "5.1's zero variance holds for the full-rank ones.\n\n"
            f"{table}\n\n{gap}\n\n![variance](variance.png)\n\n![MSE](mse.png)\n")


# --- variance-aware ---------------------------------------------------------------------------

_METHOD_LABELS = {"average": "averaging", "study": "variance-weighting (study)",
                  "leverage_oracle": "leverage oracle (jaxkd)", "honest": "variance-weighting (honest)"}


def _by_alpha(res: dict):
    alphas = list(dict.fromkeys(res["alpha"]))
    for a in alphas:
        rows = [i for i, x in enumerate(res["alpha"]) if x == a]
        yield a, rows


def fig_variance_aware(res: dict, metric: str, ylabel: str):
    """One panel per α; ``metric`` "variance" (log-log, 7.1's line) or "mse_truth" (± std
    across students, the study's metric)."""
    groups = list(_by_alpha(res))
    fig, axes = _subplots(1, len(groups), figsize=(4.2 * len(groups), 3.8), squeeze=False)
    for ax, (a, rows) in zip(axes[0], groups):
        k = np.asarray(res["k"])[rows]
        for j, (method, label) in enumerate(_METHOD_LABELS.items()):
            y = np.asarray(res[f"{method}_{metric}"])[rows]
            if metric == "variance":
                ax.loglog(k, y, "o-", ms=3, label=label)
            else:
                err = np.asarray(res[f"{method}_{metric}_std"])[rows] if f"{method}_{metric}_std" in res else None
                ax.errorbar(k * (1 + 0.03 * (j - 1.5)), y, yerr=err, fmt="o-", ms=3, capsize=2, label=label)
                ax.set_xscale("log")
        if metric == "variance" and "predicted_average_variance" in res:
            ax.loglog(k, np.asarray(res["predicted_average_variance"])[rows], "k--", label="(σ²/k)c (7.1)")
        ax.set_title(f"α = {a}")
        ax.set_xlabel("teacher responses per input k")
        ax.set_ylabel(ylabel)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def report_variance_aware(res: dict, cfg, run_dir: RunDir) -> str:
    run_dir.save_figure(fig_variance_aware(res, "variance", "inter-student variance"), "variance.png")
    run_dir.save_figure(fig_variance_aware(res, "mse_truth", "test MSE vs ground truth (± std across students)"),
                        "mse.png")
    methods = list(_METHOD_LABELS)
    short = {"average": "avg", "study": "study", "leverage_oracle": "lev. oracle", "honest": "honest"}
    headers = ["α", "k", *(f"V {short[m]}" for m in methods), *(f"MSE truth {short[m]} (± std)" for m in methods)]
    rows = []
    for i in range(len(res["alpha"])):
        mse = [f"{fmt(res[f'{m}_mse_truth'][i])} ± {fmt(res[f'{m}_mse_truth_std'][i], 2)}" for m in methods]
        rows.append([res["alpha"][i], res["k"][i], *(res[f"{m}_variance"][i] for m in methods), *mse])
    if "predicted_average_variance" in res:
        headers.insert(2, "V (σ²/k)c (7.1)")
        for row, pred in zip(rows, res["predicted_average_variance"]):
            row.insert(2, pred)
    table = markdown_table(headers, rows)
    return (f"# Variance-aware distillation ({cfg.model}, {cfg.dataset}, {cfg.num_students} students)\n\n"
            "Study Section 7; docs/theorems.md 7.1-7.4. *Study*: the study's variance weighting, the "
            "averaged responses at the inverse of their per-input sample variance combined with the clean "
            "teacher mean at 1/σ² (equal to averaging at k = 1). *Leverage oracle*: jaxkd's variant, the "
            "average at its true variance σ²/k combined with the clean mean at a single-response student's "
            "variance σ²h_i (not the study's method; a bound). Both need the clean teacher mean, which a "
            "practitioner does not have. *Honest*: combined with a cross-fitted student, variances estimated "
            "from the data. MSE is against the ground-truth test labels (the study's metric), mean ± std "
            "across students.\n\n"
            f"{table}\n\n![variance](variance.png)\n\n![MSE](mse.png)\n")


# --- init-perturbation ------------------------------------------------------------------------


def fig_init_perturbation(res: dict):
    fig, (ax1, ax2) = _subplots(1, 2, figsize=(9, 3.8))
    s = np.asarray(res["scale"])
    ax1.errorbar(s, res["mse_truth"], yerr=res["mse_truth_std"], fmt="o-", label="vs ground truth")
    ax1.errorbar(s, res["mse_teacher"], yerr=res["mse_teacher_std"], fmt="s-", label="vs teacher")
    ax1.set_xlabel("init perturbation scale s (weights × (1 + ε), ε ~ N(0, s²))")
    ax1.set_ylabel("test MSE, mean ± std over students")
    ax1.legend(fontsize=8)
    ax2.plot(s, res["inter_student_variance"], "o-", label="test predictions (inter-student)")
    if "param_variance_before" in res:
        ax2.plot(s, res["param_variance_before"], "s--", label="parameters before training")
        ax2.plot(s, res["param_variance_after"], "^--", label="parameters after training")
        ax2.legend(fontsize=7)
    ax2.set_yscale("symlog", linthresh=1e-8)
    ax2.set_xlabel("init perturbation scale s")
    ax2.set_ylabel("variance across students")
    fig.tight_layout()
    return fig


def report_init_perturbation(res: dict, cfg, run_dir: RunDir) -> str:
    run_dir.save_figure(fig_init_perturbation(res), "init_perturbation.png")
    keys = ["scale", "mse_truth", "mse_truth_variance", "mse_teacher", "inter_student_variance",
            "param_variance_before", "param_variance_after"]
    table = markdown_table(["s", "mean test MSE (truth)", "variance of test MSE", "mean MSE vs teacher",
                            "inter-student variance", "parameter variance before", "after training"],
                           list(zip(*(res[k] for k in keys))))
    init = (f"every student draws its own Kaiming init (the study's scripts); weights × (1 + ε), ε ~ N(0, s²), "
            f"biases + N(0, ({cfg.bias_scale} s)²)" if cfg.fresh_init else
            "every student starts from the same Kaiming init with each weight multiplied by (1 + ε), "
            "ε ~ N(0, s²) (zero biases stay zero)")
    return (f"# Initialization perturbation (mlp, {cfg.dataset}, {cfg.num_students} students)\n\n"
            f"Study Section 5.1. Deterministic teacher (σ² = 0); 13 → {', '.join(map(str, cfg.hidden))} → 1, "
            f"{cfg.epochs} epochs; {init}. Parameter variance: across students, averaged over parameters; "
            "after / before says whether training amplifies the initial spread.\n\n"
            f"{table}\n\n![init perturbation](init_perturbation.png)\n")


# --- variance attribution ---------------------------------------------------------------------


def fig_variance_attribution(res: dict):
    from jaxkd.experiments.variance_attribution import SOURCES

    fig, ax = _subplots(figsize=(5.5, 3.8))
    labels = [s.replace("_", " ") for s in SOURCES] + ["interaction"]
    values = [res[f"share_{s}"] for s in SOURCES] + [res["share_interaction"]]
    ax.bar(labels, values)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_ylabel("share of inter-student variance (V_source / V_all)")
    ax.set_title("Sources of MLP student disagreement")
    return fig


def report_variance_attribution(res: dict, cfg, run_dir: RunDir) -> str:
    from jaxkd.experiments.variance_attribution import CASES, SOURCES

    run_dir.save_figure(fig_variance_attribution(res), "attribution.png")
    V = res["inter_student_variance"]
    rows = [[case.replace("_", " ") + (" only" if case in SOURCES else ""), V[i],
             V[i] / V[0] if V[0] else float("nan"), res["mse_truth"][i]] for i, case in enumerate(CASES)]
    rows.append(["interaction remainder", res["interaction"], res["share_interaction"], float("nan")])
    table = markdown_table(["varying", "inter-student variance", "share of all", "test MSE (truth)"], rows)
    return (f"# Variance attribution (mlp, {cfg.dataset}, {cfg.num_students} students)\n\n"
            f"α = {cfg.alpha}, minibatches of {cfg.batch_size}, {cfg.epochs} epochs. Each row varies one "
            "source's PRNG stream across students and freezes the others; 'all' varies all three, "
            "'none' none (zero by construction).\n\n"
            f"{table}\n\n![attribution](attribution.png)\n")


# --- output entropy ---------------------------------------------------------------------------


def fig_output_entropy(res: dict):
    """One panel per group (all / correct / incorrect test examples): mean entropy per model,
    bars of ± std clipped at 0 (entropy is non-negative)."""
    keys = list(res)
    fig, axes = _subplots(1, 3, figsize=(max(10.0, 3.2 * len(keys)), 4), squeeze=False)
    x = np.arange(len(keys))
    for ax, g in zip(axes[0], ("all", "correct", "incorrect")):
        for off, role, label in ((-0.25, "teacher", "teacher"), (0.0, "student_hard", "student (hard labels)"),
                                 (0.25, "student_soft", "student (soft, T)")):
            mean = _nan([res[k][f"{role}_{g}_mean"] for k in keys])
            std = np.nan_to_num(_nan([res[k][f"{role}_{g}_std"] for k in keys]))
            ax.bar(x + off, mean, width=0.25, yerr=[np.minimum(std, np.nan_to_num(mean)), std], capsize=2,
                   label=label)
        ax.set_xticks(x, keys, rotation=30, ha="right", fontsize=7)
        ax.set_title(f"{g} test examples")
        ax.set_ylim(bottom=0)
    axes[0][0].set_ylabel("predictive entropy (nats), mean ± std")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def report_output_entropy(res: dict, cfg, run_dir: RunDir) -> str:
    run_dir.save_figure(fig_output_entropy(res), "entropy.png")
    rows = []
    for key, r in res.items():
        for role in ("student_hard", "student_soft"):
            for g in ("all", "correct", "incorrect"):
                sig = r[f"{role}_{g}_significant"]
                lo, hi = r.get(f"{role}_{g}_paired_low"), r.get(f"{role}_{g}_paired_high")
                paired = ("n/a" if lo is None or not np.isfinite(lo) else
                          f"{fmt(r[f'{role}_{g}_paired_diff'], 3)} [{fmt(lo, 3)}, {fmt(hi, 3)}] "
                          f"(n={fmt(r[f'{role}_{g}_paired_count'])}){' *' if lo > 0 or hi < 0 else ''}")
                rows.append([key, role.split("_")[1], r["teacher_accuracy"], r[f"{role}_accuracy"], g,
                             f"{fmt(r[f'teacher_{g}_mean'])} ± {fmt(r[f'teacher_{g}_std'])} (n={fmt(r[f'teacher_{g}_count'])})",
                             f"{fmt(r[f'{role}_{g}_mean'])} ± {fmt(r[f'{role}_{g}_std'])} (n={fmt(r[f'{role}_{g}_count'])})",
                             "n/a" if sig is None or not np.isfinite(sig) else ("yes" if sig else "no"), paired])
    table = markdown_table(["dataset-model", "student target", "teacher acc", "student acc", "group",
                            "teacher entropy", "student entropy", "disjoint ± std (study)",
                            "paired Δ entropy [95% CI]"], rows)
    return ("# Student output uncertainty: predictive entropy of distilled classifiers\n\n"
            f"Study Section 6.1. Teacher hidden {cfg.teacher_hidden}, student hidden {cfg.student_hidden} "
            f"(MLP), {cfg.epochs} epochs of Adam (lr {cfg.learning_rate}). Hard: the student learns the "
            f"teacher's argmax labels (the study). Soft: it learns the teacher's probabilities at "
            f"T = {cfg.temperature} (not in the study). 'disjoint ± std' is the study's rule (teacher's and "
            "student's mean ± std intervals disjoint; each model grouped by its own correctness). 'paired Δ "
            "entropy' is jaxkd's test with power: per test example, student minus teacher entropy, mean and paired "
            "bootstrap 95% interval, grouped by the teacher's correctness so both sides see the same examples "
            "(* = the interval excludes 0).\n\n"
            f"{table}\n\n![entropy](entropy.png)\n")


# --- language models --------------------------------------------------------------------------

_LLM_NOTE = ("Students are GPT-2s distilled from a GPT-2 teacher's sampled answers; answers are "
             "embedded with all-MiniLM-L6-v2. Noise = mean pairwise cosine distance of a model's "
             "sampled answers per prompt; hallucination = an answer whose nearest valid answer has "
             "cosine < 0.75; entropy = over the corpus's known valid answers plus 'hallucination'.")


def _llm_header(title: str, cfg) -> str:
    return (f"# {title}\n\n{cfg.num_students} students, {cfg.samples} samples per prompt, "
            f"{cfg.student_steps} distillation steps, preset {cfg.preset}. {_LLM_NOTE}\n\n")


def fig_llm_temperature(res: dict):
    fig, (a1, a2) = _subplots(1, 2, figsize=(9, 3.8))
    T = res["temperature"]
    a1.plot(T, res["alignment"], "o-", label="student-teacher alignment")
    a1.plot(T, res["gt_similarity"], "s-", label="student cosine to ground truth")
    a1.plot(T, res["teacher_gt_similarity"], "^--", label="teacher cosine to ground truth")
    a1.set_xlabel("teacher temperature")
    a1.set_ylabel("cosine similarity")
    a1.legend(fontsize=7)
    a2.plot(T, res["teacher_noise"], "o-", label="teacher noise")
    a2.plot(T, res["student_noise"], "s-", label="student noise")
    a2.plot(T, res["hallucination"], "v:", label="student hallucination share")
    a2.set_xlabel("teacher temperature")
    a2.set_ylabel("mean pairwise cosine distance / share")
    a2.legend(fontsize=7)
    fig.tight_layout()
    return fig


def fig_llm_pc1(res: dict):
    """Appendix B.2: teacher's and a student's answers on the first principal component."""
    prompts = res["shown_prompts"]
    idx = [0, len(res["temperature"]) - 1]
    fig, axes = _subplots(len(prompts), 2, figsize=(9, 3 * len(prompts)), squeeze=False)
    for r, _ in enumerate(prompts):
        for c, i in enumerate(idx):
            ax = axes[r][c]
            ax.hist(res["pc1_teacher"][i][r], bins=10, alpha=0.6, label="teacher")
            ax.hist(res["pc1_student"][i][r], bins=10, alpha=0.6, label="student")
            ax.set_title(f"prompt {prompts[r]}, T = {res['temperature'][i]}", fontsize=9)
            ax.set_xlabel("projection on first principal component")
            ax.set_ylabel("answers")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def report_llm_teacher_noise(res: dict, cfg, run_dir: RunDir) -> str:
    run_dir.save_figure(fig_llm_temperature(res), "temperature.png")
    run_dir.save_figure(fig_llm_pc1(res), "pc1.png")
    keys = ["temperature", "alignment", "inter_student_variance", "teacher_noise", "student_noise",
            "teacher_hallucination", "hallucination", "teacher_gt_similarity", "gt_similarity"]
    table = markdown_table(["T", "alignment", "inter-student var", "teacher noise", "student noise",
                            "teacher halluc.", "student halluc.", "teacher cos GT", "student cos GT"],
                           list(zip(*(res[k] for k in keys))))
    return (_llm_header("LLM teacher output uncertainty: temperature sweep (Section 4.3, App. B.2)", cfg)
            + f"{table}\n\n![temperature](temperature.png)\n\n![PC1 projections](pc1.png)\n")


def report_llm_noise_transfer(res: dict, cfg, run_dir: RunDir) -> str:
    keys = ["temperature", "teacher_noise", "student_noise", "noise_slope", "noise_r2", "systematic_noise"]
    table = markdown_table(["T", "teacher noise", "student noise", "slope", "R²", "systematic noise"],
                           list(zip(*(res[k] for k in keys))))
    fig, ax = _subplots(figsize=(5.5, 3.8))
    ax.plot(res["temperature"], res["noise_slope"], "o-", label="slope of student on teacher noise")
    ax.plot(res["temperature"], res["noise_r2"], "s-", label="R²")
    ax.plot(res["temperature"], res["systematic_noise"], "^-", label="systematic noise")
    ax.set_xlabel("teacher temperature")
    ax.set_ylabel("value")
    ax.legend(fontsize=8)
    run_dir.save_figure(fig, "noise_transfer.png")
    return (_llm_header("LLM noise transfer across teacher temperatures (Sections 6.2, 7.3)", cfg)
            + f"Systematic noise is relative to the base student fine-tuned directly on ground truth "
            f"(its mean noise: {fmt(res['direct_noise'])}).\n\n{table}\n\n![noise transfer](noise_transfer.png)\n")


def fig_llm_trajectories(res: dict):
    from jaxkd.experiments.llm_init import TRACKED

    fig, axes = _subplots(1, len(TRACKED), figsize=(4 * len(TRACKED), 3.5))
    for j, name in enumerate(TRACKED):
        ax = axes[j]
        for i, s in enumerate(res["scale"]):
            for st, traj in enumerate(res["trajectories"][i]):
                ax.plot(traj[j], color=f"C{i}", lw=0.8, label=f"s = {s}" if st == 0 else None)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("fine-tuning step")
        ax.set_ylabel("parameter value")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def report_llm_init(res: dict, cfg, run_dir: RunDir) -> str:
    run_dir.save_figure(fig_llm_trajectories(res), "trajectories.png")
    keys = ["scale", "inter_student_variance", "alignment", "gt_similarity", "student_noise", "hallucination"]
    table = markdown_table(["s", "inter-student var", "alignment", "cos GT", "student noise", "halluc."],
                           list(zip(*(res[k] for k in keys))))
    return (_llm_header("LLM student initialization perturbation (Section 5.1, App. D)", cfg)
            + "Initial weights × (1 + ε), ε ~ N(0, s²); same targets and batch order for every "
            f"student.\n\n{table}\n\n![tracked parameters](trajectories.png)\n")


def report_llm_output(res: dict, cfg, run_dir: RunDir) -> str:
    summary = markdown_table(["", "value"], [
        ["mean true entropy (nats)", res["true_entropy"]], ["mean teacher entropy", res["teacher_entropy"]],
        ["mean student entropy", res["student_entropy"]],
        ["share of prompts where students are narrower", res["narrower_share"]],
        ["intra-model variance, student − teacher", res["intra_variance_gap"]],
        ["inter-student variance", res["inter_student_variance"]], ["alignment", res["alignment"]]])
    rows = list(zip(range(len(res["prompt_true_entropy"])), res["prompt_valid_answers"],
                    res["prompt_true_entropy"], res["prompt_teacher_entropy"], res["prompt_student_entropy"]))
    per = markdown_table(["prompt", "valid answers K", "true H", "teacher H", "student H"], rows)
    fig, ax = _subplots(figsize=(5, 4))
    ax.scatter(res["prompt_teacher_entropy"], res["prompt_student_entropy"], c=res["prompt_valid_answers"])
    top = max(max(res["prompt_teacher_entropy"]), max(res["prompt_student_entropy"]), 0.1)
    ax.plot([0, top], [0, top], "k--", lw=0.8)
    ax.set_xlabel("teacher answer entropy (nats)")
    ax.set_ylabel("student answer entropy (nats, mean over students)")
    ax.set_title("Suppression: points below the diagonal (C.1)")
    run_dir.save_figure(fig, "entropy.png")
    return (_llm_header("LLM student output uncertainty (Section 6.2, Table 2; docs/theorems.md C.1)", cfg)
            + "Students share supervision (one teacher answer per prompt) and init; only batch order "
            f"differs.\n\n{summary}\n\n{per}\n\n![entropy](entropy.png)\n")


def report_llm_variance_aware(res: dict, cfg, run_dir: RunDir) -> str:
    from jaxkd.experiments.llm_variance_aware import methods

    labels = [m[0] for m in methods(cfg.ks)]
    rows = [[labels[i], f"{fmt(res['gt_similarity'][i])} ({fmt(res['gt_similarity_variance'][i])})",
             res["noise_slope"][i], res["noise_r2"][i], res["student_noise"][i], res["systematic_noise"][i],
             res["hallucination"][i], res["pairs"][i], res["training_tokens"][i]]
            for i in range(len(labels))]
    table = markdown_table(["method", "cos GT (inter-student var)", "noise slope", "R²", "avg noise",
                            "avg systematic noise", "halluc.", "distinct pairs", "training tokens"], rows)
    return (_llm_header("Variance-aware LLM distillation (Section 7.3, App. F)", cfg)
            + "Every method trains the same number of steps at the same batch size; 'distinct pairs' and "
            "'training tokens' give the compute each saw.\n\n" + f"{table}\n")


REPORTS: dict[str, Callable] = {
    "teacher-noise": report_teacher_noise,
    "init-perturbation": report_init_perturbation,
    "bootstrap": report_bootstrap,
    "output-entropy": report_output_entropy,
    "variance-aware": report_variance_aware,
    "variance-attribution": report_variance_attribution,
    "llm-teacher-noise": report_llm_teacher_noise,
    "llm-init": report_llm_init,
    "llm-output": report_llm_output,
    "llm-variance-aware": report_llm_variance_aware,
    "llm-noise-transfer": report_llm_noise_transfer,
}


# --- the reproduce report -----------------------------------------------------------------------


def _embed_step_report(md: str, folder: str) -> str:
    """An experiment's report inside the study report: headings two levels down, figure paths
    relative to the study folder."""
    import re

    md = re.sub(r"^(#+) ", lambda m: "#" * min(len(m.group(1)) + 2, 6) + " ", md, flags=re.M)
    return re.sub(r"!\[([^\]]*)\]\(([^)/]+\.png)\)", rf"![\1]({folder}/\2)", md)


def study_summary_tables(checks: list[dict], findings) -> str:
    """The summary: one row per docs/theorems.md result (pass/fail) and one per empirical claim
    (reproduced / not reproduced, with the numbers that decided it)."""
    from jaxkd import study

    thm = [[r, study.THEOREMS.get(r, ""), f"{k}/{n}", "pass" if k == n else "FAIL"]
           for r, k, n in study.theorem_summary(checks)]
    parts = []
    if thm:
        parts.append("### Theorems (closed forms, `jaxkd theory verify`)\n\n"
                     + markdown_table(["result", "statement", "checks passed", "verdict"], thm))
    rows = [[c.claim, f.status, f.evidence] for c, f in findings]
    parts.append("### Empirical findings (docs/theorems.md, \"Empirical claims\")\n\n"
                 + markdown_table(["claim", "verdict", "measured"], rows))
    return "\n\n".join(parts)


def study_report(plan, checks: list[dict], reports: dict[str, str], findings, timings: dict[str, float]) -> str:
    """report.md of ``jaxkd reproduce``: summary, then one section per study section with each
    experiment's tables and figures followed by the theorems and claims it tests."""
    import jaxkd
    from jaxkd import study

    claims_by_step: dict[str, list] = {}
    for claim, finding in findings:
        claims_by_step.setdefault(claim.needs[0], []).append((claim, finding))
    by_result: dict[str, list[dict]] = {}
    for c in checks:
        by_result.setdefault(c["result"], []).append(c)
    total = sum(timings.values())
    out = [f"# jaxkd: the study, reproduced (preset {plan.preset})\n",
           f"jaxkd {jaxkd.__version__}, seed {plan.seed}; compute time {total / 60:.1f} min "
           f"over {len(timings)} steps (per step at the end). Every number below was measured in "
           "this run; verdicts are computed from them by `jaxkd.study`, whose criteria are listed "
           "next to each claim.\n",
           "## Summary\n", study_summary_tables(checks, findings) + "\n"]
    if checks:
        out += ["## Theory (docs/theorems.md)\n",
                f"Every result simulated through jaxkd's own code ({plan.theory_students} students per "
                "check) and compared with its closed form; the tolerance is 5 standard deviations of "
                "the Monte Carlo estimate unless the result is exact.\n",
                markdown_table(["result", "statement", "closed form", "simulated", "tolerance", ""],
                               [[c["result"], c["case"], c["predicted"], c["observed"], c["tolerance"],
                                 "pass" if c["passed"] else "FAIL"] for c in checks]) + "\n"]
    for section in study.SECTIONS:
        steps = [s for s in section.steps if s.name in reports]
        if not steps:
            continue
        out += [f"## {section.title}\n", section.intro + "\n"]
        for step in steps:
            out.append(_embed_step_report(reports[step.name], step.name))
            tests = []
            for r in step.theorems:
                verdict = "`theory verify` was not part of this run"
                if r in by_result:
                    ok = sum(c["passed"] for c in by_result[r])
                    verdict = f"{ok}/{len(by_result[r])} checks pass in `theory verify`"
                tests.append(f"- docs/theorems.md {r} ({study.THEOREMS[r]}): {verdict}; the closed-form columns "
                             "and lines above are the same formulas.")
            for claim, finding in claims_by_step.get(step.name, []):
                tests.append(f"- **{finding.status}**: {claim.claim}. Criterion: {claim.criterion}. "
                             f"Measured: {finding.evidence}.")
            if tests:
                out.append("**What this tests**\n\n" + "\n".join(tests) + "\n")
    rows = [[name, f"{sec:.1f}", f"`{name}/`"] for name, sec in timings.items()]
    out += ["## Run details\n", "Wall time of the invocation that finished each step (a resumed "
            "step counts only its last part), and the run folder holding its config.json, "
            "results.json, per-point files and figures.\n", markdown_table(["step", "seconds", "folder"], rows) + "\n"]
    return "\n".join(out)


_HTML_STYLE = """body{font-family:system-ui,sans-serif;max-width:70em;margin:2em auto;padding:0 1em;
line-height:1.45;color:#222}table{border-collapse:collapse;margin:1em 0;font-size:.9em}
td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left}th{background:#f3f3f3}
img{max-width:100%;height:auto}code{background:#f5f5f5;padding:0 .2em}"""


def markdown_to_html(md: str, base_dir, title: str = "jaxkd report") -> str:
    """Render report markdown to one self-contained HTML page: images are embedded as data URIs
    (read from paths relative to ``base_dir``)."""
    import base64
    import html
    import re
    from pathlib import Path

    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(md)

    def embed(match):
        path = Path(base_dir) / html.unescape(match.group(1))
        if not path.is_file():
            raise ValueError(f"the report refers to {path}, which does not exist.")
        data = base64.b64encode(path.read_bytes()).decode()
        return f'src="data:image/png;base64,{data}"'

    body = re.sub(r'src="([^"]+\.png)"', embed, body)
    return (f"<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{_HTML_STYLE}</style></head>\n<body>\n{body}</body></html>\n")
