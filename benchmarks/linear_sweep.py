"""Paper-scale linear teacher-noise sweep: jaxkd against batched NumPy and a per-student
scikit-learn loop.

15 noise levels x 1,000 students on Boston Housing. Every side computes the same numbers
(inter-student variance and test MSE against the teacher per noise level) from the same
protocol: N label sets of n noisy teacher outputs per level, N OLS fits, predictions on the
test set.

* Batched NumPy (the peer; its BLAS timed with one thread and with all, the faster counts): one Cholesky factor of ``X^T X``, the label-to-coefficient map
  ``X G^-1`` formed once, then per noise level one ``Generator.standard_normal`` draw and two
  matrix products (coefficients, then test predictions) for all N students: jaxkd's route.
  Its deviates are drawn at float32 resolution and the arithmetic is float64, as jaxkd does
  (``teachers.gaussian_responses``); the same peer with float64 deviates, NumPy's default, is
  timed too.
* Per-student scikit-learn loop (second line): one ``LinearRegression`` per student.

The sides take turns within each of the ``--repeats`` rounds and each keeps its best time.

The floor: FLOPs (the ``X^T Y`` and ``X_test theta`` products and the solves) over a measured
matmul rate, and compulsory bytes (the N x n noise draws written and read once, float64) over a
measured copy bandwidth (``benchmarks/machine.py``). Times are wall-clock, best of repeats.

The header and the JSON say where it ran (``benchmarks/machine.py``); ``--isa avx2`` caps
every side at AVX2 (``benchmarks/isa.py``), to measure a machine without AVX-512 on one that has it.

    python benchmarks/linear_sweep.py [--students 1000] [--repeats 10] [--isa avx2] [--json PATH]
"""

from __future__ import annotations

import sys

if __name__ == "__main__":  # the instruction-set cap, before NumPy, SciPy and JAX load
    import isa

    isa.from_argv()

import argparse
import os
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import machine  # noqa: E402


def _boston():
    from jaxkd.data import load_dataset, split

    sp = split(load_dataset("boston"), seed=0)
    X = np.hstack([sp.X_train, np.ones((sp.X_train.shape[0], 1))])
    X_test = np.hstack([sp.X_test, np.ones((sp.X_test.shape[0], 1))])
    return sp, X, X_test


def numpy_batched(students: int, alphas, seed: int = 0, draw_dtype=np.float32) -> dict:
    """What a competent NumPy user writes: one factorization and the (n, d) map from labels to
    coefficients ``X G^-1`` formed once, so every noise level is one random draw and two
    matrix products (coefficients, test predictions)."""
    from scipy.linalg import cho_factor, cho_solve

    sp, X, X_test = _boston()
    factor = cho_factor(X.T @ X)
    to_coef = cho_solve(factor, X.T).T  # (n, d)
    mu = X @ (sp.y_train @ to_coef)
    mu_test = X_test @ (sp.y_train @ to_coef)
    rng = np.random.default_rng(seed)
    out = {"inter_student_variance": [], "mse_teacher": []}
    for alpha in alphas:
        z = rng.standard_normal((students, mu.shape[0]), dtype=draw_dtype)
        Y = mu + np.sqrt(alpha * sp.y_train.var()) * z  # float64 arithmetic
        preds = (Y @ to_coef) @ X_test.T  # (N, m)
        out["inter_student_variance"].append(float(preds.var(axis=0, ddof=1).mean()))
        out["mse_teacher"].append(float(((preds - mu_test) ** 2).mean()))
    return out


def sweep_flops(n: int, m: int, d: int, students: int, levels: int) -> float:
    """The two products of the coefficient-map route (labels -> coefficients -> test
    predictions), which both sides take; the (m, n) label-to-prediction map would cost
    ``2 m n`` per student instead of ``2 (n + m) d``."""
    return float(2 * (n + m) * d * students * levels)


