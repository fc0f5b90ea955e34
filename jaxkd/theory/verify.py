"""Numerical verification of docs/theorems.md through jaxkd's own code path.

Every check simulates with the toolkit (``jaxkd.teachers`` -> ``jaxkd.targets`` ->
``jaxkd.students.linear`` / ``jaxkd.bootstrap`` -> ``jaxkd.uncertainty``) and compares the
simulated value with the closed form of :mod:`jaxkd.theory.closed_forms`. No check compares a
formula with itself: the predicted value always comes from a closed form, the observed value
from a simulation (or, for the exact results, from jaxkd's implementation or a different exact
computation).

Each check is a :class:`jaxkd.theory.checks.Check`; how it decides (docs/theorems.md, "How the
results are verified"):

* A stochastic check passes when ``|observed - predicted| <= Z * sd + allowance``. ``sd`` is
  the standard error of the simulated value, estimated from the simulation itself (never from
  the closed form under test); ``allowance`` is the size of a term the result states only
  "about" (named in the check's basis), zero for exact statements.
* ``Z`` (:data:`jaxkd.theory.checks.Z`) holds the family-wise error of a whole verify run at
  :data:`~jaxkd.theory.checks.FAMILY_WISE_ERROR`: Bonferroni over the
  :data:`~jaxkd.theory.checks.COMPARISONS` stochastic comparisons a full run makes,
  ``Z = Phi^{-1}(1 - FAMILY_WISE_ERROR / (2 COMPARISONS))`` (about 4.0).
* Students per check are a stated multiple of ``num_students`` (OLS students are cheap), so
  that at the default ``num_students`` every stochastic check resolves a relative error of
  :data:`RESOLUTION` in its closed form: its tolerance is at most half of it
  (``tests/test_verify.py`` holds every check to that).
* Exact results (5.1, the 7.3/7.4 identities, C.1 by enumeration) are held to a rounding bound.

Designs expose every term of the formula they test: Boston's own correlated features, a
Gaussian pool with a non-isotropic covariance and a test set from another distribution (so
``Sigma``, ``Sigma^{-1}`` and the identity give different answers), a heteroscedastic design for
the sandwich results, noise levels where each term of X.1 carries weight. Every term of a closed
form that is a sum carries weight at some point checked (4.3 where sigma^2 c dominates, X.3
against the full-data fit's own test predictions, C.1's variance at k = 2): each of
``tests/mutation.py``'s term mutants, one term alone 10% off, moves some check by at least two
tolerances at the default students. Everything runs in float64. X.4-X.9 (distillation
objectives) are checked by :mod:`jaxkd.theory.verify_objectives`; :data:`VERIFIERS` holds both. ``tests/mutation.py`` checks that a wrong closed form fails.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxkd import _validation as v
from jaxkd import bootstrap, rng, targets, teachers, uncertainty
from jaxkd.data import load_dataset, split
from jaxkd.students import linear
from jaxkd.theory import closed_forms as cf
from jaxkd.theory import verify_objectives
from jaxkd.theory.checks import EPS, Check, below, compare, exact

RESOLUTION = 0.05         # relative error in a closed form that every stochastic check resolves
DEFAULT_STUDENTS = 1000
CHUNK = 8192              # students simulated at a time (bounds memory)

# Students per check, as multiples of num_students (chosen so that the default resolves RESOLUTION).
OLS = 8          # 4.1, 4.2, 4.3, 7.1: V and mean test MSE of OLS students
COVARIANCE = 54  # 2.2: every entry of the coefficient covariance
X1 = 100         # X.1: the variance of a sample of test MSEs needs the most
BOOT = 14        # 5.2, 5.3: bootstrap students on the Gaussian pool
SANDWICH = 44    # X.2, X.3: bootstrap students on the heteroscedastic design
ENTROPY = 20     # C.1
ANOVA = 2        # S.1


@dataclasses.dataclass(frozen=True)
class Boston:
    """Boston Housing with an intercept column, and an OLS teacher fitted on it."""

    X: np.ndarray        # train design, (404, 14)
    X_test: np.ndarray   # (102, 14)
    y_train: np.ndarray  # standardized on the training split
    y_test: np.ndarray
    mu: np.ndarray       # OLS teacher's outputs on the training inputs, (404,)
    theta_teacher: np.ndarray


@dataclasses.dataclass
class Context:
    """What the checks share: the base number of students, the seed, Boston, and a memo of
    finished simulations (:meth:`simulated`). The memo holds only simulations (jaxkd's code,
    never a closed form), so a closed form swapped in later is compared with the same draws:
    ``tests/mutation.py`` reuses one context for every mutant."""

    num_students: int
    seed: int
    boston: Boston
    memo: dict = dataclasses.field(default_factory=dict)

    def key(self, name: str) -> jax.Array:
        return rng.stream(self.seed, f"verify/{name}")

    def students(self, multiple: int) -> int:
        return multiple * self.num_students

    def simulated(self, name: str, simulate: Callable[[], object]):
        """``simulate()`` once per context and name."""
        if name not in self.memo:
            self.memo[name] = simulate()
        return self.memo[name]


def context(num_students: int = DEFAULT_STUDENTS, seed: int = 0) -> Context:
    """A fresh :class:`Context` (call under ``jax.enable_x64``)."""
    sp = split(load_dataset("boston"), seed=0)
    X = np.asarray(linear.add_intercept(sp.X_train))
    X_test = np.asarray(linear.add_intercept(sp.X_test))
    theta_t = np.asarray(linear.fit(X, sp.y_train))
    return Context(num_students, seed, Boston(X, X_test, sp.y_train, sp.y_test, X @ theta_t, theta_t))


def _gaussian(key, shape) -> np.ndarray:
    return np.asarray(jax.random.normal(key, shape, dtype=jnp.float64))


def chunks(num: int, cap: int) -> tuple[int, int]:
    """(number of chunks, students per chunk) for about ``num`` students in equal chunks of at
    most ``cap`` (equal sizes: one compiled program per simulation). The count simulated is
    their product, ``num`` rounded up to a multiple of the chunk count."""
    count = max(1, -(-num // max(1, cap)))
    return count, -(-num // count)


def _ols_students(ctx: Context, name: str, X, mu, sigma2, num: int, *, k: int = 1,
                  make_target=None, measure=lambda theta: theta) -> np.ndarray:
    """``measure(theta)`` for about ``num`` OLS students (:func:`chunks`), each fitted on its
    own k noisy teacher responses around ``mu`` (jaxkd.teachers -> jaxkd.targets ->
    jaxkd.students.linear); ``make_target`` defaults to :func:`jaxkd.targets.average` (looked
    up at call time, so a patched engine is the one simulated). Concatenated along the student
    axis."""
    make_target = targets.average if make_target is None else make_target
    count, size = chunks(num, CHUNK // k)
    out = []
    for chunk in range(count):
        resp = teachers.sample_responses(rng.point_key(ctx.key(name), chunk), mu, sigma2, k=k, num_students=size)
        out.append(np.asarray(measure(linear.fit(X, make_target(resp)))))
    return np.concatenate(out)


def _mean_se(x) -> tuple[float, float, int]:
    """Mean, its standard error, and the number of students (first axis) behind it."""
    x = np.asarray(x, float)
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(x.size)), int(x.shape[0])


def _variance_estimate(preds) -> tuple[float, float, int]:
    """V, its standard error from the per-student contributions (jaxkd.uncertainty), and the
    number of students: preds (N, m)."""
    return _mean_se(uncertainty.inter_student_contributions(preds))


def _measured(result, case, predicted, estimate, *, basis, **kwargs) -> Check:
    """:func:`compare` with ``estimate = (observed, sd, students)``."""
    observed, sd, students = estimate
    return compare(result, case, predicted, observed, sd, students=students, basis=basis, **kwargs)


# --- Section 2 and 4: teacher output uncertainty ---------------------------------------------


def check_2_2(ctx: Context) -> list[Check]:
    B = ctx.boston
    sigma2 = 0.6 * float(B.y_train.var())  # not 1, so a formula without sigma^2 differs
    N = ctx.students(COVARIANCE)
    theta = ctx.simulated("2.2", lambda: _ols_students(ctx, "2.2", B.X, B.mu, sigma2, N,
                                                       make_target=targets.single))
    N = theta.shape[0]
    S = np.cov(theta.T)
    Sigma = np.asarray(cf.ols_covariance(B.X, sigma2))
    trace_sd = float(cf.sample_trace_sd(S, N))  # plug-in: from the simulated covariance
    entry_sd = np.sqrt((S**2 + np.outer(np.diag(S), np.diag(S))) / (N - 1))
    iu = np.triu_indices(S.shape[0])
    z = np.abs(S - Sigma)[iu] / entry_sd[iu]
    w = int(np.argmax(z))
    i, j = iu[0][w], iu[1][w]
    return [
        compare("2.2", f"tr Cov(theta_hat) = sigma^2 tr G^-1 (Boston, sigma^2 = {sigma2:.2g})", np.trace(Sigma),
                np.trace(S), trace_sd, students=N, basis="SE of tr(S), Wishart with the simulated S"),
        compare("2.2", f"each of the {z.size} entries of Cov(theta_hat) = sigma^2 G^-1 (the least "
                f"favourable shown: ({i}, {j}))", Sigma[i, j], S[i, j], entry_sd[i, j], students=N,
                basis="SE of each entry, Wishart with the simulated S", comparisons=int(z.size),
                scale=math.sqrt(Sigma[i, i] * Sigma[j, j])),
    ]


def check_4_1(ctx: Context, alphas=(0.25, 1.0, 2.0)) -> list[Check]:
    B = ctx.boston
    N = ctx.students(OLS)
    out = []
    for i, alpha in enumerate(alphas):
        sigma2 = alpha * float(B.y_train.var())
        V, se, n = ctx.simulated(f"4.1/{i}", lambda: _variance_estimate(_ols_students(
            ctx, f"4.1/{i}", B.X, B.mu, sigma2, N, make_target=targets.single,
            measure=lambda th: linear.predict(th, B.X_test))))
        out.append(compare("4.1", f"V = sigma^2 c (Boston, alpha = {alpha})",
                           cf.inter_student_variance(B.X, B.X_test, sigma2), V, se, students=n,
                           basis="SE of V from the per-student contributions"))
    return out


def _bend(X) -> np.ndarray:
    """A teacher component outside the linear class: a sine of one feature, a square of another."""
    return 0.5 * np.sin(2.0 * X[:, 0]) + 0.3 * X[:, 1] ** 2


def check_4_2(ctx: Context, sigma2=2.0) -> list[Check]:
    B = ctx.boston
    N = ctx.students(OLS)
    mu_test = B.X_test @ B.theta_teacher
    mse = lambda target: lambda th: uncertainty.mse(linear.predict(th, B.X_test), target)  # noqa: E731
    linear_case = ctx.simulated("4.2", lambda: _mean_se(_ols_students(
        ctx, "4.2", B.X, B.mu, sigma2, N, make_target=targets.single, measure=mse(mu_test))))
    # A teacher outside the student class: the bias term and the variance term are both about 0.08.
    mu_bent, mu_test_bent = B.mu + _bend(B.X), mu_test + _bend(B.X_test)
    bent = ctx.simulated("4.2/bias", lambda: _mean_se(_ols_students(
        ctx, "4.2/bias", B.X, mu_bent, sigma2, N, make_target=targets.single, measure=mse(mu_test_bent))))
    theta_bar = np.linalg.solve(B.X.T @ B.X, B.X.T @ mu_bent)
    return [
        _measured("4.2", f"E MSE vs teacher = sigma^2 c (linear teacher, Boston, sigma^2 = {sigma2})",
                  cf.teacher_mse(B.X, B.X_test, sigma2), linear_case, basis="SE of the mean over students"),
        _measured("4.2", f"E MSE vs teacher = bias + sigma^2 c (teacher outside the class, sigma^2 = {sigma2})",
                  cf.teacher_mse(B.X, B.X_test, sigma2, mu_test=mu_test_bent, theta_mean=theta_bar), bent,
                  basis="SE of the mean over students"),
    ]


def check_4_3(ctx: Context, sigma2=2.0, tau2=0.3) -> list[Check]:
    B = ctx.boston
    N = ctx.students(OLS)
    # Real data, fixed observed test labels (exact on Boston).
    real = ctx.simulated("4.3/boston", lambda: _mean_se(_ols_students(
        ctx, "4.3/boston", B.X, B.mu, sigma2, N, make_target=targets.single,
        measure=lambda th: uncertainty.mse(linear.predict(th, B.X_test), B.y_test))))
    # Synthetic ground truth y* = X* theta_gt + xi with fresh xi per student.
    shift = 0.2 * _gaussian(ctx.key("4.3/truth"), B.theta_teacher.shape)

    def synthetic(name, xi, sigma2, tau2, theta_gt):
        preds = _ols_students(ctx, name, B.X, B.mu, sigma2, N, make_target=targets.single,
                              measure=lambda th: linear.predict(th, B.X_test))
        y_star = B.X_test @ theta_gt + math.sqrt(tau2) * _gaussian(ctx.key(xi), preds.shape)
        return _mean_se(uncertainty.mse(preds, y_star))

    theta_gt = B.theta_teacher + shift
    synth = ctx.simulated("4.3/synthetic", lambda: synthetic("4.3/synthetic", "4.3/xi", sigma2, tau2, theta_gt))
    # Where the teacher-noise term dominates (82% of the MSE): loud teacher, quiet truth, a truth a
    # quarter as far from the teacher. At the point above sigma^2 c is 12% of the MSE, and a 10%
    # error in it moves the MSE by less than two tolerances; here by more than four.
    loud, quiet, theta_near = 4 * sigma2, tau2 / 6, B.theta_teacher + shift / 4
    noisy = ctx.simulated("4.3/noisy", lambda: synthetic("4.3/noisy", "4.3/noisy/xi", loud, quiet,
                                                               theta_near))
    return [
        _measured("4.3", f"E MSE vs observed labels = ||X*theta_bar - y*||^2/m + sigma^2 c (Boston, sigma^2 = {sigma2})",
                  cf.observed_label_mse(B.X, B.X_test, B.mu, B.y_test, sigma2), real,
                  basis="SE of the mean over students"),
        _measured("4.3", f"E MSE vs ground truth = bias + sigma^2 c + tau^2 (synthetic truth, tau^2 = {tau2})",
                  cf.ground_truth_mse(B.X, B.X_test, B.theta_teacher, theta_gt, sigma2, tau2), synth,
                  basis="SE of the mean over students"),
        _measured("4.3", f"E MSE vs ground truth = bias + sigma^2 c + tau^2 where sigma^2 c dominates "
                  f"(sigma^2 = {loud}, tau^2 = {quiet:.3g}, truth nearer the teacher)",
                  cf.ground_truth_mse(B.X, B.X_test, B.theta_teacher, theta_near, loud, quiet), noisy,
                  basis="SE of the mean over students"),
    ]


# --- Section 5.2: bootstrap ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Pool:
    """A large Gaussian sample with a non-isotropic covariance: rows drawn with replacement
    from it are (nearly) fresh Gaussian draws."""

    X: np.ndarray          # (n_pool, d), rows ~ N(0, Sigma)
    y: np.ndarray          # X theta + xi
    theta: np.ndarray
    tau2: float            # the noise level that generated y
    Sigma: np.ndarray      # the covariance that generated X
    Sigma_hat: np.ndarray  # X^T X / n_pool: the resampled population's second moment
    tau2_hat: float        # the resampled population's own residual variance
    L: np.ndarray          # Sigma = L L^T


# Eigenvalues of the pool's covariance: tr Sigma, tr Sigma^-1 and d all differ.
POOL_EIGENVALUES = (0.25, 0.5, 1.0, 2.0, 8.0)


def _pool(ctx: Context, n_pool=50_000, tau2=0.5) -> _Pool:
    def make():
        d = len(POOL_EIGENVALUES)
        Q, _ = np.linalg.qr(_gaussian(ctx.key("5/rotation"), (d, d)))
        L = Q * np.sqrt(POOL_EIGENVALUES)
        X = _gaussian(ctx.key("5/design"), (n_pool, d)) @ L.T
        theta = _gaussian(ctx.key("5/theta"), (d,))
        y = X @ theta + math.sqrt(tau2) * _gaussian(ctx.key("5/noise"), (n_pool,))
        resid = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
        return _Pool(X, y, theta, tau2, L @ L.T, X.T @ X / n_pool, float(resid @ resid / n_pool), L)

    return ctx.simulated("5/pool", make)


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
        def simulate():
            idx = bootstrap.resample_indices(ctx.key(f"5.1/{i}"), n, b, num_students=ctx.num_students)
            full = np.asarray(linear.resample_rank(X, idx)) == d
            theta = np.asarray(linear.fit_resampled(X, y_hat, idx))[full]
            rows = np.asarray(idx)[full]
            conds = np.linalg.cond(np.einsum("sbd,sbe->sde", X[rows], X[rows]))
            return float(np.max(np.abs(theta @ X_test.T - f_t))), float(conds.max()), int(full.sum())

        dev, cond, full = ctx.simulated(f"5.1/{i}", simulate)
        spread = float(cf.teacher_labelled_bootstrap_variance())
        tol = 10 * d * EPS * cond * float(np.max(np.abs(f_t)))
        out.append(exact("5.1", f"teacher-labelled bootstrap b={b}: largest |f_s - f_T| over {full} full-rank "
                         "resamples = the closed form's spread", math.sqrt(spread), dev if full else math.inf,
                         tol, "rounding: 10 d eps cond(G_b) max|f_T|"))
    return out


def _bootstrap_predictions(ctx: Context, pool: _Pool, b: int, name: str, X_test, num: int) -> np.ndarray:
    """Test predictions of about ``num`` OLS students (:func:`chunks`), each on b rows drawn
    with replacement from the pool (jaxkd.bootstrap, jaxkd.students.linear): (N, m)."""
    count, size = chunks(num, CHUNK * 64 // b)  # bounds the gathered (students, b, d) rows
    out = []
    for chunk in range(count):
        idx = bootstrap.resample_indices(rng.point_key(ctx.key(name), chunk), pool.X.shape[0], b, num_students=size)
        out.append(np.asarray(linear.predict(linear.fit_resampled(pool.X, pool.y, idx), X_test)))
    return np.concatenate(out)


def check_5_2(ctx: Context, sizes=(50, 100, 200, 400), m=200) -> list[Check]:
    pool = _pool(ctx)
    d = pool.X.shape[1]
    # Test inputs from the pool's distribution spread V over all d directions (its SE is then
    # smallest); x'Sigma x, x'x and x'Sigma^-1 x still average tr(Sigma^2), tr(Sigma) and d.
    X_test = _gaussian(ctx.key("5.2/test"), (m, d)) @ pool.L.T
    N = ctx.students(BOOT)
    out, logs = [], []
    for i, b in enumerate(sizes):
        est = ctx.simulated(f"5.2/{i}", lambda: _variance_estimate(
            _bootstrap_predictions(ctx, pool, b, f"5.2/{i}", X_test, N)))
        exact_b = float(cf.gaussian_design_bootstrap_variance(X_test, pool.Sigma_hat, pool.tau2_hat, b))
        out.append(_measured("5.2", f"ground-truth bootstrap variance = tau^2/(b-d-1) x'S^-1x (Gaussian design: "
                             f"5.2's (tau^2/b) x'S^-1x with b-d-1 for b), b={b}", exact_b, est,
                             basis="SE of V from the per-student contributions"))
        # 5.2 as a function of b, times the Gaussian design's finite-b inflation b/(b-d-1).
        approx = float(cf.ground_truth_bootstrap_variance(X_test, pool.Sigma_hat, pool.tau2_hat, b))
        logs.append((math.log(b), math.log(est[0]), est[1] / est[0],
                     math.log(approx * float(cf.finite_sample_inflation(b, d)))))
    lb, lv, rel_se, lpred = map(np.asarray, zip(*logs))
    w = (lb - lb.mean()) / np.sum((lb - lb.mean()) ** 2)
    slope, slope_se = float(w @ lv), float(np.sqrt(np.sum(w**2 * rel_se**2)))
    out.append(compare("5.2", "log-log slope of the variance against b = the slope of (tau^2/b) x'S^-1x "
                       "times b/(b-d-1)", float(w @ lpred), slope, slope_se, students=est[2],
                       basis="SE by the delta method", scale=1.0))
    return out


def check_5_3(ctx: Context, sizes=(25, 50, 100, 400), m=100) -> list[Check]:
    pool = _pool(ctx)
    n_pool, d = pool.X.shape
    N = ctx.students(BOOT)
    out = []
    for i, b in enumerate(sizes):
        def simulate():
            count, size = chunks(N, CHUNK * 64 // b)
            per_student = []
            for c in range(count):
                idx = bootstrap.resample_indices(rng.point_key(ctx.key(f"5.3/{i}"), c), n_pool, b, num_students=size)
                theta = np.asarray(linear.fit_resampled(pool.X, pool.y, idx))  # (size, d)
                # A fresh test set from the data's own distribution per student: 5.3's expectation.
                k1, k2 = jax.random.split(rng.point_key(ctx.key(f"5.3/test/{i}"), c))
                X_star = _gaussian(k1, (size, m, d)) @ pool.L.T
                y_star = X_star @ pool.theta + math.sqrt(pool.tau2) * _gaussian(k2, (size, m))
                preds = jax.vmap(linear.predict)(theta, X_star)
                per_student.append(np.asarray(jax.vmap(uncertainty.mse)(preds, y_star)))
            return _mean_se(np.concatenate(per_student))

        est = ctx.simulated(f"5.3/{i}", simulate)
        exact_b = float(cf.ground_truth_bootstrap_mse(pool.tau2, d, b, exact_gaussian=True))
        # The pool is finite: its own OLS error (~tau^2 d / n_pool) and duplicate draws
        # (excess inflated by ~b / n_pool) separate resampling from fresh sampling.
        finite = pool.tau2 * d / n_pool + abs(exact_b - pool.tau2) * b / n_pool
        out.append(_measured("5.3", f"bootstrap test MSE = tau^2(1 + d/(b-d-1)) (Gaussian design), b={b} "
                             f"(about tau^2(1+d/b) = {float(cf.ground_truth_bootstrap_mse(pool.tau2, d, b)):.4f})",
                             exact_b, est, allowance=finite, basis="SE of the mean + finite-pool terms"))
    return out


# --- Section 7: variance-aware distillation ---------------------------------------------------


def check_7_1(ctx: Context, ks=(1, 3, 10), alpha=0.6) -> list[Check]:
    B = ctx.boston
    sigma2 = alpha * float(B.y_train.var())
    N = ctx.students(OLS)
    n = B.X.shape[0]
    out = []
    for k in ks:
        def simulate():
            count, size = chunks(N, CHUNK // k)
            dev, preds = [], []
            for chunk in range(count):
                resp = teachers.sample_responses(rng.point_key(ctx.key(f"7.1/{k}"), chunk), B.mu, sigma2,
                                                 k=k, num_students=size)
                ybar = targets.average(resp)  # (size, n)
                dev.append(np.asarray(ybar) - B.mu)
                preds.append(np.asarray(linear.predict(linear.fit(B.X, ybar), B.X_test)))
            dev = np.concatenate(dev)
            var_ybar = float(np.mean(uncertainty.per_input_variance(dev)))
            sd = var_ybar * math.sqrt(2.0 / ((dev.shape[0] - 1) * n))
            return (var_ybar, sd, dev.shape[0]), _variance_estimate(np.concatenate(preds))

        var_ybar, V = ctx.simulated(f"7.1/{k}", simulate)
        out.append(_measured("7.1", f"Var(ybar_i) = sigma^2/k, k={k}", cf.averaged_response_variance(sigma2, k),
                             var_ybar, basis="SE of n sample variances, chi-square with the simulated value"))
        out.append(_measured("7.1", f"V = (sigma^2/k) c, k={k}", cf.inter_student_variance(B.X, B.X_test, sigma2, k),
                             V, basis="SE of V from the per-student contributions"))
    return out


def check_7_2(ctx: Context, k=9, n=80, sigma2=0.6) -> list[Check]:
    mu = _gaussian(ctx.key("7.2/mu"), (n,))

    def simulate():
        resp = teachers.sample_responses(ctx.key("7.2"), mu, sigma2, k=k, num_students=ctx.num_students)
        return {name: (np.asarray(f(resp)) - mu).ravel() for name, f in
                [("mean", targets.average), ("median", targets.median),
                 ("trimmed mean (20%)", targets.trimmed_mean), ("midrange", targets.midrange)]}

    err = ctx.simulated("7.2", simulate)
    sq_mean = err["mean"] ** 2
    N = ctx.num_students
    crb = float(cf.cramer_rao_bound(sigma2, k))
    mean, sd, _ = _mean_se(sq_mean)
    out = [compare("7.2", f"Var(sample mean) = Cramer-Rao bound sigma^2/k, k={k}", crb, mean, sd, students=N,
                   basis="SE of the mean squared error")]
    for name in ("median", "trimmed mean (20%)", "midrange"):
        excess, se, _ = _mean_se(sq_mean - err[name] ** 2)  # paired: the same responses
        out.append(below("7.2", f"Var(sample mean) - Var({name}) < 0: the Cramer-Rao bound {crb:.4g} is below "
                         f"the {name}'s variance", 0.0, excess, "SE of the paired difference", sd=se, students=N))
    return out


_VARIANCE_GRID = np.array([1e-3, 0.1, 0.5, 1.0, 2.0, 10.0, 1e3])


def _combination_draws(ctx: Context, var_t=0.8, var_s=0.3, n=256):
    """Errors of two independent unbiased estimates of the same teacher means (jaxkd.teachers),
    ``(e_t, e_s)`` with shape (N, n), and of jaxkd's combination of them (jaxkd.targets)."""
    def simulate():
        mu = _gaussian(ctx.key("7.3/mu"), (n,))
        N = ctx.num_students
        y_t = targets.single(teachers.sample_responses(ctx.key("7.3/t"), mu, var_t, num_students=N))
        y_s = targets.single(teachers.sample_responses(ctx.key("7.3/s"), mu, var_s, num_students=N))
        z = targets.combine(y_t, var_t, y_s, var_s)
        return np.asarray(y_t) - mu, np.asarray(y_s) - mu, np.asarray(z) - mu

    return ctx.simulated("7.3", simulate)


