"""The claims objectives judges: what theory X.4, X.5 and X.7 and the study's C.1 predict for
distilled classifiers, decided from its results.

Every claim is judged cell by cell (dataset and model class) and holds when it holds in every
cell. Multiplicity: a claim over c comparisons reads each at the Bonferroni level 1 − 0.05/c, so
the chance that any of them errs is at most 5%. Equivalence ("keeps", "equal") is two one-sided
tests against the margin δ = max(25% of the teacher's mean entropy, 0.01 nats), the margin taken
at the low end of its own interval to show equivalence and at the high end to refute it. The
theory's predictions hold at a stationary point: while the forward-KL students' X.5 remainder
exceeds :data:`STATIONARY_SHARE` of the margin in some cell, those claims are "inconclusive
(regime)". Every inconclusive cell states the seeds that would decide it at 80% power.
"""

from __future__ import annotations

from typing import Callable, Iterator, NamedTuple

import numpy as np
from scipy import stats

from jaxkd.claims import Claim, Interval, replicates_needed
from jaxkd.experiments.objectives.run import (
    EQUIVALENCE,
    EQUIVALENCE_FLOOR,
    Cell,
    Results,
    entropy_gap,
    t_interval,
)
from jaxkd.formatting import fmt

#: The forward-KL students count as stationary where their X.5 remainder (training-set entropy gap
#: minus residual KL, mean over seeds) is within this share of the cell's margin.
STATIONARY_SHARE = 0.1
FORWARD, HARD = 1, 0   # objective indices (Config.objectives: hard labels, forward KL, JSD(β)..., reverse KL)


class Row(NamedTuple):
    """One comparison of a claim: positive when the claim holds there; ``sd`` is the per-seed
    standard deviation behind the interval and ``distance`` how far the estimate lies from the
    boundary that would decide it (for the seeds needed at 80% power)."""

    where: str
    estimate: float
    low: float
    high: float
    seeds: int
    text: str
    sd: float
    distance: float


Rows = Callable[[str, Cell, float], Iterator[Row]]


def representable(key: str) -> bool:
    """Whether a cell's students can represent their teacher exactly: logistic students of a
    logistic teacher on the same inputs (X.4: every objective then reaches it). MLP students
    have half the teacher's hidden width."""
    return key.rsplit("-", 1)[1] == "logistic"


def margin(cell: Cell, level: float) -> tuple[float, float, float]:
    """The equivalence margin δ = max(25% of the teacher's mean entropy, 0.01 nats): (estimate,
    low, high), the ends from the teacher entropy's interval over seeds at ``level``."""
    est, lo, hi, _ = t_interval(cell.array("teacher_entropy_all"), level)
    f = lambda h: max(EQUIVALENCE * h, EQUIVALENCE_FLOOR) if np.isfinite(h) else EQUIVALENCE_FLOOR  # noqa: E731
    return f(est), f(lo), f(hi)


def positive(where: str, x, level: float, what: str) -> Row:
    """A comparison that holds when the mean of x (per seed) is above 0."""
    est, lo, hi, count = t_interval(x, level)
    sd = float(np.nanstd(np.asarray(x, float), ddof=1)) if count > 1 else np.nan
    return Row(where, est, lo, hi, count, f"{what} {fmt(est, 3)} nats, interval [{fmt(lo, 3)}, {fmt(hi, 3)}] over "
               f"{count} seeds", sd, abs(est))


def equivalent(where: str, x, delta: tuple[float, float, float], level: float, what: str) -> Row:
    """Two one-sided tests that the mean of x lies within ±δ: q = δ − |mean|, its interval
    ``[δ_low − max(|lo|, |hi|), δ_high − distance of [lo, hi] from 0]``."""
    est, lo, hi, count = t_interval(x, level)
    sd = float(np.nanstd(np.asarray(x, float), ddof=1)) if count > 1 else np.nan
    near = 0.0 if lo <= 0 <= hi else min(abs(lo), abs(hi))
    d, d_lo, d_hi = delta
    return Row(where, d - abs(est), d_lo - max(abs(lo), abs(hi)), d_hi - near, count,
               f"{what} {fmt(est, 3)} nats, interval [{fmt(lo, 3)}, {fmt(hi, 3)}] over {count} seeds, margin "
               f"±{fmt(d, 3)} [{fmt(d_lo, 3)}, {fmt(d_hi, 3)}]", sd, abs(d - abs(est)))


