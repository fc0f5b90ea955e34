"""Structured documents: a report's content as data, rendered to markdown or HTML by code that
escapes every text it writes.

An experiment's ``document(results)`` returns a :class:`Section`; ``jaxkd reproduce`` nests
those sections into the study's document. Text is always literal: a ``|`` in a table cell, a
``*`` in a formula or a ``<`` in a claim is shown as written, never read as markup. Markup is
expressed by the classes below, never by characters inside strings.

Blocks (what a :class:`Section` holds, in order):

* :class:`Section` -- a heading and its blocks; nested sections are subheadings. Every section
  gets a stable anchor: its ``anchor`` if given, else a slug of its title (made unique in the
  document, deterministically), so links survive re-runs.
* :class:`Paragraph` -- a run of inline parts.
* :class:`BulletList` -- items, each a run of inline parts.
* :class:`Table` -- headers and rows of raw cells: ``str`` (literal text), ``int``/``float``
  (formatted by :func:`jaxkd.formatting.fmt`), ``None`` ("n/a") or an inline part.
* :class:`Figure` -- a PNG path (relative to the folder the document is rendered from) and a
  caption.
* :class:`Contents` -- a linked table of contents of the document's sections.

Inline parts (what a paragraph, list item or cell holds): ``str``, :class:`Strong`,
:class:`Emph`, :class:`Code`, :class:`Formula` (a formula in the report's one notation,
Unicode: ``σ²``, ``θ̂``, ``Xᵀ``, ``G⁻¹``) and :class:`Link` (to ``#anchor`` or a relative path).

Renderers: :func:`to_markdown` (CommonMark with GitHub tables; every special character
backslash-escaped) and :func:`to_html` (one self-contained page: every text HTML-escaped,
figures embedded as data URIs).
"""

from __future__ import annotations

import base64
import dataclasses
import html
import re
import unicodedata
from pathlib import Path
from typing import Iterator, Sequence, Union

from jaxkd.formatting import fmt

# --- inline parts ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Strong:
    text: str


@dataclasses.dataclass(frozen=True)
class Emph:
    text: str


@dataclasses.dataclass(frozen=True)
class Code:
    text: str


@dataclasses.dataclass(frozen=True)
class Formula:
    """A formula, written once in Unicode notation; rendered verbatim (never as markup)."""

    text: str


@dataclasses.dataclass(frozen=True)
class Link:
    text: str
    target: str  # "#anchor" or a path relative to the rendered document


Inline = Union[str, Strong, Emph, Code, Formula, Link]
Cell = Union[Inline, int, float, None]


def _parts(parts) -> tuple:
    for p in parts:
        if not isinstance(p, (str, Strong, Emph, Code, Formula, Link)):
            raise TypeError(f"not an inline part: {p!r}")
    return tuple(parts)


# --- blocks ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, init=False)
class Paragraph:
    parts: tuple

    def __init__(self, *parts: Inline):
        object.__setattr__(self, "parts", _parts(parts))


@dataclasses.dataclass(frozen=True)
class BulletList:
    items: tuple  # of tuples of inline parts

    def __init__(self, items: Sequence):
        items = tuple(_parts(i) if isinstance(i, (tuple, list)) else _parts((i,)) for i in items)
        object.__setattr__(self, "items", items)


@dataclasses.dataclass(frozen=True)
class Table:
    """``headers`` (strings or inline parts) and ``rows`` of raw cells, one per header."""

    headers: tuple
    rows: tuple
    caption: str | None = None

    def __init__(self, headers: Sequence, rows: Sequence[Sequence], caption: str | None = None):
        headers = tuple(headers)
        rows = tuple(tuple(r) for r in rows)
        for i, row in enumerate(rows):
            if len(row) != len(headers):
                raise ValueError(f"table row {i} has {len(row)} cells for {len(headers)} headers.")
        object.__setattr__(self, "headers", headers)
        object.__setattr__(self, "rows", rows)
        object.__setattr__(self, "caption", caption)


@dataclasses.dataclass(frozen=True)
class Figure:
    path: str     # PNG, relative to the folder the document is rendered from
    caption: str
    link: str | None = None  # where the caption leads ("#anchor"), if anywhere


