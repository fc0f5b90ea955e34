"""Variance-aware LLM distillation (study Section 7.3, Table 1; Appendix F, Table 5).

Protocol (the study's): each student draws its **own** k teacher answers per prompt
(temperature 1) and keeps, per method: the first (single-response), all k (multi-response),
the one closest to their mean embedding (averaging), or the one closest to the inverse-variance
combination of the teacher's and the untrained base student's mean embeddings (variance
weighting: the study's variances, and jaxkd's variance-of-the-mean variant beside it). The base
student never saw a question with its answer, so no ground truth leaks into the choice.
Training length follows the study's schedule (epochs x k passes over each method's set, so
compute grows with k) and, as a second comparison, equal steps for every method; the steps,
passes, pairs and tokens of each row are recorded. Soft targets (token-level KD) are jaxkd's
addition. The reference for systematic noise is the base student fine-tuned directly on one
reference answer per prompt for the single-response steps. R replicates (their own teacher
draws); methods share each replicate's draws, so their differences are paired.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax.numpy as jnp
import numpy as np

from jaxkd import _validation as v
from jaxkd import document as doc
from jaxkd import rng
from jaxkd.claims import Claim, Interval
from jaxkd.config import option
from jaxkd.experiments import llm_common as lc
from jaxkd.llm import distill, selection
from jaxkd.runs import RunDir, columns, sweep

MODELS = lc.LLMConfig.MODELS
CORRECTED = ("multi", "averaging", "variance-weighting-study", "variance-weighting")
NAMES = {"multi": "multi-response", "averaging": "averaging", "variance-weighting-study": "variance weighting (study)",
         "variance-weighting": "variance weighting (jaxkd)"}


@dataclasses.dataclass(frozen=True)
class Config(lc.LLMConfig):
    PRESETS: ClassVar[dict] = lc.paper(ks=(3, 5))

    ks: tuple[int, ...] = option((3,), "teacher responses per prompt k (at least 2)")

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "ks", v.check_grid("k", self.ks, lambda n, k: v.check_int(n, k, minimum=2)))


def methods(ks) -> list[tuple[str, str, int, str]]:
    """(label, method, k, schedule) rows of the table, in order, for the k grid ``ks``: the
    direct fine-tune, single-response and soft targets, then each corrected method per k on the
    study's schedule ("study": epochs x k passes) and at the single-response steps ("equal")."""
    rows = [("direct fine-tune", "direct", 1, "equal"), ("single", "single", 1, "equal"),
            ("soft targets (token KD)", "soft", 1, "equal")]
    for schedule in ("study", "equal"):
        rows += [(f"{NAMES[m]} k={k}, {schedule}", m, k, schedule) for k in ks for m in CORRECTED]
    return rows


@dataclasses.dataclass(frozen=True)
class Results(lc.SweepResults):
    """Typed results (per method row of :func:`methods`; measures per replicate)."""

    label: tuple[str, ...]
    method: tuple[str, ...]
    k: tuple[int, ...]
    schedule: tuple[str, ...]
    systematic_noise: tuple[tuple[float, ...], ...]
    training_tokens: tuple[int, ...]
    pairs: tuple[int, ...]


def run(cfg: Config, run_dir: RunDir | None = None) -> Results:
    """Run the sweep (``run_dir`` enables save/resume) and return its typed results."""
    return Results.build(cfg, _columns(cfg, run_dir))


