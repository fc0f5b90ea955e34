"""Training on jaxkd's one engine (:mod:`jaxkd.students.ensemble`): :func:`distill` N
students at once on training pairs (cross-entropy on the answers, or a divergence from a
teacher's logits, on- or off-policy), :func:`fine_tune` one model, and :class:`Students`, what a
distillation returns.

Every epoch is a permutation of each student's pairs without replacement from its own order key,
the last ragged batch kept (as the Hugging Face Trainer does), a block of steps per compiled
call, students in chunks sized from the memory estimate (:mod:`jaxkd.llm.budget`), the loss of
every step returned. Shapes: N students, M pairs, L tokens per pair.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxkd import _validation as v
from jaxkd import memory
from jaxkd.llm import optim
from jaxkd.llm.budget import num_params, students_per_chunk, training_bytes
from jaxkd.llm.families import check_model
from jaxkd.llm.objective import HeldOut, LMObjective, Loss, SequenceBatch, left_padded_prompts
from jaxkd.llm.pairs import Pairs
from jaxkd.llm.teacher_logits import TeacherLogits
from jaxkd.students import ensemble


@dataclasses.dataclass(frozen=True)
class Compute:
    """What one student's training cost: ``steps`` (optimisation steps), ``epochs`` (passes over
    its pairs, fractional when ``max_steps`` stopped inside one), ``pairs`` (its training pairs)
    and ``training_tokens`` (tokens seen, scored or not)."""

    steps: int
    epochs: float
    pairs: int
    training_tokens: int


@dataclasses.dataclass(frozen=True)
class Students:
    """N distilled students and what their training did.

    Attributes:
      graphdef, states: the students' graph definition and parameters stacked on a leading axis
        N (host NumPy arrays when they were trained in chunks);
        ``nnx.merge(graphdef, tree_map(lambda a: a[i], states))`` is student i (:meth:`model`).
      compute: what each student's training cost (:class:`Compute`; the same for all N).
      losses: (N, steps) the training loss at every step.
      eval_losses: (N, epochs) the held-out loss after every epoch (None without held-out pairs).
      trace: what ``trace`` recorded after every step, leaves (N, steps, ...) (None without one).
      convergence: how far each student's training went under a stopping rule
        (:class:`jaxkd.students.ensemble.Convergence`: steps taken, converged or capped, final
        loss, the window's change; None without a rule, when every student takes ``compute.steps``).
    """

    graphdef: object
    states: object
    compute: Compute
    losses: np.ndarray | None = None
    eval_losses: np.ndarray | None = None
    trace: object = None
    convergence: ensemble.Convergence | None = None

    @property
    def num_students(self) -> int:
        return jax.tree.leaves(self.states)[0].shape[0]

    def state(self, lo: int = 0, hi: int | None = None):
        """Students lo..hi's stacked states as device arrays."""
        return jax.tree.map(lambda a: jnp.asarray(a[lo:hi]), self.states)

    def model(self, index: int):
        return nnx.merge(self.graphdef, jax.tree.map(lambda a: jnp.asarray(a[index]), self.states))


def _as_batch(pairs: Pairs) -> SequenceBatch:
    """The engine's batch record of ``pairs``: (M, L) (or (N, M, L)) int32 device arrays."""
    return SequenceBatch(jnp.asarray(pairs.tokens, jnp.int32), jnp.asarray(pairs.mask, jnp.int32),
                         jnp.asarray(pairs.loss_mask, jnp.int32))


def distill(student, pairs: Pairs, *, order_keys, epochs: int, batch_size: int, max_steps: int | None = None,
            optimizer: "str | object" = "trainer", learning_rate: float = 5e-5, loss: Loss = Loss(),
            teacher=None, init_states=None, dropout_keys=None, sample_keys=None, coin_key=None,
            eval_pairs: Pairs | None = None, teacher_logits: TeacherLogits | None = None,
            chunk: int | None = None, trace: Callable | None = None,
            progress: Callable[[int, int], None] | None = None,
            stopping: ensemble.Stopping | None = None, checkpoints: tuple[int, ...] = (),
            on_checkpoint: Callable[[int, int, int, "Students"], None] | None = None) -> Students:
    """Distil N students at once (validated entry point) on the engine of
    :mod:`jaxkd.students.ensemble`.

    Args:
      student: the jaxkd decoder (GPT-2 or Llama family) every student starts from (or give ``init_states``).
      pairs: training sequences (M, L), shared by all students, or (N, M, L), one set each.
      order_keys: (N,) data-order keys, one per student: every epoch is a permutation of the
        student's M pairs without replacement, cut into ceil(M / batch_size) batches (the last
        one smaller, as the Hugging Face Trainer does).
      epochs: passes over each student's pairs.
      batch_size: pairs per step.
      max_steps: stop after this many steps, inside an epoch if need be (compute-matched
        comparisons of training sets of different sizes); the schedule of a named optimizer
        spans these steps.
      optimizer: an optimizer name of :mod:`jaxkd.llm.optim` (``"trainer"``: the Hugging Face
        Trainer's defaults, the study's) built for this run's steps with ``learning_rate``, or
        any optax transformation (then ``learning_rate`` is not used).
      learning_rate: peak learning rate of a named optimizer (the study: 5e-5).
      loss: the per-token loss (:class:`jaxkd.llm.objective.Loss`); a divergence needs
        ``teacher``, whose logits are computed per batch inside the compiled step.
      teacher: the teacher (either family, same vocabulary) for a divergence loss; with
        ``teacher_logits`` only for on-policy steps (the student's own text is scored live).
      teacher_logits: the teacher truncated to its top ``loss.top_k`` on exactly these pairs,
        computed once (:mod:`jaxkd.llm.teacher_logits`: :func:`~jaxkd.llm.teacher_logits.cached`
        or ``compute``); the off-policy steps read it instead of running the teacher.
      init_states: optional stacked initial parameters (N, ...) instead of N copies of ``student``.
      dropout_keys: (N,) dropout keys, one per student: required when the student's config has
        dropout (Hugging Face checkpoints do: 0.1), which is then applied in training.
      sample_keys: (N,) keys of the students' own samples: required with ``loss.on_policy`` > 0.
      coin_key: the key of the on-policy coin (one flip per step, shared by every student):
        required when 0 < ``loss.on_policy`` < 1.
      eval_pairs: optional held-out pairs (M', L'): their loss is evaluated after every epoch.
      chunk: students trained at a time on each device (default: as many as memory allows;
        a student's numbers do not depend on it).
      trace: optional ``trace(params) -> pytree`` recorded after every step (hashable).
      progress: optional ``progress(steps_done, total_steps)``, summed over students.
      stopping: optional per-student stopping rule (:class:`jaxkd.students.ensemble.Stopping`):
        on the training loss, or on the held-out loss (``monitor="held-out"``, with
        ``eval_pairs``); the epochs (or ``max_steps``) are the cap. Default: the fixed budget.
      checkpoints, on_checkpoint: epochs along this one run (increasing, below the last) at which
        ``on_checkpoint(epoch, lo, hi, students)`` sees students lo..hi-1 as :class:`Students`
        (their parameters then, ``compute`` up to that epoch, no losses): a fit ladder that costs
        evaluation, not training. The learning-rate schedule is the whole run's.

    Returns:
      :class:`Students`.
    """
    check_model(student)
    if stopping is not None and stopping.monitor == "held-out" and eval_pairs is None:
        raise ValueError("a held-out stopping rule watches the held-out loss: pass eval_pairs.")
    keys = ensemble.check_keys("order keys", order_keys)
    N = keys.shape[0]
    v.check_int("epochs", epochs)
    v.check_int("batch size", batch_size)
    if not isinstance(loss, Loss):
        raise ValueError(f"loss must be a jaxkd.llm.objective.Loss, got {type(loss).__name__}.")
    if pairs.per_student and pairs.tokens.shape[0] != N:
        raise ValueError(f"per-student pairs are for {pairs.tokens.shape[0]} students, but {N} order keys were given.")
    if pairs.tokens.shape[-1] > student.config.n_positions:
        raise ValueError(f"training sequences of {pairs.tokens.shape[-1]} tokens exceed the student's "
                         f"{student.config.n_positions} positions; shorten the answers or the prompts.")
    if teacher_logits is not None:
        if not isinstance(teacher_logits, TeacherLogits):
            raise ValueError(f"teacher_logits must be a jaxkd.llm.teacher_logits.TeacherLogits, got "
                             f"{type(teacher_logits).__name__}.")
        if not loss.needs_teacher or not loss.top_k:
            raise ValueError("a teacher-logits file holds the teacher's top k: distil from it with a divergence loss "
                             f"and top_k={teacher_logits.k}, e.g. Loss('forward_kl', top_k={teacher_logits.k}).")
        teacher_logits.check(pairs, k=loss.top_k, temperature=loss.teacher_temperature * loss.temperature,
                             vocab_size=student.config.vocab_size)
        if teacher is not None and loss.on_policy == 0:
            raise ValueError("a teacher was given but every step reads the teacher-logits file, so it would not be "
                             "used; leave it out (it is needed only for on-policy steps).")
    if loss.top_k > student.config.vocab_size:
        raise ValueError(f"top_k={loss.top_k} exceeds the vocabulary of {student.config.vocab_size} tokens.")
    live_teacher = loss.needs_teacher and (teacher_logits is None or loss.on_policy > 0)
    if live_teacher:
        if teacher is None:
            raise ValueError(f"the {loss.kind} loss needs the teacher's logits: pass teacher="
                             + (" (on-policy steps score the student's own text)." if teacher_logits is not None
                                else " or a teacher-logits file (teacher_logits=, with loss.top_k)."))
        check_model(teacher, "teacher")
        if teacher.config.vocab_size != student.config.vocab_size:
            raise ValueError(f"the teacher's vocabulary ({teacher.config.vocab_size}) differs from the student's "
                             f"({student.config.vocab_size}); token-level losses need the same tokenizer.")
    elif teacher is not None:
        raise ValueError("a teacher was given but the loss is cross-entropy on the training text, so it would not "
                         "be used; pass loss=Loss('forward_kl') for soft targets, or leave the teacher out.")
    if loss.on_policy > 0:
        if sample_keys is None:
            raise ValueError("on-policy training samples every student's own continuations: pass sample_keys, one "
                             "key per student from its own sampling stream.")
        if loss.on_policy < 1 and coin_key is None:
            raise ValueError("0 < on_policy < 1 flips a coin per step for whether it is on-policy: pass coin_key.")
        if pairs.tokens.shape[-1] + loss.max_new_tokens > student.config.n_positions:
            raise ValueError(f"prompts plus on-policy continuations of {loss.max_new_tokens} tokens exceed the "
                             f"student's {student.config.n_positions} positions; lower loss.max_new_tokens.")
    if student.config.dropout and dropout_keys is None:
        raise ValueError("the student has dropout in its config (e.g. a Hugging Face checkpoint's 0.1): pass "
                         "dropout_keys, one per student, or train without it: init from "
                         "student.config.without_dropout().")
    graphdef, base_state = nnx.split(student, nnx.Param)
    states = init_states if init_states is not None else jax.tree.map(
        lambda a: jnp.broadcast_to(a, (N, *a.shape)), base_state)
    if jax.tree.leaves(states)[0].shape[0] != N:
        raise ValueError(f"init_states hold {jax.tree.leaves(states)[0].shape[0]} students for {N} order keys.")
    M, L = pairs.num_pairs, pairs.tokens.shape[-1]
    schedule = ensemble.Schedule(epochs, batch_size, drop_last=False, max_steps=max_steps)
    steps = schedule.total_steps(M)
    if isinstance(optimizer, str):
        optimizer = optim.make(optimizer, learning_rate, steps)
    per = training_bytes(student, 1, min(batch_size, M), L + (loss.max_new_tokens if loss.on_policy else 0),
                         soft=live_teacher)
    if chunk is None:
        fits_all = N * per <= memory.FRACTION * memory.available_bytes()
        chunk = N if fits_all else students_per_chunk(per, N, kept=4 * N * num_params(student),
                                                      what=f"distilling students (batch {batch_size}, {L} tokens)")
    chunk = v.check_int("chunk", chunk)
    arrays = _as_batch(pairs)
    if loss.on_policy > 0:
        prompts, pmask = left_padded_prompts(pairs.tokens, pairs.mask, pairs.loss_mask)
        arrays = arrays._replace(prompt=jnp.asarray(prompts, jnp.int32), prompt_mask=jnp.asarray(pmask, jnp.int32))
    if teacher_logits is not None:
        arrays = arrays._replace(topk_ids=jnp.asarray(teacher_logits.ids, jnp.int32),
                                 topk_logprobs=jnp.asarray(teacher_logits.logprobs, jnp.float32),
                                 topk_tail=jnp.asarray(teacher_logits.tail, jnp.float32))
    data, own = ((None, arrays) if pairs.per_student else (arrays, None))
    objective = LMObjective(graphdef, loss, None if teacher is None else nnx.graphdef(teacher),
                            dropout=student.config.dropout, eos_id=student.config.eos_token_id)
    step_keys = {**({"dropout": dropout_keys} if student.config.dropout else {}),
                 **({"sample": ensemble.check_keys("sample keys", sample_keys, N)} if loss.on_policy > 0 else {})}
    extra = None if teacher is None else {"teacher": nnx.state(teacher, nnx.Param),
                                          "coin": jax.random.key(0) if coin_key is None else coin_key}
    per_pair = float(pairs.mask.sum() / np.prod(pairs.mask.shape[:-1]))

    def compute_at(epochs_done: int) -> Compute:
        s = min(epochs_done * schedule.steps_per_epoch(M), steps)
        seen = min(s * batch_size, epochs_done * M)  # sequences seen (the last batch of an epoch may be short)
        return Compute(steps=s, epochs=seen / M, pairs=M, training_tokens=int(round(seen * per_pair)))

    def checkpoint(epoch, lo, hi, params):
        on_checkpoint(epoch, lo, hi, Students(graphdef, params, compute_at(epoch)))

    fit = ensemble.fit(objective, optimizer, schedule, states, data, own=own, order_keys=keys,
                       step_keys=step_keys or None, extra=extra,
                       chunk=chunk, epochs_per_block=1, trace=trace,
                       evaluate=None if eval_pairs is None else HeldOut(graphdef),
                       eval_data=None if eval_pairs is None else _as_batch(eval_pairs), on_block=progress,
                       host=chunk < N, stopping=stopping, checkpoints=checkpoints,
                       on_checkpoint=None if on_checkpoint is None else checkpoint)
    compute = compute_at(epochs)
    return Students(graphdef, fit.params, compute, fit.losses, fit.eval_losses, fit.trace, fit.convergence)


def fine_tune(model, pairs: Pairs, key: jax.Array, *, epochs: int, batch_size: int, optimizer: str = "trainer",
              learning_rate: float = 5e-5, dropout_key=None, progress=None):
    """One model trained on ``pairs`` (cross-entropy on the answers): :func:`distill` with one
    student. Returns ``(model, losses (steps,))``."""
    out = distill(model, pairs, order_keys=key[None], epochs=epochs, batch_size=batch_size, optimizer=optimizer,
                  learning_rate=learning_rate, dropout_keys=None if dropout_key is None else dropout_key[None],
                  progress=progress)
    return out.model(0), out.losses[0]
