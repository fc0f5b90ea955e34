"""The `jaxkd` command: outputs, exit codes and bad input.

End-to-end runs go through a subprocess, as a user's shell would; the many bad-input cases call
``cli.main`` in-process (same parser, same handlers, same exit codes, no interpreter start-up
per case)."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

from jaxkd import cli


def jaxkd(*args, cwd=None):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "jaxkd.cli", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=600)


class Outcome(NamedTuple):
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def inproc(capsys, monkeypatch):
    """``cli.main`` in this process, returning what a subprocess would: exit code and output."""
    def call(*args, cwd=None):
        if cwd is not None:
            monkeypatch.chdir(cwd)
        try:
            code = cli.main([str(a) for a in args])
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code
        out = capsys.readouterr()
        return Outcome(code, out.out, out.err)

    return call


def test_run_writes_a_complete_run_directory(tmp_path):
    out = tmp_path / "tn"
    r = jaxkd("run", "teacher-noise", "--students", "50", "--out", str(out), "--json", str(tmp_path / "r.json"))
    assert r.returncode == 0, r.stderr
    assert {p.name for p in out.iterdir()} >= {"config.json", "results.json", "report.md",
                                                "variance.png", "mse.png", "points"}
    res = json.loads((out / "results.json").read_text())
    assert res == json.loads((tmp_path / "r.json").read_text())
    assert len(res["inter_student_variance"]) == len(res["alpha"]) == 6
    assert (out / "variance.png").read_bytes()[:4] == b"\x89PNG"
    # No terminal: progress is timestamped lines (no bars, nothing else on stderr).
    import re

    lines = r.stderr.strip().splitlines()
    assert lines and all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d teacher-noise \(linear\): ", x) for x in lines), lines
    # Running again without --resume is refused; with --resume it reuses every point.
    again = jaxkd("run", "teacher-noise", "--students", "50", "--out", str(out))
    assert again.returncode == 2 and "--resume" in again.stderr
    resumed = jaxkd("run", "teacher-noise", "--students", "50", "--out", str(out), "--resume")
    assert resumed.returncode == 0
    assert json.loads((out / "results.json").read_text()) == res


def test_run_mlp_experiment_through_the_cli(tmp_path):
    out = tmp_path / "ip"
    r = jaxkd("run", "init-perturbation", "--students", "4", "--epochs", "5", "--scales", "0,0.1",
              "--out", str(out))
    assert r.returncode == 0, r.stderr
    res = json.loads((out / "results.json").read_text())
    assert res["scale"] == [0.0, 0.1] and len(res["inter_student_variance"]) == 2
    assert (out / "init_perturbation.png").exists() and "Initialization perturbation" in (out / "report.md").read_text()


def test_theory_verify_json(tmp_path):
    path = tmp_path / "v.json"
    r = jaxkd("theory", "verify", "--only", "7.3,7.4", "--json", str(path))
    assert r.returncode == 0, r.stderr
    checks = json.loads(path.read_text())
    assert {c["result"] for c in checks} == {"7.3", "7.4"}
    assert all({"result", "predicted", "observed", "tolerance", "passed"} <= set(c) for c in checks)
    assert "passed, 0 failed" in r.stdout


def test_verify_exits_1_when_a_check_fails(monkeypatch, capsys):
    from jaxkd import targets

    monkeypatch.setattr(targets, "combined_variance", lambda t, s: t + s)
    assert cli.main(["theory", "verify", "--only", "7.4"]) == 1
    assert "NO" in capsys.readouterr().out


def test_datasets_lists_availability():
    r = jaxkd("datasets")
    assert r.returncode == 0
    assert "boston" in r.stdout and "mnist" in r.stdout and "bundled" in r.stdout


BAD = [
    (["run", "nope"], "unknown experiment 'nope'; choose from teacher-noise"),
    (["run", "teacher-nois"], "unknown experiment 'teacher-nois'; did you mean teacher-noise?"),
    (["reproduc"], "unknown command 'reproduc'; did you mean reproduce?"),
    (["run", "teacher-noise", "--studnets", "3"], "--studnets does not apply to teacher-noise; did you mean --students?"),
    (["run", "teacher-noise", "--students", "0"], "--students 0: number of students must be at least 2"),
    (["run", "teacher-noise", "--students", "many"], "expected an integer"),
    (["run", "teacher-noise", "--alphas", "0,-1"], "--alphas 0,-1: each value of alphas must be non-negative"),
    (["run", "teacher-noise", "--alphas", "-1,0"], "--alphas -1,0: each value of alphas must be non-negative"),
    (["run", "teacher-noise", "--alphas", "-0.5"], "--alphas -0.5: each value of alphas must be non-negative"),
    (["run", "teacher-noise", "--alphas", "0,x"], "comma-separated float"),
    (["run", "variance-aware", "--ks", "0"], "at least 1"),
    (["run", "teacher-noise", "--ks", "3"], "--ks does not apply"),
    (["run", "teacher-noise", "--dataset", "iris"], "unknown dataset 'iris'"),
    (["run", "teacher-noise", "--dataset", "digits"], "classification set"),
    (["run", "teacher-noise", "--dataset", "mnist"], "not cached"),
    (["run", "teacher-noise", "--dataset", "missing.csv"], "does not exist"),
    (["run", "teacher-noise", "--model", "gpt9"], "argument --model: 'gpt9' is not one of linear, mlp"),
    (["run", "teacher-noise", "--model", "MLP"], "'MLP' is not one of linear, mlp; did you mean mlp?"),
    (["run", "init-perturbation", "--model", "linear"], "argument --model: 'linear' is not one of mlp"),
    (["run", "output-entropy", "--models", "mlp,svm"], "argument --models: 'svm' is not one of logistic, mlp"),
    (["run", "init-perturbation", "--scales", "-0.1"], "non-negative"),
    (["run", "teacher-noise", "--model", "mlp", "--epochs", "0"], "epochs must be at least 1"),
    (["run", "teacher-noise", "--model", "mlp", "--chunk", "0"], "--chunk 0: chunk must be at least 1"),
    (["run", "teacher-noise", "--students", "1.5"], "argument --students: expected an integer, got '1.5'"),
    (["run", "teacher-noise", "--alphas"], "argument --alphas: expected one argument"),
    (["run", "teacher-noise", "--alphas", ","], "argument --alphas: expected at least one value"),
    (["run", "output-entropy", "--datasets", "boston"], "regression set"),
    (["run", "output-entropy", "--datasets", "mnist"], "not cached"),
    (["run", "llm-teacher-noise", "--temperatures", "0,1"], "must be positive"),
    (["run", "llm-variance-aware", "--ks", "1,3"], "at least 2"),
    (["run", "llm-output", "--preset", "paper"], "needs --teacher and --student"),
    (["run", "llm-output", "--alphas", "1"], "--alphas does not apply to llm-output"),
    (["run", "teacher-noise", "--temperatures", "1"], "--temperatures does not apply"),
    (["run", "teacher-noise", "--preset", "huge"], "unknown --preset 'huge'; choose from quick, paper"),
    (["run", "bootstrap", "--sizes", "5000"], "exceed the 404 training rows"),
    (["run", "teacher-noise", "--students", "-3"], "--students -3: number of students must be at least 2"),
    (["run", "teacher-noise", "--devices", "0"], "devices must be at least 1"),
    (["run", "teacher-noise", "--devices", "64"], "more devices than the 1 visible"),
    (["run", "teacher-noise", "--devices", "two"], "expected an integer"),
    (["run", "variance-aware", "--ks", "3,-1"], "at least 1"),
    (["run", "teacher-noise", "--json", "/dev/null/r.json"], "cannot write --json /dev/null/r.json: /dev/null is a file"),
    (["run", "teacher-noise", "--json", "."], "--json . is a folder; give a file path"),
    (["run", "teacher-noise", "--resume", "--overwrite"], "contradict"),
    (["reproduce", "--only", "nope"], "argument --only: 'nope' is not one of theory, teacher-noise"),
    (["reproduce", "--only", "bootstrap-linaer"], "did you mean bootstrap-linear?"),
    (["reproduce", "--preset", "paper"], "pass --teacher, --student and --qa-file"),
    (["reproduce", "--preset", "huge"], "unknown --preset 'huge'; choose from quick, paper"),
    (["reproduce", "--students", "3"], "--students does not apply to reproduce"),
    (["reproduce", "--seed", "-1"], "seed must be at least 0"),
    (["reproduce", "--seed", "x"], "expected an integer"),
    (["reproduce", "--devices", "0"], "devices must be at least 1"),
    (["reproduce", "--resume", "--overwrite"], "contradict"),
    (["reproduce", "--json", "/dev/null/s.json"], "cannot write --json /dev/null/s.json: /dev/null is a file"),
    (["reproduce", "--preset", "paper", "--only", "llm-output", "--teacher", "t", "--student", "s",
      "--qa-file", "q.json"], "does not exist"),
    (["theory", "verify", "--students", "5"], "at least 100"),
    (["theory", "verify", "--only", "9.9"], "argument --only: '9.9' is not one of 2.2, 4.1"),
    (["theory", "verify", "--json", "/dev/null/v.json"], "cannot write --json /dev/null/v.json: /dev/null is a file"),
    (["theory", "verify", "--students", "-5"], "must be at least 100"),
    (["theory", "check"], "unknown command 'check'; choose from verify"),
    (["datasets", "--data-home"], "argument --data-home: expected one argument"),
    # Requests too big for the machine are refused before anything is allocated.
    (["run", "teacher-noise", "--model", "mlp", "--students", "100000000"], "lower --students (about"),
    (["run", "variance-aware", "--students", "100000000", "--ks", "50"], "of memory at its peak, but this machine has"),
    (["run", "bootstrap", "--students", "100000000"], "lower --students"),
    (["run", "init-perturbation", "--students", "100000000"], "lower --students"),
    (["run", "llm-output", "--students", "100000000"], "keeping what 500,000,000 llm-* students produce (5 replicates x 100,000,000) needs about"),
]


@pytest.mark.parametrize("args, message", BAD)
def test_bad_input_exits_2_with_one_sentence_and_no_output(tmp_path, args, message, inproc):
    out = tmp_path / "out"
    extra = ["--out", str(out)] if args[0] in ("run", "reproduce") else []
    r = inproc(*args, *extra, cwd=tmp_path)
    assert r.returncode == 2
    assert message in r.stderr
    assert r.stderr.strip().count("\n") == 0  # one line
    assert "Traceback" not in r.stderr
    assert not out.exists()


def test_nan_in_user_csv_exits_2(tmp_path):
    csv = tmp_path / "d.csv"
    csv.write_text("a,b,y\n1,2,3\n4,,6\n7,8,9\n1,1,1\n")
    r = jaxkd("run", "teacher-noise", "--dataset", str(csv), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "NaN" in r.stderr and not (tmp_path / "o").exists()


@pytest.mark.parametrize("command", [["run", "teacher-noise"], ["reproduce", "--only", "teacher-noise-linear"]])
@pytest.mark.parametrize("where", ["file", "under-a-file"])
def test_unwritable_out_exits_2(tmp_path, command, where, inproc):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out = blocker if where == "file" else blocker / "sub"
    r = inproc(*command, "--out", str(out))
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert ("is a file" if where == "file" else "cannot write to --out") in r.stderr
    assert blocker.read_text() == "x"


def _tamper(path, **changes):
    cfg = json.loads(path.read_text())
    path.write_text(json.dumps({**cfg, **changes}))


@pytest.mark.parametrize("case, message", [
    ("code", "was written by other code (jaxkd 0.0.1, source 000000000000"),
    ("config", "different config (num_students differ)"),
    ("corrupt", "is not valid JSON"),
    ("foreign", "is not a jaxkd run folder"),
])
def test_resume_refuses_a_folder_it_did_not_write(tmp_path, case, message, inproc):
    out = tmp_path / "tn"
    args = ["run", "teacher-noise", "--students", "20", "--alphas", "0,1", "--out", str(out)]
    if case == "foreign":
        out.mkdir()
        (out / "notes.txt").write_text("mine")
    else:
        assert inproc(*args).returncode == 0
        if case == "code":
            _tamper(out / "config.json", jaxkd="0.0.1", code="0" * 64)
        elif case == "corrupt":
            (out / "config.json").write_text("{not json")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    resume_args = [*args[:3], "30" if case == "config" else "20", *args[4:], "--resume"]
    r = inproc(*resume_args)
    assert r.returncode == 2 and message in r.stderr and r.stderr.count("\n") == 1
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before  # left untouched


def test_compilation_cache_is_written_and_can_be_switched_off(tmp_path):
    """A second invocation finds the compiled programs of the first in the cache folder."""
    def run(cache, out):
        env = {**os.environ, "JAXKD_COMPILATION_CACHE": str(cache)}
        r = subprocess.run([sys.executable, "-m", "jaxkd.cli", "run", "teacher-noise", "--students", "5",
                            "--alphas", "0.5", "--out", str(out)], capture_output=True, text=True, env=env,
                           timeout=300)
        assert r.returncode == 0, r.stderr
        return json.loads((out / "results.json").read_text())

    cache = tmp_path / "cache"
    first = run(cache, tmp_path / "a")
    entries = sorted(p.name for p in cache.iterdir())
    assert entries  # the compiled programs were stored
    assert run(cache, tmp_path / "b") == first  # loaded from the cache: same numbers
    assert sorted(p.name for p in cache.iterdir()) == entries  # nothing new had to be compiled
    assert run("off", tmp_path / "c") == first
    assert not (tmp_path / "off").exists() and not (Path.cwd() / "off").exists()


def test_compilation_cache_entries_appear_whole(tmp_path, monkeypatch):
    """Processes sharing the cache (the test workers themselves) never read a half-written
    entry: a write goes to a temporary file renamed into place. Planted: JAX's in-place write
    leaves a truncated entry visible when the writer dies mid-write; the atomic one leaves none."""
    from jax._src import lru_cache

    from jaxkd import compilation_cache

    assert compilation_cache.enable() is not None and lru_cache.LRUCache.put._jaxkd
    cache = lru_cache.LRUCache(str(tmp_path), max_size=-1)
    cache.put("k", b"x" * 1000)
    assert cache.get("k") == b"x" * 1000 and sorted(p.name for p in tmp_path.iterdir()) == ["k-cache"]

    class Killed(Exception):
        pass

    def dies_midway(self, data):  # the writer killed after half the bytes
        with open(self, "wb") as f:
            f.write(data[: len(data) // 2])
        raise Killed

    monkeypatch.setattr(type(cache.path), "write_bytes", dies_midway)  # JAX's path class (pathlib or epath)
    with pytest.raises(Killed):
        cache.put("half", b"y" * 1000)
    assert cache.get("half") is None  # nothing a reader could take for an entry
    with pytest.raises(Killed):
        compilation_cache.JAX_PUT(cache, "plain", b"z" * 1000)  # JAX's own put
    assert cache.get("plain") == b"z" * 500  # the in-place write: a truncated entry a reader would take


def test_every_config_field_is_a_documented_flag():
    """The CLI is generated from the configs: each field has help text and a flag in its
    experiment's parser, and each PRESETS entry names real fields and models."""
    import dataclasses

    from jaxkd import config
    from jaxkd.cli import build_parser
    from jaxkd.study import EXPERIMENTS

    parser = build_parser()
    for name, module in EXPERIMENTS.items():
        cls = module.Config
        text = parser.parse_known_args(["run", name])[0]  # the experiment's parser exists
        assert text.experiment == name
        fields = {f.name for f in dataclasses.fields(cls)}
        for f in dataclasses.fields(cls):
            assert config.field_help(cls, f.name)
        for (preset, model), values in cls.PRESETS.items():
            assert set(values) <= fields, (name, preset)
            assert model == "*" or model in getattr(cls, "MODELS", ()) or model in getattr(module, "MODELS", ()), (name, model)
        flags = {config.field_flag(cls, f) for f in fields} - {config.NO_FLAG}
        args = parser.parse_args(["run", name])
        assert all(getattr(args, f) is None for f in fields if config.field_flag(cls, f) != config.NO_FLAG)
        assert flags <= {a for act in _actions(parser, name) for a in act.option_strings}


