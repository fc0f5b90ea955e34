"""The claims llm-variance-aware judges: what the study says it shows, decided from its results."""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxkd.claims import Claim, Interval
from jaxkd.experiments.llm_study import measures, report, stats
from jaxkd.experiments.llm_variance_aware.run import (
    CORRECTED,
    Results,
    row_values,
    similarity_metric,
)


def paired(res: Results, metric: str, against: int, rows, transform=lambda x: x) -> dict:
    """Per row, the paired replicate differences transform(metric[against]) − transform(metric[row])."""
    base = transform(row_values(res, metric, against))
    return {res.label[i]: base - transform(row_values(res, metric, i)) for i in rows}


def weakest(diffs: dict) -> tuple[str, float, float, float]:
    """The row that decides "every difference is positive": one whose interval lies below 0 if
    any does (not reproduced), else the one with the lowest lower bound."""
    iv = {k: stats.mean_interval(d) for k, d in diffs.items()}
    below = [k for k, (m, lo, hi) in iv.items() if hi < 0]
    key = min(below, key=lambda k: iv[k][2]) if below else min(iv, key=lambda k: iv[k][1])
    return (key, *iv[key])


def _rows(res, schedule, names=CORRECTED):
    """The corrected rows of ``schedule``; "epochs" (equal epochs per target, what decides) is
    multi-response's equal-epochs row and every other method's equal-steps row (one target per
    prompt: the same training). Results without an equal-epochs row fall back to equal steps."""
    if schedule == "converged":
        return [i for i in range(len(res.label)) if res.schedule[i] == "converged" and res.method[i] in names]
    if schedule == "epochs":
        if "epochs" not in res.schedule:
            return _rows(res, "equal", names)
        return [i for i in range(len(res.label)) if res.method[i] in names
                and res.schedule[i] == ("epochs" if res.method[i] == "multi" else "equal")]
    return [i for i in range(len(res.label)) if res.schedule[i] == schedule and res.method[i] in names]


def deciding_schedule(res: Results) -> str:
    """What decides: every method at its own convergence when those rows ran, else at equal
    epochs per target."""
    return "converged" if "converged" in res.schedule else "epochs"


def single_row(res: Results, schedule: str) -> int:
    """Single-response's row on ``schedule`` (its converged row, or its one equal row)."""
    return res.label.index("single, converged" if schedule == "converged" else "single")


def _decide(res: Results, text: str, word: str, diffs_of) -> Interval:
    """The verdict at each method's convergence (when those rows ran) or at equal epochs per
    target, the others and the study's schedule beside it (compute-confounded):
    ``diffs_of(schedule)`` gives the paired differences that must all be positive."""
    deciding = deciding_schedule(res)
    label, m, lo, hi = weakest(diffs_of(deciding))
    R = res.config.replicates
    names = {"converged": "each at its own convergence", "epochs": "equal epochs per target"}
    besides = [s for s in ("epochs", "equal") if s != deciding]
    steps = "; ".join(f"{names.get(s, 'equal steps')}, weakest {word} {w[0]}: {stats.span(*w[1:])}"
                      for s in besides for w in [weakest(diffs_of(s))])
    if "study" in res.schedule:
        st = weakest(diffs_of("study"))
        study = f"the study's schedule (compute-confounded), weakest {word} {st[0]}: {stats.span(*st[1:])}"
    else:
        study = "the study's schedule not run (--study-schedule)"
    rows = deciding_rows(res)
    return Interval(m, lo, hi, R, f"{text}; {names[deciding]} (deciding), weakest {word} {label}: "
                    f"{stats.span(m, lo, hi)}; beside: {steps}; {study} ({R} replicates, paired); "
                    f"{measures.row_figures(res, rows)}; {report.regime_text(res)}",
                    gate=measures.decide_gate(res, rows))


def deciding_rows(res: Results) -> list[int]:
    """The rows every variance-aware claim reads: single-response and each corrected method on
    the deciding schedule (the per-row gate holds each to its own targets)."""
    schedule = deciding_schedule(res)
    return [single_row(res, schedule), *_rows(res, schedule)]


