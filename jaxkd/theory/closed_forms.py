"""Closed forms for the results in docs/theorems.md (jax.numpy only, no jaxkd imports).

Each function's docstring states its result as docs/theorems.md does; the ``RESULTS`` table at
the bottom maps every identifier (2.2, 4.1, ..., C.1, X.1-X.3) to its function. Designs are full column rank:
``X`` is (n, d), ``X_test`` is (m, d), ``G = X^T X``, ``c = tr(X_test G^{-1} X_test^T) / m``.
"""

from __future__ import annotations

import functools
import itertools

import jax

import jax.numpy as jnp
from jax.scipy.special import gammaln, xlogy


def _gram_inv(X):
    X = jnp.asarray(X)
    return jnp.linalg.inv(X.T @ X)


def test_leverage_matrix(X, X_test):
    """``A = X_test G^{-1} X_test^T``, (m, m): the covariance of test predictions per unit sigma^2."""
    X_test = jnp.asarray(X_test)
    return X_test @ _gram_inv(X) @ X_test.T


def mean_test_leverage(X, X_test):
    """``c = tr(X_test G^{-1} X_test^T) / m``."""
    return jnp.trace(test_leverage_matrix(X, X_test)) / jnp.asarray(X_test).shape[0]


def ols_covariance(X, sigma2):
    """**2.2** ``Cov(theta_hat) = sigma^2 G^{-1}`` for single-response (k = 1) distillation."""
    return sigma2 * _gram_inv(X)


def inter_student_variance(X, X_test, sigma2, k=1):
    """**4.1** (k = 1) and **7.1** (k responses averaged): inter-student variance on the test set.

    For each test x, ``Var(x^T theta_hat) = (sigma^2 / k) x^T G^{-1} x``, so
    ``V = (sigma^2 / k) c``: linear in sigma^2, decaying as 1/k.
    """
    return sigma2 / k * mean_test_leverage(X, X_test)


def prediction_bias(X_test, theta, target):
    """The squared bias term shared by 4.2, 4.3 and X.3: ``(1/m)||X* theta - target||^2`` for
    the mean student ``theta`` (d,) against ``target`` (m,) (teacher outputs or labels)."""
    return jnp.mean((jnp.asarray(X_test) @ theta - target) ** 2)


def mean_student(X, mu):
    """``theta_bar = G^{-1} X^T mu``: the OLS student of the noise-free teacher outputs (d,)."""
    X = jnp.asarray(X)
    return _gram_inv(X) @ (X.T @ mu)


def teacher_mse(X, X_test, sigma2, mu_test=None, theta_mean=None, k=1):
    """**4.2** Expected test MSE against the teacher's mean output.

    With a linear teacher (``mu = X theta_T``): ``E[(1/m)||X* theta_hat - X* theta_T||^2] =
    sigma^2 c``, the variance term (4.1's value). For a teacher the student class cannot
    represent, pass its test outputs ``mu_test`` (m,) and the mean student ``theta_mean =
    G^{-1} X^T mu`` (d,) to add the bias term ``(1/m)||X* theta_bar - mu*||^2``.
    """
    var = inter_student_variance(X, X_test, sigma2, k)
    if mu_test is None:
        return var
    return var + prediction_bias(X_test, theta_mean, mu_test)


def ground_truth_mse(X, X_test, theta_teacher, theta_truth, sigma2, tau2):
    """**4.3** ``E[MSE_gt] = (1/m)||X*(theta_T - theta_gt)||^2 + sigma^2 c + tau^2``
    for ground truth ``y* = X* theta_gt + xi``, ``xi ~ N(0, tau^2)``: teacher-truth bias,
    teacher-noise term (4.1's value) and irreducible noise.
    """
    bias = prediction_bias(X_test, theta_teacher, jnp.asarray(X_test) @ theta_truth)
    return bias + inter_student_variance(X, X_test, sigma2) + tau2


def observed_label_mse(X, X_test, mu, y_test, sigma2):
    """**4.3** on real data with fixed observed test labels:
    ``E_eps[MSE_gt] = (1/m)||X* theta_bar - y*||^2 + sigma^2 c``, ``theta_bar = G^{-1} X^T mu``.
    """
    return prediction_bias(X_test, mean_student(X, mu), y_test) + inter_student_variance(X, X_test, sigma2)


