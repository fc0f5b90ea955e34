"""Numerical verification of docs/theorems.md through jaxkd's own code path.

Every check simulates with the toolkit (``jaxkd.teachers`` -> ``jaxkd.targets`` ->
``jaxkd.students.linear`` -> ``jaxkd.uncertainty``) and compares with ``theory.closed_forms``.
Tolerances come from sampling theory: ``Z_TOL`` standard deviations of the Monte Carlo
estimate, computed in closed form where the estimator's distribution is known (Wishart,
Gaussian quadratic forms, exact enumeration) and from the simulated spread otherwise. Where a
result is itself an approximation ("about"), the size of the omitted term is added and named.
Exact results (5.1, 7.3, 7.4, C.1 by enumeration) are held to floating-point rounding.
Everything runs in float64.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxkd import bootstrap, rng, targets, teachers, uncertainty
from jaxkd import _validation as v
from jaxkd.data import load_dataset, split
from jaxkd.students import linear
from jaxkd.theory import closed_forms as cf

Z_TOL = 5.0
EPS = float(np.finfo(np.float64).eps)


@dataclasses.dataclass(frozen=True)
class Check:
    """One verified statement: ``passed`` iff ``|observed - predicted| <= tolerance``
    (or the one-sided comparison that ``case`` names)."""

    result: str
    case: str
    predicted: float
    observed: float
    tolerance: float
    passed: bool
    basis: str

    def to_json(self) -> dict:
        return {k: (float(x) if isinstance(x, (float, np.floating, jax.Array)) else x)
                for k, x in dataclasses.asdict(self).items()}


def _two_sided(result, case, predicted, observed, tolerance, basis) -> Check:
    predicted, observed, tolerance = float(predicted), float(observed), float(tolerance)
    ok = abs(observed - predicted) <= tolerance and math.isfinite(observed)
    return Check(result, case, predicted, observed, tolerance, bool(ok), basis)


@dataclasses.dataclass(frozen=True)
class Context:
    """Designs shared by the checks: Boston Housing (real) and a Gaussian design (synthetic)."""

    num_students: int
    seed: int
    X: np.ndarray        # Boston train design with intercept, (404, 14)
    X_test: np.ndarray   # (102, 14)
    y_train: np.ndarray  # standardized
    y_test: np.ndarray
    mu: np.ndarray       # OLS teacher's outputs on the training inputs, (404,)
    theta_teacher: np.ndarray

    def key(self, name: str) -> jax.Array:
        return rng.stream(self.seed, f"verify/{name}")

    def students(self, name, sigma2, k=1, make_target=targets.average, mu=None):
        """theta_hat for N students distilled from ``mu + noise`` (k responses each): (N, d)."""
        mu = self.mu if mu is None else mu
        resp = teachers.sample_responses(self.key(name), mu, sigma2, k=k,
                                         num_students=self.num_students)
        return linear.fit(self.X, make_target(resp))


def _boston_context(num_students: int, seed: int) -> Context:
    sp = split(load_dataset("boston"), seed=0)
    X = np.asarray(linear.add_intercept(sp.X_train))
    X_test = np.asarray(linear.add_intercept(sp.X_test))
    theta_t = np.asarray(linear.fit(X, sp.y_train))
    return Context(num_students, seed, X, X_test, sp.y_train, sp.y_test, X @ theta_t, theta_t)


def _gaussian(key, shape):
    return np.asarray(jax.random.normal(key, shape, dtype=jnp.float64))


# --- Section 2 and 4: teacher output uncertainty ---------------------------------------------


def check_2_2(ctx: Context) -> list[Check]:
    sigma2 = 1.0 * ctx.y_train.var()
    theta = np.asarray(ctx.students("2.2", sigma2, make_target=targets.single))
    S, Sigma = np.cov(theta.T), np.asarray(cf.ols_covariance(ctx.X, sigma2))
    n = ctx.num_students
    entry_sd = np.sqrt((Sigma**2 + np.outer(np.diag(Sigma), np.diag(Sigma))) / (n - 1))
    max_z = float(np.max(np.abs(S - Sigma) / entry_sd))
    sd = float(cf.sample_trace_sd(Sigma, n))
    trace = _two_sided("2.2", "tr Cov(theta_hat) = sigma^2 tr G^-1 (Boston, alpha=1)",
                       np.trace(Sigma), np.trace(S), Z_TOL * sd, "5 SD of tr(S), Wishart")
    entries = Check("2.2", "every entry of Cov(theta_hat) within 5 SD (largest abs z shown)",
                    0.0, max_z, Z_TOL, bool(max_z <= Z_TOL), "Wishart entry variances")
    return [trace, entries]


def check_4_1(ctx: Context, alphas=(0.25, 1.0, 2.0)) -> list[Check]:
    out = []
    A = np.asarray(cf.test_leverage_matrix(ctx.X, ctx.X_test))
    m = ctx.X_test.shape[0]
    for i, alpha in enumerate(alphas):
        sigma2 = alpha * ctx.y_train.var()
        theta = ctx.students(f"4.1/{i}", sigma2, make_target=targets.single)
        V = uncertainty.inter_student_variance(linear.predict(theta, ctx.X_test))
        sd = float(cf.sample_trace_sd(sigma2 * A, ctx.num_students)) / m
        out.append(_two_sided("4.1", f"V = sigma^2 c (Boston, alpha={alpha})",
                              cf.inter_student_variance(ctx.X, ctx.X_test, sigma2), V,
                              Z_TOL * sd, "5 SD of V, Wishart"))
    return out


def _mse_check(result, case, preds, target, mean_offset, cov, num_students):
    """Mean over students of (1/m)||pred - target||^2 against its Gaussian expectation."""
    m = cov.shape[0]
    mean_sq, var_sq = cf.quadratic_norm_moments(mean_offset, cov)
    observed = jnp.mean(uncertainty.mse(preds, target))
    sd = math.sqrt(float(var_sq) / num_students) / m
    return _two_sided(result, case, float(mean_sq) / m, observed, Z_TOL * sd,
                      "5 SD, Gaussian quadratic form")


def check_4_2(ctx: Context) -> list[Check]:
    sigma2 = 1.0 * ctx.y_train.var()
    A = np.asarray(cf.test_leverage_matrix(ctx.X, ctx.X_test))
    m = ctx.X_test.shape[0]
    theta = ctx.students("4.2", sigma2, make_target=targets.single)
    preds = linear.predict(theta, ctx.X_test)
    mu_test = ctx.X_test @ ctx.theta_teacher
    linear_case = _mse_check("4.2", "E MSE vs teacher = sigma^2 c (linear teacher, Boston)",
                             preds, mu_test, np.zeros(m), sigma2 * A, ctx.num_students)
    assert abs(linear_case.predicted - float(cf.teacher_mse(ctx.X, ctx.X_test, sigma2))) < 1e-9
    # A teacher outside the student class: OLS outputs plus a nonlinearity in the first feature.
    bend = lambda X: 0.5 * np.sin(2.0 * X[:, 0]) + 0.3 * X[:, 1] ** 2  # noqa: E731
    mu, mu_test = ctx.mu + bend(ctx.X), mu_test + bend(ctx.X_test)
    theta = ctx.students("4.2/bias", sigma2, make_target=targets.single, mu=mu)
    theta_bar = np.linalg.solve(ctx.X.T @ ctx.X, ctx.X.T @ mu)
    mis = _mse_check("4.2", "E MSE vs teacher = bias + sigma^2 c (nonlinear teacher)",
                     linear.predict(theta, ctx.X_test), mu_test, ctx.X_test @ theta_bar - mu_test,
                     sigma2 * A, ctx.num_students)
    closed = float(cf.teacher_mse(ctx.X, ctx.X_test, sigma2, mu_test=mu_test, theta_mean=theta_bar))
    assert abs(mis.predicted - closed) < 1e-9
    return [linear_case, mis]


def check_4_3(ctx: Context) -> list[Check]:
    sigma2 = 0.5 * ctx.y_train.var()
    A = np.asarray(cf.test_leverage_matrix(ctx.X, ctx.X_test))
    m = ctx.X_test.shape[0]
    # Real data, fixed observed test labels (exact on Boston).
    theta = ctx.students("4.3/boston", sigma2, make_target=targets.single)
    preds = linear.predict(theta, ctx.X_test)
    theta_bar = ctx.theta_teacher
    real = _mse_check("4.3", "E MSE vs observed labels = ||X*theta_bar - y*||^2/m + sigma^2 c",
                      preds, ctx.y_test, ctx.X_test @ theta_bar - ctx.y_test, sigma2 * A,
                      ctx.num_students)
    closed = float(cf.observed_label_mse(ctx.X, ctx.X_test, ctx.mu, ctx.y_test, sigma2))
    assert abs(real.predicted - closed) < 1e-9
    # Synthetic ground truth y* = X* theta_gt + xi with fresh xi per student.
    tau2 = 0.3
    theta_gt = ctx.theta_teacher + 0.2 * _gaussian(ctx.key("4.3/truth"), ctx.theta_teacher.shape)
    theta = ctx.students("4.3/synthetic", sigma2, make_target=targets.single)
    xi = math.sqrt(tau2) * _gaussian(ctx.key("4.3/xi"), (ctx.num_students, m))
    y_star = ctx.X_test @ theta_gt + xi  # (N, m)
    per_student = np.mean((np.asarray(linear.predict(theta, ctx.X_test)) - y_star) ** 2, axis=1)
    offset = ctx.X_test @ (ctx.theta_teacher - theta_gt)
    mean_sq, var_sq = cf.quadratic_norm_moments(offset, sigma2 * A + tau2 * np.eye(m))
    predicted = float(cf.ground_truth_mse(ctx.X, ctx.X_test, ctx.theta_teacher, theta_gt,
                                          sigma2, tau2))
    assert abs(predicted - float(mean_sq) / m) < 1e-9
    synth = _two_sided("4.3", "E MSE vs ground truth = bias + sigma^2 c + tau^2 (synthetic)",
                       predicted, per_student.mean(),
                       Z_TOL * math.sqrt(float(var_sq) / ctx.num_students) / m,
                       "5 SD, Gaussian quadratic form")
    return [real, synth]


# --- Section 5.2: bootstrap ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Pool:
    X: np.ndarray       # (n_pool, d) Gaussian design
    y: np.ndarray       # X theta + xi
    theta: np.ndarray
    tau2: float
    Sigma_hat: np.ndarray


def _pool(ctx: Context, n_pool=50_000, d=5, tau2=1.0) -> _Pool:
    X = _gaussian(ctx.key("5/design"), (n_pool, d))
    theta = _gaussian(ctx.key("5/theta"), (d,))
    y = X @ theta + math.sqrt(tau2) * _gaussian(ctx.key("5/noise"), (n_pool,))
    return _Pool(X, y, theta, tau2, X.T @ X / n_pool)


def check_5_1(ctx: Context, sizes=(20, 50, 200)) -> list[Check]:
    n, d = 200, 5
    X = _gaussian(ctx.key("5.1/design"), (n, d))
    y = X @ _gaussian(ctx.key("5.1/theta"), (d,)) + _gaussian(ctx.key("5.1/noise"), (n,))
    theta_t = np.asarray(linear.fit(X, y))
    y_hat = X @ theta_t  # noise-free teacher labels
    X_test = _gaussian(ctx.key("5.1/test"), (100, d))
    f_t = X_test @ theta_t
    out = []
    for i, b in enumerate(sizes):
        idx = bootstrap.resample_indices(ctx.key(f"5.1/{i}"), n, b, num_students=ctx.num_students)
        full = np.asarray(linear.resample_rank(X, idx)) == d
        theta = np.asarray(linear.fit_resampled(X, y_hat, idx))[full]
        dev = float(np.max(np.abs(theta @ X_test.T - f_t)))
        conds = np.linalg.cond(np.einsum("sbd,sbe->sde", X[np.asarray(idx)[full]],
                                         X[np.asarray(idx)[full]]))
        tol = 10 * d * EPS * float(conds.max()) * float(np.max(np.abs(f_t)))
        out.append(Check("5.1", f"teacher-labelled bootstrap b={b}: max |f_s - f_T| "
                         f"({int(full.sum())} full-rank resamples)", 0.0, dev, tol,
                         bool(dev <= tol and full.sum() > 0),
                         "rounding: 10 d eps cond(G_b) max|f_T|"))
    return out


def _bootstrap_predictions(ctx, pool, b, name, X_test):
    idx = bootstrap.resample_indices(ctx.key(name), pool.X.shape[0], b,
                                     num_students=ctx.num_students)
    theta = linear.fit_resampled(pool.X, pool.y, idx)
    return theta, linear.predict(theta, X_test)


def check_5_2(ctx: Context, sizes=(50, 100, 200, 400, 800)) -> list[Check]:
    pool = _pool(ctx)
    d = pool.X.shape[1]
    X_test = _gaussian(ctx.key("5.2/test"), (200, d))
    resid = pool.y - pool.X @ np.linalg.lstsq(pool.X, pool.y, rcond=None)[0]
    tau2_hat = float(resid.var())  # the resampled population's own noise level
    out, logs = [], []
    for i, b in enumerate(sizes):
        _, preds = _bootstrap_predictions(ctx, pool, b, f"5.2/{i}", X_test)
        q = np.asarray(uncertainty.inter_student_contributions(preds))
        V, se = float(q.mean()), float(q.std(ddof=1) / math.sqrt(q.size))
        approx = float(cf.ground_truth_bootstrap_variance(X_test, pool.Sigma_hat, tau2_hat, b))
        exact = float(cf.gaussian_design_bootstrap_variance(X_test, pool.Sigma_hat, tau2_hat, b))
        out.append(_two_sided("5.2", f"ground-truth bootstrap variance ~ (tau^2/b) x'S^-1x, b={b}",
                              approx, V, Z_TOL * se + abs(exact - approx),
                              "5 SE + the O(d/b) term 'about' omits"))
        logs.append((math.log(b), math.log(V), se / V, math.log(exact)))
    lb, lv, rel_se, lexact = map(np.asarray, zip(*logs))
    w = (lb - lb.mean()) / np.sum((lb - lb.mean()) ** 2)
    slope, slope_se = float(w @ lv), float(np.sqrt(np.sum(w**2 * rel_se**2)))
    exact_slope = float(w @ lexact)
    out.append(_two_sided("5.2", "log-log slope of variance against b", -1.0, slope,
                          Z_TOL * slope_se + abs(exact_slope + 1.0),
                          "5 SE (delta method) + Gaussian finite-b slope gap"))
    return out


def check_5_3(ctx: Context, sizes=(25, 50, 100, 400)) -> list[Check]:
    pool = _pool(ctx)
    n_pool, d = pool.X.shape
    m = 200
    out = []
    for i, b in enumerate(sizes):
        idx = bootstrap.resample_indices(ctx.key(f"5.3/{i}"), n_pool, b,
                                         num_students=ctx.num_students)
        theta = np.asarray(linear.fit_resampled(pool.X, pool.y, idx))  # (N, d)
        # A fresh Gaussian test set per student: the expectation 5.3 states.
        X_star = _gaussian(ctx.key(f"5.3/test/{i}"), (ctx.num_students, m, d))
        y_star = X_star @ pool.theta + math.sqrt(pool.tau2) * _gaussian(
            ctx.key(f"5.3/xi/{i}"), (ctx.num_students, m))
        preds = jax.vmap(linear.predict)(theta, X_star)
        per_student = np.asarray(jax.vmap(uncertainty.mse)(preds, y_star))
        se = float(per_student.std(ddof=1) / math.sqrt(per_student.size))
        exact = cf.ground_truth_bootstrap_mse(pool.tau2, d, b, exact_gaussian=True)
        # The pool is finite: its own OLS error (~tau^2 d / n_pool) and duplicate draws
        # (excess inflated by ~b / n_pool) separate resampling from fresh sampling.
        finite = pool.tau2 * d / n_pool + (exact - pool.tau2) * b / n_pool
        out.append(_two_sided("5.3", f"bootstrap test MSE = tau^2(1 + d/(b-d-1)), b={b} "
                              f"(about tau^2(1+d/b) = {cf.ground_truth_bootstrap_mse(pool.tau2, d, b):.4f})",
                              exact, per_student.mean(), Z_TOL * se + finite,
                              "5 SE + finite-pool terms"))
    return out


# --- Section 7: variance-aware distillation ---------------------------------------------------


def check_7_1(ctx: Context, ks=(1, 3, 10)) -> list[Check]:
    sigma2 = 1.0 * ctx.y_train.var()
    A = np.asarray(cf.test_leverage_matrix(ctx.X, ctx.X_test))
    n, m = ctx.X.shape[0], ctx.X_test.shape[0]
    out = []
    for k in ks:
        resp = teachers.sample_responses(ctx.key(f"7.1/{k}"), ctx.mu, sigma2, k=k,
                                         num_students=ctx.num_students)
        ybar = targets.average(resp)  # (N, n)
        var_ybar = float(jnp.mean(uncertainty.per_input_variance(ybar)))
        pred = cf.averaged_response_variance(sigma2, k)
        out.append(_two_sided("7.1", f"Var(ybar_i) = sigma^2/k, k={k}", pred, var_ybar,
                              Z_TOL * pred * math.sqrt(2.0 / ((ctx.num_students - 1) * n)),
                              "5 SD, chi-square"))
        V = uncertainty.inter_student_variance(linear.predict(linear.fit(ctx.X, ybar), ctx.X_test))
        sd = float(cf.sample_trace_sd(sigma2 / k * A, ctx.num_students)) / m
        out.append(_two_sided("7.1", f"V = (sigma^2/k) c, k={k}",
                              cf.inter_student_variance(ctx.X, ctx.X_test, sigma2, k), V,
                              Z_TOL * sd, "5 SD of V, Wishart"))
    return out


def check_7_2(ctx: Context, k=9, n=50, sigma2=1.0) -> list[Check]:
    mu = _gaussian(ctx.key("7.2/mu"), (n,))
    resp = teachers.sample_responses(ctx.key("7.2"), mu, sigma2, k=k, num_students=ctx.num_students)
    err = {name: np.asarray(f(resp)) - mu for name, f in
           [("mean", targets.average), ("median", targets.median),
            ("trimmed mean (20%)", targets.trimmed_mean), ("midrange", targets.midrange)]}
    crb = float(cf.cramer_rao_bound(sigma2, k))
    samples = err["mean"].size
    sq_mean = err["mean"] ** 2
    out = [_two_sided("7.2", f"Var(sample mean) = Cramer-Rao bound sigma^2/k, k={k}", crb,
                      sq_mean.mean(), Z_TOL * crb * math.sqrt(2.0 / samples), "5 SD, chi-square")]
    for name in ("median", "trimmed mean (20%)", "midrange"):
        diff = err[name] ** 2 - sq_mean  # paired: same responses, so the SE is small
        se = float(diff.std(ddof=1) / math.sqrt(samples))
        observed = float((err[name] ** 2).mean())
        out.append(Check("7.2", f"Var({name}) > Cramer-Rao bound (excess > 5 SE)", crb, observed,
                         Z_TOL * se, bool(diff.mean() > Z_TOL * se), "5 SE of the paired excess"))
    return out


_VARIANCE_GRID = np.array([1e-3, 0.1, 0.5, 1.0, 2.0, 10.0, 1e3])


def check_7_3(ctx: Context) -> list[Check]:
    vt, vs = np.meshgrid(_VARIANCE_GRID, _VARIANCE_GRID)
    a_t, a_s = (np.asarray(w) for w in targets.inverse_variance_weights(vt, vs))
    c_t, _ = (np.asarray(w) for w in cf.inverse_variance_weights(vt, vs))
    weight_err = float(np.max(np.abs(a_t - c_t)) + np.max(np.abs(a_t + a_s - 1.0)))
    out = [Check("7.3", "jaxkd weights = s_S/(s_T+s_S), sum to 1 (49 variance pairs)", 0.0,
                 weight_err, 4 * EPS, bool(weight_err <= 4 * EPS), "rounding")]
    # The weights minimise Var(z) over a fine grid of alpha in [0, 1].
    alphas = np.linspace(0.0, 1.0, 100_001)
    curve = np.asarray(cf.combination_variance(alphas[:, None, None], vt, vs))
    at_weights = np.asarray(cf.combination_variance(a_t, vt, vs))
    gap = float(np.max(at_weights - curve.min(axis=0)))
    out.append(Check("7.3", "Var at jaxkd weights <= min over 100,001 grid alphas", 0.0, gap,
                     16 * EPS * float(vt.max()), bool(gap <= 16 * EPS * float(vt.max())),
                     "rounding"))
    # Simulation: combine two independent unbiased estimates drawn through jaxkd.teachers.
    var_t, var_s, n = 0.8, 0.3, 64
    mu = _gaussian(ctx.key("7.3/mu"), (n,))
    y_t = targets.single(teachers.sample_responses(ctx.key("7.3/t"), mu, var_t, num_students=ctx.num_students))
    y_s = targets.single(teachers.sample_responses(ctx.key("7.3/s"), mu, var_s, num_students=ctx.num_students))
    z = np.asarray(targets.combine(y_t, var_t, y_s, var_s)) - mu
    pred = float(cf.min_combination_variance(var_t, var_s))
    out.append(_two_sided("7.3", "simulated Var(z) at the weights = s_T s_S/(s_T+s_S)", pred,
                          (z**2).mean(), Z_TOL * pred * math.sqrt(2.0 / z.size), "5 SD, chi-square"))
    return out


def check_7_4(ctx: Context) -> list[Check]:
    vt, vs = np.meshgrid(_VARIANCE_GRID, _VARIANCE_GRID)
    mine = np.asarray(targets.combined_variance(vt, vs))
    closed = np.asarray(cf.min_combination_variance(vt, vs))
    rel = float(np.max(np.abs(mine - closed) / closed))
    below = float(np.max(mine / np.minimum(vt, vs)))
    big = 1e12
    lim_s = float(targets.combined_variance(big, 0.7))
    lim_t = float(targets.combined_variance(0.7, big))
    half = float(targets.combined_variance(1.3, 1.3))
    return [
        Check("7.4", "jaxkd minimum = s_T s_S/(s_T+s_S) (relative error)", 0.0, rel, 4 * EPS,
              bool(rel <= 4 * EPS), "rounding"),
        Check("7.4", "minimum / min(s_T, s_S) < 1 on the grid (largest ratio)", 1.0, below, 0.0,
              bool(below < 1.0), "strict inequality"),
        _two_sided("7.4", "s_T -> inf (1e12): minimum -> s_S = 0.7", 0.7, lim_s,
                   0.7 * 0.7 / big + 4 * EPS, "first-order remainder s_S^2/s_T"),
        _two_sided("7.4", "s_S -> inf (1e12): minimum -> s_T = 0.7", 0.7, lim_t,
                   0.7 * 0.7 / big + 4 * EPS, "first-order remainder s_T^2/s_S"),
        _two_sided("7.4", "s_T = s_S = 1.3: minimum = 1.3/2", 0.65, half, 4 * EPS, "rounding"),
    ]


# --- Appendix C: suppression of the predictive distribution ----------------------------------


def check_c_1(ctx: Context) -> list[Check]:
    out = []
    for j, p in enumerate([(0.5, 0.3, 0.2), (0.4, 0.3, 0.2, 0.1)]):
        p, label = np.asarray(p), "(" + ", ".join(str(x) for x in p) + ")"
        h_t = float(cf.entropy(p))
        for k in (1, 2, 5, 20):
            mean, var = (float(x) for x in cf.empirical_entropy_moments(p, k))
            marginal = float(cf.expected_empirical_entropy(p, k))
            out.append(_two_sided("C.1", f"E H(p_hat_k): binomial marginals = enumeration, "
                                  f"p={label}, k={k}", mean, marginal,
                                  math.comb(k + p.size - 1, p.size - 1) * EPS * h_t,
                                  "rounding: (number of summed terms) x eps x H"))
            out.append(Check("C.1", f"E H(p_hat_k) < H(p_T), exact, p={label}, k={k}", h_t, mean,
                             0.0, bool(mean < h_t), "Jensen, strict for non-degenerate p_T"))
            answers = teachers.sample_answers(ctx.key(f"C.1/{j}/{k}"), p, k=k,
                                              num_students=ctx.num_students)
            h = np.asarray(uncertainty.entropy(uncertainty.empirical_distribution(answers, p.size)))
            out.append(_two_sided("C.1", f"simulated E H(p_hat_k) = enumeration, p={label}, k={k}",
                                  mean, h.mean(), Z_TOL * math.sqrt(var / ctx.num_students),
                                  "5 SD from the exact variance"))
        k = 200
        mean = cf.expected_empirical_entropy(p, k)
        first = float(cf.miller_madow_gap(p, k))
        second = float(cf.miller_madow_gap(p, k, order=2))
        out.append(_two_sided("C.1", f"Miller-Madow: gap = (K-1)/(2k), K={p.size}, k={k}", first,
                              h_t - float(mean), 2 * abs(second - first),
                              "2 x the second-order term (Harris 1975)"))
    return out


# --- jaxkd's extensions (X.1-X.3) and the S.1 estimator ------------------------------------


def _variance_sd(x: np.ndarray) -> float:
    """SD of the unbiased sample variance of i.i.d. draws ``x``, from their sample moments:
    ``sqrt((m4 - (N-3)/(N-1) s^4) / N)``."""
    n = x.size
    dev = x - x.mean()
    s2, m4 = float(dev @ dev / (n - 1)), float(np.mean(dev**4))
    return math.sqrt(max(m4 - (n - 3) / (n - 1) * s2**2, 0.0) / n)


def check_x_1(ctx: Context, cases=((0.25, 1), (1.0, 1), (2.0, 1), (1.0, 5))) -> list[Check]:
    out, by_alpha = [], {}
    for i, (alpha, k) in enumerate(cases):
        sigma2 = alpha * ctx.y_train.var()
        theta = ctx.students(f"X.1/{i}", sigma2, k=k, make_target=targets.average)
        mse = np.asarray(uncertainty.mse(linear.predict(theta, ctx.X_test), ctx.y_test))
        observed, sd = float(mse.var(ddof=1)), _variance_sd(mse)
        pred = cf.test_mse_variance(ctx.X, ctx.X_test, ctx.mu, ctx.y_test, sigma2, k)
        out.append(_two_sided("X.1", f"Var_students(test MSE vs truth), Boston, alpha={alpha}, k={k}",
                              pred, observed, Z_TOL * sd, "5 SD of a sample variance, sample moments"))
        if k == 1:
            by_alpha[alpha] = float(pred)
    # Upward curvature of the closed form itself: the chord from alpha 0.25 to 2 lies above it at 1.
    lo, mid, hi = by_alpha[0.25], by_alpha[1.0], by_alpha[2.0]
    chord = lo + (hi - lo) * (1.0 - 0.25) / (2.0 - 0.25)
    out.append(Check("X.1", "closed form convex in alpha: value at alpha=1 below the 0.25-2 chord",
                     chord, mid, 0.0, bool(mid < chord), "quadratic in sigma^2 with positive sigma^4 term"))
    return out


def _boston_bootstrap(ctx: Context, name: str, b: int):
    """Ground-truth bootstrap students on Boston: b of the n observed pairs, one OLS each."""
    n, d = ctx.X.shape
    idx = bootstrap.resample_indices(ctx.key(name), n, b, num_students=ctx.num_students)
    full = np.asarray(linear.resample_rank(ctx.X, idx)) == d
    theta = np.asarray(linear.fit_resampled(ctx.X, ctx.y_train, idx))[full]
    return linear.predict(theta, ctx.X_test)


def check_x_2(ctx: Context, sizes=(404, 1212, 3636)) -> list[Check]:
    n, d = ctx.X.shape
    resid = ctx.y_train - ctx.X @ ctx.theta_teacher
    out = []
    for i, b in enumerate(sizes):
        q = np.asarray(uncertainty.inter_student_contributions(_boston_bootstrap(ctx, f"X.2/{i}", b)))
        V, se = float(q.mean()), float(q.std(ddof=1) / math.sqrt(q.size))
        pred = float(cf.sandwich_bootstrap_variance(ctx.X, resid, ctx.X_test, b))
        homo = float(cf.ground_truth_bootstrap_variance(ctx.X_test, ctx.X.T @ ctx.X / n, float(resid @ resid) / n, b))
        gap = pred * (float(cf.finite_sample_inflation(b, d)) - 1.0)
        out.append(_two_sided("X.2", f"Boston ground-truth bootstrap variance = sandwich/b, b={b} "
                              f"(5.2's homoscedastic form: {homo:.4g})", pred, V, Z_TOL * se + gap,
                              "5 SE + finite-sample inflation b/(b-d-1)"))
    return out


def check_x_3(ctx: Context, sizes=(404, 1212, 3636)) -> list[Check]:
    n, d = ctx.X.shape
    resid = ctx.y_train - ctx.X @ ctx.theta_teacher
    out = []
    for i, b in enumerate(sizes):
        mse = np.asarray(uncertainty.mse(_boston_bootstrap(ctx, f"X.3/{i}", b), ctx.y_test))
        pred = float(cf.bootstrap_observed_mse(ctx.X, ctx.y_train, ctx.X_test, ctx.y_test, b))
        base = float(np.mean((ctx.X_test @ ctx.theta_teacher - ctx.y_test) ** 2))
        gap = (pred - base) * (float(cf.finite_sample_inflation(b, d)) - 1.0)
        out.append(_two_sided("X.3", f"Boston bootstrap test MSE = MSE(full fit) + tr(X*'X* Cov_b)/m, b={b} "
                              f"(5.3 would say tau^2(1+d/b) = {float(cf.ground_truth_bootstrap_mse(resid.var(), d, b)):.4g})",
                              pred, mse.mean(), Z_TOL * mse.std(ddof=1) / math.sqrt(mse.size) + gap,
                              "5 SE + finite-sample inflation of the variance term"))
    return out


def check_s_1(ctx: Context, students=100, samples=10, dims=50, within=1.0) -> list[Check]:
    out = []
    for between in (0.0, 0.05):
        # One-way random effects through jaxkd.teachers: each student's mean output is a noisy
        # response of a zero "teacher", and its samples are noisy responses around that mean.
        means = teachers.sample_responses(ctx.key(f"S.1/means/{between}"), np.zeros(dims), between,
                                          num_students=students)[:, 0]
        keys = jax.random.split(ctx.key(f"S.1/samples/{between}"), students)
        draws = jax.vmap(teachers.gaussian_responses, in_axes=(0, 0, None, None))(keys, means, within, samples)
        est = {k: float(x) for k, x in uncertainty.between_student_variance(draws).items()}
        floor = float(cf.between_student_floor(within, samples))
        sd = math.sqrt((2 * (between + floor) ** 2 / (students - 1)
                        + 2 * within**2 / (students * (samples - 1)) / samples**2) / dims)
        out.append(_two_sided("S.1", f"corrected between-student variance = B, B={between} "
                              f"(N={students}, n={samples}, w={within})", between, est["corrected"],
                              Z_TOL * sd, "5 SD, balanced one-way ANOVA mean squares"))
        if between == 0.0:
            sd_u = math.sqrt(2 * floor**2 / (students - 1) / dims)
            out.append(_two_sided("S.1", "identical students: uncorrected value sits at the floor w/n",
                                  floor, est["uncorrected"], Z_TOL * sd_u, "5 SD, chi-square"))
    return out


VERIFIERS: dict[str, Callable[[Context], list[Check]]] = {
    "2.2": check_2_2, "4.1": check_4_1, "4.2": check_4_2, "4.3": check_4_3,
    "5.1": check_5_1, "5.2": check_5_2, "5.3": check_5_3,
    "7.1": check_7_1, "7.2": check_7_2, "7.3": check_7_3, "7.4": check_7_4, "C.1": check_c_1,
    "X.1": check_x_1, "X.2": check_x_2, "X.3": check_x_3, "S.1": check_s_1,
}


def verify(num_students: int = 1000, seed: int = 0, results=None, progress=None) -> list[Check]:
    """Run the verification of every result (or of ``results``, a list of identifiers).

    Args:
      num_students: Monte Carlo students per check (>= 100; tolerances scale with it).
      seed: root seed; every check uses its own named stream.
      results: identifiers to verify, default all of ``VERIFIERS``.
      progress: optional callable taking the identifier about to run.

    Returns:
      The list of :class:`Check`, in docs/theorems.md order.
    """
    num_students = v.check_int("number of students", num_students, minimum=100)
    seed = v.check_int("seed", seed, minimum=0)
    names = list(VERIFIERS) if results is None else list(results)
    for name in names:
        v.check_choice("result", name, list(VERIFIERS))
    with jax.enable_x64(True):
        ctx = _boston_context(num_students, seed)
        checks = []
        for name in names:
            if progress is not None:
                progress(name)
            checks.extend(VERIFIERS[name](ctx))
    return checks