def _minimiser(e_t: np.ndarray, e_s: np.ndarray) -> float:
    """argmin over a of the sample mean of (a e_t + (1 - a) e_s)^2."""
    stt, sss, sts = np.mean(e_t * e_t), np.mean(e_s * e_s), np.mean(e_t * e_s)
    return float((sss - sts) / (stt + sss - 2 * sts))


def check_7_3(ctx: Context, var_t=0.8, var_s=0.3) -> list[Check]:
    vt, vs = np.meshgrid(_VARIANCE_GRID, _VARIANCE_GRID)
    a_t, a_s = (np.asarray(w) for w in targets.inverse_variance_weights(vt, vs))
    c_t, c_s = (np.asarray(w) for w in cf.inverse_variance_weights(vt, vs))
    weight_err = float(max(np.max(np.abs(a_t - c_t)), np.max(np.abs(a_s - c_s))))
    e_t, e_s, _ = _combination_draws(ctx, var_t, var_s)
    # The minimiser of the simulated variance; its SE from 32 batches of students.
    batches = [_minimiser(t, s) for t, s in zip(np.array_split(e_t, 32), np.array_split(e_s, 32))]
    closed_t, closed_s = (float(w) for w in cf.inverse_variance_weights(var_t, var_s))
    return [
        exact("7.3", "jaxkd's weights (jaxkd.targets) = s_S/(s_T+s_S), s_T/(s_T+s_S) on 49 variance pairs",
              0.0, weight_err, 4 * EPS, "rounding"),
        compare("7.3", f"alpha_T = s_S/(s_T+s_S) minimises the simulated Var(a y_T + (1-a) y_S) "
                f"(s_T = {var_t}, s_S = {var_s})", closed_t, _minimiser(e_t, e_s),
                np.std(batches, ddof=1) / math.sqrt(len(batches)), students=ctx.num_students,
                basis="SE of the minimiser from 32 batches of students"),
        exact("7.3", "alpha_S = 1 - alpha_T", 1.0 - closed_t, closed_s, 4 * EPS, "rounding"),
    ]


