"""The benchmarks still run against the library's current API (tiny sizes; they time nothing
here: performance is measured by `make bench`, not asserted in tests)."""

import dataclasses
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
                       "--seq", "16", "--prompt", "4", "--new", "4", "--steps", "2", "--repeats", "1"],
     ("train_speedup", "sample_speedup", "floor_train_tokens_per_s")),
    ("llm_distil.py", ["--students", "2", "--questions", "6", "--epochs", "1", "--repeats", "1"],
     ("speedup_vs_sequential_torch", "floor_seconds")),
])
def test_benchmark_runs_and_writes_its_ratios(tmp_path, script, args, keys):
    out = tmp_path / "b.json"
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args, "--json", str(out)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    data = json.loads(out.read_text())
    for key in keys:
        assert data[key] > 0
    if script == "llm_distil.py":  # both sides train the same students on the same batches
        assert data["first_loss_jaxkd"] == pytest.approx(data["first_loss_torch"], rel=1e-4)
        assert data["final_loss_jaxkd"] == pytest.approx(data["final_loss_torch"], rel=2e-3)
        assert data["steps_per_student"] == 1  # ceil(6 / 10) a pass
    if script == "gpt2_speed.py":  # the depth sweep: --layers 1 and the default other depths 1, 2
        sweep = data["layer_sweep"]
        assert sweep["layers"] == [1, 2]
        assert len(sweep["jaxkd_step_ms"]) == len(sweep["transformers_step_ms"]) == 2
        assert sweep["jaxkd_step_ms"][0] == pytest.approx(1e3 * data["batch"] * data["seq"]
                                                          / data["jaxkd_train_tokens_per_s"])


def test_gpt2_depth_sweep_splits_step_time_and_floor_into_blocks_and_the_rest():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import gpt2_speed

    from jaxkd.llm import ModelConfig

    rest, per_layer = gpt2_speed.layer_costs([1, 2, 4], [3.0 + 2.0 * 1, 3.0 + 2.0 * 2, 3.0 + 2.0 * 4])
    assert (rest, per_layer) == (pytest.approx(3.0), pytest.approx(2.0))
    # The floor's split: the rest is the tied head's three (B T, C) x (C, V) products, and the
    # rest plus L blocks is the whole step's count at every depth.
    B, T = 3, 11
    cfg = ModelConfig(vocab_size=72, n_positions=16, n_embd=24, n_layer=4, n_head=2, bos_token_id=0, eos_token_id=0)
    rest_flops, block_flops = gpt2_speed.train_flops_split(cfg, B, T)
    assert rest_flops == 3 * 2 * B * T * 24 * 72
    for L in (1, 2, 5):
        assert rest_flops + L * block_flops == gpt2_speed.train_flops(dataclasses.replace(cfg, n_layer=L), B, T)
    assert gpt2_speed.depths_list("1, 3,") == [1, 3]


def test_gpt2_benchmark_refuses_a_sweep_without_a_second_depth():
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpt2_speed.py"), "--layers", "2",
                        "--sweep-layers", "2"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "--sweep-layers needs at least one depth >= 1 other than --layers" in r.stderr


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

    import optax

    from jaxkd.llm import ModelConfig
    from jaxkd.llm.model import init
    from jaxkd.llm.objective import LMObjective
    from jaxkd.students import ensemble

    cfg = ModelConfig(vocab_size=72, n_positions=16, n_embd=24, n_layer=3, n_head=2, n_inner=40,
                      bos_token_id=0, eos_token_id=0)
    graphdef, state = nnx.split(init(cfg, jax.random.key(0)), nnx.Param)
    tx = optax.adamw(1e-3)
    B, T = 5, 11
    tok = jnp.ones((B, T), jnp.int32)
    data = {"tokens": tok, "mask": tok, "loss_mask": tok}
    carry = ensemble.Carry(state, tx.init(state), nnx.State({}))
    # One step of the block the benchmark times (the engine's scan, what distill runs).
    traced = jax.make_jaxpr(lambda c: gpt2_speed.train_block(LMObjective(graphdef), tx, 1, data, c))(carry)
    assert _dot_flops(traced.jaxpr) == gpt2_speed.train_flops(cfg, B, T)
