"""GPT-2 in Flax NNX, architecture-identical to Hugging Face's ``GPT2LMHeadModel``.

Learned token and position embeddings, pre-LayerNorm blocks, fused QKV projection, an MLP
with GPT-2's tanh GELU (or any activation in :data:`ACTIVATIONS`), final LayerNorm and a head
tied to the token embedding (or its own ``lm_head``); every ``GPT2Config`` switch Hugging Face
implements for GPT-2's computation is implemented here (see :mod:`jaxkd.llm.config`). Parameter names mirror
Hugging Face's (``h[i].attn.c_attn`` ...; HF ``Conv1D`` weights are already (in, out), like
``nnx.Linear`` kernels), so checkpoint import is a renaming.

Shapes: B batch, T new tokens, S key slots, C width, H heads, D head size, V vocabulary.
The KV cache is a plain pytree (:class:`Cache`) with a fixed number of slots.
"""

from __future__ import annotations

import math
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


def _laplace(x, mu=0.707107, sigma=0.282095):
    return 0.5 * (1.0 + jax.lax.erf((x - mu) / (sigma * math.sqrt(2.0))))


# Hugging Face ``ACT2FN`` names -> the same function. The tanh forms of GELU are one formula
# written four ways; "gelu" and "gelu_python" are the exact (erf) GELU. Activations with learned
# parameters (prelu, xielu) are not here, so configs that ask for them are refused.
ACTIVATIONS = {
    **dict.fromkeys(("gelu_new", "gelu_pytorch_tanh", "gelu_python_tanh", "gelu_fast", "gelu_accurate"),
                    lambda x: jax.nn.gelu(x, approximate=True)),
    **dict.fromkeys(("gelu", "gelu_python"), lambda x: jax.nn.gelu(x, approximate=False)),
    "gelu_10": lambda x: jnp.clip(jax.nn.gelu(x, approximate=False), -10.0, 10.0),
    "quick_gelu": lambda x: x * jax.nn.sigmoid(1.702 * x),
    "relu": jax.nn.relu,
    "relu2": lambda x: jnp.square(jax.nn.relu(x)),
    "relu6": jax.nn.relu6,
    "leaky_relu": lambda x: jax.nn.leaky_relu(x, 0.01),
    "hardswish": jax.nn.hard_swish,
    "silu": jax.nn.silu,
    "swish": jax.nn.silu,
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "mish": lambda x: x * jnp.tanh(jax.nn.softplus(x)),
    "linear": lambda x: x,
    "laplace": _laplace,
}


def _dense(rngs, a, b):
    return nnx.Linear(a, b, kernel_init=nnx.initializers.normal(0.02), rngs=rngs)


class Attention(nnx.Module):
    def __init__(self, cfg: GPT2Config, layer: int = 0, *, rngs: nnx.Rngs):
        self.n_head, self.head_dim = cfg.n_head, cfg.head_dim
        # Hugging Face's one scaling factor: 1/sqrt(D) if scale_attn_weights, / (layer + 1) more.
        scale = cfg.head_dim ** -0.5 if cfg.scale_attn_weights else 1.0
        self.scale = scale / (layer + 1) if cfg.scale_attn_by_inverse_layer_idx else scale
        self.upcast = cfg.reorder_and_upcast_attn
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
        if self.upcast:  # scale q before the product, scores and softmax in float32
            scores = jnp.einsum("BTHD,BSHD->BHTS", q.astype(jnp.float32) * self.scale, k.astype(jnp.float32))
        else:
            scores = jnp.einsum("BTHD,BSHD->BHTS", q, k) * jnp.asarray(self.scale, q.dtype)
        scores = jnp.where(mask[:, None], scores, jnp.finfo(scores.dtype).min)
        weights = jax.nn.softmax(scores, axis=-1).astype(v.dtype)
        out = jnp.einsum("BHTS,BSHD->BTHD", weights, v)
        return self.c_proj(out.reshape(B, T, -1)), cache


class MLP(nnx.Module):
    def __init__(self, cfg: GPT2Config, *, rngs: nnx.Rngs):
        self.c_fc = _dense(rngs, cfg.n_embd, cfg.inner_dim)
        self.c_proj = _dense(rngs, cfg.inner_dim, cfg.n_embd)
        self.activation = cfg.activation_function

    def __call__(self, x):
        return self.c_proj(ACTIVATIONS[self.activation](self.c_fc(x)))


class Block(nnx.Module):
    def __init__(self, cfg: GPT2Config, layer: int = 0, *, rngs: nnx.Rngs):
        eps = cfg.layer_norm_epsilon
        self.ln_1 = nnx.LayerNorm(cfg.n_embd, epsilon=eps, rngs=rngs)
        self.attn = Attention(cfg, layer, rngs=rngs)
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
        self.h = nnx.List([Block(cfg, i, rngs=rngs) for i in range(cfg.n_layer)])
        self.ln_f = nnx.LayerNorm(cfg.n_embd, epsilon=cfg.layer_norm_epsilon, rngs=rngs)
        if not cfg.tie_word_embeddings:  # Hugging Face's lm_head.weight, (V, C), no bias
            self.lm_head = nnx.Param(nnx.initializers.normal(0.02)(rngs.params(), (cfg.vocab_size, cfg.n_embd)))

    def embed(self, tokens, positions):
        """Token plus position embeddings: (B, T) ints -> (B, T, C)."""
        return self.wte(tokens) + self.wpe(positions)

    def _logits(self, x):
        x = self.ln_f(x)
        if self.config.tie_word_embeddings:
            return self.wte.attend(x)  # tied head: x @ wte^T
        return x @ self.lm_head[...].T

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
        x = self.embed(tokens, positions)
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
        x = self.embed(tokens, positions)
        for layer, block in enumerate(self.h):
            x, cache = block(x, mask, cache, layer)
        return self._logits(x), cache._replace(index=cache.index + T)


def init(cfg: GPT2Config, key: jax.Array) -> GPT2:
    """A randomly initialised GPT-2 (GPT-2's N(0, 0.02) init) from one key."""
    return GPT2(cfg, rngs=nnx.Rngs(params=key))
