"""One three-page board paper, made into a PDF by five real producers, with known paragraphs.

Each producer lays the same document out its own way (paragraph spacing, line pitch,
first-line indents, running headers and footers, page numbers), so the PDF reader is
tested against what people actually ingest:

* ``fpdf2``        — paragraphs separated by an extra 4 mm (the case of issue 16);
* ``reportlab``    — book style: no space between paragraphs, a first-line indent;
* ``libreoffice``  — a LibreOffice Writer document (flat ODT) with its default "Text body"
                     spacing, converted by ``soffice --headless --convert-to pdf``;
* ``word``         — a Word-style .docx made by python-docx (Calibri 11, 8 pt after, 1.08
                     lines, PAGE / NUMPAGES fields in the footer), converted by soffice;
* ``chromium``     — an HTML page printed by headless Chromium with its own date/title
                     header and URL/page-number footer.

``PAPER`` is the document; ``EXPECTED`` lists the excerpts the reader must give: (page,
first words, heading). Page 1 holds four short paragraphs (one to three lines) and the
start of a long one that runs onto page 2; page 3 starts after a hard page break and
holds five short paragraphs.
"""

from __future__ import annotations

import html
import shutil
import subprocess
from pathlib import Path

HEADER = "Committee in common - meeting in public - 14 March 2025"
TITLE = "Elective care committee in common"

_CLAUSES = [
    "the programme director described how the four trusts had pooled their waiting lists for orthopaedic surgery",
    "how the shared theatre rota had been agreed by the clinical leads after several months of negotiation",
    "why the committee had asked for a single patient tracking list to be maintained by the host trust",
    "what the finance directors had said about the risk and gain share that would apply from the second quarter",
    "how the governors of each trust had been briefed before the delegation agreement was signed",
    "which services would be transferred first and which would wait for the outcome of the engagement exercise",
    "how the patient representatives had challenged the travel times for people in the rural parts of the system",
    "what the workforce leads had done to align the job plans of the anaesthetists who would work across two sites",
    "how the digital team would link the booking systems so that a patient could be offered the earliest slot anywhere",
    "why the medical directors wanted a common set of thresholds for referral to be published on every trust website",
    "how the committee would report to each board and to the integrated care board every quarter",
    "what would happen if one member wished to leave the arrangement before the end of the three year term",
]
LONG_PARAGRAPH = (
    "In presenting the report "
    + ", and ".join(_CLAUSES * 3)
    + ", and the committee thanked the programme team for the clarity of the report and asked for the"
      " same level of detail in the update to be presented at its next meeting in public."
)

PAPER = [
    ("h1", "1. Delegation of elective services"),
    ("p", "The committee received the delegation update from the programme director."),
    ("p", "Members noted that the elective recovery board had agreed the outline of a shared waiting list,"
          " that the host trust would keep it, and that each member would keep its own contracts with the"
          " commissioners until the delegation agreement took effect in the autumn."),
    ("p", "A non-executive director asked how the arrangement would be evaluated and was told that the"
          " evaluation plan would come to the next meeting."),
    ("p", "The committee approved the recommendation."),
    ("p", LONG_PARAGRAPH),
    ("h2", "2. Finance and contracting"),
    ("p", "The finance lead reported that the system was forecasting a small surplus at month ten,"
          " subject to the outcome of the national pay award."),
    ("p", "Contract values for the pooled services would be set on the basis of the previous year's activity,"
          " adjusted for the growth agreed in the operational plan, and reviewed by the committee every"
          " quarter with the directors of finance of all four members present."),
    ("break", ""),
    ("h1", "3. Quality and safety"),
    ("p", "The chief nurse presented the quality report."),
    ("p", "Pressure ulcer rates had fallen in three of the four trusts, and the fourth had asked for support"
          " from the tissue viability team of its neighbour."),
    ("p", "No serious incidents were reported."),
    ("p", "Members asked for the patient experience survey to be broken down by site so that the"
          " committee could see whether the pooled lists had changed what patients said about waiting,"
          " about travel and about the information they were given before their operation."),
    ("p", "The committee noted the report."),
]

