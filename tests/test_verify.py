"""`jaxkd.theory.verify`: every result passes, every check resolves a 5% error at the default
students, and every wrong closed form (tests/mutation.py) and every broken engine fails."""

import dataclasses
import json
import math
from unittest import mock

import jax
import jax.numpy as jnp
import pytest

from jaxkd import targets, uncertainty
from jaxkd.theory import checks as tc
from jaxkd.theory import closed_forms as cf
from jaxkd.theory import objectives as ob
from jaxkd.theory import verify as tv
import mutation  # tests/mutation.py

# The cheapest students that still catch every mutant (python tests/mutation.py 100 200 1000:
# 167 of 169 at 100, all at 200; the two left at 100 are X.1's quadratic term x 0.9 and 5.3's
# tau^2 d/b term alone x 1.1, which move a check by 2.4 and 2.8 tolerances at 1000 students).
MUTATION_STUDENTS = 200
# Every term mutant (one term of a closed form alone x1.1, x0.9 or dropped) moves some check by at
# least this many of its tolerances at the default students, as a closed form 5% off does (RESOLUTION).
TERM_POWER = 2.0


def test_verification_passes_has_power_and_fails_every_wrong_closed_form():
    """One context (its simulations reused by every mutant, so one test and one worker):

    * every result passes with the correct closed forms;
    * the family-wise error is spent on exactly the stochastic comparisons made;
    * at the default students every two-sided stochastic check's tolerance is at most half of
      RESOLUTION (5%) of its scale, so a closed form 5% off moves it by twice its tolerance
      (the tolerance at the default is the one measured here, its SE rescaled by sqrt(N));
    * every mutant of tests/mutation.py makes some check fail, and each term mutant (one term
      alone scaled by 1.1 or 0.9) moves some check by TERM_POWER tolerances at the default
      students, so the term is checked where it carries weight;
    * each term mutant's decomposition, unscaled, is its closed form at every point checked.
    """
    with jax.enable_x64(True):
        ctx = tv.context(MUTATION_STUDENTS, seed=0)
        checks = tv.run_checks(ctx)
    failed = [(c.result, c.case, c.predicted, c.observed, c.tolerance) for c in checks if not c.passed]
    assert not failed
    assert {c.result for c in checks} == set(tv.VERIFIERS)
    assert all(c.tolerance >= 0 and c.allowance >= 0 for c in checks)

    assert sum(c.comparisons for c in checks) == tc.COMPARISONS
    # Bonferroni: the two-sided tail beyond Z, summed over the comparisons, is the family-wise error.
    tail = 1 - 0.5 * (1 + math.erf(tc.Z / math.sqrt(2)))
    assert 2 * tc.COMPARISONS * tail == pytest.approx(tc.FAMILY_WISE_ERROR)
    exact = [c for c in checks if c.students == 0]
    assert exact and all(c.comparisons == 0 and c.sd == 0 for c in exact)

    coarse = []
    for c in checks:
        if c.students and c.scale is not None:
            default = c.students * tv.DEFAULT_STUDENTS // MUTATION_STUDENTS
            if c.tolerance_at(default) > tv.RESOLUTION / 2 * c.scale:
                coarse.append((c.result, c.case, c.tolerance_at(default) / c.scale))
    assert not coarse

    uncaught, weak = [], []
    for m in mutation.MUTANTS:
        mutated = mutation.checks_with(m, ctx)
        if all(c.passed for c in mutated):
            uncaught.append(f"{m.result}: {m.description}")
        if m.term is not None and (moved := mutation.power(mutated, checks, MUTATION_STUDENTS)) < TERM_POWER:
            weak.append((m.result, m.description, moved))
    assert not uncaught
    assert not weak

    # Each term mutant's decomposition, unscaled, is its closed form: the checks' predictions are
    # unchanged at every point checked (so a term mutant is caught for its term, not for a wrong sum).
    for module, function, term, formula in mutation.DECOMPOSITIONS:
        with mock.patch.object(module, function, formula(1.0)), jax.enable_x64(True):
            unscaled = tv.run_checks(ctx)
        assert [c.case for c in unscaled] == [c.case for c in checks]
        assert all(math.isclose(u.predicted, c.predicted, rel_tol=1e-12, abs_tol=1e-15)
                   for u, c in zip(unscaled, checks)), (function, term)


