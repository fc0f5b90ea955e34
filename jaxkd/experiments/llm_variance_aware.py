"""Variance-aware LLM distillation (study Section 7.3, Table 1; Appendix F, Table 5).

Protocol (the study's): each student draws its **own** k teacher answers per prompt
(temperature 1, the script's default) and keeps, per method: the first (single-response), all k
(multi-response), the one closest to their mean embedding (averaging), or the one closest to the
inverse-variance combination of the teacher's and the untrained base student's mean embeddings
(variance weighting: the study's variances, and with ``--jaxkd-methods`` jaxkd's
variance-of-the-mean variant beside it; each student its own samples from its replicate's base
student). The base student never saw a
question with its answer, so no ground truth leaks into the choice.

Compute decides: every method trains the single-response steps ("equal"), and those rows decide
the claims. With ``--study-schedule`` (on at the paper preset, off at quick, where it would be most
of the training) the study's schedule (epochs x k passes over each method's set, so compute grows
with k: multi-response trains k² times single's steps) is run beside them and its verdicts are
labelled compute-confounded; single- and multi-response students at k times single's steps ("k×
steps") complete a small steps x method grid. Soft targets (token-level KD) are jaxkd's other
addition (``--jaxkd-methods``; both additions on at the paper preset, off at quick); the direct
fine-tune on one reference answer per prompt is a row. Systematic noise is measured
against the true answer distribution (S.4; against the direct fine-tune on single-answer
corpora, as the study). R replicates (their own teacher draws, base students, data orders);
methods share each replicate's draws, so their differences are paired.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import numpy as np
from flax import nnx

from jaxkd import _validation as v
from jaxkd import document as doc
from jaxkd import rng
from jaxkd.claims import Claim, Interval
from jaxkd.config import option
from jaxkd.experiments.llm_study import config as llm_config
from jaxkd.experiments.llm_study import measures, replicates, report, setup, stats
from jaxkd.llm import distill, selection
from jaxkd.runs import RunDir, columns, sweep

MODELS = llm_config.LLMConfig.MODELS
CORRECTED = ("multi", "averaging", "variance-weighting-study", "variance-weighting")
NAMES = {"multi": "multi-response", "averaging": "averaging", "variance-weighting-study": "variance weighting (study)",
         "variance-weighting": "variance weighting (jaxkd)"}


@dataclasses.dataclass(frozen=True)
class Config(llm_config.LLMConfig):
    PRESETS: ClassVar[dict] = llm_config.paper(ks=(3, 5), study_schedule=True, jaxkd_methods=True)

    ks: tuple[int, ...] = option((3,), "teacher responses per prompt k (at least 2)")
    study_schedule: bool = option(False, "also train every corrected method on the study's schedule (epochs x k "
                                  "passes over its own set: multi-response k² times single's steps) and the k× steps "
                                  "rows of the steps x method grid; the quick preset leaves them out to keep its "
                                  "budget (most of this step's training), the paper preset runs them")
    jaxkd_methods: bool = option(False, "also train jaxkd's two additions to the study's methods: token-level soft "
                                 "targets and jaxkd's variance weighting (the variance of the mean); the quick preset "
                                 "leaves them out to keep its budget, the paper preset runs them")

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "ks", v.check_grid("k", self.ks, lambda n, k: v.check_int(n, k, minimum=2)))


def methods(ks, study_schedule: bool, jaxkd_methods: bool) -> list[tuple[str, str, int, str]]:
    """(label, method, k, schedule) rows of the table, in order, for the k grid ``ks``: the
    direct fine-tune, single-response and (``jaxkd_methods``) soft targets, then each corrected
    method per k (jaxkd's variance weighting with ``jaxkd_methods``) at the single-response steps
    ("equal", what decides) and, with ``study_schedule``, on the study's schedule ("study": epochs
    x k passes over the method's set) and single- and multi-response at k times single's steps
    ("k× steps": with the study's rows of averaging and weighting, the steps x method grid)."""
    rows = [("direct fine-tune", "direct", 1, "equal"), ("single", "single", 1, "equal")]
    rows += [("soft targets (token KD)", "soft", 1, "equal")] if jaxkd_methods else []
    corrected = [m for m in CORRECTED if jaxkd_methods or m != "variance-weighting"]
    for schedule in ("equal", "study") if study_schedule else ("equal",):
        rows += [(f"{NAMES[m]} k={k}, {schedule}", m, k, schedule) for k in ks for m in corrected]
    for k in ks if study_schedule else ():
        rows += [(f"single, {k}× steps", "single", k, "k× steps"), (f"multi-response k={k}, {k}× steps", "multi", k,
                                                                     "k× steps")]
    return rows


@dataclasses.dataclass(frozen=True)
class Results(measures.SweepResults):
    """Typed results (per method row of :func:`methods`; measures per replicate)."""

    label: tuple[str, ...]
    method: tuple[str, ...]
    k: tuple[int, ...]
    schedule: tuple[str, ...]
    direct_systematic_noise: tuple[tuple[float, ...], ...]
    direct_hallucination: tuple[tuple[float, ...], ...]
    training_tokens: tuple[int, ...]
    pairs: tuple[int, ...]


def run(cfg: Config, run_dir: RunDir | None = None) -> Results:
    """Run the sweep (``run_dir`` enables save/resume) and return its typed results."""
    return Results.build(cfg, _columns(cfg, run_dir))


def _columns(cfg: Config, run_dir: RunDir | None) -> dict:
    task = setup.build_task(cfg, None if run_dir is None else run_dir.shared)
    kmax = max(cfg.ks)
    draws = setup.cached(task, setup.work_key(cfg, "va-draws", k=kmax), lambda: replicates.teacher_draws(
        task, rng.stream(cfg.seed, "teacher_sampling_va"), kmax, 1.0))
    draw_embs = measures.embed(task, draws)                               # (R*N, P, kmax, E)
    base_embs = measures.embed(task, setup.cached(task, setup.work_key(cfg, "base-samples", k=kmax),
                                                  lambda: base_samples(task, kmax)))   # (R*N, P, kmax, E)
    teacher = replicates.teacher_reference(task, 1.0)
    direct = replicates.direct_reference(task)
    order = replicates.replicate_keys(task, "data_order")
    single_steps = cfg.steps(len(task.prompts))

    def point(p):
        i, (label, method, k, schedule) = p
        if method == "direct":
            out = direct
        else:
            pairs = [selection.select("single" if method == "soft" else method, [d[:k] for d in draws[j]],
                                      draw_embs[j, :, :k], base_embs[j, :, :k]) for j in range(cfg.total_students)]
            # equal: the single-response steps (the last pass over a larger set stops part-way); the
            # study's schedule: epochs x k passes over the method's own set; k× steps: k times single's.
            epochs, steps = {"equal": (cfg.epochs, single_steps), "study": (cfg.epochs * k, None),
                             "k× steps": (cfg.epochs * k, k * single_steps)}[schedule]
            out = replicates.train_and_sample(task, pairs, epochs=epochs, max_steps=steps, order=order,
                                              soft=method == "soft",
                                              key=rng.point_key(rng.stream(cfg.seed, "student_eval"), i))
        c = out.compute
        return {"label": label, "method": method, "k": k, "schedule": schedule,
                **measures.measure(task, out, teacher, direct=direct), "steps": c["steps"],
                "passes": float(c["epochs"]), "training_tokens": c["training_tokens"], "pairs": c["pairs"]}

    points = [(f"m-{i:02d}", (i, row)) for i, row in enumerate(methods(cfg.ks, cfg.study_schedule, cfg.jaxkd_methods))]
    return {**columns(sweep(run_dir, points, point, desc="llm-variance-aware")),
            **measures.regime(task)}


def base_samples(task: setup.Task, k: int) -> list[list[list[str]]]:
    """Each student's own k samples per distillation prompt from its replicate's untrained base
    student ((R*N) x P x k): the student side of variance weighting, drawn per student as the
    study's script does inside its loop over students."""
    cfg = task.cfg
    N = cfg.num_students
    keys = jax.random.split(rng.stream(cfg.seed, "base_eval"), cfg.total_students)
    out = []
    for lo in range(0, cfg.total_students, N):  # one replicate's students at a time
        bases = distill.Students(nnx.graphdef(task.base), task.base_states(lo, lo + N), {})
        out += distill.student_responses(bases, task.tok, task.prompts, k, keys[lo:lo + N], cfg.sampling(1.0))
    return out


# --- report: figures and document ----------------------------------------------------------


def figures(res: Results) -> dict:
    """This experiment's figures, by file name (the document refers to them)."""
    from jaxkd.plotting import subplots

    fig, (a1, a2) = subplots(1, 2, figsize=(12, 4.5))
    y = np.arange(len(res.label))
    metric, title = similarity_metric(res)
    for ax, name, title in ((a1, metric, title),
                            (a2, "systematic_noise", "systematic noise (S.4; vs the direct fine-tune on single-answer "
                                                     "corpora)")):
        m = np.array([stats.mean_interval(_values(res, name, i)) for i in range(len(res.label))])
        ax.errorbar(m[:, 0], y, xerr=[m[:, 0] - m[:, 1], m[:, 2] - m[:, 0]], fmt="o", capsize=3)
        ax.set_yticks(y)
        ax.set_yticklabels(res.label, fontsize=7)
        ax.invert_yaxis()
        ax.set_title(title, fontsize=9)
    a2.axvline(0.0, color="k", lw=0.8)
    fig.tight_layout()
    return {"methods.png": fig, "training.png": report.fig_training(res, res.label)}


def document(res: Results) -> doc.Section:
    """This experiment's report: tables and the figures of :func:`figures`."""
    idx = range(len(res.label))
    table = report.table(res, "method", res.label,
                         ["tv_excess", "hallucination", "entropy_gap", "centroid_cosine", "gt_similarity",
                          "systematic_noise", "student_noise", "noise_slope", "noise_r2",
                          "inter_student_variance_corrected", "greedy_disagreement"],
                         ["TV excess to truth (S.3)", "hallucination", "H − true H (S.3)", "cos to true centroid (S.2)",
                          "cos to nearest valid", "systematic noise (S.4)", "avg noise", "noise slope", "R²",
                          "between-student var (corrected)", "greedy disagreement"])
    compute = doc.Table(["method", "schedule", "steps", "passes", "pairs per student", "training tokens"],
                        [[res.label[i], res.schedule[i], res.steps[i], res.passes[i], res.pairs[i],
                          res.training_tokens[i]] for i in idx])
    return report.llm_section("Variance-aware LLM distillation (Section 7.3, Table 1; App. F)", res, [
        doc.Paragraph("Rows marked 'equal' train the single-response steps and decide the claims; " + (
            "rows marked 'study' train for epochs × k passes over their own set (the study's schedule, so compute "
            "grows with k: its verdicts are compute-confounded); 'k× steps' rows complete the steps × method grid. "
            if "study" in res.schedule else "the study's schedule (epochs × k passes over each method's set) and the "
            "steps × method grid were not run (--study-schedule; on at the paper preset). ") +
            f"Teacher TV excess to the truth: {stats.cell(res.teacher_tv_excess[0])}; the truth's own noise "
            f"{stats.cell(res.true_noise[0])}."),
        table, doc.Paragraph(doc.Strong("Gain over single-response against compute"), " (single − method of the "
                             "deciding similarity measure, paired by replicate, per steps budget):"), grid(res),
        doc.Paragraph(doc.Strong("Compute per row")), compute, doc.Figure("methods.png", "methods"),
        doc.Figure("training.png", "the students' training loss at every step")],
        passes="passes per row as in the compute table", departures_extra=departures(res.config))


def departures(cfg: Config) -> list[list[str]]:
    """This experiment's rows of the departures table: which schedules and methods ran."""
    return [["variance-aware training schedule", "epochs × k passes over each method's set (multi-response: k² "
             "times single's steps)", "every method at single's steps (deciding)" + (
                 "; the study's schedule and a steps × method grid beside" if cfg.study_schedule else
                 "; the study's schedule not run (--study-schedule)"),
             "equal compute decides" + ("" if cfg.study_schedule else "; the study's schedule, k to k² times the "
                                        "steps per row, is left to the paper preset to keep the quick budget")],
            ["variance-aware methods", "single, multi-response, averaging, variance weighting",
             "the same and the direct fine-tune" + (
                 ", jaxkd's variance weighting and token-level soft targets" if cfg.jaxkd_methods else
                 " (jaxkd's two additions: --jaxkd-methods)"),
             "the study's methods decide; the additions are jaxkd's" + (
                 "" if cfg.jaxkd_methods else ", left to the paper preset to keep the quick budget")]]


def grid(res: Results) -> doc.Table:
    """The steps x method grid: each method's gain over single-response trained for the same
    steps, at every steps budget the rows hold."""
    metric, _ = similarity_metric(res)
    values = [_values(res, metric, i) for i in range(len(res.label))]
    cells = {}
    for i in range(len(res.label)):
        if res.method[i] in ("direct", "soft"):
            continue
        cells.setdefault(res.steps[i], {})[NAMES.get(res.method[i], res.method[i]) + (
            f" k={res.k[i]}" if res.method[i] != "single" else "")] = values[i]
    names = sorted({n for c in cells.values() for n in c if n != "single"})
    rows = []
    for steps in sorted(cells):
        base = cells[steps].get("single")
        rows.append([steps] + [stats.cell(base - cells[steps][n]) if base is not None and n in cells[steps] else "—"
                               for n in names])
    return doc.Table(["steps"] + names, rows)


# --- claims: what the study says this experiment shows, judged from its results ------------


def similarity_metric(res: Results) -> tuple[str, str]:
    """The distance to the truth that decides: excess total variation to the known answer
    distribution (S.3), or on single-answer corpora the cosine distance to the reference answer
    (the study's measure), as ``1 − gt_similarity``."""
    if res.single_answer:
        return "gt_distance", "cosine distance to the reference answer (the study's; lower: closer)"
    return "tv_excess", "TV excess to the true answer distribution (S.3; lower: closer)"


def _values(res: Results, metric: str, i: int) -> np.ndarray:
    if metric == "gt_distance":
        return 1.0 - np.asarray(res.gt_similarity[i], float)
    if metric == "systematic_noise" and res.single_answer:  # the study's reference: the direct fine-tune
        return np.asarray(res.systematic_noise[i], float) - np.asarray(res.direct_systematic_noise[i], float)
    return np.asarray(getattr(res, metric)[i], float)


def paired(res: Results, metric: str, against: int, rows, transform=lambda x: x) -> dict:
    """Per row, the paired replicate differences transform(metric[against]) − transform(metric[row])."""
    base = transform(_values(res, metric, against))
    return {res.label[i]: base - transform(_values(res, metric, i)) for i in rows}


def weakest(diffs: dict) -> tuple[str, float, float, float]:
    """The row that decides "every difference is positive": one whose interval lies below 0 if
    any does (not reproduced), else the one with the lowest lower bound."""
    iv = {k: stats.mean_interval(d) for k, d in diffs.items()}
    below = [k for k, (m, lo, hi) in iv.items() if hi < 0]
    key = min(below, key=lambda k: iv[k][2]) if below else min(iv, key=lambda k: iv[k][1])
    return (key, *iv[key])


def _rows(res, schedule, names=CORRECTED):
    return [i for i in range(len(res.label)) if res.schedule[i] == schedule and res.method[i] in names]


def _decide(res: Results, text: str, word: str, diffs_of) -> Interval:
    """The verdict at equal compute, the study's schedule beside it (compute-confounded):
    ``diffs_of(schedule)`` gives the paired differences that must all be positive."""
    label, m, lo, hi = weakest(diffs_of("equal"))
    R = res.config.replicates
    if "study" in res.schedule:
        st = weakest(diffs_of("study"))
        study = f"the study's schedule (compute-confounded), weakest {word} {st[0]}: {stats.span(*st[1:])}"
    else:
        study = "the study's schedule not run (--study-schedule)"
    return Interval(m, lo, hi, R, f"{text}; equal steps (deciding), weakest {word} {label}: {stats.span(m, lo, hi)}; "
                    f"{study} ({R} replicates, paired); {report.regime_text(res)}", gate=measures.gate(res))


def _against_single(res: Results, metric: str, text: str, transform=lambda x: x) -> Interval:
    single = res.label.index("single")
    return _decide(res, text, "row", lambda schedule: paired(res, metric, single, _rows(res, schedule), transform))


def _llm_similarity(res: Results) -> Interval:
    metric, _ = similarity_metric(res)
    return _against_single(res, metric, ("TV excess to the true answer distribution" if metric == "tv_excess" else
                                         "cosine distance to the reference answer") + ", single − method")


def _llm_systematic(res: Results) -> Interval:
    return _against_single(res, "systematic_noise", "|systematic noise|, single − method", transform=np.abs)


def _llm_vw_strongest(res: Results) -> Interval:
    metric, _ = similarity_metric(res)

    def diffs(schedule):
        return {f"{res.label[i]} vs {res.label[j]}": _values(res, metric, i) - _values(res, metric, j)
                for j in _rows(res, schedule, ("variance-weighting-study",))
                for i in _rows(res, schedule, ("multi", "averaging")) if res.k[i] == res.k[j]}

    return _decide(res, "distance to the truth, other corrected method − the study's variance weighting", "pair", diffs)


CLAIMS: tuple[Claim, ...] = (
    Claim("llm-similarity", "variance-aware", "Multi-response, averaging and variance-weighting raise "
          "LLM students' similarity to the ground truth", "for every corrected method at the single-response steps, "
          "the distance to the truth (TV excess to the known answer distribution, S.3; the cosine distance to the "
          "reference answer on single-answer corpora) of single-response students minus the method's, paired by "
          "replicate: every 95% interval above 0 (reproduced), one below 0 (not reproduced); the study's schedule "
          "is reported beside (compute-confounded); inconclusive (regime) when the teacher at T = 1 or the direct "
          "fine-tune hallucinates more than 10%", ("llm-variance-aware-gpt2",), _llm_similarity),
    Claim("llm-systematic", "variance-aware", "... and reduce their systematic noise",
          "for every corrected method at the single-response steps, |systematic noise| (student noise minus the true "
          "answer distribution's, S.4; minus the direct fine-tune's on single-answer corpora) of single-response "
          "students minus the method's, paired by replicate: every 95% interval above 0; the study's schedule beside",
          ("llm-variance-aware-gpt2",), _llm_systematic),
    Claim("llm-vw", "variance-aware", "... with variance-weighting strongest", "the study's variance weighting "
          "against multi-response and averaging at the same k and the single-response steps: the other method's "
          "distance to the truth minus variance weighting's, paired by replicate: every 95% interval above 0; the "
          "study's schedule beside", ("llm-variance-aware-gpt2",), _llm_vw_strongest),
)
