"""The benchmark table, each figure with the machine it was measured on, from the benchmarks'
JSON files (``--json``): markdown on stdout (docs/benchmarks.md is made this way).

    python benchmarks/summarize.py RESULTS.json ... > docs/benchmarks.md

Every row names its machine (CPU, the vector extensions it has, the instruction-set cap in
effect, the measured matrix-product rate, the load average at the start and end of the run),
so a figure is never read as a property of a machine it was not measured on.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

#: benchmark -> (column title, function of the JSON giving the cell)
COLUMNS = {
    "linear_sweep": [
        ("jaxkd vs batched NumPy", lambda r: f"{r['speedup_vs_numpy']:.2f}x ({r['jaxkd_seconds']:.3f} s vs "
                                             f"{r['numpy_seconds']:.3f} s)"),
        ("draws: jaxkd / jax.random.normal / NumPy", lambda r: "{:.3f} / {} / {:.3f} s".format(
            r["gaussian_draw_seconds_jax"], _fmt(r.get("gaussian_draw_seconds_jax_random_normal"), "{:.3f}"),
            r["gaussian_draw_seconds_numpy"])),
        ("jaxkd at % of floor", lambda r: f"{100 * r['jaxkd_fraction_of_floor']:.0f}%"),
    ],
    "mlp_ensemble": [
        ("jaxkd vs batched PyTorch", lambda r: f"{r['speedup_vs_batched_torch']:.2f}x ({r['jaxkd_seconds']:.2f} s vs "
                                               f"{min(r['batched_torch_seconds'].values()):.2f} s)"),
        ("jaxkd / floor", lambda r: f"{r['jaxkd_seconds'] / r['floor_floor_seconds']:.2f}x"),
    ],
    "gpt2_speed": [
        ("family", lambda r: r.get("model", "gpt2")),
        ("training vs transformers", lambda r: f"{r['train_speedup']:.2f}x"),
        ("sampling vs transformers", lambda r: f"{r['sample_speedup']:.2f}x"),
        ("jaxkd training at % of floor", lambda r: f"{100 * r['jaxkd_train_fraction_of_floor']:.0f}%"),
    ],
    "llm_distil": [
        ("N students vs sequential transformers", lambda r: f"{r['speedup_vs_sequential_torch']:.2f}x "
                                                            f"({r['jaxkd_seconds']:.2f} s vs "
                                                            f"{min(r['sequential_torch_seconds'].values()):.2f} s)"),
        ("vs torch.func batched", lambda r: "not run" if "speedup_vs_batched_torch" not in r else
         f"{r['speedup_vs_batched_torch']:.2f}x ({min(r['batched_torch_seconds'].values()):.2f} s)"),
        ("family", lambda r: r.get("model_family", "gpt2")),
        ("jaxkd at % of floor", lambda r: f"{100 * r['jaxkd_fraction_of_floor']:.0f}%"),
    ],
    "llm_topk": [
        ("N students from the file vs teacher in the loop (full distribution)",
         lambda r: f"{r['speedup_file_vs_full_in_loop']:.2f}x ({r['seconds']['topk_from_file']:.2f} s vs "
                   f"{r['seconds']['full_in_loop']:.2f} s)"),
        ("vs top-k truncated in the loop", lambda r: f"{r['speedup_file_vs_topk_in_loop']:.2f}x"),
        ("with the teacher pass", lambda r: f"{r['speedup_file_with_pass_vs_full_in_loop']:.2f}x "
                                            f"({r['teacher_pass_seconds']:.2f} s pass)"),
        ("peak RSS: file / in the loop", lambda r: f"{r['peak_rss_bytes']['topk_from_file'] / 2**20:.0f} / "
                                                   f"{r['peak_rss_bytes']['full_in_loop'] / 2**20:.0f} MiB"),
        ("bytes per token: file / full", lambda r: f"{r['file_bytes_per_token']} / {r['full_bytes_per_token']} "
                                                   f"({r['bytes_ratio']:.0f}x), k = {r['k']}"),
        ("family", lambda r: r.get("model_family", "gpt2")),
    ],
    "paper_tabular": [
        ("theory + tabular steps", lambda r: _fmt(r.get("total_seconds"), "{:.0f} s")),
        ("matrix-product floor", lambda r: f"{r['floor_seconds']:.0f} s"),
        ("slowest steps", lambda r: ", ".join(f"{k} {v:.0f} s" for k, v in sorted(
            r.get("step_seconds", {}).items(), key=lambda kv: -kv[1])[:3]) or "not run"),
    ],
}


def _fmt(value, pattern: str) -> str:
    return "n/a" if value is None else pattern.format(value)


def machine_cell(desc: dict, end_load=None) -> str:
    """One line naming the machine of a run."""
    cpu = desc["cpu"]
    avx512 = "with AVX-512" if cpu.get("avx512") else "without AVX-512"
    cap = desc.get("isa_cap", "native")
    load = desc.get("load_average") or [float("nan")]
    end = f"-{end_load[0]:.1f}" if end_load else ""
    return (f"{cpu['model']}, {cpu['logical_cpus']} CPUs, {avx512}"
            f"{'' if cap == 'native' else f', capped at {cap.upper()}'}; "
            f"{desc['matmul_gflops_float32']:.0f} GFLOP/s; load {load[0]:.1f}{end}")


def table(results: list[dict]) -> str:
    """Markdown: one section per benchmark, one row per run."""
    out = []
    for name, columns in COLUMNS.items():
        runs = [r for r in results if r.get("benchmark") == name]
        if not runs:
            continue
        out += [f"### {name}", "", "| " + " | ".join([t for t, _ in columns] + ["machine"]) + " |",
                "|" + "---|" * (len(columns) + 1)]
        for r in runs:
            cells = [fn(r) for _, fn in columns] + [machine_cell(r["machine"], r.get("load_average_end"))]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def main(argv=None) -> int:
    paths = [Path(p) for p in (sys.argv[1:] if argv is None else argv)]
    if not paths:
        print("summarize.py: error: give the benchmarks' JSON files.", file=sys.stderr)
        return 2
    print(table([json.loads(p.read_text()) for p in paths]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
