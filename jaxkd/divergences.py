"""Distillation objectives: divergences between a student's and a teacher's categorical
distributions, given their logits over the last axis (docs/theorems.md, X.4-X.7).

Every function takes ``student_logits`` first and ``teacher_logits`` second, both (..., V),
divides both by ``temperature`` T, and returns one value per leading index, (...), in nats:

* :func:`forward_kl` ``KL(p_T || q_S) = sum_a p_T(a) log(p_T(a)/q_S(a))``: soft targets,
  mean-seeking (Hinton et al. 2015). ``t2_scale=True`` multiplies it by T², Hinton et al.'s
  convention, which keeps the gradient's size comparable across temperatures (its gradient in
  the student's logits is ``(q_S − p_T)/T``, and near T → ∞ that difference is itself O(1/T)).
* :func:`reverse_kl` ``KL(q_S || p_T)``: mode-seeking (MiniLLM, Gu et al. 2024).
* :func:`generalized_jsd` with TRL's ``GKDTrainer`` meaning of ``beta`` (Agarwal et al. 2024,
  Eq. 1): with the mixture ``M = β p_T + (1 − β) q_S``,
  ``JSD(β) = β KL(p_T || M) + (1 − β) KL(q_S || M)`` for 0 < β < 1, and **by definition**
  forward KL at β = 0 and reverse KL at β = 1. The endpoints are a convention, not limits: the
  formula itself tends to 0 at both ends, and ``JSD(β)/β → KL(p_T || q_S)`` as β → 0,
  ``JSD(β)/(1 − β) → KL(q_S || p_T)`` as β → 1 (docs/theorems.md, X.4). For 0 < β < 1 it lies
  in ``[0, h(β)]``, ``h`` the binary entropy in nats, with ``h(β)`` reached exactly when the two
  supports are disjoint.

The mixture is formed in log space (``log M = m + log(β e^{log p − m} + (1 − β) e^{log q − m})``,
``m`` the larger log-probability), so very peaked distributions lose nothing to underflow.

**-inf logits** (a top-k or vocabulary mask) mean probability zero and are exact here: a term
whose weight is zero contributes 0 to the value and 0 to the gradient (never ``0 · inf = nan``).
What is infinite stays infinite: ``forward_kl`` is +inf when the student gives zero probability
to an answer the teacher allows, and ``reverse_kl`` (and ``generalized_jsd`` at β = 1) is +inf
when the student puts mass where the teacher's logit is -inf, which a student with full support
always does against a top-k-masked teacher. That value is the divergence, not a numerical
accident; its gradient is not usable, so reverse KL should not be paired with a masked teacher
(JSD with β < 1 stays finite: the mixture covers both supports). A row with every logit -inf
is not a distribution and gives nan.

``beta`` and ``temperature`` may be Python numbers (checked here: 0 ≤ β ≤ 1, T > 0) or arrays
of the leading shape (...) (traced values are the caller's to check), so one
compiled program can train students with different objectives side by side (an objective axis
under ``jax.vmap``). Logits are computed in float32 (float64 if either input is float64).

Inside a compiled training step, per token position (student (B, L, V), teacher (B, L, V))::

    per_token = divergences.generalized_jsd(student_logits, jax.lax.stop_gradient(teacher_logits),
                                            beta=0.5, temperature=1.0)          # (B, L)
    loss = jnp.sum(per_token * mask) / jnp.sum(mask)
"""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxkd import _validation as v

# --- core: log-probabilities in, no validation (jit/vmap-safe) ---------------------------------


def kl_from_log_probs(log_p: jax.Array, log_q: jax.Array) -> jax.Array:
    """``KL(p || q)`` from log-probabilities, (..., V), (..., V) -> (...) (core).

    Answers with ``p = 0`` (``log_p = -inf``) contribute exactly 0 to the value and the gradient;
    an answer with ``p > 0`` and ``q = 0`` makes the value +inf.
    """
    support = log_p > -jnp.inf
    lp = jnp.where(support, log_p, 0.0)  # the double where: no inf - inf in the branch not taken
    lq = jnp.where(support, log_q, 0.0)
    return jnp.sum(jnp.where(support, jnp.exp(lp) * (lp - lq), 0.0), axis=-1)