def check_7_4(ctx: Context, var_t=0.8, var_s=0.3) -> list[Check]:
    vt, vs = np.meshgrid(_VARIANCE_GRID, _VARIANCE_GRID)
    mine = np.asarray(targets.combined_variance(vt, vs))
    closed = np.asarray(cf.min_combination_variance(vt, vs))
    rel = float(np.max(np.abs(mine - closed) / closed))
    _, _, z = _combination_draws(ctx, var_t, var_s)
    big = 1e12
    return [
        exact("7.4", "jaxkd's minimum (jaxkd.targets) = s_T s_S/(s_T+s_S) on 49 variance pairs (relative error)",
              0.0, rel, 4 * EPS, "rounding"),
        _measured("7.4", f"simulated Var(z) at jaxkd's weights = s_T s_S/(s_T+s_S) (s_T = {var_t}, s_S = {var_s})",
                  cf.min_combination_variance(var_t, var_s), _mean_se(z**2), basis="SE of the mean squared error"),
        below("7.4", "minimum / min(s_T, s_S) < 1 on the 49 pairs (largest ratio)", 1.0,
              float(np.max(closed / np.minimum(vt, vs))), "strict inequality"),
        exact("7.4", "s_T -> inf (1e12): minimum -> s_S = 0.7", 0.7, cf.min_combination_variance(big, 0.7),
              0.7 * 0.7 / big + 4 * EPS, "first-order remainder s_S^2/s_T"),
        exact("7.4", "s_S -> inf (1e12): minimum -> s_T = 0.7", 0.7, cf.min_combination_variance(0.7, big),
              0.7 * 0.7 / big + 4 * EPS, "first-order remainder s_T^2/s_S"),
        exact("7.4", "s_T = s_S = 1.3: minimum = 1.3/2", 0.65, cf.min_combination_variance(1.3, 1.3), 4 * EPS,
              "rounding"),
    ]


