"""Distilling N GPT-2 students at the quick preset's size: jaxkd's engine against the way the
study did it, a PyTorch / transformers loop training the same students one after another, in
one process, on the same batches with the same optimizer.

* The workload: the bundled synthetic QA corpus (100 questions), a byte-level BPE of 512 tokens
  trained on it, N = 9 students of the quick preset's shape (2 layers, width 64) starting from
  one random init, each with its own answers (one draw per question from the known answer
  distributions, as each llm-teacher-noise student gets its own teacher draws), 5 epochs at
  batch 10 (the quick preset's 50 steps a student), prompt tokens unscored.
* jaxkd: :func:`jaxkd.llm.distill.distill` (students vmapped, every epoch a permutation without
  replacement, the Hugging Face Trainer's optimizer: AdamW without weight decay, linear decay to 0,
  clipping at 1), timed warm (best of repeats, after one call that compiles) and cold.
* The peer: ``transformers.GPT2LMHeadModel`` with the same weights (exported by
  :func:`jaxkd.llm.checkpoint.save`), ``torch.optim.AdamW`` with
  ``get_linear_schedule_with_warmup`` (what the Trainer builds), gradient clipping at 1, the same
  batches in the same order (jaxkd's permutations) and the same loss (mean over the batch's
  scored tokens); students one after another, as the study's scripts trained theirs. Timed with 1
  thread and with all threads; the faster counts.
* Both sides compute the same training: their final losses are printed side by side.

The floor: the matrix-product FLOPs of every training step (forward x 3) over a measured large
matmul rate (``benchmarks/machine.py``).

The header and the JSON say where it ran (``benchmarks/machine.py``); ``--isa avx2`` caps
every side at AVX2 (``benchmarks/isa.py``).

    python benchmarks/llm_distil.py [--students 9] [--epochs 5] [--repeats 3] [--isa avx2] [--json PATH]
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


def workload(students: int, questions: int, seed: int = 0):
    """Tokenizer, base student, per-student training pairs (N, M, L) and order keys."""
    import jax

    from jaxkd.data import qa
    from jaxkd.experiments.llm_study.setup import encode_pairs, prompt_text
    from jaxkd.llm import ModelConfig, distill, tokenizer
    from jaxkd.llm.model import init

    corpus = qa.synthetic_qa(questions, seed=seed)
    texts = [prompt_text(it.question) for it in corpus.items]
    texts += [" " + t for it in corpus.items for ps in it.paraphrases for t in ps]
    tok = tokenizer.train_bpe(texts, vocab_size=512)
    base = init(ModelConfig.tiny(len(tok), tok.eos_token_id), jax.random.key(seed))
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
    from transformers import GPT2LMHeadModel, get_linear_schedule_with_warmup

    torch.set_num_threads(threads)
    N, steps = idx.shape[:2]
    losses = np.zeros((N, steps), np.float32)
    start = time.perf_counter()
    for s in range(N):
        model = GPT2LMHeadModel.from_pretrained(folder)
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


def main(argv=None) -> int:
    from jaxkd import compiler

    compiler.configure()  # the XLA settings the `jaxkd` command runs with
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
    tok, base, pairs, keys = workload(args.students, args.questions)
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
    t_best = min(torch_runs, key=lambda t: torch_runs[t][0])
    peer, torch_losses = torch_runs[t_best]

    cfg = base.config
    tokens_per_step = float(valid.sum()) / (N * steps) * L  # padded sequences of L tokens, as both sides compute
    flops = train_flops(cfg, 1, L) * tokens_per_step / L * steps * N
    floor = flops / gflops / 1e9
    last = max(1, steps // args.epochs)  # the last epoch's steps
    report = {
        "benchmark": "llm_distil", "students": N, "questions": M, "epochs": args.epochs, "batch": args.batch,
        "steps_per_student": steps, "sequence_length": L, "model": cfg.to_hf(),
        "jaxkd_seconds": warm, "jaxkd_cold_seconds": cold,
        "sequential_torch_seconds": {str(t): s for t, (s, _) in torch_runs.items()}, "torch_threads": t_best,
        "speedup_vs_sequential_torch": peer / warm,
        "final_loss_jaxkd": float(jax_losses[:, -last:].mean()), "final_loss_torch": float(torch_losses[:, -last:].mean()),
        "first_loss_jaxkd": float(jax_losses[:, 0].mean()), "first_loss_torch": float(torch_losses[:, 0].mean()),
        "matmul_gflops": gflops, "floor_flops": flops, "floor_seconds": floor, "jaxkd_fraction_of_floor": floor / warm,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "machine": desc, "isa_cap": desc["isa_cap"],
    }
    print(f"Distilling {N} GPT-2 students (2 layers, width 64, vocab {cfg.vocab_size}): {M} pairs each, "
          f"{args.epochs} epochs at batch {args.batch} = {steps} steps a student, sequences of {L} tokens")
    print(f"  jaxkd (students vmapped):      {warm:7.2f} s warm ({cold:.2f} s with compile)")
    for t, (s, _) in torch_runs.items():
        print(f"  transformers, one by one, {t} thr: {s:7.2f} s")
    print(f"  speedup vs sequential transformers ({t_best} thr): {peer / warm:.2f}x")
    print(f"  training loss, first step / last epoch: jaxkd {report['first_loss_jaxkd']:.3f} / "
          f"{report['final_loss_jaxkd']:.3f}, transformers {report['first_loss_torch']:.3f} / "
          f"{report['final_loss_torch']:.3f}")
    print(f"  floor: {flops / 1e9:.1f} GFLOP of matrix products / {gflops:.0f} GFLOP/s = {floor:.2f} s; "
          f"jaxkd at {100 * floor / warm:.0f}% of it")
    return machine.finish(report, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
