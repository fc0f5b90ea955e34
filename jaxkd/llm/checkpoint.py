"""Hugging Face checkpoints of jaxkd's decoders (GPT-2, Llama, Qwen2, Qwen3, Mistral): import,
export, and jaxkd's own checkpoints (same format).

A checkpoint folder holds ``config.json`` and ``model.safetensors`` with Hugging Face key names,
so a jaxkd checkpoint is also a Hugging Face checkpoint and vice versa. :func:`load` dispatches
on the config's ``model_type`` (:mod:`jaxkd.llm.families`) and reads ``model.safetensors``,
``pytorch_model.bin`` and sharded checkpoints (``model.safetensors.index.json`` or
``pytorch_model.bin.index.json`` with their shard files), in any float dtype (bfloat16 and
float16 are widened to float32 exactly). The family's name table (:mod:`jaxkd.llm.hf_names`)
drives both directions; import checks every shape and reports every mismatch, missing and
unexpected key at once. The config is read by the family's ``from_hf``, which refuses any
setting jaxkd does not compute exactly.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxkd.llm import families
from jaxkd.runs import atomic_write_bytes

_HEAD = "lm_head.weight"


def key_map(cfg) -> dict:
    """Hugging Face key -> (path in the NNX param tree, expected shape, stored transposed), for
    ``cfg``'s family (keys without GPT-2's ``transformer.`` prefix)."""
    return families.of_config(cfg).names(cfg)


def _read_file(path: Path) -> dict[str, np.ndarray]:
    """One weights file as float32 NumPy arrays (via torch, which reads every float dtype)."""
    import torch

    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
        return {k: t.float().numpy() for k, t in state.items()}
    except Exception as exc:  # truncated or corrupt files raise many different types
        raise ValueError(f"cannot read the weights in {path}: the file is corrupt or not a "
                         f"checkpoint ({type(exc).__name__}: {exc}).") from None


def _read_tensors(folder: Path) -> dict[str, np.ndarray]:
    """All weights of a checkpoint folder: one file, or the shards its index names."""
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (folder / name).is_file():
            return _read_file(folder / name)
        index = folder / f"{name}.index.json"
        if index.is_file():
            try:
                weight_map = json.loads(index.read_text())["weight_map"]
            except (json.JSONDecodeError, KeyError, TypeError):
                raise ValueError(f"{index} is not a shard index (JSON with a weight_map).") from None
            tensors, files = {}, sorted(set(weight_map.values()))
            for shard in files:
                if not (folder / shard).is_file():
                    raise ValueError(f"{index} names the shard {shard}, which is not in {folder}.")
                part = _read_file(folder / shard)
                tensors.update({k: val for k, val in part.items() if weight_map.get(k) == shard})
            missing = sorted(k for k in weight_map if k not in tensors)
            if missing:
                raise ValueError(f"{index} lists {', '.join(missing[:5])} but its shard does not hold it.")
            return tensors
    raise ValueError(f"no model.safetensors, pytorch_model.bin or a sharded index of either in {folder}.")


def load(folder, dtype=jnp.float32):
    """Load a jaxkd decoder (GPT-2 or Llama family, by ``model_type``) from a local Hugging Face
    (or jaxkd) checkpoint folder.

    Raises:
      ValueError: missing folder/files, a model type or setting jaxkd does not compute, corrupt
        weights, or any key/shape mismatch (all listed).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"checkpoint folder {folder} does not exist.")
    cfg = families.config_from_hf(folder)
    family = families.of_config(cfg)
    tensors = _read_tensors(folder)
    if family.prefix:
        tensors = {(k[len(family.prefix):] if k.startswith(family.prefix) else k): val for k, val in tensors.items()}
    table = key_map(cfg)
    problems = []
    for k, val in tensors.items():
        if k in table:
            expected = table[k].shape
            if tuple(val.shape) != expected:
                problems.append(f"{k} has shape {tuple(val.shape)}, expected {expected}")
        elif k == _HEAD:  # tied (untied heads are in the table)
            if family.embedding in tensors and not np.array_equal(val, tensors[family.embedding]):
                problems.append(f"lm_head.weight differs from {family.embedding} (the config ties them)")
        elif not k.endswith(family.buffers):
            problems.append(f"unexpected key {k}")
    problems += [f"missing key {k}" for k in table if k not in tensors]
    if problems:
        raise ValueError(f"checkpoint {folder} does not match its config: " + "; ".join(problems) + ".")
    model = families.abstract(cfg)
    state = nnx.state(model, nnx.Param)
    pure = nnx.to_pure_dict(state)
    for k, entry in table.items():
        node = pure
        for p in entry.path[:-1]:
            node = node[p]
        node[entry.path[-1]] = jnp.asarray(tensors[k].T if entry.transposed else tensors[k], dtype)
    nnx.replace_by_pure_dict(state, pure)
    nnx.update(model, state)
    return model


def save(model, folder, tokenizer=None) -> Path:
    """Write ``config.json`` + ``model.safetensors`` (Hugging Face names), and the tokenizer.

    Each file is written atomically; the result loads with :func:`load` and with
    ``transformers.AutoModelForCausalLM.from_pretrained`` to the same logits.
    """
    from safetensors.numpy import save

    families.check_model(model, "model")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cfg = model.config
    family = families.of_config(cfg)
    pure = nnx.to_pure_dict(nnx.state(model, nnx.Param))
    tensors = {}
    for k, entry in key_map(cfg).items():
        node = pure
        for p in entry.path:
            node = node[p]
        array = np.asarray(jax.device_get(node), np.float32)
        name = k if k == _HEAD else family.prefix + k
        tensors[name] = np.ascontiguousarray(array.T if entry.transposed else array)
    atomic_write_bytes(folder / "model.safetensors", save(tensors, metadata={"format": "pt"}))
    atomic_write_bytes(folder / "config.json", (json.dumps(cfg.to_hf(), indent=2) + "\n").encode())
    if tokenizer is not None:
        tokenizer.save_pretrained(str(folder))
    return folder


def load_tokenizer(folder):
    """The checkpoint's tokenizer via ``transformers.AutoTokenizer`` from the same folder."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except Exception as exc:
        raise ValueError(f"no usable tokenizer in {folder} ({type(exc).__name__}).") from None
