"""jaxkd.divergences: hand cases with closed values, TRL's formula re-implemented in torch
(values and gradients), the β endpoints and limits, -inf and very peaked logits, and properties
every divergence has (hypothesis)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, example
from hypothesis import strategies as st

from jaxkd import divergences as D

BETAS = (0.0, 0.1, 0.5, 0.9, 1.0)


def logits_of(*p):
    """Logits of the distribution p (zeros become -inf)."""
    p = np.asarray(p, float)
    with np.errstate(divide="ignore"):
        return np.log(p)


def kl(p, q):
    return sum(a * math.log(a / b) for a, b in zip(p, q) if a > 0)


def binary_entropy(b):
    return -b * math.log(b) - (1 - b) * math.log(1 - b)


# --- hand cases -------------------------------------------------------------------------------


def test_two_point_hand_values(x64):
    # p_T = (1/2, 1/2), q_S = (1/4, 3/4), written out by hand.
    s, t = logits_of(0.25, 0.75), logits_of(0.5, 0.5)
    fwd = 0.5 * math.log(2.0) + 0.5 * math.log(2.0 / 3.0)          # = log(4/3)/2
    rev = 0.25 * math.log(0.5) + 0.75 * math.log(1.5)
    np.testing.assert_allclose(D.forward_kl(s, t), fwd, rtol=1e-14)
    np.testing.assert_allclose(D.reverse_kl(s, t), rev, rtol=1e-14)
    assert fwd != pytest.approx(rev)  # the case tells the two directions apart
    # JSD(1/2): M = (3/8, 5/8).
    jsd = 0.5 * (0.5 * math.log(0.5 / 0.375) + 0.5 * math.log(0.5 / 0.625)) \
        + 0.5 * (0.25 * math.log(0.25 / 0.375) + 0.75 * math.log(0.75 / 0.625))
    np.testing.assert_allclose(D.generalized_jsd(s, t, 0.5), jsd, rtol=1e-14)
    # JSD(0.2): M = 0.2 p + 0.8 q = (0.3, 0.7); the β weight goes with the teacher's term.
    jsd2 = 0.2 * (0.5 * math.log(0.5 / 0.3) + 0.5 * math.log(0.5 / 0.7)) \
        + 0.8 * (0.25 * math.log(0.25 / 0.3) + 0.75 * math.log(0.75 / 0.7))
    np.testing.assert_allclose(D.generalized_jsd(s, t, 0.2), jsd2, rtol=1e-14)
    # TRL's endpoints.
    np.testing.assert_allclose(D.generalized_jsd(s, t, 0.0), fwd, rtol=1e-14)
    np.testing.assert_allclose(D.generalized_jsd(s, t, 1.0), rev, rtol=1e-14)


def test_disjoint_and_one_hot_cases(x64):
    one, other, half = logits_of(1, 0), logits_of(0, 1), logits_of(0.5, 0.5)
    for b in (0.1, 0.5, 0.9):  # disjoint supports reach the bound h(β) exactly
        np.testing.assert_allclose(D.generalized_jsd(other, one, b), binary_entropy(b), rtol=1e-14)
    # One-hot teacher (hard label): forward KL is the cross-entropy -log q(label) = log 2.
    np.testing.assert_allclose(D.forward_kl(half, one), math.log(2.0), rtol=1e-14)
    # The student puts mass where the teacher has none: reverse KL is infinite, JSD is not.
    assert np.isinf(D.reverse_kl(half, one)) and np.isinf(D.generalized_jsd(half, one, 1.0))
    b = 0.3  # M = (b + (1-b)/2, (1-b)/2)
    m = (b + (1 - b) / 2, (1 - b) / 2)
    np.testing.assert_allclose(D.generalized_jsd(half, one, b), b * kl((1, 0), m) + (1 - b) * kl((0.5, 0.5), m),
                               rtol=1e-14)
    # The student gives zero probability to an answer the teacher allows: forward KL is infinite.
    assert np.isinf(D.forward_kl(one, half))


def test_temperature_and_t2_scale(x64):
    r = np.random.default_rng(0)
    s, t = r.normal(size=(4, 6)) * 2, r.normal(size=(4, 6)) * 2
    for T in (0.5, 2.0, 4.0):
        np.testing.assert_allclose(D.forward_kl(s, t, temperature=T), D.forward_kl(s / T, t / T), rtol=1e-13)
        np.testing.assert_allclose(D.generalized_jsd(s, t, 0.3, temperature=T),
                                   D.generalized_jsd(s / T, t / T, 0.3), rtol=1e-13)
        np.testing.assert_allclose(D.forward_kl(s, t, temperature=T, t2_scale=True),
                                   T**2 * D.forward_kl(s / T, t / T), rtol=1e-13)
    # Hinton et al.'s reason for T²: the scaled gradient stays O(1) as T grows, the unscaled one
    # shrinks like 1/T².
    g = [np.abs(jax.grad(lambda z: D.forward_kl(z, t, temperature=T, t2_scale=scaled).sum())(s)).max()
         for T in (10.0, 100.0) for scaled in (False, True)]
    assert g[2] / g[0] < 0.02 and 0.5 < g[3] / g[1] < 2.0


def test_entropy(x64):
    np.testing.assert_allclose(D.entropy(logits_of(0.5, 0.25, 0.25, 0)), 1.5 * math.log(2.0), rtol=1e-14)
    np.testing.assert_allclose(D.entropy(np.zeros(5), temperature=3.0), math.log(5.0), rtol=1e-14)


# --- torch reference: TRL's generalized_jsd_loss --------------------------------------------------


def torch_generalized_jsd(student_logits, teacher_logits, beta, temperature):
    """TRL's ``GKDTrainer.generalized_jsd_loss`` formula (reduction 'none', summed over the
    vocabulary), written with torch.nn.functional.kl_div and logsumexp."""
    s = F.log_softmax(student_logits / temperature, dim=-1)
    t = F.log_softmax(teacher_logits / temperature, dim=-1)
    if beta == 0:
        jsd = F.kl_div(s, t, reduction="none", log_target=True)
    elif beta == 1:
        jsd = F.kl_div(t, s, reduction="none", log_target=True)
    else:
        b = torch.tensor(beta, dtype=s.dtype)
        m = torch.logsumexp(torch.stack([s + torch.log(1 - b), t + torch.log(b)]), dim=0)
        jsd = b * F.kl_div(m, t, reduction="none", log_target=True) \
            + (1 - b) * F.kl_div(m, s, reduction="none", log_target=True)
    return jsd.sum(-1)


@pytest.mark.parametrize("beta", BETAS)
@pytest.mark.parametrize("temperature", [1.0, 2.5])
def test_matches_trl_formula_in_torch(x64, beta, temperature):
    r = np.random.default_rng(int(beta * 10) + int(temperature))
    s, t = r.normal(size=(3, 5, 11)) * 3, r.normal(size=(3, 5, 11)) * 3
    ts, tt = torch.tensor(s, requires_grad=True), torch.tensor(t, requires_grad=True)
    ref = torch_generalized_jsd(ts, tt, beta, temperature)
    cot = torch.tensor(r.normal(size=(3, 5)))  # a random cotangent: every output's gradient counts
    (ref * cot).sum().backward()

    f = jax.jit(lambda a, b: D.generalized_jsd(a, b, beta, temperature=temperature))
    np.testing.assert_allclose(f(s, t), ref.detach().numpy(), rtol=1e-6, atol=1e-9)
    gs, gt = jax.grad(lambda a, b: jnp.sum(f(a, b) * cot.numpy()), argnums=(0, 1))(s, t)
    np.testing.assert_allclose(gs, ts.grad.numpy(), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(gt, tt.grad.numpy(), rtol=1e-6, atol=1e-9)
    if beta == 0.0:
        np.testing.assert_allclose(D.forward_kl(s, t, temperature=temperature), ref.detach().numpy(), rtol=1e-6)
    if beta == 1.0:
        np.testing.assert_allclose(D.reverse_kl(s, t, temperature=temperature), ref.detach().numpy(), rtol=1e-6)


def test_float32_matches_float64():
    r = np.random.default_rng(3)
    s, t = r.normal(size=(8, 50)) * 4, r.normal(size=(8, 50)) * 4
    with jax.enable_x64(True):
        ref = [np.asarray(D.generalized_jsd(s, t, b)) for b in BETAS]
    for b, want in zip(BETAS, ref):
        got = D.generalized_jsd(s.astype(np.float32), t.astype(np.float32), b)
        assert got.dtype == jnp.float32
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=1e-6)


# --- endpoints, limits, -inf and peaked distributions -------------------------------------------


def test_scaled_limits_at_the_endpoints(x64):
    """The formula tends to 0 at both ends; scaled by 1/β (1/(1−β)) it tends to forward
    (reverse) KL, with an error linear in β (1 − β). TRL's endpoints are those limits."""
    r = np.random.default_rng(1)
    s, t = r.normal(size=(4, 7)), r.normal(size=(4, 7))
    fwd, rev = np.asarray(D.forward_kl(s, t)), np.asarray(D.reverse_kl(s, t))
    errs = []
    for eps in (1e-3, 1e-4):
        lo = np.asarray(D.generalized_jsd(s, t, eps)) / eps
        hi = np.asarray(D.generalized_jsd(s, t, 1 - eps)) / eps
        errs.append((np.abs(lo / fwd - 1).max(), np.abs(hi / rev - 1).max()))
        assert errs[-1][0] < 50 * eps and errs[-1][1] < 50 * eps
    assert 5 < errs[0][0] / errs[1][0] < 20 and 5 < errs[0][1] / errs[1][1] < 20  # linear in eps
    assert np.abs(np.asarray(D.generalized_jsd(s, t, 1e-4))).max() < 1e-3  # unscaled: -> 0, not KL