# --- Appendix C: suppression of the predictive distribution ----------------------------------


@jax.jit
def _answer_entropies(keys, probs, k_onehot):
    """Entropy of the empirical distribution of k sampled answers per student (jaxkd.teachers,
    jaxkd.uncertainty); ``k_onehot`` (k,) only carries k as a shape."""
    k = k_onehot.shape[0]
    answers = jax.vmap(teachers.categorical_responses, in_axes=(0, None, None))(keys, probs, k)
    return uncertainty.entropy(uncertainty.empirical_distribution(answers, probs.shape[0]))


# Where C.1's variance is checked against the simulated one: (the first p, k = 2), where H(p_hat_2)
# takes two values (0 and log 2) and a sample variance is sharpest (its tolerance 1.3% of the
# variance at the default students; 4.6-6% at k = 5 and 20, over the 2.5% that RESOLUTION allows).
ENTROPY_VARIANCE_POINT = (0, 2)


def check_c_1(ctx: Context) -> list[Check]:
    out = []
    N = ctx.students(ENTROPY)
    for j, p in enumerate([(0.5, 0.3, 0.2), (0.4, 0.3, 0.2, 0.1)]):
        p, label = np.asarray(p), "(" + ", ".join(str(x) for x in p) + ")"
        h_t = float(cf.entropy(p))
        for k in (1, 2, 5, 20):
            mean, var = (float(x) for x in cf.empirical_entropy_moments(p, k))
            marginal = float(cf.expected_empirical_entropy(p, k))
            out.append(exact("C.1", f"E H(p_hat_k): binomial marginals = enumeration, p={label}, k={k}", mean,
                             marginal, math.comb(k + p.size - 1, p.size - 1) * EPS * max(h_t, 1.0),
                             "rounding: (number of summed terms) x eps x H"))
            out.append(below("C.1", f"E H(p_hat_k) < H(p_T) = {h_t:.4f}, exact, p={label}, k={k}", h_t, mean,
                             "Jensen, strict for non-degenerate p_T"))
            h = ctx.simulated(f"C.1/{j}/{k}", lambda: np.asarray(_answer_entropies(
                rng.student_keys(ctx.key(f"C.1/{j}/{k}"), N), jnp.asarray(p), jnp.zeros(k))))
            if k == 1:  # one answer: the empirical distribution is a point mass, entropy exactly 0
                out.append(exact("C.1", f"simulated H(p_hat_1) = 0 for all {N} students, p={label}", mean,
                                 float(np.max(np.abs(h))), 0.0, "exact"))
            else:
                out.append(_measured("C.1", f"simulated E H(p_hat_k) = E H by enumeration, p={label}, k={k}",
                                     mean, _mean_se(h), basis="SE of the mean entropy"))
            if (j, k) == ENTROPY_VARIANCE_POINT:
                var_h, var_se = uncertainty.variance_with_se(h)
                out.append(_measured("C.1", f"simulated Var H(p_hat_k) = Var H by enumeration, p={label}, k={k}",
                                     var, (float(var_h), float(var_se), h.shape[0]),
                                     basis="SE of a sample variance, from the sample moments"))
        k = 200
        gap = h_t - float(cf.expected_empirical_entropy(p, k))
        first = float(cf.miller_madow_gap(p, k))
        second = float(cf.miller_madow_gap(p, k, order=2))
        out.append(exact("C.1", f"Miller-Madow: exact gap H(p_T) - E H(p_hat_k) = (K-1)/(2k), K={p.size}, k={k}",
                         first, gap, 2 * abs(second - first), "2 x the second-order term (Harris 1975)"))
    return out


