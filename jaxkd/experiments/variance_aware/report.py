"""The report of variance-aware: its figures and its document."""

from __future__ import annotations

import numpy as np

from jaxkd import document as doc
from jaxkd.experiments import fit
from jaxkd.experiments.variance_aware.run import Results
from jaxkd.formatting import fmt
from jaxkd.plotting import subplots

_METHOD_LABELS = {"average": "averaging", "study": "variance-weighting (study)",
                  "leverage_oracle": "leverage oracle (jaxkd)", "honest": "variance-weighting (honest)"}


def _by_alpha(res: dict):
    alphas = list(dict.fromkeys(res.alpha))
    for a in alphas:
        rows = [i for i, x in enumerate(res.alpha) if x == a]
        yield a, rows


def fig_variance_aware(res: Results, metric: str, ylabel: str):
    """One panel per α; ``metric`` "variance" (log-log, 7.1's line) or "mse_truth" (± std
    across students, the study's metric)."""
    groups = list(_by_alpha(res))
    fig, axes = subplots(1, len(groups), figsize=(4.2 * len(groups), 3.8), squeeze=False)
    for ax, (a, rows) in zip(axes[0], groups):
        k = np.asarray(res.k)[rows]
        for j, (method, label) in enumerate(_METHOD_LABELS.items()):
            y = np.asarray(getattr(res, f"{method}_{metric}"))[rows]
            if metric == "variance":
                err = 2 * np.asarray(getattr(res, f"{method}_variance_se"))[rows]
                ax.errorbar(k * (1 + 0.03 * (j - 1.5)), y, yerr=err, fmt="o-", ms=3, capsize=2, label=label + " (±2 SE)")
                ax.set_xscale("log")
                ax.set_yscale("log")
            else:
                err = np.asarray(getattr(res, f"{method}_{metric}_std"))[rows] if getattr(res, f"{method}_{metric}_std") is not None else None
                ax.errorbar(k * (1 + 0.03 * (j - 1.5)), y, yerr=err, fmt="o-", ms=3, capsize=2, label=label)
                ax.set_xscale("log")
        if metric == "variance" and res.predicted_average_variance is not None:
            ax.plot(k, np.asarray(res.predicted_average_variance)[rows], "k--", label="(σ²/k)c (7.1)")
        ax.set_title(f"α = {a}")
        ax.set_xlabel("teacher responses per input k")
        ax.set_ylabel(ylabel)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def fig_stability(res: Results):
    """What decides the Figure 11 claim: per α and k, log(Var of the test MSE with averaging /
    with the study's variance weighting), paired, ±1.96 SE (above 0: variance weighting is the
    more stable)."""
    fig, ax = subplots(figsize=(5.8, 3.8))
    for j, (a, rows) in enumerate(_by_alpha(res)):
        k = np.asarray(res.k)[rows]
        ax.errorbar(k * (1 + 0.03 * (j - 1.5)), np.asarray(res.stability_log_ratio)[rows],
                    yerr=1.96 * np.asarray(res.stability_log_ratio_se)[rows], fmt="o-", ms=3, capsize=2,
                    label=f"α = {a}")
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("teacher responses per input k")
    ax.set_ylabel("log(Var MSE averaging / Var MSE study's weighting)")
    ax.set_title("Spread of the test MSE: averaging over variance weighting (95%)", fontsize=10)
    ax.legend(fontsize=8)
    return fig


def figures(res: Results) -> dict:
    """This experiment's figures, by file name (the document refers to them)."""
    return {"variance.png": fig_variance_aware(res, "variance", "inter-student variance"),
            "mse.png": fig_variance_aware(res, "mse_truth", "test MSE vs ground truth (± std across students)"),
            "stability.png": fig_stability(res)}



def _fits(res: Results) -> list:
    """The fit table's rows: each point's students per method (at k = 1 the study's and the
    honest method's students are averaging's, one row)."""
    rows = []
    for i, (a, k) in enumerate(zip(res.alpha, res.k)):
        for m, label in _METHOD_LABELS.items():
            fits = getattr(res, f"{m}_fit")
            if fits is None or (k == 1 and m in ("study", "honest")):
                continue
            rows.append((f"α = {a:g}, k = {k}, {label}" + (" (= study, honest)" if k == 1 and m == "average" else ""),
                         fits[i]))
    return rows


def document(res: Results) -> doc.Section:
    """This experiment's report: tables and the figures of :func:`figures`."""
    cfg = res.config
    methods = list(_METHOD_LABELS)
    short = {"average": "avg", "study": "study", "leverage_oracle": "lev. oracle", "honest": "honest"}
    headers = ["α", "k", *(f"V {short[m]}" for m in methods), *(f"MSE truth {short[m]} (± std)" for m in methods)]
    rows = []
    for i in range(len(res.alpha)):
        mse = [f"{fmt(getattr(res, f'{m}_mse_truth')[i])} ± {fmt(getattr(res, f'{m}_mse_truth_std')[i], 2)}" for m in methods]
        rows.append([res.alpha[i], res.k[i], *(getattr(res, f"{m}_variance")[i] for m in methods), *mse])
    if res.predicted_average_variance is not None:
        headers.insert(2, "V (σ²/k)c (7.1)")
        for row, pred in zip(rows, res.predicted_average_variance):
            row.insert(2, pred)
    return doc.Section(f"Variance-aware distillation ({cfg.model}, {cfg.dataset}, {cfg.num_students} students)", [
        doc.Paragraph(
            "Study Section 7; docs/theorems.md 7.1-7.4. ", doc.Emph("Study"), ": the study's variance weighting, the "
            "averaged responses at the inverse of their per-input sample variance combined with the clean "
            "teacher mean at 1/σ² (equal to averaging at k = 1). ", doc.Emph("Leverage oracle"), ": jaxkd's variant, "
            "the average at its true variance σ²/k combined with the clean mean at a single-response student's "
            "variance σ²h_i (not the study's method; a bound). Both need the clean teacher mean, which a "
            "practitioner does not have. ", doc.Emph("Honest"), ": combined with a cross-fitted student, variances "
            "estimated from the data. MSE is against the ground-truth test labels (the study's metric), mean ± std "
            "across students."),
        doc.Paragraph(f"Split seed {cfg.split_seed} (the study's script). "
                      + (f"MLP teacher and students 13 → {', '.join(map(str, cfg.hidden))} → 1, Adam lr "
                         f"{cfg.learning_rate}, {cfg.students_epochs} full-batch epochs, {cfg.init} initialisation (torch: "
                         "PyTorch's default, as the script). Departure from the study's script: the four methods' "
                         "students share their inits and responses (the script gives each method's student its own "
                         "init), so methods are compared paired. " if cfg.model == "mlp" else "")
                      + ("Stability (Figure 11): the log ratio of the spreads of the test MSE, averaging over the "
                         "study's variance weighting, from the same students; above 0 when weighting is the more "
                         "stable.")),
        doc.Table(headers, rows), *fit.table(_fits(res), "students of each method"),
        doc.Figure("variance.png", "inter-student variance, ±2 SE"),
        doc.Figure("mse.png", "test MSE, mean ± std across students (the study's display)"),
        doc.Figure("stability.png", "spread of the test MSE, averaging over variance weighting, 95%")])
