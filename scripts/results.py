"""Regenerate docs/results.md from a reference run's summary.json.

    python scripts/results.py RUN_DIR   # copy RUN_DIR/summary.json to docs/reference/ first
    python scripts/results.py           # regenerate from docs/reference/summary.json

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
        REFERENCE.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(run / "summary.json", REFERENCE)
    RESULTS.write_text(render(json.loads(REFERENCE.read_text())))
    print(f"wrote {RESULTS.relative_to(ROOT)} from {REFERENCE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