# --- jaxkd's extensions (X.1-X.3) and the S.1 estimator ------------------------------------


def check_x_1(ctx: Context, cases=((0.5, 1), (2.0, 1), (4.0, 1), (4.0, 2))) -> list[Check]:
    """At alpha 0.5 the linear term is 86% of X.1, at alpha 4 the quadratic term is 56%: each
    term, and each coefficient, moves some case by more than the tolerance."""
    B = ctx.boston
    N = ctx.students(X1)
    out = []
    for i, (alpha, k) in enumerate(cases):
        sigma2 = alpha * float(B.y_train.var())

        def simulate():
            mse = _ols_students(ctx, f"X.1/{i}", B.X, B.mu, sigma2, N, k=k,
                                measure=lambda th: uncertainty.mse(linear.predict(th, B.X_test), B.y_test))
            var, se = uncertainty.variance_with_se(mse)
            return float(var), float(se), mse.shape[0]

        out.append(_measured("X.1", f"Var_students(test MSE vs truth) = (4 s b'H*b + 2 s^2 tr H*^2)/m^2, Boston, "
                             f"alpha={alpha}, k={k}", cf.test_mse_variance(B.X, B.X_test, B.mu, B.y_test, sigma2, k),
                             ctx.simulated(f"X.1/{i}", simulate),
                             basis="SE of a sample variance, from the sample moments"))
    return out


