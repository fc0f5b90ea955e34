"""Distil language models with jaxkd: a study-independent API.

Give it a teacher and a student (NNX GPT-2s, e.g. from :func:`jaxkd.llm.checkpoint.load` on a
local Hugging Face folder), their tokenizer, prompt strings and an optional prompt template;
it samples teacher responses, chooses training targets, distils N students at once and
measures them. Inputs and outputs are plain (strings, token arrays, embeddings, stacked NNX
states); every random step takes an explicit key; nothing is kept between calls.

The steps, in the order a distillation runs them::

    prompts = distill.encode_prompts(tok, questions, template="Q: {prompt}\\nA:")
    responses = distill.teacher_responses(teacher, tok, prompts, k, key, sampling_cfg)   # P x k
    pairs = distill.choose_targets("averaging", responses, embeddings=embed(responses))
    data = distill.encode_pairs(tok, [questions[p] for p, _ in pairs], [a for _, a in pairs],
                                template="Q: {prompt}\\nA:")
    students = distill.distill(student, data, order_keys=keys, epochs=3, batch_size=10)
    texts = distill.student_responses(students, tok, prompts, n, key, sampling_cfg)    # N x P x n
    numbers = distill.measure(embed(texts), embed(teacher_texts))

Targets (:mod:`jaxkd.llm.selection`): ``single`` (one response per prompt, standard
distillation), ``multi`` (all k), ``averaging`` (the response closest to the mean embedding),
``variance-weighting`` (closest to the inverse-variance combination of teacher and student
mean embeddings) and ``soft`` (token-level soft targets: :func:`distill` with a ``teacher`` and
``loss=Loss("forward_kl")``, the teacher's logits computed per batch inside the compiled step).

Training runs on jaxkd's one engine (:mod:`jaxkd.students.ensemble`): N students vmapped,
every epoch a permutation of each student's pairs without replacement from its own order key,
the last ragged batch kept (as the Hugging Face Trainer does), a block of steps per compiled
call, students in chunks sized from the memory estimate, the loss of every step returned.

Per-student teacher draws: ``teacher_responses(..., students=N)`` gives each student its own k
responses (N x P x k), and :func:`encode_pairs` output stacked with :func:`stack_pairs` trains
student i on its own pairs.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxkd import _validation as v
from jaxkd import memory, uncertainty
from jaxkd.llm import metrics as tm
from jaxkd.llm import optim, sampling
from jaxkd.llm.model import GPT2
from jaxkd.llm.objective import HeldOut, LMObjective, Loss, left_padded_prompts
from jaxkd.llm.selection import METHODS, select
from jaxkd.students import ensemble

__all__ = ["Pairs", "Students", "Loss", "METHODS", "encode_prompts", "encode_pairs", "stack_pairs",
           "teacher_responses", "generate_texts", "student_responses", "student_logprobs", "choose_targets",
           "distill", "fine_tune", "embed_texts", "measure", "decode", "check_model"]


def _check_template(template: str) -> str:
    if not isinstance(template, str) or "{prompt}" not in template:
        raise ValueError(f"a prompt template must be a string containing {{prompt}}, got {template!r}.")
    try:
        template.format(prompt="")
    except (KeyError, IndexError, ValueError):
        raise ValueError(f"the prompt template {template!r} has fields other than {{prompt}}.") from None
    return template


def encode_prompts(tokenizer, prompts: Sequence[str], template: str = "{prompt}") -> list[list[int]]:
    """Token ids of each prompt written into ``template`` (which holds ``{prompt}``)."""
    template = _check_template(template)
    if isinstance(prompts, str) or not len(prompts):
        raise ValueError("prompts must be a non-empty list of strings.")
    return [tokenizer(template.format(prompt=p))["input_ids"] for p in prompts]


@dataclasses.dataclass(frozen=True)
class Pairs:
    """Prompt + answer sequences for training, right-padded with EOS.

    tokens, mask, loss_mask: (M, L) int32 (or (N, M, L) with a student axis, see
    :func:`stack_pairs`); ``mask`` is 1 on real tokens, ``loss_mask`` 1 on the answer tokens
    (the prompt is not scored).
    """

    tokens: np.ndarray
    mask: np.ndarray
    loss_mask: np.ndarray

    @property
    def per_student(self) -> bool:
        return self.tokens.ndim == 3

    @property
    def num_pairs(self) -> int:
        return self.tokens.shape[-2]


def encode_pairs(tokenizer, prompts: Sequence[str], answers: Sequence[str], *, template: str = "{prompt}",
                 answer_prefix: str = " ") -> Pairs:
    """Training sequences: ``template(prompt)`` tokens, then ``answer_prefix + answer.strip()``
    tokens and EOS, for each (prompt, answer) pair. Only the answer and EOS are scored."""
    template = _check_template(template)
    if len(prompts) != len(answers) or not len(prompts):
        raise ValueError(f"need one answer per prompt and at least one pair; got {len(prompts)} prompts "
                         f"and {len(answers)} answers.")
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ValueError("the tokenizer has no eos_token_id; answers must end with an end-of-text token.")
    seqs, scored = [], []
    for p, text in zip(prompts, answers):
        prompt = tokenizer(template.format(prompt=p))["input_ids"]
        answer = tokenizer(answer_prefix + text.strip())["input_ids"] + [eos]
        seqs.append(prompt + answer)
        scored.append([0] * len(prompt) + [1] * len(answer))
    return _padded(seqs, scored, eos)


def _padded(seqs, scored, eos, width=None) -> Pairs:
    L = width or max(len(s) for s in seqs)
    tokens = np.full((len(seqs), L), eos, np.int32)
    mask, loss = np.zeros_like(tokens), np.zeros_like(tokens)
    for i, (s, w) in enumerate(zip(seqs, scored)):
        tokens[i, : len(s)], mask[i, : len(s)], loss[i, : len(s)] = s, 1, w
    return Pairs(tokens, mask, loss)


def stack_pairs(per_student: Sequence[Pairs], eos: int) -> Pairs:
    """One :class:`Pairs` per student (same number of pairs each) -> (N, M, L) on a student axis."""
    if not per_student or any(p.per_student for p in per_student):
        raise ValueError("stack_pairs takes a non-empty list of unstacked Pairs.")
    if len({p.num_pairs for p in per_student}) != 1:
        raise ValueError("every student needs the same number of training pairs to train in one step.")
    L = max(p.tokens.shape[1] for p in per_student)

    def pad(a, fill):
        return np.pad(a, ((0, 0), (0, L - a.shape[1])), constant_values=fill)

    return Pairs(*(np.stack([pad(getattr(p, f), eos if f == "tokens" else 0) for p in per_student])
                   for f in ("tokens", "mask", "loss_mask")))


def decode(tokenizer, rows, eos: int) -> list[str]:
    """Generated token rows -> stripped strings, each cut at its first EOS."""
    out = []
    for row in np.asarray(rows):
        cut = np.flatnonzero(row == eos)
        out.append(tokenizer.decode(row[: cut[0]] if cut.size else row).strip())
    return out


def check_model(model, role: str = "student") -> GPT2:
    """``model`` if it is one of jaxkd's GPT-2s, else ``ValueError`` (one sentence)."""
    if not isinstance(model, GPT2):
        raise ValueError(f"the {role} is a {type(model).__module__}.{type(model).__qualname__}; jaxkd distils its own "
                         "GPT-2 (jaxkd.llm.GPT2): load a Hugging Face folder with jaxkd.llm.checkpoint.load(path).")
    return model