def rng_seconds(students: int, n: int, levels: int, repeats: int = 5) -> dict:
    """Time to draw the sweep's Gaussians alone (best of ``repeats``): jaxkd's float32 deviates
    as the sweep draws them (``teachers.deviates``: Threefry, Box-Muller), ``jax.random.normal``'s
    (Threefry, inverse CDF) and NumPy's (float32 ziggurat, cast to float64 as the peer does)."""
    import jax

    from jaxkd import teachers

    def jaxkd_draws():
        for i in range(levels):
            teachers.deviates(jax.random.split(jax.random.key(i), students), 1, n).block_until_ready()

    normal = jax.jit(lambda k: jax.random.normal(k, (students, n), "float32"))

    def jax_draws():
        for i in range(levels):
            normal(jax.random.key(i)).block_until_ready()

    rng = np.random.default_rng(0)

    def numpy_draws():
        for _ in range(levels):
            rng.standard_normal((students, n), dtype=np.float32).astype(np.float64)

    return {name: timed(fn, repeats=repeats)[0] for name, fn in
            (("jax", jaxkd_draws), ("jax_random_normal", jax_draws), ("numpy", numpy_draws))}


def baseline(students: int, alphas, seed: int = 0) -> dict:
    from sklearn.linear_model import LinearRegression

    from jaxkd.data import load_dataset, split

    sp = split(load_dataset("boston"), seed=0)
    teacher = LinearRegression().fit(sp.X_train, sp.y_train)
    mu, mu_test = teacher.predict(sp.X_train), teacher.predict(sp.X_test)
    rng = np.random.default_rng(seed)
    out = {"inter_student_variance": [], "mse_teacher": []}
    for alpha in alphas:
        sigma = np.sqrt(alpha * sp.y_train.var())
        preds = np.empty((students, sp.X_test.shape[0]))
        for s in range(students):
            y = mu + sigma * rng.standard_normal(mu.shape[0])
            preds[s] = LinearRegression().fit(sp.X_train, y).predict(sp.X_test)
        out["inter_student_variance"].append(float(preds.var(axis=0, ddof=1).mean()))
        out["mse_teacher"].append(float(((preds - mu_test) ** 2).mean()))
    return out


def jaxkd_sweep(students: int, alphas) -> dict:
    from jaxkd.experiments.teacher_noise import config, run

    cfg = config.Config.from_preset("paper", num_students=students, alphas=tuple(alphas))
    return run.run(cfg)


