"""Hugging Face GPT-2 import is exact or refuses: parity per block over a table of configurations.

Each configuration is a random tiny ``GPT2LMHeadModel`` (eager attention, so
``reorder_and_upcast_attn`` takes its own path in transformers too). Forward hooks capture
what each Hugging Face block received and returned; the same inputs go through jaxkd's block,
so a mismatch names the block (embeddings, layer i attention, layer i MLP, logits, generation).
"""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from transformers import GPT2Config as HFConfig
from transformers import GPT2LMHeadModel
from transformers.activations import ACT2FN
from transformers.utils import logging as hf_logging

from jaxkd.llm import ModelConfig, checkpoint, sampling
from jaxkd.llm.activations import ACTIVATIONS

hf_logging.set_verbosity_error()
V, EOS = 83, 0
BASE = dict(vocab_size=V, n_positions=48, n_embd=32, n_layer=2, n_head=4, bos_token_id=EOS, eos_token_id=EOS)

CONFIGS = {
    "gpt2": {},
    "new shape": dict(n_layer=3, n_head=6, n_embd=48, vocab_size=111),
    "n_inner": dict(n_inner=40),
    "gelu (erf)": dict(activation_function="gelu"),
    "relu": dict(activation_function="relu"),
    "quick_gelu": dict(activation_function="quick_gelu"),
    "unscaled attention": dict(scale_attn_weights=False),
    "inverse layer scaling": dict(scale_attn_by_inverse_layer_idx=True, n_layer=3),
    "reorder and upcast": dict(reorder_and_upcast_attn=True),
    "layer norm epsilon": dict(layer_norm_epsilon=1e-2),
    "untied head": dict(tie_word_embeddings=False),
}
TOL = 2e-5  # relative to the largest magnitude; float32 throughout


def _hf(overrides, seed=0):
    torch.manual_seed(seed)
    cfg = HFConfig(**{**BASE, **overrides})
    cfg._attn_implementation = "eager"
    model = GPT2LMHeadModel(cfg).eval()
    with torch.no_grad():  # a non-trivial model: std-0.02 weights make every block near-linear
        for name, p in model.named_parameters():
            if p.ndim == 2:
                p.mul_(8.0)
            elif "ln" in name:
                p.add_(torch.randn_like(p) * 0.3)
    return model


@pytest.fixture(scope="module", params=list(CONFIGS), ids=list(CONFIGS))
def pair(request, tmp_path_factory):
    hf = _hf(CONFIGS[request.param])
    folder = tmp_path_factory.mktemp("hf")
    hf.save_pretrained(folder)
    return hf, checkpoint.load(folder)


def _rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-12))


def _capture(hf, toks):
    """Inputs and outputs of every block in one Hugging Face forward pass."""
    seen, hooks = {}, []

    def hook(name):
        def fn(module, args, kwargs, out):
            x = args[0] if args else kwargs["hidden_states"]
            y = out[0] if isinstance(out, tuple) else out
            seen[name] = (x.detach().numpy(), y.detach().numpy())
        return fn

    hooks.append(hf.transformer.drop.register_forward_hook(hook("embeddings"), with_kwargs=True))
    for i, block in enumerate(hf.transformer.h):
        hooks.append(block.attn.register_forward_hook(hook(f"attn{i}"), with_kwargs=True))
        hooks.append(block.mlp.register_forward_hook(hook(f"mlp{i}"), with_kwargs=True))
    with torch.no_grad():
        logits = hf(torch.tensor(toks)).logits.numpy()
    for h in hooks:
        h.remove()
    return seen, logits


