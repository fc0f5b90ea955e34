"""The claims objectives judges: what the study says it shows, decided from its results."""

from __future__ import annotations

import numpy as np

from jaxkd.claims import Claim, Interval
from jaxkd.experiments.objectives.run import (
    EQUIVALENCE,
    EQUIVALENCE_FLOOR,
    Results,
    entropy_gap,
    t_interval,
)
from jaxkd.formatting import fmt


def _worst_cell(res: Results, rows) -> Interval:
    """The claim's interval from per-cell rows ``(where, estimate, low, high, seeds, text)`` of a
    quantity that is positive when the claim holds there: the worst cell's ``[min low, min high]``,
    so the claim is reproduced when every cell's interval is above 0 and not reproduced when some
    cell's lies wholly below."""
    rows = [r for key, cell in res.runs.items() for r in rows(key, cell) if np.isfinite(r[2])]
    if not rows:
        return Interval(np.nan, np.nan, np.nan, 0, "no cell with two finite seeds", precondition=False)
    worst = min(rows, key=lambda r: r[2])
    other = [f"{r[0]}: {r[5]}" for r in rows if r[3] < 0]
    listed = f" ({'; '.join(other[:3])}{'; ...' if len(other) > 3 else ''})" if other else ""
    text = (f"{sum(r[2] > 0 for r in rows)} of {len(rows)} intervals on the claimed side, {len(other)} wholly on "
            f"the other{listed}; lowest bound: {worst[0]}, {worst[5]}")
    return Interval(worst[1], min(r[2] for r in rows), min(r[3] for r in rows), worst[4], text)


def _forward_keeps(res: Results) -> Interval:
    """Equivalence: q = δ − |Δ| with Δ the student − teacher entropy; from Δ's interval [lo, hi],
    q's is [δ − max(|lo|, |hi|), δ − distance of [lo, hi] from 0]."""
    def rows(key, cell):
        gap = entropy_gap(cell, 1)
        est, lo, hi, count = t_interval(gap)
        delta = max(EQUIVALENCE * float(np.nanmean(cell.array("teacher_entropy_all"))), EQUIVALENCE_FLOOR)
        near = 0.0 if lo <= 0 <= hi else min(abs(lo), abs(hi))
        yield (key, delta - abs(est), delta - max(abs(lo), abs(hi)), delta - near, count,
               f"Δ entropy {fmt(est, 3)} nats, 95% interval [{fmt(lo, 3)}, {fmt(hi, 3)}] over {count} seeds, "
               f"margin ±{fmt(delta, 3)}")

    return _worst_cell(res, rows)


def _narrower(objective_index):
    def judge(res: Results) -> Interval:
        o = objective_index(res)

        def rows(key, cell):
            est, lo, hi, count = t_interval(-entropy_gap(cell, o))
            yield (key, est, lo, hi, count, f"teacher − student entropy {fmt(est, 3)} nats, 95% interval "
                   f"[{fmt(lo, 3)}, {fmt(hi, 3)}] over {count} seeds")

        return _worst_cell(res, rows)

    return judge


def _monotone(res: Results) -> Interval:
    labels = res.labels

    def rows(key, cell):
        h = cell.array("student_entropy_all")
        for o in range(1, len(labels) - 1):  # forward KL, JSD(β) in increasing β, reverse KL
            est, lo, hi, count = t_interval(h[o] - h[o + 1])
            yield (f"{key} {labels[o]} − {labels[o + 1]}", est, lo, hi, count,
                   f"entropy difference {fmt(est, 4)} nats, 95% interval [{fmt(lo, 4)}, {fmt(hi, 4)}] over {count} seeds")

    return _worst_cell(res, rows)


CLAIMS: tuple[Claim, ...] = (
    Claim("objectives-forward", "objectives", "Classifiers distilled with forward KL on the teacher's soft labels "
          "keep the teacher's predictive entropy (issue 23; theory X.4, X.5)",
          "in every dataset and model class the 95% interval over seeds of the student − teacher mean test entropy "
          "lies within ±max(25% of the teacher's mean entropy, 0.01 nats) (reproduced); some interval wholly "
          "outside it: not reproduced; else inconclusive", ("objectives-all",), _forward_keeps),
    Claim("objectives-hard", "objectives", "Hard labels (the teacher's argmax, one target per input) narrow the "
          "student's predictive entropy below the teacher's (issue 23; C.1)",
          "in every dataset and model class the 95% interval over seeds of teacher − student mean test entropy lies "
          "above 0 (reproduced); some interval wholly below 0: not reproduced; else inconclusive",
          ("objectives-all",), _narrower(lambda res: 0)),
    Claim("objectives-reverse", "objectives", "Reverse KL (mode-seeking) narrows the student's predictive entropy "
          "below the teacher's (issue 23)",
          "in every dataset and model class the 95% interval over seeds of teacher − student mean test entropy lies "
          "above 0 (reproduced); some interval wholly below 0: not reproduced; else inconclusive",
          ("objectives-all",), _narrower(lambda res: len(res.labels) - 1)),
    Claim("objectives-jsd", "objectives", "JSD(β) lies between forward and reverse KL, its student's entropy "
          "falling monotonically in β (issue 23; theory X.7)",
          "in every dataset and model class, the 95% interval over seeds of each consecutive difference of student "
          "entropy along forward KL, JSD(β) in increasing β, reverse KL lies above 0 (reproduced); some interval "
          "wholly below 0: not reproduced; else inconclusive", ("objectives-all",), _monotone),
)
