"""The claims bootstrap judges: what the study says it shows, decided from its results."""

from __future__ import annotations

import numpy as np

from jaxkd.claims import Claim, Interval
from jaxkd.experiments.bootstrap.run import Results
from jaxkd.formatting import fmt


def _bootstrap(res: Results) -> Interval:
    b = np.asarray(res.b)
    t, g = np.asarray(res.teacher_variance), np.asarray(res.truth_variance)
    t_se, g_se = np.asarray(res.teacher_variance_se), np.asarray(res.truth_variance_se)
    nonzero = bool(t[0] > 3 * t_se[0])
    shrink = bool(t[-1] < t[0] and g[-1] < g[0])
    # Deciding quantity: log(ground-truth V / teacher-labelled V) at the smallest b (> 0: smaller).
    ratio = np.log(g[0] / t[0]) if t[0] > 0 else np.inf
    se = float(np.hypot(g_se[0] / g[0], t_se[0] / t[0])) if t[0] > 0 else 0.0
    lo, hi = ratio - 1.96 * se, ratio + 1.96 * se
    return Interval(float(ratio), float(lo), float(hi), res.num_students, (
        f"b = {b[0]}: teacher-labelled {fmt(t[0])} ± {fmt(t_se[0])} vs ground truth {fmt(g[0])} ± {fmt(g_se[0])}, "
        f"log ratio {fmt(ratio, 3)}, 95% interval [{fmt(lo, 3)}, {fmt(hi, 3)}]; b = {b[-1]}: {fmt(t[-1])} vs "
        f"{fmt(g[-1])}"), precondition=nonzero and shrink)


CLAIMS: tuple[Claim, ...] = (
    Claim("bootstrap", "init", "Teacher-labelled bootstrap gives non-zero but smaller variance than "
          "ground-truth bootstrap for MLP students at small b; both shrink as b grows",
          "teacher-labelled V > 3 SE at the smallest b and both V lower at the largest b (else not "
          "reproduced); smaller: 95% interval of log(ground-truth V / teacher-labelled V) at the smallest b "
          "above 0 (reproduced), below 0 (not reproduced), else inconclusive",
          ("bootstrap-mlp",), _bootstrap),
)