def _columns(cfg: Config, run_dir: RunDir | None) -> dict:
    task = lc.build_task(cfg, None if run_dir is None else run_dir.shared)
    kmax, P = max(cfg.ks), len(task.prompts)
    draws = lc.cached(task, lc.work_key(cfg, "va-draws", k=kmax), lambda: lc.teacher_draws(
        task, rng.stream(cfg.seed, "teacher_sampling_va"), kmax, 1.0))
    draw_embs = lc.embed(task, draws)                                     # (R*N, P, kmax, E)
    base_embs = lc.embed(task, lc.cached(task, lc.work_key(cfg, "base-samples"), lambda: base_samples(task)))
    teacher = lc.teacher_reference(task, 1.0)
    direct = lc.direct_reference(task)
    order = jnp.broadcast_to(rng.stream(cfg.seed, "data_order"), (cfg.total_students,))

    def point(p):
        i, (label, method, k, schedule) = p
        if method == "direct":
            out = direct
        else:
            pairs = [selection.select("single" if method == "soft" else method, [d[:k] for d in draws[j]],
                                      draw_embs[j, :, :k], base_embs) for j in range(cfg.total_students)]
            M = len(pairs[0])
            steps = cfg.steps(P) if schedule == "equal" else cfg.steps(M, passes=cfg.epochs * k)
            students = lc.distil_students(task, pairs, steps=steps, order=order, soft=method == "soft")
            out = lc.outputs(task, students, rng.point_key(rng.stream(cfg.seed, "student_eval"), i))
        c = out["compute"]
        return {"label": label, "method": method, "k": k, "schedule": schedule,
                **lc.measure(task, out, teacher, direct=direct), "steps": c["steps"],
                "passes": c["steps"] * cfg.batch_size / c["pairs"], "training_tokens": c["training_tokens"],
                "pairs": c["pairs"]}

    points = [(f"m-{i:02d}", (i, row)) for i, row in enumerate(methods(cfg.ks))]
    return columns(sweep(run_dir, points, point, desc="llm-variance-aware"))


def base_samples(task: lc.Task) -> list[list[str]]:
    """The untrained base student's sampled answers (P x n): the student side of variance weighting."""
    cfg = task.cfg
    return distill.generate_texts(task.base, task.tok, task.prompts, cfg.samples, rng.stream(cfg.seed, "base_eval"),
                                  cfg.sampling(1.0))


# --- report: figures and document ----------------------------------------------------------


def figures(res: Results) -> dict:
    """This experiment's figures, by file name (the document refers to them)."""
    from jaxkd.plotting import subplots

    fig, (a1, a2) = subplots(1, 2, figsize=(12, 4.5))
    y = np.arange(len(res.label))
    for ax, name, title in ((a1, "total_variation", "TV to the true answer distribution (S.2; lower: closer)"),
                            (a2, "systematic_noise", "systematic noise (vs direct fine-tune)")):
        m = res.intervals(name)
        ax.errorbar(m[:, 0], y, xerr=[m[:, 0] - m[:, 1], m[:, 2] - m[:, 0]], fmt="o", capsize=3)
        ax.set_yticks(y)
        ax.set_yticklabels(res.label, fontsize=7)
        ax.invert_yaxis()
        ax.set_title(title, fontsize=9)
    a2.axvline(0.0, color="k", lw=0.8)
    fig.tight_layout()
    return {"methods.png": fig}


def document(res: Results) -> doc.Section:
    """This experiment's report: tables and the figures of :func:`figures`."""
    cfg = res.config
    idx = range(len(res.label))
    study = lc.table(res, "method", res.label,
                     ["total_variation", "entropy_gap", "centroid_cosine", "gt_similarity", "systematic_noise",
                      "student_noise", "noise_slope", "noise_r2", "inter_student_variance_corrected",
                      "greedy_disagreement"],
                     ["TV to truth (S.2)", "H − true H (S.2)", "cos to true centroid (S.2)", "cos to nearest valid",
                      "systematic noise", "avg noise", "noise slope", "R²", "between-student var (corrected)",
                      "greedy disagreement"])
    compute = doc.Table(["method", "schedule", "steps", "passes", "pairs per student", "training tokens"],
                        [[res.label[i], res.schedule[i], res.steps[i], res.passes[i], res.pairs[i],
                          res.training_tokens[i]] for i in idx])
    return lc.llm_section("Variance-aware LLM distillation (Section 7.3, Table 1; App. F)", cfg, [
        doc.Paragraph("Rows marked 'study' train for epochs × k passes over their own set (the study's schedule); "
                      "rows marked 'equal' train the single-response steps. Teacher total variation to the truth: "
                      f"{lc.cell(res.teacher_total_variation[0])}."),
        study, doc.Paragraph(doc.Strong("Compute per row")), compute, doc.Figure("methods.png", "methods")],
        passes="passes per row as in the compute table")


