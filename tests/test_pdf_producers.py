"""PDF paragraphs from five real producers: exact paragraph counts, texts, pages and headings.

The same three-page board paper (tests/pdf_producers.py) is made by fpdf2, reportlab,
LibreOffice (flat ODT), a Word-style .docx through LibreOffice, and headless Chromium's
print-to-PDF. Each lays paragraphs out differently (an extra 4 mm, a first-line indent
and no gap, "Text body" spacing, 8 pt after, a 0.8 em margin), so a splitter tuned to one
producer fails another. The slow producers (soffice, Chromium) run once per session.
"""

from __future__ import annotations

import re

import pytest

import pdf_producers as producers
from casestudy.ingest import readers


@pytest.fixture(scope="session")
def produced(tmp_path_factory):
    """``produced(name)`` → that producer's PDF, made once per test session."""
    made: dict[str, object] = {}

    def get(name: str):
        if name not in made:
            try:
                made[name] = producers.make(name, tmp_path_factory.mktemp(f"pdf-{name}"))
            except FileNotFoundError as exc:  # the program is not installed here
                made[name] = exc
        if isinstance(made[name], Exception):
            pytest.skip(f"{name}: {made[name]} is not installed")
        return made[name]

    return get


def words(text: str) -> str:
    return " ".join(text.split())


PRODUCERS = [pytest.param(name, marks=pytest.mark.render) if name in producers.SLOW else name for name in producers.PRODUCERS]


@pytest.mark.parametrize("producer", PRODUCERS)
def test_paragraphs_pages_and_headings_are_exact(produced, producer):
    parsed = readers.read_document(produced(producer))
    assert parsed.pages == 3
    got = [(e.page, " ".join(e.text.split()[:3]), e.heading) for e in parsed.excerpts]
    assert got == producers.EXPECTED


@pytest.mark.parametrize("producer", PRODUCERS)
def test_paragraph_texts_are_whole_and_clean(produced, producer):
    """Every paragraph word for word: nothing merged, split, lost, or glued together, no
    running header, footer or page number inside."""
    parsed = readers.read_document(produced(producer))
    assert [words(e.text) for e in parsed.excerpts] == [words(p) for p in producers.PARAGRAPHS]


@pytest.mark.parametrize("producer", PRODUCERS)
def test_the_long_paragraph_really_crosses_the_page_break(produced, producer):
    """The fixture is what it claims: the long paragraph starts on page 1 and ends on page 2
    (read with PDFium's own text extraction, not the reader under test)."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(str(produced(producer)))
    try:
        pages = [words(re.sub(r"-\s*\n", "-", document[i].get_textpage().get_text_range())) for i in range(len(document))]
    finally:
        document.close()
    opening = " ".join(producers.LONG_PARAGRAPH.split()[:8])
    ending = " ".join(producers.LONG_PARAGRAPH.split()[-8:])
    assert opening in pages[0] and ending not in pages[0]
    assert ending in pages[1]


def test_a_page_of_one_line_paragraphs_is_not_one_paragraph(tmp_path):
    """Page 3 of the fpdf2 paper, alone: only one-line paragraphs 4 mm apart, so the page's
    closest lines are already a paragraph apart; the document's line pitch decides."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_margins(25, 20, 25)
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    pdf.multi_cell(0, 5.5, producers.PARAGRAPHS[1], new_x="LMARGIN", new_y="NEXT")  # a wrapped paragraph: the pitch
    pdf.add_page()
    for text in ["The chief nurse presented the report.", "No incidents were reported.", "The committee noted it."]:
        pdf.multi_cell(0, 5.5, text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
    pdf.output(str(tmp_path / "short.pdf"))
    parsed = readers.read_document(tmp_path / "short.pdf")
    assert [(e.page, e.text) for e in parsed.excerpts][1:] == [
        (2, "The chief nurse presented the report."), (2, "No incidents were reported."), (2, "The committee noted it."),
    ]