def mixture_log_probs(log_p: jax.Array, log_q: jax.Array, beta: jax.Array) -> jax.Array:
    """``log(β p + (1 − β) q)`` from log-probabilities (core): (..., V), (..., V), beta
    a scalar or (..., 1) -> (..., V); -inf where both are zero."""
    # The weights go into log space first (log β = -inf at β = 0), and the larger weighted term
    # is factored out, so the sum inside the log is >= 1: no underflow to log(0) however far
    # apart the two are, and M is q exactly at β = 0 (p at β = 1).
    a = log_p + jnp.log(beta)
    b = log_q + jnp.log1p(-beta)
    either = (a > -jnp.inf) | (b > -jnp.inf)
    a = jnp.where(either, a, 0.0)  # rows of -inf on both sides: no -inf - -inf below
    b = jnp.where(either, b, 0.0)
    # log(e^a + e^b) = max + log1p(e^{-|a - b|}): one exp per answer (exp(-inf) = 0 when one
    # side has zero weight, with zero gradient).
    out = jnp.maximum(a, b) + jnp.log1p(jnp.exp(-jnp.abs(a - b)))
    return jnp.where(either, out, -jnp.inf)


def jsd_from_log_probs(log_q: jax.Array, log_p: jax.Array, beta: jax.Array) -> jax.Array:
    """Generalised JSD with TRL's endpoints from the student's ``log_q`` and the teacher's
    ``log_p`` (core): (..., V), (..., V), beta a scalar or (...) -> (...).

    ``β KL(p || M) + (1 − β) KL(q || M)`` with ``M = β p + (1 − β) q`` for 0 < β < 1; forward KL
    at β = 0 and reverse KL at β = 1. At β = 0 the mixture is q exactly (and p at β = 1), so the
    same two terms give both endpoints; only their weights switch.
    """
    beta = jnp.asarray(beta, log_q.dtype)
    log_m = mixture_log_probs(log_p, log_q, beta[..., None] if beta.ndim else beta)
    kl_p = kl_from_log_probs(log_p, log_m)  # = KL(p || q) at beta = 0, 0 at beta = 1
    kl_q = kl_from_log_probs(log_q, log_m)  # = 0 at beta = 0, KL(q || p) at beta = 1
    w_p = jnp.where(beta == 0.0, 1.0, jnp.where(beta == 1.0, 0.0, beta))
    w_q = jnp.where(beta == 1.0, 1.0, jnp.where(beta == 0.0, 0.0, 1.0 - beta))
    # A zero weight times a zero term, never times inf: the unweighted term is 0 at that endpoint.
    return w_p * kl_p + w_q * kl_q


# --- validated entry points: logits in ---------------------------------------------------------


def _log_probs(student_logits, teacher_logits, temperature):
    s, t = jnp.asarray(student_logits), jnp.asarray(teacher_logits)
    for name, x in (("student logits", s), ("teacher logits", t)):
        if not jnp.issubdtype(x.dtype, jnp.floating):
            raise ValueError(f"{name} must be floating point, got {x.dtype}.")
        if x.ndim < 1 or x.shape[-1] < 1:
            raise ValueError(f"{name} need a last axis of answers (..., V); got shape {x.shape}.")
    if s.shape != t.shape:
        raise ValueError(f"student logits {s.shape} and teacher logits {t.shape} must have the same shape (..., V).")
    dtype = jnp.float64 if jnp.float64 in (s.dtype, t.dtype) else jnp.float32
    if isinstance(temperature, numbers.Real):
        v.check_positive("temperature", float(temperature))
    T = jnp.asarray(temperature, dtype)
    T = T[..., None] if T.ndim else T
    return (jax.nn.log_softmax(s.astype(dtype) / T, axis=-1),
            jax.nn.log_softmax(t.astype(dtype) / T, axis=-1))


