"""jaxkd installs by package discovery: every package folder under jaxkd/ (the theory is
jaxkd/theory) is in the wheel, nothing generic named ``theory`` beside it, and the mutation
table the tests use (tests/mutation.py) does not ship."""

import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_packages_are_discovered_not_listed():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools["packages"] == {"find": {"include": ["jaxkd*"]}} and "package-dir" not in setuptools
    assert not (ROOT / "theory").exists() and (ROOT / "jaxkd" / "theory" / "__init__.py").is_file()
    assert not (ROOT / "jaxkd" / "theory" / "mutation.py").exists()


def test_theory_imports_as_jaxkd_theory():
    import jaxkd.theory
    from jaxkd.theory import closed_forms, verify

    assert Path(jaxkd.theory.__file__).parent == ROOT / "jaxkd" / "theory"
    assert closed_forms.__name__ == "jaxkd.theory.closed_forms" and verify.cf is closed_forms


@pytest.mark.slow
def test_wheel_holds_every_package_and_no_top_level_theory(tmp_path):
    import subprocess
    import zipfile

    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    names = set(zipfile.ZipFile(next(tmp_path.glob("*.whl"))).namelist())
    on_disk = {p.relative_to(ROOT).as_posix() for p in (ROOT / "jaxkd").rglob("__init__.py")}
    assert on_disk <= names and {"jaxkd/theory/closed_forms.py", "jaxkd/theory/verify.py"} <= names
    assert not any(n.startswith("theory/") or n.endswith("mutation.py") for n in names)
