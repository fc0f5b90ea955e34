"""The benchmarks still run against the library's current API (tiny sizes; they time nothing
here: performance is measured by `make bench`, not asserted in tests)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


@pytest.mark.parametrize("script, args, keys", [
    ("linear_sweep.py", ["--students", "20", "--repeats", "1"], ("speedup_vs_numpy", "speedup_vs_numpy_float64_draws")),
    ("mlp_ensemble.py", ["--students", "8", "--sample", "2", "--epochs", "5"], ("speedup_vs_batched_torch",)),
    ("gpt2_speed.py", ["--layers", "1", "--width", "32", "--heads", "2", "--vocab", "64", "--batch", "2",
                       "--seq", "16", "--prompt", "4", "--new", "4", "--steps", "2", "--repeats", "1"], ()),
])
def test_benchmark_runs_and_writes_its_ratios(tmp_path, script, args, keys):
    out = tmp_path / "b.json"
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args, "--json", str(out)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    data = json.loads(out.read_text())
    for key in keys:
        assert data[key] > 0
