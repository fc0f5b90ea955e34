"""Paper-scale linear teacher-noise sweep: jaxkd against a per-student scikit-learn loop.

15 noise levels x 1,000 students on Boston Housing. Both sides compute the same numbers
(inter-student variance and test MSE per noise level) from the same protocol; the baseline
fits one ``sklearn.linear_model.LinearRegression`` per student, as a practitioner would.
Times are wall-clock on this machine, measured in the same run.

    python benchmarks/linear_sweep.py [--students 1000] [--repeats 3] [--json PATH]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from jaxkd.runs import atomic_write_json


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
    from jaxkd.experiments import teacher_noise

    cfg = teacher_noise.Config.from_preset("paper", num_students=students, alphas=tuple(alphas))
    return teacher_noise.run(cfg)


def timed(fn, *args, repeats: int = 1):
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn(*args)
        best = min(best, time.perf_counter() - start)
    return best, result


def main(argv=None) -> int:
    from jaxkd.experiments.teacher_noise import ALPHAS_PAPER

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3, help="best-of repeats for each side")
    parser.add_argument("--json", help="write the timings as JSON to this path")
    args = parser.parse_args(argv)

    cold, _ = timed(jaxkd_sweep, args.students, ALPHAS_PAPER)  # includes data load + compile
    warm, res = timed(jaxkd_sweep, args.students, ALPHAS_PAPER, repeats=args.repeats)
    base, ref = timed(baseline, args.students, ALPHAS_PAPER, repeats=args.repeats)
    speedup = base / warm
    # Both sides estimate the same quantity: compare at alpha = 1 (relative Monte Carlo error).
    i = list(ALPHAS_PAPER).index(1.0)
    agree = abs(res["inter_student_variance"][i] / ref["inter_student_variance"][i] - 1)
    report = {
        "benchmark": "linear_sweep",
        "noise_levels": len(ALPHAS_PAPER),
        "students": args.students,
        "jaxkd_seconds": warm,
        "jaxkd_cold_seconds": cold,
        "baseline_seconds": base,
        "baseline": "per-student sklearn LinearRegression loop",
        "speedup": speedup,
        "cold_speedup": base / cold,
        "variance_relative_difference_at_alpha_1": agree,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
    }
    print(f"linear teacher-noise sweep: {len(ALPHAS_PAPER)} noise levels x {args.students} students (Boston)")
    print(f"  jaxkd (warm, best of {args.repeats}): {warm:8.3f} s   (cold, with compile: {cold:.3f} s)")
    print(f"  sklearn per-student loop:       {base:8.3f} s")
    print(f"  speedup: {speedup:.0f}x warm, {base / cold:.0f}x cold")
    print(f"  V at alpha=1: jaxkd {res['inter_student_variance'][i]:.5f}, "
          f"sklearn {ref['inter_student_variance'][i]:.5f} (relative difference {agree:.3f})")
    if args.json:
        atomic_write_json(args.json, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
