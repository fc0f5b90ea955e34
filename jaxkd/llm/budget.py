"""Memory budgets of distillation: the estimated peak bytes of training and sampling students
(either decoder family), and how many students (or sequences) fit at once in :data:`jaxkd.memory.FRACTION` of
the memory :func:`jaxkd.memory.available_bytes` reports; refusals before anything is allocated.

Estimates are float32 bytes. Shapes: N students, B sequences per batch, L tokens per sequence
(or KV-cache slots), C width, H heads (K of them key/value heads, D wide), V vocabulary, and the
model's layer count.
"""

from __future__ import annotations

import jax
import numpy as np
from flax import nnx

from jaxkd import memory


def num_params(model) -> int:
    """The number of trainable parameters (``nnx.Param`` leaves) of ``model``."""
    return sum(int(np.prod(a.shape)) for a in jax.tree.leaves(nnx.state(model, nnx.Param)))


def training_bytes(model, students: int, batch: int, length: int, *, soft: bool = False) -> int:
    """Estimated peak bytes of training ``students`` at once: per student the parameters six
    times (initial copy, state, Adam's two moments, gradients, updates) and one batch's
    activations kept for the backward pass (per layer about 12 C + 2 H L + the MLP width per
    token, plus the logits, their softmax and gradient; the teacher's logits twice more with a
    teacher in the loss), float32."""
    c = model.config
    per_token = c.n_layer * (12 * c.n_embd + 2 * c.n_head * length + 2 * c.inner_dim) + (5 if soft else 3) * c.vocab_size
    return 4 * students * (6 * num_params(model) + batch * length * per_token)


def sampling_bytes(model, students: int, sequences: int, length: int) -> int:
    """Estimated peak bytes of sampling ``sequences`` per student with a KV cache of ``length``
    slots: the cache (2 L S K D floats; K D = C in GPT-2), two rows of logits and the seen-token mask per sequence,
    and the students' parameters."""
    c = model.config
    return students * (sequences * (4 * (2 * c.n_layer * length * c.n_kv_head * c.head_dim + 2 * c.vocab_size)
                                    + c.vocab_size)
                       + 4 * num_params(model))


def students_per_chunk(per_student: int, students: int, *, kept: int = 0, what: str) -> int:
    """How many students fit at once in :data:`jaxkd.memory.FRACTION` of the available memory
    when each needs ``per_student`` bytes and ``kept`` bytes are held for all of them besides
    (finished students on the host); ``ValueError`` when not even one fits."""
    budget = memory.FRACTION * memory.available_bytes() - kept
    fit = int(budget // max(per_student, 1))
    if fit < 1:
        raise ValueError(f"{what} needs about {memory.human(per_student + kept)} of memory for a single student, but "
                         f"this machine has {memory.human(memory.available_bytes())} available "
                         f"({jax.default_backend()}); use a smaller batch, fewer pairs or a smaller model.")
    return min(fit, students)


def check_memory(need: int, what: str, students: int) -> None:
    """Refuse (``ValueError``: estimate, memory, what to change) before allocating ``need`` bytes."""
    per = need / max(students, 1)
    fit = int(memory.FRACTION * memory.available_bytes() / per) if per else students
    memory.check_fits(need, what, f"use fewer students (about {fit:,} fit) or a smaller batch")


def sampling_blocks(model, students: int, sequences: int, length: int) -> tuple[int, int]:
    """How to sample ``sequences`` from each of ``students`` models in memory: (models per call,
    sequences per call). All sequences of as many models as fit; when not even one model's
    sequences fit, one model at a time in blocks of sequences (``ValueError`` when not even one
    sequence fits). Every sequence has its own key, so the blocks do not change the draws."""
    per_model = sampling_bytes(model, 1, sequences, length)
    budget = memory.FRACTION * memory.available_bytes()
    if per_model <= budget:
        return min(students, int(budget // per_model)), sequences
    params = 4 * num_params(model)
    per_sequence = sampling_bytes(model, 1, 1, length) - params
    block = int((budget - params) // max(per_sequence, 1))
    if block < 1:
        raise ValueError(f"sampling {sequences:,} sequences from a model needs about {memory.human(params + per_sequence)} "
                         f"for a single sequence, but this machine has {memory.human(memory.available_bytes())} "
                         f"available ({jax.default_backend()}); lower max_new_tokens or use a smaller model.")
    return 1, block
