"""The paper preset's theory and tabular steps: where the time goes, step by step, against
each step's matrix-product floor.

    python benchmarks/paper_tabular.py [--run] [--isa avx2] [--out DIR] [--json PATH]

Without ``--run`` it prints the floor only (seconds): every MLP ensemble the steps train,
counted from the experiments' paper configs, as matrix-product FLOPs over the measured matrix
rate (``benchmarks/machine.py``). A student-epoch of an MLP with widths ``w_0 .. w_L`` on n rows
costs at least ``2 n`` FLOPs per weight for the forward products, as many for the weight
gradients and ``2 n w_l w_(l+1)`` per layer after the first for the backpropagated signal
(biases count as one more input row); nothing that trains the same students in float32 on this
machine can do less. The theory and linear steps hold no MLP ensembles: their floor is
counted as 0 (they are not matrix-product bound).

With ``--run`` it runs ``jaxkd reproduce --preset paper --only STEPS`` in a fresh process (under
the same ``--isa`` cap, into ``--out``, default a temporary folder) and prints each step's wall
time beside its floor. ``--resume`` continues an interrupted run in ``--out``.
"""

from __future__ import annotations

import sys

if __name__ == "__main__":  # the instruction-set cap, before NumPy and JAX load
    import isa

    isa.from_argv()

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import machine  # noqa: E402

#: The steps the issue's 600 s budget covers (``reproduce --only``).
ONLY = ("theory", "teacher-noise", "init-perturbation", "bootstrap", "output-entropy", "variance-aware",
        "variance-attribution")


def student_epoch_flops(widths, n: int) -> float:
    """Matrix-product FLOPs of one full pass of n rows, forward and backward, through an MLP
    with ``widths`` (biases as one more input row; no gradient for the inputs)."""
    layers = list(zip(widths[:-1], widths[1:]))
    weights = sum((a + 1) * b for a, b in layers)
    signal = sum(a * b for a, b in layers[1:])
    return 2.0 * n * (2 * weights + signal)


def ensembles(step, cfg) -> list[tuple[tuple[int, ...], int, int, int]]:
    """The MLP ensembles a step trains: (widths, students, epochs, rows) each."""
    from jaxkd.data import load_dataset, split

    if step.model not in ("mlp", "all"):
        return []
    if step.experiment == "output-entropy":
        out = []
        for name in cfg.datasets:
            sp = split(load_dataset(name, seed=cfg.split_seed), seed=cfg.split_seed)
            (n, d), C = sp.X_train.shape, sp.num_classes
            for model in cfg.models:
                shape = (lambda h: (d, h, C)) if model == "mlp" else (lambda h: (d, C))
                # replicates teachers, and per teacher one hard- and one soft-target student
                out += [(shape(cfg.teacher_hidden), cfg.replicates, cfg.epochs, n),
                        (shape(cfg.student_hidden), 2 * cfg.replicates, cfg.students_epochs, n)]
        return out
    sp = split(load_dataset(cfg.dataset, drop_b=cfg.drop_b), seed=cfg.split_seed)
    n, d = sp.X_train.shape
    student = (d, *cfg.hidden, 1)
    teacher = (d, *(getattr(cfg, "teacher_hidden", None) or cfg.hidden), 1)
    N, E = cfg.num_students, cfg.students_epochs
    count = {
        "teacher-noise": len(getattr(cfg, "alphas", ())) * N,
        "init-perturbation": len(getattr(cfg, "scales", ())) * N,
        "bootstrap": len(getattr(cfg, "sizes", ())) * 2 * N,  # teacher- and truth-labelled
        # Four target methods per (alpha, k); at k = 1 three are the same targets (trained once).
        "variance-aware": sum((2 if k == 1 else 4) for k in getattr(cfg, "ks", ())) * len(getattr(cfg, "alphas", ())) * N,
        "variance-attribution": 5 * N,
    }[step.experiment]
    return [(teacher, 1, cfg.epochs, n), (student, count, E, n)]


def floors(gflops: float, seed: int = 0) -> dict:
    """Matrix-product FLOPs and floor seconds of each paper step at ``gflops``."""
    from jaxkd import reproduce

    plan = reproduce.plan("paper", seed=seed, only=list(ONLY))
    out = {"theory": {"flops": 0.0, "floor_seconds": 0.0, "ensembles": []}}
    for step, cfg in plan.steps:
        ens = ensembles(step, cfg)
        flops = sum(student_epoch_flops(w, n) * N * E for w, N, E, n in ens)
        out[step.name] = {"flops": flops, "floor_seconds": flops / gflops / 1e9,
                          "ensembles": [{"widths": list(w), "students": N, "epochs": E, "rows": n} for w, N, E, n in ens]}
    return out


def main(argv=None) -> int:
    from jaxkd import compiler

    compiler.configure()  # the XLA settings the `jaxkd` command runs with
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="store_true", help="run the steps (else print the floor only)")
    parser.add_argument("--out", type=Path, help="reproduce's output folder (default: a temporary one)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")
    parser.add_argument("--isa", choices=machine.isa.CHOICES, default="native",
                        help="cap every side at this instruction set (applied before the libraries load)")
    parser.add_argument("--json", help="write the table as JSON to this path")
    args = parser.parse_args(argv)

    desc = machine.describe()
    print(machine.header(desc))
    gflops = desc["matmul_gflops_float32"]
    table = floors(gflops)
    total_floor = sum(v["floor_seconds"] for v in table.values())
    seconds = {}
    if args.run:
        out = args.out or Path(tempfile.mkdtemp(prefix="jaxkd-paper-"))
        command = [sys.executable, "-m", "jaxkd.cli", "reproduce", "--preset", "paper", "--only", ",".join(ONLY),
                   "--out", str(out), *(["--resume"] if args.resume else [])]
        start = time.perf_counter()
        subprocess.run(command, check=True, cwd=Path(__file__).resolve().parent.parent)
        wall = time.perf_counter() - start
        seconds = {p.stem.removeprefix("wall-"): json.loads(p.read_text())["seconds"]
                   for p in sorted((out / "points").glob("wall-*.json"))}
        seconds["_total_wall"] = wall
    print(f"paper preset, theory and tabular steps; floor at {gflops:.0f} GFLOP/s (float32 matrix products)")
    print(f"  {'step':28} {'GFLOP':>9} {'floor s':>9}" + (f" {'wall s':>9} {'x floor':>8}" if seconds else ""))
    for name, row in table.items():
        line = f"  {name:28} {row['flops'] / 1e9:9.0f} {row['floor_seconds']:9.1f}"
        if seconds:
            s = seconds.get(name, float("nan"))
            line += f" {s:9.1f} {s / row['floor_seconds'] if row['floor_seconds'] else float('nan'):8.1f}"
        print(line)
    steps_total = sum(v for k, v in seconds.items() if not k.startswith("_"))
    print(f"  {'total':28} {sum(v['flops'] for v in table.values()) / 1e9:9.0f} {total_floor:9.1f}"
          + (f" {steps_total:9.1f} {steps_total / total_floor:8.1f}" if seconds else ""))
    report = {"benchmark": "paper_tabular", "only": list(ONLY), "steps": table, "floor_seconds": total_floor,
              "step_seconds": {k: v for k, v in seconds.items() if not k.startswith("_")},
              "total_seconds": steps_total if seconds else None, "machine": desc, "isa_cap": desc["isa_cap"]}
    return machine.finish(report, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
