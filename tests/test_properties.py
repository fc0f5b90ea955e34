"""Property tests that simulate: hypothesis draws designs (rows, features, conditioning,
heteroscedasticity), noise levels, k and b; jaxkd's engines simulate students, and the result
must match the closed form within a tolerance derived from the draw.

Every tolerance is ``Z_PROPERTY`` standard errors of the simulated value, the standard error
computed from the draw's exact sampling distribution where it is known (Wishart, Gaussian
quadratic forms, exact enumeration) and from the simulation otherwise, plus a named allowance
where the result is only "about". ``Z_PROPERTY = 5`` puts a false failure per example near
6e-7. ``make test`` runs a few derandomized examples (conftest's "ci" profile); ``make
test-all`` runs more, freshly random each run ("random" profile), and hypothesis prints the
shrunk falsifying example of any failure (with the draw's notes: design, values, tolerance).
"""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, note, settings
from hypothesis import strategies as st

from jaxkd import bootstrap, targets, teachers, uncertainty
from jaxkd.students import linear
from jaxkd.theory import closed_forms as cf

Z_PROPERTY = 5.0
# An eighth of the profile's examples (3 in make test, 25 in make test-all): simulations cost
# a compile per new shape.
_EXAMPLES = settings(max_examples=max(3, settings.default.max_examples // 8), deadline=None)


def SIMULATION(test):
    """The simulation settings, the test body in float64."""
    def body(*args, **kwargs):
        with jax.enable_x64(True):
            return test(*args, **kwargs)

    return _EXAMPLES(functools.wraps(test)(body))


@st.composite
def designs(draw, intercept=True):
    """A training design (n, d) with condition number up to 100 and a test design from a
    shifted, rescaled distribution; rows and features from small sets (compiled programs are
    reused across examples)."""
    n = draw(st.sampled_from([24, 40, 64]))
    d = draw(st.sampled_from([2, 3, 5]))
    log_cond = draw(st.floats(0.0, math.log(100.0)))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    scales = np.exp(np.linspace(0.0, -log_cond, d))
    Z = rng.normal(size=(n, d)) @ (Q * scales).T
    Zt = 1.5 * rng.normal(size=(16, d)) @ (Q * scales).T + 0.3
    if intercept:
        Z, Zt = np.column_stack([Z, np.ones(n)]), np.column_stack([Zt, np.ones(len(Zt))])
    note(f"design n={n}, d={Z.shape[1]}, condition number {np.linalg.cond(Z):.3g}, seed {seed}")
    return Z, Zt, rng


def _wishart_trace_sd(C, N):
    """SD of tr of the unbiased sample covariance of N Gaussian draws with covariance C."""
    return math.sqrt(2.0 * float(np.sum(C * C)) / (N - 1))


@SIMULATION
@given(designs(), st.floats(0.05, 4.0), st.integers(1, 6))
def test_inter_student_variance_is_4_1_and_7_1(design, sigma2, k):
    X, X_test, rng = design
    mu = X @ rng.normal(size=X.shape[1])
    N = 2000
    resp = teachers.sample_responses(jax.random.key(int(rng.integers(2**31))), mu, sigma2, k=k, num_students=N)
    preds = linear.predict(linear.fit(X, targets.average(resp)), X_test)
    V = float(uncertainty.inter_student_variance(preds))
    C = sigma2 / k * np.asarray(cf.test_leverage_matrix(X, X_test))  # Cov of the test predictions
    tol = Z_PROPERTY * _wishart_trace_sd(C, N) / X_test.shape[0]
    note(f"V simulated {V:.6g}, closed form {float(cf.inter_student_variance(X, X_test, sigma2, k)):.6g}, tol {tol:.3g}")
    assert abs(V - float(cf.inter_student_variance(X, X_test, sigma2, k))) <= tol


def _quadratic_form_cumulants(b, C):
    """Cumulants 2 and 4 of ||b + e||^2 with e ~ N(0, C)."""
    C2 = C @ C
    k2 = 2 * np.trace(C2) + 4 * b @ C @ b
    k4 = 48 * (np.trace(C2 @ C2) + 4 * b @ C2 @ C @ b)
    return k2, k4


@SIMULATION
@given(designs(), st.floats(0.05, 4.0), st.integers(1, 4), st.floats(0.0, 1.0))
def test_variance_of_the_test_mse_is_x_1(design, sigma2, k, bend):
    X, X_test, rng = design
    # A teacher partly outside the class, and labels of their own: the bias b is not zero.
    mu = X @ rng.normal(size=X.shape[1]) + bend * np.sin(2 * X[:, 0])
    y_test = X_test @ rng.normal(size=X.shape[1]) + rng.normal(size=X_test.shape[0])
    N = 4000
    resp = teachers.sample_responses(jax.random.key(int(rng.integers(2**31))), mu, sigma2, k=k, num_students=N)
    mse = uncertainty.mse(linear.predict(linear.fit(X, targets.average(resp)), X_test), y_test)
    observed = float(jnp.var(mse, ddof=1))
    m = X_test.shape[0]
    H = np.asarray(cf.test_leverage_matrix(X, X_test))
    bias = X_test @ np.linalg.solve(X.T @ X, X.T @ mu) - y_test
    k2, k4 = _quadratic_form_cumulants(bias, sigma2 / k * H)
    sd = math.sqrt(k4 / N + 2 * k2**2 / (N - 1)) / m**2  # SD of a sample variance of MSE = Q / m
    predicted = float(cf.test_mse_variance(X, X_test, mu, y_test, sigma2, k))
    note(f"Var(MSE) simulated {observed:.6g}, closed form {predicted:.6g}, tol {Z_PROPERTY * sd:.3g}")
    assert abs(observed - predicted) <= Z_PROPERTY * sd


@SIMULATION
@given(designs(), st.floats(0.0, 3.0), st.sampled_from([8, 16, 32]))
def test_heteroscedastic_bootstrap_variance_is_the_x_2_sandwich(design, hetero, multiple):
    X, X_test, rng = design
    n, d = X.shape
    y = X @ rng.normal(size=d) + (0.3 + hetero * np.abs(X[:, 0])) * rng.normal(size=n)
    b = multiple * n
    N = 4000
    counts = bootstrap.resample_counts(jax.random.key(int(rng.integers(2**31))), n, b, num_students=N)
    preds = linear.predict(linear.fit_weighted(X, y, counts), X_test)
    q = np.asarray(uncertainty.inter_student_contributions(preds))
    V, se = q.mean(), q.std(ddof=1) / math.sqrt(N)
    resid = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
    predicted = float(cf.sandwich_bootstrap_variance(X, resid, X_test, b))
    # 'About': the resampled Gram matrix inflates the variance by ~(d + 1)/b (b/(b-d-1) for
    # Gaussian designs); three times that allows for a non-Gaussian design's leverage.
    allowance = 3 * (d + 1) / b * predicted
    note(f"V simulated {V:.6g} +- {se:.3g}, sandwich/b {predicted:.6g}, allowance {allowance:.3g}")
    assert abs(V - predicted) <= Z_PROPERTY * se + allowance


@SIMULATION
@given(st.floats(0.01, 10.0), st.floats(0.01, 10.0))
def test_combining_two_estimates_is_7_3_and_7_4(var_t, var_s):
    n, N = 64, 1000
    mu = np.linspace(-1.0, 1.0, n)
    key_t, key_s = jax.random.split(jax.random.key(int(1e6 * var_t) + int(1e3 * var_s)))
    y_t = targets.single(teachers.sample_responses(key_t, mu, var_t, num_students=N))
    y_s = targets.single(teachers.sample_responses(key_s, mu, var_s, num_students=N))
    z = np.asarray(targets.combine(y_t, var_t, y_s, var_s)) - mu
    minimum = float(cf.min_combination_variance(var_t, var_s))
    # The mean of N n squared Gaussian errors: chi-square, SD minimum * sqrt(2 / (N n)).
    assert abs(np.mean(z**2) - minimum) <= Z_PROPERTY * minimum * math.sqrt(2 / (N * n))
    # The simulated variance is smallest at the closed-form weight: its derivative there is 0.
    e_t, e_s = np.asarray(y_t) - mu, np.asarray(y_s) - mu
    a = float(cf.inverse_variance_weights(var_t, var_s)[0])
    grad = 2 * (e_t - e_s) * (a * e_t + (1 - a) * e_s)  # d/da of (a e_t + (1 - a) e_s)^2
    assert abs(grad.mean()) <= Z_PROPERTY * grad.std() / math.sqrt(grad.size)


@SIMULATION
@given(st.lists(st.floats(0.05, 1.0), min_size=2, max_size=5), st.integers(1, 12))
def test_entropy_of_k_sampled_answers_is_c_1(weights, k):
    p = np.asarray(weights) / np.sum(weights)
    N = 4000
    answers = teachers.sample_answers(jax.random.key(k), p, k=k, num_students=N)
    h = np.asarray(uncertainty.entropy(uncertainty.empirical_distribution(answers, p.size)))
    mean, var = (float(x) for x in cf.empirical_entropy_moments(p, k))
    assert float(cf.expected_empirical_entropy(p, k)) <= float(cf.entropy(p))  # Jensen
    assert abs(h.mean() - mean) <= Z_PROPERTY * math.sqrt(var / N) + 1e-12


@SIMULATION
@given(st.sampled_from([30, 200]), st.sampled_from([2, 5, 10]), st.floats(0.0, 1.0), st.floats(0.1, 2.0))
def test_floor_corrected_between_student_variance_is_s_1(students, samples, between, within):
    dims = 32
    key_m, key_s = jax.random.split(jax.random.key(int(1e6 * between) + samples))
    means = teachers.sample_responses(key_m, np.zeros(dims), between, num_students=students)[:, 0]
    draws = jax.vmap(teachers.gaussian_responses, in_axes=(0, 0, None, None))(
        jax.random.split(key_s, students), means, within, samples)
    est = {k: float(x) for k, x in uncertainty.between_student_variance(draws).items()}
    floor = float(cf.between_student_floor(within, samples))
    # Balanced one-way ANOVA: independent scaled chi-squares with (N-1) dims and N(n-1) dims df.
    sd = math.sqrt(2 * (between + floor) ** 2 / ((students - 1) * dims)
                   + 2 * floor**2 / (students * (samples - 1) * dims))
    assert abs(est["corrected"] - between) <= Z_PROPERTY * sd
    assert abs(est["floor"] - floor) <= Z_PROPERTY * floor * math.sqrt(2 / (students * (samples - 1) * dims))
