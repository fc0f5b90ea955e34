"""A teacher's next-token distribution truncated to its k most probable tokens, and the
divergences of distillation on the truncated target (docs/theorems.md, X.8 and X.9).

Truncation keeps, per position, the teacher's top-k token ids ``ids`` (..., k), their
log-probabilities ``logprobs`` (..., k) and one **tail bucket** ``tail`` (...): the log of the
mass on the other V − k tokens, computed as the log-sum-exp of their log-probabilities (not
``log(1 − Σ top-k)``, which loses every digit when the top k hold almost all the mass); at
k = V the tail is empty and ``tail`` is −inf. Two target forms use it (:data:`FORMS`):

* ``"bucket"``: a (k + 1)-cell distribution, the k tokens and the tail; the student's cells are
  its own probabilities of the teacher's k tokens and its mass on every other token (log-sum-exp
  of its other log-probabilities). The loss depends on the student's tail logits only through
  that mass, so its gradient on each tail logit is the token's probability times one common
  factor (X.8): the tail's *mass* is fitted, its *shape* is not.
* ``"renormalised"``: the teacher's top k renormalised to sum to one, zero elsewhere (Tunix's
  ``distill_top_k``, DistillKit); the student keeps its full softmax. Its (k + 1) cells are the
  teacher's renormalised head with an empty tail against the student's head and tail mass,
  which gives exactly the full-vocabulary divergence against the masked teacher (the terms of
  tail tokens depend on the student's tail only through its mass). Forward KL and JSD(β < 1)
  drive the student's tail mass to zero (X.9); reverse KL and JSD(1) are +inf for any student
  with full support, so :class:`jaxkd.llm.objective.Loss` refuses them.

At k = V both forms are the full-logit objective (the cells are the vocabulary in another
order; equal to float32 rounding, ``tests/test_llm_topk.py``).

Shapes: (..., V) logits, (..., k) ids and log-probabilities, (...) tails; every function is
pure and jit/vmap-safe (k is a static shape).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxkd import divergences

FORMS = ("bucket", "renormalised")


def truncate(logits, k: int, temperature: float = 1.0):
    """The teacher's top k at ``temperature``: (..., V) logits -> ``(ids (..., k) int32,
    logprobs (..., k), tail (...))``, ``tail`` the log of the mass outside the top k (−inf at
    k = V). Ties are broken as :func:`jax.lax.top_k` breaks them (the lower id first)."""
    log_p = jax.nn.log_softmax(jnp.asarray(logits, jnp.float32) / temperature, axis=-1)
    logprobs, ids = jax.lax.top_k(log_p, k)
    return ids.astype(jnp.int32), logprobs, _outside(log_p, ids)


def _outside(log_p, ids):
    """log Σ_{a ∉ ids} exp(log_p_a): (..., V), (..., k) -> (...); −inf (no gradient) at k = V."""
    V, k = log_p.shape[-1], ids.shape[-1]
    if k >= V:
        return jnp.full(log_p.shape[:-1], -jnp.inf, log_p.dtype)
    flat = log_p.reshape(-1, V)
    rows = jnp.arange(flat.shape[0])[:, None]
    masked = flat.at[rows, ids.reshape(-1, k)].set(-jnp.inf)
    return jax.nn.logsumexp(masked, axis=-1).reshape(log_p.shape[:-1])


def student_cells(student_logits, ids, temperature: float = 1.0):
    """The student's (k + 1) cells: its log-probabilities of the teacher's k tokens and the log of
    its mass on every other token: (..., V), (..., k) -> (..., k + 1)."""
    log_q = jax.nn.log_softmax(student_logits / temperature, axis=-1)
    head = jnp.take_along_axis(log_q, ids, axis=-1)
    return jnp.concatenate([head, _outside(log_q, ids)[..., None]], axis=-1)


def teacher_cells(logprobs, tail, form: str = "bucket"):
    """The teacher's (k + 1) cells in ``form``: (..., k), (...) -> (..., k + 1) log-probabilities
    (``"renormalised"``: the head renormalised, the tail cell −inf)."""
    if form == "bucket":
        return jnp.concatenate([logprobs, tail[..., None]], axis=-1)
    head = logprobs - jax.nn.logsumexp(logprobs, axis=-1, keepdims=True)
    return jnp.concatenate([head, jnp.full((*logprobs.shape[:-1], 1), -jnp.inf, logprobs.dtype)], axis=-1)


def divergence(student_logits, ids, logprobs, tail, *, kind: str, beta: float = 0.5, temperature: float = 1.0,
               form: str = "bucket"):
    """Per-position divergence of ``kind`` (``"forward_kl"`` with Hinton's T² factor,
    ``"reverse_kl"``, ``"jsd"`` with TRL's β) between the student and the truncated teacher in
    ``form``, on the (k + 1) cells: (..., V), (..., k), (..., k), (...) -> (...). The teacher's
    log-probabilities are those of its softmax at the temperature the loss compares at."""
    out = divergence_on_cells(student_cells(student_logits, ids, temperature), teacher_cells(logprobs, tail, form),
                              kind, beta)
    return out * temperature ** 2 if kind == "forward_kl" else out


def divergence_on_cells(log_q, log_p, kind: str, beta: float = 0.5):
    """The divergence of ``kind`` between cell log-probabilities: (..., c), (..., c) -> (...)."""
    if kind == "forward_kl":
        return divergences.kl_from_log_probs(log_p, log_q)
    if kind == "reverse_kl":
        return divergences.kl_from_log_probs(log_q, log_p)
    return divergences.jsd_from_log_probs(log_q, log_p, beta)
