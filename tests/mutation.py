"""Mutation testing of the verification: every closed form, made wrong on purpose, must fail.

Each :class:`Mutant` replaces one function of :mod:`jaxkd.theory.closed_forms` (or, for
X.4-X.7, of :mod:`jaxkd.theory.objectives`) by a wrong version: scaled by 1.1 or 0.9, or with one of its terms dropped or its coefficient changed.
:func:`caught` runs the whole verification with the mutant in place and reports the checks
that failed; a mutant no check catches means the verification could not tell that formula from
a wrong one. The simulations are the same for every mutant (they are jaxkd's code, not the
closed forms), so one :class:`~jaxkd.theory.verify.Context` serves them all and a mutant costs
only the comparisons.

``python tests/mutation.py 100 300 1000`` prints the table: each mutant and the
smallest number of students (``num_students`` of :func:`jaxkd.theory.verify.verify`) among
those given at which it is caught.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from types import ModuleType
from typing import Callable
from unittest import mock

import jax
import jax.numpy as jnp

from jaxkd.theory import closed_forms as cf
from jaxkd.theory import objectives as ob
from jaxkd.theory import verify as tv
from jaxkd.theory.checks import Check


@dataclasses.dataclass(frozen=True)
class Mutant:
    """``function`` of ``module`` (closed_forms, or objectives for X.4-X.7) replaced by
    ``make(original)``."""

    result: str
    description: str
    function: str
    make: Callable[[Callable], Callable]
    module: ModuleType = cf

    @contextlib.contextmanager
    def applied(self):
        original = getattr(self.module, self.function)
        with mock.patch.object(self.module, self.function, self.make(original)):
            yield


def scaled(factor: float) -> Callable[[Callable], Callable]:
    """The function's every output times ``factor``."""
    def make(f):
        return lambda *args, **kwargs: jax.tree.map(lambda x: factor * x, f(*args, **kwargs))
    return make


def replaced(g: Callable) -> Callable[[Callable], Callable]:
    """Another formula in the function's place (``g`` ignores the original)."""
    return lambda f: g


def _sigma_inv(Sigma):
    return jnp.linalg.inv(Sigma)


def _quad(X_test, M):
    X_test = jnp.asarray(X_test)
    return jnp.mean(jnp.sum((X_test @ M) * X_test, axis=1))


def _scale_and_terms(result, function, terms=(), module: ModuleType = cf) -> list[Mutant]:
    """x1.1 and x0.9 of ``function``, then the named term mutants ``(description, make)``."""
    return ([Mutant(result, f"{function} x 1.1", function, scaled(1.1), module),
             Mutant(result, f"{function} x 0.9", function, scaled(0.9), module)]
            + [Mutant(result, f"{function}: {desc}", function, make, module) for desc, make in terms])


