"""Distilling N students from a teacher-logits file (the teacher's top k and a tail bucket per
scored token, :mod:`jaxkd.llm.teacher_logits`) against the same students with the teacher in the
loop, at the quick preset's size (GPT-2, or with ``--model llama`` the Llama family).

* The workload: ``llm_distil.py``'s (the bundled QA corpus, a BPE of 512 tokens, N students of
  the quick preset's shape, each its own answers), with a teacher of the quick preset's teacher
  shape (``ModelConfig.small`` / ``LlamaConfig.small``: 4 layers, width 128) at random init;
  forward KL on every scored token, 5 epochs at batch 10.
* Teacher in the loop: :func:`jaxkd.llm.distill.distill` with ``teacher=``: the teacher's forward
  pass inside every training step of every student, on the full distribution (``top_k=0``) and
  truncated to the top k inside the step.
* From the file: one teacher pass over every student's pairs (:func:`~jaxkd.llm.teacher_logits.compute`,
  timed), then ``distill(teacher_logits=...)``: no teacher in any step. The losses equal the
  in-loop truncation's (printed side by side).
* Time: warm (best of repeats, after one call that compiles). Peak memory: the resident set's
  high-water mark of a child process that runs that one variant (``ru_maxrss``), beside the
  engine's own estimate (:func:`jaxkd.llm.budget.training_bytes`).
* Bytes per scored token: the file's (k ids, k log-probabilities, one tail) against the full
  float32 distribution's (4 V).

The header and the JSON say where it ran (``benchmarks/machine.py``); ``--isa avx2`` caps it at AVX2.

    python benchmarks/llm_topk.py [--model gpt2|llama] [--students 9] [--k 20] [--epochs 5] [--repeats 3]
                                  [--isa avx2] [--json PATH]
"""

from __future__ import annotations

import sys

if __name__ == "__main__":  # the instruction-set cap, before NumPy and JAX load
    import isa

    isa.from_argv()

import argparse
import json
import resource
import subprocess
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import machine  # noqa: E402
from llm_distil import workload  # noqa: E402

VARIANTS = ("full_in_loop", "topk_in_loop", "topk_from_file")


def setup(args):
    import jax

    from jaxkd.llm import families

    tok, base, pairs, keys = workload(args.students, args.questions, model=args.model)
    teacher = families.init(families.CLASSES[args.model].small(len(tok), tok.eos_token_id), jax.random.key(7))
    return tok, base, teacher, pairs, keys


def train(variant: str, args, base, teacher, pairs, keys, file=None):
    """One distillation of the N students; returns (seconds, losses)."""
    import jax

    from jaxkd.llm import distill
    from jaxkd.llm.objective import Loss

    k = 0 if variant == "full_in_loop" else args.k
    kw = dict(teacher_logits=file) if variant == "topk_from_file" else dict(teacher=teacher)
    start = time.perf_counter()
    out = distill.distill(base, pairs, order_keys=keys, epochs=args.epochs, batch_size=args.batch,
                          learning_rate=args.lr, loss=Loss("forward_kl", top_k=k), **kw)
    jax.block_until_ready(out.states)
    return time.perf_counter() - start, out.losses


def teacher_pass(args, teacher, pairs):
    """The file: one pass of the teacher over every student's pairs; (seconds warm, file)."""
    from jaxkd.llm import teacher_logits as tl

    tl.compute(teacher, pairs, args.k)  # compiles
    start = time.perf_counter()
    file = tl.compute(teacher, pairs, args.k)
    return time.perf_counter() - start, file