def timed(fn, *args, repeats: int = 1):
    """Best wall time of ``repeats`` calls (after none: the first call counts) and a result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn(*args)
        best = min(best, time.perf_counter() - start)
    return best, result


def main(argv=None) -> int:
    from jaxkd import compiler

    compiler.configure()  # the XLA settings the `jaxkd` command runs with
    from jaxkd.experiments.teacher_noise.config import ALPHAS_PAPER

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=10, help="best-of repeats for each side")
    parser.add_argument("--isa", choices=machine.isa.CHOICES, default="native",
                        help="cap every side at this instruction set (applied before the libraries load)")
    parser.add_argument("--json", help="write the timings as JSON to this path")
    args = parser.parse_args(argv)
    import scipy.linalg  # noqa: F401  (loaded now, so the description names its BLAS)

    bandwidth = machine.bandwidth_gbs()
    desc = machine.describe(bandwidth=bandwidth)
    print(machine.header(desc))

    cold, _ = timed(jaxkd_sweep, args.students, ALPHAS_PAPER)  # includes data load + compile
    # The sides take turns, repeat after repeat, so a busy spell of the machine hits all of them.
    # NumPy's BLAS runs with one thread and with all of them; the faster counts.
    from threadpoolctl import threadpool_limits

    blas_threads = sorted({1, os.cpu_count() or 1})
    warm, peer64 = float("inf"), float("inf")
    peers = {t: float("inf") for t in blas_threads}
    for _ in range(args.repeats):
        t, res = timed(jaxkd_sweep, args.students, ALPHAS_PAPER)
        warm = min(warm, t)
        for threads in blas_threads:
            with threadpool_limits(limits=threads, user_api="blas"):
                t, ref_np = timed(numpy_batched, args.students, ALPHAS_PAPER)
            peers[threads] = min(peers[threads], t)
        peer64 = min(peer64, timed(numpy_batched, args.students, ALPHAS_PAPER, 0, np.float64)[0])
    peer_threads = min(peers, key=peers.get)
    peer = peers[peer_threads]
    loop, ref = timed(baseline, args.students, ALPHAS_PAPER, repeats=1)
    # All sides estimate the same quantity: compare at alpha = 1 (relative Monte Carlo error).
    i = list(ALPHAS_PAPER).index(1.0)
    agree = abs(res.inter_student_variance[i] / ref_np["inter_student_variance"][i] - 1)
    _, X, X_test = _boston()
    (n, d), m, L = X.shape, X_test.shape[0], len(ALPHAS_PAPER)
    import jax

    with jax.enable_x64(True):
        gflops = machine.matmul_gflops(dtype=np.float64)
    gbs = bandwidth
    draws = rng_seconds(args.students, n, L)
    fl = machine.floor(sweep_flops(n, m, d, args.students, L), 2 * 8.0 * args.students * n * L, gflops, gbs)
    report = {
        "benchmark": "linear_sweep",
        "noise_levels": L,
        "students": args.students,
        "jaxkd_seconds": warm,
        "jaxkd_cold_seconds": cold,
        "numpy_seconds": peer, "numpy_blas_threads": peer_threads,
        "numpy_seconds_by_blas_threads": {str(t): v for t, v in peers.items()},
        "speedup_vs_numpy": peer / warm,
        "numpy_float64_draws_seconds": peer64, "speedup_vs_numpy_float64_draws": peer64 / warm,
        "cold_speedup_vs_numpy": peer / cold,
        "sklearn_loop_seconds": loop,
        "speedup_vs_sklearn_loop": loop / warm,
        "matmul_gflops_float64": gflops, "bandwidth_gbs": gbs, **{f"floor_{k}": v for k, v in fl.items()},
        "jaxkd_fraction_of_floor": fl["floor_seconds"] / warm,
        "numpy_fraction_of_floor": fl["floor_seconds"] / peer,
        "gaussian_draw_seconds_jax": draws["jax"], "gaussian_draw_seconds_numpy": draws["numpy"],
        "gaussian_draw_seconds_jax_random_normal": draws["jax_random_normal"],
        "variance_relative_difference_at_alpha_1": agree,
        "machine": desc, "isa_cap": desc["isa_cap"],
    }
    print(f"linear teacher-noise sweep: {L} noise levels x {args.students} students (Boston)")
    print(f"  jaxkd (warm, best of {args.repeats}):  {warm:8.3f} s   (cold, with compile: {cold:.3f} s)")
    print(f"  batched NumPy, float32 deviates (best of {args.repeats}; BLAS threads "
          + ", ".join(f"{t}: {v:.3f} s" for t, v in peers.items())
          + f"): {peer:6.3f} s   -> jaxkd {peer / warm:.2f}x warm, {peer / cold:.2f}x cold")
    print(f"  batched NumPy, float64 deviates: {peer64:6.3f} s   -> jaxkd {peer64 / warm:.2f}x warm")
    print(f"  sklearn per-student loop:      {loop:8.3f} s   -> jaxkd {loop / warm:.0f}x warm")
    print(f"  floor: {fl['flops'] / 1e9:.2f} GFLOP / {gflops:.0f} GFLOP/s (float64) = {fl['compute_seconds'] * 1e3:.1f} ms; "
          f"{fl['bytes'] / 1e6:.0f} MB / {gbs:.1f} GB/s = {fl['memory_seconds'] * 1e3:.1f} ms ({fl['bound']}-bound); "
          f"jaxkd at {100 * fl['floor_seconds'] / warm:.0f}% of it, NumPy at {100 * fl['floor_seconds'] / peer:.0f}%")
    print(f"  the Gaussian draws alone: jaxkd {draws['jax']:.3f} s ({100 * draws['jax'] / warm:.0f}% of its sweep), "
          f"jax.random.normal {draws['jax_random_normal']:.3f} s, NumPy {draws['numpy']:.3f} s")
    print(f"  V at alpha=1: jaxkd {res.inter_student_variance[i]:.5f}, "
          f"NumPy {ref_np['inter_student_variance'][i]:.5f}, sklearn {ref['inter_student_variance'][i]:.5f}")
    return machine.finish(report, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