def test_every_block_matches_hugging_face(pair):
    hf, ours = pair
    toks = np.random.default_rng(1).integers(1, ours.config.vocab_size, size=(2, 11))
    seen, logits = _capture(hf, toks)
    T = toks.shape[1]
    pos = jnp.broadcast_to(jnp.arange(T), toks.shape)
    errors = {"embeddings": _rel(ours.embed(jnp.asarray(toks), pos), seen["embeddings"][1])}
    causal = jnp.broadcast_to(jnp.tril(jnp.ones((T, T), bool)), (2, T, T))
    for i, block in enumerate(ours.h):
        x, y = seen[f"attn{i}"]
        errors[f"layer {i} attention"] = _rel(block.attn(jnp.asarray(x), causal)[0], y)
        x, y = seen[f"mlp{i}"]
        errors[f"layer {i} MLP"] = _rel(block.mlp(jnp.asarray(x)), y)
    errors["logits"] = _rel(ours(jnp.asarray(toks)), logits)
    bad = {k: e for k, e in errors.items() if not e < TOL}
    assert not bad, f"blocks that differ from transformers (relative error): {bad}"


def test_greedy_generation_matches_hugging_face(pair):
    hf, ours = pair
    toks = np.random.default_rng(2).integers(1, ours.config.vocab_size, size=(2, 6))
    mask = np.ones_like(toks)
    with torch.no_grad():
        ref = hf.generate(torch.tensor(toks), attention_mask=torch.tensor(mask), do_sample=False,
                          max_new_tokens=10, pad_token_id=EOS, eos_token_id=EOS)[:, 6:].numpy()
    out = sampling.generate(ours, toks, mask, jax.random.split(jax.random.key(0), 2),
                            sampling.SamplingConfig(max_new_tokens=10, greedy=True, repetition_penalty=1.0))
    np.testing.assert_array_equal(np.asarray(out)[:, : ref.shape[1]], ref)


def test_each_variant_would_be_caught():
    """The table is a real test: loading a variant as plain GPT-2 changes the logits by far more
    than the tolerance (so an ignored field could not pass)."""
    toks = torch.tensor(np.random.default_rng(3).integers(1, V, size=(2, 9)))
    for name, overrides in CONFIGS.items():
        if not overrides or set(overrides) <= {"n_layer", "n_head", "n_embd", "vocab_size", "tie_word_embeddings", "n_inner"}:
            continue  # shapes: a mismatch there is a load error, tested below
        hf = _hf(overrides)
        plain = GPT2LMHeadModel(HFConfig(**{**BASE, **{k: v for k, v in overrides.items() if k == "n_layer"}}))
        plain.load_state_dict(hf.state_dict())
        plain.eval()
        with torch.no_grad():
            gap = _rel(plain(toks).logits.numpy(), hf(toks).logits.numpy())
        if name == "reorder and upcast":
            assert gap < TOL  # float32: the same computation, only the order of rounding differs
        else:
            assert gap > 5 * TOL, name


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_matches_act2fn(name):
    x = np.linspace(-12, 12, 2001, dtype=np.float32)
    ref = ACT2FN[name](torch.tensor(x)).numpy()
    np.testing.assert_allclose(np.asarray(ACTIVATIONS[name](jnp.asarray(x))), ref, rtol=1e-5, atol=2e-6)


def _saved(tmp_path, hf, name="ckpt", **kwargs):
    folder = tmp_path / name
    hf.save_pretrained(folder, **kwargs)
    return folder


def _same_logits(model, hf):
    toks = np.random.default_rng(4).integers(1, V, size=(2, 7))
    with torch.no_grad():
        ref = hf(torch.tensor(toks)).logits.numpy()
    return _rel(model(jnp.asarray(toks)), ref) < TOL


