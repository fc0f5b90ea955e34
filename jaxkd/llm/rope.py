"""Rotary position embeddings (RoPE) of the Llama family, as Hugging Face computes them.

Each pair (i, i + D/2) of a head's D coordinates is rotated by the angle ``position * f_i``
(the half-split layout, Hugging Face's ``rotate_half``; the interleaved layout is refused by the
config). The inverse frequencies are ``f_i = theta^(-2i/D)``, rescaled by the rope type:

* ``default``: as is.
* ``linear``: every frequency divided by ``factor`` (position interpolation).
* ``llama3``: Llama 3.1's piecewise rescaling: wavelengths ``2 pi / f`` longer than
  ``original / low_freq_factor`` divided by ``factor``, shorter than ``original /
  high_freq_factor`` kept, and those between interpolated with the smooth factor
  ``(original / wavelength - low) / (high - low)``.

None of the three rescales cos and sin (Hugging Face's ``attention_scaling`` is 1), and none
depends on the sequence length, so a model computes them for any positions it holds.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

ROPE_TYPES = ("default", "linear", "llama3")


def inverse_frequencies(head_dim: int, theta: float, rope_type: str = "default", *, factor: float = 1.0,
                        low_freq_factor: float = 1.0, high_freq_factor: float = 4.0,
                        original_max_position_embeddings: int = 8192) -> np.ndarray:
    """The D/2 inverse frequencies, float32 (the values Hugging Face's float32 code computes)."""
    if rope_type not in ROPE_TYPES:
        raise ValueError(f"rope type {rope_type!r} is not implemented in jaxkd (it has {', '.join(ROPE_TYPES)}).")
    inv = (1.0 / (theta ** (np.arange(0, head_dim, 2, dtype=np.int64).astype(np.float32) / head_dim))).astype(np.float32)
    if rope_type == "linear":
        return (inv / np.float32(factor)).astype(np.float32)
    if rope_type == "llama3":
        low_wavelen = original_max_position_embeddings / low_freq_factor
        high_wavelen = original_max_position_embeddings / high_freq_factor
        wavelen = 2 * math.pi / inv
        scaled = np.where(wavelen > low_wavelen, inv / factor, inv)
        smooth = (original_max_position_embeddings / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelen < high_wavelen) & ~(wavelen > low_wavelen)
        return np.where(medium, smoothed, scaled).astype(np.float32)
    return inv


def cos_sin(positions, inv_freq: np.ndarray):
    """cos and sin of every position's angles: positions (B, T) ints -> two (B, T, D) float32."""
    freqs = positions[..., None].astype(jnp.float32) * jnp.asarray(inv_freq)[None, None, :]
    angles = jnp.concatenate([freqs, freqs], axis=-1)
    return jnp.cos(angles), jnp.sin(angles)


def rotate(x, cos, sin):
    """Rotate the heads of x (B, T, H, D) by cos/sin (B, T, D): ``x cos + rotate_half(x) sin``."""
    half = x.shape[-1] // 2
    rotated = jnp.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    return x * cos[:, :, None].astype(x.dtype) + rotated * sin[:, :, None].astype(x.dtype)
