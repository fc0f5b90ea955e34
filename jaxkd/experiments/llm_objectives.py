"""Beyond the study: which distillation objective keeps the teacher's uncertainty? Language-model
students distilled with each objective the field uses, measured exactly on a corpus whose answer
distributions are known.

The study compares ways of choosing *targets* (one sample, k samples, averaging, weighting) for
sequence-level distillation; practitioners distil with *objectives* (TRL's ``GKDTrainer``):
token-level forward KL on the teacher's distribution (soft targets), reverse KL (mode-seeking, as
MiniLLM), the generalised JSD(β) between them, on-policy training on the students' own samples
scored by the teacher (TRL's ``lmbda``), and sequence-level KD on k teacher samples (``seq_kd``).

Protocol: at each teacher temperature T every student gets its own teacher answer per prompt
drawn at T (two more for sequence-level k = 3); the divergence objectives take their positions
from those sequences (the teacher's full next-token distribution at T at every answer position,
``Loss.teacher_temperature`` = T, so a student sampled at temperature 1 is compared with the
teacher sampled at T); on-policy students replace a share λ of their steps by their own
continuations. Every objective trains the same number of optimisation steps (the single-response
steps): compute is matched. Init and data order are fixed within a replicate, so students of a
replicate differ only through their teacher draws (and, on-policy, their own samples); R
replicates have their own base students, data orders and draws. Measured per replicate on the
evaluation prompts with the same number of samples per model: the answer entropy of students and
teacher, the entropy gap to the truth and the TV excess (S.3), hallucination, the between-student
variance with its floor and corrected (S.1) and the log-prob spread (no floor).

Predictions, each decided by an interval (the claims): forward KL is mean-seeking (its students
sit closer to the teacher's entropy than sequence-level students, and agree more); reverse KL is
mode-seeking (students narrower than the teacher at the flattest teacher); sequence-level KD on k
samples narrows by about C.1's amount, less at k = 3 than at k = 1; JSD(β) lies in between,
its students' entropy falling with β. docs/theorems.md X.4-X.7 say what to expect of students
that can represent their teacher: every objective then has the same optimum.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from jaxkd import document as doc
from jaxkd import rng
from jaxkd.claims import Claim, Interval
from jaxkd.config import option
from jaxkd.experiments.llm_study import config as llm_config
from jaxkd.experiments.llm_study import measures, replicates, report, setup, stats
from jaxkd.formatting import fmt
from jaxkd.llm import metrics as tm
from jaxkd.llm.objective import Loss
from jaxkd.plotting import subplots
from jaxkd.runs import RunDir, columns, sweep

MODELS = llm_config.LLMConfig.MODELS

#: (label, loss kind, beta, on-policy λ, teacher samples k per prompt) in table order.
OBJECTIVES: tuple[tuple[str, str, float, float, int], ...] = (
    ("forward KL", "forward_kl", 0.0, 0.0, 1),
    ("JSD(0.1)", "jsd", 0.1, 0.0, 1),
    ("JSD(0.5)", "jsd", 0.5, 0.0, 1),
    ("JSD(0.9)", "jsd", 0.9, 0.0, 1),
    ("reverse KL", "reverse_kl", 1.0, 0.0, 1),
    ("on-policy λ=0.5, JSD(0.5)", "jsd", 0.5, 0.5, 1),
    ("on-policy λ=1, JSD(0.5)", "jsd", 0.5, 1.0, 1),
    ("sequence-level k=1", "ce", 0.0, 0.0, 1),
    ("sequence-level k=3", "ce", 0.0, 0.0, 3),
)


@dataclasses.dataclass(frozen=True)
class Config(llm_config.TemperatureConfig):
    """Teacher temperatures (quick: 1, 2; paper: 0.5, 1, 1.5, 2) and the shared llm fields."""

    PRESETS: ClassVar[dict] = llm_config.paper(temperatures=(0.5, 1.0, 1.5, 2.0))

    temperatures: tuple[float, ...] = option((1.0, 2.0), "teacher sampling temperatures")


@dataclasses.dataclass(frozen=True)
class Results(measures.SweepResults):
    """Typed results (per temperature x objective, temperature-major; measures per replicate)."""

    temperature: tuple[float, ...]
    objective: tuple[str, ...]
    beta: tuple[float, ...]
    on_policy: tuple[float, ...]
    k: tuple[int, ...]
    c1_student_entropy: tuple[float, ...]   # C.1: the mean entropy of an empirical distribution of k samples


def run(cfg: Config, run_dir: RunDir | None = None) -> Results:
    """Run the sweep (``run_dir`` enables save/resume) and return its typed results."""
    return Results.build(cfg, _columns(cfg, run_dir))


def c1_entropy(task: setup.Task, k: int) -> float:
    """C.1's expectation: the mean over evaluation questions of E[H(p̂_k)], the entropy of the
    empirical distribution of k answers drawn from the true distribution (exact enumeration)."""
    items = task.eval_corpus.items
    return float(np.mean([tm.plugin_floors(it.probs, k)["entropy_bias"] + it.entropy for it in items]))


def _columns(cfg: Config, run_dir: RunDir | None) -> dict:
    task = setup.build_task(cfg, None if run_dir is None else run_dir.shared)
    order = replicates.replicate_keys(task, "data_order")
    steps = cfg.steps(len(task.prompts))
    kmax = max(o[4] for o in OBJECTIVES)

    def point(p):
        i, T, (label, kind, beta, lam, k) = p
        draws = setup.cached(task, setup.work_key(cfg, "objectives-draws", temperature=float(T), k=kmax),
                             lambda: replicates.teacher_draws(task, replicates.temperature_key(
                                 rng.stream(cfg.seed, "teacher_sampling_objectives"), T), kmax, T))
        if kind == "ce" and k > 1:
            pairs = [[(q, a) for q, d in enumerate(student) for a in d[:k]] for student in draws]
        else:
            pairs = [[(q, d[0]) for q, d in enumerate(student)] for student in draws]
        loss = Loss(kind, beta=beta, teacher_temperature=T, on_policy=lam, max_new_tokens=cfg.max_new_tokens)
        out = replicates.train_and_sample(
            task, pairs, max_steps=steps, order=order, loss=loss,
            sample_keys=replicates.replicate_keys(task, "on_policy_samples") if lam else None,
            coin_key=rng.point_key(rng.stream(cfg.seed, "on_policy_coin"), i) if 0 < lam < 1 else None,
            key=rng.point_key(rng.stream(cfg.seed, "student_eval_objectives"), i))
        return {"temperature": T, "objective": label, "beta": beta, "on_policy": lam, "k": k,
                **measures.measure(task, out, replicates.teacher_reference(task, T)), "steps": out.compute["steps"],
                "passes": float(out.compute["epochs"]), "c1_student_entropy": c1_entropy(task, k)}

    grid = [(i, T, o) for i, (T, o) in enumerate((T, o) for T in cfg.temperatures for o in OBJECTIVES)]
    rows = sweep(run_dir, [(f"o-{i:02d}", g) for i, g in enumerate(grid)], point, desc="llm-objectives")
    return {**columns(rows), **measures.regime(task)}


# --- report: figures and document ----------------------------------------------------------


def _at(res: Results, T: float, label: str) -> int:
    return next(i for i in range(len(res.objective)) if res.temperature[i] == T and res.objective[i] == label)


def figures(res: Results) -> dict:
    """Entropy gap to the teacher and between-student spread per objective, one line per T."""
    fig, (a1, a2) = subplots(1, 2, figsize=(13, 4.5))
    labels = [o[0] for o in OBJECTIVES]
    x = np.arange(len(labels))
    for j, T in enumerate(sorted(set(res.temperature))):
        idx = [_at(res, T, lab) for lab in labels]
        gap = np.array([stats.mean_interval(np.asarray(res.student_entropy[i]) - np.asarray(res.teacher_entropy[i]))
                        for i in idx])
        spread = np.array([stats.mean_interval(res.logprob_spread[i]) for i in idx])
        off = (j - 0.5) * 0.15
        a1.errorbar(x + off, gap[:, 0], yerr=[gap[:, 0] - gap[:, 1], gap[:, 2] - gap[:, 0]], fmt="o", capsize=3,
                    label=f"teacher at T = {T}")
        a2.errorbar(x + off, spread[:, 0], yerr=[spread[:, 0] - spread[:, 1], spread[:, 2] - spread[:, 0]], fmt="o",
                    capsize=3, label=f"teacher at T = {T}")
    a1.axhline(0.0, color="k", lw=0.8)
    a1.set_ylabel("answer entropy, students − teacher (nats)")
    a2.set_ylabel("between-student log-prob spread (no floor)")
    for ax in (a1, a2):
        ax.set_xticks(x)
        ax.set_xticklabels(labels, rotation=35, ha="right", fontsize=7)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return {"objectives.png": fig,
            "training.png": report.fig_training(res, [f"{o}, T = {T}" for o, T in zip(res.objective, res.temperature)])}


def document(res: Results) -> doc.Section:
    """This experiment's report: tables and the figures of :func:`figures`."""
    labels = [f"{o} (T = {T})" for o, T in zip(res.objective, res.temperature)]
    gaps = doc.Table(["objective", "students − teacher H", "student H", "C.1 prediction (k samples)",
                      "H − true H (S.3)", "TV excess (S.3)", "hallucination", "between-student var (corrected)",
                      "log-prob spread"],
                     [[labels[i], stats.cell(np.asarray(res.student_entropy[i]) - np.asarray(res.teacher_entropy[i])),
                       stats.cell(res.student_entropy[i]),
                       fmt(res.c1_student_entropy[i]) if res.objective[i].startswith("sequence") else "—",
                       stats.cell(res.entropy_gap[i]), stats.cell(res.tv_excess[i]), stats.cell(res.hallucination[i]),
                       stats.cell(res.inter_student_variance_corrected[i]), stats.cell(res.logprob_spread[i])]
                      for i in range(len(labels))])
    teacher = doc.Table(["T", "teacher H", "teacher H − true H (S.3)", "teacher hallucination"],
                        [[T, stats.cell(res.teacher_entropy[_at(res, T, OBJECTIVES[0][0])]),
                          stats.cell(res.teacher_entropy_gap[_at(res, T, OBJECTIVES[0][0])]),
                          stats.cell(res.teacher_hallucination[_at(res, T, OBJECTIVES[0][0])])]
                         for T in sorted(set(res.temperature))])
    return report.llm_section("Beyond the study: distillation objectives and the teacher's uncertainty", res, [
        doc.Paragraph("Every objective trains the single-response steps (compute matched). Divergence objectives "
                      "match the student's next-token distribution to the teacher's at T on the positions of the "
                      "student's own teacher draw (on-policy: of its own samples, a share λ of the steps); "
                      "sequence-level students fit the sampled text. Students are sampled at temperature 1, the "
                      "teacher at T. C.1's prediction is the mean entropy of an empirical distribution of k answers "
                      "drawn from the true distribution: what a sequence-level student that reproduced its k samples "
                      "exactly would show."),
        teacher, gaps, doc.Figure("objectives.png", "entropy gap and between-student spread per objective"),
        doc.Figure("training.png", "the students' training loss at every step")], steps=res.steps[0])


