"""jaxkd.document: text shown exactly as written in both renderers, whatever characters it holds."""

from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from jaxkd import document as doc

# Characters that markdown, GitHub tables or HTML could read as markup, and some that could not.
NASTY = "|*_`\\[]()<>#!&$~+-=.:;1 \"'xσ²ᵀ⁻¹θ̂"
texts = st.text(alphabet=NASTY, min_size=1, max_size=30).filter(lambda s: s.strip())


class Tables(HTMLParser):
    """Every table of an HTML page as rows of cell texts (header row first), every <p> text,
    and every element id."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables, self.paragraphs, self.ids, self.links, self.images = [], [], [], [], []
        self._cell = self._p = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.append(attrs["id"])
        if tag == "a" and "href" in attrs:
            self.links.append(attrs["href"])
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "p":
            self._p = []

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.tables[-1][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "p" and self._p is not None:
            self.paragraphs.append("".join(self._p))
            self._p = None

    def handle_data(self, data):
        for buf in (self._cell, self._p):
            if buf is not None:
                buf.append(data)


def parse(page: str) -> Tables:
    p = Tables()
    p.feed(page)
    return p


def md_to_html(md: str) -> str:
    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"]).render(md)


@settings(max_examples=300)  # milliseconds each
@given(st.lists(texts, min_size=2, max_size=4), texts, texts)
def test_any_text_survives_both_renderers(cells, para, formula):
    d = doc.Section("t", [doc.Paragraph(para, " ", doc.Formula(formula)),
                          doc.Table([f"h{i}" for i in range(len(cells))], [cells, cells[::-1]])])
    for page in (md_to_html(doc.to_markdown(d)), doc.to_html(d, ".")):
        got = parse(page)  # whitespace is not content: runs of it compare as one space
        norm = [" ".join(c.split()) for c in cells]
        tables = [[[" ".join(c.split()) for c in row] for row in t] for t in got.tables]
        assert tables == [[[f"h{i}" for i in range(len(cells))], norm, norm[::-1]]]
        assert [" ".join(p.split()) for p in got.paragraphs] == [" ".join(f"{para} {formula}".split())]


def test_the_issues_corruptions_are_gone(tmp_path):
    """The cells issue 22 found broken: a `|` in a measured value, formulas with `*`."""
    rows = [["4.3", "E MSE vs observed labels = ||X*θ̄ − y*||²/m + σ²c", 0.412, 0.413, 0.003511, "pass"],
            ["5.1", "teacher-labelled bootstrap b=40: max |f_s − f_T|", 0.0, 1e-12, 3e-9, "pass"],
            ["X.1", "(4σ²bᵀH*b + 2σ⁴tr H*²)/m²", 1, 2, 3, "pass"]]
    d = doc.Section("r", [doc.Table(["result", "statement", "closed form", "simulated", "tolerance", ""], rows),
                          doc.Paragraph("c = ", doc.Formula("tr(X* G⁻¹ X*ᵀ)/m"), " and X*ᵀX*")])
    for page in (md_to_html(doc.to_markdown(d)), doc.to_html(d, tmp_path)):
        got = parse(page)
        assert all(len(r) == 6 for r in got.tables[0])
        assert got.tables[0][1][1] == rows[0][1] and got.tables[0][2][1] == rows[1][1]
        assert got.tables[0][1][2:] == ["0.412", "0.413", "0.003511", "pass"]
        assert got.paragraphs == ["c = tr(X* G⁻¹ X*ᵀ)/m and X*ᵀX*"]
        assert "<em>" not in page


def test_anchors_are_stable_unique_and_linked(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f.png").write_bytes(b"\x89PNG\r\n\x1a\nfake")
    inner = doc.Section("Results", [doc.Figure("f.png", "a figure")])
    d = doc.Section("Study", [doc.Contents(), doc.Section("Summary", [doc.Figure("a/f.png", "key <1>", link="#step-a")]),
                              doc.Section("Teacher σ² sweep", [doc.relocate(inner, "a", anchor="step-a")]),
                              doc.Section("Other", [doc.Section("Results")]), doc.Section("Summary")])
    names = sorted(doc.anchors(d).values())
    assert names == sorted(["study", "summary", "teacher-2-sweep", "step-a", "other", "results", "study-summary"])
    assert doc.anchors(d) == doc.anchors(d)
    page = doc.to_html(d, tmp_path)
    got = parse(page)
    assert set(got.ids) == set(names)
    assert {x.lstrip("#") for x in got.links} == set(names) - {"study"}  # every section in the contents
    assert got.images[0].startswith("data:image/png;base64,") and len(got.images) == 2
    assert '<figcaption><a href="#step-a">key &lt;1&gt;</a></figcaption>' in page
    md = doc.to_markdown(d)
    assert "](#step-a)" in md and "![a figure](a/f.png)" in md and "![key \\<1\\>](a/f.png)\n\n[key \\<1\\>](#step-a)" in md and '## <a id="teacher-2-sweep"></a>Teacher σ² sweep' in md
    with pytest.raises(ValueError, match="does not exist"):
        doc.to_html(doc.Section("x", [doc.Figure("missing.png", "m")]), tmp_path)


def test_markup_is_explicit_and_escaped():
    d = doc.Section("<b>&</b>", [doc.Paragraph(doc.Strong("a*b"), " ", doc.Emph("_c_"), " ", doc.Code("x | `y`"),
                                               " ", doc.Link("l<", "#a\"b")),
                                 doc.BulletList(["- not a sublist", ("1. not ordered", doc.Strong("!"))])])
    page = doc.to_html(d, ".")
    assert "<h1>&lt;b&gt;&amp;&lt;/b&gt;</h1>" in page and "<strong>a*b</strong>" in page
    assert "<em>_c_</em>" in page and "<code>x | `y`</code>" in page and 'href="#a&quot;b"' in page
    rendered = md_to_html(doc.to_markdown(d))
    assert "<strong>a*b</strong>" in rendered and "<em>_c_</em>" in rendered and "<code>x | `y`</code>" in rendered
    assert "<li>- not a sublist</li>" in rendered and "<li>1. not ordered<strong>!</strong></li>" in rendered
    assert '<h1><a id="b-b"></a>&lt;b&gt;&amp;&lt;/b&gt;</h1>' in rendered
    # Code in a table cell: GitHub's row splitting sees its |, so the renderer escapes it there.
    cell = md_to_html(doc.to_markdown(doc.Section("c", [doc.Table(["a", "b"], [[doc.Code("x | y"), "z"]])])))
    assert parse(cell).tables[0][1] == ["x | y", "z"]


def test_tables_refuse_ragged_rows_and_unknown_parts():
    with pytest.raises(ValueError, match="row 1 has 1 cells for 2 headers"):
        doc.Table(["a", "b"], [[1, 2], [3]])
    with pytest.raises(TypeError):
        doc.Paragraph(3.0)
    with pytest.raises(TypeError):
        doc.Section("x", ["a string is not a block"])


def test_cells_format_numbers_once():
    t = doc.Table(["x"], [[0.123456], [None], [float("nan")], [7], [1.5e-5]])
    got = parse(doc.to_html(doc.Section("n", [t]), "."))
    assert [r[0] for r in got.tables[0][1:]] == ["0.1235", "n/a", "n/a", "7", "1.500e-05"]