@dataclasses.dataclass(frozen=True)
class Contents:
    """A linked table of contents of the enclosing document, ``depth`` heading levels below
    the document's title."""

    depth: int = 2


@dataclasses.dataclass(frozen=True)
class Section:
    title: str
    blocks: tuple = ()
    anchor: str | None = None

    def __init__(self, title: str, blocks: Sequence = (), anchor: str | None = None):
        blocks = tuple(blocks)
        for b in blocks:
            if not isinstance(b, (Section, Paragraph, BulletList, Table, Figure, Contents)):
                raise TypeError(f"not a block: {b!r}")
        object.__setattr__(self, "title", title)
        object.__setattr__(self, "blocks", blocks)
        object.__setattr__(self, "anchor", anchor)

    def figures(self) -> Iterator[Figure]:
        """Every figure, depth first, in document order."""
        for b in self.blocks:
            if isinstance(b, Figure):
                yield b
            elif isinstance(b, Section):
                yield from b.figures()

    def tables(self) -> Iterator[Table]:
        """Every table, depth first, in document order."""
        for b in self.blocks:
            if isinstance(b, Table):
                yield b
            elif isinstance(b, Section):
                yield from b.tables()


Block = Union[Section, Paragraph, BulletList, Table, Figure, Contents]


def relocate(section: Section, folder: str, *, anchor: str | None = None) -> Section:
    """``section`` with every figure path under ``folder`` (an experiment's section placed in a
    report one folder up), optionally with a new anchor."""

    def move(block):
        if isinstance(block, Figure):
            return Figure(f"{folder}/{block.path}", block.caption, block.link)
        if isinstance(block, Section):
            return Section(block.title, [move(b) for b in block.blocks], block.anchor)
        return block

    return Section(section.title, [move(b) for b in section.blocks],
                   section.anchor if anchor is None else anchor)


# --- anchors -----------------------------------------------------------------------------------


def slug(text: str) -> str:
    """A lowercase ASCII anchor: Greek and other letters transliterated where Unicode can
    decompose them, anything else a hyphen."""
    ascii_ = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_.lower()).strip("-") or "section"


def anchors(doc: Section) -> dict[tuple[int, ...], str]:
    """The anchor of ``doc`` and every subsection, keyed by its path (block indices from
    ``doc``; ``()`` is ``doc``): the explicit anchor, else the title's slug; a repeat gets its
    parent's anchor as prefix, then a number."""
    out: dict[tuple[int, ...], str] = {}
    taken: set[str] = set()

    def visit(sec: Section, path: tuple[int, ...], parent: str):
        base = sec.anchor or slug(sec.title)
        name = base
        if name in taken and parent:
            name = f"{parent}-{base}"
        n = 2
        while name in taken:
            name, n = f"{base}-{n}", n + 1
        taken.add(name)
        out[path] = name
        for i, b in enumerate(sec.blocks):
            if isinstance(b, Section):
                visit(b, (*path, i), name)

    visit(doc, (), "")
    return out


def _toc(doc: Section, names: dict, depth: int) -> list:
    """[(title, anchor, children)] of the sections within ``depth`` levels below ``doc``."""

    def visit(sec: Section, path: tuple, level: int) -> list:
        return [(b.title, names[(*path, i)], visit(b, (*path, i), level + 1) if level < depth else [])
                for i, b in enumerate(sec.blocks) if isinstance(b, Section)]

    return visit(doc, (), 1)


def _cell_text(cell) -> Inline:
    if cell is None:
        return "n/a"
    if isinstance(cell, (bool,)) or not isinstance(cell, (str, Strong, Emph, Code, Formula, Link)):
        return fmt(cell)  # numbers (Python, numpy)
    return cell


# --- markdown ----------------------------------------------------------------------------------

# Every ASCII character CommonMark or GitHub may read as markup; escaping one that would not be
# is harmless (CommonMark allows a backslash before any ASCII punctuation).
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&$!#])")


