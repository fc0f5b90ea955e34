"""GPT-2 in Flax NNX, architecture-identical to Hugging Face's ``GPT2LMHeadModel``.

Learned token and position embeddings, pre-LayerNorm blocks, fused QKV projection, an MLP
with GPT-2's tanh GELU (or any activation in :data:`ACTIVATIONS`), final LayerNorm and a head
tied to the token embedding (or its own ``lm_head``); every ``ModelConfig`` switch Hugging Face
implements for GPT-2's computation is implemented here (see :mod:`jaxkd.llm.config`). Parameter names mirror
Hugging Face's (``h[i].attn.c_attn`` ...; HF ``Conv1D`` weights are already (in, out), like
``nnx.Linear`` kernels), so checkpoint import is a renaming.

Shapes: B batch, T new tokens, S key slots, C width, H heads, D head size, V vocabulary.
The KV cache is a plain pytree (:class:`jaxkd.llm.attention.Cache`) with a fixed number of
slots; attention itself is :mod:`jaxkd.llm.attention`, shared with the Llama family.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from jaxkd.llm import attention
from jaxkd.llm.activations import ACTIVATIONS
from jaxkd.llm.attention import Cache
from jaxkd.llm.config import ModelConfig


def dropout(x, rate: float, key):
    """Inverted dropout: each entry zeroed with probability ``rate`` and the rest scaled by
    1 / (1 - rate); the identity without a key (inference) or at rate 0."""
    if key is None or rate == 0.0:
        return x
    keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
    return jnp.where(keep, x / (1.0 - rate), jnp.zeros((), x.dtype))


def _site(key, layer: int, site: int):
    """The dropout key of one site (0: attention weights, 1: attention output, 2: MLP output)
    of one layer; the embeddings use ``fold_in(key, 0)``."""
    return None if key is None else jax.random.fold_in(key, 1 + 3 * layer + site)


def _dense(rngs, a, b):
    return nnx.Linear(a, b, kernel_init=nnx.initializers.normal(0.02), rngs=rngs)


class Attention(nnx.Module):
    def __init__(self, cfg: ModelConfig, layer: int = 0, *, rngs: nnx.Rngs):
        self.n_head, self.head_dim = cfg.n_head, cfg.head_dim
        # Hugging Face's one scaling factor: 1/sqrt(D) if scale_attn_weights, / (layer + 1) more.
        scale = cfg.head_dim ** -0.5 if cfg.scale_attn_weights else 1.0
        self.scale = scale / (layer + 1) if cfg.scale_attn_by_inverse_layer_idx else scale
        self.upcast = cfg.reorder_and_upcast_attn
        self.layer = layer
        self.attn_pdrop, self.resid_pdrop = cfg.attn_pdrop, cfg.resid_pdrop
        self.c_attn = _dense(rngs, cfg.n_embd, 3 * cfg.n_embd)
        self.c_proj = _dense(rngs, cfg.n_embd, cfg.n_embd)

    def __call__(self, x, mask, cache=None, layer=None, key=None):
        """x (B,T,C); mask (B,T,S) bool; cache: the all-layer :class:`Cache` or None; key: the
        dropout key (None: no dropout).

        With a cache, the new keys/values are written in place at (layer, slot ``index``) of the
        full (L, B, S, H, D) arrays, so a decode loop never copies the cache, and attention runs
        over all S slots of this layer.
        """
        B, T, _ = x.shape
        q, k, v = jnp.split(self.c_attn(x), 3, axis=-1)
        q, k, v = (a.reshape(B, T, self.n_head, self.head_dim) for a in (q, k, v))
        if cache is not None:
            cache, k, v = attention.write(cache, layer, k, v)
        weights = attention.weights(q, k, mask, self.scale, upcast=self.upcast).astype(v.dtype)
        weights = dropout(weights, self.attn_pdrop, _site(key, self.layer, 0))
        out = attention.combine(weights, v)
        return dropout(self.c_proj(out), self.resid_pdrop, _site(key, self.layer, 1)), cache


class MLP(nnx.Module):
    def __init__(self, cfg: ModelConfig, layer: int = 0, *, rngs: nnx.Rngs):
        self.c_fc = _dense(rngs, cfg.n_embd, cfg.inner_dim)
        self.c_proj = _dense(rngs, cfg.inner_dim, cfg.n_embd)
        self.activation = cfg.activation_function
        self.layer, self.resid_pdrop = layer, cfg.resid_pdrop

    def __call__(self, x, key=None):
        out = self.c_proj(ACTIVATIONS[self.activation](self.c_fc(x)))
        return dropout(out, self.resid_pdrop, _site(key, self.layer, 2))


class Block(nnx.Module):
    def __init__(self, cfg: ModelConfig, layer: int = 0, *, rngs: nnx.Rngs):
        eps = cfg.layer_norm_epsilon
        self.ln_1 = nnx.LayerNorm(cfg.n_embd, epsilon=eps, rngs=rngs)
        self.attn = Attention(cfg, layer, rngs=rngs)
        self.ln_2 = nnx.LayerNorm(cfg.n_embd, epsilon=eps, rngs=rngs)
        self.mlp = MLP(cfg, layer, rngs=rngs)

    def __call__(self, x, mask, cache=None, layer=None, key=None):
        a, cache = self.attn(self.ln_1(x), mask, cache, layer, key)
        x = x + a
        return x + self.mlp(self.ln_2(x), key), cache


class GPT2(nnx.Module):
    """GPT-2 language model.

    ``model(tokens)`` gives next-token logits (B, T, V) for a full causal pass;
    ``model.step(tokens, positions, key_valid, cache)`` runs T new tokens against a KV cache.
    """

    def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
        self.config = cfg
        self.wte = nnx.Embed(cfg.vocab_size, cfg.n_embd, embedding_init=nnx.initializers.normal(0.02), rngs=rngs)
        self.wpe = nnx.Embed(cfg.n_positions, cfg.n_embd, embedding_init=nnx.initializers.normal(0.01), rngs=rngs)
        self.h = nnx.List([Block(cfg, i, rngs=rngs) for i in range(cfg.n_layer)])
        self.ln_f = nnx.LayerNorm(cfg.n_embd, epsilon=cfg.layer_norm_epsilon, rngs=rngs)
        if not cfg.tie_word_embeddings:  # Hugging Face's lm_head.weight, (V, C), no bias
            self.lm_head = nnx.Param(nnx.initializers.normal(0.02)(rngs.params(), (cfg.vocab_size, cfg.n_embd)))

    @property
    def dtype(self):
        """The parameters' dtype (the KV cache's)."""
        return self.wte.embedding[...].dtype

    def embed(self, tokens, positions):
        """Token plus position embeddings: (B, T) ints -> (B, T, C)."""
        return self.wte(tokens) + self.wpe(positions)

    def _logits(self, x):
        x = self.ln_f(x)
        if self.config.tie_word_embeddings:
            return self.wte.attend(x)  # tied head: x @ wte^T
        return x @ self.lm_head[...].T

    def __call__(self, tokens, *, positions=None, attention_mask=None, dropout_key=None):
        """Full causal forward pass.

        Args:
          tokens: (B, T) ints.
          positions: (B, T) position ids; default ``cumsum(attention_mask) - 1`` (0 at padding),
            which matches Hugging Face's ``generate`` for left-padded prompts.
          attention_mask: (B, T) 1 for real tokens, 0 for padding; default all ones.
          dropout_key: training only: the key of this pass's dropout (the config's rates, at the
            sites Hugging Face's GPT-2 drops: embeddings, attention weights, both residual
            branches). None (inference) drops nothing.

        Returns:
          Logits, (B, T, V).
        """
        positions, mask = attention.full_pass(tokens.shape, positions, attention_mask)  # mask (B, T, S=T)
        x = self.embed(tokens, positions)
        if dropout_key is not None:
            x = dropout(x, self.config.embd_pdrop, jax.random.fold_in(dropout_key, 0))
        for block in self.h:
            x, _ = block(x, mask, key=dropout_key)
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
        mask = attention.cache_mask(cache.index, T, key_valid)  # (B, T, S)
        x = self.embed(tokens, positions)
        for layer, block in enumerate(self.h):
            x, cache = block(x, mask, cache, layer)
        return self._logits(x), cache._replace(index=cache.index + T)


def init(cfg: ModelConfig, key: jax.Array) -> GPT2:
    """A randomly initialised GPT-2 (GPT-2's N(0, 0.02) init) from one key."""
    return GPT2(cfg, rngs=nnx.Rngs(params=key))