def _num_params(model) -> int:
    return sum(int(np.prod(a.shape)) for a in jax.tree.leaves(nnx.state(model, nnx.Param)))


def training_bytes(model, students: int, batch: int, length: int, *, soft: bool = False) -> int:
    """Estimated peak bytes of training ``students`` at once: per student the parameters six
    times (initial copy, state, Adam's two moments, gradients, updates) and one batch's
    activations kept for the backward pass (per layer about 12 C + 2 H L + the MLP width per
    token, plus the logits, their softmax and gradient; the teacher's logits twice more with a
    teacher in the loss), float32."""
    c = model.config
    per_token = c.n_layer * (12 * c.n_embd + 2 * c.n_head * length + 2 * c.inner_dim) + (5 if soft else 3) * c.vocab_size
    return 4 * students * (6 * _num_params(model) + batch * length * per_token)


def sampling_bytes(model, students: int, sequences: int, length: int) -> int:
    """Estimated peak bytes of sampling ``sequences`` per student with a KV cache of ``length``
    slots: the cache (2 L S C floats), two rows of logits and the seen-token mask per sequence,
    and the students' parameters."""
    c = model.config
    return students * (sequences * (4 * (2 * c.n_layer * length * c.n_embd + 2 * c.vocab_size) + c.vocab_size)
                       + 4 * _num_params(model))


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