def child(args) -> int:
    """Run one variant (warm) and print its peak resident set in bytes."""
    _, base, teacher, pairs, keys = setup(args)
    file = teacher_pass(args, teacher, pairs)[1] if args.variant == "topk_from_file" else None
    if args.variant == "topk_from_file":
        teacher = None  # what a user distilling from a file holds: no teacher
    for _ in range(2):
        train(args.variant, args, base, teacher, pairs, keys, file)
    print(json.dumps({"peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
    return 0


def main(argv=None) -> int:
    from jaxkd import compiler

    compiler.configure()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("gpt2", "llama"), default="gpt2")
    parser.add_argument("--students", type=int, default=9)
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--k", type=int, default=20, help="the teacher's kept tokens")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)  # the child's one variant
    parser.add_argument("--isa", choices=machine.isa.CHOICES, default="native",
                        help="cap every library at this instruction set (applied before they load)")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    if args.variant:
        return child(args)

    gflops, gbs = machine.matmul_gflops(), machine.bandwidth_gbs()
    desc = machine.describe(gflops, gbs)
    print(machine.header(desc))
    from jaxkd.llm.budget import training_bytes

    _, base, teacher, pairs, keys = setup(args)
    N, M, L = pairs.tokens.shape
    pass_seconds, file = teacher_pass(args, teacher, pairs)
    seconds, losses, cold = {}, {}, {}
    for variant in VARIANTS:
        cold[variant] = train(variant, args, base, teacher, pairs, keys, file)[0]
        seconds[variant], losses[variant] = min((train(variant, args, base, teacher, pairs, keys, file)
                                                 for _ in range(args.repeats)), key=lambda r: r[0])
    peaks = {}
    for variant in VARIANTS:
        cmd = [sys.executable, __file__, "--variant", variant, "--model", args.model, "--students", str(args.students),
               "--questions", str(args.questions), "--k", str(args.k), "--epochs", str(args.epochs),
               "--batch", str(args.batch), "--lr", str(args.lr), "--isa", args.isa]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        peaks[variant] = json.loads(out.stdout.strip().splitlines()[-1])["peak_rss_bytes"]
    batch = min(args.batch, M)
    estimate = {"in_loop": training_bytes(base, N, batch, L, soft=True),
                "from_file": training_bytes(base, N, batch, L) + file.ids.nbytes + file.logprobs.nbytes + file.tail.nbytes}
    report = {
        "benchmark": "llm_topk", "model_family": args.model, "students": N, "questions": M, "k": args.k,
        "epochs": args.epochs, "batch": args.batch, "sequence_length": L, "vocab_size": base.config.vocab_size,
        "teacher": teacher.config.to_hf(),
        "teacher_pass_seconds": pass_seconds, "scored_tokens": file.positions,
        "seconds": seconds, "cold_seconds": cold,
        "speedup_file_vs_full_in_loop": seconds["full_in_loop"] / seconds["topk_from_file"],
        "speedup_file_vs_topk_in_loop": seconds["topk_in_loop"] / seconds["topk_from_file"],
        "speedup_file_with_pass_vs_full_in_loop": seconds["full_in_loop"] / (seconds["topk_from_file"] + pass_seconds),
        "peak_rss_bytes": peaks, "estimated_bytes": estimate,
        "file_bytes_per_token": file.bytes_per_token, "full_bytes_per_token": file.full_bytes_per_token,
        "bytes_ratio": file.full_bytes_per_token / file.bytes_per_token,
        "first_loss": {v: float(losses[v][:, 0].mean()) for v in VARIANTS},
        "final_loss": {v: float(losses[v][:, -1].mean()) for v in VARIANTS},
        "machine": desc, "isa_cap": desc["isa_cap"],
    }
    print(f"Distilling {N} {args.model} students (quick preset's shape, vocab {base.config.vocab_size}) with forward KL "
          f"from a 4-layer, width-128 teacher: {M} pairs each, {args.epochs} epochs at batch {args.batch}, "
          f"sequences of {L} tokens, top k = {args.k}")
    print(f"  teacher pass writing the file: {pass_seconds:.2f} s for {file.positions} scored tokens "
          f"({file.bytes_per_token} bytes per token against {file.full_bytes_per_token} for the full distribution: "
          f"{report['bytes_ratio']:.1f}x smaller)")
    for v in VARIANTS:
        print(f"  {v:16s} {seconds[v]:7.2f} s warm ({cold[v]:.2f} s with compile), peak RSS "
              f"{peaks[v] / 2**20:7.1f} MiB, loss first/last {report['first_loss'][v]:.4f} / {report['final_loss'][v]:.4f}")
    print(f"  engine's estimate of the students' training memory: {estimate['in_loop'] / 2**20:.1f} MiB with the teacher's "
          f"logits, {estimate['from_file'] / 2**20:.1f} MiB from the file (the peak RSS above is the process's, whose "
          f"baseline dominates at this size)")
    print(f"  from the file vs the teacher in the loop: {report['speedup_file_vs_full_in_loop']:.2f}x (full "
          f"distribution), {report['speedup_file_vs_topk_in_loop']:.2f}x (top-k truncated in the step); with the "
          f"teacher pass counted: {report['speedup_file_with_pass_vs_full_in_loop']:.2f}x")
    return machine.finish(report, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