# (page, first three words, heading) of every excerpt, in order
EXPECTED = [
    (1, "The committee received", "1. Delegation of elective services"),
    (1, "Members noted that", "1. Delegation of elective services"),
    (1, "A non-executive director", "1. Delegation of elective services"),
    (1, "The committee approved", "1. Delegation of elective services"),
    (1, "In presenting the", "1. Delegation of elective services"),
    (2, "The finance lead", "2. Finance and contracting"),
    (2, "Contract values for", "2. Finance and contracting"),
    (3, "The chief nurse", "3. Quality and safety"),
    (3, "Pressure ulcer rates", "3. Quality and safety"),
    (3, "No serious incidents", "3. Quality and safety"),
    (3, "Members asked for", "3. Quality and safety"),
    (3, "The committee noted", "3. Quality and safety"),
]
PARAGRAPHS = [text for kind, text in PAPER if kind == "p"]


# --- fpdf2 ----------------------------------------------------------------------------


def fpdf2_pdf(path: Path) -> Path:
    """fpdf2: Helvetica 11 pt, 5.5 mm lines, paragraphs separated by an extra 4 mm."""
    from fpdf import FPDF

    class Paper(FPDF):
        def header(self):
            self.set_font("Helvetica", size=8)
            self.cell(0, 6, HEADER, align="R")
            self.ln(14)

        def footer(self):
            self.set_y(-15)
            self.set_font("Helvetica", size=8)
            self.cell(0, 8, f"Page {self.page_no()} of {{nb}}", align="C")

    pdf = Paper(format="A4")
    pdf.set_margins(25, 20, 25)
    pdf.set_auto_page_break(True, margin=25)
    pdf.set_title(TITLE)
    pdf.add_page()
    for kind, text in PAPER:
        if kind == "break":
            pdf.add_page()
        elif kind in ("h1", "h2"):
            pdf.set_font("Helvetica", style="B", size=15 if kind == "h1" else 13)
            pdf.multi_cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
        else:
            pdf.set_font("Helvetica", size=11)
            pdf.multi_cell(0, 5.5, text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(4)
    pdf.output(str(path))
    return path


# --- reportlab ------------------------------------------------------------------------


def reportlab_pdf(path: Path) -> Path:
    """reportlab platypus, book style: Times 11/14, no paragraph spacing, 18 pt first-line indent."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import cm
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate

    body = ParagraphStyle("body", fontName="Times-Roman", fontSize=11, leading=14, firstLineIndent=18)
    h1 = ParagraphStyle("h1", fontName="Times-Bold", fontSize=15, leading=19, spaceBefore=10, spaceAfter=8)
    h2 = ParagraphStyle("h2", fontName="Times-Bold", fontSize=13, leading=17, spaceBefore=10, spaceAfter=6)

    def running(canvas, doc):
        canvas.saveState()
        canvas.setFont("Times-Roman", 8)
        canvas.drawString(2.5 * cm, A4[1] - 1.3 * cm, HEADER)
        canvas.drawCentredString(A4[0] / 2, 1.2 * cm, f"{doc.page}")
        canvas.restoreState()

    story = []
    for kind, text in PAPER:
        if kind == "break":
            story.append(PageBreak())
        else:
            story.append(Paragraph(html.escape(text), {"h1": h1, "h2": h2}.get(kind, body)))
    doc = SimpleDocTemplate(str(path), pagesize=A4, leftMargin=2.5 * cm, rightMargin=2.5 * cm,
                            topMargin=2.5 * cm, bottomMargin=2.5 * cm, title=TITLE)
    doc.build(story, onFirstPage=running, onLaterPages=running)
    return path


# --- LibreOffice (flat ODT) and Word-style (.docx), converted by soffice ---------------

_FODT = """<?xml version="1.0" encoding="UTF-8"?>
<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
 xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0"
 xmlns:dc="http://purl.org/dc/elements/1.1/"
 office:version="1.3" office:mimetype="application/vnd.oasis.opendocument.text">
 <office:meta><dc:title>{title}</dc:title></office:meta>
 <office:styles>
  <style:default-style style:family="paragraph">
   <style:text-properties style:font-name="Liberation Serif" fo:font-family="'Liberation Serif'" fo:font-size="12pt"/>
  </style:default-style>
  <style:style style:name="Standard" style:family="paragraph"/>
  <style:style style:name="Text_20_body" style:display-name="Text body" style:family="paragraph" style:parent-style-name="Standard">
   <style:paragraph-properties fo:margin-top="0cm" fo:margin-bottom="0.247cm" fo:line-height="115%"/>
  </style:style>
  <style:style style:name="Heading_20_1" style:display-name="Heading 1" style:family="paragraph" style:default-outline-level="1">
   <style:paragraph-properties fo:margin-top="0.423cm" fo:margin-bottom="0.212cm" fo:keep-with-next="always"/>
   <style:text-properties fo:font-family="'Liberation Sans'" fo:font-size="18pt" fo:font-weight="bold"/>
  </style:style>
  <style:style style:name="Heading_20_2" style:display-name="Heading 2" style:family="paragraph" style:default-outline-level="2">
   <style:paragraph-properties fo:margin-top="0.353cm" fo:margin-bottom="0.212cm" fo:keep-with-next="always"/>
   <style:text-properties fo:font-family="'Liberation Sans'" fo:font-size="16pt" fo:font-weight="bold"/>
  </style:style>
  <style:style style:name="Header" style:family="paragraph">
   <style:text-properties fo:font-size="9pt"/>
  </style:style>
 </office:styles>
 <office:automatic-styles>
  <style:style style:name="PageBreak" style:family="paragraph" style:parent-style-name="Heading_20_1">
   <style:paragraph-properties fo:break-before="page"/>
  </style:style>
  <style:page-layout style:name="pm1">
   <style:page-layout-properties fo:page-width="21cm" fo:page-height="29.7cm" fo:margin-top="1.5cm"
    fo:margin-bottom="1.5cm" fo:margin-left="2cm" fo:margin-right="2cm"/>
   <style:header-style><style:header-footer-properties fo:min-height="0.6cm" fo:margin-bottom="0.5cm"/></style:header-style>
   <style:footer-style><style:header-footer-properties fo:min-height="0.6cm" fo:margin-top="0.5cm"/></style:footer-style>
  </style:page-layout>
 </office:automatic-styles>
 <office:master-styles>
  <style:master-page style:name="Standard" style:page-layout-name="pm1">
   <style:header><text:p text:style-name="Header">{header}</text:p></style:header>
   <style:footer><text:p text:style-name="Header">Page <text:page-number text:select-page="current">1</text:page-number> of <text:page-count>3</text:page-count></text:p></style:footer>
  </style:master-page>
 </office:master-styles>
 <office:body><office:text>
{body}
 </office:text></office:body>
</office:document>
"""


def libreoffice_fodt(path: Path) -> Path:
    """A LibreOffice Writer document (flat ODT): Liberation Serif 12, "Text body" spacing."""
    body, page_break = [], False
    for kind, text in PAPER:
        if kind == "break":
            page_break = True
        elif kind in ("h1", "h2"):
            style = "PageBreak" if page_break else f"Heading_20_{kind[1]}"
            body.append(f'<text:h text:style-name="{style}" text:outline-level="{kind[1]}">{html.escape(text)}</text:h>')
            page_break = False
        else:
            body.append(f'<text:p text:style-name="Text_20_body">{html.escape(text)}</text:p>')
    path.write_text(_FODT.format(title=TITLE, header=html.escape(HEADER), body="\n".join(body)), encoding="utf-8")
    return path


def _field(paragraph, instruction: str) -> None:
    """A Word field (PAGE, NUMPAGES) in ``paragraph``."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    field = OxmlElement("w:fldSimple")
    field.set(qn("w:instr"), instruction)
    run = OxmlElement("w:r")
    text = OxmlElement("w:t")
    text.text = "1"
    run.append(text)
    field.append(run)
    paragraph._p.append(field)


def word_docx(path: Path) -> Path:
    """A Word-style .docx (python-docx): Calibri 11, 8 pt after, 1.08 lines, page fields."""
    from docx import Document
    from docx.enum.text import WD_BREAK
    from docx.shared import Pt

    document = Document()
    document.core_properties.title = TITLE
    normal = document.styles["Normal"]
    normal.font.name, normal.font.size = "Calibri", Pt(11)
    normal.paragraph_format.space_after = Pt(8)
    normal.paragraph_format.line_spacing = 1.08
    section = document.sections[0]
    section.header.paragraphs[0].text = HEADER
    footer = section.footer.paragraphs[0]
    footer.add_run("Page ")
    _field(footer, "PAGE")
    footer.add_run(" of ")
    _field(footer, "NUMPAGES")
    page_break = False
    for kind, text in PAPER:
        if kind == "break":
            page_break = True
            continue
        if kind in ("h1", "h2"):
            heading = document.add_heading(level=int(kind[1]))
            if page_break:
                heading.add_run().add_break(WD_BREAK.PAGE)  # the break inside the heading: no empty paragraph
                page_break = False
            heading.add_run(text)
        else:
            document.add_paragraph(text)
    document.save(str(path))
    return path


def soffice_to_pdf(source: Path, outdir: Path) -> Path:
    """Convert with LibreOffice (a private profile, so parallel runs do not collide)."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        raise FileNotFoundError("soffice")
    profile = outdir / f".lo-profile-{source.stem}"
    subprocess.run(
        [soffice, f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", "pdf",
         "--outdir", str(outdir), str(source)],
        check=True, capture_output=True, timeout=180,
    )
    return outdir / (source.stem + ".pdf")


# --- Chromium print-to-PDF -------------------------------------------------------------


def html_page(path: Path) -> Path:
    """The paper as an HTML page: 11 pt serif text, 0.8 em between paragraphs."""
    parts, page_break = [], False
    for kind, text in PAPER:
        if kind == "break":
            page_break = True
        elif kind in ("h1", "h2"):
            style = ' style="break-before: page"' if page_break else ""
            parts.append(f"<{kind}{style}>{html.escape(text)}</{kind}>")
            page_break = False
        else:
            parts.append(f"<p>{html.escape(text)}</p>")
    path.write_text(
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(TITLE)}</title>"
        "<style>@page { size: A4; margin: 2cm 2cm; } body { font: 11pt/1.35 'Liberation Serif', serif; }"
        " p { margin: 0 0 0.8em; } h1 { font-size: 16pt; } h2 { font-size: 14pt; }</style></head><body>"
        + "\n".join(parts) + "</body></html>",
        encoding="utf-8",
    )
    return path


def chromium_pdf(source: Path, out: Path) -> Path:
    """Headless Chromium's print-to-PDF, with its default header (date, title) and footer (URL, page)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if chromium is None:
        raise FileNotFoundError("chromium")
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         f"--user-data-dir={out.parent / '.chromium-profile'}", f"--print-to-pdf={out}", source.as_uri()],
        check=True, capture_output=True, timeout=180,
    )
    return out


PRODUCERS = ["fpdf2", "reportlab", "libreoffice", "word", "chromium"]
SLOW = {"libreoffice", "word", "chromium"}


def make(producer: str, folder: Path) -> Path:
    """The paper as a PDF made by ``producer`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    if producer == "fpdf2":
        return fpdf2_pdf(folder / "fpdf2.pdf")
    if producer == "reportlab":
        return reportlab_pdf(folder / "reportlab.pdf")
    if producer == "libreoffice":
        return soffice_to_pdf(libreoffice_fodt(folder / "libreoffice.fodt"), folder)
    if producer == "word":
        return soffice_to_pdf(word_docx(folder / "word.docx"), folder)
    if producer == "chromium":
        return chromium_pdf(html_page(folder / "chromium.html"), folder / "chromium.pdf")
    raise ValueError(producer)