def _against_single(res: Results, metric: str, text: str, transform=lambda x: x) -> Interval:
    return _decide(res, text, "row", lambda schedule: paired(res, metric, single_row(res, schedule),
                                                             _rows(res, schedule), transform))


def _llm_similarity(res: Results) -> Interval:
    metric, _ = similarity_metric(res)
    return _against_single(res, metric, ("TV excess to the true answer distribution" if metric == "tv_excess" else
                                         "cosine distance to the reference answer") + ", single − method")


def _llm_systematic(res: Results) -> Interval:
    """The study's systematic noise (student noise − the direct fine-tune's, signed: positive is
    noisier than a model of the reference answers), single − method: positive is reduced; the
    distance of the noise to the true answer distribution's (S.4) beside."""
    schedule = deciding_schedule(res)
    truth = weakest(paired(res, "systematic_noise", single_row(res, schedule), _rows(res, schedule), np.abs))
    found = _against_single(res, "study_systematic_noise", "systematic noise as the study signs it (students' noise − "
                            "the direct fine-tune's), single − method")
    single = stats.mean_interval(row_values(res, "study_systematic_noise", single_row(res, schedule)))
    return dataclasses.replace(found, evidence=(
        f"single-response students' systematic noise {stats.span(*single)} (the study's sign: above 0 is noisier "
        f"than the direct fine-tune); {found.evidence}; beside, |noise − the true answer distribution's| (S.4), "
        f"single − method, weakest row {truth[0]}: {stats.span(*truth[1:])}"))


def _llm_vw_strongest(res: Results) -> Interval:
    metric, _ = similarity_metric(res)

    def diffs(schedule):
        return {f"{res.label[i]} vs {res.label[j]}": row_values(res, metric, i) - row_values(res, metric, j)
                for j in _rows(res, schedule, ("variance-weighting-study",))
                for i in _rows(res, schedule, ("multi", "averaging")) if res.k[i] == res.k[j]}

    return _decide(res, "distance to the truth, other corrected method − the study's variance weighting", "pair", diffs)


DECIDES = ("at each method's own convergence where those rows ran (--converged-rows, the paper preset: training-loss "
           "change below 1e-3 over 5 epochs, at most 3 x the epochs), else at equal epochs per target (multi-response "
           "k times single's steps; the others one target per prompt, single's steps)")
GATES = ("inconclusive (regime) when the teacher at T = 1 or the direct fine-tune hallucinates more than 10%, or a "
         "deciding row more than 10 points above its own targets")

CLAIMS: tuple[Claim, ...] = (
    Claim("llm-similarity", "variance-aware", "Multi-response, averaging and variance-weighting raise "
          "LLM students' similarity to the ground truth", "for every corrected method " + DECIDES + ", the distance "
          "to the truth (TV excess to the known answer distribution, S.3; the cosine distance to the reference "
          "answer on single-answer corpora) of single-response students minus the method's, paired by replicate: "
          "every 95% interval above 0 (reproduced), one below 0 (not reproduced); equal epochs, equal steps and the "
          "study's schedule (compute-confounded) beside; " + GATES, ("llm-variance-aware-gpt2",), _llm_similarity,
          premise="regime"),
    Claim("llm-systematic", "variance-aware", "... and reduce their systematic noise",
          "for every corrected method " + DECIDES + ", systematic noise as the study signs it (student "
          "noise minus the noise of students fine-tuned directly on the reference answers, at the same fit) of "
          "single-response students minus the method's, paired by replicate: every 95% interval above 0; |noise − "
          "the true answer distribution's| (S.4), equal steps and the study's schedule beside; " + GATES,
          ("llm-variance-aware-gpt2",), _llm_systematic, premise="regime"),
    Claim("llm-vw", "variance-aware", "... with variance-weighting strongest", "the study's variance weighting "
          "against multi-response and averaging at the same k, " + DECIDES + ": the other method's "
          "distance to the truth minus variance weighting's, paired by replicate: every 95% interval above 0; equal "
          "steps and the study's schedule beside; " + GATES, ("llm-variance-aware-gpt2",), _llm_vw_strongest,
          premise="regime"),
)
