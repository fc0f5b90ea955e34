"""`theory.verify` passes every result, and fails when the toolkit is broken."""

import jax.numpy as jnp
import pytest

from jaxkd import targets
from jaxkd.theory import verify as tv


def test_every_result_passes_at_default_settings():
    checks = tv.verify(num_students=1000, seed=0)
    failed = [(c.result, c.case, c.predicted, c.observed, c.tolerance) for c in checks if not c.passed]
    assert not failed
    assert {c.result for c in checks} == set(tv.VERIFIERS)
    for c in checks:
        assert c.tolerance >= 0


def test_verification_catches_a_biased_average(monkeypatch):
    # An "average" dividing by k + 1 has variance sigma^2 k/(k+1)^2, not sigma^2/k: 7.1 must fail.
    monkeypatch.setattr(targets, "average",
                        lambda r: jnp.sum(jnp.asarray(r), axis=-2) / (jnp.asarray(r).shape[-2] + 1))
    checks = tv.verify(num_students=1000, seed=0, results=["7.1"])
    assert len(checks) == 6 and not any(c.passed for c in checks)


def test_verification_catches_wrong_weights(monkeypatch):
    monkeypatch.setattr(targets, "inverse_variance_weights", lambda t, s: (0.5 + 0 * t, 0.5 + 0 * s))
    checks = tv.verify(num_students=1000, seed=0, results=["7.3"])
    assert not checks[0].passed


def test_bad_arguments():
    with pytest.raises(ValueError, match="at least 100"):
        tv.verify(num_students=10)
    with pytest.raises(ValueError, match="unknown result"):
        tv.verify(results=["9.9"])


def test_verification_catches_an_uncorrected_between_student_variance(monkeypatch):
    from jaxkd import uncertainty

    real = uncertainty.between_student_variance

    def floor_left_in(samples):
        out = real(samples)
        return {**out, "corrected": out["uncorrected"]}

    monkeypatch.setattr(uncertainty, "between_student_variance", floor_left_in)
    checks = tv.verify(num_students=1000, seed=0, results=["S.1"])
    assert [c.passed for c in checks] == [False, True, False]


def test_verification_catches_a_mse_variance_that_ignores_k(monkeypatch):
    # Students that average k responses but are scored as if k were 1: X.1 at k = 5 must fail.
    monkeypatch.setattr(targets, "average", lambda r: jnp.asarray(r)[..., 0, :])
    checks = tv.verify(num_students=1000, seed=0, results=["X.1"])
    assert [c.passed for c in checks] == [True, True, True, False, True]
