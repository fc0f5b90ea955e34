"""Every notebook runs top to bottom through the library API and shows its figures."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

FOLDER = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(FOLDER.glob("*.ipynb"))


def test_one_notebook_per_study_section():
    assert [p.stem.split("_", 1)[1] for p in NOTEBOOKS] == [
        "teacher_noise", "initialization", "output_uncertainty", "variance_aware", "language_models", "theory"]


def test_notebooks_are_what_build_writes(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("build", FOLDER / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    build.build(tmp_path)
    def cells(path):
        return [(c.cell_type, c.source) for c in nbformat.read(path, 4).cells]

    for p in NOTEBOOKS:
        assert cells(tmp_path / p.name) == cells(p), f"{p.name}: rerun notebooks/build.py"


# Every notebook runs in make test (the language-model one shows the distill API on tiny models:
# seconds, not the study's experiments).
_HEAVY: set[str] = set()


@pytest.mark.parametrize("path", [pytest.param(p, marks=pytest.mark.slow) if p.stem in _HEAVY else p
                                  for p in NOTEBOOKS], ids=lambda p: p.stem)
def test_notebook_executes_and_shows_figures(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert images, f"{path.name} shows no figure"
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    # Clean: no warnings on stderr (TqdmWarning, Hugging Face advisories, deprecations).
    noise = [o.get("text", "") for c in nb.cells for o in c.get("outputs", [])
             if o.get("output_type") == "stream" and o.get("name") == "stderr" and "Warning" in o.get("text", "")]
    assert not noise, noise

