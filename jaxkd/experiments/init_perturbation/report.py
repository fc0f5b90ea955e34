"""The report of init-perturbation: its figures and its document."""

from __future__ import annotations

import numpy as np

from jaxkd import document as doc
from jaxkd import uncertainty
from jaxkd.experiments import fit
from jaxkd.experiments.init_perturbation.run import (
    MEAN_MARGIN,
    VARIANCE_MARGIN,
    Results,
)
from jaxkd.plotting import subplots


def paired_changes(res: Results) -> dict:
    """Per scale s: the change of the mean test MSE from s = 0, relative (paired over the same
    students), and the log ratio of the variances of the test MSE (paired, delta method), each
    with its SE: {"mean", "mean_se", "log_var", "log_var_se"} -> arrays over s."""
    base = np.asarray(res.mse_truth_per_student[0], float)
    out = {"mean": [], "mean_se": [], "log_var": [], "log_var_se": []}
    for per_student in res.mse_truth_per_student:
        d = (np.asarray(per_student, float) - base) / base.mean()
        L, L_se = (float(x) for x in uncertainty.log_variance_ratio(np.asarray(per_student, float), base))
        out["mean"].append(float(d.mean()))
        out["mean_se"].append(float(d.std(ddof=1) / np.sqrt(d.size)) if d.any() else 0.0)
        out["log_var"].append(L)
        out["log_var_se"].append(L_se if d.any() else 0.0)
    return {k: np.asarray(v) for k, v in out.items()}


def fig_init_perturbation(res: Results):
    """Left and middle: what decides the claim, the paired change of the mean test MSE (%) and
    of its variance (log ratio) from s = 0, 95% intervals, the margins shaded. Right: the
    spread across students of the test predictions and of the parameters before and after
    training (log axis: every quantity is positive with fresh inits)."""
    fig, (ax1, ax2, ax3) = subplots(1, 3, figsize=(13, 3.8))
    s = np.asarray(res.scale)
    ch = paired_changes(res)
    for ax, key, margin, label in ((ax1, "mean", 100 * MEAN_MARGIN, "change of the mean test MSE (%)"),
                                   (ax2, "log_var", VARIANCE_MARGIN, "log(Var test MSE at s / at s = 0)")):
        scale = 100.0 if key == "mean" else 1.0
        ax.axhspan(-margin, margin, color="0.88", lw=0, label="margin of 'insensitive'")
        ax.errorbar(s, scale * ch[key], yerr=1.96 * scale * ch[f"{key}_se"], fmt="o-", capsize=3,
                    label="paired, 95% interval")
        ax.axhline(0, color="k", lw=0.8)
        ax.axvline(0.05, color="0.5", lw=0.8, ls=":")
        ax.set_xlabel("init perturbation scale s")
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
    ax3.plot(s, res.inter_student_variance, "o-", label="test predictions (inter-student)")
    ax3.plot(s, res.mse_truth_variance, "v-", label="test MSE")
    ax3.plot(s, res.param_variance_before, "s--", label="parameters before training")
    ax3.plot(s, res.param_variance_after, "^--", label="parameters after training")
    positive = np.concatenate([np.ravel(x) for x in (res.inter_student_variance, res.mse_truth_variance,
                                                     res.param_variance_before, res.param_variance_after)])
    ax3.set_yscale("log" if np.all(positive > 0) else "symlog",
                   **({} if np.all(positive > 0) else {"linthresh": float(np.min(positive[positive > 0]))}))
    ax3.set_xlabel("init perturbation scale s")
    ax3.set_ylabel("variance across students")
    ax3.legend(fontsize=7)
    fig.tight_layout()
    return fig


def figures(res: Results) -> dict:
    """This experiment's figures, by file name (the document refers to them)."""
    return {"init_perturbation.png": fig_init_perturbation(res)}


def document(res: Results) -> doc.Section:
    """This experiment's report: tables and the figures of :func:`figures`."""
    cfg = res.config
    ch = paired_changes(res)
    rows = [[s, m, sd, f"{100 * c:+.2f}% ± {196 * c_se:.2f}%", v, f"×{np.exp(L):.3f} (log {L:+.3f} ± {1.96 * L_se:.3f})",
             V, before, after]
            for s, m, sd, c, c_se, v, L, L_se, V, before, after in zip(
                res.scale, res.mse_truth, res.mse_truth_std, ch["mean"], ch["mean_se"], res.mse_truth_variance,
                ch["log_var"], ch["log_var_se"], res.inter_student_variance, res.param_variance_before,
                res.param_variance_after)]
    table = doc.Table(["s", "mean test MSE (truth)", "std", "paired change [95%]", "variance of test MSE",
                       "paired ratio to s = 0 [95%]", "inter-student variance", "parameter variance before",
                       "after training"], rows)
    init = (f"every student draws its own Kaiming init (the study's script), the same at every s; weights × (1 + ε), "
            f"ε ~ N(0, s²), biases + N(0, ({cfg.bias_scale} s)²)" if cfg.fresh_init else
            "every student starts from the same Kaiming init with each weight multiplied by (1 + ε), ε ~ N(0, s²)")
    labels = ("the training labels (the study's script)" if cfg.labels == "truth"
              else "an MLP teacher's outputs (the study's script learns the training labels)")
    departures = [f"{cfg.num_students} students per s (the script: 10,000)"] if cfg.num_students != 10_000 else []
    if cfg.hidden != (128,):
        departures.append(f"hidden width {', '.join(map(str, cfg.hidden))} (the script: 128)")
    if cfg.fresh_init:
        departures.append("the same inits at every s (the script draws new seeds per s): the change with s is paired")
    return doc.Section(f"Initialization perturbation (mlp, {cfg.dataset}, {cfg.num_students} students)", [
        doc.Paragraph(f"Study Section 5.1. Split seed {cfg.split_seed}; 13 → {', '.join(map(str, cfg.hidden))} → 1, "
                      f"Adam lr {cfg.learning_rate}, {cfg.students_epochs} full-batch epochs; the students learn {labels}; "
                      f"{init}. Parameter variance: across students, averaged over parameters; after / before says "
                      "whether training amplifies the initial spread. The paired change compares each student with "
                      "itself unperturbed."),
        doc.Paragraph("Departures from the study's script: " + "; ".join(departures) + "." if departures
                      else "Everything as the study's script but the PRNG."),
        table, *fit.table([(f"s = {s:g}", f) for s, f in zip(res.scale, res.fit or ())]),
        doc.Figure("init_perturbation.png", "paired changes of the test MSE's mean and variance with their "
                          "95% intervals and margins; variances across students")])
