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


def _dot_flops(jaxpr) -> float:
    """FLOPs of every dot_general in a jaxpr, nested jaxprs included: 2 x output size x
    contracted size."""
    import math

    from jax.extend.core import jaxprs_in_params

    total = 0.0
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "dot_general":
            (contract, _), _ = eqn.params["dimension_numbers"]
            lhs = eqn.invars[0].aval.shape
            total += 2.0 * math.prod(eqn.outvars[0].aval.shape) * math.prod(lhs[i] for i in contract)
        for sub in jaxprs_in_params(eqn.params):
            total += _dot_flops(sub)
    return total


def test_gpt2_training_floor_counts_the_steps_matrix_products():
    # The benchmark's analytic FLOPs against the dot_generals JAX traces for one training step
    # (forward and backward) of a small GPT-2 with unequal sizes everywhere.
    import jax
    import jax.numpy as jnp
    from flax import nnx

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import gpt2_speed

    from jaxkd.llm import GPT2Config, training
    from jaxkd.llm.model import init

    cfg = GPT2Config(vocab_size=72, n_positions=16, n_embd=24, n_layer=3, n_head=2, n_inner=40,
                     bos_token_id=0, eos_token_id=0)
    graphdef, state = nnx.split(init(cfg, jax.random.key(0)))
    tcfg = training.TrainConfig()
    opt = training.optimizer(tcfg).init(state)
    B, T = 5, 11
    tok = jnp.ones((B, T), jnp.int32)
    traced = jax.make_jaxpr(
        lambda s, o: training._step(graphdef, tcfg, None, s, o, None, tok, tok, tok))(state, opt)
    assert _dot_flops(traced.jaxpr) == gpt2_speed.train_flops(cfg, B, T)
