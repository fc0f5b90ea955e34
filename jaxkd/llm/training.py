"""Causal-LM training and sequence-level / token-level distillation for the Flax GPT-2.

A jitted step with optax (AdamW, linear warmup then cosine decay, global-norm clipping).
The loss is next-token cross-entropy on the positions ``loss_mask`` marks (prompt tokens are
masked out), optionally mixed with token-level soft-target distillation: the KL divergence
from the teacher's next-token distribution at temperature T, scaled by T^2 (Hinton et al.).
Several students train at once by vmapping the same step over stacked parameters.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from jaxkd import _validation as v


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    learning_rate: float = 3e-3
    warmup_steps: int = 20
    total_steps: int = 300
    weight_decay: float = 0.01
    clip_norm: float = 1.0
    kd_temperature: float = 2.0
    kd_weight: float = 0.0   # 0: hard targets only; 1: soft targets only

    def __post_init__(self):
        v.check_positive("learning rate", self.learning_rate)
        v.check_int("warmup_steps", self.warmup_steps, minimum=0)
        v.check_int("total_steps", self.total_steps)
        v.check_nonnegative("weight_decay", self.weight_decay)
        v.check_positive("clip_norm", self.clip_norm)
        v.check_positive("kd_temperature", self.kd_temperature)
        if not 0.0 <= self.kd_weight <= 1.0:
            raise ValueError(f"kd_weight must lie in [0, 1], got {self.kd_weight}.")


def optimizer(cfg: TrainConfig) -> optax.GradientTransformation:
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, cfg.learning_rate, cfg.warmup_steps, max(cfg.total_steps, cfg.warmup_steps + 1))
    return optax.chain(optax.clip_by_global_norm(cfg.clip_norm),
                       optax.adamw(schedule, weight_decay=cfg.weight_decay))


def soft_target_kl(student_logits, teacher_logits, temperature: float):
    """Per-token soft-target loss ``KL(p_T || q_T) * T^2`` (Hinton et al.), where p_T and q_T are
    the teacher's and the student's softmax at temperature T.

    Args:
      student_logits, teacher_logits: (..., V).

    Returns:
      (...) the per-position loss.
    """
    T = temperature
    log_p = jax.nn.log_softmax(teacher_logits / T, axis=-1)
    log_q = jax.nn.log_softmax(student_logits / T, axis=-1)
    return T**2 * jnp.sum(jnp.exp(log_p) * (log_p - log_q), axis=-1)


def token_losses(logits, tokens, loss_mask, teacher_logits, cfg: TrainConfig):
    """Mean next-token loss over the positions ``loss_mask`` marks.

    Args:
      logits: the student's (B, T, V).
      tokens, loss_mask: (B, T).
      teacher_logits: the teacher's (B, T, V) on the same tokens, or None when
        ``cfg.kd_weight`` is 0.

    Returns:
      Scalar: (1 - w) * cross-entropy + w * :func:`soft_target_kl`, w = ``cfg.kd_weight``.
    """
    logits = logits[:, :-1]
    targets, weight = tokens[:, 1:], loss_mask[:, 1:].astype(logits.dtype)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, targets)
    if cfg.kd_weight > 0.0:
        if teacher_logits is None:
            raise ValueError("kd_weight > 0 needs the teacher's logits.")
        kl = soft_target_kl(logits, teacher_logits[:, :-1], cfg.kd_temperature)
        loss = (1.0 - cfg.kd_weight) * loss + cfg.kd_weight * kl
    return jnp.sum(loss * weight) / jnp.maximum(jnp.sum(weight), 1.0)


def _step(graphdef, cfg, teacher_graphdef, state, opt_state, teacher_state, tokens, mask, loss_mask):
    # The teacher's logits for this batch only, inside the step: peak memory is one batch's
    # (B, T, V), whatever the size of the distillation set.
    teacher_logits = None
    if teacher_graphdef is not None:
        teacher = nnx.merge(teacher_graphdef, teacher_state)
        teacher_logits = jax.lax.stop_gradient(teacher(tokens, attention_mask=mask))

    def loss_fn(s):
        logits = nnx.merge(graphdef, s)(tokens, attention_mask=mask)
        return token_losses(logits, tokens, loss_mask, teacher_logits, cfg)

    loss, grads = jax.value_and_grad(loss_fn)(state)
    with jax.numpy_dtype_promotion("standard"):  # optax's int32 step counts
        updates, opt_state = optimizer(cfg).update(grads, opt_state, state)
    return optax.apply_updates(state, updates), opt_state, loss


train_step = jax.jit(_step, static_argnums=(0, 1, 2), donate_argnums=(3, 4))
train_step.__doc__ = """One optimisation step for one model: ``(graphdef, cfg, teacher_graphdef,
state, opt_state, teacher_state, tokens, mask, loss_mask) -> (state, opt_state, loss)``; the
teacher pair is (None, None) without soft targets. Unvalidated fast core (see :class:`Trainer`)."""

# Several students at once: vmapped over stacked states/opt states and per-student batches;
# the teacher is shared (not stacked).
train_step_ensemble = jax.jit(jax.vmap(_step, in_axes=(None, None, None, 0, 0, None, 0, 0, 0)),
                              static_argnums=(0, 1, 2), donate_argnums=(3, 4))


class Trainer:
    """Holds one model's (or a stacked ensemble's) state and optimizer state.

    ``Trainer(model, cfg)`` for one model; ``Trainer.ensemble(models, cfg)`` stacks several
    same-shaped models on a leading axis and trains them with one vmapped step. With
    ``cfg.kd_weight > 0`` pass ``teacher`` (a GPT-2 with the same vocabulary): its logits are
    computed per batch inside the jitted step, never for the whole distillation set.
    """

    def __init__(self, model, cfg: TrainConfig, *, stacked: bool = False, teacher=None):
        self.cfg = cfg
        self.graphdef, self.state = nnx.split(model) if not stacked else model
        self.stacked = stacked
        if cfg.kd_weight > 0.0 and teacher is None:
            raise ValueError("kd_weight > 0 (soft targets) needs the teacher model.")
        if cfg.kd_weight == 0.0 and teacher is not None:
            raise ValueError("a teacher was given but kd_weight is 0, so it would not be used.")
        self.teacher = (None, None) if teacher is None else nnx.split(teacher)
        if teacher is not None:
            one = jax.tree.map(lambda a: a[0], self.state) if stacked else self.state
            vocab = nnx.merge(self.graphdef, one).config.vocab_size
            if teacher.config.vocab_size != vocab:
                raise ValueError(f"the teacher's vocabulary ({teacher.config.vocab_size}) differs from "
                                 f"the student's ({vocab}); soft targets need the same tokens.")
        init = optimizer(cfg).init
        self.opt_state = jax.vmap(init)(self.state) if stacked else init(self.state)
        self.steps = 0

    @classmethod
    def ensemble(cls, models, cfg: TrainConfig, *, teacher=None) -> "Trainer":
        graphdef = nnx.graphdef(models[0])
        states = [nnx.state(m) for m in models]
        return cls((graphdef, jax.tree.map(lambda *xs: jnp.stack(xs), *states)), cfg, stacked=True,
                   teacher=teacher)

    def step(self, tokens, mask, loss_mask) -> jax.Array:
        """One step on a batch: (B, T) arrays (with a leading student axis when stacked)."""
        tokens, mask = jnp.asarray(tokens, jnp.int32), jnp.asarray(mask, jnp.int32)
        loss_mask = jnp.asarray(loss_mask, jnp.int32)
        fn = train_step_ensemble if self.stacked else train_step
        tg, ts = self.teacher
        self.state, self.opt_state, loss = fn(self.graphdef, self.cfg, tg, self.state, self.opt_state, ts,
                                              tokens, mask, loss_mask)
        self.steps += 1
        return loss

    def model(self, index: int | None = None):
        """The trained model (the ``index``-th student of an ensemble)."""
        state = self.state if index is None else jax.tree.map(lambda a: a[index], self.state)
        return nnx.merge(self.graphdef, state)