def _actions(parser, name):
    import argparse

    run = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["run"]
    exp = next(a for a in run._actions if isinstance(a, argparse._SubParsersAction)).choices[name]
    return exp._actions


def test_a_new_config_field_becomes_a_flag_and_presets_resolve_per_model():
    import argparse
    import dataclasses
    from typing import ClassVar

    from jaxkd import config
    from experiment_modules import face
    teacher_noise = face("teacher_noise")

    @dataclasses.dataclass(frozen=True)
    class Extended(teacher_noise.Config):
        PRESETS: ClassVar[dict] = {**teacher_noise.Config.PRESETS, ("paper", "mlp"): {"warmup": 7}}
        warmup: int = config.option(3, "a field added for this test")

    parser = argparse.ArgumentParser()
    config.add_flags(parser, Extended)
    args = parser.parse_args(["--warmup", "5", "--alphas", "0,1", "--students", "9"])
    assert config.overrides(args, Extended) == {"warmup": 5, "alphas": (0.0, 1.0), "num_students": 9}
    assert "a field added for this test" in parser.format_help()
    assert Extended.from_preset("quick").warmup == 3
    assert Extended.from_preset("paper", model="mlp").warmup == 7      # (paper, mlp) over (paper, *)
    assert Extended.from_preset("paper", model="mlp").num_students == 1000
    assert Extended.from_preset("paper").warmup == 3                  # linear: no model entry
    assert teacher_noise.Config.from_preset("quick", model="mlp").num_students == 100
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        Extended.from_preset("huge")


