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
    students = distill.distil(student, data, order_keys, train_cfg, batch_size=16)
    texts = distill.student_responses(students, tok, prompts, n, key, sampling_cfg)    # N x P x n
    numbers = distill.measure(embed(texts), embed(teacher_texts))

Targets (:mod:`jaxkd.llm.selection`): ``single`` (one response per prompt, standard
distillation), ``multi`` (all k), ``averaging`` (the response closest to the mean embedding),
``variance-weighting`` (closest to the inverse-variance combination of teacher and student
mean embeddings) and ``soft`` (token-level soft targets: :func:`distil` with a ``teacher``, the
teacher's logits computed per batch inside the jitted step).

Per-student teacher draws: ``teacher_responses(..., students=N)`` gives each student its own k
responses (N x P x k), and :func:`encode_pairs` output stacked with :func:`stack_pairs` trains
student i on its own pairs.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxkd import _validation as v
from jaxkd import memory, sharding, uncertainty
from jaxkd.llm import metrics as tm
from jaxkd.llm import sampling, training
from jaxkd.llm.selection import METHODS, select

__all__ = ["Pairs", "Students", "METHODS", "encode_prompts", "encode_pairs", "stack_pairs",
           "teacher_responses", "generate_texts", "student_responses", "student_logprobs", "choose_targets", "distil",
           "embed_texts", "measure", "decode"]


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


def _num_params(model) -> int:
    return sum(int(np.prod(a.shape)) for a in jax.tree.leaves(nnx.state(model, nnx.Param)))


def training_bytes(model, students: int, batch: int, length: int, *, soft: bool = False) -> int:
    """Estimated peak bytes of :func:`distil`: per student the parameters six times (initial
    copy, state, Adam's two moments, gradients, updates) and one batch's activations kept for
    the backward pass (per layer about 12 C + 2 H L + the MLP width per token, plus the logits,
    their softmax and gradient; the teacher's logits twice more with soft targets), float32."""
    c = model.config
    per_token = c.n_layer * (12 * c.n_embd + 2 * c.n_head * length + 2 * c.inner_dim) + (5 if soft else 3) * c.vocab_size
    return 4 * students * (6 * _num_params(model) + batch * length * per_token)


def sampling_bytes(model, students: int, sequences: int, length: int) -> int:
    """Estimated peak bytes of sampling ``sequences`` per student with a KV cache of ``length``
    slots: the cache (2 L S C floats), two rows of logits and the seen-token mask per sequence."""
    c = model.config
    return students * sequences * (4 * (2 * c.n_layer * length * c.n_embd + 2 * c.vocab_size) + c.vocab_size)


def check_memory(need: int, what: str, students: int) -> None:
    """Refuse (``ValueError``: estimate, memory, what to change) before allocating ``need`` bytes."""
    per = need / max(students, 1)
    fit = int(memory.FRACTION * memory.available_bytes() / per) if per else students
    memory.check_fits(need, what, f"use fewer students (about {fit:,} fit) or a smaller batch")


def _repeat(prompts: Sequence[Sequence[int]], n: int, eos: int):
    v.check_int("samples per prompt", n)
    return sampling.pad_prompts([p for p in prompts for _ in range(n)], eos)


def generate_texts(model, tokenizer, prompts: Sequence[Sequence[int]], n: int, key: jax.Array,
                   cfg: sampling.SamplingConfig) -> list[list[str]]:
    """n sampled responses per prompt from one model: P lists of n strings.

    Args:
      prompts: token ids per prompt (:func:`encode_prompts`).
      key: one key; sequence j of the (P * n) batch uses ``split(key, P * n)[j]``.
    """
    eos = model.config.eos_token_id
    tokens, mask = _repeat(prompts, n, eos)
    keys = jax.random.split(key, tokens.shape[0])
    texts = decode(tokenizer, sampling.generate(model, tokens, mask, keys, cfg, eos_id=eos), eos)
    return [texts[i * n:(i + 1) * n] for i in range(len(prompts))]


def teacher_responses(teacher, tokenizer, prompts: Sequence[Sequence[int]], k: int, key: jax.Array,
                      cfg: sampling.SamplingConfig, *, students: int | None = None):
    """k teacher responses per prompt: shared (P x k), or per student (N x P x k) when
    ``students`` = N, student i's drawn with ``fold_in(key, i)`` (independent draws)."""
    if students is None:
        return generate_texts(teacher, tokenizer, prompts, k, key, cfg)
    v.check_int("students", students)
    eos = teacher.config.eos_token_id
    tokens, mask = _repeat(prompts, k, eos)
    S, P = tokens.shape[0], len(prompts)
    # Students are a batch axis: as many students' draws per generate call as memory allows.
    per = sampling_bytes(teacher, 1, S, tokens.shape[1] + cfg.max_new_tokens)
    block = int(max(1, min(students, memory.FRACTION * memory.available_bytes() // max(per, 1))))
    keys = jax.vmap(lambda i: jax.random.split(jax.random.fold_in(key, i), S))(jnp.arange(students))
    out = []
    for start in range(0, students, block):
        n = min(block, students - start)
        rows = sampling.generate(teacher, np.tile(np.asarray(tokens), (n, 1)), np.tile(np.asarray(mask), (n, 1)),
                                 keys[start:start + n].reshape(-1), cfg, eos_id=eos)
        texts = decode(tokenizer, rows, eos)
        out += [[texts[j * S + i * k: j * S + (i + 1) * k] for i in range(P)] for j in range(n)]
    return out


@dataclasses.dataclass(frozen=True)
class Students:
    """N distilled students: ``graphdef`` and ``states`` stacked on a leading axis of size N
    (``nnx.merge(graphdef, tree_map(lambda a: a[i], states))`` is student i), and ``compute``:
    optimisation steps, training tokens per student and training pairs."""

    graphdef: object
    states: object
    compute: dict

    @property
    def num_students(self) -> int:
        return jax.tree.leaves(self.states)[0].shape[0]

    def model(self, index: int):
        return nnx.merge(self.graphdef, jax.tree.map(lambda a: a[index], self.states))


def student_responses(students: Students, tokenizer, prompts: Sequence[Sequence[int]], n: int,
                      key: jax.Array, cfg: sampling.SamplingConfig) -> list[list[list[str]]]:
    """n sampled responses per prompt from each of N students: N x P x n strings (student s,
    sequence j uses ``split(key, (N, P * n))[s, j]``)."""
    one = students.model(0)
    eos = one.config.eos_token_id
    tokens, mask = _repeat(prompts, n, eos)
    N = students.num_students
    check_memory(sampling_bytes(one, N, tokens.shape[0], tokens.shape[1] + cfg.max_new_tokens),
                 f"sampling {N:,} students x {tokens.shape[0]:,} sequences", N)
    keys = jax.random.split(key, (N, tokens.shape[0]))
    out = np.asarray(sampling.generate_ensemble(students.graphdef, students.states, tokens, mask, keys, cfg,
                                                eos_id=eos))
    P = len(prompts)
    return [[decode(tokenizer, out[s, i * n:(i + 1) * n], eos) for i in range(P)] for s in range(N)]


def student_logprobs(students: Students, pairs: Pairs) -> np.ndarray:
    """Teacher-forced log-probability of each pair's scored (answer) tokens under each student,
    per scored token: (N, M) for pairs (M, L). Deterministic: no sampling floor."""
    if pairs.per_student:
        raise ValueError("student_logprobs scores one set of pairs (M, L) under every student.")
    tokens, mask = jnp.asarray(pairs.tokens, jnp.int32), jnp.asarray(pairs.mask, jnp.int32)
    target = jnp.asarray(pairs.loss_mask, jnp.float32)
    total = jax.vmap(lambda s: sampling._sequence_logprob(students.graphdef, s, tokens, mask, target))(students.states)
    return np.asarray(total) / np.maximum(np.asarray(pairs.loss_mask[:, 1:].sum(axis=1)), 1)


def choose_targets(method: str, responses, embeddings=None, student_embeddings=None) -> list[tuple[int, str]]:
    """Training pairs (prompt index, answer) for one target ``method`` (module docstring).

    Args:
      responses: k teacher responses per prompt (P lists of k strings).
      embeddings: their unit-norm embeddings (P, k, E) (averaging, variance-weighting).
      student_embeddings: the student's own pre-distillation samples (P, ks, E)
        (variance-weighting).
    """
    return select(method, responses, embeddings, student_embeddings)


def distil(student, pairs: Pairs, keys: jax.Array, cfg: training.TrainConfig, *, batch_size: int,
           teacher=None, init_states=None, track: Callable | None = None) -> Students:
    """Distil N students at once (vmapped; the student axis split over devices).

    Args:
      student: the model every student starts from (or give ``init_states``).
      pairs: training sequences (M, L), shared by all students, or (N, M, L), one set each.
      keys: (N,) data-order keys: student i draws ``cfg.total_steps`` batches of
        ``batch_size`` pair indices uniformly with replacement from ``keys[i]``.
      cfg: optimisation settings; ``kd_weight > 0`` mixes in token-level soft targets and
        needs ``teacher``, whose logits are computed per batch inside the jitted step.
      init_states: optional stacked initial states (N, ...) instead of N copies of ``student``.
      track: optional ``track(step, stacked_states)`` after every step.

    Returns:
      :class:`Students`.
    """
    keys = jnp.asarray(keys)
    if keys.ndim != 1 or not jnp.issubdtype(keys.dtype, jax.dtypes.prng_key):
        raise ValueError("keys must be a 1-D array of typed PRNG keys, one per student "
                         "(jax.random.split(jax.random.key(seed), N)).")
    n = keys.shape[0]
    v.check_int("batch size", batch_size)
    if pairs.per_student and pairs.tokens.shape[0] != n:
        raise ValueError(f"per-student pairs are for {pairs.tokens.shape[0]} students, but {n} keys were given.")
    check_memory(training_bytes(student, n, batch_size, pairs.tokens.shape[-1], soft=teacher is not None),
                 f"distilling {n:,} students (batch {batch_size}, {pairs.tokens.shape[-1]} tokens)", n)
    graphdef, base_state = nnx.split(student)
    states = init_states if init_states is not None else jax.tree.map(
        lambda a: jnp.broadcast_to(a, (n, *a.shape)), base_state)
    d = sharding.device_count()
    if d > 1:
        states = sharding.distribute(states, d)
    place = (lambda a: sharding.distribute(a, d)) if d > 1 else (lambda a: a)
    trainer = training.Trainer((graphdef, states), cfg, stacked=True, teacher=teacher)
    steps, M = cfg.total_steps, pairs.num_pairs
    idx = np.asarray(jax.vmap(lambda k: jax.random.randint(k, (steps, batch_size), 0, M))(keys))  # (N, S, B)
    rows = np.arange(n)[:, None]
    for s in range(steps):
        b = idx[:, s]  # (N, B)
        batch = [a[rows, b] if pairs.per_student else a[b] for a in (pairs.tokens, pairs.mask, pairs.loss_mask)]
        trainer.step(*(place(a) for a in batch))
        if track is not None:
            track(s, trainer.state)
    per_pair = float(pairs.mask.sum() / np.prod(pairs.mask.shape[:-1]))
    compute = {"steps": steps, "training_tokens": int(steps * batch_size * per_pair), "pairs": M}
    return Students(graphdef, sharding.gather(trainer.state, n) if d > 1 else trainer.state, compute)


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
