"""The claims llm-topk judges: docs/theorems.md X.8 and X.9's predictions for language-model
students distilled from a truncated teacher, decided at convergence and re-judged at equal steps."""

from __future__ import annotations

import numpy as np

from jaxkd.claims import Claim, Interval
from jaxkd.experiments.llm_study import measures, report, stats
from jaxkd.experiments.llm_topk.run import BUDGETS, FULL, Results, row_at
from jaxkd.formatting import fmt


def _budgets(res: Results) -> list[str]:
    """The deciding budget first (converged, X.8 and X.9's premise, when it ran), then the other."""
    ran = [b for b in BUDGETS if b in res.budget]
    return ran[::-1]


def _judged(res: Results, quantity, text, labels) -> Interval:
    """``quantity(res, budget) -> per-replicate values`` decided at the first budget of
    :func:`_budgets`; when another budget's interval lies on the other side of 0, the claim is
    inconclusive (the interval spans both), and the evidence says so; an interval spanning 0 at
    the other budget is reported beside, not a flip. ``labels`` are the rows the quantity reads:
    the per-row gate holds each, at the deciding budget, to its targets."""
    parts, intervals = [], []
    for b in _budgets(res):
        values = np.asarray(quantity(res, b), float)
        m, lo, hi = stats.mean_interval(values)
        intervals.append((m, lo, hi, len(values)))
        parts.append(f"{b}: {stats.span(m, lo, hi)}")
    m, lo, hi, n = intervals[0]
    verdicts = {(-1 if h < 0 else 1 if l > 0 else 0) for _, l, h, _ in intervals}
    flips = {-1, 1} <= verdicts  # one budget's interval above 0 and another's below
    if flips:
        lo, hi = min(i[1] for i in intervals), max(i[2] for i in intervals)
    rows = [row_at(res, _budgets(res)[0], label) for label in labels]
    evidence = (f"{text(res, _budgets(res)[0])}; " + "; ".join(parts)
                + ("; the verdict differs between budgets, so neither decides" if flips else "")
                + f"; {measures.row_figures(res, rows)}; {report.regime_text(res)}")
    return Interval(m, lo, hi, n, evidence, gate=measures.decide_gate(res, rows))


def _k(res: Results) -> int:
    return min(k for k, f in zip(res.k, res.form) if f != "full")


def _mid_k(res: Results) -> int:
    """The k of the bucket-versus-renormalised comparison: 5 when it ran, else the smallest k above 1."""
    ks = sorted({k for k, f in zip(res.k, res.form) if f != "full"})
    return 5 if 5 in ks else next((k for k in ks if k > 1), ks[0])


def _ratio(res, budget, label):
    i = row_at(res, budget, label)
    return np.asarray(res.student_tail_mass[i], float) / np.asarray(res.teacher_tail_mass[i], float)


def _tail(res: Results) -> Interval:
    k = _k(res)

    def q(r, b):
        return _ratio(r, b, f"top-{k} + tail") - _ratio(r, b, f"top-{k} renormalised")

    def text(r, b):
        return (f"at k = {k}, {b}: students' mass outside the teacher's top k over the teacher's, with the tail bucket "
                f"{stats.cell(_ratio(r, b, f'top-{k} + tail'))} (X.8: 1 at convergence), renormalised "
                f"{stats.cell(_ratio(r, b, f'top-{k} renormalised'))} (X.9: 0), full distribution "
                f"{stats.cell(_ratio(r, b, FULL))} (outside the top {k}); bucket minus renormalised")

    return _judged(res, q, text, [f"top-{k} + tail", f"top-{k} renormalised"])


def _entropy(res, budget, label):
    return np.asarray(res.student_entropy[row_at(res, budget, label)], float)


def _narrows(res: Results) -> Interval:
    k = _k(res)

    def q(r, b):
        return _entropy(r, b, FULL) - _entropy(r, b, f"top-{k} renormalised")

    def text(r, b):
        i = row_at(r, b, FULL)
        return (f"answer entropy, {b}: full distribution {stats.cell(_entropy(r, b, FULL))}, top-{k} renormalised "
                f"{stats.cell(_entropy(r, b, f'top-{k} renormalised'))}, top-{k} + tail "
                f"{stats.cell(_entropy(r, b, f'top-{k} + tail'))}, teacher {stats.cell(r.teacher_entropy[i])} nats; "
                f"full minus renormalised")

    return _judged(res, q, text, [FULL, f"top-{k} renormalised"])


def _closer(res: Results) -> Interval:
    k = _mid_k(res)

    def q(r, b):
        full = _entropy(r, b, FULL)
        return np.abs(_entropy(r, b, f"top-{k} renormalised") - full) - np.abs(_entropy(r, b, f"top-{k} + tail") - full)

    def text(r, b):
        full = _entropy(r, b, FULL)
        return (f"at k = {k}, {b}: answer entropy minus the full-distribution students', tail bucket "
                f"{stats.cell(_entropy(r, b, f'top-{k} + tail') - full)}, renormalised "
                f"{stats.cell(_entropy(r, b, f'top-{k} renormalised') - full)} nats; |renormalised| − |bucket| "
                f"(file {fmt(r.bytes_per_token[row_at(r, b, f'top-{k} + tail')])} bytes per token against "
                f"{fmt(r.full_bytes_per_token)} for the full distribution)")

    return _judged(res, q, text, [FULL, f"top-{k} renormalised", f"top-{k} + tail"])


STEP = ("llm-topk-gpt2",)
CLAIMS: tuple[Claim, ...] = (
    Claim("llm-topk-tail-mass", "objectives", "Distilled from a top-k teacher with a tail bucket, students keep the "
          "teacher's mass outside its top k; renormalised, they lose it (X.8, X.9)",
          "at the smallest k, converged students (the equal-steps budget beside: a verdict that differs between them "
          "is inconclusive), per replicate: the students' mass outside the teacher's top k on their training positions "
          "over the teacher's, tail bucket minus renormalised: its 95% interval lies above 0", STEP, _tail),
    Claim("llm-topk-renormalised-narrows", "objectives", "Renormalising the teacher's top k narrows the students "
          "(X.9: their entropy tends to that of the renormalised head)",
          "at the smallest k, converged students (equal steps beside, as above), per replicate: answer entropy of "
          "full-distribution students minus renormalised top-k students: its 95% interval lies above 0", STEP,
          _narrows),
    Claim("llm-topk-bucket-closer", "objectives", "The tail bucket keeps the students' answer entropy closer to "
          "full-distribution distillation than renormalising does",
          "at k = 5 (else the smallest k above 1), converged students (equal steps beside, as above), per replicate: "
          "|renormalised − full| minus |tail bucket − full| answer entropy: its 95% interval lies above 0", STEP,
          _closer),
)
