"""Closed forms for distillation objectives on categorical students (docs/theorems.md X.4-X.9;
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
* **X.8** a free student against the teacher truncated to its top k tokens S plus one tail bucket
  (the other V − k tokens T, mass ``r``): the loss sees the student's tail only through its mass,
  so the minimum fixes ``q_S = p_S`` and ``Q_T = r`` but not the tail's shape; gradient descent or
  Adam from a uniform tail keeps it uniform, which leaves the student wider than the teacher by
  ``r (log(V − k) − H(p_T/r))``.
* **X.9** the same student against the renormalised top k (zero outside S): forward KL and
  JSD(β < 1) drive the tail's mass to 0 without reaching it, and the entropy to the renormalised
  head's, ``H(p_S/(1 − r))``.

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
    return binary_entropy(m) + (1.0 - m) * head_conditional_entropy + m * jnp.log(tail_size)


def binary_entropy(m):
    """``h(m) = −m log m − (1 − m) log(1 − m)`` in nats (0 log 0 = 0): (...) -> (...)."""
    m = jnp.asarray(m)
    return -xlogy(m, m) - xlogy(1.0 - m, 1.0 - m)


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


# --- X.8, X.9: a teacher truncated to its top k -------------------------------------------------
#
# Teacher p (V,) in any order; S its k most probable tokens (ties: the lower index first, as
# jax.lax.top_k), T the other V − k, r = Σ_{a ∈ T} p_a; a free student q = softmax(z), Q_T = Σ_T q_a.
# The loss is a divergence between (k + 1)-cell distributions: the teacher's (p_S, r) ("bucket")
# or (p_S/(1 − r), 0) ("renormalised") against the student's (q_S, Q_T), at temperature 1.


@functools.partial(jax.jit, static_argnames=("k",))
def topk_tail_mask(p, k: int):
    """The tokens outside p's top k, T: (V,), k in [1, V] -> (V,) bool."""
    p = jnp.asarray(p)
    return jnp.ones(p.shape, bool).at[jax.lax.top_k(p, k)[1]].set(False)


@functools.partial(jax.jit, static_argnames=("k",))
def topk_tail(p, k: int):
    """The teacher's tail mass ``r = Σ_{a ∈ T} p_a`` and its shape ``p_T/r`` (0 on S):
    (V,), k in [1, V − 1] -> ((), (V,))."""
    p = jnp.asarray(p)
    tail = topk_tail_mask(p, k)
    r = jnp.sum(jnp.where(tail, p, 0.0))
    return r, jnp.where(tail, p / r, 0.0)


@functools.partial(jax.jit, static_argnames=("k",))
def renormalised_head(p, k: int):
    """X.9's target ``p̃``: p's top k renormalised, 0 on T: (V,) -> (V,)."""
    p = jnp.asarray(p)
    r, _ = topk_tail(p, k)
    return jnp.where(topk_tail_mask(p, k), 0.0, p / (1.0 - r))


@functools.partial(jax.jit, static_argnames=("k", "beta", "form"))
def topk_cell_derivatives(p, q, k: int, beta: float = 0.0, form: str = "bucket"):
    """The student's cells ``Q = (q_S, Q_T)`` and the derivatives ``φ_c = ∂L/∂Q_c`` of JSD(β)
    (TRL's β: 0 forward KL, 1 reverse KL) between the teacher's cells P (``form``) and Q:
    (V,), (V,) -> ((k + 1,), (k + 1,)), the tail cell last. ``φ_c = −P_c/Q_c`` (forward KL),
    ``log(Q_c/P_c) + 1`` (reverse KL; +inf on the renormalised teacher's empty tail),
    ``(1 − β) log(Q_c/M_c)`` with ``M = βP + (1 − β)Q`` (JSD)."""
    p, q = jnp.asarray(p), jnp.asarray(q)
    ids = jax.lax.top_k(p, k)[1]
    tail = topk_tail_mask(p, k)
    r = jnp.sum(jnp.where(tail, p, 0.0))
    Q = jnp.concatenate([q[ids], jnp.sum(jnp.where(tail, q, 0.0), keepdims=True)])
    if form == "bucket":
        P = jnp.concatenate([p[ids], r[None]])
    else:
        P = jnp.concatenate([p[ids] / (1.0 - r), jnp.zeros(1, p.dtype)])
    if beta == 0.0:
        return Q, -P / Q
    if beta == 1.0:
        return Q, jnp.log(Q) - jnp.log(P) + 1.0
    return Q, (1.0 - beta) * (jnp.log(Q) - jnp.log(beta * P + (1.0 - beta) * Q))


