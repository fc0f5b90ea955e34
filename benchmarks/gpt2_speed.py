"""Decoder training and sampling throughput: jaxkd (Flax NNX, jitted, KV cache) against
Hugging Face transformers' PyTorch model of the same family (``GPT2LMHeadModel``, or with
``--model llama`` ``LlamaForCausalLM``: grouped-query heads, rotary positions, SwiGLU), same
config, batch and thread count, measured in the same run.

Training: AdamW steps with global-norm clipping on random token batches (tokens/s counts the
B x T tokens of each step). Sampling: ``generate`` with temperature 1, top-k 50, repetition
penalty 1.2 and the KV cache (``use_cache=True`` for transformers), a fixed number of new tokens
(``min_new_tokens`` keeps transformers from stopping early); tokens/s counts generated tokens.

The floor (``benchmarks/machine.py``): training FLOPs are the matrix products of a step, three
times the forward's (every product has a gradient for each operand): ``2 B T`` per weight of the
blocks' and the head's matrices plus ``4 B T^2 H D`` per layer for attention's two products;
compulsory bytes are the optimizer's traffic, every parameter, gradient and Adam moment read
and the parameters and moments written (8 floats per parameter). Sampling FLOPs are the forward
products of the ``prompt + new - 1`` positions each sequence runs through the model (attention
over the positions before each); compulsory bytes are the weights read once and the KV cache
written once. A training step of the default configuration is 3.02 GFLOP, so at a 200 GFLOP/s
matrix rate the floor is 15 ms a step (34 k tokens/s); no implementation of the same arithmetic
beats it on that machine.

Where a training step's time goes: both sides also time steps of the same model with other
depths (``--sweep-layers``, default 1 and 2 besides ``--layers``) and fit a line through the
step times: the slope is what one transformer block costs (forward, backward and its share of
the optimizer), the intercept what the rest costs (embeddings, head, loss, optimizer and call
overhead). Each is printed against its own matrix-product floor, so the output says whether the
blocks or the rest keep a side from its floor.

The header and the JSON say where it ran (``benchmarks/machine.py``); ``--isa avx2`` caps
every side at AVX2 (``benchmarks/isa.py``), to measure a machine without AVX-512 on one that has it.

    python benchmarks/gpt2_speed.py [--model gpt2|llama] [--layers 4 --width 128 --batch 8 --seq 64 --new 48]
                                    [--kv-heads 2] [--samples 8] [--isa avx2] [--json PATH]
"""

from __future__ import annotations

import sys

if __name__ == "__main__":  # the instruction-set cap, before NumPy, JAX and PyTorch load
    import isa

    isa.from_argv()

import argparse
import dataclasses
import functools
import os
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import machine  # noqa: E402


def matmul_weights(cfg) -> int:
    """Weights that enter matrix products per position: each block's attention projections
    (GPT-2: c_attn and c_proj; Llama: q, k, v at H and K heads of D, o) and MLP matrices (GPT-2:
    two of C x F; Llama: gate, up and down), and the (V, C) head."""
    C, F, D = cfg.n_embd, cfg.inner_dim, cfg.head_dim
    attention = C * D * (2 * cfg.n_head + 2 * cfg.n_kv_head)
    mlp = (3 if cfg.model_type != "gpt2" else 2) * C * F
    return cfg.n_layer * (attention + mlp) + cfg.vocab_size * C


def train_flops(cfg, batch: int, seq: int) -> float:
    """FLOPs of the matrix products of one training step on (batch, seq) tokens."""
    forward = 2 * batch * seq * matmul_weights(cfg) + cfg.n_layer * 4 * batch * seq * seq * cfg.n_head * cfg.head_dim
    return 3.0 * forward


def train_flops_split(cfg, batch: int, seq: int) -> tuple[float, float]:
    """:func:`train_flops` as (the rest: the head's products, one block's products); the step's
    count at depth L is ``rest + L * block``."""
    one, two = (train_flops(with_layers(cfg, n), batch, seq) for n in (1, 2))
    return one - (two - one), two - one


def train_bytes(num_params: int) -> float:
    """Compulsory bytes of one step: the optimizer reads parameters, gradients and both Adam
    moments and writes parameters and moments; gradients are written once by the backward pass."""
    return 4.0 * 8 * num_params


def sample_flops(cfg, batch: int, prompt: int, new: int, samples: int = 1) -> float:
    """Forward FLOPs of generating ``new`` tokens after each of ``batch`` prompts, ``samples``
    sequences per prompt: the prompt's positions once per prompt (its samples share them), then
    ``new - 1`` positions per sequence through the products, each attending to the positions up
    to it."""
    def cost(lo, hi):  # positions lo+1..hi of one sequence: products and attention
        attention = cfg.n_layer * 4 * cfg.n_head * cfg.head_dim * (hi * (hi + 1) - lo * (lo + 1)) / 2
        return 2 * (hi - lo) * matmul_weights(cfg) + attention
    return batch * (cost(0, prompt) + samples * cost(prompt, prompt + new - 1))


