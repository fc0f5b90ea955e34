"""Report helpers of the llm-* experiments: the header every report opens with, tables of
measures with their intervals, and error-bar plots."""

from __future__ import annotations

import numpy as np

from jaxkd import document as doc
from jaxkd.experiments.llm_study.measures import GATE, SweepResults
from jaxkd.experiments.llm_study.memory import questions
from jaxkd.experiments.llm_study.stats import cell
from jaxkd.plotting import subplots


def errorbar(ax, x, res: SweepResults, name: str, fmt: str = "o-", **kw):
    """Plot a measure's replicate means with their 95% intervals (any field holding one tuple of
    replicate values per grid point)."""
    m = res.intervals(name)
    ax.errorbar(x, m[:, 0], yerr=[m[:, 0] - m[:, 1], m[:, 2] - m[:, 0]], fmt=fmt, capsize=3, **kw)


def fig_training(res: SweepResults, labels, title: str = "the students' training loss"):
    """The students' training curves, one per grid point: the loss at every optimisation step,
    mean over the R x N students with a band of one standard deviation across them."""
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


LLM_NOTE = ("Answers are embedded with all-MiniLM-L6-v2. Every cell is the mean over independent replicates with its 95% t-interval in "
            "brackets; a replicate has its own teacher draws, base student, data order and evaluation samples of "
            "teacher and students, so the interval covers all of them (the choice of prompts is covered by a prompt "
            "bootstrap where a verdict reports one). Alignment: cosine of greedy answers (student vs teacher). Noise = "
            "mean pairwise cosine distance of a model's sampled answers per prompt; hallucination = an answer whose "
            "nearest valid answer has cosine < 0.75; entropy and total variation are over the corpus's known valid "
            "answers plus 'hallucination' (S.2), with their plug-in floors removed where marked (S.3). The "
            "uncorrected between-student variance has a sampling floor (S.1); the corrected value, greedy "
            "disagreement and log-prob spread have none. Answer entropy lumps hallucinations into one bucket; the "
            "'valid' entropy leaves them out. Every row a verdict reads is held to its own training targets: "
            "hallucinating more than 10 points above them (the teacher's samples at the row's temperature, its greedy "
            "answers, or the selected training answers, classified alike) makes the verdict inconclusive (regime).")


def fit_text(res) -> str:
    """How far the students behind ``res`` had trained, in words: the rung (or the whole run),
    steps, training loss, valid-answer loss and the plateau record, replicate means over rows."""
    cfg = res.config
    where = (f"where training ended ({cfg.epochs} epochs)" if cfg.rung is None
             else f"at rung {cfg.rung} of the {cfg.epochs}-epoch run (a checkpoint: the learning-rate schedule spans "
                  "the whole run)")
    train, answer = float(np.mean(res.train_loss)), float(np.mean(res.answer_loss))
    return (f"students measured {where}: training loss {train:.3f}, valid-answer loss {answer:.3f} nats per token, "
            f"{100 * float(np.mean(res.converged)):.0f}% on the training-loss plateau (relative change < 1e-3 over 5 "
            "epochs)")


def prompt_set(res) -> str:
    """The prompts a run measured on, in words (its ``--evaluation`` setting)."""
    return {"distillation": "distillation prompts (the students' own questions and phrasings)",
            "held-out": "held-out prompts (the same questions in a phrasing no student trained on)"}[res.config.evaluation]


def regime_text(res) -> str:
    """The competence of the set-up in words: hallucination shares of the teacher at T = 1 and
    of the direct fine-tune, the gate they are held to, and the prompts measured on."""
    where = f"measured on the {prompt_set(res)}; {fit_text(res)}"
    if res.single_answer:
        return f"single-answer corpus: criteria read the cosine to the reference answer (no hallucination gate); {where}"
    t, d = np.mean(res.regime_teacher_hallucination), np.mean(res.regime_direct_hallucination)
    return (f"regime: the teacher at T = 1 hallucinates {100 * t:.1f}%, the direct fine-tune {100 * d:.1f}% "
            f"(gate: at most {100 * GATE:.0f}% each); {where}")


def llm_section(title: str, res, blocks, passes=None, steps=None, departures_extra=()) -> doc.Section:
    """An llm-* report: its title, the paragraph every one starts with (sizes, passes over the
    distillation set, what the measures mean), the regime's hallucination shares, the table of
    departures from the study (with the experiment's own, ``departures_extra``), then ``blocks``."""
    cfg = res.config
    train = f"{cfg.epochs} passes over each student's distillation set" if passes is None else passes
    return doc.Section(title, [doc.Paragraph(
        f"{cfg.replicates} replicates x {cfg.num_students} students, "
        f"{questions(cfg)} questions, {cfg.samples} samples per prompt per model (teacher and students alike), "
        f"{train}{'' if steps is None else f' ({steps} steps at batch {cfg.batch_size})'}, preset {cfg.preset}. "
        f"Students are {cfg.family_label} models distilled from a {cfg.family_label} teacher's answers. {LLM_NOTE}"), doc.Paragraph(doc.Strong("Regime. "), regime_text(res) + "."),
        *departures(cfg, departures_extra), *blocks, *fit_blocks(res)])


