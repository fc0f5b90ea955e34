"""The decoder families jaxkd computes, by Hugging Face ``model_type``: each family's config
class, model class, parameter-name table (:mod:`jaxkd.llm.hf_names`) and the keys of a
Hugging Face state dict that are buffers, not parameters. Everything that takes "a model"
(distillation, sampling, checkpoints, memory budgets, the llm-* experiments) dispatches here.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
from flax import nnx

from jaxkd.llm import hf_names
from jaxkd.llm.config import ModelConfig, read_config
from jaxkd.llm.llama import Llama
from jaxkd.llm.llama_config import FAMILIES as LLAMA_TYPES
from jaxkd.llm.llama_config import LlamaConfig
from jaxkd.llm.model import GPT2


@dataclasses.dataclass(frozen=True)
class Family:
    """One decoder family: ``config`` reads ``config.json`` (``from_hf``), ``model(cfg, rngs=)``
    builds the module, ``names(cfg)`` is its Hugging Face name table, ``embedding`` the key of
    the token embedding (what a tied ``lm_head.weight`` must equal), ``prefix`` the module
    prefix export adds to every key but the head (GPT-2's ``transformer.``; import strips it),
    ``buffers`` the suffixes of non-parameter keys old checkpoints carry."""

    config: type
    model: type
    names: Callable
    embedding: str
    prefix: str = ""
    buffers: tuple[str, ...] = ()


GPT2_FAMILY = Family(ModelConfig, GPT2, hf_names.gpt2, "wte.weight", "transformer.", (".attn.bias", ".attn.masked_bias"))
LLAMA_FAMILY = Family(LlamaConfig, Llama, hf_names.llama, "model.embed_tokens.weight", "",
                      (".rotary_emb.inv_freq",))
BY_TYPE = {"gpt2": GPT2_FAMILY, **dict.fromkeys(LLAMA_TYPES, LLAMA_FAMILY)}
MODEL_TYPES = tuple(BY_TYPE)
MODELS = (GPT2, Llama)
#: The decoder classes of the llm-* experiments' ``--model`` by name, with their quick-preset
#: shapes (``small`` teacher, ``tiny`` student).
CLASSES = {"gpt2": ModelConfig, "llama": LlamaConfig}


def class_name(cfg) -> str:
    """The ``--model`` name of a config's family: "gpt2" or "llama" (every Llama-family type)."""
    return "gpt2" if isinstance(cfg, ModelConfig) else "llama"


def of_config(cfg) -> Family:
    """The family of a config object (``ValueError`` for anything else)."""
    for family in (GPT2_FAMILY, LLAMA_FAMILY):
        if isinstance(cfg, family.config):
            return family
    raise ValueError(f"{type(cfg).__name__} is not a jaxkd model config (ModelConfig or LlamaConfig).")


def config_from_hf(source):
    """A Hugging Face ``config.json`` (dict, file or folder) as jaxkd's config of its family;
    ``ValueError`` naming the model type when jaxkd has no such family."""
    raw = read_config(source)
    model_type = raw.get("model_type", "gpt2")
    if model_type not in BY_TYPE:
        raise ValueError(f"model_type {model_type!r} is not a decoder jaxkd computes (it has "
                         f"{', '.join(MODEL_TYPES)}).")
    return BY_TYPE[model_type].config.from_hf(raw)


def init(cfg, key: jax.Array):
    """A randomly initialised model of ``cfg``'s family (N(0, 0.02) weights) from one key."""
    return of_config(cfg).model(cfg, rngs=nnx.Rngs(params=key))


def abstract(cfg):
    """The model of ``cfg`` as shapes only (nothing allocated): for budgets and loading."""
    return nnx.eval_shape(lambda: of_config(cfg).model(cfg, rngs=nnx.Rngs(0)))


def check_model(model, role: str = "student"):
    """``model`` if it is one of jaxkd's decoders, else ``ValueError`` (one sentence)."""
    if not isinstance(model, MODELS):
        raise ValueError(f"the {role} is a {type(model).__module__}.{type(model).__qualname__}; jaxkd distils its own "
                         "decoders (jaxkd.llm.GPT2, jaxkd.llm.Llama): load a Hugging Face folder with "
                         "jaxkd.llm.checkpoint.load(path).")
    return model