def sample_bytes(cfg, num_params: int, batch: int, prompt: int, new: int) -> float:
    """Compulsory bytes of generation: the weights read once, the KV cache written once."""
    return 4.0 * (num_params + 2 * cfg.n_layer * batch * (prompt + new) * cfg.n_kv_head * cfg.head_dim)


def with_layers(cfg, layers: int):
    """``cfg`` at another depth (either family)."""
    field = "n_layer" if cfg.model_type == "gpt2" else "num_hidden_layers"
    return dataclasses.replace(cfg, **{field: layers})


def make_config(args):
    """The benchmarked shape: GPT-2 or a Llama of the same width, depth, heads and MLP width
    (4 x width), with ``--kv-heads`` key/value heads."""
    from jaxkd.llm import LlamaConfig, ModelConfig

    positions = max(args.seq, args.prompt + args.new)
    if args.model == "gpt2":
        return ModelConfig(vocab_size=args.vocab, n_positions=positions, n_embd=args.width, n_layer=args.layers,
                           n_head=args.heads, bos_token_id=0, eos_token_id=0)
    return LlamaConfig(vocab_size=args.vocab, max_position_embeddings=positions, hidden_size=args.width,
                       intermediate_size=4 * args.width, num_hidden_layers=args.layers, num_attention_heads=args.heads,
                       num_key_value_heads=args.kv_heads or args.heads // 2 or 1, bos_token_id=0, eos_token_id=0)


def hf_model(cfg):
    """The transformers model of ``cfg``'s family with the same shape (random weights)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    raw = {k: v for k, v in cfg.to_hf().items() if k not in ("architectures", "model_type")}
    return AutoModelForCausalLM.from_config(AutoConfig.for_model(cfg.model_type, **raw))


def layer_costs(layers, seconds) -> tuple[float, float]:
    """Least-squares line through step times at several depths: (seconds for the rest, seconds
    per block)."""
    per_layer, rest = np.polyfit(np.asarray(layers, float), np.asarray(seconds, float), 1)
    return float(rest), float(per_layer)


def depths_list(text: str) -> list[int]:
    """``"1,2"`` -> [1, 2] (argparse reports the ValueError of a non-integer)."""
    return [int(x) for x in text.split(",") if x.strip()]


def train_block(objective, tx, steps: int, data, carry):
    """``steps`` training steps of one model on one batch, as jaxkd trains: the engine's
    compiled scan (:func:`jaxkd.students.ensemble.run_block`, full batch, one step an epoch).
    ``data``: the batch, a :class:`jaxkd.llm.objective.SequenceBatch` of (B, T) arrays.
    Returns ``(carry, losses)``."""
    import jax

    from jaxkd.students import ensemble

    n = data.tokens.shape[0]
    keys = jax.random.split(jax.random.key(0), steps)  # full batch: the order is not used
    carry, losses, _ = ensemble.run_block(objective, tx, ensemble.Schedule(steps), n, carry, data, keys, None, 0,
                                          None)
    return carry, losses


def best_of(fn, repeats: int) -> float:
    fn()  # warm-up (compilation for jax)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None) -> int:
    from jaxkd import compiler

    compiler.configure()  # the XLA settings the `jaxkd` command runs with
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("gpt2", "llama"), default="gpt2", help="decoder family")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--kv-heads", type=int, default=0, help="llama: key/value heads (default heads / 2)")
    parser.add_argument("--vocab", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=64, help="training sequence length")
    parser.add_argument("--prompt", type=int, default=16)
    parser.add_argument("--new", type=int, default=48, help="tokens generated per sequence")
    parser.add_argument("--samples", type=int, default=1,
                        help="sequences sampled per prompt (jaxkd prefills a prompt once for all its samples, "
                             "transformers' num_return_sequences once per sequence)")
    parser.add_argument("--steps", type=int, default=10, help="training steps per timing")
    parser.add_argument("--sweep-layers", type=depths_list, default=[1, 2],
                        help="other depths whose training steps are timed to split a step's time into "
                             "blocks and the rest (comma-separated; the line needs two depths in all)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--isa", choices=machine.isa.CHOICES, default="native",
                        help="cap every side at this instruction set (applied before the libraries load)")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    if len({args.layers, *args.sweep_layers}) < 2 or min(args.sweep_layers, default=1) < 1:
        parser.error("--sweep-layers needs at least one depth >= 1 other than --layers.")

    import jax
    import jax.numpy as jnp
    import torch
    from transformers.utils import logging as hf_logging

    import optax
    from flax import nnx

    from jaxkd import progress
    from jaxkd.llm import sampling
    from jaxkd.llm.families import init
    from jaxkd.llm.objective import LMObjective, SequenceBatch
    from jaxkd.students import ensemble

    progress.quiet_third_party()  # Hugging Face's bars and advisories would interleave with the report
    hf_logging.set_verbosity_error()
    torch.set_num_threads(args.threads)
    gflops, gbs = machine.matmul_gflops(), machine.bandwidth_gbs()  # on jax's default device
    desc = machine.describe(gflops, gbs)
    print(machine.header(desc))
    cfg = make_config(args)
    rng = np.random.default_rng(0)
    tokens = rng.integers(1, args.vocab, size=(args.batch, args.seq))
    ones = np.ones_like(tokens)

    # --- training: the engine's compiled block of steps (what distill runs), the same AdamW both sides ---
    tx = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(1e-4, weight_decay=0.01))
    # The peer runs where jaxkd runs: on the GPU when JAX has one and PyTorch sees it.
    dev = "cuda" if jax.default_backend() == "gpu" and torch.cuda.is_available() else "cpu"
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    tt = torch.tensor(tokens, device=dev)

    def jax_step_seconds(c):
        graphdef, params = nnx.split(init(c, jax.random.key(0)), nnx.Param)
        data = SequenceBatch(jnp.asarray(tokens, jnp.int32), jnp.asarray(ones, jnp.int32), jnp.asarray(ones, jnp.int32))
        block = jax.jit(functools.partial(train_block, LMObjective(graphdef), tx, args.steps, data))
        state = [ensemble.Carry(params, tx.init(params), nnx.State({}))]

        def train():
            state[0], losses = block(state[0])
            jax.block_until_ready(losses)

        return best_of(train, args.repeats) / args.steps, (graphdef, state)

    def torch_step_seconds(c):
        torch.manual_seed(0)
        hf = hf_model(c).to(dev)
        opt = torch.optim.AdamW(hf.parameters(), lr=1e-4, weight_decay=0.01)

        def train():
            for _ in range(args.steps):
                opt.zero_grad()
                out = hf(tt, labels=tt)
                out.loss.backward()
                torch.nn.utils.clip_grad_norm_(hf.parameters(), 1.0)
                opt.step()
            sync()

        return best_of(train, args.repeats) / args.steps, hf

    jax_step, (graphdef, trained) = jax_step_seconds(cfg)
    torch_step, hf = torch_step_seconds(cfg)
    jax_train_tps, torch_train_tps = tokens.size / jax_step, tokens.size / torch_step

    # Where the step's time goes: the same model at other depths, a line through the step times.
    depths = sorted({args.layers, *args.sweep_layers})
    jax_steps, torch_steps = [], []
    for L in depths:
        c = with_layers(cfg, L)
        jax_steps.append(jax_step if L == args.layers else jax_step_seconds(c)[0])
        torch_steps.append(torch_step if L == args.layers else torch_step_seconds(c)[0])
    rest_flops, layer_flops = train_flops_split(cfg, args.batch, args.seq)

    # --- sampling ---
    prompts = rng.integers(1, args.vocab, size=(args.batch, args.prompt))
    pmask = np.ones_like(prompts)
    rows, rmask = np.repeat(prompts, args.samples, axis=0), np.repeat(pmask, args.samples, axis=0)
    scfg = sampling.SamplingConfig(max_new_tokens=args.new, temperature=1.0, top_k=50, repetition_penalty=1.2)
    model = nnx.merge(graphdef, trained[0].params)
    keys = jax.random.split(jax.random.key(1), rows.shape[0])

    def jax_sample():
        jax.block_until_ready(sampling.generate(model, rows, rmask, keys, scfg, repeats=args.samples))

    hf.eval()
    tp, tm = torch.tensor(prompts, device=dev), torch.tensor(pmask, device=dev)

    def torch_sample():
        with torch.no_grad():
            hf.generate(tp, attention_mask=tm, do_sample=True, temperature=1.0, top_k=50,
                        repetition_penalty=1.2, max_new_tokens=args.new, min_new_tokens=args.new,
                        num_return_sequences=args.samples, use_cache=True, pad_token_id=0)
        sync()

    gen_tokens = args.batch * args.samples * args.new
    jax_sample_tps = gen_tokens / best_of(jax_sample, args.repeats)
    torch_sample_tps = gen_tokens / best_of(torch_sample, args.repeats)

    num_params = sum(x.size for x in jax.tree.leaves(trained[0].params))
    train_floor = machine.floor(train_flops(cfg, args.batch, args.seq), train_bytes(num_params), gflops, gbs)
    sample_floor = machine.floor(sample_flops(cfg, args.batch, args.prompt, args.new, args.samples),
                                 sample_bytes(cfg, num_params, args.batch * args.samples, args.prompt, args.new),
                                 gflops, gbs)
    floor_train_tps = tokens.size / train_floor["floor_seconds"]
    jax_rest, jax_layer = layer_costs(depths, jax_steps)
    torch_rest, torch_layer = layer_costs(depths, torch_steps)
    sweep = {"layers": depths, "jaxkd_step_ms": [1e3 * t for t in jax_steps],
             "transformers_step_ms": [1e3 * t for t in torch_steps],
             "jaxkd_rest_ms": 1e3 * jax_rest, "jaxkd_per_layer_ms": 1e3 * jax_layer,
             "transformers_rest_ms": 1e3 * torch_rest, "transformers_per_layer_ms": 1e3 * torch_layer,
             "floor_rest_ms": 1e3 * rest_flops / gflops / 1e9, "floor_per_layer_ms": 1e3 * layer_flops / gflops / 1e9}
    floor_sample_tps = gen_tokens / sample_floor["floor_seconds"]
    report = {
        "benchmark": "gpt2_speed", "model": args.model, "config": cfg.to_hf(), "batch": args.batch, "seq": args.seq,
        "prompt": args.prompt, "new_tokens": args.new, "samples_per_prompt": args.samples, "threads": args.threads,
        "jaxkd_train_tokens_per_s": jax_train_tps, "transformers_train_tokens_per_s": torch_train_tps,
        "train_speedup": jax_train_tps / torch_train_tps,
        "jaxkd_sample_tokens_per_s": jax_sample_tps, "transformers_sample_tokens_per_s": torch_sample_tps,
        "sample_speedup": jax_sample_tps / torch_sample_tps,
        "num_params": num_params, "matmul_gflops": gflops, "bandwidth_gbs": gbs,
        **{f"train_floor_{k}": v for k, v in train_floor.items()},
        **{f"sample_floor_{k}": v for k, v in sample_floor.items()},
        "floor_train_tokens_per_s": floor_train_tps, "layer_sweep": sweep, "floor_sample_tokens_per_s": floor_sample_tps,
        "jaxkd_train_fraction_of_floor": jax_train_tps / floor_train_tps,
        "transformers_train_fraction_of_floor": torch_train_tps / floor_train_tps,
        "jaxkd_sample_fraction_of_floor": jax_sample_tps / floor_sample_tps,
        "transformers_sample_fraction_of_floor": torch_sample_tps / floor_sample_tps,
        "transformers_device": dev, "torch_threads": args.threads,
        "machine": desc, "isa_cap": desc["isa_cap"],
    }
    heads = f"{cfg.n_head} heads" + ("" if args.model == "gpt2" else f", {cfg.n_kv_head} key/value heads")
    print(f"{'GPT-2' if args.model == 'gpt2' else 'Llama'} {args.layers} layers, width {args.width}, {heads}, "
          f"vocab {args.vocab}; batch {args.batch}; "
          f"{args.threads} thread(s); jax on {desc['jax_device']}, transformers on {dev}")
    print(f"  training (T={args.seq}):  jaxkd {jax_train_tps:9.0f} tok/s   transformers {torch_train_tps:9.0f} tok/s"
          f"   ratio {report['train_speedup']:.2f}x")
    print(f"  sampling ({args.prompt}+{args.new}, {args.samples} per prompt): jaxkd {jax_sample_tps:9.0f} tok/s   transformers "
          f"{torch_sample_tps:9.0f} tok/s   ratio {report['sample_speedup']:.2f}x")
    for name, fl, tps, jt, tt in (("training", train_floor, floor_train_tps, jax_train_tps, torch_train_tps),
                                  ("sampling", sample_floor, floor_sample_tps, jax_sample_tps, torch_sample_tps)):
        print(f"  {name} floor: {fl['flops'] / 1e9:.2f} GFLOP / {gflops:.0f} GFLOP/s = "
              f"{fl['compute_seconds'] * 1e3:.1f} ms; {fl['bytes'] / 1e6:.1f} MB / {gbs:.1f} GB/s = "
              f"{fl['memory_seconds'] * 1e3:.1f} ms ({fl['bound']}-bound) -> {tps:.0f} tok/s; "
              f"jaxkd at {100 * jt / tps:.0f}%, transformers at {100 * tt / tps:.0f}%")
    print(f"  where a training step goes (steps at {', '.join(map(str, depths))} layers, a line through them): "
          f"jaxkd {sweep['jaxkd_rest_ms']:.1f} ms + {sweep['jaxkd_per_layer_ms']:.1f} ms a block, transformers "
          f"{sweep['transformers_rest_ms']:.1f} ms + {sweep['transformers_per_layer_ms']:.1f} ms a block; floor "
          f"{sweep['floor_rest_ms']:.1f} ms + {sweep['floor_per_layer_ms']:.1f} ms a block")
    return machine.finish(report, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