# --- claims: the predictions, each decided by an interval ------------------------------------


def _gap(res, i) -> np.ndarray:
    """Students − teacher answer entropy per replicate."""
    return np.asarray(res.student_entropy[i], float) - np.asarray(res.teacher_entropy[i], float)


def _nearest_one(res) -> float:
    temps = sorted(set(res.temperature))
    return temps[int(np.argmin(np.abs(np.asarray(temps) - 1.0)))]


def _forward_kl(res: Results) -> Interval:
    T = _nearest_one(res)
    f, s = _at(res, T, "forward KL"), _at(res, T, "sequence-level k=1")
    diff = np.abs(_gap(res, s)) - np.abs(_gap(res, f))
    m, lo, hi = stats.mean_interval(diff)
    spread = stats.mean_interval(np.log10(np.asarray(res.logprob_spread[s]) / np.asarray(res.logprob_spread[f])))
    return Interval(m, lo, hi, len(diff),
                    f"at T = {fmt(T)}: |students − teacher entropy|, sequence-level k=1 minus forward KL "
                    f"{stats.span(m, lo, hi)} nats (forward KL {stats.cell(_gap(res, f))}, sequence-level "
                    f"{stats.cell(_gap(res, s))}); log10 of the between-student log-prob spread, sequence-level over "
                    f"forward KL {stats.span(*spread)}; {report.regime_text(res)}", gate=measures.gate(res))


