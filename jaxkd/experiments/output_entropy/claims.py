"""The claims output-entropy judges: what the study says it shows, decided from its results."""

from __future__ import annotations

import numpy as np

from jaxkd.claims import Claim, Interval
from jaxkd.experiments.output_entropy.run import (
    GROUPS,
    MARGIN_FLOOR,
    MIN_EXAMPLES,
    MIN_REPLICATES,
    Results,
    group_score,
    is_judged,
    num,
)
from jaxkd.formatting import fmt


def _classifiers(res: Results) -> Interval:
    """Equivalence per dataset-model and group of the teacher's test examples: the share of the
    retraining margin left, (margin − |Δ|)/margin with its interval from Δ's; the claim's
    interval is the least favourable group's (low: the smallest low; high: the smallest high)."""
    scored, small, worse, disjoint, groups = [], [], [], [], 0
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
            scored.append((*group_score(r, g), f"{name}/{g}", r, g))
        slack = max(0.02, 1.0 / r.test_size)  # 2 points, or one test example on small sets
        if r.student_hard_accuracy_drop > slack + 1e-12:
            worse.append(f"{name} (by {fmt(100 * r.student_hard_accuracy_drop, 3)} points)")
    text = (f"{res.config.replicates} replicates each; the study's rule: {groups - len(disjoint)} of {groups} groups "
            "overlap in most replicates" + (f" (disjoint: {', '.join(disjoint)})" if disjoint else ""))
    text += (f"; accuracy drops: {', '.join(worse)}" if worse
             else "; student accuracy within 2 points (or one test example) of the teacher's, on average")
    if small:
        text += f"; too few to judge: {', '.join(small)}"
    if not scored:
        return Interval(np.nan, np.nan, np.nan, 0, text + "; no group large enough", precondition=False)
    est, low, _, where, r, g = min(scored, key=lambda q: q[1])
    high = min(q[2] for q in scored)
    text += (f"; least favourable group {where}: Δ entropy {fmt(getattr(r, f'student_hard_{g}_delta'), 3)} nats, "
             f"95% interval [{fmt(getattr(r, f'student_hard_{g}_delta_low'), 3)}, "
             f"{fmt(getattr(r, f'student_hard_{g}_delta_high'), 3)}] against a retraining margin of "
             f"±{fmt(getattr(r, f'teacher_{g}_margin'), 3)}; {sum(q[1] > 0 for q in scored)} of {len(scored)} judged "
             f"groups within the margin, {sum(q[2] < 0 for q in scored)} outside it")
    return Interval(est, low, high, res.config.replicates, text, precondition=not worse)


CLAIMS: tuple[Claim, ...] = (
    Claim("classifiers", "output", "Classifiers distilled on hard pseudo-labels keep the teacher's accuracy "
          "and predictive entropy", "over the replicates (independent teacher and student trainings), the "
          "student's accuracy is on average at most 2 points (or one test example) below the teacher's (else "
          "not reproduced); entropy kept: in every dataset, model class and group of the teacher's test "
          "examples (all / teacher correct / teacher incorrect) with at least "
          f"{MIN_EXAMPLES} examples over {MIN_REPLICATES} replicates, the 95% interval of the mean "
          "student-minus-teacher entropy lies within the retraining margin (1.96 × the RMS difference between "
          f"two independently trained teachers, at least {MARGIN_FLOOR} nats): reproduced; some interval wholly "
          "outside it: not reproduced; else inconclusive. The study's overlap rule is reported beside it",
          ("output-entropy-all",), _classifiers),
)