def x5_remainder(cell: Cell, objective: int = FORWARD) -> np.ndarray:
    """Per seed: the training-set entropy gap minus the residual KL (X.5's remainder, 0 at a
    stationary point of forward KL)."""
    return cell.array("student_train_entropy_gap")[objective] - cell.array("student_train_kl")[objective]


def stationarity_gate(res: Results, remainder: bool = True) -> str | None:
    """What fails when the students are not stationary (None when they are): trained a fixed
    budget rather than to stationarity, or (``remainder``) some cell's forward-KL students
    have an X.5 remainder above :data:`STATIONARY_SHARE` of its margin."""
    if res.config.stopping_tol is None:
        return (f"the students trained a fixed {res.config.student_epochs} epochs, not to stationarity (the "
                "theory's premise)")
    if not remainder:
        return None
    bad = []
    for key, cell in res.runs.items():
        r, tau = float(np.nanmean(x5_remainder(cell))), STATIONARY_SHARE * margin(cell, 0.95)[0]
        if not abs(r) <= tau:
            bad.append(f"{key} {fmt(r, 3)} against {fmt(tau, 3)}")
    if not bad:
        return None
    return (f"students not stationary: the forward-KL X.5 remainder exceeds {STATIONARY_SHARE:.0%} of the margin "
            f"({'; '.join(bad[:3])}{'; ...' if len(bad) > 3 else ''})")


def judged(res: Results, rows: Rows, gate: str | None = "stationary") -> Interval:
    """The claim's interval from its comparisons (each positive when the claim holds there), read
    at the Bonferroni level over all of them: the worst comparison's ``[min low, min high]``, so
    the claim is reproduced when every interval is above 0 and not reproduced when some interval
    lies wholly below. Inconclusive comparisons state the seeds that would decide them. ``gate``:
    "stationary" (the claim needs stationary students: trained to stationarity, X.5 remainder
    small), "trained" (trained to stationarity; X.5's own claim), or None."""
    count = sum(1 for key, cell in res.runs.items() for _ in rows(key, cell, 0.95))
    level = 1 - 0.05 / max(count, 1)
    found = [r for key, cell in res.runs.items() for r in rows(key, cell, level) if np.isfinite(r.low)]
    if not found:
        return Interval(np.nan, np.nan, np.nan, 0, "no cell with two finite seeds", precondition=False)
    worst = min(found, key=lambda r: r.low)
    other = [f"{r.where}: {r.text}" for r in found if r.high < 0]
    open_ = [r for r in found if r.low <= 0 <= r.high]
    listed = f" ({'; '.join(other[:3])}{'; ...' if len(other) > 3 else ''})" if other else ""
    text = (f"{sum(r.low > 0 for r in found)} of {len(found)} comparisons on the claimed side, {len(other)} wholly on "
            f"the other{listed}, each at the {100 * level:.3g}% level (Bonferroni over {len(found)}); lowest bound: "
            f"{worst.where}, {worst.text}")
    if open_:
        need = max(replicates_needed(r.sd, r.distance, stats.norm.ppf(0.5 + level / 2)) for r in open_)
        text += (f"; {len(open_)} undecided, the hardest needs about {fmt(need, 3)} seeds at 80% power"
                 if np.isfinite(need) else f"; {len(open_)} undecided, some at an estimate on its boundary")
    return Interval(worst.estimate, min(r.low for r in found), min(r.high for r in found), worst.seeds, text,
                    gate=None if gate is None else stationarity_gate(res, gate == "stationary"), power_stated=True)


def _forward_keeps(res: Results) -> Interval:
    def rows(key, cell, level):
        yield equivalent(key, entropy_gap(cell, FORWARD), margin(cell, level), level, "test-set Δ entropy")

    return judged(res, rows)


def _x5(res: Results) -> Interval:
    """X.5 on the trained students: the remainder within ±(10% of the margin) in every cell."""
    def rows(key, cell, level):
        d, d_lo, d_hi = margin(cell, level)
        kl = t_interval(cell.array("student_train_kl")[FORWARD])[0]
        share = STATIONARY_SHARE
        yield equivalent(key, x5_remainder(cell), (share * d, share * d_lo, share * d_hi), level,
                         f"training-set entropy gap − residual KL (KL {fmt(kl, 3)} nats):")

    return judged(res, rows, gate="trained")


def _hard_narrows(res: Results) -> Interval:
    def rows(key, cell, level):
        yield positive(key, -entropy_gap(cell, HARD), level, "teacher − student entropy")

    return judged(res, rows, gate=None)


