"""The student axis split over 4 (simulated) devices gives the single-device numbers exactly."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

FOUR = {"XLA_FLAGS": "--xla_force_host_platform_device_count=4"}


def run(args, out, env_extra=None):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env_extra or {})}
    r = subprocess.run([sys.executable, "-m", "jaxkd.cli", *args, "--out", str(out)], capture_output=True,
                       text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    return json.loads((out / "results.json").read_text())


CASES = {
    # 10 students on 4 devices: the axis is padded to 12 and cut back.
    "teacher-noise-linear": ["run", "teacher-noise", "--students", "10", "--alphas", "0.5,2"],
    "bootstrap-linear": ["run", "bootstrap", "--students", "10", "--sizes", "30,404"],
    "variance-aware-linear": ["run", "variance-aware", "--students", "12", "--alphas", "0.5", "--ks", "1,4"],
    "teacher-noise-mlp": ["run", "teacher-noise", "--model", "mlp", "--students", "10", "--epochs", "5",
                          "--alphas", "0,1"],
}


# make test: the MLP engine (the sharded path every engine shares); make test-all: all four.
FAST = ("teacher-noise-mlp",)


@pytest.mark.parametrize("name", [n if n in FAST else pytest.param(n, marks=pytest.mark.slow) for n in CASES])
def test_four_devices_match_one(tmp_path, name):
    """Same --chunk (students computed at a time per device): bitwise the same results.json."""
    single = run([*CASES[name], "--chunk", "2"], tmp_path / "one")
    sharded = run([*CASES[name], "--chunk", "2", "--devices", "4"], tmp_path / "four", FOUR)
    assert sharded == single


@pytest.mark.slow  # make test: test_four_devices_match_one[teacher-noise-mlp] shards the student axis
def test_default_chunk_differs_only_in_rounding(tmp_path):
    """Default chunk: each device takes its whole share at once, so matrix products see another
    batch size and may round differently in the last bits (float64 here)."""
    args = CASES["teacher-noise-linear"]
    single = run(args, tmp_path / "one")
    sharded = run([*args, "--devices", "4"], tmp_path / "four", FOUR)
    assert sharded.pop("config") == single.pop("config")
    for key, val in single.items():
        np.testing.assert_allclose(np.asarray(sharded[key], float), np.asarray(val, float), rtol=1e-12, atol=1e-300)


# GPT-2 students (training and sampling) at the tiny end-to-end settings of test_llm_study.
LLM = """
import json, sys
from jaxkd import sharding
from experiment_modules import face
llm_output = face("llm_output")
from jaxkd.runs import to_jsonable
cfg = llm_output.Config.from_preset("quick", num_questions=3, teacher_epochs=1, base_epochs=0, epochs=2,
                                    batch_size=2, samples=2, num_students=3, replicates=2,
                                    max_new_tokens=6, temperatures=(1.0,))
with sharding.use_devices(int(sys.argv[1])):
    print(json.dumps(to_jsonable(llm_output.run(cfg))))
"""


@pytest.mark.slow  # 75 s: two processes each train a GPT-2 teacher and students; make test-all
def test_llm_students_on_four_devices_match_one():
    def run_llm(devices, env_extra):
        env = {**os.environ, **env_extra}
        r = subprocess.run([sys.executable, "-c", LLM, str(devices)], capture_output=True, text=True,
                           env=env, timeout=600)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout.strip().splitlines()[-1])

    assert run_llm(4, FOUR) == run_llm(1, {})


def test_device_count_validation():
    from jaxkd import sharding

    with pytest.raises(ValueError, match="at least 1"):
        sharding.device_count(0)
    with pytest.raises(ValueError, match="more devices than"):
        sharding.device_count(10_000)
    assert sharding.device_count(1) == 1


def test_map_students_pads_and_cuts():
    import jax.numpy as jnp

    from jaxkd import sharding

    x = jnp.arange(10.0)[:, None] * jnp.ones((10, 3))
    padded = sharding.pad_students(x, 4)
    assert padded.shape == (12, 3) and np.array_equal(padded[10:], np.zeros((2, 3)))
    for block in (None, 4, 10, 20):  # 4: blocks padded to 12 students and cut back to 10
        out = sharding.map_students(_affine, jnp.float32(1.0), x, 3, in_axes=(None, 0, None),
                                    static_argnums=(2,), block=block, devices=1)
        assert out.shape == (10, 3) and np.array_equal(out, 3 * x + 1)
    with pytest.raises(ValueError, match="must be 0 or None"):
        sharding.map_students(_affine, 1.0, x, 3, in_axes=(None, 1, None), static_argnums=(2,))
    with pytest.raises(ValueError, match="entry must be None"):
        sharding.map_students(_affine, 1.0, x, 3, in_axes=(None, 0, 0), static_argnums=(2,))
    with pytest.raises(ValueError, match="3 arguments"):
        sharding.map_students(_affine, 1.0, x, 3, in_axes=(None, 0))


def _affine(c, x, scale):  # arguments in the function's own order: no adapter
    return scale * x + c


STOPPING = """
import json, sys
from jaxkd import compiler
compiler.configure()
import jax, numpy as np
from jaxkd import sharding
from test_ensemble import RULE, TX, _regression_ensemble
from jaxkd.students import ensemble
objective, params, data, own = _regression_ensemble(N=10)
with sharding.use_devices(int(sys.argv[1])):
    fit = ensemble.fit(objective, TX, ensemble.Schedule(300), params, data, own=own, stopping=RULE, chunk=2,
                       epochs_per_block=30)
c = fit.convergence
print(json.dumps({"steps": c.steps.tolist(), "converged": c.converged.tolist(), "losses": fit.losses.tolist(),
                  "params": [np.asarray(a).tolist() for a in jax.tree.leaves(fit.params)]}))
"""


def test_students_under_a_stopping_rule_on_four_devices_match_one():
    """The rule's state travels with each student: 10 students over 4 devices stop at the same
    steps, converged or capped alike, as on one device. Their parameters and losses agree to
    float32 rounding only: the engine's sharded program rounds in other places than the
    single-device one for this module, with or without a rule (the MLP experiments' sharded
    path is bitwise: test_four_devices_match_one)."""
    def run_stopping(devices, env_extra):
        env = {**os.environ, **env_extra, "PYTHONPATH": os.path.dirname(__file__)}
        r = subprocess.run([sys.executable, "-c", STOPPING, str(devices)], capture_output=True, text=True,
                           env=env, timeout=600)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout.strip().splitlines()[-1])

    four, one = run_stopping(4, FOUR), run_stopping(1, {})
    assert any(one["converged"]) and not all(one["converged"])
    assert four["steps"] == one["steps"] and four["converged"] == one["converged"]
    np.testing.assert_allclose(four["losses"], one["losses"], rtol=1e-5)
    for a, b in zip(four["params"], one["params"]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
