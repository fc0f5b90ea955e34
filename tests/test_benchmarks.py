"""The benchmarks still run against the library's current API (tiny sizes; they time nothing
here: performance is measured by `make bench`, not asserted in tests)."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import jax
import pytest

ROOT = Path(__file__).parent.parent


@pytest.mark.parametrize("script, args, keys", [
    pytest.param("linear_sweep.py", ["--students", "20", "--repeats", "1"],
                 ("speedup_vs_numpy", "speedup_vs_numpy_float64_draws"), marks=pytest.mark.slow),
    # make test runs the distillation benchmark (its losses must equal transformers', and it
    # says where it ran); make test-all all of them.
    pytest.param("mlp_ensemble.py", ["--students", "8", "--sample", "2", "--epochs", "5"],
                 ("speedup_vs_batched_torch",), marks=pytest.mark.slow),
    pytest.param("gpt2_speed.py", ["--layers", "1", "--width", "32", "--heads", "2", "--vocab", "64", "--batch", "2",
                                   "--seq", "16", "--prompt", "4", "--new", "4", "--samples", "2", "--steps", "2",
                                   "--repeats", "1"],
                 ("train_speedup", "sample_speedup", "floor_train_tokens_per_s"), marks=pytest.mark.slow),
    pytest.param("gpt2_speed.py", ["--model", "llama", "--layers", "1", "--width", "32", "--heads", "4", "--vocab",
                                   "64", "--batch", "2", "--seq", "16", "--prompt", "4", "--new", "4", "--steps", "2",
                                   "--repeats", "1"],
                 ("train_speedup", "sample_speedup", "floor_train_tokens_per_s"), marks=pytest.mark.slow),
    ("llm_distil.py", ["--students", "2", "--questions", "6", "--epochs", "2", "--repeats", "1"],
     ("speedup_vs_sequential_torch", "speedup_vs_batched_torch", "floor_seconds")),
    pytest.param("llm_distil.py", ["--model", "llama", "--students", "2", "--questions", "6", "--epochs", "2",
                                   "--repeats", "1"],
                 ("speedup_vs_sequential_torch", "speedup_vs_batched_torch", "floor_seconds"), marks=pytest.mark.slow),
    pytest.param("llm_topk.py", ["--students", "2", "--questions", "6", "--epochs", "2", "--repeats", "1", "--k", "5"],
                 ("speedup_file_vs_full_in_loop", "speedup_file_vs_topk_in_loop", "bytes_ratio"), marks=pytest.mark.slow),
])
def test_benchmark_runs_and_writes_its_ratios(tmp_path, script, args, keys):
    out = tmp_path / "b.json"
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args, "--json", str(out)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    data = json.loads(out.read_text())
    for key in keys:
        assert data[key] > 0
    if script == "llm_distil.py":  # every side trains the same students on the same batches
        for peer in ("torch", "batched_torch"):
            assert data["first_loss_jaxkd"] == pytest.approx(data[f"first_loss_{peer}"], rel=1e-4)
            assert data["final_loss_jaxkd"] == pytest.approx(data[f"final_loss_{peer}"], rel=2e-3)
        assert data["steps_per_student"] == 2  # ceil(6 / 10) a pass: the second step after an update
        assert data["final_loss_jaxkd"] < data["first_loss_jaxkd"]
    if script == "llm_topk.py":  # the file trains what the in-step truncation trains; 5 x (2 + 4) + 4 bytes a token
        assert data["first_loss"]["topk_from_file"] == pytest.approx(data["first_loss"]["topk_in_loop"], rel=1e-5)
        assert data["final_loss"]["topk_from_file"] == pytest.approx(data["final_loss"]["topk_in_loop"], rel=1e-4)
        assert data["file_bytes_per_token"] == 34 and data["full_bytes_per_token"] == 4 * data["vocab_size"]
        assert all(v > 0 for v in data["peak_rss_bytes"].values())
    # Where it ran, in the JSON and first in what it printed.
    assert data["isa_cap"] == "native" and data["machine"]["cpu"]["logical_cpus"] >= 1
    assert data["machine"]["matmul_gflops_float32"] > 0 and len(data["load_average_end"]) == 3
    assert r.stdout.startswith("machine: ") and "vector extensions:" in r.stdout
    # The table docs/benchmarks.md is made from: a row with the figure and its machine.
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import summarize

    md = summarize.table([data])
    assert f"### {data['benchmark']}" in md and data["machine"]["cpu"]["model"] in md
    assert f"{data[keys[0]]:.2f}x" in md
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


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_training_floor_counts_the_steps_matrix_products(family):
    # The benchmark's analytic FLOPs against the dot_generals JAX traces for one training step
    # (forward and backward) of a small GPT-2 or Llama (grouped heads, head_dim apart from
    # width / heads, an untied head) with unequal sizes everywhere.
    import jax
    import jax.numpy as jnp
    from flax import nnx

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import gpt2_speed

    import optax

    from jaxkd.llm import LlamaConfig, ModelConfig
    from jaxkd.llm.families import init
    from jaxkd.llm.objective import LMObjective, SequenceBatch
    from jaxkd.students import ensemble

    cfg = (ModelConfig(vocab_size=72, n_positions=16, n_embd=24, n_layer=3, n_head=2, n_inner=40,
                       bos_token_id=0, eos_token_id=0) if family == "gpt2" else
           LlamaConfig(vocab_size=72, max_position_embeddings=16, hidden_size=24, intermediate_size=40,
                       num_hidden_layers=3, num_attention_heads=6, num_key_value_heads=2, head_dim=10,
                       bos_token_id=0, eos_token_id=0))
    graphdef, state = nnx.split(init(cfg, jax.random.key(0)), nnx.Param)
    tx = optax.adamw(1e-3)
    B, T = 5, 11
    tok = jnp.ones((B, T), jnp.int32)
    data = SequenceBatch(tokens=tok, mask=tok, loss_mask=tok)
    carry = ensemble.Carry(state, tx.init(state), nnx.State({}))
    # One step of the block the benchmark times (the engine's scan, what distill runs).
    traced = jax.make_jaxpr(lambda c: gpt2_speed.train_block(LMObjective(graphdef), tx, 1, data, c))(carry)
    assert _dot_flops(traced.jaxpr) == gpt2_speed.train_flops(cfg, B, T)


# --- the instruction-set cap and the machine description ---------------------------------


def _isa():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import isa

    return isa


def test_isa_cap_sets_every_librarys_switch_and_keeps_other_xla_flags():
    isa = _isa()
    env = isa.environment("avx2", base={"XLA_FLAGS": "--xla_foo=1 --xla_cpu_max_isa=AVX512", "PATH": "/bin"})
    assert env["XLA_FLAGS"].split() == ["--xla_foo=1", "--xla_cpu_max_isa=AVX2",
                                        "--xla_cpu_experimental_ynn_fusion_type="]
    assert env["OPENBLAS_CORETYPE"] == "Haswell"
    assert env["ATEN_CPU_CAPABILITY"] == "avx2"
    assert env["MKL_ENABLE_INSTRUCTIONS"] == env["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    assert "X86_V4" in env["NPY_DISABLE_CPU_FEATURES"].split()
    assert env[isa.MARKER] == "avx2" and env["PATH"] == "/bin"
    assert isa.environment("native", base={"A": "1"}) == {"A": "1"}
    assert isa.requested(["b.py", "--isa=avx2"]) == "avx2" and isa.requested(["b.py"]) is None


def test_isa_cap_refuses_what_it_cannot_apply(monkeypatch):
    isa = _isa()
    with pytest.raises(isa.UsageError, match="one of native, avx2"):
        isa.environment("avx512", base={})
    monkeypatch.setattr(isa, "cpu_flags", lambda: {"sse4_2", "avx"})
    with pytest.raises(isa.UsageError, match="lacks them"):
        isa.environment("avx2", base={})


@pytest.mark.parametrize("command", [
    [str(ROOT / "benchmarks" / "linear_sweep.py"), "--isa", "avx3"],
    [str(ROOT / "benchmarks" / "isa.py"), "--isa", "sse9", "--", "true"],
])
def test_unknown_isa_is_one_sentence_and_exit_2(command):
    r = subprocess.run([sys.executable, *command], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "--isa must be one of native, avx2" in r.stderr


@pytest.mark.skipif("avx2" not in _isa().cpu_flags(), reason="needs an x86 CPU with AVX2")
def test_isa_cap_is_in_effect_in_every_library(tmp_path):
    """Under the wrapper, and by re-execution when a benchmark had already loaded NumPy: NumPy
    dispatches no AVX-512 loop, OpenBLAS runs its Haswell kernels, PyTorch reports AVX2, and the
    machine description says so."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import json, sys\n"
        f"sys.path.insert(0, {str(ROOT / 'benchmarks')!r})\n"
        "import numpy\n"  # loaded before the cap: from_argv must re-execute
        "import isa\n"
        "isa.from_argv()\n"
        "import scipy.linalg, torch, machine\n"
        "print(json.dumps({'cap': isa.in_effect(), **machine.libraries_in_effect()}))\n")
    for command in ([sys.executable, str(probe), "--isa", "avx2"],
                    [sys.executable, str(ROOT / "benchmarks" / "isa.py"), "--isa", "avx2", "--",
                     sys.executable, str(probe)]):
        r = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
        got = json.loads(r.stdout.strip().splitlines()[-1])
        assert got["cap"] == "avx2" and got["xla_max_isa"] == "AVX2" and got["xla_ynnpack_fusions"] == "off"
        assert got["numpy_simd"] == "X86_V3"
        assert got["blas"] and all(b.endswith("Haswell") for b in got["blas"])
        assert got["torch_cpu_capability"] == "AVX2"


