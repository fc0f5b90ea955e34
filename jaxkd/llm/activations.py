"""MLP nonlinearities by their Hugging Face ``ACT2FN`` names (shared by both families' configs, which
refuses names it lacks, and the model, which applies them)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp


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