def test_xla_settings_are_in_effect_and_can_be_refused_or_switched_off():
    """`compiler.configure` (called by conftest, as by the CLI) turned YNNPACK fusions off: no
    compiled program holds one. In a fresh process it appends its flag to XLA_FLAGS, keeps a
    user's own value, returns False once JAX has started, and refuses an unknown setting."""
    import jax
    import jax.numpy as jnp

    from jaxkd import compiler

    text = jax.jit(lambda x: jnp.sum(jnp.maximum(x, 0.0) * 2.0, axis=0)).lower(
        jnp.ones((64, 256))).compile().as_text()
    assert "ynn" not in text
    probe = ("import os, jax; from jaxkd import compiler; a = compiler.configure(); "
             "jax.numpy.ones(1).block_until_ready(); print(a, compiler.configure(), os.environ.get('XLA_FLAGS'))")

    def run(**env):
        base = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", compiler.ENV)}
        return subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                              env={**base, **env}, timeout=120)

    assert run().stdout.split() == ["True", "False", "--xla_cpu_experimental_ynn_fusion_type="]
    assert run(XLA_FLAGS="--xla_cpu_experimental_ynn_fusion_type=dot").stdout.split()[-1] == \
        "--xla_cpu_experimental_ynn_fusion_type=dot"
    assert run(JAXKD_XLA_OPTIONS="off").stdout.split() == ["False", "False", "None"]
    bad = run(JAXKD_XLA_OPTIONS="fast")
    assert bad.returncode != 0 and "must be unset or 'off'" in bad.stderr
    cli = subprocess.run([sys.executable, "-m", "jaxkd.cli", "datasets"], capture_output=True, text=True,
                         env={**os.environ, "JAXKD_XLA_OPTIONS": "fast"}, timeout=120)
    assert cli.returncode == 2 and "JAXKD_XLA_OPTIONS must be unset or 'off'" in cli.stderr


