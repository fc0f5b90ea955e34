"""Hugging Face GPT-2 checkpoints: import, export, and jaxkd's own checkpoints (same format).

A checkpoint folder holds ``config.json`` and ``model.safetensors`` with Hugging Face key names,
so a jaxkd checkpoint is also a Hugging Face checkpoint and vice versa. Import also reads
``pytorch_model.bin`` and sharded checkpoints (``model.safetensors.index.json`` or
``pytorch_model.bin.index.json`` with their shard files), in any float dtype (bfloat16 and
float16 are widened). The key-mapping table below drives both directions; import checks every
shape and reports every mismatch, missing and unexpected key at once. The config is read by
:meth:`ModelConfig.from_hf`, which refuses any setting jaxkd's GPT-2 does not compute exactly.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxkd.llm.config import ModelConfig
from jaxkd.llm.model import GPT2
from jaxkd.runs import atomic_write_bytes

# Buffers older checkpoints carry that are not parameters (the causal mask), and the tied head.
_IGNORED_SUFFIXES = (".attn.bias", ".attn.masked_bias")
_TIED_HEAD = "lm_head.weight"


def key_map(cfg: ModelConfig) -> dict[str, tuple[tuple, tuple[int, ...]]]:
    """Hugging Face key -> (path in the NNX param tree, expected shape)."""
    C, V, P, F = cfg.n_embd, cfg.vocab_size, cfg.n_positions, cfg.inner_dim
    table = {
        "wte.weight": (("wte", "embedding"), (V, C)),
        "wpe.weight": (("wpe", "embedding"), (P, C)),
        "ln_f.weight": (("ln_f", "scale"), (C,)),
        "ln_f.bias": (("ln_f", "bias"), (C,)),
    }
    for i in range(cfg.n_layer):
        for hf, path, shape in [
            ("ln_1.weight", ("ln_1", "scale"), (C,)), ("ln_1.bias", ("ln_1", "bias"), (C,)),
            ("attn.c_attn.weight", ("attn", "c_attn", "kernel"), (C, 3 * C)),
            ("attn.c_attn.bias", ("attn", "c_attn", "bias"), (3 * C,)),
            ("attn.c_proj.weight", ("attn", "c_proj", "kernel"), (C, C)),
            ("attn.c_proj.bias", ("attn", "c_proj", "bias"), (C,)),
            ("ln_2.weight", ("ln_2", "scale"), (C,)), ("ln_2.bias", ("ln_2", "bias"), (C,)),
            ("mlp.c_fc.weight", ("mlp", "c_fc", "kernel"), (C, F)),
            ("mlp.c_fc.bias", ("mlp", "c_fc", "bias"), (F,)),
            ("mlp.c_proj.weight", ("mlp", "c_proj", "kernel"), (F, C)),
            ("mlp.c_proj.bias", ("mlp", "c_proj", "bias"), (C,)),
        ]:
            table[f"h.{i}.{hf}"] = (("h", i, *path), shape)
    if not cfg.tie_word_embeddings:
        table[_TIED_HEAD] = (("lm_head",), (V, C))
    return table


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


def load(folder, dtype=jnp.float32) -> GPT2:
    """Load a GPT-2 from a local Hugging Face (or jaxkd) checkpoint folder.

    Raises:
      ValueError: missing folder/files, corrupt weights, or any key/shape mismatch (all listed).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"checkpoint folder {folder} does not exist.")
    cfg = ModelConfig.from_hf(folder)
    tensors = _read_tensors(folder)
    tensors = {(k[len("transformer."):] if k.startswith("transformer.") else k): val
               for k, val in tensors.items()}
    table = key_map(cfg)
    problems = []
    for k, val in tensors.items():
        if k in table:
            if tuple(val.shape) != table[k][1]:
                problems.append(f"{k} has shape {tuple(val.shape)}, expected {table[k][1]}")
        elif k == _TIED_HEAD:  # tied (untied heads are in the table)
            if "wte.weight" in tensors and not np.array_equal(val, tensors["wte.weight"]):
                problems.append("lm_head.weight differs from wte.weight (GPT-2 ties them)")
        elif not k.endswith(_IGNORED_SUFFIXES):
            problems.append(f"unexpected key {k}")
    problems += [f"missing key {k}" for k in table if k not in tensors]
    if problems:
        raise ValueError(f"checkpoint {folder} does not match its config: " + "; ".join(problems) + ".")
    model = nnx.eval_shape(lambda: GPT2(cfg, rngs=nnx.Rngs(0)))
    state = nnx.state(model, nnx.Param)
    pure = nnx.to_pure_dict(state)
    for k, (path, _) in table.items():
        node = pure
        for p in path[:-1]:
            node = node[p]
        node[path[-1]] = jnp.asarray(tensors[k], dtype)
    nnx.replace_by_pure_dict(state, pure)
    nnx.update(model, state)
    return model


def save(model: GPT2, folder, tokenizer=None) -> Path:
    """Write ``config.json`` + ``model.safetensors`` (Hugging Face names), and the tokenizer.

    Each file is written atomically; the result loads with :func:`load` and with
    ``transformers.GPT2LMHeadModel.from_pretrained``.
    """
    from safetensors.numpy import save

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cfg = model.config
    pure = nnx.to_pure_dict(nnx.state(model, nnx.Param))
    tensors = {}
    for k, (path, _) in key_map(cfg).items():
        node = pure
        for p in path:
            node = node[p]
        tensors[f"transformer.{k}"] = np.ascontiguousarray(np.asarray(jax.device_get(node), np.float32))
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
