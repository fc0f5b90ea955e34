"""What a language-model student minimises on one batch, inside the engine's compiled step.

A batch holds training sequences (prompt + answer + end-of-text): ``tokens``, the padding
``mask`` and the ``loss_mask`` of the positions that are scored (the answer and its
end-of-text; prompts are never scored). The loss is a mean over the scored tokens of the
batch (the Hugging Face Trainer's causal-LM loss), either

* ``"ce"``: next-token cross-entropy on the sequence's own tokens: sequence-level
  distillation when the answers are teacher samples (the study's setting), or fine-tuning on
  reference answers; or
* ``"forward_kl"``: token-level soft targets, ``KL(p_T || q_T) * T^2`` between the teacher's
  and the student's next-token distributions at temperature T on every scored position
  (Hinton et al.); the teacher's logits are computed for this batch only, inside the step, so
  memory does not grow with the distillation set.

:class:`LMObjective` is the engine's :data:`jaxkd.students.ensemble.Objective` for a GPT-2
student; the teacher's parameters travel as the engine's ``extra`` input.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from jaxkd import _validation as v

KINDS = ("ce", "forward_kl")


@dataclasses.dataclass(frozen=True)
class Loss:
    """The per-token loss of distillation.

    Attributes:
      kind: ``"ce"`` (cross-entropy on the training text) or ``"forward_kl"`` (the teacher's
        next-token distribution as soft targets; needs the teacher).
      temperature: the soft targets' temperature T (> 0); ignored by ``"ce"``.
    """

    kind: str = "ce"
    temperature: float = 1.0

    def __post_init__(self):
        v.check_choice("loss", self.kind, KINDS)
        v.check_positive("loss temperature", self.temperature)

    @property
    def needs_teacher(self) -> bool:
        return self.kind != "ce"


def soft_target_kl(student_logits, teacher_logits, temperature: float):
    """Per-position soft-target loss ``KL(p_T || q_T) * T^2`` (Hinton et al.), where p_T and q_T
    are the teacher's and the student's softmax at temperature T: (..., V) -> (...)."""
    T = temperature
    log_p = jax.nn.log_softmax(teacher_logits / T, axis=-1)
    log_q = jax.nn.log_softmax(student_logits / T, axis=-1)
    return T**2 * jnp.sum(jnp.exp(log_p) * (log_p - log_q), axis=-1)


def token_losses(logits, tokens, loss: Loss, teacher_logits=None):
    """Per-position losses of next-token prediction, before masking: (B, T, V) logits of the
    whole sequence -> (B, T - 1), position t predicting token t + 1."""
    if loss.kind == "ce":
        return optax.softmax_cross_entropy_with_integer_labels(logits[:, :-1], tokens[:, 1:])
    return soft_target_kl(logits[:, :-1], teacher_logits[:, :-1], loss.temperature)


def masked_mean(per_position, loss_mask, valid):
    """Mean over the scored positions of the valid sequences of a batch: per_position (B, T - 1),
    loss_mask (B, T) (1 where token t is scored), valid (B,) -> scalar."""
    w = loss_mask[:, 1:].astype(per_position.dtype) * valid[:, None].astype(per_position.dtype)
    return jnp.sum(per_position * w) / jnp.maximum(jnp.sum(w), 1.0)


@dataclasses.dataclass(frozen=True)
class LMObjective:
    """The engine objective of a GPT-2 student (``graphdef``) trained with ``loss``; with a
    teacher (``teacher_graphdef``; its parameters are the engine's ``extra``) for the
    divergence kinds. ``dropout``: apply the student's dropout with the step key."""

    graphdef: Any
    loss: Loss = Loss()
    teacher_graphdef: Any = None
    dropout: bool = False

    def logits(self, params, batch, key):
        model = nnx.merge(self.graphdef, params)
        return model(batch["tokens"], attention_mask=batch["mask"], dropout_key=key if self.dropout else None)

    def __call__(self, params, state, batch, valid, key, extra):
        tokens = batch["tokens"]
        teacher_logits = None
        if self.loss.needs_teacher:
            teacher = nnx.merge(self.teacher_graphdef, extra)
            teacher_logits = jax.lax.stop_gradient(teacher(tokens, attention_mask=batch["mask"]))
        per = token_losses(self.logits(params, batch, key), tokens, self.loss, teacher_logits)
        return masked_mean(per, batch["loss_mask"], valid), state


@dataclasses.dataclass(frozen=True)
class HeldOut:
    """The engine's evaluation: the cross-entropy of the student's next-token predictions on
    held-out pairs (no dropout), over their scored tokens."""

    graphdef: Any

    def __call__(self, params, state, data, extra):
        del state, extra
        logits = nnx.merge(self.graphdef, params)(data["tokens"], attention_mask=data["mask"])
        per = optax.softmax_cross_entropy_with_integer_labels(logits[:, :-1], data["tokens"][:, 1:])
        return masked_mean(per, data["loss_mask"], jnp.ones(data["tokens"].shape[0], bool))