def test_help_and_usage_errors_import_neither_jax_nor_an_experiment():
    """--help and usage errors are answered from the study's table and the experiments'
    config modules: no JAX, no optional extra, no experiment's computation, report or claims is
    imported (a fresh interpreter, as the shell would start). Planted once: a config module that
    imports jaxkd.students.mlp puts jax in the list and fails."""
    probe = """
import contextlib, io, sys
from jaxkd import cli
for argv in (["--help"], ["run", "--help"], ["run", "teacher-noise", "--help"], ["run", "llm-output", "--help"],
             ["reproduce", "--help"], ["theory", "verify", "--help"], ["run", "teacher-nois"],
             ["run", "teacher-noise", "--students", "x"], ["run", "teacher-noise", "--studnets", "3"],
             ["reproduce", "--only", "x"], ["theory", "verify", "--only", "9"], ["--version"],
             ["run", "teacher-noise", "--resume", "--overwrite"], ["run", "teacher-noise", "--devices", "0"],
             ["reproduce", "--seed", "-1"], ["theory", "verify", "--json", "/dev/null/v.json"]):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            cli.main(argv)
        except SystemExit:
            pass
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("jax", "jaxlib", "scipy", "flax", "optax", "torch",
               "transformers", "matplotlib", "tqdm", "sklearn", "theory"))
parts = sorted({m.rsplit(".", 1)[-1] for m in sys.modules if m.startswith("jaxkd.experiments.") and m.count(".") == 3})
print(heavy, parts, "jaxkd.theory" in sys.modules)
"""
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[] ['config'] False"


