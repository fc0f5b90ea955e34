"""jaxkd.provenance (what code, packages and devices made a result) and jaxkd.progress (lines
without a terminal)."""

import io
import re
import time

import pytest

from jaxkd import progress, provenance
from jaxkd.runs import RunDir


@pytest.fixture
def fake_code(tmp_path, monkeypatch):
    """jaxkd's "code" replaced by a small package folder the test can edit."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "a.py").write_text("x = 1\n")
    monkeypatch.setattr(provenance, "_roots", lambda: (pkg,))
    provenance.source_digest.cache_clear()
    yield pkg
    provenance.source_digest.cache_clear()


def test_source_digest_changes_with_any_file(fake_code):
    first = provenance.source_digest()
    assert re.fullmatch("[0-9a-f]{64}", first)
    provenance.source_digest.cache_clear()
    assert provenance.source_digest() == first  # deterministic
    (fake_code / "__pycache__").mkdir()
    (fake_code / "__pycache__" / "a.cpython.pyc").write_bytes(b"compiled")
    provenance.source_digest.cache_clear()
    assert provenance.source_digest() == first  # caches are not code
    (fake_code / "a.py").write_text("x = 2\n")
    provenance.source_digest.cache_clear()
    assert provenance.source_digest() != first


def test_resume_refuses_a_run_made_by_other_code(fake_code, tmp_path):
    RunDir.open(tmp_path / "run", {"a": 1})
    RunDir.open(tmp_path / "run", {"a": 1}, resume=True)
    (fake_code / "b.py").write_text("# a new module\n")
    provenance.source_digest.cache_clear()
    with pytest.raises(ValueError, match="written by other code .* cannot be resumed: pass --overwrite"):
        RunDir.open(tmp_path / "run", {"a": 1}, resume=True)
    RunDir.open(tmp_path / "run", {"a": 1}, overwrite=True)


def test_record_names_code_packages_and_devices():
    rec = provenance.record()
    assert set(rec) >= {"version", "commit", "modified", "source_sha256", "packages", "python", "devices"}
    assert {"jax", "jaxlib", "flax", "optax", "numpy"} <= set(rec["packages"])
    assert rec["devices"]["count"] >= 1 and rec["devices"]["kind"]
    if rec["commit"] is not None:  # a git checkout (this repository): the version carries the commit
        assert re.fullmatch("[0-9a-f]{40}", rec["commit"])
        assert rec["version"].startswith(f"0.1.0+g{rec['commit'][:8]}")
    line = provenance.describe(rec)
    assert f"jax {rec['packages']['jax']}" in line and "source sha256" in line


def test_record_names_the_cpu_and_the_instruction_set_cap(monkeypatch, tmp_path):
    """Numbers depend on the instruction set XLA compiles for, so the record names the CPU and
    the XLA flags (a cap) it ran under; the report's provenance table shows them."""
    from jaxkd.report import _cpu

    fake = tmp_path / "cpuinfo"
    fake.write_text("processor\t: 0\nmodel name\t: Test CPU 9000\nflags\t\t: fpu sse2 avx2 fma\n\n"
                    "processor\t: 1\nmodel name\t: Other CPU\nflags\t\t: avx512f\n")
    info, flags = provenance.cpu_info(str(fake))
    assert info["model name"] == "Test CPU 9000" and flags == {"fpu", "sse2", "avx2", "fma"}  # the first processor
    assert provenance.cpu_info(str(tmp_path / "absent")) == ({}, set())
    monkeypatch.setattr(provenance, "cpu_info", lambda: (info, flags))
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_max_isa=AVX2")
    c = provenance.record()["cpu"]
    assert c == {"model": "Test CPU 9000", "vector_extensions": ["avx2", "fma"], "xla_flags": "--xla_cpu_max_isa=AVX2"}
    assert _cpu(c) == "Test CPU 9000 (avx2, fma); XLA_FLAGS --xla_cpu_max_isa=AVX2"
    assert _cpu(None) == "not recorded"


class Terminal(io.StringIO):
    def isatty(self):
        return True


LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (.*)$")


def test_lines_without_a_terminal_at_least_every_interval(monkeypatch):
    monkeypatch.setenv("JAXKD_PROGRESS_INTERVAL", "0.2")
    monkeypatch.delenv("JAXKD_PROGRESS", raising=False)
    out = io.StringIO()
    with progress.task("outer", total=3, unit="step", stream=out) as outer:
        outer.advance(1)
        with progress.task("distilling", total=10, stream=out) as p:
            p.advance(4, note="loss 0.5")
            time.sleep(0.9)  # one long call: no advance, the heartbeat still writes
        outer.advance(2)
    lines = out.getvalue().splitlines()
    bodies = [LINE.match(x).group(1) for x in lines]  # every line is timestamped
    assert bodies[0] == "outer: started, 0/3 steps (0%)"
    assert bodies[1] == "outer 2/3 > distilling: started, 0/10 steps (0%)"
    beats = [b for b in bodies if b.startswith("outer 2/3 > distilling: 4/10 steps (40%)")]
    assert len(beats) >= 3 and all(b.endswith("loss 0.5") for b in beats)
    assert any(b.startswith("outer 2/3 > distilling: done, 4/10 steps (40%) in") for b in bodies)
    assert bodies[-1].startswith("outer: done, 3/3 steps (100%) in")


def test_bar_on_a_terminal_and_silence_when_off(monkeypatch):
    monkeypatch.delenv("JAXKD_PROGRESS", raising=False)
    tty = Terminal()
    with progress.task("sweep", total=4, unit="point", stream=tty) as p:
        p.advance(4, note="alpha 1")
    assert "sweep:" in tty.getvalue() and "/4 [" in tty.getvalue() and not LINE.match(tty.getvalue().strip())
    monkeypatch.setenv("JAXKD_PROGRESS", "off")
    quiet = io.StringIO()
    with progress.task("sweep", total=4, stream=quiet) as p:
        p.advance(4)
    progress.log("hello", stream=quiet)
    assert quiet.getvalue() == ""


def test_quiet_third_party_silences_hugging_face(monkeypatch):
    for var in ("HF_HUB_DISABLE_PROGRESS_BARS", "TRANSFORMERS_VERBOSITY"):
        monkeypatch.delenv(var, raising=False)
    progress.quiet_third_party()
    import os

    assert os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1" and os.environ["TRANSFORMERS_VERBOSITY"] == "error"
