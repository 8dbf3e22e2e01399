"""Board-paper layouts in real PDFs that a line-pitch splitter gets wrong: pages whose
paragraphs are all one line (nothing on the page, or in the whole file, shows the line
pitch), genuinely continuous paragraphs that must stay whole, and bulleted lists.

Every PDF is made by a real producer (fpdf2, reportlab platypus, or a python-docx file
converted by LibreOffice); texts and counts are exact.
"""

from __future__ import annotations

import pytest

import filemakers as fm
from casestudy.ingest import readers

DECISIONS = [
    "The board approved the delegation framework.",
    "The board noted the finance report for month nine.",
    "The board deferred the estates strategy to May.",
    "Meeting: Kellbridge ICB Board",
    "Date: 12 March 2025",
]
WRAPPED = (
    "The chair reminded members that the collaborative's joint committee had been asked to report on"
    " elective recovery in every quarter, and that the report would set out the waiting lists of each"
    " member trust, the use of shared theatre lists and the patients who had chosen to travel."
)


def excerpts(path):
    return [(e.page, e.heading, e.text) for e in readers.read_document(path).excerpts]


def fpdf2_paper(path, paragraphs, gap_mm=4.0, heading="Decisions of the board", line_mm=5.5):
    """fpdf2: a bold heading, then each paragraph a ``multi_cell`` followed by ``gap_mm``."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_margins(25, 20, 25)
    pdf.add_page()
    pdf.set_font("Helvetica", style="B", size=14)
    pdf.multi_cell(0, 8, heading, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font("Helvetica", size=11)
    for text in paragraphs:
        pdf.multi_cell(0, line_mm, text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(gap_mm)
    pdf.output(str(path))
    return path


def reportlab_paper(path, paragraphs, space_after=6, leading=13.5):
    """reportlab platypus: Helvetica 11, ``space_after`` points after each paragraph."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import Paragraph, SimpleDocTemplate

    body = ParagraphStyle("body", fontName="Helvetica", fontSize=11, leading=leading, spaceAfter=space_after)
    head = ParagraphStyle("head", fontName="Helvetica-Bold", fontSize=14, leading=18, spaceAfter=8)
    story = [Paragraph("Decisions of the board", head)] + [Paragraph(text, body) for text in paragraphs]
    SimpleDocTemplate(str(path), pagesize=A4).build(story)
    return path


# --- one-line paragraphs: the page cannot show its line pitch ---------------------------


def test_fpdf2_page_of_one_line_paragraphs_only(tmp_path):
    """No paragraph in the whole file has a second line: the pitch comes from the font size."""
    path = fpdf2_paper(tmp_path / "decisions.pdf", DECISIONS)
    assert excerpts(path) == [(1, "Decisions of the board", text) for text in DECISIONS]


def test_reportlab_page_of_one_line_paragraphs_only(tmp_path):
    path = reportlab_paper(tmp_path / "decisions.pdf", DECISIONS)
    assert excerpts(path) == [(1, "Decisions of the board", text) for text in DECISIONS]


def test_one_line_paragraphs_among_wrapped_ones_split_by_the_wrapped_pitch(tmp_path):
    """Only pairs of lines where the upper one was wrapped teach the pitch: two one-line
    paragraphs 4 mm apart are not taken for the lines of one paragraph."""
    path = fpdf2_paper(tmp_path / "mixed.pdf", [WRAPPED, *DECISIONS[:3]])
    assert excerpts(path) == [(1, "Decisions of the board", text) for text in [WRAPPED, *DECISIONS[:3]]]


@pytest.mark.render
def test_word_style_one_line_paragraphs_and_bullets_through_libreoffice(tmp_path):
    """A Word-style .docx (8 pt after each paragraph, Symbol-font bullets) as LibreOffice
    prints it: each one-line paragraph and each bullet is its own excerpt, as in the .docx."""
    from docx import Document
    from docx.shared import Pt

    document = Document()
    document.styles["Normal"].paragraph_format.space_after = Pt(8)
    document.add_heading("Decisions of the board", level=1)
    for text in DECISIONS[:3]:
        document.add_paragraph(text)
    document.add_paragraph("Actions agreed:")
    for text in ["Publish the delegation framework on the ICB website", "Bring the estates strategy back in May"]:
        document.add_paragraph(text, style="List Bullet")
    document.save(str(tmp_path / "decisions.docx"))
    expected = [*DECISIONS[:3], "Actions agreed:", "Publish the delegation framework on the ICB website",
                "Bring the estates strategy back in May"]
    docx_texts = [e.text for e in readers.read_document(tmp_path / "decisions.docx").excerpts]
    assert docx_texts == expected
    pdf = fm.soffice_pdf(tmp_path / "decisions.docx", tmp_path / "out")
    if pdf is None:
        pytest.skip("LibreOffice (soffice) is not installed")
    assert excerpts(pdf) == [(1, "Decisions of the board", text) for text in expected]


# --- continuous paragraphs stay whole --------------------------------------------------


