"""Closed forms against hand computations, against other exact computations of the same
quantity, and against jaxkd's own implementations (tests/test_properties.py simulates)."""

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxkd import targets
from jaxkd.theory import closed_forms as cf

variances = st.floats(min_value=1e-3, max_value=1e3)


def _design(seed, n, d):
    return np.random.default_rng(seed).normal(size=(n, d))


@given(variances, variances)
def test_7_3_weights_match_closed_form_and_minimise(var_t, var_s):
    with jax.enable_x64(True):
        a_t, a_s = targets.inverse_variance_weights(var_t, var_s)
        c_t, c_s = cf.inverse_variance_weights(var_t, var_s)
        np.testing.assert_allclose([a_t, a_s], [c_t, c_s], rtol=1e-14)
        assert float(a_t + a_s) == pytest.approx(1.0, abs=1e-15)
        grid = np.linspace(0, 1, 2001)
        curve = np.asarray(cf.combination_variance(grid, var_t, var_s))
        best = float(cf.combination_variance(a_t, var_t, var_s))
        assert best <= curve.min() * (1 + 1e-12)
        # The minimiser lies within one grid step of the closed-form weight.
        assert abs(grid[curve.argmin()] - float(a_t)) <= 1 / 2000


@given(variances, variances)
def test_7_4_minimum_properties(var_t, var_s):
    with jax.enable_x64(True):
        m = float(targets.combined_variance(var_t, var_s))
        assert m == pytest.approx(float(cf.min_combination_variance(var_t, var_s)), rel=1e-14)
        assert m < min(var_t, var_s)
        assert m == pytest.approx(float(targets.combined_variance(var_s, var_t)), rel=1e-14)
        assert float(targets.combined_variance(var_t, var_t)) == pytest.approx(var_t / 2, rel=1e-14)


@given(st.lists(st.floats(0.05, 1.0), min_size=2, max_size=4), st.integers(1, 8))
@settings(max_examples=15)
def test_c_1_binomial_marginals_equal_enumeration(weights, k):
    with jax.enable_x64(True):
        p = np.asarray(weights) / np.sum(weights)
        mean, var = cf.empirical_entropy_moments(p, k)
        assert float(cf.expected_empirical_entropy(p, k)) == pytest.approx(float(mean), abs=1e-12)
        assert float(mean) < float(cf.entropy(p))
        assert float(var) >= 0.0


def test_c_1_degenerate_teacher_has_no_gap():
    with jax.enable_x64(True):
        assert float(cf.expected_empirical_entropy(np.array([1.0, 0.0, 0.0]), 5)) == 0.0


def test_c_1_hand_computed_k2():
    # k = 2, p = (1/2, 1/2): H(p_hat) = log 2 with prob 1/2 (one of each), else 0.
    with jax.enable_x64(True):
        mean, var = cf.empirical_entropy_moments(np.array([0.5, 0.5]), 2)
        assert float(mean) == pytest.approx(0.5 * np.log(2), rel=1e-14)
        assert float(var) == pytest.approx(0.25 * np.log(2) ** 2, rel=1e-14)


def test_miller_madow_rate():
    with jax.enable_x64(True):
        p = np.array([0.5, 0.3, 0.2])
        gaps = [float(cf.entropy(p) - cf.expected_empirical_entropy(p, k)) for k in (100, 400)]
        # Gap shrinks like (K - 1)/(2k): quadrupling k divides it by about four.
        assert gaps[0] / gaps[1] == pytest.approx(4.0, rel=0.02)
        assert gaps[1] == pytest.approx(2 / 800, rel=0.01)


def test_quadratic_norm_moments_against_monte_carlo():
    rng = np.random.default_rng(0)
    L = rng.normal(size=(3, 3))
    cov, mean = L @ L.T, rng.normal(size=3)
    z = rng.multivariate_normal(mean, cov, size=400_000)
    sq = (z**2).sum(1)
    e, var = cf.quadratic_norm_moments(mean, cov)
    assert sq.mean() == pytest.approx(float(e), rel=0.01)
    assert sq.var() == pytest.approx(float(var), rel=0.03)