@dataclasses.dataclass(frozen=True)
class _Heteroscedastic:
    """Observed pairs whose noise grows with one feature, on correlated features with an
    intercept, and a fixed test set from a shifted distribution."""

    X: np.ndarray       # (n, d) with an intercept column
    y: np.ndarray
    X_test: np.ndarray  # (m, d)
    y_test: np.ndarray


def _heteroscedastic(ctx: Context, n=60, m=40) -> _Heteroscedastic:
    def make():
        L = np.array([[1.0, 0.0, 0.0, 0.0], [0.8, 0.6, 0.0, 0.0], [0.0, 0.5, 1.5, 0.0], [0.3, 0.0, 0.0, 0.4]])
        Z = _gaussian(ctx.key("X/design"), (n, 4)) @ L.T
        Zt = _gaussian(ctx.key("X/test"), (m, 4)) @ L.T + 0.5
        X, X_test = np.asarray(linear.add_intercept(Z)), np.asarray(linear.add_intercept(Zt))
        theta = np.array([1.0, -0.5, 0.3, 0.8, 0.2])
        scale = lambda A: 0.1 + np.abs(A[:, 0]) ** 2  # noqa: E731  the noise grows with feature 0
        y = X @ theta + scale(Z) * _gaussian(ctx.key("X/noise"), (n,))
        y_test = X_test @ theta + scale(Zt) * _gaussian(ctx.key("X/test-noise"), (m,))
        return _Heteroscedastic(X, y, X_test, y_test)

    return ctx.simulated("X/design", make)