MUTANTS: tuple[Mutant, ...] = tuple(
    _scale_and_terms("2.2", "ols_covariance", [
        ("sigma^2 dropped", replaced(lambda X, sigma2: jnp.linalg.inv(jnp.asarray(X).T @ jnp.asarray(X))))])
    + _scale_and_terms("4.1", "inter_student_variance", [
        ("sigma^2 dropped", replaced(lambda X, X_test, sigma2, k=1: cf.mean_test_leverage(X, X_test) / k)),
        ("1/k dropped", replaced(lambda X, X_test, sigma2, k=1: sigma2 * cf.mean_test_leverage(X, X_test)))])
    + _scale_and_terms("4.2", "teacher_mse", [
        ("bias term dropped", replaced(lambda X, X_test, sigma2, mu_test=None, theta_mean=None, k=1:
                                       cf.inter_student_variance(X, X_test, sigma2, k))),
        ("variance term dropped", replaced(lambda X, X_test, sigma2, mu_test=None, theta_mean=None, k=1:
                                           0.0 if mu_test is None else cf.prediction_bias(X_test, theta_mean, mu_test)))])
    + _scale_and_terms("4.3", "ground_truth_mse", [
        ("bias term dropped", replaced(lambda X, X_test, th_t, th_gt, sigma2, tau2:
                                       cf.inter_student_variance(X, X_test, sigma2) + tau2)),
        ("sigma^2 c dropped", replaced(lambda X, X_test, th_t, th_gt, sigma2, tau2:
                                       cf.prediction_bias(X_test, th_t, jnp.asarray(X_test) @ th_gt) + tau2)),
        ("tau^2 dropped", replaced(lambda X, X_test, th_t, th_gt, sigma2, tau2:
                                   cf.prediction_bias(X_test, th_t, jnp.asarray(X_test) @ th_gt)
                                   + cf.inter_student_variance(X, X_test, sigma2)))])
    + _scale_and_terms("4.3", "observed_label_mse", [
        ("bias term dropped", replaced(lambda X, X_test, mu, y_test, sigma2: cf.inter_student_variance(X, X_test, sigma2))),
        ("sigma^2 c dropped", replaced(lambda X, X_test, mu, y_test, sigma2:
                                       cf.prediction_bias(X_test, cf.mean_student(X, mu), y_test)))])
    + [Mutant("5.1", "teacher_labelled_bootstrap_variance: 1e-6 instead of 0 (x1.1, x0.9 and dropping a "
              "term leave 0 unchanged)", "teacher_labelled_bootstrap_variance", replaced(lambda: 1e-6))]
    + _scale_and_terms("5.2", "ground_truth_bootstrap_variance", [
        ("Sigma in place of Sigma^-1", replaced(lambda X_test, Sigma, tau2, b: tau2 / b * _quad(X_test, Sigma))),
        ("Sigma^-1 dropped", replaced(lambda X_test, Sigma, tau2, b: tau2 / b * _quad(X_test, jnp.eye(Sigma.shape[0])))),
        ("tau^2 dropped", replaced(lambda X_test, Sigma, tau2, b: _quad(X_test, _sigma_inv(Sigma)) / b)),
        ("1/b dropped", replaced(lambda X_test, Sigma, tau2, b: tau2 * _quad(X_test, _sigma_inv(Sigma))))])
    + _scale_and_terms("5.3", "ground_truth_bootstrap_mse", [
        ("tau^2 dropped", replaced(lambda tau2, d, b, exact_gaussian=False:
                                   1.0 + d / ((b - d - 1) if exact_gaussian else b))),
        ("the 1 dropped", replaced(lambda tau2, d, b, exact_gaussian=False:
                                   tau2 * d / ((b - d - 1) if exact_gaussian else b))),
        ("the d/b term dropped", replaced(lambda tau2, d, b, exact_gaussian=False: tau2))])
    + _scale_and_terms("7.1", "averaged_response_variance", [
        ("sigma^2 dropped", replaced(lambda sigma2, k: 1.0 / k)),
        ("1/k dropped", replaced(lambda sigma2, k: sigma2))])
    + _scale_and_terms("7.2", "cramer_rao_bound", [
        ("sigma^2 dropped", replaced(lambda sigma2, k: 1.0 / k)),
        ("1/k dropped", replaced(lambda sigma2, k: sigma2))])
    + _scale_and_terms("7.3", "inverse_variance_weights", [
        ("s_T dropped from the denominators", replaced(lambda vt, vs: (vs / vs, vt / vs))),
        ("s_S dropped from the denominators", replaced(lambda vt, vs: (vs / vt, vt / vt)))])
    + _scale_and_terms("7.4", "min_combination_variance", [
        ("s_T dropped from the denominator", replaced(lambda vt, vs: vt * vs / vs)),
        ("s_S dropped from the denominator", replaced(lambda vt, vs: vt * vs / vt))])
    + _scale_and_terms("C.1", "expected_empirical_entropy")
    + _scale_and_terms("C.1", "empirical_entropy_moments")
    + _scale_and_terms("C.1", "miller_madow_gap", [
        ("the -1 dropped: K/(2k)", replaced(lambda p, k, order=1: jnp.asarray(p).shape[0] / (2.0 * k)))])
    + _scale_and_terms("X.1", "test_mse_variance")
    + _scale_and_terms("X.1", "test_mse_variance_linear_term", [
        ("dropped", scaled(0.0)), ("sigma^2 coefficient 4 -> 3", scaled(0.75))])
    + _scale_and_terms("X.1", "test_mse_variance_quadratic_term", [
        ("dropped", scaled(0.0)), ("sigma^4 coefficient 2 -> 1", scaled(0.5))])
    + _scale_and_terms("X.2", "sandwich_bootstrap_variance", [
        ("1/b dropped", replaced(lambda X, e, X_test, b: _quad(X_test, cf.sandwich_covariance(X, e))))])
    + _scale_and_terms("X.2", "sandwich_covariance", [
        ("Omega = tau^2 Sigma (5.2's homoscedastic form)", replaced(
            lambda X, e: jnp.mean(jnp.asarray(e) ** 2) * _sigma_inv(jnp.asarray(X).T @ jnp.asarray(X) / X.shape[0]))),
        ("one Sigma^-1 dropped", replaced(
            lambda X, e: _sigma_inv(jnp.asarray(X).T @ jnp.asarray(X) / X.shape[0])
            @ ((jnp.asarray(X) * (jnp.asarray(e) ** 2)[:, None]).T @ jnp.asarray(X) / X.shape[0])))])
    + _scale_and_terms("X.3", "bootstrap_observed_mse", [
        ("the full-data fit's MSE dropped", replaced(lambda X, y, X_test, y_test, b: cf.bootstrap_variance_term(X, y, X_test, b))),
        ("the variance term dropped", replaced(lambda X, y, X_test, y_test, b:
                                               cf.prediction_bias(X_test, cf.mean_student(X, y), y_test)))])
    + _scale_and_terms("X.3", "bootstrap_variance_term", [("dropped", scaled(0.0))])
    + _scale_and_terms("S.1", "between_student_floor", [
        ("1/n dropped", replaced(lambda within, n: within))])
    # X.4-X.7 (jaxkd.theory.objectives)
    + _scale_and_terms("X.4", "free_student", [
        ("the temperature-free optimum replaced by the uniform answer",
         replaced(lambda p, beta=0.0: jnp.full_like(jnp.asarray(p), 1.0 / jnp.asarray(p).shape[-1])))], module=ob)
    + _scale_and_terms("X.5", "forward_kl_entropy_gap", module=ob)
    + _scale_and_terms("X.6", "lumped_sequence_kd_entropy", module=ob)
    + _scale_and_terms("X.6", "lumped_sequence_kd_gap", [
        ("r/k in place of r/(2k)", replaced(lambda r, k: r / k))], module=ob)
    + _scale_and_terms("X.7", "lumped_student", [
        ("tail even at the teacher's tail mass for every beta (no mode seeking)",
         lambda f: lambda p, r, beta: f(p, r, 0.0))], module=ob)  # the forward-KL student for every beta
)