def test_pytorch_bin_and_sharded_checkpoints_load(tmp_path):
    hf = _hf({"tie_word_embeddings": False})
    sharded = _saved(tmp_path, hf, "sharded", max_shard_size="20KB")
    assert (sharded / "model.safetensors.index.json").is_file()
    assert len(list(sharded.glob("model-*.safetensors"))) > 2
    assert _same_logits(checkpoint.load(sharded), hf)
    binary = tmp_path / "bin"
    binary.mkdir()
    (binary / "config.json").write_text((sharded / "config.json").read_text())
    torch.save(hf.state_dict(), binary / "pytorch_model.bin")
    assert _same_logits(checkpoint.load(binary), hf)
    # A sharded .bin: the index format is the same, the shards are torch files.
    sbin = tmp_path / "sbin"
    sbin.mkdir()
    (sbin / "config.json").write_text((sharded / "config.json").read_text())
    state, weight_map = hf.state_dict(), {}
    names = sorted(state)
    for j, part in enumerate((names[: len(names) // 2], names[len(names) // 2:])):
        torch.save({k: state[k] for k in part}, sbin / f"pytorch_model-{j}.bin")
        weight_map.update({k: f"pytorch_model-{j}.bin" for k in part})
    (sbin / "pytorch_model.bin.index.json").write_text(json.dumps({"weight_map": weight_map}))
    assert _same_logits(checkpoint.load(sbin), hf)
    # bfloat16 weights widen to float32: the model computes what the rounded weights say.
    half = _saved(tmp_path, hf.to(torch.bfloat16), "bf16")
    hf.float()
    loaded = checkpoint.load(half)
    np.testing.assert_array_equal(np.asarray(loaded.wte.embedding[...]),
                                  hf.transformer.wte.weight.detach().bfloat16().float().numpy())


def test_untied_head_round_trips_through_save(tmp_path):
    hf = _hf({"tie_word_embeddings": False})
    ours = checkpoint.load(_saved(tmp_path, hf))
    again = GPT2LMHeadModel.from_pretrained(checkpoint.save(ours, tmp_path / "out")).eval()
    assert not again.config.tie_word_embeddings
    assert _same_logits(ours, again) and _same_logits(ours, hf)


@pytest.mark.parametrize("overrides, match", [
    ({"activation_function": "prelu"}, "activation_function 'prelu' is not implemented"),
    ({"activation_function": "no-such"}, "activation_function 'no-such' is not implemented"),
    ({"add_cross_attention": True}, "add_cross_attention is true"),
])
def test_configs_jaxkd_cannot_compute_are_refused(tmp_path, overrides, match):
    cfg = {**HFConfig(**BASE).to_dict(), **overrides}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match=match):
        checkpoint.load(tmp_path)


def test_shard_index_problems_are_named(tmp_path):
    hf = _hf({})
    folder = _saved(tmp_path, hf, max_shard_size="20KB")
    shard = sorted(folder.glob("model-*.safetensors"))[0]
    shard.unlink()
    with pytest.raises(ValueError, match=f"names the shard {shard.name}"):
        checkpoint.load(folder)
    (folder / "model.safetensors.index.json").write_text("{}")
    with pytest.raises(ValueError, match="not a shard index"):
        checkpoint.load(folder)


def test_config_round_trip_keeps_every_switch():
    cfg = ModelConfig(vocab_size=50, n_positions=16, n_embd=16, n_layer=2, n_head=2, n_inner=24,
                     activation_function="relu", scale_attn_weights=False,
                     scale_attn_by_inverse_layer_idx=True, reorder_and_upcast_attn=True,
                     tie_word_embeddings=False, layer_norm_epsilon=1e-3, resid_pdrop=0.05, attn_pdrop=0.2)
    assert ModelConfig.from_hf(cfg.to_hf()) == cfg
    hf = HFConfig(**{k: v for k, v in cfg.to_hf().items() if k not in ("model_type", "architectures")})
    for k in ("n_inner", "activation_function", "scale_attn_weights", "scale_attn_by_inverse_layer_idx",
              "reorder_and_upcast_attn", "tie_word_embeddings", "layer_norm_epsilon", "embd_pdrop", "resid_pdrop",
              "attn_pdrop"):
        assert getattr(hf, k) == getattr(cfg, k), k
