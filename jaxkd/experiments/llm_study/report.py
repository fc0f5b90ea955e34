"""Report helpers of the llm-* experiments: the header every report opens with, tables of
measures with their intervals, and error-bar plots."""

from __future__ import annotations

from jaxkd import document as doc
from jaxkd.experiments.llm_study.measures import SweepResults
from jaxkd.experiments.llm_study.setup import load_qa
from jaxkd.experiments.llm_study.stats import cell


def errorbar(ax, x, res: SweepResults, name: str, fmt: str = "o-", **kw):
    """Plot a measure's replicate means with their 95% intervals (any field holding one tuple of
    replicate values per grid point)."""
    m = res.intervals(name)
    ax.errorbar(x, m[:, 0], yerr=[m[:, 0] - m[:, 1], m[:, 2] - m[:, 0]], fmt=fmt, capsize=3, **kw)


def fig_training(res: SweepResults, labels, title: str = "the students' training loss"):
    """The students' training curves, one per grid point: the loss at every optimisation step,
    mean over the R x N students with a band of one standard deviation across them."""
    import numpy as np

    from jaxkd.plotting import subplots

    fig, ax = subplots(figsize=(7, 3.8))
    for i, label in enumerate(labels):
        m, sd = np.asarray(res.loss_curve[i]), np.asarray(res.loss_band[i])
        step = np.arange(1, len(m) + 1)
        ax.plot(step, m, color=f"C{i % 10}", lw=1.2, label=str(label))
        ax.fill_between(step, m - sd, m + sd, color=f"C{i % 10}", alpha=0.15, lw=0)
    ax.set_xlabel("optimisation step")
    ax.set_ylabel("training loss (nats per scored token)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def table(res: SweepResults, grid_label: str, grid, names, headers) -> doc.Table:
    """A table of measures (mean [95% interval]) per grid point."""
    return doc.Table([grid_label, *headers], [[g, *(cell(getattr(res, n)[i]) for n in names)]
                                              for i, g in enumerate(grid)])


LLM_NOTE = ("Students are GPT-2s distilled from a GPT-2 teacher's answers; answers are embedded with "
            "all-MiniLM-L6-v2. Every cell is the mean over independent replicates with its 95% "
            "t-interval in brackets; the teacher's columns come from one set of teacher samples shared "
            "by the replicates, hence their zero-width brackets. Alignment: cosine of greedy answers (student vs teacher). Noise = "
            "mean pairwise cosine distance of a model's sampled answers per prompt; hallucination = an "
            "answer whose nearest valid answer has cosine < 0.75; entropy and total variation are over "
            "the corpus's known valid answers plus 'hallucination' (S.2). The uncorrected between-"
            "student variance has a sampling floor (S.1); the corrected value, greedy disagreement and "
            "log-prob spread have none.")


def llm_section(title: str, cfg, blocks, passes=None, steps=None) -> doc.Section:
    """An llm-* report: its title, then the paragraph every one starts with (sizes, passes over
    the distillation set and what the measures mean), then ``blocks``."""
    train = f"{cfg.epochs} passes over each student's distillation set" if passes is None else passes
    return doc.Section(title, [doc.Paragraph(
        f"{cfg.replicates} replicates x {cfg.num_students} students, "
        f"{len_questions(cfg)} questions, {cfg.samples} samples per prompt per student "
        f"({cfg.teacher_samples} for the teacher), {train}"
        f"{'' if steps is None else f' ({steps} steps at batch {cfg.batch_size})'}, preset {cfg.preset}. "
        f"{LLM_NOTE}"), *blocks])


def len_questions(cfg) -> int:
    return cfg.num_questions if cfg.qa_file is None else len(load_qa(cfg.qa_file))