def _repeat(prompts: Sequence[Sequence[int]], n: int, eos: int):
    v.check_int("samples per prompt", n)
    return sampling.pad_prompts([p for p in prompts for _ in range(n)], eos)


def _check_length(model, prompt_width: int, cfg: sampling.SamplingConfig) -> None:
    if prompt_width + cfg.max_new_tokens > model.config.n_positions:
        raise ValueError(f"the longest prompt ({prompt_width} tokens) plus max_new_tokens ({cfg.max_new_tokens}) "
                         f"exceeds the model's {model.config.n_positions} positions; lower max_new_tokens.")


def sampling_blocks(model, students: int, sequences: int, length: int) -> tuple[int, int]:
    """How to sample ``sequences`` from each of ``students`` models in memory: (models per call,
    sequences per call). All sequences of as many models as fit; when not even one model's
    sequences fit, one model at a time in blocks of sequences (``ValueError`` when not even one
    sequence fits). Every sequence has its own key, so the blocks do not change the draws."""
    per_model = sampling_bytes(model, 1, sequences, length)
    budget = memory.FRACTION * memory.available_bytes()
    if per_model <= budget:
        return min(students, int(budget // per_model)), sequences
    params = 4 * _num_params(model)
    per_sequence = sampling_bytes(model, 1, 1, length) - params
    block = int((budget - params) // max(per_sequence, 1))
    if block < 1:
        raise ValueError(f"sampling {sequences:,} sequences from a model needs about {memory.human(params + per_sequence)} "
                         f"for a single sequence, but this machine has {memory.human(memory.available_bytes())} "
                         f"available ({jax.default_backend()}); lower max_new_tokens or use a smaller model.")
    return 1, block


def _rows_in_blocks(fn, total: int, block: int) -> np.ndarray:
    """``fn(lo, hi)`` over row blocks of ``total`` rows, concatenated on the last-but-one axis."""
    return np.concatenate([np.asarray(fn(lo, min(lo + block, total))) for lo in range(0, total, block)], axis=-2)


def generate_texts(model, tokenizer, prompts: Sequence[Sequence[int]], n: int, key: jax.Array,
                   cfg: sampling.SamplingConfig) -> list[list[str]]:
    """n sampled responses per prompt from one model: P lists of n strings.

    Args:
      prompts: token ids per prompt (:func:`encode_prompts`).
      key: one key; sequence j of the (P * n) batch uses ``split(key, P * n)[j]`` (in blocks of
        sequences when they do not fit in memory at once).
    """
    check_model(model, "model")
    eos = model.config.eos_token_id
    tokens, mask = _repeat(prompts, n, eos)
    _check_length(model, tokens.shape[1], cfg)
    keys = jax.random.split(key, tokens.shape[0])
    _, block = sampling_blocks(model, 1, tokens.shape[0], tokens.shape[1] + cfg.max_new_tokens)
    rows = _rows_in_blocks(lambda lo, hi: sampling.generate(model, tokens[lo:hi], mask[lo:hi], keys[lo:hi], cfg,
                                                            eos_id=eos), tokens.shape[0], block)
    texts = decode(tokenizer, rows, eos)
    return [texts[i * n:(i + 1) * n] for i in range(len(prompts))]


def teacher_responses(teacher, tokenizer, prompts: Sequence[Sequence[int]], k: int, key: jax.Array,
                      cfg: sampling.SamplingConfig, *, students: int | None = None):
    """k teacher responses per prompt: shared (P x k), or per student (N x P x k) when
    ``students`` = N, student i's drawn with ``fold_in(key, i)`` (independent draws)."""
    check_model(teacher, "teacher")
    if students is None:
        return generate_texts(teacher, tokenizer, prompts, k, key, cfg)
    v.check_int("students", students)
    eos = teacher.config.eos_token_id
    tokens, mask = _repeat(prompts, k, eos)
    _check_length(teacher, tokens.shape[1], cfg)
    S, P = tokens.shape[0], len(prompts)
    # Students are a batch axis: as many students' draws per generate call as memory allows
    # (and blocks of one student's sequences when not even those fit).
    block, seq_block = sampling_blocks(teacher, students, S, tokens.shape[1] + cfg.max_new_tokens)
    keys = jax.vmap(lambda i: jax.random.split(jax.random.fold_in(key, i), S))(jnp.arange(students))
    out = []
    for start in range(0, students, block):
        n = min(block, students - start)
        tiled_t, tiled_m = np.tile(np.asarray(tokens), (n, 1)), np.tile(np.asarray(mask), (n, 1))
        flat = keys[start:start + n].reshape(-1)
        rows = _rows_in_blocks(lambda lo, hi: sampling.generate(teacher, tiled_t[lo:hi], tiled_m[lo:hi], flat[lo:hi],
                                                                cfg, eos_id=eos), n * S, seq_block)
        texts = decode(tokenizer, rows, eos)
        out += [[texts[j * S + i * k: j * S + (i + 1) * k] for i in range(P)] for j in range(n)]
    return out


@dataclasses.dataclass(frozen=True)
class Students:
    """N distilled students and what their training did.

    Attributes:
      graphdef, states: the students' graph definition and parameters stacked on a leading axis
        N (host NumPy arrays when they were trained in chunks);
        ``nnx.merge(graphdef, tree_map(lambda a: a[i], states))`` is student i (:meth:`model`).
      compute: ``steps`` (optimisation steps per student), ``epochs`` (passes over the pairs,
        fractional when ``max_steps`` stopped inside one), ``pairs`` (training pairs per student)
        and ``training_tokens`` (tokens seen per student, scored or not).
      losses: (N, steps) the training loss at every step.
      eval_losses: (N, epochs) the held-out loss after every epoch (None without held-out pairs).
      trace: what ``trace`` recorded after every step, leaves (N, steps, ...) (None without one).
    """

    graphdef: object
    states: object
    compute: dict
    losses: np.ndarray | None = None
    eval_losses: np.ndarray | None = None
    trace: object = None

    @property
    def num_students(self) -> int:
        return jax.tree.leaves(self.states)[0].shape[0]

    def state(self, lo: int = 0, hi: int | None = None):
        """Students lo..hi's stacked states as device arrays."""
        return jax.tree.map(lambda a: jnp.asarray(a[lo:hi]), self.states)

    def model(self, index: int):
        return nnx.merge(self.graphdef, jax.tree.map(lambda a: jnp.asarray(a[index]), self.states))


def student_responses(students: Students, tokenizer, prompts: Sequence[Sequence[int]], n: int,
                      key: jax.Array, cfg: sampling.SamplingConfig) -> list[list[list[str]]]:
    """n sampled responses per prompt from each of N students: N x P x n strings.

    ``key``: one key, split into one per student, or (N,) keys, one per student; student s's
    sequence j uses ``split(keys[s], P * n)[j]``, so a student's answers do not depend on which
    other students are sampled with it. Students (and, when one student's sequences do not fit,
    its sequences) are sampled in blocks as memory allows (:func:`sampling_blocks`)."""
    one = students.model(0)
    eos = one.config.eos_token_id
    tokens, mask = _repeat(prompts, n, eos)
    _check_length(one, tokens.shape[1], cfg)
    N, S = students.num_students, tokens.shape[0]
    chunk, block = sampling_blocks(one, N, S, tokens.shape[1] + cfg.max_new_tokens)
    keys = jax.random.split(key, N) if jnp.ndim(key) == 0 else ensemble.check_keys("sampling keys", key, N)
    keys = jax.vmap(lambda k: jax.random.split(k, S))(keys)
    out = np.concatenate([
        _rows_in_blocks(lambda a, b: sampling.generate_ensemble(students.graphdef, students.state(lo, lo + chunk),
                                                                tokens[a:b], mask[a:b], keys[lo:lo + chunk, a:b], cfg,
                                                                eos_id=eos), S, block)
        for lo in range(0, N, chunk)])
    P = len(prompts)
    return [[decode(tokenizer, out[s, i * n:(i + 1) * n], eos) for i in range(P)] for s in range(N)]


@functools.partial(jax.jit, static_argnums=0)
def _logprobs(graphdef, states, tokens, mask, target):
    return jax.vmap(lambda s: sampling.sequence_logprob_core(graphdef, s, tokens, mask, target))(states)


def student_logprobs(students: Students, pairs: Pairs) -> np.ndarray:
    """Teacher-forced log-probability of each pair's scored (answer) tokens under each student,
    per scored token: (N, M) for pairs (M, L). Deterministic: no sampling floor."""
    if pairs.per_student:
        raise ValueError("student_logprobs scores one set of pairs (M, L) under every student.")
    tokens, mask = jnp.asarray(pairs.tokens, jnp.int32), jnp.asarray(pairs.mask, jnp.int32)
    target = jnp.asarray(pairs.loss_mask, jnp.float32)
    one = students.model(0)
    N = students.num_students
    chunk = students_per_chunk(4 * _num_params(one) + 12 * tokens.size * one.config.vocab_size // max(len(tokens), 1),
                               N, what="scoring pairs under a student")
    total = np.concatenate([np.asarray(_logprobs(students.graphdef, students.state(lo, lo + chunk), tokens, mask, target))
                            for lo in range(0, N, chunk)])
    return total / np.maximum(np.asarray(pairs.loss_mask[:, 1:].sum(axis=1)), 1)


def choose_targets(method: str, responses, embeddings=None, student_embeddings=None) -> list[tuple[int, str]]:
    """Training pairs (prompt index, answer) for one target ``method`` (module docstring).

    Args:
      responses: k teacher responses per prompt (P lists of k strings).
      embeddings: their unit-norm embeddings (P, k, E) (averaging, variance-weighting).
      student_embeddings: the student's own pre-distillation samples (P, ks, E)
        (variance-weighting).
    """
    return select(method, responses, embeddings, student_embeddings)


def _as_data(pairs: Pairs) -> dict:
    return {"tokens": jnp.asarray(pairs.tokens, jnp.int32), "mask": jnp.asarray(pairs.mask, jnp.int32),
            "loss_mask": jnp.asarray(pairs.loss_mask, jnp.int32)}


def distill(student, pairs: Pairs, *, order_keys, epochs: int, batch_size: int, max_steps: int | None = None,
            optimizer: "str | object" = "trainer", learning_rate: float = 5e-5, loss: Loss = Loss(),
            teacher=None, init_states=None, dropout_keys=None, sample_keys=None, coin_key=None,
            eval_pairs: Pairs | None = None,
            chunk: int | None = None, trace: Callable | None = None,
            progress: Callable[[int, int], None] | None = None) -> Students:
    """Distil N students at once (validated entry point) on the engine of
    :mod:`jaxkd.students.ensemble`.

    Args:
      student: the jaxkd GPT-2 every student starts from (or give ``init_states``).
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
      teacher: the teacher GPT-2 (same vocabulary) for a divergence loss.
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

    Returns:
      :class:`Students`.
    """
    check_model(student)
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
    if loss.needs_teacher:
        if teacher is None:
            raise ValueError(f"the {loss.kind} loss needs the teacher's logits: pass teacher=.")
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
                         soft=loss.needs_teacher)
    if chunk is None:
        fits_all = N * per <= memory.FRACTION * memory.available_bytes()
        chunk = N if fits_all else students_per_chunk(per, N, kept=4 * N * _num_params(student),
                                                      what=f"distilling students (batch {batch_size}, {L} tokens)")
    chunk = v.check_int("chunk", chunk)
    arrays = _as_data(pairs)
    if loss.on_policy > 0:
        prompts, pmask = left_padded_prompts(pairs.tokens, pairs.mask, pairs.loss_mask)
        arrays |= {"prompt": jnp.asarray(prompts, jnp.int32), "prompt_mask": jnp.asarray(pmask, jnp.int32)}
    data, own = (({}, arrays) if pairs.per_student else (arrays, {}))
    objective = LMObjective(graphdef, loss, None if teacher is None else nnx.graphdef(teacher),
                            dropout=student.config.dropout, eos_id=student.config.eos_token_id)
    step_keys = {**({"dropout": dropout_keys} if student.config.dropout else {}),
                 **({"sample": ensemble.check_keys("sample keys", sample_keys, N)} if loss.on_policy > 0 else {})}
    extra = None if teacher is None else {"teacher": nnx.state(teacher, nnx.Param),
                                          "coin": jax.random.key(0) if coin_key is None else coin_key}
    fit = ensemble.fit(objective, optimizer, schedule, states, data, own=own, order_keys=keys,
                       step_keys=step_keys or None, extra=extra,
                       chunk=chunk, epochs_per_block=1, trace=trace,
                       evaluate=None if eval_pairs is None else HeldOut(graphdef),
                       eval_data=None if eval_pairs is None else _as_data(eval_pairs), on_block=progress,
                       host=chunk < N)
    per_pair = float(pairs.mask.sum() / np.prod(pairs.mask.shape[:-1]))
    seen = min(steps * batch_size, epochs * M)  # sequences seen (the last batch of an epoch may be short)
    compute = {"steps": steps, "epochs": seen / M, "pairs": M, "training_tokens": int(round(seen * per_pair))}
    return Students(graphdef, fit.params, compute, fit.losses, fit.eval_losses, fit.trace)


def fine_tune(model, pairs: Pairs, key: jax.Array, *, epochs: int, batch_size: int, optimizer: str = "trainer",
              learning_rate: float = 5e-5, dropout_key=None, progress=None):
    """One model trained on ``pairs`` (cross-entropy on the answers): :func:`distill` with one
    student. Returns ``(model, losses (steps,))``."""
    out = distill(model, pairs, order_keys=key[None], epochs=epochs, batch_size=batch_size, optimizer=optimizer,
                  learning_rate=learning_rate, dropout_keys=None if dropout_key is None else dropout_key[None],
                  progress=progress)
    return out.model(0), out.losses[0]


def embed_texts(embedder, texts) -> np.ndarray:
    """Embeddings of nested lists of strings (P x k, or N x P x n), shaped like the nesting plus
    (E,). ``embedder`` has ``encode(list[str]) -> (n, E)`` (e.g.
    :class:`jaxkd.llm.embeddings.Embedder`); an empty response is embedded as "(empty)"."""
    arr = np.asarray(texts, dtype=object)
    flat = embedder.encode([t if t else "(empty)" for t in arr.ravel().tolist()])
    return flat.reshape(*arr.shape, flat.shape[-1])


def measure(student_embs, teacher_embs) -> dict[str, float]:
    """The uncertainty numbers of N students' sampled responses against the teacher's.

    Args:
      student_embs: (N, P, n, E) unit-norm embeddings of n responses per prompt per student.
      teacher_embs: (P, n_t, E) the teacher's.

    Returns:
      ``alignment`` (cosine of student and teacher mean embeddings, averaged), the between-student
      variance of the mean embeddings ``inter_student_variance`` with its sampling ``floor`` and
      the floor-corrected ``inter_student_variance_corrected`` (S.1), ``intra_variance_gap``
      (student minus teacher within-model variance), ``teacher_noise`` / ``student_noise``
      (mean pairwise cosine distance) and the noise transfer line (``noise_slope``,
      ``noise_intercept``, ``noise_r2``).
    """
    s, t = np.asarray(student_embs), np.asarray(teacher_embs)
    if s.ndim != 4 or t.ndim != 3 or s.shape[1] != t.shape[0] or s.shape[-1] != t.shape[-1]:
        raise ValueError(f"expected student (N, P, n, E) and teacher (P, n, E) embeddings, got {s.shape} and {t.shape}.")
    between = uncertainty.between_student_variance(np.swapaxes(s, 1, 2))  # (N, n, P, E)
    s_noise = tm.pairwise_cosine_distance(s).mean(axis=0)
    t_noise = tm.pairwise_cosine_distance(t)
    return {
        "alignment": float(np.mean([tm.alignment(e, t) for e in s])),
        "inter_student_variance": float(between["uncorrected"]),
        "inter_student_variance_floor": float(between["floor"]),
        "inter_student_variance_corrected": float(between["corrected"]),
        "intra_variance_gap": float(np.mean([tm.intra_model_variance(e) for e in s]) - np.mean(tm.intra_model_variance(t))),
        "teacher_noise": float(t_noise.mean()), "student_noise": float(s_noise.mean()),
        **{f"noise_{k}": val for k, val in tm.noise_transfer(s_noise, t_noise).items()},
    }
