"""X.4-X.7 (jaxkd/theory/objectives.py): the verification checks of jaxkd/theory/verify_objectives.py at
test sizes, the numbers docs/theorems.md quotes, and the monotonicity theorem on random
teachers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jaxkd.theory import objectives as ob
from jaxkd.theory import verify as tv
from jaxkd.theory import verify_objectives as vo


def _ctx(num_students=400):
    return tv.Context(num_students, 0, boston=None)  # X.4-X.7 use only the keys and the memo


@pytest.mark.parametrize("name, kwargs", [
    ("X.4", {}),
    ("X.5", {"epochs": 800, "students": 1}),
    ("X.6", {"ks": (1, 5)}),
    ("X.7", {}),
])
def test_checks_pass(x64, name, kwargs):
    checks = vo.VERIFIERS[name](_ctx(), **kwargs)
    failed = [f"{c.case}: predicted {c.predicted:.6g}, observed {c.observed:.6g}, tolerance {c.tolerance:.2g}"
              for c in checks if not c.passed]
    assert checks and not failed, failed
    if name == "X.5":
        # Power: every tolerance is well below the widening it tests, so "forward KL keeps the
        # teacher's entropy" (a predicted gap of 0) would fail every one of these checks.
        assert all(c.tolerance < 0.5 * c.predicted for c in checks)


def test_theorems_page_numbers(x64):
    """The per-objective table for the hallucinating teacher in docs/theorems.md (X.7)."""
    p = jnp.asarray(vo.HALLUCINATING)
    h_p = float(ob.entropy(p))
    gaps = {b: float(ob.entropy(ob.lumped_student(p, 3, b))) - h_p for b in (0.0, 0.1, 0.5, 0.9, 1.0)}
    tails = {b: float(jnp.sum(ob.lumped_student(p, 3, b)[3:])) for b in (0.0, 0.1, 0.5, 0.9, 1.0)}
    np.testing.assert_allclose(h_p, 1.2253, atol=5e-5)
    np.testing.assert_allclose([gaps[b] for b in sorted(gaps)], [0.0320, 0.0175, -0.0349, -0.0855, -0.1000], atol=5e-5)
    np.testing.assert_allclose([tails[b] for b in sorted(tails)], [0.0500, 0.0466, 0.0349, 0.0244, 0.0215], atol=5e-5)
    # X.5 for the forward-KL row: the widening is the residual divergence.
    np.testing.assert_allclose(gaps[0.0], float(ob.kl(p, ob.lumped_student(p, 3, 0.0))), rtol=1e-12)
    # X.6: sequence-level KD with k = 1, 5, 50 relative to the teacher.
    seq = [float(ob.lumped_sequence_kd_entropy(p, 3, k)) - h_p for k in (1, 5, 50)]
    np.testing.assert_allclose(seq, [-1.1101, -0.2887, 0.0004], atol=5e-5)


@given(st.lists(st.floats(0.01, 1.0), min_size=6, max_size=6), st.integers(1, 4))
def test_tail_mass_falls_with_beta_on_random_teachers(weights, r):
    with jax.enable_x64(True):
        p = np.sort(np.asarray(weights))[::-1]
        p = jnp.asarray(p / p.sum())
        qs = [np.asarray(ob.lumped_student(p, r, b)) for b in np.linspace(0, 1, 6)]
        tails = np.array([q[r:].sum() for q in qs])
        uniform_tail = np.ptp(np.asarray(p[r:])) < 1e-9
        assert np.all(np.diff(tails) <= 1e-12) and (uniform_tail or tails[-1] < tails[0])
        for q in qs:  # the head stays proportional to the teacher; the tail is shared evenly
            ratio = q[:r] / np.asarray(p[:r])
            assert np.ptp(ratio) < 1e-9 and np.ptp(q[r:]) < 1e-12
            np.testing.assert_allclose(q.sum(), 1.0, rtol=1e-12)
