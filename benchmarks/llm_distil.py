"""Distilling N students at the quick preset's size (GPT-2, or with ``--model llama`` the Llama
family): jaxkd's engine against two PyTorch peers in one process, on the same batches with the
same optimizer: the way the study did it, a transformers loop training the students one after
another, and the way a competent PyTorch user batches N models, ``torch.func``.

* The workload: the bundled synthetic QA corpus (100 questions), a byte-level BPE of 512 tokens
  trained on it, N = 9 students of the quick preset's shape (2 layers, width 64; the Llama
  family's ``LlamaConfig.tiny``: 4 query and 2 key/value heads, SwiGLU 176 wide) starting from
  one random init, each with its own answers (one draw per question from the known answer
  distributions, as each llm-teacher-noise student gets its own teacher draws), 5 epochs at
  batch 10 (the quick preset's 50 steps a student), prompt tokens unscored.
* jaxkd: :func:`jaxkd.llm.distill.distill` (students vmapped, every epoch a permutation without
  replacement, the Hugging Face Trainer's optimizer: AdamW without weight decay, linear decay to 0,
  clipping at 1), timed warm (best of repeats, after one call that compiles) and cold.
* The sequential peer: the transformers model (``GPT2LMHeadModel`` / ``LlamaForCausalLM``) with
  the same weights (exported by :func:`jaxkd.llm.checkpoint.save`), ``torch.optim.AdamW`` with
  ``get_linear_schedule_with_warmup`` (what the Trainer builds), gradient clipping at 1, the same
  batches in the same order (jaxkd's permutations) and the same loss (mean over the batch's
  scored tokens); students one after another, as the study's scripts trained theirs.
* The batched peer: the same N students as one stack of parameters, the model's forward through
  ``torch.func.functional_call`` vmapped over the stack and over each student's batch, the loss
  summed over students (each student's gradient is its own loss's), each student's gradient
  clipped at 1 by its own norm, and one ``AdamW`` over the stacked tensors (Adam is elementwise,
  so one optimizer over the stack is N independent optimizers).
* Each peer is timed with 1 thread and with all threads; the faster counts.
* Every side computes the same training: their losses are printed side by side.

The floor: the matrix-product FLOPs of every training step (forward x 3) over a measured large
matmul rate (``benchmarks/machine.py``).

The header and the JSON say where it ran (``benchmarks/machine.py``); ``--isa avx2`` caps
every side at AVX2 (``benchmarks/isa.py``).

    python benchmarks/llm_distil.py [--model gpt2|llama] [--students 9] [--epochs 5] [--repeats 3] [--isa avx2]
                                    [--json PATH]
"""

from __future__ import annotations

import sys

if __name__ == "__main__":  # the instruction-set cap, before NumPy, JAX and PyTorch load
    import isa

    isa.from_argv()

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import machine  # noqa: E402
from gpt2_speed import train_flops  # noqa: E402


def workload(students: int, questions: int, seed: int = 0, model: str = "gpt2"):
    """Tokenizer, base student, per-student training pairs (N, M, L) and order keys."""
    import jax

    from jaxkd.data import qa
    from jaxkd.experiments.llm_study.setup import encode_pairs, prompt_text
    from jaxkd.llm import distill, families, tokenizer

    corpus = qa.synthetic_qa(questions, seed=seed)
    texts = [prompt_text(it.question) for it in corpus.items]
    texts += [" " + t for it in corpus.items for ps in it.paraphrases for t in ps]
    tok = tokenizer.train_bpe(texts, vocab_size=512)
    base = families.init(families.CLASSES[model].tiny(len(tok), tok.eos_token_id), jax.random.key(seed))
    per_student = []
    for s in range(students):
        draws = corpus.sample(seed * 1000 + s, per_question=1)
        per_student.append(encode_pairs(tok, corpus, [(q, t) for q, _, t in draws]))
    pairs = distill.stack_pairs(per_student, tok.eos_token_id)
    return tok, base, pairs, jax.random.split(jax.random.key(seed + 1), students)


def batches(order_keys, n: int, epochs: int, batch: int):
    """Every student's batches, as the engine draws them: (N, steps, B) indices and validity."""
    import jax

    from jaxkd.students import ensemble

    schedule = ensemble.Schedule(epochs, batch, drop_last=False)

    def one(k):
        idx, valid = jax.vmap(lambda e: ensemble.epoch_batches(e, n, schedule))(ensemble.epoch_keys(k, epochs))
        return idx.reshape(-1, idx.shape[-1]), valid.reshape(-1, valid.shape[-1])  # width min(batch, n)

    idx, valid = jax.vmap(one)(order_keys)
    return np.asarray(idx), np.asarray(valid)