def _check_beta(beta):
    if isinstance(beta, numbers.Real) and not 0.0 <= float(beta) <= 1.0:
        raise ValueError(f"beta must lie in [0, 1] (0: forward KL, 1: reverse KL), got {beta}.")


def forward_kl(student_logits: ArrayLike, teacher_logits: ArrayLike, *, temperature: ArrayLike = 1.0,
               t2_scale: bool = False) -> jax.Array:
    """``KL(p_T || q_S)`` at temperature T (soft targets; mean-seeking): (..., V), (..., V) -> (...).

    Args:
      student_logits: the student's logits, (..., V); -inf allowed (probability zero).
      teacher_logits: the teacher's logits, same shape; -inf allowed (top-k masks).
      temperature: T > 0 dividing both; a number or an array of shape (...).
      t2_scale: multiply by T² (Hinton et al. 2015), so that the gradient's size does not shrink
        as 1/T² when the temperature is raised.

    Returns:
      (...) nats (T² nats with ``t2_scale``); +inf where the student gives zero probability to
      an answer the teacher allows.
    """
    log_q, log_p = _log_probs(student_logits, teacher_logits, temperature)
    out = kl_from_log_probs(log_p, log_q)
    if t2_scale:
        out = out * jnp.asarray(temperature, out.dtype) ** 2
    return out


def reverse_kl(student_logits: ArrayLike, teacher_logits: ArrayLike, *, temperature: ArrayLike = 1.0) -> jax.Array:
    """``KL(q_S || p_T)`` at temperature T (mode-seeking, as MiniLLM): (..., V), (..., V) -> (...).

    +inf where the student puts mass on an answer whose teacher logit is -inf (see the module
    docstring: do not pair it with a top-k-masked teacher).
    """
    log_q, log_p = _log_probs(student_logits, teacher_logits, temperature)
    return kl_from_log_probs(log_q, log_p)


def generalized_jsd(student_logits: ArrayLike, teacher_logits: ArrayLike, beta: ArrayLike = 0.5, *,
                    temperature: ArrayLike = 1.0) -> jax.Array:
    """Generalised Jensen–Shannon divergence JSD(β), TRL ``GKDTrainer`` meaning:
    (..., V), (..., V) -> (...).

    Args:
      student_logits: (..., V), -inf allowed.
      teacher_logits: (..., V), -inf allowed.
      beta: in [0, 1]: 0 is forward KL ``KL(p_T || q_S)``, 1 reverse KL ``KL(q_S || p_T)``; in
        between ``β KL(p_T || M) + (1 − β) KL(q_S || M)``, ``M = β p_T + (1 − β) q_S``. A number
        or an array of shape (...) (one objective per student, say).
      temperature: T > 0 dividing both logits (no T² factor, as in TRL).

    Returns:
      (...) nats; within ``[0, h(β)]`` for 0 < β < 1.
    """
    _check_beta(beta)
    log_q, log_p = _log_probs(student_logits, teacher_logits, temperature)
    return jsd_from_log_probs(log_q, log_p, _interior(beta, log_q.dtype))


def _interior(beta, dtype):
    """A number 0 < β < 1 kept strictly inside (0, 1) in ``dtype``: XLA flushes subnormals to 0
    and rounds 1 − β to 1 below half an ulp, which would turn the formula into an endpoint's
    convention (forward or reverse KL) instead of its value (within ``h(β)``, near 0); such a β
    becomes the dtype's smallest normal number, or the largest number below 1."""
    if not isinstance(beta, numbers.Real) or not 0.0 < float(beta) < 1.0:
        return beta
    info = jnp.finfo(dtype)
    return min(max(float(beta), float(info.tiny)), float(1.0 - info.epsneg))


def entropy(logits: ArrayLike, *, temperature: ArrayLike = 1.0) -> jax.Array:
    """Entropy (nats) of ``softmax(logits / T)``: (..., V) -> (...); -inf logits allowed."""
    log_q, _ = _log_probs(logits, logits, temperature)
    support = log_q > -jnp.inf
    lq = jnp.where(support, log_q, 0.0)
    return -jnp.sum(jnp.where(support, jnp.exp(lq) * lq, 0.0), axis=-1)
