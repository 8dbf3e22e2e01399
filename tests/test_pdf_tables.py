"""Ruled tables in real PDFs: a risk register, a decision log, a finance table.

Each table row is one excerpt, its cells joined by " | " (the header row too, once), in
reading order between the paragraphs around the table, exactly as the same table in a
.docx gives. Made by fpdf2 (``FPDF.table``), reportlab platypus (``Table`` with a grid,
over a page break with the header repeated) and LibreOffice from a python-docx file.
"""

from __future__ import annotations

import re

import pytest

import filemakers as fm
from casestudy.ingest import readers

RISKS = [
    ("ID", "Risk", "Score", "Owner"),
    ("R1", "Workforce gaps in the community nursing teams of both places delay discharge from the acute wards", "16",
     "Chief Nurse"),
    ("R2", "Capital shortfall for the shared diagnostic centre", "12", "Director of Finance"),
    ("R3", "Data sharing agreement not signed by every member before the go-live date", "9", "Chief Digital Officer"),
]
BEFORE = "The committee reviewed the risks rated above its appetite."
AFTER = "The committee agreed the mitigations and asked for a further update in June."


def rows(table):
    return [" | ".join(row) for row in table]


def excerpts(path):
    return [(e.page, e.heading, e.text) for e in readers.read_document(path).excerpts]


def fpdf2_register(path, table=RISKS, framed: str | None = None):
    """fpdf2: a bold heading, a paragraph, a ruled table (``FPDF.table``), a paragraph."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_margins(25, 20, 25)
    pdf.add_page()
    pdf.set_font("Helvetica", style="B", size=14)
    pdf.multi_cell(0, 8, "Risk register", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font("Helvetica", size=11)
    pdf.multi_cell(0, 5.5, BEFORE, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    if framed:
        pdf.multi_cell(0, 5.5, framed, border=1, new_x="LMARGIN", new_y="NEXT")
    else:
        with pdf.table(col_widths=(12, 70, 14, 34), text_align="LEFT") as grid:
            for row in table:
                cells = grid.row()
                for value in row:
                    cells.cell(value)
    pdf.ln(4)
    pdf.multi_cell(0, 5.5, AFTER, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


def test_fpdf2_ruled_table_one_excerpt_per_row(tmp_path):
    path = fpdf2_register(tmp_path / "risks.pdf")
    assert excerpts(path) == [(1, "Risk register", text) for text in [BEFORE, *rows(RISKS), AFTER]]


def test_a_framed_paragraph_is_prose_not_a_table(tmp_path):
    """One bordered box is no table: its paragraph reads as a paragraph."""
    note = ("Members should note that the figures in this paper are provisional until the month twelve"
            " accounts have been audited.")
    path = fpdf2_register(tmp_path / "framed.pdf", framed=note)
    assert excerpts(path) == [(1, "Risk register", text) for text in [BEFORE, note, AFTER]]


def test_empty_cells_are_left_out_as_in_docx(tmp_path):
    table = [("Ref", "Action", "Owner", "Due"), ("A1", "Publish the framework", "", "May 2025")]
    path = fpdf2_register(tmp_path / "actions.pdf", table=table)
    assert [t for _, _, t in excerpts(path)][1:3] == ["Ref | Action | Owner | Due", "A1 | Publish the framework | May 2025"]


DECISIONS = [("Ref", "Decision", "Lead")] + [
    (f"D{n}", f"The committee agreed item {n} of the decision log after discussing the options and the risks to"
              " delivery set out in the paper.", "Director of Strategy")
    for n in range(1, 41)
]


def reportlab_log(path):
    """reportlab platypus: a 40-row decision log with a grid, its header repeated on page 2."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Table, TableStyle

    body = ParagraphStyle("body", fontName="Helvetica", fontSize=10, leading=12)
    head = ParagraphStyle("head", fontName="Helvetica-Bold", fontSize=14, leading=18, spaceAfter=8)
    data = [list(DECISIONS[0])] + [[ref, Paragraph(text, body), lead] for ref, text, lead in DECISIONS[1:]]
    table = Table(data, colWidths=[40, 300, 120], repeatRows=1)
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.black),
                               ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold")]))
    story = [Paragraph("Decision log", head), Paragraph(BEFORE, body), table, Paragraph(AFTER, body)]
    SimpleDocTemplate(str(path), pagesize=A4).build(story)
    return path