def _reverse_kl(res: Results) -> Interval:
    temps = sorted(set(res.temperature))
    hot, cold = _at(res, temps[-1], "reverse KL"), _at(res, temps[0], "reverse KL")
    m, lo, hi = stats.mean_interval(-_gap(res, hot))
    trend = stats.mean_interval(_gap(res, cold) - _gap(res, hot)) if len(temps) > 1 else (np.nan,) * 3
    return Interval(m, lo, hi, len(_gap(res, hot)),
                    f"at the flattest teacher (T = {fmt(temps[-1])}): teacher − students entropy {stats.span(m, lo, hi)} "
                    f"nats; narrower by more at T = {fmt(temps[-1])} than at T = {fmt(temps[0])}: "
                    f"{stats.span(*trend)} nats; {report.regime_text(res)}", gate=measures.gate(res))


def _sequence_level(res: Results) -> Interval:
    T = _nearest_one(res)
    one, three = _at(res, T, "sequence-level k=1"), _at(res, T, "sequence-level k=3")
    diff = np.asarray(res.student_entropy[three], float) - np.asarray(res.student_entropy[one], float)
    m, lo, hi = stats.mean_interval(diff)
    return Interval(m, lo, hi, len(diff),
                    f"at T = {fmt(T)}: student entropy, k=3 − k=1 {stats.span(m, lo, hi)} nats (C.1 predicts "
                    f"{fmt(res.c1_student_entropy[three] - res.c1_student_entropy[one])} for students that reproduce "
                    f"their samples); students − teacher: k=1 {stats.cell(_gap(res, one))}, k=3 "
                    f"{stats.cell(_gap(res, three))} (C.1: {fmt(res.c1_student_entropy[one])} and "
                    f"{fmt(res.c1_student_entropy[three])} nats against the truth's "
                    f"{fmt(float(np.mean(res.student_entropy[one]) - np.mean(res.entropy_gap[one])))}); "
                    f"{report.regime_text(res)}", gate=measures.gate(res))