def test_mse_variance_linear_term(X, X_test, mu, y_test, sigma2, k=1):
    """**X.1**, the term linear in ``s = sigma^2 / k``: ``4 s b^T H* b / m^2``."""
    X_test = jnp.asarray(X_test)
    bias = X_test @ mean_student(X, mu) - y_test
    s = jnp.asarray(sigma2) / k  # scalar, or any shape of noise levels
    return 4.0 * s * (bias @ test_leverage_matrix(X, X_test) @ bias) / X_test.shape[0] ** 2


def test_mse_variance_quadratic_term(X, X_test, sigma2, k=1):
    """**X.1**, the term quadratic in ``s = sigma^2 / k``: ``2 s^2 tr(H*^2) / m^2``."""
    H = test_leverage_matrix(X, X_test)
    s = jnp.asarray(sigma2) / k
    return 2.0 * s**2 * jnp.sum(H * H) / jnp.asarray(X_test).shape[0] ** 2


def test_mse_variance(X, X_test, mu, y_test, sigma2, k=1):
    """**X.1** Variance across students of a linear student's test MSE against fixed labels.

    The residual on the test set is ``b + A eps`` with ``b = X* theta_bar - y*`` (m,),
    ``A = X* G^{-1} X^T`` and ``eps ~ N(0, (sigma^2 / k) I)``, so with ``H* = A A^T``:
    ``Var(MSE) = (4 s bᵀH*b + 2 s² tr(H*²)) / m²``, ``s = sigma^2 / k``: the sum of
    :func:`test_mse_variance_linear_term` and :func:`test_mse_variance_quadratic_term`.
    Quadratic in sigma^2: this curve bends upward even for OLS students.
    """
    return (test_mse_variance_linear_term(X, X_test, mu, y_test, sigma2, k)
            + test_mse_variance_quadratic_term(X, X_test, sigma2, k))


def sandwich_covariance(X, residuals):
    """**X.2** Heteroscedasticity-robust coefficient covariance per draw:
    ``Sigma^{-1} Omega Sigma^{-1}`` with ``Sigma = X^T X / n``, ``Omega = (1/n) sum e_i^2 x_i x_i^T``.
    A ground-truth bootstrap student on b draws has ``Cov(theta_hat) ~ sandwich / b``; it
    reduces to 5.2's ``tau^2 Sigma^{-1} / b`` when ``Omega = tau^2 Sigma``.
    """
    X, e = jnp.asarray(X), jnp.asarray(residuals)
    n = X.shape[0]
    Sigma_inv = jnp.linalg.inv(X.T @ X / n)
    Omega = (X * (e**2)[:, None]).T @ X / n
    return Sigma_inv @ Omega @ Sigma_inv


def sandwich_bootstrap_variance(X, residuals, X_test, b):
    """**X.2** Predictive variance of a ground-truth-bootstrap OLS student on b draws,
    ``x^T Sigma^{-1} Omega Sigma^{-1} x / b``, averaged over the rows of ``X_test``."""
    X_test = jnp.asarray(X_test)
    C = sandwich_covariance(X, residuals)
    return jnp.mean(jnp.sum((X_test @ C) * X_test, axis=1)) / b


def bootstrap_variance_term(X, y, X_test, b):
    """**X.3**, the variance term: ``tr(X*^T X* Cov_b) / m`` with ``Cov_b`` the X.2 sandwich
    of the full-data OLS residuals over b."""
    X, X_test = jnp.asarray(X), jnp.asarray(X_test)
    theta = mean_student(X, y)
    C = sandwich_covariance(X, y - X @ theta) / b
    return jnp.sum((X_test.T @ X_test) * C) / X_test.shape[0]


def bootstrap_observed_mse(X, y, X_test, y_test, b):
    """**X.3** Expected test MSE of ground-truth-bootstrap OLS students on a fixed test set:
    ``MSE(theta_full) + tr(X*^T X* Cov_b) / m`` (:func:`prediction_bias` of the full-data fit
    plus :func:`bootstrap_variance_term`). The first term is the full-data fit's error on that
    test set, not 5.3's ``tau^2``.
    """
    return (prediction_bias(X_test, mean_student(X, y), y_test)
            + bootstrap_variance_term(X, y, X_test, b))


def finite_sample_inflation(b, d):
    """``b / (b - d - 1)``: how much a Gaussian design's ``E[(X_b^T X_b)^{-1}]`` exceeds
    ``Sigma^{-1} / b`` (the size of the "about" in 5.2 and X.2; infinite for b <= d + 1)."""
    return jnp.where(b > d + 1, b / jnp.maximum(b - d - 1, 1), jnp.inf)


