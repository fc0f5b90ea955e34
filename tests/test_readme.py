"""The README a newcomer reads: every Python example runs exactly as written, the study is
cited, and the results it points to are generated from a reference run's summary.json."""

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()


def python_blocks(text: str) -> dict[str, str]:
    """Every ```python block, keyed by the heading above it (a number added for a second one)."""
    blocks, heading, code, fenced = {}, "", None, False
    for line in text.splitlines(keepends=True):
        if fenced:
            if line.startswith("```"):
                if code is not None:
                    n = sum(k == heading or k.startswith(f"{heading} (") for k in blocks)
                    blocks[heading if n == 0 else f"{heading} ({n + 1})"] = "".join(code)
                fenced, code = False, None
            elif code is not None:
                code.append(line)
        elif line.startswith("```"):
            fenced, code = True, ([] if line.strip() == "```python" else None)
        elif re.match(r"#{1,6} ", line):
            heading = line.lstrip("#").strip()
    return blocks


LIBRARY = "Library: the corrections on your own teacher"
BLOCKS = python_blocks(README)


def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=ROOT)


def test_every_example_is_run_by_a_test():
    # The two distillation examples run in tests/test_llm_distill.py and the teacher-logits one in
    # tests/test_llm_topk.py (in process, sharing compiled programs); the others here, each in a
    # fresh interpreter as a reader would paste it.
    assert set(BLOCKS) == {LIBRARY, f"{LIBRARY} (2)", "Distil your own language model",
                           "Llama-family teachers and students", "Teacher logits computed once: top k with a tail bucket"}


def test_linear_corrections_example():
    r = run(BLOCKS[LIBRARY])
    assert r.returncode == 0, r.stderr
    V = {line.split()[0]: float(line.split()[1]) for line in r.stdout.splitlines()}
    assert V["averaging"] < V["single"] / 3  # 7.1: about 1/k with k = 5
    assert V["variance-weighting"] < V["single"] / 3


def test_ensemble_example_with_your_own_module():
    r = run(BLOCKS[f"{LIBRARY} (2)"])
    assert r.returncode == 0, r.stderr
    out = dict(line.rsplit(" ", 1) for line in r.stdout.strip().splitlines())
    # Students that learned something (the standardized target has variance 1) and disagree.
    assert 0.0 < float(out["inter-student variance"]) < 1.0 and float(out["test MSE"]) < 0.6


def test_study_is_cited_where_a_reader_looks():
    for text in (README, (ROOT / "docs" / "theorems.md").read_text()):
        text = " ".join(text.split())
        assert "How Is Uncertainty Propagated in Knowledge Distillation?" in text
        assert "arXiv:2601.18909" in text and "Cui" in text and "Pei" in text


def test_readme_links_resolve_and_copies_no_results_by_hand():
    for link in re.findall(r"\]\(((?:docs|jaxkd)/[^)#]+)\)", README):
        assert (ROOT / link).exists(), link
    # Results live in docs/results.md, generated; a 95% interval typed into the README would drift.
    assert not re.search(r"\[-?\d+\.\d+, -?\d+\.\d+\]", README)


def _results_script():
    spec = importlib.util.spec_from_file_location("results_script", ROOT / "scripts" / "results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_results_page_is_generated_from_the_reference_summary():
    script = _results_script()
    summary = json.loads((ROOT / "docs" / "reference" / "summary.json").read_text())
    page = (ROOT / "docs" / "results.md").read_text()
    assert page == script.render(summary), "docs/results.md is stale: python scripts/results.py"
    for f in summary["findings"]:  # every verdict, as measured, is on the page
        assert f["status"] in page and (f["interval"] is None or f"{f['interval'][0]:.4g}" in page)
    assert summary["provenance"]["commit"] in page
    # The check can fail: one verdict changed in the summary changes the page.
    first = summary["findings"][0]
    first["status"] = "reproduced" if first["status"] != "reproduced" else "not reproduced"
    assert script.render(summary) != page


@pytest.mark.parametrize("args", [["nowhere"], ["a", "b"]])
def test_results_script_refuses_bad_input(args):
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "results.py"), *args], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