def test_minus_inf_logits_value_and_gradient(x64):
    """A top-k-masked teacher: -inf equals a logit far enough below to underflow (-1e4), and
    forward KL and JSD(β < 1) keep finite gradients; reverse KL is +inf, as it should be."""
    r = np.random.default_rng(2)
    s, t = r.normal(size=(3, 9)), r.normal(size=(3, 9))
    masked, far = t.copy(), t.copy()
    masked[:, :4], far[:, :4] = -np.inf, -1e4
    for b in (0.0, 0.1, 0.5, 0.9):
        f = lambda z, tt: D.generalized_jsd(z, tt, b).sum()
        np.testing.assert_allclose(D.generalized_jsd(s, masked, b), D.generalized_jsd(s, far, b), rtol=1e-12)
        g = jax.grad(f)(s, masked)
        assert np.all(np.isfinite(g))
        np.testing.assert_allclose(g, jax.grad(f)(s, far), rtol=1e-10, atol=1e-14)
    assert np.all(np.isinf(D.reverse_kl(s, masked)))
    # Student masked the same way (say, a padded vocabulary): every objective finite, and the
    # masked logits get zero gradient.
    s2 = s.copy()
    s2[:, :4] = -np.inf
    for b in BETAS:
        val = D.generalized_jsd(s2, masked, b)
        g = jax.grad(lambda z: D.generalized_jsd(z, masked, b).sum())(s2)
        assert np.all(np.isfinite(val)) and np.all(np.isfinite(g)) and np.all(g[:, :4] == 0)
    # A traced β (one objective per student under vmap) keeps the gradients of β < 1 finite
    # even though β = 1 is infinite against this teacher.
    betas = jnp.asarray([0.0, 0.5, 1.0])
    g = jax.vmap(jax.grad(lambda z, b: D.generalized_jsd(z, masked, b).sum()), in_axes=(None, 0))(s, betas)
    assert np.all(np.isfinite(g[:2])) and not np.all(np.isfinite(g[2]))