def caught(mutant: Mutant, ctx: tv.Context) -> list[Check]:
    """The checks that fail with ``mutant`` in place (simulations reused from ``ctx``)."""
    with mutant.applied(), jax.enable_x64(True):
        return [c for c in tv.run_checks(ctx) if not c.passed]


def table(student_counts=(100, 300, 1000), seed: int = 0, progress=None) -> list[tuple[Mutant, int | None, list[str]]]:
    """For each mutant: the smallest of ``student_counts`` at which verification fails, and
    the results whose checks failed there (None and [] when none catches it)."""
    rows: dict[int, tuple[Mutant, int | None, list[str]]] = {}
    for n in sorted(student_counts):
        with jax.enable_x64(True):
            ctx = tv.context(n, seed)
            clean = [c for c in tv.run_checks(ctx) if not c.passed]
        if clean:
            raise RuntimeError(f"the unmutated closed forms fail {len(clean)} checks at {n} students: "
                               + "; ".join(f"{c.result} {c.case}" for c in clean))
        for i, m in enumerate(MUTANTS):
            if i in rows:
                continue
            failed = caught(m, ctx)
            if failed:
                rows[i] = (m, n, sorted({c.result for c in failed}))
        if progress is not None:
            progress(n, len(rows))
    return [rows.get(i, (m, None, [])) for i, m in enumerate(MUTANTS)]


def main(argv=None) -> int:
    counts = [int(x) for x in (argv if argv is not None else sys.argv[1:])] or [100, 300, 1000]
    rows = table(counts, progress=lambda n, k: print(f"{n} students: {k} of {len(MUTANTS)} mutants caught",
                                                     file=sys.stderr))
    print("| result | mutant | caught at students | by the checks of |")
    print("|---|---|---|---|")
    for m, n, by in rows:
        print(f"| {m.result} | {m.description} | {n if n is not None else 'NOT CAUGHT'} | {', '.join(by)} |")
    return 0 if all(n is not None for _, n, _ in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
