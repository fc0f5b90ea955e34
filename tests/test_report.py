"""The study report of a real quick run, rebuilt from the run's stored numbers (docs/reference:
every step's config.json and results.json, the theory checks and summary.json of the
reference run behind docs/results.md): every section renders, every table keeps its columns,
every formula and statement appears verbatim, every link lands, and both renderers agree."""

import html
import shutil
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from jaxkd import document as doc
from jaxkd import study
from jaxkd.reproduce import report_from_folder
from test_document import parse

REFERENCE = Path(__file__).parent.parent / "docs" / "reference"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    run = tmp_path_factory.mktemp("reference") / "run"
    shutil.copytree(REFERENCE, run)
    study_doc, summary = report_from_folder(run, redraw=True)  # the figures are drawn again
    return run, study_doc, summary, doc.to_html(study_doc, run), doc.to_markdown(study_doc)


def text_of(page: str) -> str:
    """The visible text of an HTML page (tags dropped, entities decoded), whitespace collapsed."""
    import re

    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"<img [^>]*>", " ", page))).split())


def test_every_step_and_section_is_rendered(rendered):
    run, study_doc, summary, page, _ = rendered
    got = parse(page)
    steps = [p.name for p in sorted(run.iterdir()) if (p / "results.json").is_file() and "@" not in p.name]
    assert len(steps) >= 14  # every experiment of the study, each model class
    assert set(steps) <= set(got.ids)
    # The same steps at other budgets have no section of their own: their verdicts are in the
    # summary's table of every fit, their folders in the run details.
    refits = [p.name for p in sorted(run.iterdir()) if "@" in p.name]
    assert refits and all(r not in got.ids for r in refits) and "summary-fits" in got.ids
    assert {"summary", "key-figures", "theory", "run-details"} <= set(got.ids)
    assert len(got.ids) == len(set(got.ids))  # anchors are unique
    assert {link.lstrip("#") for link in got.links if link.startswith("#")} <= set(got.ids)  # every link lands
    figures = list(study_doc.figures())
    assert len(got.images) == len(figures) and all(src.startswith("data:image/png;base64,") for src in got.images)
    # The summary and key figures come before the first study section, the run details last.
    order = [page.index(f'id="{a}"') for a in ("summary", "key-figures", "teacher", "theory", "run-details")]
    assert order == sorted(order)


def test_every_table_keeps_its_columns(rendered):
    _, study_doc, _, page, md = rendered
    tables = parse(page).tables
    assert len(tables) == len(list(study_doc.tables())) >= 20
    for table in tables:
        assert all(len(row) == len(table[0]) for row in table), table[0]
    # The markdown renderer gives the same cells (through a CommonMark + GitHub tables parser).
    from_md = parse(MarkdownIt("commonmark", {"html": True}).enable("table").render(md)).tables
    norm = [[[" ".join(c.split()) for c in row] for row in t] for t in tables]
    assert [[[" ".join(c.split()) for c in row] for row in t] for t in from_md] == norm


def test_formulas_and_statements_appear_verbatim(rendered):
    run, _, summary, page, _ = rendered
    import json

    text = text_of(page)
    checks = json.loads((run / "theory" / "checks.json").read_text())
    for c in checks:  # the theory checks' own strings, |, * and ^ included
        assert " ".join(c["case"].split()) in text, c["case"]
    for statement in study.THEOREMS.values():
        assert statement in text, statement
    for f in summary["findings"]:
        assert " ".join(f["statement"].split()) in text
    for formula in ("c = tr(X* G⁻¹ X*ᵀ)/m", "(τ²/b)xᵀΣ⁻¹x (5.2)", "V = σ²c (4.1)", "V (σ²/k)c (7.1)",
                    "ε ~ N(0, s²)"):
        assert formula in text, formula


def test_run_details_are_in_run_order_with_provenance(rendered):
    run, _, summary, page, _ = rendered
    import json

    details = parse(page).tables[-1]
    top = json.loads((run / "config.json").read_text())
    planned = ["theory", *top["steps"], *top["refits"]]
    assert [row[0] for row in details[1:]] == [s for s in planned if s in summary["seconds"]]
    assert summary["provenance"]["source_sha256"] in page and summary["provenance"]["commit"] in page
