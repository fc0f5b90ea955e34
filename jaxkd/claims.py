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
    reason: str | None = None      # why a verdict is inconclusive whatever its interval ("regime")

    @property
    def status(self) -> str:
        if self.inconclusive:
            return f"inconclusive ({self.reason})" if self.reason else "inconclusive"
        return {True: "reproduced", False: "not reproduced", None: "not run"}[self.reproduced]

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

    def finding(self, claim: str) -> Finding:
        if self.gate:  # the experiment's regime cannot show the effect: no verdict either way
            return Finding(claim, None, f"{self.gate}; {self.evidence}", (self.low, self.high), self.replicates,
                           True, "regime")
        inconclusive = self.precondition and self.low <= 0.0 <= self.high
        reproduced = None if inconclusive else bool(self.precondition and self.low > 0.0)
        return Finding(claim, reproduced, self.evidence, (self.low, self.high), self.replicates, inconclusive)

@dataclasses.dataclass(frozen=True)
class Claim:
    key: str
    section: str
    claim: str
    criterion: str
    needs: tuple[str, ...]                       # Step names whose results the judgment reads
    judge: Callable[..., "tuple[bool, str] | Interval"]

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

def bend(a, f, se, idx) -> tuple[float, float]:
    """Normalised curvature of f over the three grid points ``idx``: (upper slope − lower slope)
    / chord slope (0 for a straight line), and its standard error by the delta method with the
    points' standard errors taken as independent (conservative when, as here, the points share
    their students' inits and so are positively correlated)."""
    a, f, se = (np.asarray(x, float)[list(idx)] for x in (a, f, se))

    def kappa(v):
        lo = (v[1] - v[0]) / (a[1] - a[0])
        hi = (v[2] - v[1]) / (a[2] - a[1])
        return (hi - lo) / ((v[2] - v[0]) / (a[2] - a[0]))

    k0 = kappa(f)
    grad = [(kappa(f + h * np.eye(3)[i]) - k0) / h for i, h in enumerate(1e-6 * np.maximum(np.abs(f), 1e-12))]
    return float(k0), float(np.sqrt(np.sum((np.asarray(grad) * se) ** 2)))
