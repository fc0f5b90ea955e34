"""Mutation testing of the verification: every closed form, made wrong on purpose, must fail.

Each :class:`Mutant` replaces one function of :mod:`jaxkd.theory.closed_forms` (or, for
X.4-X.9, of :mod:`jaxkd.theory.objectives`) by a wrong version: scaled by 1.1 or 0.9, with one
of its terms dropped or its coefficient changed, or (a *term mutant*, :func:`term_scaled` and
:func:`sum_of_terms`) with one of its terms alone scaled by 1.1 or 0.9, the others unchanged: a
small term wrong by 10% moves a sum by little, so it is caught only where that term carries
weight. (A product's factor scaled is the whole product scaled: only sums, and the sums inside
7.3's and 7.4's denominators, have term mutants.)
:func:`caught` runs the whole verification with the mutant in place and reports the checks
that failed; a mutant no check catches means the verification could not tell that formula from
a wrong one; :func:`power` says by how many tolerances a mutant moves the check it moves most.
The simulations are the same for every mutant (they are jaxkd's code, not the
closed forms), so one :class:`~jaxkd.theory.verify.Context` serves them all and a mutant costs
only the comparisons.

``python tests/mutation.py 100 200 1000`` prints the table: each mutant and the
smallest number of students (``num_students`` of :func:`jaxkd.theory.verify.verify`) among
those given at which it is caught, and for a term mutant by how many tolerances at the default
students it moves a check.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
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
    """``function`` of ``module`` (closed_forms, or objectives for X.4-X.9) replaced by
    ``make(original)``."""

    result: str
    description: str
    function: str
    make: Callable[[Callable], Callable]
    module: ModuleType = cf
    term: str | None = None  # the one term it scales (term_scaled), None for the others

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


TERM_FACTORS = (1.1, 0.9)  # each term alone scaled by these (the others unchanged)


def term_scaled(result, function, term, formula: Callable[[float], Callable], module: ModuleType = cf,
                factors=TERM_FACTORS) -> list[Mutant]:
    """``function`` with its ``term`` alone times each of ``factors`` (0: the term dropped):
    ``formula(factor)`` is the closed form with that term scaled and every other term as it is
    (``formula(1.0)`` is the closed form itself, which tests/test_verify.py checks)."""
    DECOMPOSITIONS.append((module, function, term, formula))
    return [Mutant(result, f"{function}: {term} " + ("dropped" if f == 0 else f"x {f}"), function,
                   replaced(formula(f)), module, term) for f in factors]


def sum_of_terms(result, function, terms: dict[str, Callable], module: ModuleType = cf,
                 factors=TERM_FACTORS + (0.0,)) -> list[Mutant]:
    """For a closed form that is the sum of ``terms`` (name -> that term, with the closed form's
    signature): each term alone scaled by each of ``factors`` (by default x1.1, x0.9 and
    dropped)."""
    def formula(name):
        return lambda f: lambda *args, **kwargs: sum((f if n == name else 1.0) * t(*args, **kwargs)
                                                     for n, t in terms.items())
    return [m for name in terms for m in term_scaled(result, function, name, formula(name), module, factors)]


# (module, function, term, formula) of every term mutant: formula(1.0) must be the closed form.
DECOMPOSITIONS: list[tuple[ModuleType, str, str, Callable[[float], Callable]]] = []

_moments = cf.empirical_entropy_moments  # the original, for C.1's one-moment mutants


def _scale_and_terms(result, function, terms=(), module: ModuleType = cf, term_of: str | None = None) -> list[Mutant]:
    """x1.1 and x0.9 of ``function``, then the named term mutants ``(description, make)``;
    ``term_of``: the closed form of which ``function`` is one term (its mutants are then term mutants)."""
    term = None if term_of is None else f"{function}, a term of {term_of}"
    return ([Mutant(result, f"{function} x 1.1", function, scaled(1.1), module, term),
             Mutant(result, f"{function} x 0.9", function, scaled(0.9), module, term)]
            + [Mutant(result, f"{function}: {desc}", function, make, module, term) for desc, make in terms])


MUTANTS: tuple[Mutant, ...] = tuple(
    _scale_and_terms("2.2", "ols_covariance", [
        ("sigma^2 dropped", replaced(lambda X, sigma2: jnp.linalg.inv(jnp.asarray(X).T @ jnp.asarray(X))))])
    + _scale_and_terms("4.1", "inter_student_variance", [
        ("sigma^2 dropped", replaced(lambda X, X_test, sigma2, k=1: cf.mean_test_leverage(X, X_test) / k)),
        ("1/k dropped", replaced(lambda X, X_test, sigma2, k=1: sigma2 * cf.mean_test_leverage(X, X_test)))])
    + _scale_and_terms("4.2", "teacher_mse")
    + sum_of_terms("4.2", "teacher_mse", {
        "the bias term": lambda X, X_test, sigma2, mu_test=None, theta_mean=None, k=1:
            0.0 if mu_test is None else cf.prediction_bias(X_test, theta_mean, mu_test),
        "the variance term sigma^2 c": lambda X, X_test, sigma2, mu_test=None, theta_mean=None, k=1:
            cf.inter_student_variance(X, X_test, sigma2, k)})
    + _scale_and_terms("4.3", "ground_truth_mse")
    + sum_of_terms("4.3", "ground_truth_mse", {
        "the bias term": lambda X, X_test, th_t, th_gt, sigma2, tau2:
            cf.prediction_bias(X_test, th_t, jnp.asarray(X_test) @ th_gt),
        "sigma^2 c": lambda X, X_test, th_t, th_gt, sigma2, tau2: cf.inter_student_variance(X, X_test, sigma2),
        "tau^2": lambda X, X_test, th_t, th_gt, sigma2, tau2: tau2})
    + _scale_and_terms("4.3", "observed_label_mse")
    + sum_of_terms("4.3", "observed_label_mse", {
        "the bias term": lambda X, X_test, mu, y_test, sigma2: cf.prediction_bias(X_test, cf.mean_student(X, mu), y_test),
        "sigma^2 c": lambda X, X_test, mu, y_test, sigma2: cf.inter_student_variance(X, X_test, sigma2)})
    + [Mutant("5.1", "teacher_labelled_bootstrap_variance: 1e-6 instead of 0 (x1.1, x0.9 and dropping a "
              "term leave 0 unchanged)", "teacher_labelled_bootstrap_variance", replaced(lambda: 1e-6))]
    + _scale_and_terms("5.2", "ground_truth_bootstrap_variance", [
        ("Sigma in place of Sigma^-1", replaced(lambda X_test, Sigma, tau2, b: tau2 / b * _quad(X_test, Sigma))),
        ("Sigma^-1 dropped", replaced(lambda X_test, Sigma, tau2, b: tau2 / b * _quad(X_test, jnp.eye(Sigma.shape[0])))),
        ("tau^2 dropped", replaced(lambda X_test, Sigma, tau2, b: _quad(X_test, _sigma_inv(Sigma)) / b)),
        ("1/b dropped", replaced(lambda X_test, Sigma, tau2, b: tau2 * _quad(X_test, _sigma_inv(Sigma))))])
    + _scale_and_terms("5.3", "ground_truth_bootstrap_mse", [
        ("tau^2 dropped", replaced(lambda tau2, d, b, exact_gaussian=False:
                                   1.0 + d / ((b - d - 1) if exact_gaussian else b)))])
    + sum_of_terms("5.3", "ground_truth_bootstrap_mse", {
        "the tau^2 (the 1)": lambda tau2, d, b, exact_gaussian=False: tau2,
        "the tau^2 d/b term": lambda tau2, d, b, exact_gaussian=False:
            tau2 * d / ((b - d - 1) if exact_gaussian else b)})
    + _scale_and_terms("7.1", "averaged_response_variance", [
        ("sigma^2 dropped", replaced(lambda sigma2, k: 1.0 / k)),
        ("1/k dropped", replaced(lambda sigma2, k: sigma2))])
    + _scale_and_terms("7.2", "cramer_rao_bound", [
        ("sigma^2 dropped", replaced(lambda sigma2, k: 1.0 / k)),
        ("1/k dropped", replaced(lambda sigma2, k: sigma2))])
    + _scale_and_terms("7.3", "inverse_variance_weights")
    + term_scaled("7.3", "inverse_variance_weights", "s_T in the denominators",
                  lambda f: lambda vt, vs: (vs / (f * vt + vs), vt / (f * vt + vs)), factors=TERM_FACTORS + (0.0,))
    + term_scaled("7.3", "inverse_variance_weights", "s_S in the denominators",
                  lambda f: lambda vt, vs: (vs / (vt + f * vs), vt / (vt + f * vs)), factors=TERM_FACTORS + (0.0,))
    + _scale_and_terms("7.4", "min_combination_variance")
    + term_scaled("7.4", "min_combination_variance", "s_T in the denominator",
                  lambda f: lambda vt, vs: vt * vs / (f * vt + vs), factors=TERM_FACTORS + (0.0,))
    + term_scaled("7.4", "min_combination_variance", "s_S in the denominator",
                  lambda f: lambda vt, vs: vt * vs / (vt + f * vs), factors=TERM_FACTORS + (0.0,))
    + _scale_and_terms("C.1", "expected_empirical_entropy")
    + _scale_and_terms("C.1", "empirical_entropy_moments")
    + term_scaled("C.1", "empirical_entropy_moments", "the mean alone",
                  lambda f: lambda p, k: (f * _moments(p, k)[0], _moments(p, k)[1]))
    + term_scaled("C.1", "empirical_entropy_moments", "the variance alone",
                  lambda f: lambda p, k: (_moments(p, k)[0], f * _moments(p, k)[1]))
    + _scale_and_terms("C.1", "miller_madow_gap", [
        ("the -1 dropped: K/(2k)", replaced(lambda p, k, order=1: jnp.asarray(p).shape[0] / (2.0 * k)))])
    + _scale_and_terms("X.1", "test_mse_variance")
    + _scale_and_terms("X.1", "test_mse_variance_linear_term", [
        ("dropped", scaled(0.0)), ("sigma^2 coefficient 4 -> 3", scaled(0.75))], term_of="test_mse_variance")
    + _scale_and_terms("X.1", "test_mse_variance_quadratic_term", [
        ("dropped", scaled(0.0)), ("sigma^4 coefficient 2 -> 1", scaled(0.5))], term_of="test_mse_variance")
    + _scale_and_terms("X.2", "sandwich_bootstrap_variance", [
        ("1/b dropped", replaced(lambda X, e, X_test, b: _quad(X_test, cf.sandwich_covariance(X, e))))])
    + _scale_and_terms("X.2", "sandwich_covariance", [
        ("Omega = tau^2 Sigma (5.2's homoscedastic form)", replaced(
            lambda X, e: jnp.mean(jnp.asarray(e) ** 2) * _sigma_inv(jnp.asarray(X).T @ jnp.asarray(X) / X.shape[0]))),
        ("one Sigma^-1 dropped", replaced(
            lambda X, e: _sigma_inv(jnp.asarray(X).T @ jnp.asarray(X) / X.shape[0])
            @ ((jnp.asarray(X) * (jnp.asarray(e) ** 2)[:, None]).T @ jnp.asarray(X) / X.shape[0])))])
    + _scale_and_terms("X.3", "bootstrap_observed_mse")
    + sum_of_terms("X.3", "bootstrap_observed_mse", {
        "the full-data fit's MSE": lambda X, y, X_test, y_test, b:
            cf.prediction_bias(X_test, cf.mean_student(X, y), y_test),
        "the variance term": lambda X, y, X_test, y_test, b: cf.bootstrap_variance_term(X, y, X_test, b)})
    + _scale_and_terms("X.3", "bootstrap_variance_term", [("dropped", scaled(0.0))], term_of="bootstrap_observed_mse")
    + _scale_and_terms("S.1", "between_student_floor", [
        ("1/n dropped", replaced(lambda within, n: within))])
    # X.4-X.9 (jaxkd.theory.objectives)
    + _scale_and_terms("X.4", "free_student", [
        ("the temperature-free optimum replaced by the uniform answer",
         replaced(lambda p, beta=0.0: jnp.full_like(jnp.asarray(p), 1.0 / jnp.asarray(p).shape[-1])))], module=ob)
    + _scale_and_terms("X.5", "forward_kl_entropy_gap", module=ob)
    + _scale_and_terms("X.6", "lumped_sequence_kd_entropy", module=ob)
    + sum_of_terms("X.6", "lumped_sequence_kd_entropy", {
        "C.1's E H on the r + 1 lumped cells": lambda p, r, k: cf.expected_empirical_entropy(ob.lump(p, r), k),
        "the tail's P_tail log(K - r)": lambda p, r, k:
            jnp.sum(jnp.asarray(p)[r:]) * jnp.log(jnp.asarray(p).shape[0] - r)}, module=ob)
    + _scale_and_terms("X.6", "lumped_sequence_kd_gap", [
        ("r/k in place of r/(2k)", replaced(lambda r, k: r / k))], module=ob)
    + _scale_and_terms("X.7", "lumped_student", [
        ("tail even at the teacher's tail mass for every beta (no mode seeking)",
         lambda f: lambda p, r, beta: f(p, r, 0.0))], module=ob)  # the forward-KL student for every beta
    + _scale_and_terms("X.8", "topk_tail_factor", module=ob)
    + sum_of_terms("X.8", "topk_tail_factor", {
        "the tail cell's phi_T": lambda p, q, k, beta=0.0, form="bucket":
            ob.topk_cell_derivatives(p, q, k, beta, form)[1][-1],
        "the normaliser's -sum_c Q_c phi_c": lambda p, q, k, beta=0.0, form="bucket":
            -jnp.sum(jnp.multiply(*ob.topk_cell_derivatives(p, q, k, beta, form)))}, module=ob)
    + _scale_and_terms("X.8", "topk_bucket_student", [
        ("the teacher itself (X.4's answer: the tail's shape learnt too)", replaced(lambda p, k: jnp.asarray(p))),
        ("the renormalised top k (X.9's limit: no tail)", replaced(lambda p, k: ob.renormalised_head(p, k)))],
        module=ob)
    + _scale_and_terms("X.8", "topk_bucket_entropy_excess", module=ob)
    + sum_of_terms("X.8", "topk_bucket_entropy_excess", {
        "r H(u) (r log(V - k) for the uniform tail)": lambda p, k, tail_shape=None: ob.topk_tail(p, k)[0] * (
            jnp.log(jnp.asarray(p).shape[0] - k) if tail_shape is None else ob.entropy(tail_shape)),
        "-r H(p_T/r)": lambda p, k, tail_shape=None: -ob.topk_tail(p, k)[0] * ob.entropy(ob.topk_tail(p, k)[1])},
        module=ob)
    + _scale_and_terms("X.9", "renormalised_topk_entropy", [
        ("the head not renormalised, -sum_S p log p", replaced(
            lambda p, k: ob.entropy(jnp.where(ob.topk_tail_mask(p, k), 0.0, jnp.asarray(p)))))], module=ob)
    + _scale_and_terms("X.9", "renormalised_topk_gap", module=ob)
    + sum_of_terms("X.9", "renormalised_topk_gap", {
        "r H(p~_S)": lambda p, k: ob.topk_tail(p, k)[0] * ob.entropy(ob.renormalised_head(p, k)),
        "-h(r)": lambda p, k: -ob.binary_entropy(ob.topk_tail(p, k)[0]),
        "-r H(p_T/r)": lambda p, k: -ob.topk_tail(p, k)[0] * ob.entropy(ob.topk_tail(p, k)[1])}, module=ob)
)


def checks_with(mutant: Mutant, ctx: tv.Context) -> list[Check]:
    """Every check with ``mutant`` in place (simulations reused from ``ctx``)."""
    with mutant.applied(), jax.enable_x64(True):
        return tv.run_checks(ctx)


def caught(mutant: Mutant, ctx: tv.Context) -> list[Check]:
    """The checks that fail with ``mutant`` in place."""
    return [c for c in checks_with(mutant, ctx) if not c.passed]


def power(mutated: list[Check], clean: list[Check], base: int, students: int = tv.DEFAULT_STUDENTS) -> float:
    """How far a mutant moves the check it moves most, in that check's tolerances at ``students``
    (``clean``: the checks without it, on the same simulations of ``base`` students): the largest
    ``|change in predicted - change in observed| / tolerance_at``, inf where an exact check with
    no tolerance moves."""
    best = 0.0
    for m, c in zip(mutated, clean, strict=True):
        moved = abs((m.predicted - c.predicted) - (m.observed - c.observed))
        if math.isfinite(moved) and moved > 0:
            tolerance = c.tolerance_at(c.students * students // base)
            best = max(best, moved / tolerance if tolerance > 0 else math.inf)
    return best


def table(student_counts=(100, 300, 1000), seed: int = 0, progress=None
          ) -> list[tuple[Mutant, int | None, list[str], float | None]]:
    """For each mutant: the smallest of ``student_counts`` at which verification fails, the
    results whose checks failed there (None and [] when none catches it), and for a term mutant
    its :func:`power` (tolerances at the default students, measured at the largest count; None
    for the others)."""
    rows: dict[int, tuple[Mutant, int | None, list[str]]] = {}
    for n in sorted(student_counts):
        with jax.enable_x64(True):
            ctx = tv.context(n, seed)
            checks = tv.run_checks(ctx)
        clean = [c for c in checks if not c.passed]
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
    moved = {i: power(checks_with(m, ctx), checks, n) for i, m in enumerate(MUTANTS) if m.term is not None}
    return [rows.get(i, (m, None, [])) + (moved.get(i),) for i, m in enumerate(MUTANTS)]


def main(argv=None) -> int:
    counts = [int(x) for x in (argv if argv is not None else sys.argv[1:])] or [100, 300, 1000]
    rows = table(counts, progress=lambda n, k: print(f"{n} students: {k} of {len(MUTANTS)} mutants caught",
                                                     file=sys.stderr))
    print(f"| result | mutant | caught at students | by the checks of | a term mutant moves a check by "
          f"(tolerances at {tv.DEFAULT_STUDENTS}) |")
    print("|---|---|---|---|---|")
    for m, n, by, moved in rows:
        shown = "" if moved is None else (f"{moved:.1f}" if moved < 1000 else "> 1000")
        print(f"| {m.result} | {m.description} | {n if n is not None else 'NOT CAUGHT'} | {', '.join(by)} | {shown} |")
    return 0 if all(n is not None for _, n, _, _ in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
