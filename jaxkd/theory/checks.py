"""The theory check as a record: what one verified statement of docs/theorems.md came to, and
how each result's checks add up.

:class:`Check` is one statement with how it was decided (:func:`compare`, :func:`exact`,
:func:`below`, all at the one threshold :data:`Z`); :class:`Tally` is one result's count of
checks passed out of run (:func:`tally`). Both travel unchanged from the verification
(:mod:`jaxkd.theory.verify`) through ``jaxkd reproduce`` to the report and the command's exit
code; on disk they are ``to_json()`` of each, as ``theory/checks.json`` (one object per check)
and summary.json's ``theorems`` (one object per result), and ``from_json`` reads them back.

Tolerances (docs/theorems.md, "How the results are verified"): a stochastic check passes when
``|observed - predicted| <= Z * sd + allowance``, where ``Z`` holds the family-wise error of a
whole verify run at :data:`FAMILY_WISE_ERROR` by Bonferroni over its :data:`COMPARISONS`
stochastic comparisons, ``Z = Phi^{-1}(1 - FAMILY_WISE_ERROR / (2 COMPARISONS))`` (about 4.0).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Iterable

import jax
import numpy as np
from scipy import stats

FAMILY_WISE_ERROR = 0.01  # chance that a full run with correct closed forms fails anywhere
COMPARISONS = 164         # stochastic comparisons in a full run (tests/test_verify.py counts them)
Z = float(stats.norm.ppf(1.0 - FAMILY_WISE_ERROR / (2 * COMPARISONS)))
EPS = float(np.finfo(np.float64).eps)  # the unit of the rounding bounds of exact checks


@dataclasses.dataclass(frozen=True)
class Check:
    """One verified statement: ``passed`` iff ``|observed - predicted| <= tolerance`` (or the
    one-sided comparison that ``case`` names), ``tolerance = Z * sd + allowance``.

    ``students``: simulated students behind ``observed`` (0 for an exact check); ``sd``: the
    standard error of ``observed`` (0 for an exact check); ``allowance``: the deterministic part
    of the tolerance (an "about" term, or rounding); ``comparisons``: how many stochastic
    comparisons it makes (its share of the family-wise error; 0 for exact checks); ``scale``:
    what a relative error in the closed form is relative to (``|predicted|`` unless the check
    says otherwise; None for one-sided checks, which test an inequality).
    """

    result: str
    case: str
    predicted: float
    observed: float
    tolerance: float
    passed: bool
    basis: str
    students: int = 0
    sd: float = 0.0
    allowance: float = 0.0
    comparisons: int = 0
    scale: float | None = None

    def to_json(self) -> dict:
        """The check as one object of ``theory/checks.json`` (the fields in order)."""
        return {k: (float(x) if isinstance(x, (float, np.floating, jax.Array)) else x)
                for k, x in dataclasses.asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict) -> Check:
        """The check that :meth:`to_json` wrote (values as stored: a NaN saved as null stays None)."""
        return cls(**data)

    def tolerance_at(self, students: int) -> float:
        """The tolerance this check would have with ``students`` simulated students (the
        standard error scales as ``1/sqrt(students)``; the allowance does not)."""
        if self.students == 0:
            return self.tolerance
        return Z * self.sd * math.sqrt(self.students / students) + self.allowance


def compare(result, case, predicted, observed, sd, *, students, basis, allowance=0.0, comparisons=1,
            scale=None) -> Check:
    """A stochastic two-sided check: ``|observed - predicted| <= Z sd + allowance``."""
    predicted, observed, sd, allowance = float(predicted), float(observed), float(sd), float(allowance)
    tol = Z * sd + allowance
    ok = math.isfinite(observed) and math.isfinite(predicted) and abs(observed - predicted) <= tol
    scale = abs(predicted) if scale is None else float(scale)
    return Check(result, case, predicted, observed, tol, bool(ok), basis, int(students), sd, allowance,
                 comparisons, scale)


def exact(result, case, predicted, observed, allowance, basis) -> Check:
    """A deterministic check (no sampling error): ``|observed - predicted| <= allowance``."""
    predicted, observed, allowance = float(predicted), float(observed), float(allowance)
    ok = math.isfinite(observed) and math.isfinite(predicted) and abs(observed - predicted) <= allowance
    return Check(result, case, predicted, observed, allowance, bool(ok), basis, 0, 0.0, allowance, 0, abs(predicted))


def below(result, case, bound, observed, basis, *, sd=0.0, students=0) -> Check:
    """A one-sided check: ``observed < bound - Z sd`` (deterministic when ``sd`` is 0)."""
    bound, observed, sd = float(bound), float(observed), float(sd)
    ok = math.isfinite(observed) and observed < bound - Z * sd
    return Check(result, case, bound, observed, Z * sd, bool(ok), basis, int(students), sd, 0.0, int(sd > 0))


@dataclasses.dataclass(frozen=True)
class Tally:
    """One docs/theorems.md result's checks: ``passed`` of ``checks`` pass."""

    result: str
    passed: int
    checks: int

    @property
    def all_passed(self) -> bool:
        return self.passed == self.checks

    def to_json(self) -> dict:
        """The tally as one object of summary.json's ``theorems``."""
        return {"result": self.result, "passed": self.passed, "checks": self.checks}

    @classmethod
    def from_json(cls, data: dict) -> Tally:
        return cls(data["result"], data["passed"], data["checks"])


def tally(checks: Iterable[Check]) -> tuple[Tally, ...]:
    """One :class:`Tally` per result, in the order the results first appear (docs/theorems.md
    order for a verify run's checks)."""
    by_result: dict[str, list[bool]] = {}
    for c in checks:
        by_result.setdefault(c.result, []).append(bool(c.passed))
    return tuple(Tally(r, sum(ok), len(ok)) for r, ok in by_result.items())
