"""Render a finished `jaxkd reproduce` folder's report again with this checkout's report code.

    python scripts/render_report.py RUN_DIR OUT_DIR

Writes OUT_DIR/report.html and OUT_DIR/report.md (figures embedded from RUN_DIR; RUN_DIR itself
is not changed). The numbers are the run's own (its results.json files, theory checks and
summary.json); claims are judged again by this code. For looking at a report after changing
jaxkd/report.py or jaxkd/document.py without recomputing the study.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    run, out = Path(argv[0]), Path(argv[1])
    if not (run / "summary.json").is_file():
        print(f"{run} is not a finished jaxkd reproduce folder (no summary.json).", file=sys.stderr)
        return 2
    sys.path.insert(0, str(ROOT))
    from jaxkd import document
    from jaxkd.reproduce import report_from_folder

    study_doc, summary = report_from_folder(run)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(document.to_markdown(study_doc))
    (out / "report.html").write_text(document.to_html(study_doc, run, title=f"jaxkd reproduce ({summary['preset']})"))
    print(out / "report.html")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
