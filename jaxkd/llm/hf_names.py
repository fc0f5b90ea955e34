"""Hugging Face parameter names of jaxkd's decoders: for each family the table from a
Hugging Face state-dict key to the path in the NNX parameter tree, the expected shape, and
whether the tensor is stored transposed (Hugging Face ``nn.Linear`` weights are (out, in),
``nnx.Linear`` kernels (in, out); GPT-2's ``Conv1D`` weights are already (in, out)).
:mod:`jaxkd.llm.checkpoint` drives import and export from these tables.

Keys are as Hugging Face's ``*ForCausalLM`` / ``GPT2LMHeadModel`` save them, less GPT-2's
``transformer.`` prefix (older GPT-2 checkpoints omit it; import strips it, export adds it).
"""

from __future__ import annotations

from typing import NamedTuple


class Entry(NamedTuple):
    """path: the NNX parameter's path; shape: the tensor's shape as Hugging Face stores it;
    transposed: stored as the transpose of the NNX parameter."""

    path: tuple
    shape: tuple[int, ...]
    transposed: bool = False


def gpt2(cfg) -> dict[str, Entry]:
    """GPT-2's table (``h.{i}.attn.c_attn.weight`` ...)."""
    C, V, P, F = cfg.n_embd, cfg.vocab_size, cfg.n_positions, cfg.inner_dim
    table = {
        "wte.weight": Entry(("wte", "embedding"), (V, C)),
        "wpe.weight": Entry(("wpe", "embedding"), (P, C)),
        "ln_f.weight": Entry(("ln_f", "scale"), (C,)),
        "ln_f.bias": Entry(("ln_f", "bias"), (C,)),
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
            table[f"h.{i}.{hf}"] = Entry(("h", i, *path), shape)
    if not cfg.tie_word_embeddings:
        table["lm_head.weight"] = Entry(("lm_head",), (V, C))
    return table


def llama(cfg) -> dict[str, Entry]:
    """The Llama family's table (``model.layers.{i}.self_attn.q_proj.weight`` ...), with the
    biases and q/k norms the config's family has."""
    C, V, F, D = cfg.hidden_size, cfg.vocab_size, cfg.intermediate_size, cfg.head_dim
    H, K = cfg.n_head, cfg.n_kv_head
    table = {"model.embed_tokens.weight": Entry(("embed_tokens", "embedding"), (V, C)),
             "model.norm.weight": Entry(("norm", "scale"), (C,))}
    for i in range(cfg.num_hidden_layers):
        rows = [("input_layernorm", (C,), None), ("post_attention_layernorm", (C,), None),
                ("self_attn.q_proj", (H * D, C), cfg.qkv_bias), ("self_attn.k_proj", (K * D, C), cfg.qkv_bias),
                ("self_attn.v_proj", (K * D, C), cfg.qkv_bias), ("self_attn.o_proj", (C, H * D), cfg.o_bias),
                ("mlp.gate_proj", (F, C), cfg.mlp_bias), ("mlp.up_proj", (F, C), cfg.mlp_bias),
                ("mlp.down_proj", (C, F), cfg.mlp_bias)]
        if cfg.qk_norm:
            rows += [("self_attn.q_norm", (D,), None), ("self_attn.k_norm", (D,), None)]
        for name, shape, bias in rows:
            path = ("layers", i, *name.split("."))
            if bias is None:  # an RMSNorm: weight -> scale
                table[f"model.layers.{i}.{name}.weight"] = Entry((*path, "scale"), shape)
                continue
            table[f"model.layers.{i}.{name}.weight"] = Entry((*path, "kernel"), shape, True)
            if bias:
                table[f"model.layers.{i}.{name}.bias"] = Entry((*path, "bias"), (shape[0],))
    if not cfg.tie_word_embeddings:
        table["lm_head.weight"] = Entry(("lm_head",), (V, C))
    return table