# --- claims: what the study says this experiment shows, judged from its results ------------


def paired(res: Results, metric: str, against: int, rows, transform=lambda x: x) -> dict:
    """Per row, the paired replicate differences transform(metric[against]) − transform(metric[row])."""
    base = transform(np.asarray(getattr(res, metric)[against], float))
    return {res.label[i]: base - transform(np.asarray(getattr(res, metric)[i], float)) for i in rows}


def weakest(diffs: dict) -> tuple[str, float, float, float]:
    """The row that decides "every difference is positive": one whose interval lies below 0 if
    any does (not reproduced), else the one with the lowest lower bound."""
    iv = {k: lc.mean_interval(d) for k, d in diffs.items()}
    below = [k for k, (m, lo, hi) in iv.items() if hi < 0]
    key = min(below, key=lambda k: iv[k][2]) if below else min(iv, key=lambda k: iv[k][1])
    return (key, *iv[key])


def _rows(res, schedule, names=CORRECTED):
    return [i for i in range(len(res.label)) if res.schedule[i] == schedule and res.method[i] in names]


def _decide(text: str, word: str, diffs_of, R: int) -> Interval:
    """The verdict on the study's schedule, with the equal-steps comparison beside it:
    ``diffs_of(schedule)`` gives the paired differences that must all be positive."""
    (label, m, lo, hi), e = (weakest(diffs_of(schedule)) for schedule in ("study", "equal"))
    return Interval(m, lo, hi, R, f"{text}; study schedule, weakest {word} {label}: {lc.span(m, lo, hi)}; "
                    f"equal steps, weakest {word} {e[0]}: {lc.span(*e[1:])} ({R} replicates, paired)")


def _against_single(res: Results, metric: str, text: str, transform=lambda x: x) -> Interval:
    single = res.method.index("single")
    return _decide(text, "row", lambda schedule: paired(res, metric, single, _rows(res, schedule), transform),
                   len(getattr(res, metric)[0]))


def _llm_similarity(res: Results) -> Interval:
    return _against_single(res, "total_variation", "total variation to the true answer distribution, single − method")


def _llm_systematic(res: Results) -> Interval:
    return _against_single(res, "systematic_noise", "|systematic noise|, single − method", transform=np.abs)


def _llm_vw_strongest(res: Results) -> Interval:
    tv = [np.asarray(x) for x in res.total_variation]

    def diffs(schedule):
        return {f"{res.label[i]} vs {res.label[j]}": tv[i] - tv[j]
                for j in _rows(res, schedule, ("variance-weighting-study",))
                for i in _rows(res, schedule, ("multi", "averaging")) if res.k[i] == res.k[j]}

    return _decide("TV to truth, other corrected method − study's variance weighting", "pair", diffs, len(tv[0]))


CLAIMS: tuple[Claim, ...] = (
    Claim("llm-similarity", "variance-aware", "Multi-response, averaging and variance-weighting raise "
          "LLM students' similarity to the ground truth", "for every corrected method on the study's schedule, "
          "total variation to the true answer distribution (S.2) of single-response students minus the method's, "
          "paired by replicate: every 95% interval above 0 (reproduced), one below 0 (not reproduced)",
          ("llm-variance-aware-gpt2",), _llm_similarity),
    Claim("llm-systematic", "variance-aware", "... and reduce their systematic noise",
          "for every corrected method on the study's schedule, |systematic noise| of single-response students "
          "minus the method's, paired by replicate: every 95% interval above 0", ("llm-variance-aware-gpt2",),
          _llm_systematic),
    Claim("llm-vw", "variance-aware", "... with variance-weighting strongest", "the study's variance weighting "
          "against multi-response and averaging at the same k on the study's schedule: TV to truth of the other "
          "method minus variance weighting's, paired by replicate: every 95% interval above 0",
          ("llm-variance-aware-gpt2",), _llm_vw_strongest),
)