def run_jaxkd(base, pairs, keys, epochs, batch, lr):
    import jax

    from jaxkd.llm import distill

    start = time.perf_counter()
    out = distill.distill(base, pairs, order_keys=keys, epochs=epochs, batch_size=batch, learning_rate=lr)
    jax.block_until_ready(out.states)
    return time.perf_counter() - start, out.losses


def run_torch(folder, pairs, idx, valid, lr, threads: int):
    """The students one after another with transformers and torch, the same batches."""
    import torch
    from transformers import AutoModelForCausalLM, get_linear_schedule_with_warmup

    torch.set_num_threads(threads)
    N, steps = idx.shape[:2]
    losses = np.zeros((N, steps), np.float32)
    start = time.perf_counter()
    for s in range(N):
        model = AutoModelForCausalLM.from_pretrained(folder)
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
        sched = get_linear_schedule_with_warmup(opt, 0, steps)
        toks, mask, scored = (torch.tensor(np.asarray(a[s]), dtype=torch.long) for a in
                              (pairs.tokens, pairs.mask, pairs.loss_mask))
        for t in range(steps):
            rows = torch.tensor(idx[s, t][valid[s, t]])
            labels = torch.where(scored[rows] > 0, toks[rows], -100)
            out = model(toks[rows], attention_mask=mask[rows], labels=labels)
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            losses[s, t] = float(out.loss.detach())
    return time.perf_counter() - start, losses


def run_torch_batched(folder, pairs, idx, valid, lr, threads: int):
    """The N students as one stack with ``torch.func`` (functional_call + vmap), one AdamW over
    the stack, each student's gradient clipped by its own norm, the same batches."""
    import torch
    from torch.func import functional_call, grad_and_value, vmap
    from transformers import AutoModelForCausalLM, get_linear_schedule_with_warmup

    torch.set_num_threads(threads)
    N, steps = idx.shape[:2]
    losses = np.zeros((N, steps), np.float32)
    start = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager")
    model.train()
    names = [n for n, _ in model.named_parameters()]
    stacked = {n: p.detach().unsqueeze(0).repeat(N, *([1] * p.ndim)).requires_grad_(False)
               for n, p in model.named_parameters()}
    params = [stacked[n] for n in names]
    opt = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    sched = get_linear_schedule_with_warmup(opt, 0, steps)
    toks, mask, scored = (torch.tensor(np.asarray(a), dtype=torch.long) for a in (pairs.tokens, pairs.mask,
                                                                                  pairs.loss_mask))

    def loss_of(weights, t, m, sc):
        # A 4-D additive mask (causal and padding) is used as given: transformers' own mask
        # builder branches on the data, which vmap cannot trace.
        T = t.shape[-1]
        allowed = torch.tril(torch.ones(T, T, dtype=torch.bool))[None] & m[:, None, :].bool()
        bias = torch.where(allowed, 0.0, torch.finfo(torch.float32).min)[:, None]
        logits = functional_call(model, dict(zip(names, weights)), (t,), {"attention_mask": bias}).logits
        logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
        picked = torch.gather(logp, -1, t[:, 1:, None])[..., 0]
        w = sc[:, 1:].to(picked.dtype)
        return -(picked * w).sum() / w.sum()

    step = vmap(grad_and_value(loss_of), in_dims=(0, 0, 0, 0))
    for t in range(steps):
        rows = torch.tensor(idx[:, t][:, valid[0, t]])  # the same count of valid rows for every student
        students = torch.arange(N)[:, None]
        grads, loss = step(tuple(params), toks[students, rows], mask[students, rows], scored[students, rows])
        norms = torch.sqrt(sum(g.reshape(N, -1).pow(2).sum(1) for g in grads))
        scale = torch.clamp(1.0 / (norms + 1e-6), max=1.0)  # clip_grad_norm_'s rule, per student
        for p, g in zip(params, grads):
            p.grad = g * scale.reshape(N, *([1] * (g.ndim - 1)))
        opt.step()
        sched.step()
        losses[:, t] = loss.detach().numpy()
    return time.perf_counter() - start, losses