def escape_markdown(text: str, *, line_start: bool = True) -> str:
    """``text`` as literal markdown inline text: one line, specials backslash-escaped, and
    (``line_start``: the text may begin a line) nothing at its start that would open a block
    (list item, setext underline; indentation is collapsed, and ``#``, ``>``, ``*`` are
    escaped everywhere). A table cell holds inline content only, so no block can open there."""
    text = _MD_SPECIAL.sub(r"\\\1", re.sub(r"\s+", " ", str(text)))
    if not line_start:
        return text
    if text[:1] in ("-", "+", "="):
        return "\\" + text
    return re.sub(r"^(\d+)([.)])", r"\1\\\2", text)


def _md_inline(part: Inline, in_table: bool = False) -> str:
    if isinstance(part, str):
        return escape_markdown(part, line_start=not in_table)
    if isinstance(part, (Strong, Emph)):
        mark, tag = ("**", "strong") if isinstance(part, Strong) else ("*", "em")
        text = escape_markdown(part.text)
        if part.text[:1].isalnum() and part.text[-1:].isalnum():
            return f"{mark}{text}{mark}"
        # Emphasis that starts or ends with punctuation does not open or close next to a word
        # (CommonMark's flanking rules): an inline tag means the same everywhere.
        return f"<{tag}>{text}</{tag}>"
    if isinstance(part, Code):
        text = re.sub(r"\s+", " ", part.text)
        if in_table:
            text = text.replace("|", "\\|")  # GitHub splits a row at every unescaped |, even in code
        fence = "`" * (max((len(r) for r in re.findall(r"`+", text)), default=0) + 1)
        pad = " " if text.startswith("`") or text.endswith("`") else ""
        return f"{fence}{pad}{text}{pad}{fence}"
    if isinstance(part, Formula):
        return escape_markdown(part.text)
    if isinstance(part, Link):
        target = part.target.replace(" ", "%20").replace("(", "%28").replace(")", "%29")
        return f"[{escape_markdown(part.text)}]({target})"
    raise TypeError(part)


def _md_parts(parts, in_table: bool = False) -> str:
    return "".join(_md_inline(p, in_table) for p in parts).strip()


def to_markdown(doc: Section, *, level: int = 1, ids: bool = True) -> str:
    """CommonMark (+ GitHub tables) for ``doc``, its title at heading ``level``. With ``ids``
    every heading starts with an ``<a id>``, so its anchor is the same as in :func:`to_html`
    (leave them out for a terminal)."""
    names = anchors(doc)
    lines: list[str] = []

    def section(sec: Section, path: tuple, depth: int):
        anchor = f'<a id="{names[path]}"></a>' if ids else ""
        lines.append(f"{'#' * min(depth, 6)} {anchor}{escape_markdown(sec.title)}\n")
        for i, b in enumerate(sec.blocks):
            if isinstance(b, Section):
                section(b, (*path, i), depth + 1)
            else:
                lines.append(_md_block(b, doc, names) + "\n")

    section(doc, (), level)
    return "\n".join(lines)


def _md_block(b, doc: Section, names) -> str:
    if isinstance(b, Paragraph):
        return _md_parts(b.parts)
    if isinstance(b, BulletList):
        return "\n".join(f"- {_md_parts(item)}" for item in b.items)
    if isinstance(b, Table):
        def row(cells):
            return "| " + " | ".join(_md_parts((_cell_text(c),), in_table=True) for c in cells) + " |"

        text = "\n".join([row(b.headers), "|" + "---|" * len(b.headers), *(row(r) for r in b.rows)])
        return text if b.caption is None else f"{escape_markdown(b.caption)}\n\n{text}"
    if isinstance(b, Figure):
        path = b.path.replace(" ", "%20").replace("(", "%28").replace(")", "%29")
        image = f"![{escape_markdown(b.caption)}]({path})"
        return image if b.link is None else f"{image}\n\n{_md_inline(Link(b.caption, b.link))}"
    if isinstance(b, Contents):
        def items(tree, indent):
            for title, anchor, children in tree:
                yield f"{indent}- [{escape_markdown(title)}](#{anchor})"
                yield from items(children, indent + "  ")

        return "\n".join(items(_toc(doc, names, b.depth), ""))
    raise TypeError(b)


