"""Where along training the quick llm-* students answer validly without having memorised.

The study's students (DistilGPT2, 3 epochs at 5e-5) answer validly but have not memorised their
training answers; the quick preset's tiny students learn the synthetic corpus from scratch. This
probe distils the llm-teacher-noise students (one teacher sample per prompt at T = 1) for each
learning rate and base pre-training given, measures them at every rung of a fit ladder (the
checkpoints of one run), and prints per rung: the mean training loss of the rung's last epoch,
the per-token loss on every valid answer (teacher-forced, on the evaluation prompts), and the
hallucination share of the students' T = 1 samples against their targets' (the teacher's own
samples). The closing notes of the fit-ladder issue quote its table.

    python scripts/regime_probe.py --lr 3e-3,1e-3 --base-epochs 4,16 --rungs 10,20,30,40,50
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from jaxkd.config import number_list
from jaxkd.experiments.llm_study import measures, replicates, setup
from jaxkd.experiments.llm_teacher_noise.config import Config


def probe(lr: float, base_epochs: int, rungs: tuple[int, ...], epochs: int, seed: int) -> list[dict]:
    """One training run per (lr, base pre-training): a row per rung (and where it ended)."""
    cfg = Config(learning_rate=lr, base_epochs=base_epochs, rungs=rungs, epochs=epochs, seed=seed, temperatures=(1.0,))
    task = setup.build_task(cfg)
    teacher = replicates.teacher_reference(task, 1.0)
    full = replicates.distil_at_temperature(task, 1.0)
    out = []
    for rung in (*rungs, None):
        at = full.at(rung)
        m = measures.measure(task, at, teacher)  # its fit record: train_loss, answer_loss (measures.fit_record)
        out.append({"lr": lr, "base_epochs": base_epochs, "epoch": rung or epochs, "steps": at.compute.steps,
                    "train_loss": float(np.mean(m["train_loss"])),
                    "answer_loss": float(np.mean(m["answer_loss"])),
                    "hallucination": float(np.mean(m["hallucination"])),
                    "targets": float(np.mean(m["target_hallucination"])),
                    "valid_entropy": float(np.nanmean(m["valid_entropy"])),
                    "teacher_valid_entropy": float(np.nanmean(m["teacher_valid_entropy"]))})
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lr", type=number_list(float), default=(3e-3, 1e-3))
    ap.add_argument("--base-epochs", type=number_list(int), default=(4,))
    ap.add_argument("--rungs", type=number_list(int), default=(10, 20, 30, 40, 50))
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    print("| lr | base epochs | epoch | steps | training loss | valid-answer loss | hallucination | targets' | "
          "valid entropy (teacher) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for lr in args.lr:
        for b in args.base_epochs:
            t0 = time.perf_counter()
            for r in probe(lr, b, tuple(args.rungs), args.epochs, args.seed):
                print(f"| {r['lr']:g} | {r['base_epochs']} | {r['epoch']} | {r['steps']} | {r['train_loss']:.3f} | "
                      f"{r['answer_loss']:.3f} | {100 * r['hallucination']:.1f}% | {100 * r['targets']:.1f}% | "
                      f"{r['valid_entropy']:.3f} ({r['teacher_valid_entropy']:.3f}) |", flush=True)
            print(f"<!-- lr {lr:g}, base epochs {b}: {time.perf_counter() - t0:.0f} s -->", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
