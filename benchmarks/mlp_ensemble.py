"""1,000 MLP students x 200 Adam epochs on Boston: jaxkd's ensemble against the batched
PyTorch ensemble a practitioner would write, and against a per-student PyTorch loop, all of the
same architecture (13 -> 16 -> 1 ReLU), optimizer (Adam, lr 0.01) and epochs, full batch,
measured in the same run.

* Batched PyTorch (the peer): parameters stacked on a student axis, ``torch.matmul`` over it,
  one ``torch.optim.Adam`` over the stacked tensors (Adam is element-wise, so this is exactly
  per-student Adam); the loss is the sum over students of each student's mean squared error,
  so each student's gradient is its own. Timed with 1 thread and with all threads; the faster
  counts.
* Per-student PyTorch loop (second line): timed on a sample of students and scaled to N.

The floor: training FLOPs (forward matmuls x 3 for forward + backward) over a measured large
matmul rate, and compulsory bytes (inputs, targets, initial and final parameters) over a
measured copy bandwidth (``benchmarks/machine.py``).

The header and the JSON say where it ran (``benchmarks/machine.py``); ``--isa avx2`` caps
every side at AVX2 (``benchmarks/isa.py``), to measure a machine without AVX-512 on one that has it.

    python benchmarks/mlp_ensemble.py [--students 1000] [--sample 20] [--epochs 200] [--isa avx2] [--json PATH]
"""

from __future__ import annotations

import sys

if __name__ == "__main__":  # the instruction-set cap, before NumPy, JAX and PyTorch load
    import isa

    isa.from_argv()

import argparse
import os
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import machine  # noqa: E402


EPOCHS, HIDDEN, LR = 200, 16, 0.01


def training_flops(n: int, widths, epochs: int, students: int) -> float:
    forward = sum(2 * n * a * b for a, b in zip(widths[:-1], widths[1:]))
    return 3.0 * forward * epochs * students


def compulsory_bytes(n: int, widths, students: int) -> float:
    params = sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))
    return 4.0 * (n * widths[0] + students * n + 2 * students * params)


def targets(y, students: int) -> np.ndarray:
    return (y[None] + 0.5 * np.random.default_rng(0).standard_normal((students, y.shape[0]))).astype(np.float32)


def jaxkd_ensemble(X, Y, chunk, epochs=EPOCHS):
    import jax

    from jaxkd.students import mlp

    cfg = mlp.TrainConfig(widths=(X.shape[1], HIDDEN, 1), learning_rate=LR, epochs=epochs)
    params = mlp.init_ensemble(cfg.widths, jax.random.split(jax.random.key(0), Y.shape[0]))
    start = time.perf_counter()
    out = mlp.train_ensemble(cfg, params, X, Y, chunk=chunk)
    jax.block_until_ready(out)
    return time.perf_counter() - start, np.asarray(mlp.predict(cfg.widths, out, X)[..., 0])


def torch_batched(X, Y, threads: int, epochs: int = EPOCHS):
    """The whole ensemble as one batched PyTorch computation (Kaiming-normal init, zero biases)."""
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    dev = _torch_device()
    N, d = Y.shape[0], X.shape[1]
    Xt, Yt = torch.tensor(X, device=dev), torch.tensor(Y, device=dev)
    W1 = (torch.randn(N, d, HIDDEN, device=dev) * np.sqrt(2.0 / d)).requires_grad_()
    b1 = torch.zeros(N, 1, HIDDEN, device=dev, requires_grad=True)
    W2 = (torch.randn(N, HIDDEN, 1, device=dev) * np.sqrt(2.0 / HIDDEN)).requires_grad_()
    b2 = torch.zeros(N, 1, 1, device=dev, requires_grad=True)
    opt = torch.optim.Adam([W1, b1, W2, b2], lr=LR, foreach=True)
    _sync(dev)
    start = time.perf_counter()
    for _ in range(epochs):
        opt.zero_grad(set_to_none=True)
        out = torch.baddbmm(b2, torch.relu(torch.matmul(Xt, W1) + b1), W2)[..., 0]  # (N, n)
        loss = ((out - Yt) ** 2).mean(dim=1).sum()
        loss.backward()
        opt.step()
    _sync(dev)
    seconds = time.perf_counter() - start
    with torch.no_grad():
        preds = (torch.baddbmm(b2, torch.relu(torch.matmul(Xt, W1) + b1), W2)[..., 0]).cpu().numpy()
    return seconds, preds


def _torch_device() -> str:
    """The peer runs where jaxkd runs: on the GPU when JAX has one and PyTorch sees it."""
    import jax
    import torch

    return "cuda" if jax.default_backend() == "gpu" and torch.cuda.is_available() else "cpu"


def _sync(dev: str) -> None:
    import torch

    if dev == "cuda":
        torch.cuda.synchronize()


def torch_loop(X, Y, sample: int, threads: int, epochs: int = EPOCHS) -> float:
    import torch

    torch.set_num_threads(threads)
    Xt = torch.tensor(X)
    start = time.perf_counter()
    for s in range(sample):
        yt = torch.tensor(Y[s])
        torch.manual_seed(s)
        net = torch.nn.Sequential(torch.nn.Linear(X.shape[1], HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, 1))
        opt = torch.optim.Adam(net.parameters(), lr=LR)
        for _ in range(epochs):
            opt.zero_grad()
            loss = ((net(Xt)[:, 0] - yt) ** 2).mean()
            loss.backward()
            opt.step()
    return (time.perf_counter() - start) / sample