def between_student_floor(within_variance, num_samples):
    """**S.1** The floor of the uncorrected between-student variance: the variance across
    students of an n-sample mean is ``B + E[w] / n``; with B = 0 it is ``E[w] / n``."""
    return within_variance / num_samples


def teacher_labelled_bootstrap_variance():
    """**5.1** A teacher-labelled bootstrap of a noise-free OLS teacher is degenerate: every
    resample with full-rank design reproduces ``theta_T`` exactly, so the predictive variance
    is zero.
    """
    return 0.0


def ground_truth_bootstrap_variance(X_test, Sigma, tau2, b):
    """**5.2** Predictive variance of a ground-truth-bootstrap student fitted on b draws from
    ``y = X theta + xi``: about ``(tau^2 / b) x^T Sigma^{-1} x`` at x, ``Sigma = E[x x^T]``;
    returned averaged over the rows of ``X_test``. Decays as 1/b (log-log slope -1).
    """
    X_test = jnp.asarray(X_test)
    quad = jnp.mean(jnp.sum((X_test @ jnp.linalg.inv(Sigma)) * X_test, axis=1))
    return tau2 / b * quad


def gaussian_design_bootstrap_variance(X_test, Sigma, tau2, b):
    """The exact Gaussian-design counterpart of 5.2: ``tau^2/(b - d - 1) x^T Sigma^{-1} x``
    (``E[(X_b^T X_b)^{-1}] = Sigma^{-1} / (b - d - 1)``); the "about" in 5.2 is this gap.
    """
    d = jnp.asarray(X_test).shape[1]
    return ground_truth_bootstrap_variance(X_test, Sigma, tau2, 1.0) / (b - d - 1)


def ground_truth_bootstrap_mse(tau2, d, b, exact_gaussian=False):
    """**5.3** Expected test MSE of a ground-truth-bootstrap student on b draws: about
    ``tau^2 (1 + d / b)``, decreasing to tau^2; exactly ``tau^2 (1 + d / (b - d - 1))`` for
    Gaussian designs and fresh samples (``exact_gaussian=True``).
    """
    return tau2 * (1.0 + d / ((b - d - 1) if exact_gaussian else b))


def averaged_response_variance(sigma2, k):
    """**7.1** ``Var(ybar_i) = sigma^2 / k``; also ``Cov(theta_hat) = (sigma^2 / k) G^{-1}``."""
    return sigma2 / k


def cramer_rao_bound(sigma2, k):
    """**7.2** Under Gaussian teacher noise the sample mean of k responses is the UMVUE of
    ``mu_i`` (Lehmann-Scheffe): its variance ``sigma^2 / k`` equals the Cramer-Rao bound, and
    every other unbiased estimator (median, trimmed mean, midrange) has larger variance.
    """
    return sigma2 / k


def inverse_variance_weights(var_teacher, var_student):
    """**7.3** ``Var(a_T y_T + a_S y_S) = a_T^2 s_T + a_S^2 s_S`` with ``a_T + a_S = 1`` is
    minimised by ``a_T = s_S / (s_T + s_S)``, ``a_S = s_T / (s_T + s_S)``.
    """
    return var_student / (var_teacher + var_student), var_teacher / (var_teacher + var_student)


def combination_variance(alpha_teacher, var_teacher, var_student):
    """``Var(z) = a_T^2 s_T + (1 - a_T)^2 s_S`` for independent estimates (7.3)."""
    return alpha_teacher**2 * var_teacher + (1.0 - alpha_teacher) ** 2 * var_student


def min_combination_variance(var_teacher, var_student):
    """**7.4** The minimum of 7.3 is ``s_T s_S / (s_T + s_S)``: below ``min(s_T, s_S)``, tending
    to ``s_S`` as ``s_T -> inf``, to ``s_T`` as ``s_S -> inf``, and ``sigma^2 / 2`` when both
    equal ``sigma^2``.
    """
    return var_teacher * var_student / (var_teacher + var_student)


def entropy(p):
    """Shannon entropy in nats (``0 log 0 = 0``)."""
    p = jnp.asarray(p)
    return -jnp.sum(xlogy(p, p), axis=-1)


def _compositions(k: int, K: int) -> list[list[int]]:
    """All count vectors of k draws over K answers (stars and bars): C(k+K-1, K-1) rows."""
    return [
        [b - a - 1 for a, b in zip((-1,) + cuts, cuts + (k + K - 1,))]
        for cuts in itertools.combinations(range(k + K - 1), K - 1)
    ]


