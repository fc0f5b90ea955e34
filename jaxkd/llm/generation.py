"""Sampling from the models of a distillation: n responses per prompt from one model
(:func:`generate_texts`), from the teacher, shared or one draw per student
(:func:`teacher_responses`), and from N trained students (:func:`student_responses`), each in
blocks of models and sequences that fit in memory (:func:`jaxkd.llm.budget.sampling_blocks`).

Every sequence has its own key, so the blocks do not change the draws. Shapes: P prompts, n (or
k) responses per prompt, N students; results are nested lists of strings (P x n, N x P x n).
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxkd import _validation as v
from jaxkd.llm import sampling
from jaxkd.llm.budget import sampling_blocks
from jaxkd.llm.families import check_model
from jaxkd.llm.pairs import decode
from jaxkd.llm.training import Students
from jaxkd.students import ensemble


def _repeat(prompts: Sequence[Sequence[int]], n: int, eos: int):
    v.check_int("samples per prompt", n)
    return sampling.pad_prompts([p for p in prompts for _ in range(n)], eos)


def _check_length(model, prompt_width: int, cfg: sampling.SamplingConfig) -> None:
    if prompt_width + cfg.max_new_tokens > model.config.n_positions:
        raise ValueError(f"the longest prompt ({prompt_width} tokens) plus max_new_tokens ({cfg.max_new_tokens}) "
                         f"exceeds the model's {model.config.n_positions} positions; lower max_new_tokens.")


def _grouped(block: int, n: int) -> tuple[int, int]:
    """Blocks of whole groups of a prompt's n samples, so that each group shares one prefill:
    (rows per block, rows per group); a block smaller than a group gives up the sharing."""
    return (block // n * n, n) if block >= n else (block, 1)


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
    block, group = _grouped(sampling_blocks(model, 1, tokens.shape[0], tokens.shape[1] + cfg.max_new_tokens)[1], n)
    rows = _rows_in_blocks(lambda lo, hi: sampling.generate(model, tokens[lo:hi], mask[lo:hi], keys[lo:hi], cfg,
                                                            eos_id=eos, repeats=group), tokens.shape[0], block)
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
    seq_block, group = _grouped(seq_block, k)
    keys = jax.vmap(lambda i: jax.random.split(jax.random.fold_in(key, i), S))(jnp.arange(students))
    out = []
    for start in range(0, students, block):
        n = min(block, students - start)
        tiled_t, tiled_m = np.tile(np.asarray(tokens), (n, 1)), np.tile(np.asarray(mask), (n, 1))
        flat = keys[start:start + n].reshape(-1)
        rows = _rows_in_blocks(lambda lo, hi: sampling.generate(teacher, tiled_t[lo:hi], tiled_m[lo:hi], flat[lo:hi],
                                                                cfg, eos_id=eos, repeats=group), n * S, seq_block)
        texts = decode(tokenizer, rows, eos)
        out += [[texts[j * S + i * k: j * S + (i + 1) * k] for i in range(P)] for j in range(n)]
    return out


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
    block, group = _grouped(block, n)
    keys = jax.random.split(key, N) if jnp.ndim(key) == 0 else ensemble.check_keys("sampling keys", key, N)
    keys = jax.vmap(lambda k: jax.random.split(k, S))(keys)
    out = np.concatenate([
        _rows_in_blocks(lambda a, b: sampling.generate_ensemble(students.graphdef, students.state(lo, lo + chunk),
                                                                tokens[a:b], mask[a:b], keys[lo:lo + chunk, a:b], cfg,
                                                                eos_id=eos, repeats=group), S, block)
        for lo in range(0, N, chunk)])
    P = len(prompts)
    return [[decode(tokenizer, out[s, i * n:(i + 1) * n], eos) for i in range(P)] for s in range(N)]