def test_machine_description_names_the_cpu_and_its_vector_extensions():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import machine

    desc = machine.describe(matmul=123.0, bandwidth=4.5)
    cpu = desc["cpu"]
    assert cpu["logical_cpus"] >= 1 and cpu["model"]
    flags = machine.isa.cpu_flags()
    assert ("AVX2" in cpu["vector_extensions"]) == ("avx2" in flags)
    assert cpu["avx512"] == ("avx512f" in flags)
    assert desc["versions"]["jax"] and desc["versions"]["numpy"]
    text = machine.header(desc)
    assert "123 GFLOP/s" in text and "4.5 GB/s" in text and cpu["model"] in text
    assert f"instruction-set cap: {desc['isa_cap']}" in text


def test_paper_floor_counts_each_mlp_ensemble():
    """The paper preset's floor: a student-epoch's matrix-product FLOPs by hand for 13-16-1 on
    404 rows, its first layer against the dot_generals the fused trainer traces, and the
    ensembles counted from the paper configs (k = 1 trains two target methods, not four)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import jax
    import jax.numpy as jnp
    import paper_tabular

    from jaxkd import reproduce
    from jaxkd.students import mlp

    n, d, h = 404, 13, 16
    # forward and weight gradients: (d + 1) h + (h + 1) weights, twice; the signal to the hidden layer: h
    assert paper_tabular.student_epoch_flops((d, h, 1), n) == 2 * n * (2 * ((d + 1) * h + (h + 1)) + h)
    c = 3
    params = mlp.init_ensemble((d, h, 1), jax.random.split(jax.random.key(0), c))
    cfg = mlp.TrainConfig(widths=(d, h, 1), epochs=1)
    jaxpr = jax.make_jaxpr(lambda p: mlp.train_block_fused(cfg, p, jnp.ones((n, d)), jnp.ones((c, n)),
                                                           jnp.ones((c, n))))(params)
    assert _dot_flops(jaxpr.jaxpr) == 4 * n * (d + 1) * h * c  # the first layer's two products

    plan = dict((s.name, (s, cfg)) for s, cfg in reproduce.plan("paper", only=["variance-aware", "bootstrap"]).steps)
    step, va = plan["variance-aware-mlp"]
    (_, teachers_, _, _), (_, students, epochs, rows) = paper_tabular.ensembles(step, va)
    assert teachers_ == 1 and rows == 404 and epochs == va.epochs
    assert students == len(va.alphas) * (4 * len(va.ks) - 2) * va.num_students  # k = 1: two methods
    step, bs = plan["bootstrap-mlp"]
    assert paper_tabular.ensembles(step, bs)[1][1] == len(bs.sizes) * 2 * bs.num_students
    assert paper_tabular.ensembles(*plan["bootstrap-linear"]) == []
    # every step the benchmark covers has its row
    steps = dict((s.name, (s, cfg)) for s, cfg in reproduce.plan("paper", only=list(paper_tabular.ONLY)).steps)
    table = paper_tabular.floors(100.0)  # every step's row (it crashed on output-entropy's config)
    assert set(table) == {"theory", *steps} and all(table[k]["floor_seconds"] > 0 for k in steps if k != "theory"
                                                   and paper_tabular.ensembles(*steps[k]))


def test_paper_floor_counts_what_output_entropy_trains(monkeypatch):
    """The floor's output-entropy ensembles against the ensembles the experiment really trains
    (recorded from mlp.train_ensemble on a small config): the same student-epochs per shape."""
    from collections import Counter
    from types import SimpleNamespace

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import paper_tabular

    from experiment_modules import face
    output_entropy = face("output_entropy")
    from jaxkd.students import mlp

    trained = Counter()

    def recording(real):
        def train(cfg, params, X, Y, **kw):
            trained[(tuple(cfg.widths), X.shape[0])] += jax.tree.leaves(params)[0].shape[0] * cfg.epochs
            return real(cfg, params, X, Y, **kw)
        return train

    monkeypatch.setattr(mlp, "train_ensemble", recording(mlp.train_ensemble))
    monkeypatch.setattr(mlp, "train_recorded", recording(mlp.train_recorded))
    cfg = output_entropy.Config(datasets=("wine",), epochs=2, student_epochs=3, replicates=3, teacher_hidden=8,
                                student_hidden=4)
    output_entropy.run(cfg)
    counted = Counter()
    for widths, students, epochs, rows in paper_tabular.ensembles(
            SimpleNamespace(model="all", experiment="output-entropy"), cfg):
        counted[(tuple(widths), rows)] += students * epochs
    assert counted == trained and len(trained) == 3  # logistic (shared by teacher and students), two MLP shapes
