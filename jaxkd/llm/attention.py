"""Causal self-attention shared by jaxkd's decoders (GPT-2 and the Llama family): the KV cache,
its in-place writes, and attention with grouped-query heads.

Shapes: B batch, T new tokens, S key slots, H query heads, K key/value heads (H % K == 0:
K = H is multi-head, 1 < K < H grouped-query, K = 1 multi-query attention), D head size,
L layers. Query head h reads key/value head h // (H / K), as Hugging Face's ``repeat_kv``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class Cache(NamedTuple):
    """Key/value cache for all layers.

    k, v: (L, B, S, K, D) float; index: () int32, the slot the next token is written to.
    """

    k: jax.Array
    v: jax.Array
    index: jax.Array

    @classmethod
    def empty(cls, cfg, batch: int, slots: int, dtype=jnp.float32) -> "Cache":
        """An empty cache for a model config (``n_layer``, ``n_kv_head``, ``head_dim``)."""
        shape = (cfg.n_layer, batch, slots, cfg.n_kv_head, cfg.head_dim)
        return cls(jnp.zeros(shape, dtype), jnp.zeros(shape, dtype), jnp.zeros((), jnp.int32))


def write(cache: Cache, layer: int, k, v):
    """Write the new keys and values k, v (B, T, K, D) of ``layer`` at slots ``[index, index + T)``
    in place (a decode loop never copies the cache); returns the cache and the layer's full
    keys and values (B, S, K, D)."""
    at = (layer, 0, cache.index, 0, 0)
    ck = jax.lax.dynamic_update_slice(cache.k, k[None].astype(cache.k.dtype), at)
    cv = jax.lax.dynamic_update_slice(cache.v, v[None].astype(cache.v.dtype), at)
    return cache._replace(k=ck, v=cv), ck[layer], cv[layer]


def weights(q, k, mask, scale: float, *, upcast: bool = False):
    """Attention weights softmax(scale q k^T) over the allowed slots.

    Args:
      q: (B, T, H, D); k: (B, S, K, D); mask: (B, T, S) bool, True where a query may attend.
      scale: the scores' factor (1 / sqrt(D) in both families).
      upcast: scale q before the product and compute scores and softmax in float32 (GPT-2's
        ``reorder_and_upcast_attn``; a no-op in float32).

    Returns:
      (B, H, T, S) weights in v's dtype (q's).
    """
    B, T, H, D = q.shape
    K = k.shape[2]
    if upcast:
        q, k = q.astype(jnp.float32) * scale, k.astype(jnp.float32)
    if K == H:
        scores = jnp.einsum("BTHD,BSHD->BHTS", q, k)
    else:  # grouped: query head h = kv * G + g reads key head kv
        scores = jnp.einsum("BTKGD,BSKD->BKGTS", q.reshape(B, T, K, H // K, D), k).reshape(B, H, T, -1)
    if not upcast:
        scores = scores * jnp.asarray(scale, q.dtype)
    scores = jnp.where(mask[:, None], scores, jnp.finfo(scores.dtype).min)
    return jax.nn.softmax(scores, axis=-1)


def combine(w, v):
    """The weighted values: w (B, H, T, S), v (B, S, K, D) -> (B, T, H * D)."""
    B, H, T, S = w.shape
    K, D = v.shape[2], v.shape[3]
    w = w.astype(v.dtype)
    if K == H:
        out = jnp.einsum("BHTS,BSHD->BTHD", w, v)
    else:
        out = jnp.einsum("BKGTS,BSKD->BTKGD", w.reshape(B, K, H // K, T, S), v)
    return out.reshape(B, T, H * D)


def causal_mask(valid):
    """The mask of a full causal pass: valid (B, T) bool -> (B, T, T)."""
    T = valid.shape[1]
    return jnp.tril(jnp.ones((T, T), bool))[None] & valid[:, None, :]


def cache_mask(index, T: int, key_valid):
    """The mask of T new tokens written at slots ``[index, index + T)`` against a cache whose
    slots are valid where key_valid (B, S) is True: (B, T, S)."""
    S = key_valid.shape[1]
    q_slot = index + jnp.arange(T)
    return (jnp.arange(S)[None, :] <= q_slot[:, None])[None] & key_valid[:, None, :]


def full_pass(shape, positions=None, attention_mask=None):
    """The position ids and mask of a full causal pass over tokens of ``shape`` (B, T):
    ``positions`` as given or :func:`default_positions`, and :func:`causal_mask` of the valid
    tokens (``attention_mask``, default all). Returns ((B, T) ints, (B, T, T) bool)."""
    valid = jnp.ones(shape, bool) if attention_mask is None else attention_mask.astype(bool)
    return (default_positions(valid) if positions is None else positions), causal_mask(valid)


def default_positions(valid):
    """Position ids of a (left-)padded batch: ``cumsum(valid) - 1``, 0 at padding, which matches
    Hugging Face's ``generate``; valid (B, T) -> (B, T) int."""
    return jnp.maximum(jnp.cumsum(valid, axis=1) - 1, 0)
