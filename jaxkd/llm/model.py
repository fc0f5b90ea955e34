"""GPT-2 in Flax NNX, architecture-identical to Hugging Face's ``GPT2LMHeadModel``.

Learned token and position embeddings, pre-LayerNorm blocks (eps 1e-5), fused QKV projection,
tanh GELU, final LayerNorm and a head tied to the token embedding. Parameter names mirror
Hugging Face's (``h[i].attn.c_attn`` ...; HF ``Conv1D`` weights are already (in, out), like
``nnx.Linear`` kernels), so checkpoint import is a renaming.

Shapes: B batch, T new tokens, S key slots, C width, H heads, D head size, V vocabulary.
The KV cache is a plain pytree (:class:`Cache`) with a fixed number of slots.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from jaxkd.llm.config import GPT2Config


class Cache(NamedTuple):
    """Key/value cache for all layers.

    k, v: (L, B, S, H, D) float; index: () int32, the slot the next token is written to.
    """

    k: jax.Array
    v: jax.Array
    index: jax.Array

    @classmethod
    def empty(cls, cfg: GPT2Config, batch: int, slots: int, dtype=jnp.float32) -> "Cache":
        shape = (cfg.n_layer, batch, slots, cfg.n_head, cfg.head_dim)
        return cls(jnp.zeros(shape, dtype), jnp.zeros(shape, dtype), jnp.zeros((), jnp.int32))


def _dense(rngs, a, b):
    return nnx.Linear(a, b, kernel_init=nnx.initializers.normal(0.02), rngs=rngs)


class Attention(nnx.Module):
    def __init__(self, cfg: GPT2Config, *, rngs: nnx.Rngs):
        self.n_head, self.head_dim = cfg.n_head, cfg.head_dim
        self.c_attn = _dense(rngs, cfg.n_embd, 3 * cfg.n_embd)
        self.c_proj = _dense(rngs, cfg.n_embd, cfg.n_embd)

    def __call__(self, x, mask, cache=None, layer=None):
        """x (B,T,C); mask (B,T,S) bool; cache: the all-layer :class:`Cache` or None.

        With a cache, the new keys/values are written in place at (layer, slot ``index``) of the
        full (L, B, S, H, D) arrays, so a decode loop never copies the cache, and attention runs
        over all S slots of this layer.
        """
        B, T, _ = x.shape
        q, k, v = jnp.split(self.c_attn(x), 3, axis=-1)
        q, k, v = (a.reshape(B, T, self.n_head, self.head_dim) for a in (q, k, v))
        if cache is not None:
            at = (layer, 0, cache.index, 0, 0)
            ck = jax.lax.dynamic_update_slice(cache.k, k[None].astype(cache.k.dtype), at)
            cv = jax.lax.dynamic_update_slice(cache.v, v[None].astype(cache.v.dtype), at)
            cache = cache._replace(k=ck, v=cv)
            k, v = ck[layer], cv[layer]
        scores = jnp.einsum("BTHD,BSHD->BHTS", q, k) / jnp.sqrt(jnp.asarray(self.head_dim, q.dtype))
        scores = jnp.where(mask[:, None], scores, jnp.finfo(scores.dtype).min)
        out = jnp.einsum("BHTS,BSHD->BTHD", jax.nn.softmax(scores, axis=-1), v)
        return self.c_proj(out.reshape(B, T, -1)), cache


class MLP(nnx.Module):
    def __init__(self, cfg: GPT2Config, *, rngs: nnx.Rngs):
        self.c_fc = _dense(rngs, cfg.n_embd, 4 * cfg.n_embd)
        self.c_proj = _dense(rngs, 4 * cfg.n_embd, cfg.n_embd)

    def __call__(self, x):
        return self.c_proj(jax.nn.gelu(self.c_fc(x), approximate=True))  # GPT-2's tanh GELU


class Block(nnx.Module):
    def __init__(self, cfg: GPT2Config, *, rngs: nnx.Rngs):
        eps = cfg.layer_norm_epsilon
        self.ln_1 = nnx.LayerNorm(cfg.n_embd, epsilon=eps, rngs=rngs)
        self.attn = Attention(cfg, rngs=rngs)
        self.ln_2 = nnx.LayerNorm(cfg.n_embd, epsilon=eps, rngs=rngs)
        self.mlp = MLP(cfg, rngs=rngs)

    def __call__(self, x, mask, cache=None, layer=None):
        a, cache = self.attn(self.ln_1(x), mask, cache, layer)
        x = x + a
        return x + self.mlp(self.ln_2(x)), cache


class GPT2(nnx.Module):
    """GPT-2 language model.

    ``model(tokens)`` gives next-token logits (B, T, V) for a full causal pass;
    ``model.step(tokens, positions, key_valid, cache)`` runs T new tokens against a KV cache.
    """

    def __init__(self, cfg: GPT2Config, *, rngs: nnx.Rngs):
        self.config = cfg
        self.wte = nnx.Embed(cfg.vocab_size, cfg.n_embd, embedding_init=nnx.initializers.normal(0.02), rngs=rngs)
        self.wpe = nnx.Embed(cfg.n_positions, cfg.n_embd, embedding_init=nnx.initializers.normal(0.01), rngs=rngs)
        self.h = nnx.List([Block(cfg, rngs=rngs) for _ in range(cfg.n_layer)])
        self.ln_f = nnx.LayerNorm(cfg.n_embd, epsilon=cfg.layer_norm_epsilon, rngs=rngs)

    def _logits(self, x):
        return self.wte.attend(self.ln_f(x))  # tied head: x @ wte^T

    def __call__(self, tokens, *, positions=None, attention_mask=None):
        """Full causal forward pass.

        Args:
          tokens: (B, T) ints.
          positions: (B, T) position ids; default ``cumsum(attention_mask) - 1`` (0 at padding),
            which matches Hugging Face's ``generate`` for left-padded prompts.
          attention_mask: (B, T) 1 for real tokens, 0 for padding; default all ones.

        Returns:
          Logits, (B, T, V).
        """
        B, T = tokens.shape
        valid = jnp.ones((B, T), bool) if attention_mask is None else attention_mask.astype(bool)
        if positions is None:
            positions = jnp.maximum(jnp.cumsum(valid, axis=1) - 1, 0)
        causal = jnp.tril(jnp.ones((T, T), bool))
        mask = causal[None] & valid[:, None, :]  # (B, T, S=T)
        x = self.wte(tokens) + self.wpe(positions)
        for block in self.h:
            x, _ = block(x, mask)
        return self._logits(x)

    def step(self, tokens, positions, key_valid, cache: Cache):
        """Run T new tokens written at cache slots ``[index, index + T)``.

        Args:
          tokens, positions: (B, T).
          key_valid: (B, S) whether each cache slot holds a real token (padding is False).
          cache: :class:`Cache` with S slots.

        Returns:
          ``(logits (B, T, V), cache)`` with the index advanced by T.
        """
        T = tokens.shape[1]
        S = cache.k.shape[2]
        q_slot = cache.index + jnp.arange(T)
        mask = (jnp.arange(S)[None, :] <= q_slot[:, None])[None] & key_valid[:, None, :]  # (B,T,S)
        x = self.wte(tokens) + self.wpe(positions)
        for layer, block in enumerate(self.h):
            x, cache = block(x, mask, cache, layer)
        return self._logits(x), cache._replace(index=cache.index + T)


def init(cfg: GPT2Config, key: jax.Array) -> GPT2:
    """A randomly initialised GPT-2 (GPT-2's N(0, 0.02) init) from one key."""
    return GPT2(cfg, rngs=nnx.Rngs(params=key))