@functools.partial(jax.jit, static_argnums=1)
def empirical_entropy_moments(p, k: int):
    """**C.1** Exact mean and variance of ``H(p_hat_k)``, by enumerating multinomial outcomes.

    ``p_hat_k`` is the empirical distribution of k answers drawn from ``p_T = p``. Entropy is
    concave and ``E[p_hat_k] = p_T``, so Jensen gives ``E[H(p_hat_k)] <= H(p_T)``, with
    equality only for degenerate ``p_T``: single-response students are narrower than their
    teacher.

    Returns:
      ``(mean, variance)`` of ``H(p_hat_k)`` in nats.
    """
    p = jnp.asarray(p)
    counts = jnp.asarray(_compositions(k, p.shape[0]), p.dtype)  # (C, K), built at trace time
    log_pmf = gammaln(k + 1.0) - jnp.sum(gammaln(counts + 1.0), axis=1) + jnp.sum(
        xlogy(counts, p[None, :]), axis=1
    )
    pmf = jnp.exp(log_pmf)
    h = entropy(counts / k)
    mean = jnp.sum(pmf * h)
    return mean, jnp.sum(pmf * (h - mean) ** 2)


@functools.partial(jax.jit, static_argnums=1)
def expected_empirical_entropy(p, k: int):
    """**C.1** Exact ``E[H(p_hat_k)]`` in O(K k): by linearity only each count's marginal,
    ``c_i ~ Binomial(k, p_i)``, matters: ``E[H] = -sum_i E[(c_i/k) log(c_i/k)]``.
    """
    p = jnp.asarray(p)
    c = jnp.arange(k + 1, dtype=p.dtype)[:, None]  # (k+1, 1)
    p = p[None, :]  # (1, K)
    log_pmf = (gammaln(k + 1.0) - gammaln(c + 1.0) - gammaln(k - c + 1.0)
               + xlogy(c, p) + xlogy(k - c, 1.0 - p))  # (k+1, K)
    return -jnp.sum(jnp.exp(log_pmf) * xlogy(c / k, c / k))


def miller_madow_gap(p, k: int, order: int = 1):
    """**C.1** (extension) ``H(p_T) - E[H(p_hat_k)] ~ (K - 1) / (2k)`` for K answers with
    non-negligible mass; ``order=2`` adds Harris's (1975) next term
    ``-(1 - sum_i 1/p_i) / (12 k^2)``.
    """
    p = jnp.asarray(p)
    gap = (p.shape[0] - 1) / (2.0 * k)
    if order >= 2:
        gap = gap - (1.0 - jnp.sum(1.0 / p)) / (12.0 * k**2)
    return gap


def quadratic_norm_moments(mean, cov):
    """Sampling theory for tolerances: for ``Z ~ N(mean, cov)``,
    ``E||Z||^2 = ||mean||^2 + tr(cov)`` and ``Var||Z||^2 = 2 tr(cov^2) + 4 mean^T cov mean``.
    """
    mean, cov = jnp.asarray(mean), jnp.asarray(cov)
    return mean @ mean + jnp.trace(cov), 2.0 * jnp.sum(cov * cov.T) + 4.0 * mean @ cov @ mean


def sample_trace_sd(cov, num_samples: int):
    """SD of ``tr(S)`` for the unbiased sample covariance S of ``num_samples`` Gaussian draws:
    ``sqrt(2 tr(cov^2) / (N - 1))`` (Wishart).
    """
    cov = jnp.asarray(cov)
    return jnp.sqrt(2.0 * jnp.sum(cov * cov.T) / (num_samples - 1))


RESULTS = {
    "2.2": ols_covariance,
    "4.1": inter_student_variance,
    "4.2": teacher_mse,
    "4.3": ground_truth_mse,
    "5.1": teacher_labelled_bootstrap_variance,
    "5.2": ground_truth_bootstrap_variance,
    "5.3": ground_truth_bootstrap_mse,
    "7.1": averaged_response_variance,
    "7.2": cramer_rao_bound,
    "7.3": inverse_variance_weights,
    "7.4": min_combination_variance,
    "C.1": expected_empirical_entropy,
    "X.1": test_mse_variance,
    "X.2": sandwich_bootstrap_variance,
    "X.3": bootstrap_observed_mse,
    "S.1": between_student_floor,
}