def main(argv=None) -> int:
    from jaxkd import compiler

    compiler.configure()  # the XLA settings the `jaxkd` command runs with
    from jaxkd.data import load_dataset, split

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=1000)
    parser.add_argument("--sample", type=int, default=20, help="students timed in the per-student loop")
    parser.add_argument("--chunk", type=int, default=None, help="students per chunk (default: automatic)")
    parser.add_argument("--epochs", type=int, default=EPOCHS, help="full-batch Adam epochs (the study's 200)")
    parser.add_argument("--isa", choices=machine.isa.CHOICES, default="native",
                        help="cap every side at this instruction set (applied before the libraries load)")
    parser.add_argument("--json", help="write the timings as JSON to this path")
    args = parser.parse_args(argv)
    E = args.epochs
    import torch  # noqa: F401  (loaded now, so the description names its CPU capability)

    gflops, gbs = machine.matmul_gflops(), machine.bandwidth_gbs()  # on jax's default device
    desc = machine.describe(gflops, gbs)
    print(machine.header(desc))

    sp = split(load_dataset("boston"))
    X, y = sp.X_train.astype(np.float32), sp.y_train.astype(np.float32)
    Y = targets(y, args.students)
    cold, _ = jaxkd_ensemble(X, Y, args.chunk, E)
    warm, preds = min((jaxkd_ensemble(X, Y, args.chunk, E) for _ in range(3)), key=lambda r: r[0])
    threads = sorted({1, min(os.cpu_count() or 1, 16)})
    torch_batched(X, Y[:10], threads[-1], E)  # warm-up (CUDA context, kernels)
    batched = {t: torch_batched(X, Y, t, E) for t in threads}
    t_best = min(batched, key=lambda t: batched[t][0])
    peer, peer_preds = batched[t_best]
    loop = {t: torch_loop(X, Y, args.sample, t, E) for t in threads}
    loop_threads = min(loop, key=loop.get)
    loop_total = loop[loop_threads] * args.students

    widths = (X.shape[1], HIDDEN, 1)
    fl = machine.floor(training_flops(X.shape[0], widths, E, args.students),
                       compulsory_bytes(X.shape[0], widths, args.students), gflops, gbs)
    # Both ensembles fit the same noisy targets: their mean training MSE should agree.
    fit_jaxkd, fit_torch = float(np.mean((preds - Y) ** 2)), float(np.mean((peer_preds - Y) ** 2))
    report = {
        "benchmark": "mlp_ensemble", "students": args.students, "epochs": E,
        "jaxkd_seconds": warm, "jaxkd_cold_seconds": cold,
        "batched_torch_seconds": {str(t): s for t, (s, _) in batched.items()},
        "batched_torch_threads": t_best, "speedup_vs_batched_torch": peer / warm,
        "torch_loop_seconds_per_student": {str(t): s for t, s in loop.items()},
        "torch_loop_seconds": loop_total, "speedup_vs_torch_loop": loop_total / warm,
        "matmul_gflops": gflops, "bandwidth_gbs": gbs, **{f"floor_{k}": v for k, v in fl.items()},
        "jaxkd_fraction_of_floor": fl["floor_seconds"] / warm,
        "torch_fraction_of_floor": fl["floor_seconds"] / peer,
        "train_mse_jaxkd": fit_jaxkd, "train_mse_batched_torch": fit_torch,
        "torch_device": _torch_device(), "machine": desc, "isa_cap": desc["isa_cap"],
    }
    print(f"MLP ensemble: {args.students} students x {E} Adam epochs, 13-16-1, Boston ({X.shape[0]} rows)")
    print(f"  jaxkd:                   {warm:7.2f} s warm ({cold:.2f} s with compile)")
    for t, (s, _) in batched.items():
        print(f"  batched PyTorch, {t} thr:  {s:7.2f} s")
    print(f"  speedup vs batched PyTorch ({t_best} thr): {peer / warm:.2f}x")
    print(f"  per-student PyTorch loop ({loop_threads} thr, {args.sample} timed, scaled): {loop_total:.1f} s "
          f"-> {loop_total / warm:.0f}x")
    print(f"  floor: {fl['flops'] / 1e9:.0f} GFLOP / {gflops:.0f} GFLOP/s = {fl['compute_seconds']:.2f} s; "
          f"{fl['bytes'] / 1e6:.1f} MB / {gbs:.1f} GB/s = {fl['memory_seconds'] * 1e3:.1f} ms "
          f"({fl['bound']}-bound)")
    print(f"  jaxkd at {100 * fl['floor_seconds'] / warm:.0f}% of the floor ({warm / fl['floor_seconds']:.1f}x above), "
          f"batched PyTorch at {100 * fl['floor_seconds'] / peer:.0f}%")
    print(f"  train MSE: jaxkd {fit_jaxkd:.4f}, batched PyTorch {fit_torch:.4f}")
    return machine.finish(report, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
