"""Two JAX processes on this machine form one CPU cluster (jax.distributed, gloo collectives,
coordinator on 127.0.0.1): the student axis is split across them and each process ends with
the results a one-process run gives at the same --chunk, bit for bit."""

import json
import os
import socket
import subprocess
import sys

import pytest

CASES = {
    "teacher-noise-linear": ["run", "teacher-noise", "--students", "10", "--alphas", "0.5,2", "--chunk", "2"],
    "teacher-noise-mlp": ["run", "teacher-noise", "--model", "mlp", "--students", "10", "--epochs", "5",
                          "--alphas", "0,1", "--chunk", "2"],
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(args, out, extra=()):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "jaxkd.cli", *args, "--out", str(out), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


@pytest.mark.parametrize("name", [n if n == "teacher-noise-linear" else pytest.param(n, marks=pytest.mark.slow)
                                  for n in CASES])  # make test: the linear case; make test-all: both
def test_two_processes_give_the_one_process_results(tmp_path, name):
    port = _free_port()
    procs = [_start(CASES[name], tmp_path / f"p{i}", ["--coordinator", f"127.0.0.1:{port}",
                                                      "--num-processes", "2", "--process-id", str(i)])
             for i in range(2)]
    single = _start(CASES[name], tmp_path / "single")
    for p in [*procs, single]:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    one = json.loads((tmp_path / "single" / "results.json").read_text())
    for i in range(2):
        assert json.loads((tmp_path / f"p{i}" / "results.json").read_text()) == one


def test_cluster_options_go_together(tmp_path):
    from jaxkd import cli

    assert cli.main(["run", "teacher-noise", "--coordinator", "127.0.0.1:1", "--out", str(tmp_path / "o")]) == 2
    assert cli.main(["run", "teacher-noise", "--coordinator", "nohost", "--num-processes", "2",
                     "--process-id", "0", "--out", str(tmp_path / "o")]) == 2
    assert cli.main(["run", "teacher-noise", "--coordinator", "127.0.0.1:1", "--num-processes", "2",
                     "--process-id", "2", "--out", str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o").exists()