def test_very_peaked_distributions_in_float32():
    """Logit gaps of 200 underflow a probability in float32 (e^-200 = 0): the log-space
    computation still agrees with float64."""
    s = np.array([[0.0, -200.0, -50.0], [300.0, 0.0, 0.0]])
    t = np.array([[-200.0, 0.0, -100.0], [0.0, 0.0, 300.0]])
    with jax.enable_x64(True):
        want = [np.asarray(D.generalized_jsd(s, t, b)) for b in BETAS]
    for b, w in zip(BETAS, want):
        got = np.asarray(D.generalized_jsd(s.astype(np.float32), t.astype(np.float32), b))
        assert np.all(np.isfinite(got))
        np.testing.assert_allclose(got, w, rtol=1e-5)
    np.testing.assert_allclose(want[2], binary_entropy(0.5), rtol=1e-6)  # nearly disjoint


def test_bad_arguments():
    z = np.zeros((2, 3))
    with pytest.raises(ValueError, match="beta must lie in"):
        D.generalized_jsd(z, z, 1.5)
    with pytest.raises(ValueError, match="temperature must be positive"):
        D.forward_kl(z, z, temperature=0.0)
    with pytest.raises(ValueError, match="same shape"):
        D.reverse_kl(z, np.zeros((2, 4)))
    with pytest.raises(ValueError, match="floating point"):
        D.forward_kl(np.zeros((2, 3), int), z)


