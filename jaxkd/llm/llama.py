"""The Llama family (Llama, Qwen2, Qwen3, Mistral) in Flax NNX, architecture-identical to
Hugging Face's ``LlamaForCausalLM`` / ``Qwen2ForCausalLM`` / ``Qwen3ForCausalLM`` /
``MistralForCausalLM``.

Token embedding, pre-RMSNorm decoder layers with rotary grouped-query attention
(:mod:`jaxkd.llm.rope`, :mod:`jaxkd.llm.attention`, shared with GPT-2), a SwiGLU MLP
``down(act(gate(x)) * up(x))``, a final RMSNorm and a head tied to the embedding or its own
``lm_head``; the per-family biases and Qwen3's per-head q/k RMSNorm (before the rotation) as
:mod:`jaxkd.llm.llama_config` tabulates. Parameter names mirror Hugging Face's
(``layers[i].self_attn.q_proj`` ...); Hugging Face ``nn.Linear`` weights are (out, in), the
transpose of ``nnx.Linear`` kernels, which :mod:`jaxkd.llm.checkpoint` handles.

Same face as :class:`jaxkd.llm.model.GPT2`: ``model(tokens, positions=, attention_mask=,
dropout_key=)`` and ``model.step(tokens, positions, key_valid, cache)``.
Shapes: B batch, T new tokens, S key slots, C width, H query and K key/value heads, D head
size, F MLP width, V vocabulary.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from jaxkd.llm import attention, rope
from jaxkd.llm.activations import ACTIVATIONS
from jaxkd.llm.attention import Cache
from jaxkd.llm.llama_config import LlamaConfig
from jaxkd.llm.model import dropout


def _dense(rngs, a, b, bias: bool):
    return nnx.Linear(a, b, use_bias=bias, kernel_init=nnx.initializers.normal(0.02), rngs=rngs)


def _fused(x, layers):
    """x (..., C) through several ``nnx.Linear`` layers that read it (q, k, v; gate, up) as one
    matrix product against their kernels side by side: (..., sum of their widths). The same
    values as each layer alone, one product instead of several (13% off a Llama training
    step of benchmarks/gpt2_speed.py's shape on the 2-core CPU)."""
    kernel = jnp.concatenate([layer.kernel[...] for layer in layers], axis=1)
    out = x @ kernel
    if layers[0].bias is not None:
        bias = jnp.concatenate([layer.bias[...] for layer in layers])
        out = out + bias.reshape((1,) * (out.ndim - 1) + (-1,))
    return out


def _norm(dim: int, eps: float, rngs):
    return nnx.RMSNorm(dim, epsilon=eps, rngs=rngs)


class Attention(nnx.Module):
    def __init__(self, cfg: LlamaConfig, layer: int = 0, *, rngs: nnx.Rngs):
        H, K, D, C = cfg.n_head, cfg.n_kv_head, cfg.head_dim, cfg.hidden_size
        self.n_head, self.n_kv_head, self.head_dim = H, K, D
        self.layer, self.attention_dropout = layer, cfg.attention_dropout
        self.q_proj = _dense(rngs, C, H * D, cfg.qkv_bias)
        self.k_proj = _dense(rngs, C, K * D, cfg.qkv_bias)
        self.v_proj = _dense(rngs, C, K * D, cfg.qkv_bias)
        self.o_proj = _dense(rngs, H * D, C, cfg.o_bias)
        if cfg.qk_norm:  # Qwen3: RMSNorm over each head's D coordinates, before the rotation
            self.q_norm = _norm(D, cfg.rms_norm_eps, rngs)
            self.k_norm = _norm(D, cfg.rms_norm_eps, rngs)
        self.qk_norm = cfg.qk_norm

    def __call__(self, x, cos, sin, mask, cache=None, layer=None, key=None):
        """x (B,T,C); cos, sin (B,T,D); mask (B,T,S) bool; cache: the all-layer :class:`Cache` or
        None (then S = T); key: the dropout key of the attention weights (None: no dropout)."""
        B, T, _ = x.shape
        HD, KD = self.n_head * self.head_dim, self.n_kv_head * self.head_dim
        qkv = _fused(x, (self.q_proj, self.k_proj, self.v_proj))
        q = qkv[..., :HD].reshape(B, T, self.n_head, self.head_dim)
        k = qkv[..., HD:HD + KD].reshape(B, T, self.n_kv_head, self.head_dim)
        v = qkv[..., HD + KD:].reshape(B, T, self.n_kv_head, self.head_dim)
        if self.qk_norm:
            q, k = self.q_norm(q), self.k_norm(k)
        q, k = rope.rotate(q, cos, sin), rope.rotate(k, cos, sin)
        if cache is not None:
            cache, k, v = attention.write(cache, layer, k, v)
        w = attention.weights(q, k, mask, self.head_dim ** -0.5)
        w = dropout(w.astype(v.dtype), self.attention_dropout, None if key is None else jax.random.fold_in(key, self.layer))
        return self.o_proj(attention.combine(w, v)), cache


class MLP(nnx.Module):
    def __init__(self, cfg: LlamaConfig, *, rngs: nnx.Rngs):
        C, F = cfg.hidden_size, cfg.intermediate_size
        self.gate_proj = _dense(rngs, C, F, cfg.mlp_bias)
        self.up_proj = _dense(rngs, C, F, cfg.mlp_bias)
        self.down_proj = _dense(rngs, F, C, cfg.mlp_bias)
        self.activation = cfg.hidden_act

    def __call__(self, x):
        F = self.gate_proj.kernel.shape[1]
        gu = _fused(x, (self.gate_proj, self.up_proj))
        return self.down_proj(ACTIVATIONS[self.activation](gu[..., :F]) * gu[..., F:])


class Layer(nnx.Module):
    def __init__(self, cfg: LlamaConfig, layer: int = 0, *, rngs: nnx.Rngs):
        self.input_layernorm = _norm(cfg.hidden_size, cfg.rms_norm_eps, rngs)
        self.self_attn = Attention(cfg, layer, rngs=rngs)
        self.post_attention_layernorm = _norm(cfg.hidden_size, cfg.rms_norm_eps, rngs)
        self.mlp = MLP(cfg, rngs=rngs)

    def __call__(self, x, cos, sin, mask, cache=None, layer=None, key=None):
        a, cache = self.self_attn(self.input_layernorm(x), cos, sin, mask, cache, layer, key)
        x = x + a
        return x + self.mlp(self.post_attention_layernorm(x)), cache


class Llama(nnx.Module):
    """A Llama-family language model (the family is ``config.model_type``).

    ``model(tokens)`` gives next-token logits (B, T, V) for a full causal pass;
    ``model.step(tokens, positions, key_valid, cache)`` runs T new tokens against a KV cache.
    """

    def __init__(self, cfg: LlamaConfig, *, rngs: nnx.Rngs):
        self.config = cfg
        self.embed_tokens = nnx.Embed(cfg.vocab_size, cfg.hidden_size,
                                      embedding_init=nnx.initializers.normal(0.02), rngs=rngs)
        self.layers = nnx.List([Layer(cfg, i, rngs=rngs) for i in range(cfg.num_hidden_layers)])
        self.norm = _norm(cfg.hidden_size, cfg.rms_norm_eps, rngs)
        if not cfg.tie_word_embeddings:  # Hugging Face's lm_head.weight, (V, C), no bias
            self.lm_head = nnx.Param(nnx.initializers.normal(0.02)(rngs.params(), (cfg.vocab_size, cfg.hidden_size)))

    @property
    def dtype(self):
        """The parameters' dtype (the KV cache's)."""
        return self.embed_tokens.embedding[...].dtype

    def _check_length(self, slots: int) -> None:
        if slots > self.config.n_positions:
            window = self.config.sliding_window
            what = (f"sliding window of {window} tokens, beyond which attention would differ from Hugging Face's"
                    if window is not None and window < self.config.max_position_embeddings
                    else f"{self.config.max_position_embeddings} positions")
            raise ValueError(f"a sequence of {slots} tokens exceeds the model's {what}.")

    def _logits(self, x):
        x = self.norm(x)
        if self.config.tie_word_embeddings:
            return self.embed_tokens.attend(x)
        return x @ self.lm_head[...].T

    def __call__(self, tokens, *, positions=None, attention_mask=None, dropout_key=None):
        """Full causal forward pass.

        Args:
          tokens: (B, T) ints.
          positions: (B, T) position ids; default ``cumsum(attention_mask) - 1`` (0 at padding).
          attention_mask: (B, T) 1 for real tokens, 0 for padding; default all ones.
          dropout_key: training only: the key of the attention-weight dropout (``attention_dropout``,
            the only dropout Hugging Face's Llama family has). None drops nothing.

        Returns:
          Logits, (B, T, V).
        """
        self._check_length(tokens.shape[1])
        positions, mask = attention.full_pass(tokens.shape, positions, attention_mask)  # mask (B, T, S=T)
        cos, sin = rope.cos_sin(positions, rope.inverse_frequencies(**self.config.rope))
        x = self.embed_tokens(tokens)
        for layer in self.layers:
            x, _ = layer(x, cos, sin, mask, key=dropout_key)
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
        self._check_length(cache.k.shape[2])
        mask = attention.cache_mask(cache.index, T, key_valid)
        cos, sin = rope.cos_sin(positions, rope.inverse_frequencies(**self.config.rope))
        x = self.embed_tokens(tokens)
        for i, layer in enumerate(self.layers):
            x, cache = layer(x, cos, sin, mask, cache, i)
        return self._logits(x), cache._replace(index=cache.index + T)


def init(cfg: LlamaConfig, key: jax.Array) -> Llama:
    """A randomly initialised Llama-family model (N(0, 0.02) weights, zero biases, unit norms)."""
    return Llama(cfg, rngs=nnx.Rngs(params=key))