def test_help_shows_choices_and_defaults_per_preset(inproc):
    r = inproc("run", "teacher-noise", "--help")
    text = " ".join(r.stdout.split())
    assert r.returncode == 0
    assert "--model {linear,mlp}" in text and "--preset {quick,paper}" in text and "paper: the study's protocol" in text
    assert "number of students N (default: quick: linear 200, mlp 100; paper 1000)" in text
    assert "(default: quick 0.0,0.25,0.5,1.0,1.5,2.0; paper 0.0,0.1," in text
    full = " ".join(inproc("run", "--help").stdout.split())
    # Summaries are whole sentences, not a docstring's first line cut mid-sentence.
    assert "LLM teacher output uncertainty (study Section 4.3, Appendix B.2, Table 2): a teacher-temperature sweep." in full


def test_negative_values_reach_the_flag():
    assert cli._attach_negative_values(["run", "x", "--alphas", "-1,0", "--seed", "3", "--scales", "-.5"],
                                       {"--alphas", "--scales", "--seed"}) == \
        ["run", "x", "--alphas=-1,0", "--seed", "3", "--scales=-.5"]
    assert cli._attach_negative_values(["--resume", "-h"], {"--out"}) == ["--resume", "-h"]


def test_json_folder_is_created_by_every_command(tmp_path, inproc):
    for args, path in ((["run", "teacher-noise", "--students", "5", "--alphas", "0.5", "--out", tmp_path / "o"],
                        tmp_path / "new" / "a" / "r.json"),
                       (["reproduce", "--only", "teacher-noise-linear", "--out", tmp_path / "rep"],
                        tmp_path / "new" / "b" / "s.json"),
                       (["theory", "verify", "--only", "7.4"], tmp_path / "new" / "c" / "v.json")):
        r = inproc(*args, "--json", path)
        assert r.returncode == 0, r.stderr
        assert json.loads(path.read_text())


