"""Jitted, batched generation with a KV cache, and sequence log-probabilities.

One prefill over the (left-padded) prompts (once per group of rows that repeat one prompt: n
samples of a prompt share its prefill), then a ``lax.scan`` over a fixed number of new
tokens, each a single-token step against the cache. Logit processing follows Hugging Face's
order and semantics: repetition penalty (a seen token's logit is divided by the penalty when
positive, multiplied when negative), then temperature, then top-k. Each sequence has its own
PRNG key (folded with the step), so a sample does not depend on the rest of the batch. After
a sequence emits EOS it is padded with EOS.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxkd import _validation as v
from jaxkd import sharding
from jaxkd.llm.attention import Cache


@dataclasses.dataclass(frozen=True)
class SamplingConfig:
    """How sequences are decoded. The defaults are the study's (top-k 50, repetition penalty
    1.2, temperature 1), the same wherever jaxkd samples.

    Attributes:
      max_new_tokens: tokens generated per sequence (N).
      temperature: > 0; divides the logits (ignored when ``greedy``).
      top_k: keep the k most likely tokens (0 keeps all).
      repetition_penalty: >= 1 (1 = off).
      greedy: top-1 decoding (the repetition penalty still applies, as in Hugging Face).
    """

    max_new_tokens: int = 32
    temperature: float = 1.0
    top_k: int = 50
    repetition_penalty: float = 1.2
    greedy: bool = False

    def __post_init__(self):
        v.check_int("max_new_tokens", self.max_new_tokens)
        object.__setattr__(self, "temperature", v.check_positive("temperature", self.temperature))
        v.check_int("top_k", self.top_k, minimum=0)
        if v.check_positive("repetition_penalty", self.repetition_penalty) < 1.0:
            raise ValueError(f"repetition_penalty must be >= 1, got {self.repetition_penalty}.")
        if not isinstance(self.greedy, bool):
            raise ValueError(f"greedy must be true or false, got {self.greedy!r}.")

    def at(self, temperature: float) -> "SamplingConfig":
        """The same decoding, sampling at ``temperature``."""
        return dataclasses.replace(self, temperature=temperature, greedy=False)

    @property
    def top1(self) -> "SamplingConfig":
        """The same decoding, greedy (top-1)."""
        return dataclasses.replace(self, greedy=True)


def pad_prompts(prompts: Sequence[Sequence[int]], pad_id: int):
    """Left-pad token lists into (B, P) ``tokens`` and ``mask`` (1 = real token)."""
    if not prompts or any(len(p) == 0 for p in prompts):
        raise ValueError("every prompt needs at least one token.")
    width = max(len(p) for p in prompts)
    tokens = np.full((len(prompts), width), pad_id, np.int32)
    mask = np.zeros((len(prompts), width), np.int32)
    for i, p in enumerate(prompts):
        tokens[i, width - len(p):] = p
        mask[i, width - len(p):] = 1
    return jnp.asarray(tokens), jnp.asarray(mask)


def process_logits(logits, seen, cfg: SamplingConfig, temperature=None):
    """Repetition penalty, temperature and top-k on (B, V) logits (Hugging Face order); greedy
    decoding applies the penalty only. ``temperature`` (a traced scalar inside jit) overrides
    ``cfg.temperature`` when given."""
    if cfg.repetition_penalty != 1.0:
        p = cfg.repetition_penalty
        logits = jnp.where(seen, jnp.where(logits < 0, logits * p, logits / p), logits)
    if cfg.greedy:
        return logits
    logits = logits / (cfg.temperature if temperature is None else temperature)
    if cfg.top_k:
        logits = jnp.where(logits < kth_largest(logits, cfg.top_k), -jnp.inf, logits)
    return logits


def kth_largest(x, k: int, iterations: int = 64):
    """The k-th largest value of each row of (B, V) ``x``, as (B, 1), exactly.

    Bisection on the value (count of entries >= t) instead of ``lax.top_k``, which sorts and is
    ~10x slower on CPU for a GPT-2 vocabulary; after enough halvings [lo, hi) holds only the
    k-th value, and the smallest entry >= lo is it. Ties are kept, as in Hugging Face's top-k.
    """
    finite = jnp.isfinite(x)

    def halve(_, bounds):
        lo, hi = bounds
        mid = lo + (hi - lo) / 2
        enough = jnp.sum(x >= mid, axis=-1, keepdims=True) >= k
        return jnp.where(enough, mid, lo), jnp.where(enough, hi, mid)

    lo0 = jnp.min(jnp.where(finite, x, jnp.inf), axis=-1, keepdims=True)
    hi0 = jnp.max(jnp.where(finite, x, -jnp.inf), axis=-1, keepdims=True)
    hi0 = hi0 + jnp.maximum(jnp.abs(hi0), 1.0) * 1e-6  # count(x >= hi) < k holds from the start
    lo, _ = jax.lax.fori_loop(0, iterations, halve, (lo0, hi0))
    kth = jnp.min(jnp.where(x >= lo, x, jnp.inf), axis=-1, keepdims=True)
    # Fewer than k finite entries: the k-th largest is -inf (keep everything that is left).
    return jnp.where(jnp.sum(finite, axis=-1, keepdims=True) >= k, kth, -jnp.inf)


def _choose(logits, seen, keys, step, cfg, temperature):
    logits = process_logits(logits, seen, cfg, temperature)
    if cfg.greedy:
        return jnp.argmax(logits, axis=-1).astype(jnp.int32)
    # Inverse-CDF sampling (as torch.multinomial): one uniform per sequence instead of V Gumbels.
    cdf = jnp.cumsum(jax.nn.softmax(logits, axis=-1), axis=-1)
    u = jax.vmap(lambda k: jax.random.uniform(jax.random.fold_in(k, step)))(keys)[:, None]
    return jnp.argmax(cdf > u * cdf[:, -1:], axis=-1).astype(jnp.int32)


def _split(cfg: SamplingConfig):
    """The static part of a sampling config (its temperature fixed at 1) and the temperature as
    a traced scalar: one compiled program serves every temperature."""
    return dataclasses.replace(cfg, temperature=1.0), jnp.float32(cfg.temperature)


@functools.partial(jax.jit, static_argnames=("graphdef", "cfg", "eos_id", "repeats"))
def _generate(graphdef, state, tokens, mask, keys, temperature, cfg: SamplingConfig, eos_id: int, repeats: int = 1):
    model = nnx.merge(graphdef, state)
    B, P = tokens.shape
    N = cfg.max_new_tokens
    valid = mask.astype(bool)
    positions = jnp.maximum(jnp.cumsum(mask, axis=1) - 1, 0)
    key_valid = jnp.concatenate([valid, jnp.ones((B, N), bool)], axis=1)
    # Rows come in groups of `repeats` copies of one prompt: one prefill per group, its logits and
    # cache copied to the group's rows (what a prefill of every row computes, row by row).
    one = slice(None, None, repeats)
    cache = Cache.empty(model.config, B // repeats, P + N, model.dtype)
    logits, cache = model.step(tokens[one], positions[one], key_valid[one], cache)
    if repeats > 1:
        logits = jnp.repeat(logits[:, -1:], repeats, axis=0)
        cache = cache._replace(k=jnp.repeat(cache.k, repeats, axis=1), v=jnp.repeat(cache.v, repeats, axis=1))
    rows = jnp.arange(B)
    seen = jnp.zeros((B, model.config.vocab_size), bool).at[rows[:, None], tokens].max(valid)

    def advance(carry, step):
        logits, cache, pos, seen, done = carry
        tok = _choose(logits, seen, keys, step, cfg, temperature)
        tok = jnp.where(done, eos_id, tok)
        done = done | (tok == eos_id)
        seen = seen.at[rows, tok].set(True)
        return (logits, cache, pos, seen, done), tok

    def body(carry, step):
        (logits, cache, pos, seen, done), tok = advance(carry, step)
        new_logits, cache = model.step(tok[:, None], pos[:, None], key_valid, cache)
        return (new_logits[:, 0], cache, pos + 1, seen, done), tok

    carry = (logits[:, -1], cache, positions[:, -1] + 1, seen, jnp.zeros(B, bool))
    carry, toks = jax.lax.scan(body, carry, jnp.arange(N - 1))
    _, last = advance(carry, N - 1)  # the last token needs no forward pass after it
    return jnp.concatenate([toks.T, last[:, None]], axis=1)


def generate_core(graphdef, state, tokens, mask, keys, cfg: SamplingConfig, eos_id: int):
    """:func:`generate` for ``nnx.merge(graphdef, state)`` (core: no validation; callable inside a
    traced function, e.g. a training step that samples the student it trains)."""
    static, temperature = _split(cfg)
    return _generate(graphdef, state, tokens, mask, keys, temperature, static, eos_id)


def check_repeats(tokens, mask, repeats: int) -> int:
    """``repeats`` when the rows of (B, P) ``tokens`` and ``mask`` come in consecutive groups of
    that many identical rows (one prompt's samples), else ``ValueError``: a shared prefill is
    exact only for identical prompts."""
    v.check_int("repeats", repeats)
    t, m = np.asarray(tokens), np.asarray(mask)
    B = t.shape[0]
    if B % repeats or not (np.all(t.reshape(B // repeats, repeats, -1) == t[::repeats, None])
                           and np.all(m.reshape(B // repeats, repeats, -1) == m[::repeats, None])):
        raise ValueError(f"repeats={repeats} shares one prefill per {repeats} consecutive rows, but the {B} rows are "
                         "not groups of that many identical prompts.")
    return repeats


def generate(model, tokens, mask, keys, cfg: SamplingConfig, *, eos_id: int | None = None, repeats: int = 1):
    """Generate ``cfg.max_new_tokens`` tokens for each prompt.

    Args:
      model: a jaxkd decoder (GPT-2 or Llama family).
      tokens: left-padded prompts (B, P) (see :func:`pad_prompts`).
      mask: (B, P) 1 for prompt tokens, 0 for padding.
      keys: one PRNG key per sequence, (B,) (ignored when ``cfg.greedy``).
      cfg: sampling settings.
      eos_id: end-of-sequence token (default the model's).
      repeats: the rows come in consecutive groups of this many copies of one prompt (n samples
        per prompt): one prefill per group (checked: :func:`check_repeats`).

    Returns:
      New tokens, (B, N) int32; positions after a sequence's EOS hold EOS.
    """
    tokens, mask = jnp.asarray(tokens, jnp.int32), jnp.asarray(mask, jnp.int32)
    if tokens.ndim != 2 or tokens.shape != mask.shape:
        raise ValueError(f"tokens and mask must both be (B, P), got {tokens.shape} and {mask.shape}.")
    if keys.shape != (tokens.shape[0],):
        raise ValueError(f"need one key per sequence: keys shape {keys.shape}, batch {tokens.shape[0]}.")
    total = tokens.shape[1] + cfg.max_new_tokens
    if total > model.config.n_positions:
        raise ValueError(f"prompt ({tokens.shape[1]}) + max_new_tokens ({cfg.max_new_tokens}) exceeds "
                         f"the model's {model.config.n_positions} positions.")
    check_repeats(tokens, mask, repeats)
    graphdef, state = nnx.split(model)
    eos = model.config.eos_token_id if eos_id is None else eos_id
    static, temperature = _split(cfg)
    return _generate(graphdef, state, tokens, mask, keys, temperature, static, eos, repeats)


@functools.partial(jax.jit, static_argnames=("graphdef",))
def sequence_logprob_core(graphdef, state, tokens, mask, target_mask):
    """:func:`sequence_logprob` for ``nnx.merge(graphdef, state)`` (core: no validation; vmap
    it over stacked students' states)."""
    model = nnx.merge(graphdef, state)
    logp = jax.nn.log_softmax(model(tokens, attention_mask=mask)[:, :-1], axis=-1)
    picked = jnp.take_along_axis(logp, tokens[:, 1:, None], axis=-1)[..., 0]  # (B, T-1)
    return jnp.sum(picked * target_mask[:, 1:], axis=1)


def sequence_logprob(model, tokens, mask, target_mask):
    """``sum_t log p(token_t | tokens_<t)`` over positions where ``target_mask`` is 1.

    Args:
      tokens, mask: (B, T) sequences (prompt + answer), padding mask.
      target_mask: (B, T) 1 on the answer tokens to score.

    Returns:
      Log-probabilities, (B,).
    """
    graphdef, state = nnx.split(model)
    return sequence_logprob_core(graphdef, state, jnp.asarray(tokens, jnp.int32), jnp.asarray(mask, jnp.int32),
                                 jnp.asarray(target_mask, jnp.float32))


@functools.partial(jax.jit, static_argnames=("graphdef", "cfg", "eos_id", "repeats"))
def _generate_ensemble(graphdef, states, tokens, mask, keys, temperature, cfg, eos_id, repeats=1):
    one = lambda s, k: _generate(graphdef, s, tokens, mask, k, temperature, cfg, eos_id, repeats)  # noqa: E731
    return jax.vmap(one)(states, keys)


def generate_ensemble(graphdef, states, tokens, mask, keys, cfg: SamplingConfig, *, eos_id: int, repeats: int = 1):
    """:func:`generate` for N stacked students at once (vmapped over their states).

    Args:
      graphdef, states: ``nnx.split`` of one student and the students' states stacked on axis 0.
      tokens, mask: (B, P) prompts shared by all students.
      keys: (N, B) one key per student and sequence.
      repeats: as :func:`generate` (checked).

    Returns:
      (N, B, max_new_tokens) new tokens.
    """
    check_repeats(tokens, mask, repeats)
    tokens, mask = jnp.asarray(tokens, jnp.int32), jnp.asarray(mask, jnp.int32)
    static, temperature = _split(cfg)
    return sharding.map_students(_generate_ensemble, graphdef, states, tokens, mask, keys, temperature, static,
                                 eos_id, repeats, in_axes=(None, 0, None, None, 0, None, None, None, None),
                                 static_argnums=(0, 6, 7, 8))