def test_hard_broken_lines_at_the_normal_pitch_stay_one_paragraph(tmp_path):
    """A paragraph of short lines (hard line breaks, nothing wrapped anywhere in the file)
    at single spacing is one excerpt: no extra space, no split."""
    lines = ["NHS Kellbridge Integrated Care Board", "Elective Recovery Committee in Common", "Papers for the meeting"]
    path = fpdf2_paper(tmp_path / "cover.pdf", ["\n".join(lines)], heading="Cover sheet")
    assert excerpts(path) == [(1, "Cover sheet", " ".join(lines))]


def test_double_spaced_wrapped_paragraph_stays_whole(tmp_path):
    """Double line spacing (leading twice the font size) is the paragraph's own pitch when
    its lines wrap: one excerpt per paragraph, not one per line."""
    path = reportlab_paper(tmp_path / "double.pdf", [WRAPPED, WRAPPED.upper()], space_after=14, leading=22)
    assert excerpts(path) == [(1, "Decisions of the board", WRAPPED), (1, "Decisions of the board", WRAPPED.upper())]


def test_fpdf2_one_line_paragraphs_without_any_gap_are_one_excerpt(tmp_path):
    """The limit, stated: lines at the single-spaced pitch with no extra space, no indent and
    no bullet carry no sign of a new paragraph; they are read as one."""
    path = fpdf2_paper(tmp_path / "nogap.pdf", DECISIONS[:3], gap_mm=0)
    assert excerpts(path) == [(1, "Decisions of the board", " ".join(DECISIONS[:3]))]


# --- headings and bullets --------------------------------------------------------------


def test_bold_body_size_headings_and_hyphen_bullets(tmp_path):
    """fpdf2: a bold 11 pt heading with no space before its paragraph is a heading (context,
    not an excerpt); each "-" bullet is its own excerpt and a wrapped bullet stays whole."""
    from fpdf import FPDF

    ask = ("approve the terms of reference of the joint committee, including the quorum and the voting"
           " arrangements set out in the annex")
    pdf = FPDF(format="A4")
    pdf.set_margins(25, 20, 25)
    pdf.add_page()

    def heading(text):
        pdf.set_font("Helvetica", style="B", size=11)
        pdf.multi_cell(0, 5.5, text, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=11)

    heading("Purpose of the paper")
    pdf.multi_cell(0, 5.5, WRAPPED, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.multi_cell(0, 5.5, "The board is asked to:", new_x="LMARGIN", new_y="NEXT")
    for text in [ask, "note the scheme of delegation", "agree the date of the first meeting"]:
        pdf.set_x(30)
        pdf.cell(5, 5.5, "-")
        pdf.multi_cell(0, 5.5, text, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    heading("Recommendation")
    pdf.multi_cell(0, 5.5, "The board is recommended to approve the paper.", new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(tmp_path / "cover.pdf"))
    assert excerpts(tmp_path / "cover.pdf") == [
        (1, "Purpose of the paper", WRAPPED),
        (1, "Purpose of the paper", "The board is asked to:"),
        (1, "Purpose of the paper", f"- {ask}"),
        (1, "Purpose of the paper", "- note the scheme of delegation"),
        (1, "Purpose of the paper", "- agree the date of the first meeting"),
        (1, "Recommendation", "The board is recommended to approve the paper."),
    ]


def test_numbered_paragraphs_and_cover_fields_without_any_gap(tmp_path):
    """No space between paragraphs and no indent: a line that opens with a paragraph number
    (2.1, 2.2) or a cover sheet's field label ("Meeting: …"), after a line that ended short
    although the next word would have fitted, starts a paragraph."""
    fields = ["Meeting: Kellbridge ICB Board (meeting in public)", "Date: 12 March 2025", "Agenda item: 7",
              "Report author: Director of Strategy", "Purpose: For decision"]
    numbered = [
        "2.1 The joint committee will meet every month and will report to each member board after every"
        " meeting, with a summary of the decisions it has taken under delegation.",
        "2.2 The committee asked for the terms of reference to be reviewed after one year, and for the review to"
        " cover the quorum and the voting arrangements.",
        "2.3 Members agreed.",
    ]
    path = fpdf2_paper(tmp_path / "cover.pdf", ["\n".join(fields), *numbered], gap_mm=0, heading="Cover sheet")
    assert excerpts(path) == [(1, "Cover sheet", text) for text in [*fields, *numbered]]


def test_wide_right_margin_and_one_and_a_half_spacing_keep_paragraphs_whole(tmp_path):
    """A policy laid out with a 6 cm right margin (room for comments) and 1.6 line spacing:
    the text's right edge is far from where the page width suggests, yet its lines are
    known to wrap (many end at one edge), so each paragraph stays one excerpt."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import cm
    from reportlab.platypus import Paragraph, SimpleDocTemplate

    body = ParagraphStyle("body", fontName="Helvetica", fontSize=11, leading=17.6, spaceAfter=10)
    texts = [WRAPPED, WRAPPED.replace("The chair", "The vice chair"), "Members agreed."]
    SimpleDocTemplate(str(tmp_path / "policy.pdf"), pagesize=A4, leftMargin=2 * cm, rightMargin=6 * cm).build(
        [Paragraph(text, body) for text in texts])
    assert excerpts(tmp_path / "policy.pdf") == [(1, None, text) for text in texts]
