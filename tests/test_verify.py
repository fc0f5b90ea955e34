"""`theory.verify` passes every result, and fails when the toolkit is broken."""

import jax.numpy as jnp
import pytest

from jaxkd import targets
from theory import verify as tv


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