def _jsd_monotone(res: Results) -> Interval:
    T = _nearest_one(res)
    order = ["forward KL", "JSD(0.1)", "JSD(0.5)", "JSD(0.9)", "reverse KL"]
    betas = np.array([0.0, 0.1, 0.5, 0.9, 1.0])
    H = np.stack([np.asarray(res.student_entropy[_at(res, T, lab)], float) for lab in order])   # (5, R)
    b = betas - betas.mean()
    slopes = (H - H.mean(axis=0)).T @ b / (b @ b)                                               # (R,)
    m, lo, hi = stats.mean_interval(-slopes)
    return Interval(m, lo, hi, len(slopes),
                    f"at T = {fmt(T)}: least-squares slope of student entropy on β (forward KL = 0 ... reverse KL = 1) "
                    f"{stats.span(-m, -hi, -lo)} nats per unit β; entropies "
                    + ", ".join(f"{lab} {fmt(float(np.mean(h)))}" for lab, h in zip(order, H))
                    + f"; {report.regime_text(res)}", gate=measures.gate(res))


STEP = ("llm-objectives-gpt2",)
CLAIMS: tuple[Claim, ...] = (
    Claim("llm-objective-forward-kl", "objectives", "Forward KL on the teacher's token distribution is mean-seeking: "
          "students keep the teacher's answer entropy (closer to it than sequence-level students) and lose the "
          "teacher-sampling spread", "at the temperature nearest 1, |students − teacher answer entropy| of "
          "sequence-level (k = 1) students minus that of forward-KL students, per replicate: its 95% interval lies "
          "above 0; the between-student spread of both is reported beside", STEP, _forward_kl),
    Claim("llm-objective-reverse-kl", "objectives", "Reverse KL is mode-seeking: students narrower than the teacher, "
          "more so as the teacher is flatter", "at the highest teacher temperature, teacher − reverse-KL students' "
          "answer entropy, per replicate: its 95% interval lies above 0; the change from the lowest temperature is "
          "reported beside", STEP, _reverse_kl),
    Claim("llm-objective-sequence", "objectives", "Sequence-level KD on k samples narrows the students, less as k "
          "grows (C.1: by about (K − 1)/(2k) nats)", "at the temperature nearest 1, student answer entropy at k = 3 "
          "minus at k = 1 (equal steps), per replicate: its 95% interval lies above 0; C.1's exact expectation is "
          "reported beside", STEP, _sequence_level),
    Claim("llm-objective-jsd", "objectives", "JSD(β) lies between forward and reverse KL, its students' entropy "
          "falling as β grows", "at the temperature nearest 1, the least-squares slope of student answer entropy on "
          "β over forward KL (0), JSD(0.1, 0.5, 0.9) and reverse KL (1), per replicate: its 95% interval lies below "
          "0", STEP, _jsd_monotone),
)
