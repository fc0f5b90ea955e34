"""The claims teacher-noise judges: what the study says it shows, decided from its results."""

from __future__ import annotations

import numpy as np
from scipy import stats

from jaxkd.claims import Claim, Interval, curvature, trend
from jaxkd.experiments.teacher_noise.run import Results
from jaxkd.formatting import fmt


def _mlp_noise(res: Results) -> Interval:
    """Super-linear growth of V and of the mean test MSE, each against 0: for OLS students (any
    linear smoother) both are exactly linear in sigma^2 (4.1, 4.3), so a curvature above 0 is
    the students' own non-linearity. The 97.5% interval of each (two at once: 95% jointly);
    the claim's interval is the smaller of the two."""
    a = np.asarray(res.alpha, float)
    V, mse = np.asarray(res.inter_student_variance), np.asarray(res.mse_truth)
    n = res.num_students
    grows = trend(a, V) > 0.9 and trend(a, mse) > 0.9
    z = float(stats.norm.ppf(1 - 0.025 / 2))
    kv, kv_se = curvature(a, V, res.inter_student_variance_se)
    km, km_se = curvature(a, mse, np.asarray(res.mse_truth_std) / np.sqrt(n))
    lin = res.linear
    kv_ols, kv_ols_se = curvature(a, lin.inter_student_variance, lin.inter_student_variance_se)
    km_ols, km_ols_se = curvature(a, lin.mse_truth, np.asarray(lin.mse_truth_std) / np.sqrt(lin.num_students))
    kx, kx_se = curvature(a, res.mse_truth_variance, res.mse_truth_variance_se)
    kx1, _ = curvature(a, lin.predicted_mse_truth_variance, np.ones_like(a))  # X.1, exact
    lo, hi = min(kv - z * kv_se, km - z * km_se), min(kv + z * kv_se, km + z * km_se)
    return Interval(min(kv, km), lo, hi, n, (
        f"V {fmt(V[0])} → {fmt(V[-1])} and test MSE vs truth {fmt(mse[0])} → {fmt(mse[-1])} over α "
        f"(rank correlations {fmt(trend(a, V), 2)}, {fmt(trend(a, mse), 2)}); curvature (share of the rise "
        f"from the quadratic term, all {a.size} levels): V {fmt(kv, 3)}, 97.5% interval [{fmt(kv - z * kv_se, 3)}, "
        f"{fmt(kv + z * kv_se, 3)}]; test MSE {fmt(km, 3)}, [{fmt(km - z * km_se, 3)}, {fmt(km + z * km_se, 3)}]; "
        f"the exact control for both is 0 (4.1, 4.3: linear in σ² for any linear smoother; the OLS students "
        f"beside them measure {fmt(kv_ols, 2)} ± {fmt(kv_ols_se, 2)} and {fmt(km_ols, 2)} ± {fmt(km_ols_se, 2)}). "
        f"The study's 'variance' (variance of the test MSE) bends by {fmt(kx, 3)} ± {fmt(kx_se, 2)}, against "
        f"{fmt(kx1, 3)} for OLS students by X.1 (quadratic in σ²: not evidence of a non-linear effect)"),
        precondition=grows)


CLAIMS: tuple[Claim, ...] = (
    Claim("mlp-noise", "teacher", "MLP students: inter-student variance and test MSE grow with teacher noise, "
          "super-linearly", "V and the mean test MSE rank-correlate with α above 0.9 (else not reproduced); "
          "super-linear: the curvature of each over all noise levels (weighted quadratic fit: the share of "
          "the rise the quadratic term accounts for) is above the exact control 0 (4.1 and 4.3: both are "
          "linear in σ² for OLS and any linear smoother). Reproduced when both 97.5% intervals (95% jointly) "
          "are above 0, not reproduced when one is below 0, inconclusive otherwise",
          ("teacher-noise-mlp",), _mlp_noise),
)

