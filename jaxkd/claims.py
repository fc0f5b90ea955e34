"""Claims and verdicts: what the study says an experiment shows, and how jaxkd judges it.

A :class:`Claim` names the study steps whose results it reads (``needs``) and a ``judge``
that returns a :class:`Finding`: reproduced, not reproduced, or inconclusive when the 95%
interval of the deciding quantity allows both (:class:`Interval`). Each experiment module
holds its own ``CLAIMS``; :mod:`jaxkd.study` lists them all.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
from scipy import stats

@dataclasses.dataclass(frozen=True)
class Finding:
    """A claim's verdict. Judged from an interval (``interval`` set): reproduced when the 95%
    interval of the deciding quantity lies on the claimed side of zero, not reproduced when it
    lies on the other side, inconclusive when it allows both; ``replicates`` says how many
    independent runs stand behind it."""

    claim: str
    reproduced: bool | None        # None: not run, or inconclusive
    evidence: str
    interval: tuple[float, float] | None = None
    replicates: int | None = None
    inconclusive: bool = False
    reason: str | None = None      # why a verdict is inconclusive whatever its interval ("regime", "budget")
    fits: tuple["FitVerdict", ...] = ()  # the claim judged at each fit (the deciding one first); () when one fit

    @property
    def status(self) -> str:
        if self.inconclusive:
            return f"inconclusive ({self.reason})" if self.reason else "inconclusive"
        return {True: "reproduced", False: "not reproduced", None: "not run"}[self.reproduced]

@dataclasses.dataclass(frozen=True)
class FitVerdict:
    """A claim judged at one training budget: the fit in words (``fit``: "deciding: 200 epochs",
    "2x: 400 epochs"), the verdict there, its interval and the evidence."""

    fit: str
    status: str
    interval: tuple[float, float] | None
    evidence: str
    level: float | None = None  # along a fit ladder: the share of the run trained (1 where it ended)

    def to_json(self) -> dict:
        return {"fit": self.fit, "status": self.status,
                "interval": None if self.interval is None else list(self.interval), "evidence": self.evidence,
                "level": self.level}


def across_fits(deciding: Finding, fit: str, others: list[tuple[str, Finding]],
                ladder: list[tuple[str, Finding]] | None = None) -> Finding:
    """``deciding`` (the claim at the fit its premise needs, described by ``fit``) re-judged at
    ``others`` (label, finding) fits: when the fits disagree between reproduced and not
    reproduced the verdict is "inconclusive (budget)", else the deciding verdict stands; every
    fit's verdict is kept in ``fits``. ``ladder``, every fit (label, finding) from the least to
    the most trained, says where along it each verdict holds ("reproduced from … to …, not
    reproduced at …", :func:`holds_along`) when they differ."""
    if not others:
        return deciding
    fits = (FitVerdict(f"deciding: {fit}", deciding.status, deciding.interval, deciding.evidence),
            *(FitVerdict(label, f.status, f.interval, f.evidence) for label, f in others))
    decided = {f.reproduced for f in (deciding, *(f for _, f in others)) if not f.inconclusive}
    said = "; ".join(f"{v.fit}: {v.status}" + ("" if v.interval is None else
                     f" [{v.interval[0]:.4g}, {v.interval[1]:.4g}]") for v in fits)
    if {True, False} <= decided:
        where = "" if ladder is None else f"; {holds_along(ladder)}"
        return dataclasses.replace(deciding, reproduced=None, inconclusive=True, reason="budget", fits=fits,
                                   evidence=f"the training budget decides it ({said}{where}); at the deciding fit: "
                                            f"{deciding.evidence}")
    return dataclasses.replace(deciding, fits=fits, evidence=f"{deciding.evidence}; re-judged at every fit: {said}")


def holds_along(ladder: list[tuple[str, Finding]]) -> str:
    """Where along a fit ladder (label, finding), least trained first, each decided verdict
    holds: "reproduced at epoch 20 of 60 … epoch 40 of 60, not reproduced at 60 epochs"
    (inconclusive fits named apart)."""
    runs: list[list] = []
    for label, f in ladder:
        if runs and runs[-1][0] == f.status:
            runs[-1][2] = label
        else:
            runs.append([f.status, label, label])
    return "along the fit ladder: " + ", ".join(
        f"{status} at {lo}" if lo == hi else f"{status} from {lo} to {hi}" for status, lo, hi in runs)


@dataclasses.dataclass(frozen=True)
class Interval:
    """What an interval-judged claim returns: the deciding quantity's estimate, its 95%
    interval (the claim holds when the quantity is positive), how many independent replicates
    (students, or paired test examples) the interval rests on, and the evidence text. A
    ``precondition`` that fails makes the claim not reproduced whatever the interval says; a ``gate``
    (what failed) makes it "inconclusive (regime)": the set-up could not have shown the effect."""

    estimate: float
    low: float
    high: float
    replicates: int | None
    evidence: str
    precondition: bool = True
    gate: str | None = None   # set (to what failed) when the set-up cannot decide the claim at all
    power_stated: bool = False  # the evidence already says what would decide an inconclusive verdict

    def finding(self, claim: str) -> Finding:
        if self.gate:  # the experiment's regime cannot show the effect: no verdict either way
            return Finding(claim, None, f"{self.gate}; {self.evidence}", (self.low, self.high), self.replicates,
                           True, "regime")
        inconclusive = self.precondition and self.low <= 0.0 <= self.high
        reproduced = None if inconclusive else bool(self.precondition and self.low > 0.0)
        evidence = self.evidence
        if inconclusive and not self.power_stated and self.replicates:
            # The interval's half-width as 1.96 standard errors (an approximation where the
            # claim's interval is the worst of several).
            evidence += "; " + replicates_to_decide(self.estimate, (self.high - self.low) / 2 / 1.96, self.replicates)
        return Finding(claim, reproduced, evidence, (self.low, self.high), self.replicates, inconclusive)


def replicates_needed(sd: float, distance: float, z: float = 1.96) -> float:
    """Replicates at which an interval of ``z`` standard errors around an estimate that lies
    ``distance`` from its deciding boundary excludes that boundary with 80% power, each replicate
    contributing spread ``sd`` (the standard error ``sd / sqrt(n)``): ``((z + 0.84) sd /
    distance)^2``, rounded up; inf where the estimate sits on the boundary."""
    if not (np.isfinite(sd) and np.isfinite(distance)) or distance <= 0:
        return np.inf
    return float(np.ceil(((z + stats.norm.ppf(0.8)) * sd / distance) ** 2))


def replicates_to_decide(est: float, se: float, n: int, z: float = 1.96, what: str = "replicates") -> str:
    """How many replicates would put a deciding interval (``z`` standard errors each side) wholly
    on one side of 0 with 80% power, were the estimate ``est`` as measured with standard error
    ``se`` at ``n`` replicates (:func:`replicates_needed` with ``sd = se sqrt(n)``), in words."""
    if not (np.isfinite(est) and np.isfinite(se)) or abs(est) < 1e-3 * max(se, 1e-300) or abs(est) < 1e-12:
        return f"the estimate sits at its boundary: no number of {what} would decide it"
    need = int(replicates_needed(se * np.sqrt(n), abs(est), z))
    return f"about {need:,} {what} would decide it at 80% power"


#: How a claim is decided where its results come at several fits (a fit ladder), appended to its
#: criterion (:attr:`Claim.premise`).
PREMISE_CRITERIA = {
    "config": "",
    "regime": "judged at every rung of the fit ladder (checkpoints of one run) and where training ended, decided at "
              "the least-trained fit whose deciding rows pass every gate (the nearest the set-up comes to the study's "
              "regime of students that answer validly without having memorised; the evidence gives that fit's "
              "training loss); decided verdicts that differ along the ladder make it inconclusive (budget), with "
              "where each holds",
    "converged": "judged at every rung of the fit ladder and where training ended, decided where training ended (the "
                 "theorem's premise: trained students); decided verdicts that differ along the ladder make it "
                 "inconclusive (budget), with where each holds",
}


@dataclasses.dataclass(frozen=True)
class Claim:
    key: str
    section: str
    claim: str
    criterion: str
    needs: tuple[str, ...]                       # Step names whose results the judgment reads
    judge: Callable[..., "tuple[bool, str] | Interval"]
    # Which fit decides where the results come at several (a fit ladder): "config" (the
    # config's own budget, the others beside), "regime" (the study's claims: the least-trained
    # fit whose rows answer validly, i.e. pass every gate: the study's students answered
    # validly without having memorised) or "converged" (a theorem's prediction: the last fit).
    premise: str = "config"

    def __post_init__(self):
        if self.premise not in PREMISE_CRITERIA:
            raise ValueError(f"premise must be one of {', '.join(PREMISE_CRITERIA)}, got {self.premise!r}.")
        if PREMISE_CRITERIA[self.premise]:
            object.__setattr__(self, "criterion", f"{self.criterion}; {PREMISE_CRITERIA[self.premise]}")

    def evaluate(self, results: dict[str, dict]) -> Finding:
        if any(n not in results for n in self.needs):
            return Finding(self.claim, None, "not run: needs " + ", ".join(self.needs))
        verdict = self.judge(*(results[n] for n in self.needs))
        if isinstance(verdict, Interval):
            return verdict.finding(self.claim)
        ok, evidence = verdict
        return Finding(self.claim, bool(ok), evidence)

def trend(x, y) -> float:
    """Spearman rank correlation of y on x (1: strictly increasing)."""
    if len(x) < 3:
        return float(np.sign(y[-1] - y[0]))
    return float(stats.spearmanr(x, y).statistic)

def curvature(x, f, se) -> tuple[float, float]:
    """How much a curve f(x) bends upward, from every grid point: the weighted least-squares fit
    ``f = a + b x + c x^2`` (weights 1/se^2) and ``kappa = c (x_max - x_min)^2 / (fhat(x_max) -
    fhat(x_min))``, the share of the fitted rise over the grid that the quadratic term accounts
    for (0 for a straight line, above 0 when the curve bends upward). Returns ``(kappa, SE)``,
    the SE from the fit's covariance with the rise treated as known and the points as
    independent (conservative when, as in jaxkd's sweeps, they share their students' inits and
    so are positively correlated: a curvature is a contrast of the points).
    """
    x, f, se = (np.asarray(v, float) for v in (x, f, se))
    A = np.stack([np.ones_like(x), x, x * x], axis=1)
    w = 1.0 / np.maximum(se, 1e-300) ** 2
    cov = np.linalg.inv(A.T @ (A * w[:, None]))
    coef = cov @ (A.T @ (w * f))
    span = x.max() - x.min()
    rise = coef[1] * span + coef[2] * (x.max() ** 2 - x.min() ** 2)
    scale = span**2 / abs(rise) if rise != 0 else np.inf
    return float(coef[2] * span**2 / rise), float(np.sqrt(cov[2, 2]) * scale)