def test_every_closed_form_has_its_mutants():
    for module in (cf, ob):
        mutated = {m.function for m in mutation.MUTANTS if m.module is module}
        assert {f.__name__ for f in module.RESULTS.values()} - mutated == set()
    for result in tv.VERIFIERS:
        descriptions = [m.description for m in mutation.MUTANTS if m.result == result]
        assert descriptions, result


def test_checks_and_tallies_keep_their_json():
    """checks.json and summary.json's theorems: to_json's keys in field order, from_json reads
    back the same record, and a NaN stored as null stays None."""
    checks = [tc.compare("4.1", "a", 1.0, 1.01, 0.01, students=800, basis="SE"),
              tc.exact("4.1", "b", 0.0, 1.0, 4 * tc.EPS, "rounding"),
              tc.below("7.2", "c", 0.0, -1.0, "paired", sd=0.1, students=100)]
    assert [c.passed for c in checks] == [True, False, True]
    for c in checks:
        data = json.loads(json.dumps(c.to_json()))
        assert list(data) == [f.name for f in dataclasses.fields(tc.Check)]
        assert tc.Check.from_json(data) == c and tc.Check.from_json(data).to_json() == data
    stored = {**checks[0].to_json(), "observed": None}
    assert tc.Check.from_json(stored).to_json() == stored
    tallies = tc.tally(checks)
    assert tallies == (tc.Tally("4.1", 1, 2), tc.Tally("7.2", 1, 1))
    assert [t.all_passed for t in tallies] == [False, True]
    assert [t.to_json() for t in tallies] == [{"result": "4.1", "passed": 1, "checks": 2},
                                              {"result": "7.2", "passed": 1, "checks": 1}]
    assert tuple(tc.Tally.from_json(t.to_json()) for t in tallies) == tallies


def test_verification_catches_a_biased_average(monkeypatch):
    # An "average" dividing by k + 1 has variance sigma^2 k/(k+1)^2, not sigma^2/k: 7.1 must fail.
    monkeypatch.setattr(targets, "average",
                        lambda r: jnp.sum(jnp.asarray(r), axis=-2) / (jnp.asarray(r).shape[-2] + 1))
    checks = tv.verify(num_students=100, seed=0, results=["7.1"])
    assert len(checks) == 6 and not any(c.passed for c in checks)


def test_verification_catches_wrong_weights(monkeypatch):
    monkeypatch.setattr(targets, "inverse_variance_weights", lambda t, s: (0.5 + 0 * t, 0.5 + 0 * s))
    checks = tv.verify(num_students=100, seed=0, results=["7.3"])
    assert [c.passed for c in checks] == [False, True, True]


def test_verification_catches_an_uncorrected_between_student_variance(monkeypatch):
    real = uncertainty.between_student_variance

    def floor_left_in(samples):
        out = real(samples)
        return {**out, "corrected": out["uncorrected"]}

    monkeypatch.setattr(uncertainty, "between_student_variance", floor_left_in)
    checks = tv.verify(num_students=100, seed=0, results=["S.1"])
    assert [c.passed for c in checks] == [False, True, False, True]


def test_verification_catches_a_mse_variance_that_ignores_k(monkeypatch):
    # Students that average k responses but keep only the first: X.1 at k = 2 must fail.
    monkeypatch.setattr(targets, "average", lambda r: jnp.asarray(r)[..., 0, :])
    checks = tv.verify(num_students=100, seed=0, results=["X.1"])
    assert [c.passed for c in checks] == [True, True, True, False]


def test_bad_arguments():
    with pytest.raises(ValueError, match="at least 100"):
        tv.verify(num_students=10)
    with pytest.raises(ValueError, match="unknown result"):
        tv.verify(results=["9.9"])


@pytest.mark.slow
def test_default_students_pass_and_resolve_five_percent():
    checks = tv.verify()
    assert all(c.passed for c in checks)
    assert all(c.tolerance <= tv.RESOLUTION / 2 * c.scale for c in checks if c.students and c.scale is not None)