def _sandwich_students(ctx: Context, data: _Heteroscedastic, b: int, name: str) -> dict:
    """Ground-truth bootstrap students on the heteroscedastic pairs (jaxkd.bootstrap counts,
    jaxkd.students.linear weighted fits): their V, their mean test MSE, and their mean squared
    distance from the full-data fit's test predictions, each as (value, SE, students)."""
    def simulate():
        N = ctx.students(SANDWICH)
        counts = bootstrap.resample_counts(ctx.key(name), data.X.shape[0], b, num_students=N)
        preds = np.asarray(linear.predict(linear.fit_weighted(data.X, data.y, counts), data.X_test))
        full = np.asarray(linear.predict(linear.fit(data.X, data.y), data.X_test))
        return {"V": _variance_estimate(preds), "mse": _mean_se(uncertainty.mse(preds, data.y_test)),
                "spread": _mean_se(uncertainty.mse(preds, full))}

    return ctx.simulated(name, simulate)


SANDWICH_SIZES = (32, 128, 512)  # b as multiples of n: the 'about' (inflation ~ d/b) shrinks with b


def check_x_2(ctx: Context) -> list[Check]:
    data = _heteroscedastic(ctx)
    n, d = data.X.shape
    resid = data.y - data.X @ np.linalg.lstsq(data.X, data.y, rcond=None)[0]
    out = []
    for r in SANDWICH_SIZES:
        b = r * n
        sim = _sandwich_students(ctx, data, b, f"X/{r}")
        pred = float(cf.sandwich_bootstrap_variance(data.X, resid, data.X_test, b))
        homo = float(cf.ground_truth_bootstrap_variance(data.X_test, data.X.T @ data.X / n, float(resid @ resid) / n, b))
        out.append(_measured("X.2", f"heteroscedastic bootstrap variance = x'S^-1 O S^-1 x/b, b={b} "
                             f"(5.2's homoscedastic form: {homo:.4g})", pred, sim["V"],
                             allowance=pred * (float(cf.finite_sample_inflation(b, d)) - 1.0),
                             basis="SE of V + finite-sample inflation b/(b-d-1) that the 'about' omits"))
    return out


