"""Optimizers for language-model training, by name (any optax transformation works too).

* ``"trainer"``: the Hugging Face Trainer's defaults, which the study's students trained with
  (``TrainingArguments`` with only epochs, batch size and learning rate set): AdamW with
  β = (0.9, 0.999), ε = 1e-8 and no weight decay, no warm-up, the learning rate decaying
  linearly to 0 over the run, gradients clipped to global norm 1.
* ``"warmup-cosine"``: AdamW with weight decay 0.01, a linear warm-up over the first 10% of the
  steps (at most 20) and a cosine decay to 0, gradients clipped to global norm 1: what jaxkd
  trains its small GPT-2s from scratch with (the quick preset's teacher and base student).

:func:`make` returns the same object for the same arguments, so a compiled training program
(the optimizer is a static argument of the engine) is reused.
"""

from __future__ import annotations

import functools

import optax

from jaxkd import _validation as v


def trainer(learning_rate: float, total_steps: int) -> optax.GradientTransformation:
    """The Hugging Face Trainer's default optimizer and schedule (module docstring)."""
    schedule = optax.linear_schedule(learning_rate, 0.0, total_steps)
    return optax.chain(optax.clip_by_global_norm(1.0),
                       optax.adamw(schedule, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0))


def warmup_cosine(learning_rate: float, total_steps: int) -> optax.GradientTransformation:
    """AdamW (weight decay 0.01), linear warm-up then cosine decay (module docstring)."""
    warmup = min(20, total_steps // 10)
    schedule = optax.warmup_cosine_decay_schedule(0.0, learning_rate, warmup, max(total_steps, warmup + 1))
    return optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(schedule, weight_decay=0.01))


OPTIMIZERS = {"trainer": trainer, "warmup-cosine": warmup_cosine}


@functools.lru_cache(maxsize=256)
def make(name: str, learning_rate: float, total_steps: int) -> optax.GradientTransformation:
    """The optimizer ``name`` for a run of ``total_steps`` steps (validated entry point)."""
    v.check_choice("optimizer", name, tuple(OPTIMIZERS))
    v.check_positive("learning rate", learning_rate)
    v.check_int("total steps", total_steps)
    return OPTIMIZERS[name](float(learning_rate), int(total_steps))
