"""Closed forms for distillation objectives on categorical students (docs/theorems.md X.4-X.7;
jax.numpy only, no jaxkd imports).

A teacher's answer distribution ``p`` (K,) is fitted by a student ``q`` under forward KL
``KL(p || q)``, reverse KL ``KL(q || p)`` or the generalised JSD(β) (TRL's meaning: β = 0 forward,
β = 1 reverse). What each does to the student's entropy depends on what the student can
represent:

* **X.4** a free categorical student: every objective's minimiser is the target itself.
* **X.5** any student whose logits are linear in a trained parameter block (a last linear
  layer, an output scale), at a stationary point of forward KL: its mean entropy exceeds the
  teacher's by exactly the mean residual ``KL(p || q)`` (never narrower).
* **X.6** sequence-level KD (maximum likelihood on k sampled answers) with a *lumped-tail*
  student (below): C.1's gap on the (r + 1)-cell lumped distribution, about ``r/(2k)``.
* **X.7** the lumped-tail student under each objective: the head stays proportional to the
  teacher; the tail's mass falls monotonically in β from the teacher's own (forward KL) to the
  geometric-mean share (reverse KL).

The lumped-tail student resolves the r most probable answers (``p`` sorted in decreasing order)
and gives the other K − r answers (rare answers, hallucinations) one shared probability:
``q_θ(a) ∝ exp(θ_a)`` for a < r and ``exp(θ_tail)`` otherwise, an exponential family with r free
parameters whose member set ``{q : q_a equal for a >= r}`` is also a linear subset of the
simplex, so every objective (jointly convex in (p, q)) has one minimiser there.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.scipy.special import xlogy

from jaxkd.theory import closed_forms as cf

entropy = cf.entropy  # nats, 0 log 0 = 0


def kl(p, q):
    """``KL(p || q)`` over the last axis (0 log 0 = 0): (..., K), (..., K) -> (...)."""
    p, q = jnp.asarray(p), jnp.asarray(q)
    return jnp.sum(xlogy(p, p) - xlogy(p, q), axis=-1)


# --- X.4: free categorical student --------------------------------------------------------


def free_student(p, beta=0.0):
    """**X.4** A free categorical student's minimiser of any of the objectives (forward KL,
    reverse KL, JSD(β) for every β in [0, 1]) is the target itself: ``q* = p``, entropy gap 0.
    A divergence is >= 0 with equality only at q = p. Against an empirical target ``p̂_k`` (k
    sampled answers, sequence-level KD) the same holds, so the entropy loss is C.1's whatever the
    objective; reverse KL to ``p̂_k`` is +inf for any full-support student.
    """
    del beta  # the point: the answer does not depend on it
    return jnp.asarray(p)


# --- X.5: forward KL never narrows at stationarity -------------------------------------------


def forward_kl_entropy_gap(p, q):
    """**X.5** Predicted ``mean_i H(q_i) − mean_i H(p_i)`` at a stationary point of forward KL
    (soft cross-entropy) for a student whose logits are linear in some trained parameters: the
    mean residual ``KL(p_i || q_i)``: (n, K), (n, K) -> ().

    For any logits z with ``q = softmax(z)``: ``H(q) − H(p) − KL(p || q) = −Σ_a (q_a − p_a) z_a``
    (the log-partition cancels). If ``z = W h`` (a last linear layer) then
    ``Σ_i Σ_a (q_ia − p_ia) z_ia = n ⟨∇_W L, W⟩`` for the mean forward-KL loss L, which vanishes
    where ``∇_W L = 0``. Special cases: a free student (KL = 0, equal entropy); an exponential
    family ``q ∝ exp(θ·f)`` (its M-projection is the maximum-entropy distribution with p's
    moments); hard labels (one-hot p: the student's mean entropy equals its training
    cross-entropy).
    """
    return jnp.mean(kl(p, q))


def stationarity_remainder(p, q, logits):
    """The exact remainder of X.5 away from stationarity: ``mean_i H(q_i) − mean_i H(p_i) −
    mean_i KL(p_i || q_i) = −mean_i Σ_a (q_ia − p_ia) z_ia``: (n, K) x3 -> (). For logits linear
    in W its size is at most ``‖W‖ ‖∇_W L‖`` (Cauchy–Schwarz), which is how verification sets
    its tolerance."""
    return -jnp.mean(jnp.sum((jnp.asarray(q) - jnp.asarray(p)) * jnp.asarray(logits), axis=-1))


# --- the lumped-tail student (X.6, X.7) --------------------------------------------------------


def lump(p, r: int):
    """The (r + 1)-cell distribution of the r head answers and the tail's total mass: (K,) -> (r+1,)."""
    p = jnp.asarray(p)
    return jnp.concatenate([p[:r], jnp.sum(p[r:], keepdims=True)])


def unlump(head, tail_mass, K: int):
    """A lumped-tail student from its head (r,) and tail mass: the tail shared evenly, (K,)."""
    head = jnp.asarray(head)
    r = head.shape[0]
    return jnp.concatenate([head, jnp.full((K - r,), tail_mass / (K - r))])


