"""The closed forms install as ``jaxkd.theory`` (from the top-level theory/ folder), and the
package list in pyproject.toml names every package folder on disk."""

import importlib.util
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_package_list_names_every_package_folder():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "jaxkd").rglob("__init__.py")}
    assert set(setuptools["packages"]) == on_disk | {"jaxkd.theory"}
    assert setuptools["package-dir"] == {"jaxkd.theory": "theory"}
    assert (ROOT / "theory" / "__init__.py").is_file() and not (ROOT / "jaxkd" / "theory").exists()


def test_theory_imports_as_jaxkd_theory_and_nothing_generic_is_installed():
    import jaxkd.theory
    from jaxkd.theory import closed_forms, verify

    assert Path(jaxkd.theory.__file__).parent == ROOT / "theory"
    assert closed_forms.__name__ == "jaxkd.theory.closed_forms" and verify.cf is closed_forms
    # A bare `theory` resolves, if at all, to the source tree on sys.path, never to an installed
    # copy in site-packages.
    spec = importlib.util.find_spec("theory")
    assert spec is None or Path(spec.origin).parent == ROOT / "theory"


@pytest.mark.slow
def test_wheel_holds_jaxkd_theory_and_no_top_level_theory(tmp_path):
    import subprocess
    import zipfile

    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    names = zipfile.ZipFile(next(tmp_path.glob("*.whl"))).namelist()
    assert {"jaxkd/theory/__init__.py", "jaxkd/theory/closed_forms.py", "jaxkd/theory/verify.py"} <= set(names)
    assert not any(n.startswith("theory/") for n in names)