# --- properties (hypothesis) -------------------------------------------------------------------

logit_rows = st.integers(2, 7).flatmap(lambda V: st.tuples(
    *(st.lists(st.floats(-8, 8), min_size=V, max_size=V) for _ in range(3))))


@given(logit_rows, st.floats(0.0, 1.0), st.floats(0.3, 3.0))
@example(([0.0, 0.0], [0.0, 1.0], [0.0, 0.0]), 2.225073858507e-311, 1.0)  # a subnormal β: flushed to 0, it was forward KL
def test_divergence_properties(rows, beta, T):
    with jax.enable_x64(True):
        s, t, u = (np.asarray(r) for r in rows)
        val = float(D.generalized_jsd(s, t, beta, temperature=T))
        assert val >= -1e-12
        if 0 < beta < 1:
            assert val <= binary_entropy(beta) + 1e-12
        if 1e-6 < beta < 1 - 1e-6:  # (1 - β rounds to 1 for tinier β: the endpoint's convention)
            # Swapping roles swaps β: JSD_β(q, p) = JSD_{1−β}(p, q).
            np.testing.assert_allclose(D.generalized_jsd(t, s, 1 - beta, temperature=T), val, rtol=1e-9, atol=1e-13)
        np.testing.assert_allclose(D.forward_kl(s, t, temperature=T), D.reverse_kl(t, s, temperature=T), rtol=1e-12)
        # Zero exactly at the teacher (logits up to a constant shift).
        assert abs(float(D.generalized_jsd(t + 3.0, t, beta, temperature=T))) < 1e-12
        # Data processing: merging the first two answers cannot increase an f-divergence.
        merge = lambda z: np.concatenate([[np.logaddexp(z[0] / T, z[1] / T)], z[2:] / T])
        assert float(D.generalized_jsd(merge(s), merge(t), beta)) <= val + 1e-12
        # Moving the student from the teacher toward u along the mixture path never decreases it
        # (a convex function of t, zero at t = 0).
        p = np.asarray(jax.nn.softmax(t / T))
        q = np.asarray(jax.nn.softmax(u / T))
        path = [float(D.generalized_jsd(np.log((1 - a) * p + a * q), np.log(p), beta)) for a in (0.0, 0.3, 0.6, 1.0)]
        assert all(b >= a - 1e-12 for a, b in zip(path, path[1:]))