def _reverse(res: Results) -> Interval:
    """Reverse KL against forward KL, the same seeds: narrower where the student is restricted,
    equal where it can represent its teacher (X.4)."""
    def rows(key, cell, level):
        h = cell.array("student_entropy_all")
        diff = h[FORWARD] - h[len(res.labels) - 1]
        if representable(key):
            yield equivalent(key, diff, margin(cell, level), level, "forward − reverse KL entropy (X.4: equal)")
        else:
            yield positive(key, diff, level, "forward − reverse KL entropy")

    return judged(res, rows)


def _jsd(res: Results) -> Interval:
    """Consecutive differences along forward KL, JSD(β) in increasing β, reverse KL: positive where
    the student is restricted (X.7: mode seeking grows with β), within the margin where it can
    represent its teacher (X.4: every objective reaches it)."""
    labels = res.labels

    def rows(key, cell, level):
        h = cell.array("student_entropy_all")
        for o in range(FORWARD, len(labels) - 1):
            where = f"{key} {labels[o]} − {labels[o + 1]}"
            if representable(key):
                yield equivalent(where, h[o] - h[o + 1], margin(cell, level), level, "entropy difference (X.4: 0)")
            else:
                yield positive(where, h[o] - h[o + 1], level, "entropy difference")

    return judged(res, rows)


_NOTE = ("; each comparison at the Bonferroni level 1 − 0.05/(comparisons); inconclusive (regime) for students "
         "trained a fixed budget, or while the forward-KL students' X.5 remainder exceeds 10% of the margin in "
         "some cell (not stationary)")

CLAIMS: tuple[Claim, ...] = (
    Claim("objectives-x5", "objectives", "At a stationary point of forward KL the student is wider than its teacher "
          "on the training inputs by exactly its residual KL (theory X.5)",
          "in every dataset and model class, the forward-KL students' training-set entropy gap minus their mean "
          "KL(p‖q), per seed, lies within ±10% of the margin max(25% of the teacher's mean entropy, 0.01 nats) "
          "(two one-sided tests, Bonferroni over cells): reproduced; wholly outside it somewhere: not reproduced; "
          "else inconclusive; inconclusive (regime) for students trained a fixed budget, not to stationarity",
          ("objectives-all",), _x5),
    Claim("objectives-forward", "objectives", "Classifiers distilled with forward KL on the teacher's soft labels "
          "keep the teacher's predictive entropy on held-out inputs (issue 23; theory X.4, X.5)",
          "in every dataset and model class the student − teacher mean test entropy, per seed, lies within "
          "±max(25% of the teacher's mean entropy, 0.01 nats) (two one-sided tests): reproduced; wholly outside "
          "it somewhere: not reproduced; else inconclusive" + _NOTE, ("objectives-all",), _forward_keeps),
    Claim("objectives-hard", "objectives", "Hard labels (the teacher's argmax, one target per input) narrow the "
          "student's predictive entropy below the teacher's (issue 23; C.1)",
          "in every dataset and model class the teacher − student mean test entropy, per seed, is above 0 "
          "(reproduced); wholly below 0 somewhere: not reproduced; else inconclusive; Bonferroni over cells; the "
          "hard-label students train the study's fixed budget (hard labels on separable data have no stationary "
          "point)",
          ("objectives-all",), _hard_narrows),
    Claim("objectives-reverse", "objectives", "Reverse KL narrows the student's predictive entropy below forward "
          "KL's where the student cannot represent its teacher, and equals it where it can (issue 23; theory X.4)",
          "per dataset, the forward − reverse KL students' mean test entropy (same seeds): above 0 for MLP "
          "students (half the teacher's width); within ±the margin for logistic students of logistic teachers "
          "(X.4: both reach the teacher); reproduced when every comparison holds, not reproduced when one is "
          "wholly on the other side, else inconclusive" + _NOTE, ("objectives-all",), _reverse),
    Claim("objectives-jsd", "objectives", "JSD(β) lies between forward and reverse KL: its student's entropy falls "
          "monotonically in β where the student cannot represent its teacher, and stays equal where it can "
          "(issue 23; theory X.4, X.7)",
          "each consecutive difference of mean test entropy along forward KL, JSD(β) in increasing β, reverse KL "
          "(same seeds): above 0 for MLP students, within ±the margin for logistic students; reproduced when "
          "every comparison holds, not reproduced when one is wholly on the other side, else inconclusive" + _NOTE,
          ("objectives-all",), _jsd),
)