# --- HTML --------------------------------------------------------------------------------------

_STYLE = """body{font-family:system-ui,sans-serif;max-width:72em;margin:2em auto;padding:0 1em;
line-height:1.45;color:#222}table{border-collapse:collapse;margin:1em 0;font-size:.88em}
td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3}img{max-width:100%;height:auto}figure{margin:1em 0}
figcaption{color:#555;font-size:.9em}code{background:#f5f5f5;padding:0 .2em}
.formula{font-family:"DejaVu Serif",Georgia,serif;white-space:nowrap}
nav.toc ul{margin:.2em 0}h1,h2,h3,h4{scroll-margin-top:1em}
.meta{color:#444;font-size:.92em}
#key-figures>figure{display:inline-block;vertical-align:top;width:48%;margin:0 1% 1em 0}"""


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _html_inline(part: Inline) -> str:
    if isinstance(part, str):
        return _e(part)
    if isinstance(part, Strong):
        return f"<strong>{_e(part.text)}</strong>"
    if isinstance(part, Emph):
        return f"<em>{_e(part.text)}</em>"
    if isinstance(part, Code):
        return f"<code>{_e(part.text)}</code>"
    if isinstance(part, Formula):
        return f'<span class="formula">{_e(part.text)}</span>'
    if isinstance(part, Link):
        return f'<a href="{_e(part.target)}">{_e(part.text)}</a>'
    raise TypeError(part)


def _html_parts(parts) -> str:
    return "".join(_html_inline(p) for p in parts)


def to_html(doc: Section, base_dir, *, title: str | None = None) -> str:
    """One self-contained HTML page for ``doc``: figures (paths relative to ``base_dir``) are
    embedded as PNG data URIs.

    Raises:
      ValueError: a figure's file does not exist.
    """
    names = anchors(doc)
    out: list[str] = []

    def section(sec: Section, path: tuple, depth: int):
        h = min(depth, 6)
        out.append(f'<section id="{_e(names[path])}">\n<h{h}>{_e(sec.title)}</h{h}>')
        for i, b in enumerate(sec.blocks):
            if isinstance(b, Section):
                section(b, (*path, i), depth + 1)
            else:
                out.append(_html_block(b, doc, names, Path(base_dir)))
        out.append("</section>")

    section(doc, (), 1)
    body = "\n".join(out)
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title or doc.title)}</title><style>{_STYLE}</style></head>\n"
            f"<body>\n{body}\n</body></html>\n")


def _html_block(b, doc: Section, names, base: Path) -> str:
    if isinstance(b, Paragraph):
        return f"<p>{_html_parts(b.parts)}</p>"
    if isinstance(b, BulletList):
        return "<ul>\n" + "\n".join(f"<li>{_html_parts(i)}</li>" for i in b.items) + "\n</ul>"
    if isinstance(b, Table):
        head = "".join(f"<th>{_html_parts((_cell_text(h),))}</th>" for h in b.headers)
        body = "\n".join("<tr>" + "".join(f"<td>{_html_parts((_cell_text(c),))}</td>" for c in r) + "</tr>"
                         for r in b.rows)
        cap = "" if b.caption is None else f"<caption>{_e(b.caption)}</caption>"
        return f"<table>{cap}\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"
    if isinstance(b, Figure):
        path = base / b.path
        if not path.is_file():
            raise ValueError(f"the report refers to {path}, which does not exist.")
        data = base64.b64encode(path.read_bytes()).decode()
        caption = _e(b.caption) if b.link is None else f'<a href="{_e(b.link)}">{_e(b.caption)}</a>'
        return (f'<figure><img src="data:image/png;base64,{data}" alt="{_e(b.caption)}">'
                f"<figcaption>{caption}</figcaption></figure>")
    if isinstance(b, Contents):
        def items(tree) -> str:
            if not tree:
                return ""
            return "<ul>" + "".join(f'<li><a href="#{_e(anchor)}">{_e(title)}</a>{items(children)}</li>'
                                    for title, anchor, children in tree) + "</ul>"

        return f'<nav class="toc">{items(_toc(doc, names, b.depth))}</nav>'
    raise TypeError(b)
