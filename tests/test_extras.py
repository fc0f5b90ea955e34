"""`pip install jaxkd` without the llm extra: the tabular toolkit, the theory and `jaxkd run
teacher-noise` work; jaxkd.llm and the llm-* experiments refuse with one sentence naming the
install command. The llm packages are hidden in a fresh interpreter: a finder placed first on
sys.meta_path answers every import of them as a module that does not exist, as if they were not
installed (a None in sys.modules would not do: scipy probes sys.modules for torch)."""

import json
import subprocess
import sys

HIDE = """
import importlib.abc
import sys
LLM = ("torch", "transformers", "tokenizers", "safetensors", "sentence_transformers")

class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in LLM:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Hide())
"""


def blocked(code: str, tmp_path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", HIDE + code], capture_output=True, text=True, cwd=tmp_path,
                          timeout=600)


def test_tabular_toolkit_and_cli_without_the_llm_packages(tmp_path):
    r = blocked("""
import json
import numpy as np
from jaxkd import cli, targets, teachers, uncertainty
from jaxkd.students import ensemble, linear, mlp
from jaxkd.theory import closed_forms
codes = [cli.main(["run", "teacher-noise", "--students", "5", "--alphas", "0.5", "--out", "tn"]),
         cli.main(["reproduce", "--only", "teacher-noise-linear", "--out", "rep"]),
         cli.main(["run", "llm-output", "--out", "llm"])]
used = sorted(m for m in sys.modules if m.split(".")[0] in LLM)
print(json.dumps({"codes": codes, "used": used}))
""", tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out == {"codes": [0, 0, 2], "used": []}
    assert (tmp_path / "tn" / "results.json").is_file() and (tmp_path / "rep" / "report.html").is_file()
    refusal = [x for x in r.stderr.splitlines() if x.startswith("jaxkd: error:")]
    assert refusal == [refusal[0]] and "pip install 'jaxkd[llm]'" in refusal[0] and not (tmp_path / "llm").exists()
    summary = json.loads((tmp_path / "rep" / "summary.json").read_text())
    assert summary["findings"] and not any(f["claim"].startswith("llm") for f in summary["findings"])


def test_llm_parts_refuse_with_the_install_command(tmp_path):
    r = blocked("""
try:
    import jaxkd.llm
except ImportError as exc:
    print(exc)
""", tmp_path)
    assert r.returncode == 0, r.stderr
    line = r.stdout.strip()
    assert line.count("\\n") == 0 and line.startswith("jaxkd.llm needs the llm extra (torch, transformers")
    assert "pip install 'jaxkd[llm]'" in line and "download.pytorch.org/whl/cpu" in line
    r = blocked("""
from jaxkd import cli
sys.exit(cli.main(["reproduce", "--only", "theory,llm-init", "--out", "rep"]))
""", tmp_path)
    assert r.returncode == 2 and "pip install 'jaxkd[llm]'" in r.stderr and "--only theory." in r.stderr
    assert r.stderr.strip().count("\\n") == 0 and not (tmp_path / "rep").exists()
