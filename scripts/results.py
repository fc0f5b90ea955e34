"""Regenerate docs/results.md from a reference run's summary.json.

    python scripts/results.py RUN_DIR   # replace docs/reference/ by RUN_DIR's numbers first
    python scripts/results.py           # regenerate from docs/reference/summary.json

docs/reference/ holds a run's numbers and nothing else: summary.json, the run's config.json, every
step's config.json and results.json, and the theory checks (no figures, no report), so that
tests/test_report.py can rebuild the whole report from them.

`make results` runs the first form on runs/reproduce-quick. tests/test_readme.py checks that the
committed docs/results.md is what this script makes of docs/reference/summary.json.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "reference" / "summary.json"
RESULTS = ROOT / "docs" / "results.md"


def render(summary: dict, source: str = "docs/reference/summary.json") -> str:
    """docs/results.md's text for ``summary`` (a summary.json's contents kept at ``source``)."""
    sys.path.insert(0, str(ROOT))
    from jaxkd import document, report

    return document.to_markdown(report.results_document(summary, source), ids=False)


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        print(__doc__, file=sys.stderr)
        return 2
    if argv:
        run = Path(argv[0])
        if not (run / "summary.json").is_file():
            print(f"{run}/summary.json does not exist: give the folder of a finished jaxkd reproduce run.",
                  file=sys.stderr)
            return 2
        folder = REFERENCE.parent
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        for path in [run / "summary.json", run / "config.json", *sorted(run.glob("*/config.json")),
                     *sorted(run.glob("*/results.json")), *sorted(run.glob("theory/checks.json"))]:
            target = folder / path.relative_to(run)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    RESULTS.write_text(render(json.loads(REFERENCE.read_text())))
    print(f"wrote {RESULTS.relative_to(ROOT)} from {REFERENCE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