def test_interruption_messages_tell_the_truth(monkeypatch, inproc, tmp_path):
    import jaxkd.theory.verify

    from jaxkd import reproduce

    def stop(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(jaxkd.theory.verify, "verify", stop)
    r = inproc("theory", "verify")
    assert r.returncode == 130 and "--resume" not in r.stderr and "keeps no partial results" in r.stderr
    monkeypatch.setattr(reproduce, "run_experiment", stop)
    r = inproc("run", "teacher-noise", "--out", tmp_path / "tn")
    assert r.returncode == 130 and f"saved in {tmp_path / 'tn'}: rerun the same command with --resume" in r.stderr


def test_linear_students_products_go_to_ynnpack_unless_the_isa_is_capped(monkeypatch, x64):
    """`compiler.library_products`: the linear teacher-noise level's float64 products are one
    YNNPACK fusion in the compiled program; none where XLA's instruction set is capped
    (YNNPACK would ignore the cap), with JAXKD_XLA_OPTIONS=off, or off CPU."""
    import jax

    from jaxkd import compiler, rng
    from experiment_modules import face
    from jaxkd.experiments import regression
    teacher_noise = face("teacher_noise")

    task = regression.linear_task("boston")
    eps = teacher_noise._level_deviates(rng.stream(0, "teacher_noise"), 0, 50, task.mu.shape[0])
    text = teacher_noise._level_metrics_program().lower(eps, task, 0.5).compile().as_text()
    assert text.count("__ynn_fusion") >= 1
    assert compiler.library_products() == compiler.LIBRARY_PRODUCTS
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_experimental_ynn_fusion_type= --xla_cpu_max_isa=AVX2")
    assert compiler.library_products() is None
    monkeypatch.setenv("XLA_FLAGS", "")
    monkeypatch.setenv(compiler.ENV, "off")
    assert compiler.library_products() is None
    monkeypatch.delenv(compiler.ENV)
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert compiler.library_products() is None
    # Capped from the start (a fresh process under the cap): the program holds no YNNPACK fusion.
    probe = ("import jax; from jaxkd import compiler, rng; compiler.configure(); jax.config.update('jax_enable_x64', True)\n"
             "from jaxkd.experiments import regression\nfrom jaxkd.experiments.teacher_noise import run as tn\n"
             "task = regression.linear_task('boston'); eps = tn._level_deviates(rng.stream(0, 'x'), 0, 50, 404)\n"
             "print(tn._level_metrics_program().lower(eps, task, 0.5).compile().as_text().count('__ynn_fusion'))")
    capped = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "XLA_FLAGS": "--xla_cpu_max_isa=AVX2"})
    assert capped.returncode == 0, capped.stderr[-2000:]
    assert capped.stdout.split()[-1] == "0"


