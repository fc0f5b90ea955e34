"""1,000 MLP students x 200 Adam epochs on Boston: jaxkd's vmapped ensemble against a
per-student PyTorch loop of the same architecture (13 -> 16 -> 1 ReLU), optimizer (Adam,
lr 0.01) and epochs, full batch, measured in the same run.

The PyTorch loop is timed on a sample of students and scaled to N (it is the same work for
every student); it runs with 1 thread and with all threads, and the faster is the baseline.
Achieved GFLOP/s uses the analytic training FLOPs (forward matmuls x 3 for forward + backward)
and is compared with a large float32 matmul measured on the same machine in the same run.

    python benchmarks/mlp_ensemble.py [--students 1000] [--sample 20] [--json PATH]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from jaxkd.runs import atomic_write_json


def training_flops(n: int, widths, epochs: int, students: int) -> float:
    forward = sum(2 * n * a * b for a, b in zip(widths[:-1], widths[1:]))
    return 3.0 * forward * epochs * students


def matmul_gflops(size: int = 2048, repeats: int = 5) -> float:
    import jax
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.key(0), (size, size), jnp.float32)
    f = jax.jit(lambda x: x @ x)
    f(a).block_until_ready()
    start = time.perf_counter()
    for _ in range(repeats):
        f(a).block_until_ready()
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9


def jaxkd_ensemble(X, y, students: int, chunk):
    import jax

    from jaxkd.students import mlp

    cfg = mlp.TrainConfig(widths=(X.shape[1], 16, 1), learning_rate=0.01, epochs=200)
    params = mlp.init_ensemble(cfg.widths, jax.random.split(jax.random.key(0), students))
    noisy = y[None] + 0.5 * np.random.default_rng(0).standard_normal((students, y.shape[0]))
    start = time.perf_counter()
    out = mlp.train_ensemble(cfg, params, X, noisy.astype(np.float32), chunk=chunk)
    jax.block_until_ready(out)
    return time.perf_counter() - start


def torch_loop(X, y, sample: int, threads: int) -> float:
    import torch

    torch.set_num_threads(threads)
    Xt = torch.tensor(X, dtype=torch.float32)
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for s in range(sample):
        yt = torch.tensor(y + 0.5 * rng.standard_normal(y.shape[0]), dtype=torch.float32)
        torch.manual_seed(s)
        net = torch.nn.Sequential(torch.nn.Linear(X.shape[1], 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
        opt = torch.optim.Adam(net.parameters(), lr=0.01)
        for _ in range(200):
            opt.zero_grad()
            loss = ((net(Xt)[:, 0] - yt) ** 2).mean()
            loss.backward()
            opt.step()
    return (time.perf_counter() - start) / sample


def main(argv=None) -> int:
    from jaxkd.data import load_dataset, split

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=1000)
    parser.add_argument("--sample", type=int, default=20, help="PyTorch students actually timed")
    parser.add_argument("--chunk", type=int, default=None, help="students per chunk (default: automatic)")
    parser.add_argument("--json", help="write the timings as JSON to this path")
    args = parser.parse_args(argv)

    sp = split(load_dataset("boston"))
    X, y = sp.X_train.astype(np.float32), sp.y_train.astype(np.float32)
    cold = jaxkd_ensemble(X, y, args.students, args.chunk)
    warm = min(jaxkd_ensemble(X, y, args.students, args.chunk) for _ in range(2))
    per_student = {t: torch_loop(X, y, args.sample, t) for t in sorted({1, os.cpu_count() or 1})}
    threads, best = min(per_student.items(), key=lambda kv: kv[1])
    baseline = best * args.students
    flops = training_flops(X.shape[0], (X.shape[1], 16, 1), 200, args.students)
    achieved, peak = flops / warm / 1e9, matmul_gflops()
    report = {
        "benchmark": "mlp_ensemble", "students": args.students, "epochs": 200,
        "jaxkd_seconds": warm, "jaxkd_cold_seconds": cold,
        "torch_seconds_per_student": {str(k): val for k, val in per_student.items()},
        "torch_threads": threads, "torch_sampled_students": args.sample,
        "baseline_seconds": baseline, "baseline": "per-student PyTorch loop, scaled from a sample",
        "speedup": baseline / warm, "cold_speedup": baseline / cold,
        "training_gflop": flops / 1e9, "achieved_gflops": achieved, "matmul_gflops": peak,
        "fraction_of_matmul": achieved / peak,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
    }
    print(f"MLP ensemble: {args.students} students x 200 Adam epochs, 13-16-1, Boston ({X.shape[0]} rows)")
    print(f"  jaxkd vmapped: {warm:.2f} s warm ({cold:.2f} s with compile)")
    for t, sec in per_student.items():
        print(f"  PyTorch loop, {t} thread(s): {sec * 1e3:.1f} ms/student (timed {args.sample}, scaled)")
    print(f"  baseline ({threads} thread(s)) for {args.students} students: {baseline:.1f} s")
    print(f"  speedup: {baseline / warm:.1f}x warm, {baseline / cold:.1f}x cold")
    print(f"  achieved {achieved:.1f} GFLOP/s of {flops / 1e9:.0f} GFLOP vs {peak:.1f} GFLOP/s large matmul "
          f"({100 * achieved / peak:.0f}%)")
    if args.json:
        atomic_write_json(args.json, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
