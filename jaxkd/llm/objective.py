"""What a language-model student minimises on one batch, inside the engine's compiled step.

A batch (:class:`SequenceBatch`) holds training sequences (prompt + answer + end-of-text):
``tokens``, the padding ``mask`` and the ``loss_mask`` of the positions that are scored (the
answer and its end-of-text; prompts are never scored). The loss is a mean over the scored tokens of the
batch (the Hugging Face Trainer's causal-LM loss) of one of (:class:`Loss`):

* ``"ce"``: next-token cross-entropy on the sequence's own tokens: sequence-level
  distillation when the answers are teacher samples (the study's setting; TRL's ``seq_kd``),
  or fine-tuning on reference answers;
* ``"forward_kl"``: the teacher's next-token distribution as soft targets, ``KL(p_T || q_S)``
  on every scored position (mean-seeking; Hinton et al.'s T² factor at temperature T);
* ``"reverse_kl"``: ``KL(q_S || p_T)`` (mode-seeking, as MiniLLM);
* ``"jsd"``: the generalised Jensen-Shannon divergence JSD(β) with TRL's ``GKDTrainer``
  meaning of ``beta`` (0: forward KL, 1: reverse KL; :mod:`jaxkd.divergences`).

The teacher's logits are computed for this batch only, inside the step (memory does not grow
with the distillation set), or read from a teacher-logits file computed once
(:mod:`jaxkd.llm.teacher_logits`: the top k and a tail bucket per scored token, ``top_k`` and
``tail`` of :class:`Loss`; on-policy steps still run the teacher, on the student's text, and
truncate it the same way); ``temperature`` divides both sides' logits as TRL does, and
``teacher_temperature`` the teacher's alone (a student that should sample at temperature 1 the
way the teacher samples at T). With ``on_policy`` = λ > 0 (TRL's ``lmbda``), a batch is, with
probability λ, replaced by continuations the student samples itself from the batch's prompts
(its current parameters, its own sampling key), and the divergence is taken on those
positions, scored by the teacher on the student's text. The coin is one per step, shared by
every student (a key of its own stream), so a step is on-policy for all students or for none and
the compiled step runs one branch.

:class:`LMObjective` is the engine's :data:`jaxkd.students.ensemble.Objective` for a decoder
student; the teacher's parameters and the coin's key travel as the engine's ``extra`` input.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxkd import _validation as v
from jaxkd import divergences
from jaxkd.llm import sampling, topk

KINDS = ("ce", "forward_kl", "reverse_kl", "jsd")


class SequenceBatch(NamedTuple):
    """The engine's batch record of a language-model student (:mod:`jaxkd.students.ensemble`):
    ``tokens``, ``mask`` (1 on real tokens) and ``loss_mask`` (1 on scored tokens), each (B, L)
    int32 right-padded rows of prompt + answer + end-of-text; with on-policy training also the
    rows' prompts left-padded for generation, ``prompt`` and ``prompt_mask`` (B, P)
    (:func:`left_padded_prompts`); distilled from a teacher-logits file also its truncated teacher
    per position, ``topk_ids``, ``topk_logprobs`` (B, L - 1, k) and ``topk_tail`` (B, L - 1)
    (:class:`jaxkd.llm.teacher_logits.TeacherLogits`). In ``fit``'s records the leading axis is the example axis M
    (N, M, ... in a per-student record); a field is None where a record does not hold it."""

    tokens: Any = None
    mask: Any = None
    loss_mask: Any = None
    prompt: Any = None
    prompt_mask: Any = None
    topk_ids: Any = None
    topk_logprobs: Any = None
    topk_tail: Any = None


@dataclasses.dataclass(frozen=True)
class Loss:
    """The per-token loss of distillation.

    Attributes:
      kind: one of :data:`KINDS` (module docstring).
      beta: JSD(β)'s β in [0, 1] (``"jsd"`` only; TRL's meaning).
      temperature: T > 0 dividing student and teacher logits (Hinton's T² factor for
        ``"forward_kl"``); ignored by ``"ce"``.
      teacher_temperature: > 0, divides the teacher's logits alone, before ``temperature``.
      on_policy: λ in [0, 1], the share of steps trained on the student's own samples (a
        divergence only).
      max_new_tokens: the longest on-policy continuation (on-policy only).
      top_k: 0 (the teacher's full distribution) or k > 0: the teacher truncated to its top k
        tokens (:mod:`jaxkd.llm.topk`), read from a teacher-logits file
        (:mod:`jaxkd.llm.teacher_logits`) or truncated inside the step (on-policy steps, or no file).
      tail: the truncated target's form, ``"bucket"`` (top k and one tail cell) or
        ``"renormalised"`` (the top k renormalised; not with reverse KL or JSD(1), which are
        infinite against it).
    """

    kind: str = "ce"
    beta: float = 0.5
    temperature: float = 1.0
    teacher_temperature: float = 1.0
    on_policy: float = 0.0
    max_new_tokens: int = 16
    top_k: int = 0
    tail: str = "bucket"

    def __post_init__(self):
        v.check_choice("loss", self.kind, KINDS)
        v.check_positive("loss temperature", self.temperature)
        v.check_positive("teacher temperature", self.teacher_temperature)
        if not 0.0 <= self.beta <= 1.0:
            raise ValueError(f"beta must lie in [0, 1] (0: forward KL, 1: reverse KL), got {self.beta}.")
        if not 0.0 <= self.on_policy <= 1.0:
            raise ValueError(f"on_policy (λ) must lie in [0, 1], got {self.on_policy}.")
        if self.on_policy > 0 and self.kind == "ce":
            raise ValueError("on-policy training scores the student's own samples by the teacher: it needs a "
                             "divergence (forward_kl, reverse_kl or jsd), not cross-entropy on the student's text.")
        v.check_int("max new tokens", self.max_new_tokens)
        v.check_choice("tail", self.tail, topk.FORMS)
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, (int, np.integer)) or self.top_k < 0:
            raise ValueError(f"top_k must be 0 (the full distribution) or a positive number of tokens, got {self.top_k!r}.")
        if self.top_k and self.kind == "ce":
            raise ValueError("top_k truncates the teacher's token distribution, which cross-entropy on the training "
                             "text does not use; give a divergence (forward_kl, reverse_kl or jsd).")
        if self.top_k and self.tail == "renormalised" and self.mode_seeking:
            raise ValueError("reverse KL (JSD at beta = 1) to a renormalised top-k teacher is infinite for every "
                             "student that gives the other tokens any mass; use tail='bucket' or JSD with beta < 1.")

    @property
    def needs_teacher(self) -> bool:
        return self.kind != "ce"

    @property
    def mode_seeking(self) -> bool:
        """Reverse KL (JSD at β = 1): infinite against a teacher that gives a token zero probability."""
        return self.kind == "reverse_kl" or (self.kind == "jsd" and self.beta == 1.0)


def soft_target_kl(student_logits, teacher_logits, temperature: float):
    """Per-position soft-target loss ``KL(p_T || q_T) * T^2`` (Hinton et al.), where p_T and q_T
    are the teacher's and the student's softmax at temperature T: (..., V) -> (...)."""
    return divergences.forward_kl(student_logits, teacher_logits, temperature=temperature, t2_scale=True)


def divergence(student_logits, teacher_logits, loss: Loss):
    """Per-position divergence of ``loss`` between the student's and the teacher's next-token
    distributions: (..., V), (..., V) -> (...) (truncated first when ``loss.top_k``)."""
    teacher_logits = teacher_logits / loss.teacher_temperature
    if loss.top_k:
        return truncated_divergence(student_logits, topk.truncate(teacher_logits, loss.top_k, loss.temperature), loss)
    if loss.kind == "forward_kl":
        return soft_target_kl(student_logits, teacher_logits, loss.temperature)
    log_q = jax.nn.log_softmax(student_logits / loss.temperature, axis=-1)
    log_p = jax.nn.log_softmax(teacher_logits / loss.temperature, axis=-1)
    if loss.kind == "reverse_kl":
        return divergences.kl_from_log_probs(log_q, log_p)
    return divergences.jsd_from_log_probs(log_q, log_p, loss.beta)


def truncated_divergence(student_logits, truncated, loss: Loss):
    """Per-position divergence of ``loss`` against the truncated teacher ``truncated = (ids,
    logprobs, tail)`` ((..., k), (..., k), (...), log-probabilities at ``teacher_temperature``
    x ``temperature``) in the form ``loss.tail``: (..., V) -> (...)."""
    ids, logprobs, tail = truncated
    return topk.divergence(student_logits, ids, logprobs, tail, kind=loss.kind, beta=loss.beta,
                           temperature=loss.temperature, form=loss.tail)


def token_losses(logits, tokens, loss: Loss, teacher_logits=None, truncated=None):
    """Per-position losses of next-token prediction, before masking: (B, T, V) logits of the
    whole sequence -> (B, T - 1), position t predicting token t + 1. The teacher is
    ``teacher_logits`` (B, T, V) or, read from a teacher-logits file, ``truncated``
    ((B, T - 1, k), (B, T - 1, k), (B, T - 1))."""
    if loss.kind == "ce":
        return optax.softmax_cross_entropy_with_integer_labels(logits[:, :-1], tokens[:, 1:])
    if truncated is not None:
        return truncated_divergence(logits[:, :-1], truncated, loss)
    return divergence(logits[:, :-1], teacher_logits[:, :-1], loss)


def masked_mean(per_position, loss_mask, valid):
    """Mean over the scored positions of the valid sequences of a batch: per_position (B, T - 1),
    loss_mask (B, T) (1 where token t is scored), valid (B,) -> scalar."""
    w = loss_mask[:, 1:].astype(per_position.dtype) * valid[:, None].astype(per_position.dtype)
    return jnp.sum(per_position * w) / jnp.maximum(jnp.sum(w), 1.0)


def left_padded_prompts(tokens, mask, loss_mask):
    """The prompts of training sequences, left-padded for generation: (M, L) right-padded
    ``prompt + answer`` rows -> ``(prompts, prompt_mask)`` (M, P), P the longest prompt (NumPy;
    a prompt is a row's leading tokens that are real and not scored)."""
    tokens, mask, loss_mask = (np.asarray(a) for a in (tokens, mask, loss_mask))
    lengths = np.argmax((loss_mask > 0) | (mask == 0), axis=-1)
    P = int(lengths.max())
    out = np.zeros((*tokens.shape[:-1], P), tokens.dtype)
    pmask = np.zeros_like(out)
    for idx in np.ndindex(*tokens.shape[:-1]):
        n = int(lengths[idx])
        out[idx][P - n:], pmask[idx][P - n:] = tokens[idx][:n], 1
    return out, pmask


@dataclasses.dataclass(frozen=True)
class LMObjective:
    """The engine objective of a student (either family) (``graphdef``) trained with ``loss``; with a
    teacher (``teacher_graphdef``; ``extra = {"teacher": its parameters, "coin": a key}``) for
    the divergence kinds. ``dropout``: apply the student's dropout with the step's ``"dropout"``
    key. ``eos_id``: the end-of-text token of on-policy continuations."""

    graphdef: Any
    loss: Loss = Loss()
    teacher_graphdef: Any = None
    dropout: bool = False
    eos_id: int = 0

    def _logits(self, params, tokens, mask, keys):
        model = nnx.merge(self.graphdef, params)
        key = keys["dropout"] if self.dropout else None
        return model(tokens, attention_mask=mask, dropout_key=key)

    def _on_sequences(self, params, tokens, mask, loss_mask, valid, keys, extra, truncated=None):
        logits = self._logits(params, tokens, mask, keys)
        teacher_logits = None
        if self.loss.needs_teacher and truncated is None:
            teacher = nnx.merge(self.teacher_graphdef, extra["teacher"])
            teacher_logits = jax.lax.stop_gradient(teacher(tokens, attention_mask=mask))
        return masked_mean(token_losses(logits, tokens, self.loss, teacher_logits, truncated), loss_mask, valid)

    def _on_policy(self, params, batch: SequenceBatch, valid, keys, extra):
        prompts, pmask = batch.prompt, batch.prompt_mask
        B = prompts.shape[0]
        cfg = sampling.SamplingConfig(self.loss.max_new_tokens, 1.0, 0, 1.0)
        new = sampling.generate_core(self.graphdef, jax.lax.stop_gradient(params), prompts, pmask,
                                     jax.random.split(keys["sample"], B), cfg, self.eos_id)       # (B, N)
        # Real up to and including the first end-of-text; after it, padding.
        ended = jnp.cumsum(new == self.eos_id, axis=1)
        real = ((ended == 0) | ((ended == 1) & (new == self.eos_id))).astype(pmask.dtype)
        tokens = jnp.concatenate([prompts, new], axis=1)
        mask = jnp.concatenate([pmask, real], axis=1)
        loss_mask = jnp.concatenate([jnp.zeros_like(pmask), real], axis=1)
        return self._on_sequences(params, tokens, mask, loss_mask, valid, keys, extra)

    def __call__(self, params, state, batch: SequenceBatch, valid, keys, extra, step):
        def off_policy():
            cached = None if batch.topk_ids is None else (batch.topk_ids, batch.topk_logprobs, batch.topk_tail)
            return self._on_sequences(params, batch.tokens, batch.mask, batch.loss_mask, valid, keys, extra, cached)

        if self.loss.on_policy == 0.0:
            return off_policy(), state
        if self.loss.on_policy == 1.0:
            return self._on_policy(params, batch, valid, keys, extra), state
        coin = jax.random.uniform(jax.random.fold_in(extra["coin"], step)) < self.loss.on_policy
        loss = jax.lax.cond(coin, lambda: self._on_policy(params, batch, valid, keys, extra), off_policy)
        return loss, state


@dataclasses.dataclass(frozen=True)
class HeldOut:
    """The engine's evaluation: the cross-entropy of the student's next-token predictions on
    held-out pairs (a :class:`SequenceBatch`, no dropout), over their scored tokens."""

    graphdef: Any

    def __call__(self, params, state, data: SequenceBatch, extra):
        del state, extra
        logits = nnx.merge(self.graphdef, params)(data.tokens, attention_mask=data.mask)
        per = optax.softmax_cross_entropy_with_integer_labels(logits[:, :-1], data.tokens[:, 1:])
        return masked_mean(per, data.loss_mask, jnp.ones(data.tokens.shape[0], bool))