def main(argv=None) -> int:
    from jaxkd import compiler

    compiler.configure()  # the XLA settings the `jaxkd` command runs with
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("gpt2", "llama"), default="gpt2", help="the students' decoder family")
    parser.add_argument("--students", type=int, default=9)
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=5, help="passes over each student's pairs (quick preset: 5)")
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (quick preset: 3e-3)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--isa", choices=machine.isa.CHOICES, default="native",
                        help="cap every library at this instruction set (applied before they load)")
    parser.add_argument("--json")
    args = parser.parse_args(argv)

    gflops, gbs = machine.matmul_gflops(), machine.bandwidth_gbs()  # on jax's default device
    desc = machine.describe(gflops, gbs)
    print(machine.header(desc))
    from transformers.utils import logging as hf_logging

    from jaxkd import progress
    from jaxkd.llm import checkpoint

    progress.quiet_third_party()  # Hugging Face's bars and advisories would interleave with the report
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    tok, base, pairs, keys = workload(args.students, args.questions, model=args.model)
    N, M, L = pairs.tokens.shape
    idx, valid = batches(keys, M, args.epochs, args.batch)
    steps = idx.shape[1]
    cold, _ = run_jaxkd(base, pairs, keys, args.epochs, args.batch, args.lr)
    warm, jax_losses = min((run_jaxkd(base, pairs, keys, args.epochs, args.batch, args.lr)
                            for _ in range(args.repeats)), key=lambda r: r[0])
    threads = sorted({1, min(os.cpu_count() or 1, 16)})
    with tempfile.TemporaryDirectory() as folder:
        checkpoint.save(base, folder, tokenizer=tok)
        torch_runs = {t: run_torch(folder, pairs, idx, valid, args.lr, t) for t in threads}
        batched_runs = {t: run_torch_batched(folder, pairs, idx, valid, args.lr, t) for t in threads}
    t_best = min(torch_runs, key=lambda t: torch_runs[t][0])
    peer, torch_losses = torch_runs[t_best]
    b_best = min(batched_runs, key=lambda t: batched_runs[t][0])
    batched, batched_losses = batched_runs[b_best]

    cfg = base.config
    tokens_per_step = float(valid.sum()) / (N * steps) * L  # padded sequences of L tokens, as both sides compute
    flops = train_flops(cfg, 1, L) * tokens_per_step / L * steps * N
    floor = flops / gflops / 1e9
    last = max(1, steps // args.epochs)  # the last epoch's steps
    report = {
        "benchmark": "llm_distil", "model_family": args.model, "students": N, "questions": M, "epochs": args.epochs, "batch": args.batch,
        "steps_per_student": steps, "sequence_length": L, "model": cfg.to_hf(),
        "jaxkd_seconds": warm, "jaxkd_cold_seconds": cold,
        "sequential_torch_seconds": {str(t): s for t, (s, _) in torch_runs.items()}, "torch_threads": t_best,
        "speedup_vs_sequential_torch": peer / warm,
        "batched_torch_seconds": {str(t): s for t, (s, _) in batched_runs.items()}, "batched_torch_threads": b_best,
        "speedup_vs_batched_torch": batched / warm,
        "first_loss_batched_torch": float(batched_losses[:, 0].mean()),
        "final_loss_batched_torch": float(batched_losses[:, -last:].mean()),
        "final_loss_jaxkd": float(jax_losses[:, -last:].mean()), "final_loss_torch": float(torch_losses[:, -last:].mean()),
        "first_loss_jaxkd": float(jax_losses[:, 0].mean()), "first_loss_torch": float(torch_losses[:, 0].mean()),
        "matmul_gflops": gflops, "floor_flops": flops, "floor_seconds": floor, "jaxkd_fraction_of_floor": floor / warm,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "machine": desc, "isa_cap": desc["isa_cap"],
    }
    family = "GPT-2" if args.model == "gpt2" else f"Llama ({cfg.n_head} query, {cfg.n_kv_head} key/value heads)"
    print(f"Distilling {N} {family} students (2 layers, width 64, vocab {cfg.vocab_size}): {M} pairs each, "
          f"{args.epochs} epochs at batch {args.batch} = {steps} steps a student, sequences of {L} tokens")
    print(f"  jaxkd (students vmapped):      {warm:7.2f} s warm ({cold:.2f} s with compile)")
    for t, (s, _) in torch_runs.items():
        print(f"  transformers, one by one, {t} thr: {s:7.2f} s")
    for t, (s, _) in batched_runs.items():
        print(f"  torch.func, N batched, {t} thr:   {s:7.2f} s")
    print(f"  speedup vs sequential transformers ({t_best} thr): {peer / warm:.2f}x; vs torch.func batched "
          f"({b_best} thr): {batched / warm:.2f}x")
    print(f"  training loss, first step / last epoch: jaxkd {report['first_loss_jaxkd']:.3f} / "
          f"{report['final_loss_jaxkd']:.3f}, transformers {report['first_loss_torch']:.3f} / "
          f"{report['final_loss_torch']:.3f}, torch.func {report['first_loss_batched_torch']:.3f} / "
          f"{report['final_loss_batched_torch']:.3f}")
    print(f"  floor: {flops / 1e9:.1f} GFLOP of matrix products / {gflops:.0f} GFLOP/s = {floor:.2f} s; "
          f"jaxkd at {100 * floor / warm:.0f}% of it")
    return machine.finish(report, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
