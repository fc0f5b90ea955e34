"""The claims output-entropy judges: what the study says it shows, decided from its results."""

from __future__ import annotations

import numpy as np
from scipy import stats

from jaxkd.claims import Claim, Interval, replicates_needed
from jaxkd.experiments.output_entropy.run import (
    GROUPS,
    MARGIN_FLOOR,
    MIN_EXAMPLES,
    MIN_REPLICATES,
    Results,
    is_judged,
    num,
)
from jaxkd.formatting import fmt


def margin_interval(r, g: str, replicates: int) -> tuple[float, float, float]:
    """The retraining margin ``max(1.96 rms, floor)`` with its own 95% interval: rms² is a mean of
    ``replicates`` squared teacher-to-teacher differences, read as σ² χ²_R / R (normal differences),
    so σ lies in ``rms · sqrt(R / χ²_R(0.975 | 0.025))``; each end floored like the margin."""
    rms = num(getattr(r, f"teacher_{g}_retrain_rms"))
    if not np.isfinite(rms):
        return np.nan, np.nan, np.nan
    f = lambda s: max(1.96 * s, MARGIN_FLOOR)  # noqa: E731
    lo = rms * np.sqrt(replicates / stats.chi2.ppf(0.975, replicates))
    hi = rms * np.sqrt(replicates / stats.chi2.ppf(0.025, replicates))
    return f(rms), f(lo), f(hi)


def _scored(r, g: str, level: float, replicates: int):
    """(share of the margin left, its low, its high, seeds needed at 80% power) for one group at
    the two-sided ``level``: the share ``(δ − |Δ|)/δ``, its low end from Δ's far end against the
    margin's low end, its high end from Δ's near end against the margin's high end (two one-sided
    tests with the margin's own uncertainty)."""
    d, lo, hi = (num(getattr(r, f"student_hard_{g}_{k}")) for k in ("delta", "delta_low", "delta_high"))
    n = int(num(getattr(r, f"student_hard_{g}_replicates")))
    se = (hi - lo) / 2 / stats.t.ppf(0.975, n - 1)      # the stored interval is the 95% one
    half = stats.t.ppf(0.5 + level / 2, n - 1) * se
    lo, hi = d - half, d + half
    m, m_lo, m_hi = margin_interval(r, g, replicates)
    far, near = max(abs(lo), abs(hi)), (0.0 if lo <= 0 <= hi else min(abs(lo), abs(hi)))
    distance = abs(m - abs(d))
    need = replicates_needed(se * np.sqrt(n), distance, stats.norm.ppf(0.5 + level / 2))
    return (m - abs(d)) / m, 1 - far / m_lo, 1 - near / m_hi, need


def _classifiers(res: Results) -> Interval:
    """Equivalence per dataset-model and group of the teacher's test examples: the share of the
    retraining margin left, (margin − |Δ|)/margin, two one-sided tests with the margin's own
    interval, every judged group at the Bonferroni level over all of them; the claim's interval
    is the least favourable group's (low: the smallest low; high: the smallest high)."""
    small, worse, disjoint, groups, judged = [], [], [], 0, []
    for name, r in res.runs.items():
        for g in GROUPS:
            share = num(getattr(r, f"student_hard_{g}_significant"))
            if np.isfinite(share):
                groups += 1
                if share > 0.5:
                    disjoint.append(f"{name}/{g}")
            if not np.isfinite(num(getattr(r, f"student_hard_{g}_delta"))):
                continue
            if not is_judged(r, g):
                small.append(f"{name}/{g} ({int(num(getattr(r, f'student_hard_{g}_examples')))} examples)")
                continue
            judged.append((name, r, g))
        slack = max(0.02, 1.0 / r.test_size)  # 2 points, or one test example on small sets
        if r.student_hard_accuracy_drop > slack + 1e-12:
            worse.append(f"{name} (by {fmt(100 * r.student_hard_accuracy_drop, 3)} points)")
    level = 1 - 0.05 / max(len(judged), 1)
    R = res.config.replicates
    scored = [(*_scored(r, g, level, R), f"{name}/{g}", r, g) for name, r, g in judged]
    text = (f"{R} replicates each; the study's rule: {groups - len(disjoint)} of {groups} groups "
            "overlap in most replicates" + (f" (disjoint: {', '.join(disjoint)})" if disjoint else ""))
    text += (f"; accuracy drops: {', '.join(worse)}" if worse
             else "; student accuracy within 2 points (or one test example) of the teacher's, on average")
    if small:
        text += f"; too few to judge (reported, not judged): {', '.join(small)}"
    if not scored:
        return Interval(np.nan, np.nan, np.nan, 0, text + "; no group large enough", precondition=False)
    est, low, _, _, where, r, g = min(scored, key=lambda q: q[1])
    high = min(q[2] for q in scored)
    m, m_lo, m_hi = margin_interval(r, g, R)
    text += (f"; each of {len(scored)} judged groups at the {100 * level:.3g}% level (Bonferroni); least favourable "
             f"group {where}: Δ entropy {fmt(getattr(r, f'student_hard_{g}_delta'), 3)} nats, 95% interval "
             f"[{fmt(getattr(r, f'student_hard_{g}_delta_low'), 3)}, "
             f"{fmt(getattr(r, f'student_hard_{g}_delta_high'), 3)}] against a retraining margin of "
             f"±{fmt(m, 3)} (its interval [{fmt(m_lo, 3)}, {fmt(m_hi, 3)}]); {sum(q[1] > 0 for q in scored)} of "
             f"{len(scored)} judged groups within the margin, {sum(q[2] < 0 for q in scored)} outside it")
    undecided = [q for q in scored if q[1] <= 0 <= q[2]]
    if undecided:
        need = max(q[3] for q in undecided)
        text += (f"; {len(undecided)} undecided, deciding them all needs about {fmt(need, 3)} replicates at 80% "
                 "power" if np.isfinite(need) else f"; {len(undecided)} undecided, some on the margin itself")
    return Interval(est, low, high, R, text, precondition=not worse, power_stated=True)


CLAIMS: tuple[Claim, ...] = (
    Claim("classifiers", "output", "Classifiers distilled on hard pseudo-labels keep the teacher's accuracy "
          "and predictive entropy", "over the replicates (independent teacher and student trainings), the "
          "student's accuracy is on average at most 2 points (or one test example) below the teacher's (else "
          "not reproduced); entropy kept: in every dataset, model class and group of the teacher's test "
          "examples (all / teacher correct / teacher incorrect) with at least "
          f"{MIN_EXAMPLES} examples per replicate over {MIN_REPLICATES} replicates (smaller groups are reported, "
          "not judged), the interval of the mean student-minus-teacher entropy, at the Bonferroni level over the "
          "judged groups, lies within the retraining margin (1.96 × the RMS difference between two independently "
          f"trained teachers, at least {MARGIN_FLOOR} nats; taken at the low end of its own 95% interval): "
          "reproduced; some interval wholly outside it (at the margin's high end): not reproduced; else "
          "inconclusive. The study's overlap rule is reported beside it",
          ("output-entropy-all",), _classifiers),
)