def check_x_3(ctx: Context) -> list[Check]:
    data = _heteroscedastic(ctx)
    n, d = data.X.shape
    out = []
    for r in SANDWICH_SIZES:
        b = r * n
        sim = _sandwich_students(ctx, data, b, f"X/{r}")
        term = float(cf.bootstrap_variance_term(data.X, data.y, data.X_test, b))
        allowance = term * (float(cf.finite_sample_inflation(b, d)) - 1.0)
        out.append(_measured("X.3", f"bootstrap test MSE on a fixed test set = MSE(full fit) + tr(X*'X* Cov_b)/m, "
                             f"b={b}", cf.bootstrap_observed_mse(data.X, data.y, data.X_test, data.y_test, b),
                             sim["mse"], allowance=allowance,
                             basis="SE of the mean + finite-sample inflation of the variance term"))
        out.append(_measured("X.3", f"its variance term: mean squared distance of the students' test predictions "
                             f"from the full-data fit's = tr(X*'X* Cov_b)/m, b={b}", term, sim["spread"],
                             allowance=allowance, basis="SE of the mean + finite-sample inflation"))
        if r == SANDWICH_SIZES[0]:
            # The whole of X.3 where its variance term is all of it: labels equal to the full-data
            # fit's test predictions (its first term 0). On the observed labels that term is 0.2% of
            # the MSE, below the tolerance; here a 10% error in it is over four tolerances.
            fitted = data.X_test @ np.linalg.lstsq(data.X, data.y, rcond=None)[0]
            out.append(_measured("X.3", f"test MSE against the full-data fit's own test predictions (MSE(full fit) "
                                 f"= 0) = tr(X*'X* Cov_b)/m, b={b}",
                                 cf.bootstrap_observed_mse(data.X, data.y, data.X_test, fitted, b), sim["spread"],
                                 allowance=allowance, basis="SE of the mean + finite-sample inflation"))
    return out


def check_s_1(ctx: Context, samples=10, dims=128, within=1.0) -> list[Check]:
    out = []
    N = ctx.students(ANOVA)
    floor = float(cf.between_student_floor(within, samples))
    for between in (0.0, 0.5):
        # One-way random effects through jaxkd.teachers: each student's mean output is a noisy
        # response of a zero "teacher", and its samples are noisy responses around that mean.
        def simulate():
            means = teachers.sample_responses(ctx.key(f"S.1/means/{between}"), np.zeros(dims), between,
                                              num_students=N)[:, 0]
            keys = jax.random.split(ctx.key(f"S.1/samples/{between}"), N)
            draws = jax.vmap(teachers.gaussian_responses, in_axes=(0, 0, None, None))(keys, means, within, samples)
            return {k: float(x) for k, x in uncertainty.between_student_variance(draws).items()}

        est = ctx.simulated(f"S.1/{between}", simulate)
        # Balanced one-way ANOVA: both mean squares are scaled chi-squares (plug-in variances).
        sd_u = est["uncorrected"] * math.sqrt(2.0 / ((N - 1) * dims))
        sd_f = est["floor"] * math.sqrt(2.0 / (N * (samples - 1) * dims))
        setting = f"(N={N}, n={samples}, w={within}, {dims} dimensions)"
        out.append(compare("S.1", f"corrected between-student variance (jaxkd.uncertainty) = B, B={between} {setting}",
                           between, est["corrected"], math.hypot(sd_u, sd_f), students=N,
                           basis="SE, balanced one-way ANOVA mean squares", scale=max(between, floor)))
        out.append(compare("S.1", f"uncorrected variance of the student means = B + w/n, B={between}",
                           between + floor, est["uncorrected"], sd_u, students=N, basis="SE, chi-square"))
    return out


VERIFIERS: dict[str, Callable[[Context], list[Check]]] = {
    "2.2": check_2_2, "4.1": check_4_1, "4.2": check_4_2, "4.3": check_4_3,
    "5.1": check_5_1, "5.2": check_5_2, "5.3": check_5_3,
    "7.1": check_7_1, "7.2": check_7_2, "7.3": check_7_3, "7.4": check_7_4, "C.1": check_c_1,
    "X.1": check_x_1, "X.2": check_x_2, "X.3": check_x_3, "S.1": check_s_1,
    **verify_objectives.VERIFIERS,  # X.4-X.9 (distillation objectives; X.8, X.9 with the llm extra)
}


def run_checks(ctx: Context, results=None, progress=None) -> list[Check]:
    """The checks of ``results`` (default all) on an existing context (call under x64)."""
    checks = []
    for name in (list(VERIFIERS) if results is None else results):
        if progress is not None:
            progress(name)
        checks.extend(VERIFIERS[name](ctx))
    return checks


def verify(num_students: int = DEFAULT_STUDENTS, seed: int = 0, results=None, progress=None) -> list[Check]:
    """Run the verification of every result (or of ``results``, a list of identifiers).

    Args:
      num_students: base Monte Carlo students (>= 100); each check simulates a stated multiple
        of it (its ``students`` field), and tolerances shrink as its square root.
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
        return run_checks(context(num_students, seed), names, progress)