@functools.partial(jax.jit, static_argnums=(1,))
def lumped_student(p, r: int, beta):
    """**X.7** The lumped-tail student minimising JSD(β) to ``p`` (TRL's β: 0 forward KL, 1
    reverse KL): (K,) sorted decreasing, r in [1, K−1], β in [0, 1] -> q (K,).

    Every objective keeps the head proportional to the teacher, ``q_a = κ p_a`` for a < r; they
    differ only in the mass m they leave on the tail:

    * forward KL (β = 0): m = the teacher's tail mass ``P_tail`` (each tail answer gets the
      tail's arithmetic mean ``A``);
    * reverse KL (β = 1): each tail answer gets the tail's geometric mean ``G = exp(mean log p_a)``,
      renormalised: ``m = (K − r) G / (P_head + (K − r) G) <= P_tail`` (AM-GM), equality only
      for a uniform tail;
    * 0 < β < 1: writing ``κ = (1 − m)/P_head``, ``σ = m/((K − r) κ)`` (the tail level in the
      teacher's units) and ``w = β/(β + (1 − β) κ)``, stationarity is
      ``mean_{a ∈ tail} log(1 − w + w p_a/σ) = 0``; w → 0 gives σ = A, w → 1 gives σ = G. Its
      unique root in m (the problem is convex over the linear family) is found by bisection.

    m decreases monotonically in β (docs/theorems.md X.7 for the argument).
    """
    p = jnp.asarray(p)
    K = p.shape[0]
    head, tail = p[:r], p[r:]
    P_head, n_tail = jnp.sum(head), K - r
    beta = jnp.asarray(beta, p.dtype)

    def phi(m):
        kappa = (1.0 - m) / P_head
        sigma = m / (n_tail * kappa)
        w = beta / (beta + (1.0 - beta) * kappa)
        return jnp.mean(jnp.log1p(w * (tail / sigma - 1.0)))

    def bisect(_, lohi):
        lo, hi = lohi
        mid = 0.5 * (lo + hi)
        up = phi(mid) > 0  # phi falls from +inf (m -> 0) to -inf (m -> 1)
        return jnp.where(up, mid, lo), jnp.where(up, hi, mid)

    eps = jnp.finfo(p.dtype).eps
    lo, hi = jax.lax.fori_loop(0, 200, bisect, (eps, 1.0 - eps))
    m_jsd = 0.5 * (lo + hi)
    G = jnp.exp(jnp.mean(jnp.log(tail)))
    m_rev = n_tail * G / (P_head + n_tail * G)
    m = jnp.where(beta == 0.0, jnp.sum(tail), jnp.where(beta == 1.0, m_rev, m_jsd))
    return unlump(head * (1.0 - m) / P_head, m, K)


def lumped_entropy(head_conditional_entropy, tail_mass, tail_size):
    """Entropy of a lumped-tail student as a function of its tail mass m:
    ``H = h(m) + (1 − m) H_head + m log(K − r)``, h the binary entropy, ``H_head`` the entropy of
    the normalised head. Concave in m, largest at ``m/(1 − m) = (K − r) exp(−H_head)``: below that
    mass, less tail means less entropy, so X.7's ordering in β is an ordering of entropies."""
    m = jnp.asarray(tail_mass)
    h = -xlogy(m, m) - xlogy(1.0 - m, 1.0 - m)
    return h + (1.0 - m) * head_conditional_entropy + m * jnp.log(tail_size)


def lumped_sequence_kd_entropy(p, r: int, k: int):
    """**X.6** Exact ``E[H(q̂_k)]`` for sequence-level KD with a lumped-tail student: the
    student maximises the likelihood of k sampled answers, so it is the forward-KL (M-)projection
    of their empirical distribution ``p̂_k``: head ``p̂_k`` on the r answers, the tail's sampled
    share R spread evenly. ``H(q̂) = H(lumped p̂_k) + R log(K − r)``, and ``E[R] = P_tail``, so
    ``E[H(q̂_k)] = E[H(lumped p̂_k)] + P_tail log(K − r)`` with the first term C.1's exact
    expectation (binomial marginals) on the (r + 1)-cell distribution ``lump(p, r)``.
    """
    p = jnp.asarray(p)
    return cf.expected_empirical_entropy(lump(p, r), k) + jnp.sum(p[r:]) * jnp.log(p.shape[0] - r)


def lumped_sequence_kd_gap(r: int, k: int):
    """**X.6** (first order) ``H(q*) − E[H(q̂_k)] ≈ r/(2k)``: Miller–Madow on r + 1 cells, where
    ``q*`` is the forward-KL student fitted to p itself. Relative to the teacher the sampled
    student's gap is ``KL(p || q*) − r/(2k)`` (X.5 minus X.6): wider than the teacher for large
    k, narrower for small k. It is the exponential-family case ``tr(Cov_q*(f)⁻¹ Cov_p(f))/(2k)``
    (delta method on the concave maximum-entropy function of the moments) with f the r head
    indicators, whose covariance is the same under p and q*."""
    return r / (2.0 * k)


def exp_family_sequence_kd_gap(features, p, q_star, k: int):
    """**X.6** (general first order) ``H(q*) − E[H(q̂_k)] ≈ tr(Cov_{q*}(f)⁻¹ Cov_p(f)) / (2k)``
    for a student ``q_θ ∝ exp(θ·f(a))`` (features (K, d), linearly independent of the constant)
    fitted by maximum likelihood to k samples from p; ``q*`` its fit to p. Equals d/(2k) when p is
    in the family (Miller–Madow is the free case d = K − 1)."""
    F, p, q = jnp.asarray(features), jnp.asarray(p), jnp.asarray(q_star)

    def cov(w):
        mu = w @ F
        return (F - mu).T @ ((F - mu) * w[:, None])

    return jnp.trace(jnp.linalg.solve(cov(q), cov(p))) / (2.0 * k)


RESULTS = {
    "X.4": free_student,
    "X.5": forward_kl_entropy_gap,
    "X.6": lumped_sequence_kd_entropy,
    "X.7": lumped_student,
}