def test_version_is_printed_on_stdout_with_its_commit(inproc):
    from jaxkd import provenance

    r = inproc("--version")
    assert r.returncode == 0 and r.stderr == ""
    assert r.stdout.startswith(f"jaxkd {provenance.version()} (") and "source sha256" in r.stdout


def test_boolean_flags_switch_both_ways_and_show_their_default(inproc):
    """A boolean option can be turned off where its preset turns it on (--no-FLAG), and a refusal
    names the flag as typed."""
    from experiment_modules import face
    va = face("llm_variance_aware")

    parser = cli.build_parser()
    base = ["run", "llm-variance-aware", "--preset", "paper"]
    assert parser.parse_args(base).study_schedule is None                       # the preset decides
    assert parser.parse_args([*base, "--no-study-schedule"]).study_schedule is False
    assert parser.parse_args(["run", "llm-variance-aware", "--study-schedule"]).study_schedule is True
    assert va.Config.from_preset("quick").study_schedule is False
    assert len(va.methods((3,), False, False)) == 6 and len(va.methods((3,), True, True)) == 14
    assert len(va.methods((3,), True, True, converged=True)) == 14 + 5  # single and every corrected method
    shown = " ".join(inproc("run", "llm-variance-aware", "--help").stdout.split())
    assert "--study-schedule, --no-study-schedule" in shown and "(default: quick False; paper True)" in shown
    assert cli._typed(["--no-study-schedule"], "--study-schedule", False) == "--no-study-schedule"
    assert cli._typed(["--study-schedule"], "--study-schedule", True) == "--study-schedule"
