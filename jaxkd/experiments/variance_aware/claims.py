"""The claims variance-aware judges: what the study says it shows, decided from its results."""

from __future__ import annotations

import numpy as np

from jaxkd.claims import Claim, Interval, trend
from jaxkd.experiments.variance_aware.run import Results
from jaxkd.formatting import fmt


def _mlp_averaging(res: Results) -> Interval:
    a, k = np.asarray(res.alpha, float), np.asarray(res.k)
    V, se = np.asarray(res.average_variance), np.asarray(res.average_variance_se)
    parts, trend_ok, worst = [], True, None
    for alpha in np.unique(a):
        idx = np.flatnonzero(a == alpha)
        idx = idx[np.argsort(k[idx])]
        trend_ok &= bool(trend(k[idx], V[idx]) < 0)
        # log(V at the smallest k / V at the largest k) > 0: averaging lowered the spread.
        q = np.log(V[idx[0]] / V[idx[-1]])
        q_se = float(np.hypot(se[idx[0]] / V[idx[0]], se[idx[-1]] / V[idx[-1]]))
        if worst is None or q - 1.96 * q_se < worst[0] - 1.96 * worst[1]:
            worst = (q, q_se, alpha)
        parts.append(f"α = {fmt(alpha)}: {fmt(V[idx[0]])} (k = {k[idx[0]]}) → {fmt(V[idx[-1]])} (k = {k[idx[-1]]})")
    q, q_se, alpha = worst
    lo, hi = q - 1.96 * q_se, q + 1.96 * q_se
    return Interval(float(q), float(lo), float(hi), res.num_students, (
        "averaged-target MLP students' V: " + "; ".join(parts) + f"; weakest α = {fmt(alpha)}: log ratio "
        f"{fmt(q, 3)}, 95% interval [{fmt(lo, 3)}, {fmt(hi, 3)}]"), precondition=trend_ok)


#: Figure 11 is decided where teacher noise is a real share of the students' spread: the α the
#: study's script singles out for its figure (at α = 0.01 the effect vanishes by construction).
FIGURE_11_ALPHA = 0.5


def _mlp_stability(res: Results) -> Interval:
    """Figure 11's "variance weighting is the most stable": per α, the mean over k >= 2 of the
    paired log ratio of the spreads of the test MSE (averaging over the study's variance
    weighting; the k are independent draws, so their SEs add in quadrature); the α on the grid
    nearest :data:`FIGURE_11_ALPHA` decides, every α is reported. At k = 1 the two methods
    coincide (the study's weights give the average)."""
    a, k = np.asarray(res.alpha, float), np.asarray(res.k)
    L, se = np.asarray(res.stability_log_ratio, float), np.asarray(res.stability_log_ratio_se, float)
    parts, per_alpha = [], {}
    for alpha in np.unique(a):
        idx = np.flatnonzero((a == alpha) & (k >= 2))
        if not idx.size:
            continue
        q, q_se = float(L[idx].mean()), float(np.sqrt(np.sum(se[idx] ** 2)) / idx.size)
        above = int(np.sum(L[idx] - 1.96 * se[idx] > 0))
        parts.append(f"α = {fmt(alpha)}: mean log ratio {fmt(q, 3)} ± {fmt(1.96 * q_se, 2)} over {idx.size} k "
                     f"(std of test MSE ×{np.exp(-q / 2):.3f} with variance weighting; {above} of {idx.size} k "
                     "individually above 0)")
        per_alpha[float(alpha)] = (q, q_se)
    if not per_alpha:
        return Interval(np.nan, np.nan, np.nan, 0, "needs k >= 2 (at k = 1 the two methods coincide)",
                        precondition=False)
    alpha = min(per_alpha, key=lambda x: (abs(x - FIGURE_11_ALPHA), x))
    q, q_se = per_alpha[alpha]
    lo, hi = q - 1.96 * q_se, q + 1.96 * q_se
    where = ("the study's α" if alpha == FIGURE_11_ALPHA else
             f"the grid's α nearest the study's {FIGURE_11_ALPHA:g} (not on this grid)")
    return Interval(q, lo, hi, res.num_students, (
        "log(Var of the test MSE with averaging / with the study's variance weighting), the same students and "
        "responses behind both: " + "; ".join(parts) + f"; deciding: α = {fmt(alpha)}, {where}: 95% interval "
        f"[{fmt(lo, 3)}, {fmt(hi, 3)}]"))


CLAIMS: tuple[Claim, ...] = (
    Claim("mlp-averaging", "variance-aware", "Averaging k teacher responses lowers MLP students' "
          "inter-student variance (7.1 beyond the linear case)", "at each α V rank-correlates negatively "
          "with k (else not reproduced); at the weakest α the 95% interval of log(V at the smallest k / V at "
          "the largest k) above 0 (reproduced), below 0 (not reproduced), else inconclusive",
          ("variance-aware-mlp",), _mlp_averaging),
    Claim("mlp-vw-stable", "variance-aware", "Variance weighting gives more stable MLP students than averaging: "
          "a smaller spread of test MSE (Figure 11)", "the study's metric, paired: per α and k >= 2, "
          "log(Var across students of the test MSE with averaging / with the study's variance weighting) from "
          "the same responses and inits (delta-method SE); its mean over k at α = 0.5, the α the study's script draws Figure 11 at "
          "(at weak α teacher noise is a vanishing share of the spread, so the effect vanishes by construction; "
          "every α reported): 95% interval above 0 reproduced, below 0 not reproduced, else inconclusive",
          ("variance-aware-mlp",), _mlp_stability),
)