@functools.partial(jax.jit, static_argnames=("k", "beta", "form"))
def topk_tail_factor(p, q, k: int, beta: float = 0.0, form: str = "bucket"):
    """**X.8 (a)**, **X.9** The common factor c of the loss's gradient on the tail logits:
    ``∂L/∂z_a = q_a c`` for every a ∈ T, with ``c = φ_T − Σ_c Q_c φ_c``
    (:func:`topk_cell_derivatives`): (V,), (V,) -> ().

    The cells' log-probabilities are ``log q_i`` (i ∈ S) and ``log Q_T``; with
    ``g_c = ∂L/∂log Q_c = Q_c φ_c``, ``∂ log q_i/∂z_a = −q_a`` and
    ``∂ log Q_T/∂z_a = q_a/Q_T − q_a`` for a ∈ T, so ``∂L/∂z_a = q_a (g_T/Q_T − Σ_c g_c)``: the
    loss sees the tail only through Q_T. Forward KL: ``c = 1 − r/Q_T`` (bucket), exactly 1
    (renormalised); JSD(β < 1) against the renormalised teacher:
    ``c = (1 − β)(log(1/(1 − β)) − KL(Q || M)) > 0``.
    """
    Q, phi = topk_cell_derivatives(p, q, k, beta, form)
    return phi[-1] - jnp.sum(Q * phi)


@functools.partial(jax.jit, static_argnames=("k",))
def topk_bucket_student(p, k: int):
    """**X.8** The free student that minimises any of the objectives (forward KL, reverse KL,
    JSD(β)) on the (k + 1) cells (p_S, r), trained by gradient descent or Adam from a tail
    of equal logits: ``q_S = p_S``, ``q_a = r/(V − k)`` on T: (V,), k in [1, V − 1] -> (V,).

    The loss is a divergence of the cells, zero only at ``(q_S, Q_T) = (p_S, r)``; it leaves the
    tail's shape free. Every tail logit's gradient is ``q_a c`` with one c (:func:`topk_tail_factor`),
    so equal tail logits have equal gradients and equal updates (gradient descent; Adam, whose
    moments start at zero and then are equal too): the tail stays uniform at every step.
    """
    p = jnp.asarray(p)
    r, _ = topk_tail(p, k)
    return jnp.where(topk_tail_mask(p, k), r / (p.shape[0] - k), p)


@functools.partial(jax.jit, static_argnames=("k",))
def topk_bucket_entropy_excess(p, k: int, tail_shape=None):
    """**X.8** ``H(q) − H(p) = r (H(u) − H(p_T/r))`` for a student that has converged to the cells
    (p_S, r) with tail shape ``u = q_T/Q_T`` (``tail_shape``, (..., V), 0 on S; default uniform,
    ``H(u) = log(V − k)``, :func:`topk_bucket_student`): (V,) -> (...).

    Any distribution's entropy is its cells' entropy plus ``Q_T H(tail shape)``; the cells agree,
    so only the tails' entropies differ. The uniform tail gives the largest excess, ``r log(V − k)
    − r H(p_T/r) >= 0``, an upper bound over all initialisations.
    """
    r, shape = topk_tail(p, k)
    h_u = jnp.log(jnp.asarray(p).shape[0] - k) if tail_shape is None else entropy(tail_shape)
    return r * h_u - r * entropy(shape)


@functools.partial(jax.jit, static_argnames=("k",))
def renormalised_topk_entropy(p, k: int):
    """**X.9** The limit of a free student's entropy under forward KL or JSD(β < 1) to the
    renormalised top k (Tunix's ``distill_top_k``): ``H(p̃_S)``, the entropy of
    ``p_S/(1 − r)``: (V,) -> ().

    The teacher's cells are ``(p̃_S, 0)``; the infimum of the loss, 0, needs ``Q_T = 0``, which no
    finite logits reach: every tail logit's gradient is ``q_a c`` with ``c > 0``
    (:func:`topk_tail_factor`; ``c = 1``, the gradient ``q_a`` itself, for forward KL), so the
    tail logits fall at every step, for ever, and ``H(q) = h(Q_T) + (1 − Q_T) H(q_S/(1 − Q_T)) +
    Q_T H(q_T/Q_T) → H(p̃_S)``. Reverse KL and JSD(1) are +inf for every full-support student.
    """
    return entropy(renormalised_head(p, k))


@functools.partial(jax.jit, static_argnames=("k",))
def renormalised_topk_gap(p, k: int):
    """**X.9** The limiting entropy gap ``H(p̃_S) − H(p) = r H(p̃_S) − h(r) − r H(p_T/r)``
    (h the binary entropy), from ``H(p) = h(r) + (1 − r) H(p̃_S) + r H(p_T/r)``: (V,) -> ().
    Negative (the student narrower than its teacher) unless ``r H(p̃_S) > h(r) + r H(p_T/r)``: a wide
    head with a small, narrow tail."""
    r, shape = topk_tail(p, k)
    return r * entropy(renormalised_head(p, k)) - binary_entropy(r) - r * entropy(shape)


RESULTS = {
    "X.4": free_student,
    "X.5": forward_kl_entropy_gap,
    "X.6": lumped_sequence_kd_entropy,
    "X.7": lumped_student,
    "X.8": topk_bucket_student,
    "X.9": renormalised_topk_gap,
}