def test_reportlab_table_over_a_page_break_header_once(tmp_path):
    """Rows keep their own page; the header row reportlab repeats on page 2 is not a second excerpt."""
    import pypdfium2 as pdfium

    path = reportlab_log(tmp_path / "log.pdf")
    document = pdfium.PdfDocument(str(path))
    try:  # the fixture is what it claims: the header row is printed on every page
        printed = [document[i].get_textpage().get_text_range() for i in range(len(document))]
    finally:
        document.close()
    assert len(printed) == 3 and all("Ref" in text and "Decision" in text for text in printed)
    got = excerpts(path)
    assert [text for _, _, text in got] == [BEFORE, *rows(DECISIONS), AFTER]
    assert {heading for _, heading, _ in got} == {"Decision log"}
    # each row is cited at the page that prints it
    def printed_on(ref):
        return next(n for n, text in enumerate(printed, start=1) if re.search(rf"\b{ref}\b", text))

    assert [page for page, _, _ in got] == [1, 1] + [printed_on(ref) for ref, _, _ in DECISIONS[1:]] + [3]


@pytest.mark.parametrize("pdfium", [True, False], ids=["pdfium", "pdfplumber"])
def test_both_pdf_readers_find_the_same_tables(tmp_path, monkeypatch, pdfium):
    """The fallback reader (pdfplumber's edges) reads tables as the fast one (PDFium's paths)."""
    path = reportlab_log(tmp_path / "log.pdf")
    if not pdfium:
        monkeypatch.setattr(readers, "_pdfium_pages", lambda p: None)
    blocks, _ = readers.read_pdf_blocks(path)
    assert [b.text for b in blocks if b.cells] == rows(DECISIONS)


@pytest.mark.render
def test_word_table_reads_the_same_from_docx_and_from_its_pdf(tmp_path):
    """A python-docx board paper with a "Table Grid" table (a merged-looking pair of equal
    neighbouring cells, "0%" | "0%", kept as two), printed by LibreOffice: the PDF's
    excerpts are the .docx's, row for row, with the same headings."""
    from docx import Document

    share = [("Variance", "Lead provider", "ICB", "Sub-contractor"),
             ("Overspend up to £0.75m", "100%", "0%", "0%"),
             ("Overspend above £0.75m", "50%", "50%", "0%")]
    document = Document()
    document.add_heading("Risk and gain share", level=1)
    document.add_paragraph(BEFORE)
    fm.add_word_table(document, share)
    document.add_paragraph(AFTER)
    document.save(str(tmp_path / "share.docx"))
    expected = [BEFORE, *rows(share), AFTER]
    from_docx = [(e.heading, e.text) for e in readers.read_document(tmp_path / "share.docx").excerpts]
    assert from_docx == [("Risk and gain share", text) for text in expected]
    pdf = fm.soffice_pdf(tmp_path / "share.docx", tmp_path / "out")
    if pdf is None:
        pytest.skip("LibreOffice (soffice) is not installed")
    assert excerpts(pdf) == [(1, "Risk and gain share", text) for text in expected]