def fit_blocks(res) -> list:
    """The fit of every row as measured (:func:`fit_text`'s numbers per row): steps, training
    loss of the last epoch, valid-answer loss, the plateau share, hallucination against the
    row's own targets (the per-row gate's figures)."""
    from jaxkd.experiments.llm_study.measures import row_name

    rows = [[row_name(res, i), res.steps[i], cell(res.train_loss[i]), cell(res.answer_loss[i]),
             f"{100 * float(np.mean(res.converged[i])):.0f}%", cell(res.hallucination[i]),
             cell(res.target_hallucination[i])] for i in range(len(res.steps))]
    return [doc.Paragraph(doc.Strong("Fit of every row"), f" ({fit_text(res).split(':')[0]}; mean [95% interval] "
                          "over replicates):"),
            doc.Table(["row", "steps", "training loss (last epoch)", "valid-answer loss (nats/token)",
                       "on the plateau", "hallucination", "its targets' hallucination"], rows)]


def departures(cfg, extra=()) -> list:
    """Every way this run's language-model protocol differs from the study's (its text and its
    published scripts), with jaxkd's choice and why: a table under the header of every llm-*
    report; ``extra`` holds an experiment's own rows (what, the study, jaxkd, why)."""
    quick = cfg.student is None
    rows = [
        ["corpus and models", "BioASQ; GPT-2 teacher fine-tuned on it, DistilGPT2 students",
         (f"a synthetic corpus whose answer distributions are known; a small {cfg.family_label} teacher and tiny "
          f"{cfg.family_label} base students trained from scratch on it" if quick
          else "the Hugging Face folders and QA file given"),
         "exact entropy, total variation and hallucination; no weights can be downloaded" if quick else "—"],
        ["prompt", "'Question: {q}\\nAnswer:'", "the same", "—"],
        ["what is scored in training", "'Answer: {a}' (no end-of-text: students generate to the maximum length)",
         "' {a}' and an end-of-text token", "answers end, so their length is the answer's, not the budget's"],
        ["optimizer", "Hugging Face Trainer defaults: AdamW, lr 5e-5, linear decay, batch 10, 3 epochs",
         f"the same schedule ({cfg.optimizer}), lr {cfg.learning_rate:g}, batch {cfg.batch_size}, {cfg.epochs} epochs",
         "students trained from scratch on a small corpus need more steps and a larger rate to learn it"
         if quick else "—"],
        ["dropout", "the checkpoint's (0.1), active in training",
         "none (the small presets have none)" if quick else "the checkpoint's, one key per replicate",
         "models trained from scratch for few steps" if quick else "—"],
        ["data order and init", "the Trainer's seed 42 and torch seed 1: one order, one init for every student",
         "one order and one base student per replicate, each replicate its own",
         "an interval over replicates includes every source of randomness"],
        ["replicates", "one set of students per setting (n = 5, 10 or 20)",
         f"{cfg.replicates} replicates of {cfg.num_students} students", "a 95% interval on every verdict"],
        ["samples per model", "20 (6.2), 10 (App. F), 1,000 (App. B.2's PC1)",
         f"{cfg.samples} for the teacher and every student", "equal counts: plug-in biases cancel in comparisons"],
        ["evaluation prompts", "not in the published scripts (they hold no evaluation code)",
         {"distillation": "the students' distillation prompts",
          "held-out": "each question in a held-out phrasing" if quick else "20% of the questions, held out"}[
             cfg.evaluation],
         "tiny students trained from scratch memorise the question's wording: fine-tuned to a training loss of "
         "0.015 on one phrasing, they hallucinate 65% of answers to the same questions asked another way"
         if cfg.evaluation == "distillation" else "measure what was learnt, not the training string"],
        ["sampling", "top-k 50 of 50,257 tokens, repetition penalty 1.2, up to the model's length",
         f"top-k {cfg.top_k} of {cfg.vocab_size if quick else 'the'} tokens, penalty {cfg.repetition_penalty:g}, "
         f"at most {cfg.max_new_tokens} new tokens", "the answers are short" if quick else "—"],
        ["variance-aware teacher temperature", "the script's default 1.0 (Table 1's single row equals Table 5 at 1.2)",
         "1.0", "the script's value; the 1.2 match is reported by the study, not set by its script"],
        ["base samples for variance weighting", "drawn from DistilGPT2 inside each student's loop",
         "each student its own samples from its replicate's base student", "as the script"],
        ["fit level", "one budget (3 epochs at 5e-5)",
         f"a fit ladder: every student measured at epochs {', '.join(map(str, cfg.rungs)) or 'none'} of its "
         f"{cfg.epochs} (checkpoints of one run) and where it ended; every claim judged at each",
         "a verdict must not depend on how far training got; the study's regime (valid answers, not memorised) "
         "is found on the ladder, not assumed"],
    ]
    rows += list(extra)
    return [doc.Paragraph(doc.Strong("Departures from the study"), " (its text and published scripts):"),
            doc.Table(["what", "the study", "jaxkd", "why"], rows)]