def test_5_3_forms():
    assert cf.ground_truth_bootstrap_mse(2.0, 5, 50) == pytest.approx(2.0 * 1.1)
    assert cf.ground_truth_bootstrap_mse(2.0, 5, 50, exact_gaussian=True) == pytest.approx(2.0 * (1 + 5 / 44))
    assert cf.teacher_labelled_bootstrap_variance() == 0.0


def test_x_1_matches_a_direct_quadratic_form_computation():
    """Var(MSE) by brute force: the residual b + A eps is Gaussian, so Var||r||^2 follows from
    quadratic_norm_moments with mean b and covariance s H*; the closed form must agree."""
    with jax.enable_x64(True):
        X, X_test = _design(0, 60, 4), _design(1, 15, 4)
        mu, y_test = X @ np.arange(1.0, 5.0), np.random.default_rng(2).normal(size=15)
        H = X_test @ np.linalg.inv(X.T @ X) @ X_test.T
        b = X_test @ np.linalg.solve(X.T @ X, X.T @ mu) - y_test
        for sigma2, k in [(0.3, 1), (2.0, 1), (2.0, 4)]:
            _, var_sq = cf.quadratic_norm_moments(b, sigma2 / k * H)
            got = float(cf.test_mse_variance(X, X_test, mu, y_test, sigma2, k))
            assert got == pytest.approx(float(var_sq) / 15**2, rel=1e-12)
        # Quadratic in sigma^2: the second difference is 2 * (2 tr H^2 / m^2) * h^2 > 0.
        v = [float(cf.test_mse_variance(X, X_test, mu, y_test, s, 1)) for s in (1.0, 2.0, 3.0)]
        assert v[0] - 2 * v[1] + v[2] == pytest.approx(4 * np.sum(H * H) / 15**2, rel=1e-9)


def test_x_2_sandwich_reduces_to_5_2_under_homoscedastic_residuals():
    with jax.enable_x64(True):
        X, X_test = _design(3, 200, 5), _design(4, 30, 5)
        tau = 0.7
        e = tau * np.where(np.arange(200) % 2 == 0, 1.0, -1.0)  # |e_i| = tau: Omega = tau^2 Sigma
        Sigma = X.T @ X / 200
        np.testing.assert_allclose(cf.sandwich_covariance(X, e), tau**2 * np.linalg.inv(Sigma), rtol=1e-12)
        for b in (50, 400):
            assert float(cf.sandwich_bootstrap_variance(X, e, X_test, b)) == pytest.approx(
                float(cf.ground_truth_bootstrap_variance(X_test, Sigma, tau**2, b)), rel=1e-12)
        # Heteroscedastic residuals (variance growing with |x_0|) give a different answer.
        e_het = e * (1 + 2 * np.abs(X[:, 0]))
        assert not np.allclose(cf.sandwich_covariance(X, e_het), np.mean(e_het**2) * np.linalg.inv(Sigma))


def test_x_3_tends_to_the_full_fit_error_and_adds_the_sandwich_trace():
    with jax.enable_x64(True):
        X, X_test = _design(5, 100, 3), _design(6, 20, 3)
        rng = np.random.default_rng(7)
        y, y_test = X @ [1.0, -1.0, 0.5] + rng.normal(size=100), rng.normal(size=20)
        theta = np.linalg.lstsq(X, y, rcond=None)[0]
        base = np.mean((X_test @ theta - y_test) ** 2)
        C = np.asarray(cf.sandwich_covariance(X, y - X @ theta))
        for b in (10, 1000):
            got = float(cf.bootstrap_observed_mse(X, y, X_test, y_test, b))
            assert got == pytest.approx(base + np.trace(X_test.T @ X_test @ C) / b / 20, rel=1e-12)
        assert float(cf.bootstrap_observed_mse(X, y, X_test, y_test, 1e12)) == pytest.approx(base, rel=1e-9)
        assert float(cf.finite_sample_inflation(30, 3)) == pytest.approx(30 / 26)
        assert float(cf.finite_sample_inflation(4, 3)) == np.inf
