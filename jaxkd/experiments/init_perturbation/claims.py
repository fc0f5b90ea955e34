"""The claims init-perturbation judges: what the study says it shows, decided from its results."""

from __future__ import annotations

import numpy as np

from scipy import stats

from jaxkd import uncertainty
from jaxkd.claims import Claim, Interval, replicates_to_decide
from jaxkd.experiments.init_perturbation.run import (
    MEAN_MARGIN,
    VARIANCE_MARGIN,
    Results,
)
from jaxkd.formatting import fmt

def _equivalence(estimate: float, se: float, margin: float, z: float) -> tuple[float, float, float]:
    """(margin - |estimate|) / margin and its interval (``z`` standard errors): 1 when nothing
    moved, 0 at the margin, negative beyond it."""
    lo, hi = estimate - z * se, estimate + z * se
    far, near = max(abs(lo), abs(hi)), (0.0 if lo <= 0 <= hi else min(abs(lo), abs(hi)))
    return (margin - abs(estimate)) / margin, (margin - far) / margin, (margin - near) / margin


def _mlp_init(res: Results) -> Interval:
    s = np.asarray(res.scale, float)
    small = [i for i in np.flatnonzero((s > 0) & (s <= 0.05))]
    if s[0] != 0 or not small:
        return Interval(np.nan, np.nan, np.nan, 0, "needs s = 0 and a scale in (0, 0.05]", precondition=False)
    if not res.config.fresh_init:
        return Interval(np.nan, np.nan, np.nan, 0, "needs fresh inits (the study's protocol): with one shared "
                        "init the unperturbed students are identical", precondition=False)
    base = np.asarray(res.mse_truth_per_student[0], float)
    m0 = float(base.mean())
    parts, scored = [], []
    z = float(stats.norm.ppf(1 - 0.025 / (2 * len(small))))  # Bonferroni over every (scale, mean | variance)
    for i in small:
        mse = np.asarray(res.mse_truth_per_student[i], float)
        d = (mse - base) / m0  # paired: the same students with and without the perturbation
        d_se = float(d.std(ddof=1) / np.sqrt(d.size))
        L, L_se = (float(x) for x in uncertainty.log_variance_ratio(mse, base))
        scored += [(*_equivalence(float(d.mean()), d_se, MEAN_MARGIN, z), "mean", s[i]),
                   (*_equivalence(L, L_se, VARIANCE_MARGIN, z), "variance", s[i])]
        parts.append(f"s = {fmt(s[i])}: mean test MSE {100 * d.mean():+.2f}% ± {100 * 1.96 * d_se:.2f}%, its "
                     f"variance ×{np.exp(L):.3f} (log ratio {L:+.3f} ± {1.96 * L_se:.3f})")
    est, low, _, what, at = min(scored, key=lambda q: q[1])
    high = min(q[2] for q in scored)
    power = ""
    if low <= 0.0 <= high:
        power = "; " + replicates_to_decide(est, (est - low) / z, res.num_students, z, "students")
    return Interval(est, low, high, res.num_students, (
        f"fresh inits, {res.num_students} students paired across s; unperturbed mean test MSE {fmt(m0)}, "
        f"variance {fmt(float(base.var(ddof=1)))}; " + "; ".join(parts) +
        f"; each of the {2 * len(small)} changes at the {100 * (1 - 0.05 / (2 * len(small))):.3g}% level "
        f"(Bonferroni); closest to its margin: the {what} at s = {fmt(at)}, share of the margin left "
        f"{fmt(est, 3)}, interval [{fmt(low, 3)}, {fmt(high, 3)}]" + power), power_stated=True)


CLAIMS: tuple[Claim, ...] = (
    Claim("mlp-init", "init", "Small MLPs under a deterministic teacher are insensitive to small "
          "multiplicative init perturbations", "with fresh inits (the study's protocol), the same students "
          "compared with and without the perturbation at each 0 < s ≤ 0.05: the mean test MSE moves by less "
          "than 1% and the variance of the test MSE across students by less than 10% (the study's metric). "
          "Each is scored as the share of its margin left, (margin − |change|)/margin, with an interval from "
          "the paired differences (delta method for the variance ratio) at the Bonferroni level over every "
          "(scale, mean or variance) change; reproduced when every interval "
          "is above 0, not reproduced when some interval is below 0, inconclusive otherwise",
          ("init-perturbation-mlp",), _mlp_init),
)
