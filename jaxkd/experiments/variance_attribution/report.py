"""The report of variance-attribution: its figures and its document."""

from __future__ import annotations

import numpy as np

from jaxkd import document as doc
from jaxkd.experiments import fit
from jaxkd.experiments.variance_attribution.run import SOURCES, Results
from jaxkd.formatting import fmt
from jaxkd.plotting import subplots

_LABELS = {"teacher_noise": "teacher noise", "init": "initialization", "data_order": "minibatch order"}


def fig_variance_attribution(res: Results):
    """First-order and total index per source, ±2 SE."""
    fig, ax = subplots(figsize=(6, 3.8))
    x = np.arange(len(SOURCES))
    for off, kind, label in ((-0.18, "first_order", "first-order index S (alone)"),
                             (0.18, "total", "total index T (with interactions)")):
        vals, ses = zip(*(res.index(kind, s) for s in SOURCES))
        ax.bar(x + off, vals, width=0.34, yerr=2 * np.asarray(ses), capsize=3, label=label)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(x, [_LABELS[s] for s in SOURCES])
    ax.set_ylabel("share of the inter-student variance")
    ax.set_title(f"Sources of MLP student disagreement (±2 SE, {res.frozen_draws} frozen draws)")
    ax.legend(fontsize=8)
    return fig


def figures(res: Results) -> dict:
    """This experiment's figures, by file name (the document refers to them)."""
    return {"attribution.png": fig_variance_attribution(res)}


def document(res: Results) -> doc.Section:
    """This experiment's report: tables and the figures of :func:`figures`."""
    cfg = res.config
    rows = []
    for s in SOURCES:
        (S, S_se), (T, T_se) = res.index("first_order", s), res.index("total", s)
        rows.append([_LABELS[s], f"{fmt(S, 3)} ± {fmt(S_se, 2)}", f"{fmt(T, 3)} ± {fmt(T_se, 2)}"])
    sum_S = sum(res.index("first_order", s)[0] for s in SOURCES)
    sum_T = sum(res.index("total", s)[0] for s in SOURCES)
    cases = doc.Table(["case", "mean within-group inter-student variance", "SE", "mean test MSE (truth)"],
                      [[c, V, se, m] for c, V, se, m in zip(res.case, res.group_variance, res.group_variance_se,
                                                             res.mse_truth)])
    return doc.Section(f"Variance attribution (mlp, {cfg.dataset}, {cfg.num_students} students)", [
        doc.Paragraph(f"Beyond the study. α = {cfg.alpha}, minibatches of {cfg.batch_size}, {cfg.students_epochs} epochs, "
                      f"{cfg.init} initialisation. For each source, 'only' lets it vary while the others are frozen "
                      f"at one draw per group of {cfg.num_students // res.frozen_draws} students ({res.frozen_draws} "
                      "groups), 'fixed' freezes it per group while the others vary. The total index T is the "
                      "mean 'only' variance over V_all; the first-order index S is one minus the mean 'fixed' "
                      "variance over V_all. Both are averaged over the frozen draws (± SE from their spread)."),
        doc.Table(["source", "first-order index S (± SE)", "total index T (± SE)"], rows),
        doc.Paragraph(f"Σ S = {fmt(sum_S, 3)}, Σ T = {fmt(sum_T, 3)}: the interactions carry about "
                      f"{fmt(sum_T - sum_S, 2)} of the variance (0 when the sources add)."),
        cases, *fit.table(list(zip(res.case, res.fit or ())), "students of each case"),
        doc.Figure("attribution.png", "first-order and total indices, ±2 SE")])