def test_ingest_stores_one_excerpt_per_row(tmp_path):
    """`casestudy ingest` of the fpdf2 risk register into a real database: the rows are
    excerpts in order, with their page and heading, and the full-text index finds a cell."""
    from click.testing import CliRunner

    from casestudy import db as dblib
    from casestudy.cli.main import cli

    path = fpdf2_register(tmp_path / "risks.pdf")
    db_path = tmp_path / "work.db"
    result = CliRunner().invoke(cli, ["ingest", str(path), "--kind", "board-paper", "--ics", "Kellbridge",
                                      "--date", "2025-03-12", "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    db = dblib.open_db(db_path)
    stored = [(r["page"], r["heading"], r["text"]) for r in db.query("SELECT page, heading, text FROM excerpts ORDER BY seq")]
    assert stored == [(1, "Risk register", text) for text in [BEFORE, *rows(RISKS), AFTER]]
    found = [r["text"] for r in db.query(
        "SELECT e.text FROM excerpts e JOIN excerpts_fts f ON f.rowid = e.id WHERE excerpts_fts MATCH 'diagnostic'")]
    assert found == [rows(RISKS)[2]]


FINANCE = [("Organisation", "Plan £m", "Outturn £m"), ("Ashmoor University Hospitals", "-4.2", "-3.9"),
           ("Dunley General", "-1.1", "-1.3"), ("Kellbridge Community Health", "0.3", "0.1")]
RULED_PROSE = [
    "The committee discussed the plan at length and agreed that the finance directors would bring a revised"
    " trajectory to the next meeting, with the risks to delivery set out in full for each member trust.",
    "Members noted that the system had a combined deficit and that the recovery actions would be reported monthly.",
    "Closing words.",
]


def test_reportlab_table_ruled_by_horizontal_lines_only_and_prose_between_rules(tmp_path):
    """A finance table ruled only above and below its header and below its last row
    (booktabs style, no rule between data rows): columns from the gaps that run through
    every row, a row per line. Paragraphs between full-width rules stay paragraphs."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Table, TableStyle
    from reportlab.platypus.flowables import HRFlowable

    body = ParagraphStyle("body", fontName="Helvetica", fontSize=10, leading=12, spaceAfter=6)
    table = Table([list(row) for row in FINANCE], colWidths=[220, 80, 80])
    table.setStyle(TableStyle([("LINEABOVE", (0, 0), (-1, 0), 1, colors.black),
                               ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.black),
                               ("LINEBELOW", (0, -1), (-1, -1), 1, colors.black)]))
    story = [Paragraph(BEFORE, body), table, Paragraph(AFTER, body)]
    for text in RULED_PROSE:
        story += [HRFlowable(width="100%"), Paragraph(text, body)]
    SimpleDocTemplate(str(tmp_path / "finance.pdf"), pagesize=A4).build(story)
    assert excerpts(tmp_path / "finance.pdf") == [(1, None, text) for text in [BEFORE, *rows(FINANCE), AFTER, *RULED_PROSE]]


@pytest.mark.render
def test_word_table_styles_through_libreoffice(tmp_path):
    """Word's built-in table styles draw their rules differently (every border; an outer box
    and a shaded header; rules under the header and rows only; banded shading): each row is
    still one excerpt, as the .docx gives, with the paragraphs between tables left alone."""
    from docx import Document

    styles = ["Table Grid", "Light List Accent 1", "Light Shading", "Medium Shading 1 Accent 1", "Light Grid", "Light List"]
    document = Document()
    for style in styles:
        document.add_heading(style, level=2)
        document.add_paragraph(BEFORE)
        fm.add_word_table(document, RISKS, style)
        document.add_paragraph(AFTER)
    document.save(str(tmp_path / "styles.docx"))
    expected = [(style, text) for style in styles for text in [BEFORE, *rows(RISKS), AFTER]]
    assert [(e.heading, e.text) for e in readers.read_document(tmp_path / "styles.docx").excerpts] == expected
    pdf = fm.soffice_pdf(tmp_path / "styles.docx", tmp_path / "out")
    if pdf is None:
        pytest.skip("LibreOffice (soffice) is not installed")
    assert [(heading, text) for _, heading, text in excerpts(pdf)] == expected


@pytest.mark.render
def test_chromium_printed_html_table_and_one_line_paragraphs(tmp_path):
    """An HTML board paper printed by headless Chromium (its own date/title header and
    URL/page footer on both pages): a bordered table (collapsed borders) between one-line
    paragraphs; page 2 holds only one-line paragraphs."""
    import html

    import pdf_producers as producers

    decisions = ["The committee approved the risk register.", "The committee noted the finance report.",
                 "The committee deferred the estates strategy."]
    table = "".join("<tr>" + "".join(f"<{'th' if n == 0 else 'td'}>{html.escape(c)}</{'th' if n == 0 else 'td'}>"
                                     for c in row) + "</tr>" for n, row in enumerate(RISKS))
    page = ("<!doctype html><html lang=en><head><meta charset=utf-8><title>Risk register</title><style>"
            "@page { size: A4; margin: 2cm; } body { font: 11pt/1.35 'Liberation Serif', serif; }"
            " p { margin: 0 0 0.8em; } table { border-collapse: collapse; margin: 0 0 0.8em; }"
            " th, td { border: 1px solid #000; padding: 3px 6px; text-align: left; vertical-align: top; }"
            " th { font-weight: bold; }</style></head><body>"
            f"<h1>Risk register</h1><p>{html.escape(BEFORE)}</p><table>{table}</table><p>{html.escape(AFTER)}</p>"
            "<h2 style='break-before: page'>Decisions</h2>" + "".join(f"<p>{html.escape(d)}</p>" for d in decisions)
            + "</body></html>")
    (tmp_path / "risks.html").write_text(page, encoding="utf-8")
    try:
        pdf = producers.chromium_pdf(tmp_path / "risks.html", tmp_path / "risks.pdf")
    except FileNotFoundError:
        pytest.skip("Chromium is not installed")
    assert excerpts(pdf) == [(1, "Risk register", text) for text in [BEFORE, *rows(RISKS), AFTER]] + [
        (2, "Decisions", text) for text in decisions
    ]


@pytest.mark.render
def test_word_table_row_cut_by_page_breaks_is_one_row(tmp_path):
    """A long risk register in a .docx: LibreOffice lets rows break across pages (Word's
    default too), so a row's Risk cell ends on the next page. Each row is still one excerpt,
    cited at the page where it starts; the header row is taken once."""
    import pypdfium2 as pdfium
    from docx import Document

    risk = ("The workforce risk in community nursing remains high because of vacancies and sickness absence in"
            " both places, and the mitigations agreed by the committee have not yet reduced it.")
    register = [("ID", "Risk", "Score", "Owner")] + [(f"R{n}", " ".join([risk] * 4), "16", "Chief Nurse") for n in range(1, 5)]
    document = Document()
    document.add_heading("Risk register", level=1)
    filler = [f"Paragraph {n} of the covering report, which fills the page before the register starts." for n in range(30)]
    for text in filler:
        document.add_paragraph(text)
    fm.add_word_table(document, register)
    document.add_paragraph(AFTER)
    document.save(str(tmp_path / "register.docx"))
    pdf = fm.soffice_pdf(tmp_path / "register.docx", tmp_path / "out")
    if pdf is None:
        pytest.skip("LibreOffice (soffice) is not installed")
    document_pdf = pdfium.PdfDocument(str(pdf))
    try:
        printed = [" ".join(document_pdf[i].get_textpage().get_text_range().split()) for i in range(len(document_pdf))]
    finally:
        document_pdf.close()
    # the fixture is what it claims: some page starts with the end of a row begun on the page before
    assert any(page.startswith("nursing") or page.startswith("in both") or page[:1].islower() for page in printed[1:])
    got = [(page, text) for page, _, text in excerpts(pdf) if not text.startswith("Paragraph")]
    assert [text for _, text in got] == [*rows(register), AFTER]
    starts = [next(n for n, page in enumerate(printed, start=1) if re.search(rf"\b{row[0]}\b", page)) for row in register]
    assert [page for page, _ in got][:-1] == starts


def test_a_new_table_with_a_blank_corner_is_not_joined_to_the_table_before(tmp_path):
    """Page 1 ends with a short table well above the foot of the page; page 2 starts with a
    performance matrix whose top-left cell is blank. Its header is not the cut end of the
    last row on page 1."""
    from fpdf import FPDF

    first = [("Ref", "Action", "Owner"), ("A1", "Publish the delegation framework", "Company Secretary")]
    matrix = [("", "2024/25", "2025/26"), ("Waits over 65 weeks", "412", "0"), ("Cancer 62-day standard", "68.4%", "72.9%")]
    pdf = FPDF(format="A4")
    pdf.set_margins(25, 20, 25)
    pdf.set_font("Helvetica", size=11)
    for table in (first, matrix):
        pdf.add_page()
        with pdf.table(text_align="LEFT") as grid:
            for row in table:
                cells = grid.row()
                for value in row:
                    cells.cell(value)
    pdf.output(str(tmp_path / "two.pdf"))
    assert excerpts(tmp_path / "two.pdf") == [(1, None, text) for text in rows(first)] + [
        (2, None, "2024/25 | 2025/26"), *[(2, None, text) for text in rows(matrix[1:])]
    ]


def test_a_table_without_borders_is_read_as_prose_with_a_warning(tmp_path):
    """reportlab: the finance table with no rules at all. Its columns cannot be told from
    the page without guessing, so its rows are read as prose, and ingest says so (a warning
    naming the file and page, exit code 0) instead of letting it in silently."""
    from click.testing import CliRunner
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Table

    body = ParagraphStyle("body", fontName="Helvetica", fontSize=10, leading=12, spaceAfter=6)
    story = [Paragraph(BEFORE, body), PageBreak(), Paragraph(BEFORE, body),
             Table([list(row) for row in FINANCE], colWidths=[220, 80, 80]), Paragraph(AFTER, body)]
    path = tmp_path / "finance.pdf"
    SimpleDocTemplate(str(path), pagesize=A4).build(story)
    parsed = readers.read_document(path)
    assert not any(" | " in e.text for e in parsed.excerpts)
    assert parsed.warnings == ["page 2: text set out in columns without ruled lines (a table without borders?) was "
                               "read as paragraphs; check those excerpts"]
    ruled = fpdf2_register(tmp_path / "risks.pdf")
    assert readers.read_document(ruled).warnings == []

    from casestudy.cli.main import cli

    result = CliRunner().invoke(cli, ["ingest", str(path), "--kind", "board-paper", "--ics", "Kellbridge",
                                      "--db", str(tmp_path / "work.db")])
    assert result.exit_code == 0, result.output
    assert f"Warning: {path}: page 2: text set out in columns without ruled lines" in result.stderr
