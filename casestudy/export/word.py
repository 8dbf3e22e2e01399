"""`casestudy export docx`: the thematic summary a PI would send on, as a Word document.

Built with python-docx from the publish database only. The document uses real Word
styles (Title, Heading 1–3, Quote, Caption, toc 1/2, its own "Quote Attribution",
"Table Text", "Note" and "Table Note" styles and a "Report Table" table style), so it
can be edited like any report. Contents:

* a title page (study, filters, date, codebook version);
* contents: a TOC field with its entries already written, linked to bookmarks on the
  headings, and their page numbers from one LibreOffice layout (``number_contents``);
* "About this report": the research questions with their evidence, how to read the counts and
  the rules that choose the quotes;
* for each research question: a summary table of its themes (excerpts, participants and
  documents; excerpts by ICS, with a National column, and by wave), each theme with its
  description and quotes (chosen by :mod:`casestudy.export.quotes`, attributed by
  pseudonym), a note of excerpts withheld for consent, and a framework matrix;
* appendices: sources, consent summary (counts only) and coder agreement, and, when the
  publish database holds routine indicators, their first and latest values by ICS.

Every table is followed by a one-line note saying what its numbers count.
"""

from __future__ import annotations

import datetime as _dt
import re
import sqlite3
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_TAB_ALIGNMENT, WD_TAB_LEADER
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor

from casestudy import study
from casestudy.db import machine_coder, suggestion_kind
from casestudy.export import common
from casestudy.export.quotes import (
    MIN_WORDS,
    choose_quotes,
    per_excerpt,
    select_quotes,
    trim_quote,
    typeset,
)
from casestudy.errors import CasestudyError

# what the cover says about the study comes from the study settings (casestudy.study), copied
# into the publish database; `export docx --title/--pi/...` override them for one report
REPORT_OPTIONS = ("title", "subtitle", "pi", "authors", "funder", "status")
THEMES_DISAGREED = 8  # themes listed in the report's table of disagreements (the workspace lists all)
KIND_LABELS = {
    "transcript": "Interview",
    "board-paper": "Board paper",
    "policy": "Policy document",
    "observation": "Observation notes",
}
NAVY = RGBColor(0x00, 0x30, 0x87)
BLUE = RGBColor(0x00, 0x5E, 0xB8)
GREY = RGBColor(0x42, 0x55, 0x63)


@dataclass
class ReportSummary:
    path: Path
    rqs: list[str]
    themes: int = 0
    excerpts: int = 0
    quotes: int = 0
    withheld: int = 0  # distinct coded excerpts counted but not quoted (consent)
    sections: list[str] = field(default_factory=list)
    pages: int | None = None  # pages of the LibreOffice layout, when the contents were numbered
    contents_numbered: bool = False


# --- entry point ---------------------------------------------------------------------


def export_docx(
    working_db: "str | Path",
    out: "str | Path",
    rqs=(),
    ics=(),
    waves=(),
    status: str = "all",
    publish_db: "str | Path | None" = None,
    today: _dt.date | None = None,
    page_numbers: bool = True,
    cover: dict | None = None,
) -> ReportSummary:
    """Write the Word report to ``out`` from the (re)built publish database.

    With ``page_numbers`` (and LibreOffice installed) the report is laid out once to put
    page numbers in its contents (see :mod:`casestudy.export.pagination`). ``cover``
    overrides the study settings for this report (keys of :data:`REPORT_OPTIONS`)."""
    out = common.check_output(out, (".docx",))
    for rq in rqs:  # refuse a bad --rq before (re)building anything
        common.normalise_rq(rq)
    path = common.resolve_publish_db(working_db, publish_db)
    conn = common.open_publish(path)
    try:
        filters = common.make_filters(conn, rqs, ics, waves, status)
        report = Report(conn, filters, today or _dt.date.today(), cover)
        document = report.build()
        if page_numbers:
            report.number_contents()
        common.write_atomically(out, lambda tmp: document.save(str(tmp)))
        report.summary.path = out
        return report.summary
    finally:
        conn.close()


# --- helpers on evidence -------------------------------------------------------------


def long_date(value: str | None) -> str:
    if not value:
        return ""
    try:
        day = _dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return str(value)
    return f"{day.day} {day.strftime('%B %Y')}"


def wave_label(wave, settings: "study.StudySettings | None" = None) -> str:
    """``wave 2 (2025)`` from the study settings; ``wave 2`` when they give it no dates."""
    if wave in (None, ""):
        return ""
    return study.wave_label(settings or study.StudySettings(), int(wave))


def attribution(row: dict, settings: "study.StudySettings | None" = None) -> str:
    """Who said it or where it was written, without a real name."""
    kind = row.get("source_kind") or ""
    if row.get("participant_id"):
        bits = [row["participant_id"], row.get("participant_role"), row.get("org_type"), row.get("ics"),
                wave_label(row.get("wave"), settings)]
        return ", ".join(str(b) for b in bits if b)
    label = KIND_LABELS.get(kind, kind.replace("-", " ").capitalize() or "Document")
    title = row.get("source_title") or "untitled"
    # a title that already says what it is ("Observation notes — …") or when (its date) is not repeated
    bits = [title if title.lower().startswith(label.lower()) else f"{label}: {title}"]
    if row.get("date") and long_date(row["date"]) not in title:
        bits.append(long_date(row["date"]))
    if row.get("page") not in (None, ""):
        bits.append(f"p. {row['page']}")
    if row.get("ics") and row["ics"] not in bits[0]:
        bits.append(row["ics"])
    return ", ".join(bits)


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def spread(e: int, p: int, d: int) -> str:
    """``5 excerpts from 3 participants and 1 document`` (leaving out what is zero)."""
    origins = [plural(n, w) for n, w in ((p, "participant"), (d, "document")) if n]
    return plural(e, "excerpt") + (f" from {' and '.join(origins)}" if origins else "")


def counts(rows: list[dict]) -> tuple[int, int, int]:
    """(excerpts, participants, documents) in ``rows``."""
    excerpts = {r["excerpt_id"] for r in rows}
    people = {r["participant_id"] for r in rows if r.get("participant_id")}
    docs = {r["source_id"] for r in rows if not r.get("participant_id")}
    return len(excerpts), len(people), len(docs)


def cohen_kappa(a: list[bool], b: list[bool]) -> float | None:
    n = len(a)
    if n == 0:
        return None
    agree = sum(x == y for x, y in zip(a, b)) / n
    pa, pb = sum(a) / n, sum(b) / n
    expected = pa * pb + (1 - pa) * (1 - pb)
    if expected >= 1:
        return None
    return (agree - expected) / (1 - expected)


RQ_LEVEL_DESCRIPTION = (
    "Excerpts that bear on the research question as a whole but are coded to none of its themes: judged so by "
    "the learned model (general talk about the question, in words the codebook's themes do not name) or coded "
    "to the question itself by a researcher. Reviewing them is where new themes are found."
)


# --- the document --------------------------------------------------------------------


class Report:
    def __init__(self, conn: sqlite3.Connection, filters: common.Filters, today: _dt.date, cover: dict | None = None):
        self.conn = conn
        self.settings = study.load_published(conn)
        for key, value in (cover or {}).items():
            if key in REPORT_OPTIONS and value:
                setattr(self.settings, key, list(value) if key == "authors" else value)
        self.filters = filters
        self.today = today
        self.codes = common.rows(conn, "SELECT * FROM codes ORDER BY sort, id")
        self.by_id = {c["id"]: c for c in self.codes}
        self.rows = common.evidence(conn, filters)
        self.rqs = filters.rqs or [c["id"] for c in self.codes if not c.get("parent_id") and c["id"] in common.RQS] or list(common.RQS)
        known_ics = sorted({r[0] for r in conn.execute("SELECT DISTINCT ics FROM sources WHERE ics IS NOT NULL")})
        known_waves = sorted({int(r[0]) for r in conn.execute("SELECT DISTINCT wave FROM sources WHERE wave IS NOT NULL")})
        self.ics = filters.ics or known_ics
        self.waves = filters.waves or known_waves
        self.summary = ReportSummary(path=Path(), rqs=self.rqs)
        self.indicators = indicator_changes(conn, self.filters)
        self.table_no = 0
        self.doc = Document()
        # Column sets that add up to "All": an ICS column per ICS, plus one for documents
        # with no ICS (national policy, say); a wave column per wave, plus "No wave" if needed.
        self.ics_columns = [(name, name) for name in self.ics]
        if any(r.get("ics") is None for r in self.rows):
            self.ics_columns.append(("National", None))
        self.wave_columns = [(f"W{w}", w) for w in self.waves]
        if any(r.get("wave") is None for r in self.rows):
            self.wave_columns.append(("No wave", None))
        # (excerpt, RQ) pairs with a theme of the RQ: coding the RQ itself adds nothing to those
        self.themed = {(r["excerpt_id"], r["rq"]) for r in self.rows if r["code_id"] != r["rq"]}
        self.selection = select_quotes(self.theme_rows())
        statuses = {q.get("status") for q in self.selection.all()}
        self.label_unreviewed = len(statuses) > 1  # mark unreviewed quotes only beside reviewed ones
        self.quoted_statuses = statuses
        self.toc: list[tuple[int, str, object]] = []  # (level, title, the w:t holding its page number)
        self.toc_anchor = None

    def theme_rows(self) -> list[tuple[str, list[dict]]]:
        """(code id, its evidence rows) for every theme of every RQ in the report, in order."""
        by_code: dict[str, list[dict]] = defaultdict(list)
        for row in self.rows:
            by_code[row["code_id"]].append(row)
        return [(theme["id"], self.section_rows(theme, self.rows) if theme.get("rq_level") else by_code.get(theme["id"], []))
                for rq in self.rqs for theme, _ in self.sections_of(rq)]

    def section_rows(self, theme: dict, rows: list[dict]) -> list[dict]:
        """The rows of ``rows`` that a theme's section shows: coded to the theme, or for the
        question-as-a-whole section, coded to the RQ on an excerpt with none of its themes."""
        if theme.get("rq_level"):
            return self.whole_rows(theme["rq"], rows)
        return [r for r in rows if r["code_id"] == theme["id"]]

    def whole_rows(self, rq: str, rows: list[dict]) -> list[dict]:
        """The rows of ``rows`` coded to ``rq`` itself, on excerpts with none of its themes."""
        return [r for r in rows if r["code_id"] == rq and (r["excerpt_id"], rq) not in self.themed]

    # styles ----------------------------------------------------------------------

    def setup(self) -> None:
        doc = self.doc
        section = doc.sections[0]
        section.page_width, section.page_height = Cm(21.0), Cm(29.7)
        section.orientation = WD_ORIENT.PORTRAIT
        for side in ("left_margin", "right_margin"):
            setattr(section, side, Cm(2.2))
        section.top_margin, section.bottom_margin = Cm(2.2), Cm(2.0)
        section.different_first_page_header_footer = True

        styles = doc.styles
        normal = styles["Normal"]
        normal.font.name = "Calibri"
        normal.font.size = Pt(10.5)
        normal.element.rPr.rFonts.set(qn("w:eastAsia"), "Calibri")
        normal.paragraph_format.space_after = Pt(6)
        normal.paragraph_format.line_spacing = 1.15

        for name, size, colour, before, after in (
            ("Title", 26, NAVY, 0, 6),
            ("Subtitle", 15, BLUE, 0, 24),
            ("Heading 1", 17, NAVY, 0, 10),
            ("Heading 2", 13, BLUE, 14, 4),
            ("Heading 3", 11, NAVY, 10, 2),
            ("TOC Heading", 17, NAVY, 0, 10),
        ):
            style = styles[name]
            style.font.name = "Calibri"
            style.font.size = Pt(size)
            style.font.color.rgb = colour
            style.font.italic = False
            rfonts = style.element.rPr.find(qn("w:rFonts"))
            if rfonts is not None:
                for attr in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
                    rfonts.attrib.pop(qn(attr), None)
            style.paragraph_format.space_before = Pt(before)
            style.paragraph_format.space_after = Pt(after)
        styles["Heading 1"].paragraph_format.page_break_before = True
        styles["TOC Heading"].paragraph_format.page_break_before = True
        styles["Title"].font.bold = True
        _drop_border(styles["Title"])
        _bottom_border(styles["Heading 1"], "005EB8", 8)

        quote = styles["Quote"]
        quote.font.italic = True
        quote.font.size = Pt(10.5)
        quote.font.color.rgb = RGBColor(0x21, 0x2B, 0x32)
        quote.paragraph_format.left_indent = Cm(0.8)
        quote.paragraph_format.right_indent = Cm(0.8)
        quote.paragraph_format.space_before = Pt(6)
        quote.paragraph_format.space_after = Pt(1)
        quote.paragraph_format.keep_with_next = True
        _left_border(quote, "41B6E6", 18)

        attribution_style = _paragraph_style(styles, "Quote Attribution", "Normal")
        attribution_style.font.size = Pt(9)
        attribution_style.font.color.rgb = GREY
        attribution_style.paragraph_format.left_indent = Cm(0.8)
        attribution_style.paragraph_format.right_indent = Cm(0.8)
        attribution_style.paragraph_format.space_after = Pt(8)

        table_text = _paragraph_style(styles, "Table Text", "Normal")
        table_text.font.size = Pt(8.5)
        table_text.paragraph_format.space_after = Pt(0)
        table_text.paragraph_format.space_before = Pt(0)
        table_text.paragraph_format.line_spacing = 1.0

        note = _paragraph_style(styles, "Note", "Normal")
        note.font.size = Pt(9)
        note.font.italic = True
        note.font.color.rgb = GREY

        caption = styles["Caption"]
        caption.font.size = Pt(9)
        caption.font.bold = True
        caption.font.italic = False
        caption.font.color.rgb = NAVY
        caption.paragraph_format.space_before = Pt(10)
        caption.paragraph_format.space_after = Pt(3)
        caption.paragraph_format.keep_with_next = True

        # Ask Word to refresh the contents field (and page numbers) when the file opens.
        settings = doc.settings.element
        update = settings.find(qn("w:updateFields"))
        if update is None:
            update = OxmlElement("w:updateFields")
            # CT_Settings is a sequence: updateFields goes before these (Word is strict about order)
            later = ("hdrShapeDefaults", "footnotePr", "endnotePr", "compat", "docVars", "rsids", "mathPr",
                     "attachedSchema", "themeFontLang", "clrSchemeMapping", "doNotIncludeSubdocsInStats",
                     "doNotAutoCompressPictures", "forceUpgrade", "captions", "readModeInkLockDown", "smartTagType",
                     "schemaLibrary", "shapeDefaults", "doNotEmbedSmartTags", "decimalSymbol", "listSeparator")
            successor = next((child for child in settings if child.tag.rsplit("}", 1)[-1] in later), None)
            if successor is not None:
                successor.addprevious(update)
            else:
                settings.append(update)
        update.set(qn("w:val"), "true")

        core = doc.core_properties
        core.title = f"{self.settings.display_title()}: thematic summary"
        core.subject = self.settings.summary()
        core.author = "; ".join(self.settings.authors) or self.settings.pi or "casestudy"
        core.keywords = ", ".join(self.rqs)

        # Running header and footer (not on the title page).
        header = section.header.paragraphs[0]
        header.text = f"{self.settings.display_title()} — thematic summary" + (
            " — DRAFT" if self.settings.status == "draft" else "")
        header.style = styles["Header"]
        header.runs[0].font.size = Pt(8.5)
        header.runs[0].font.color.rgb = GREY
        footer = section.footer.paragraphs[0]
        footer.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        run = footer.add_run("Pseudonymised evidence — do not circulate beyond the study team.   Page ")
        run.font.size, run.font.color.rgb = Pt(8.5), GREY
        _field(footer, "PAGE", "1", size=8.5)
        run = footer.add_run(" of ")
        run.font.size, run.font.color.rgb = Pt(8.5), GREY
        _field(footer, "NUMPAGES", "1", size=8.5)

    def report_styles(self) -> None:
        """Styles of the contents, the table notes and the report's table style."""
        styles = self.doc.styles
        for level, size, bold, indent, before in ((1, 10.5, True, 0.0, 5), (2, 10.0, False, 0.5, 0)):
            style = _paragraph_style(styles, f"toc {level}", "Normal")
            style.font.size = Pt(size)
            style.font.bold = bold
            style.paragraph_format.left_indent = Cm(indent)
            style.paragraph_format.space_before = Pt(before)
            style.paragraph_format.space_after = Pt(1)
            style.paragraph_format.tab_stops.add_tab_stop(Cm(TEXT_WIDTH_CM), WD_TAB_ALIGNMENT.RIGHT, WD_TAB_LEADER.DOTS)
        note = _paragraph_style(styles, "Table Note", "Note")
        note.font.size = Pt(8.5)
        note.paragraph_format.space_before = Pt(3)
        note.paragraph_format.space_after = Pt(10)
        _report_table_style(styles)

    def finish_tables(self) -> None:
        style = self.doc.styles[TABLE_STYLE]
        for table in self.doc.tables:
            _style_table(table, style)

    # building ------------------------------------------------------------------------

    def build(self) -> Document:
        self.setup()
        self.report_styles()
        self.title_page()
        self.contents()
        self.about()
        for rq in self.rqs:
            self.rq_section(rq)
        self.appendix_sources()
        self.appendix_consent()
        self.appendix_agreement()
        if self.indicators:
            self.appendix_indicators()
        self.fill_contents()
        self.finish_tables()
        withheld = {r["excerpt_id"] for r in self.rows if not common.is_quotable(r)}
        self.summary.withheld = len(withheld)
        return self.doc

    def heading_titles(self) -> list[str]:
        titles = ["About this report"]
        titles += [self.rq_title(rq) for rq in self.rqs]
        titles += ["Appendix A. Sources of evidence", "Appendix B. Consent summary", "Appendix C. Coder agreement"]
        if self.indicators:
            titles.append(INDICATORS_TITLE)
        return titles

    def rq_title(self, rq: str) -> str:
        code = self.by_id.get(rq)
        return code["name"] if code else rq

    def title_page(self) -> None:
        doc = self.doc
        for _ in range(4):
            doc.add_paragraph()
        doc.add_paragraph(self.settings.display_title(), style="Title")
        doc.add_paragraph(self.cover_subtitle(), style="Subtitle")
        excerpts, people, docs = counts(self.rows)
        info = [
            ("Study", self.settings.summary()),
            *self.cover_people(),
            ("Status", "Final" if self.settings.status == "final" else "Draft: not for circulation beyond the study team"),
            *self.filters.describe(),
            ("Evidence in scope", spread(excerpts, people, docs)),
            ("Codebook version", common.codebook_version(self.conn)),
            ("Published data", common.publish_info(self.conn).get("built_at", "")[:10] or "—"),
            ("Report date", long_date(self.today.isoformat())),
        ]
        table = doc.add_table(rows=0, cols=2)
        table.style = doc.styles["Light List Accent 1"]
        table.alignment = WD_TABLE_ALIGNMENT.LEFT
        for label, value in info:
            cells = table.add_row().cells
            _cell_text(cells[0], label, bold=True)
            _cell_text(cells[1], value)
        _widths(table, [Cm(4.2), Cm(12.2)])
        _no_header_look(table)
        doc.add_paragraph()
        doc.add_paragraph(
            "All quotations are pseudonymised: participants appear only as a study ID with their role, type of "
            "organisation, Integrated Care System and fieldwork wave. Participants who withdrew are excluded "
            "entirely; participants who did not agree to verbatim quotation are counted but never quoted.",
            style="Note",
        )

    def cover_subtitle(self) -> str:
        if self.settings.subtitle:
            return self.settings.subtitle
        years = [study.wave_label(self.settings, w).split("(")[-1].rstrip(")") for w in self.waves
                 if self.settings.wave(w) and self.settings.wave(w).years()]
        span = f", {years[0]}" + (f"–{years[-1].split('–')[-1]}" if len(years) > 1 else "") if years else ""
        return f"Thematic summary of coded evidence{span}"

    def study_paragraph(self) -> str:
        """The study as its settings describe it: summary, ICSs (full names) and waves."""
        s = self.settings
        text = s.summary()
        if s.ics:
            text += " ICSs: " + "; ".join(f"{i.name} ({i.full_name})" if i.full_name else i.name for i in s.ics) + "."
        if s.waves:
            text += " Fieldwork waves: " + ", ".join(study.wave_label(s, w.number) for w in s.waves) + "."
        return text

    def cover_people(self) -> list[tuple[str, str]]:
        """PI, authors and funder (with grant reference), those the settings give."""
        s = self.settings
        rows = [("Principal investigator", s.pi)] if s.pi else []
        if s.authors:
            rows.append(("Authors", "; ".join(s.authors)))
        funder = ", ".join(x for x in (s.funder, f"grant {s.grant}" if s.grant else "") if x)
        if funder:
            rows.append(("Funder", funder))
        return rows

    def contents(self) -> None:
        self.doc.add_paragraph("Contents", style="TOC Heading")
        self.toc_anchor = self.doc.add_paragraph()  # the TOC goes here once every heading exists
        self.summary.sections = self.heading_titles()

    def fill_contents(self) -> None:
        """A TOC field whose result already lists every Heading 1 and 2, each a link to a
        bookmark on its heading, with a PAGEREF for its page (see :meth:`number_contents`)."""
        headings = [p for p in self.doc.paragraphs if p.style.name in ("Heading 1", "Heading 2") and p.text.strip()]
        entries = []
        for n, heading in enumerate(headings, start=1):
            name = f"_Toc{100000 + n}"
            _bookmark(heading, name, n)
            level = 1 if heading.style.name == "Heading 1" else 2
            paragraph = self.toc_anchor.insert_paragraph_before(style=f"toc {level}")
            number = _toc_entry(paragraph, heading.text, name)
            entries.append((paragraph, level, heading.text, number))
        if not entries:
            return
        first, last = entries[0][0], entries[-1][0]
        _field_start(first, 'TOC \\o "1-2" \\h \\z \\u')
        _field_end(last)
        self.toc = [(level, title, number) for _, level, title, number in entries]
        self.toc_anchor._p.getparent().remove(self.toc_anchor._p)
        self.toc_anchor = None

    def number_contents(self) -> bool:
        """Lay the report out once with LibreOffice and write each heading's page into the
        contents; then Word need not update fields on opening. False if it could not."""
        from casestudy.export import pagination

        if not self.toc or pagination.soffice() is None:
            return False
        for _, _, number in self.toc:
            number.text = "00"  # as wide as the numbers to come, so the layout does not shift
        with tempfile.TemporaryDirectory(prefix="casestudy-report-") as tmp:
            draft = Path(tmp) / "report.docx"
            self.doc.save(str(draft))
            found = pagination.heading_pages(draft, [title for _, title, _ in self.toc])
        pages, total = found if found else ({}, None)
        for i, (_, _, number) in enumerate(self.toc):
            number.text = str(pages[i]) if pages and i in pages else ""
        if not pages or len(pages) != len(self.toc):
            return False
        update = self.doc.settings.element.find(qn("w:updateFields"))
        if update is not None:
            update.getparent().remove(update)
        self.summary.contents_numbered = True
        self.summary.pages = total
        return True

    def about(self) -> None:
        doc = self.doc
        doc.add_heading("About this report", level=1)
        doc.add_paragraph(self.study_paragraph())
        doc.add_paragraph(
            "This report summarises the evidence coded to the study's research questions. Each section starts "
            "with a table of the themes under one research question: how many excerpts are coded to each theme, "
            "from how many participants and documents, by Integrated Care System (ICS) and fieldwork wave. Each "
            "theme is then described, with quotations chosen by the rules below, and a framework matrix shows "
            "who spoke to each theme where and when."
        )
        doc.add_heading("Research questions", level=2)
        self.research_questions_table()
        doc.add_heading("How to read the counts", level=2)
        for text in (
            "An excerpt is one interview turn or one paragraph of a document. Tables count excerpts: an excerpt "
            "counts once for a theme however many coders coded it, and once in a research question's total "
            "however many of its themes it speaks to (so totals are not the sum of the rows above them).",
            "Participants are the distinct interviewees behind the excerpts; documents are the distinct board "
            "papers, policies and observation notes. Each has its own column.",
            "The ICS columns add up to the excerpts in total: “National” holds documents that belong to no single "
            "ICS. The wave columns (W1 = wave 1 …) add up to the total too.",
            "Excerpts of participants who did not agree to verbatim quotation are counted in every table but "
            "never quoted; each theme says how many, and Appendix B gives the number of such coded excerpts for "
            "the whole report.",
            self.status_sentence(),
        ):
            doc.add_paragraph(text, style="List Bullet")
        doc.add_heading("How quotations are chosen", level=2)
        cap = self.selection.cap
        for text in (
            f"Participant voices first: interview quotations fill each theme's places (up to {self.selection.per_theme}); "
            "board papers, policies and observation notes fill only the places no interview can.",
            "Every theme with quotable interview evidence has at least one interview quotation.",
            "Spread: no excerpt is quoted twice in the report, and no participant more than once per theme"
            + (f" or more than {cap} times in the report" if cap else "")
            + "; within a theme, ICSs, waves and participants not yet quoted come first, and across the report "
            "the participants quoted least.",
            f"Never quoted: table rows, agenda and attendance lines, and passages of fewer than {MIN_WORDS} words. "
            "The researcher's own bracketed notes in observation records are left out of the quotation.",
            "Reviewed evidence first: a coding a researcher has accepted outranks any automatic suggestion. "
            + self.quote_status_sentence(),
            "Quotations are verbatim; “…” marks where a long excerpt was shortened.",
        ):
            doc.add_paragraph(text, style="List Bullet")

    def research_questions_table(self) -> None:
        """The six questions with their evidence, first in the report (the key to what follows)."""
        doc = self.doc
        self.caption("Research questions and their evidence")
        table = doc.add_table(rows=1, cols=5)
        _header(table, ["RQ", "Question", "Excerpts", "Participants", "Documents"])
        _align_header(table, 2)
        for rq in self.rqs:
            code = self.by_id.get(rq, {})
            rows = [r for r in self.rows if r["rq"] == rq]
            e, p, d = counts(rows)
            cells = table.add_row().cells
            _cell_text(cells[0], rq, bold=True)
            _cell_text(cells[1], typeset(code.get("description") or self.rq_title(rq)))
            for cell, value in zip(cells[2:], (e, p, d)):
                _cell_text(cell, str(value), align="right")
        _widths(table, [Cm(1.3), Cm(9.5), Cm(1.8), Cm(2.2), Cm(1.8)])
        self.table_note("Excerpts coded to each research question (each excerpt once), the distinct participants "
                        "and documents they come from.")

    def status_sentence(self) -> str:
        if self.filters.status == "accepted":
            return "Only codings accepted by a researcher are counted and quoted (exported with --status accepted)."
        statuses = defaultdict(int)
        for row in self.rows:
            statuses[row.get("status")] += 1
        accepted, suggested = statuses.get("accepted", 0), statuses.get("suggested", 0)
        if not accepted:
            return (f"None of the {suggested:,} codings counted has been reviewed yet: all are automatic suggestions"
                    f"{self.suggesters()}. Rejected suggestions are never counted.")
        return (f"Counts include every coding not rejected: {accepted:,} accepted by a researcher and {suggested:,} "
                "automatic suggestions not yet reviewed. Export with --status accepted to count accepted codings only.")

    def suggesters(self) -> str:
        """Who made the unreviewed suggestions, for :meth:`status_sentence`: the codebook alone,
        or how many themes its patterns matched, how many RQs their key terms named and how many
        RQs the learned model judged."""
        kinds = Counter(suggestion_kind(r) for r in self.rows if r.get("status") == "suggested")
        keyed, learned = kinds["key terms"], kinds["model alone"]
        if not learned and not keyed:
            return " of the codebook"
        named = f", {keyed:,} research questions named by their key terms" if keyed else ""
        return (f": {kinds['themes']:,} themes matched by the codebook's patterns{named} and {learned:,} research "
                "questions judged as a whole by the learned model")

    def quote_status_sentence(self) -> str:
        if self.quoted_statuses == {"accepted"}:
            return "Every quotation in this report comes from a coding a researcher accepted."
        if self.quoted_statuses <= {"suggested", None}:
            return ("No quoted coding has been reviewed yet, so every quotation comes from an automatic suggestion; "
                    "export with --status accepted once codings are reviewed to quote reviewed evidence only.")
        return ("Quotations from codings not yet reviewed are marked “not yet reviewed”; export with --status "
                "accepted to quote (and count) reviewed evidence only.")

    def table_note(self, text: str) -> None:
        """The one line under a table that says what its numbers count."""
        self.doc.add_paragraph(text, style="Table Note")

    def themes_of(self, rq: str) -> list[tuple[dict, int]]:
        """The codes under ``rq`` in codebook order, with their depth (1 = theme)."""
        children = defaultdict(list)
        for code in self.codes:
            children[code.get("parent_id")].append(code)
        out: list[tuple[dict, int]] = []

        def walk(parent: str, depth: int):
            for child in children.get(parent, []):
                out.append((child, depth))
                walk(child["id"], depth + 1)

        walk(rq, 1)
        if not out:  # a codebook without parent links: everything in the RQ except the top
            out = [(c, 1) for c in self.codes if c["rq"] == rq and c["id"] != rq]
        return out

    def rq_level(self, rq: str) -> dict | None:
        """A theme-like section for the evidence coded to ``rq`` itself and to none of its
        themes (the learned model's judgements on general talk, or a researcher coding the
        question), or None when there is none."""
        if not self.whole_rows(rq, self.rows):
            return None
        return {"id": rq, "rq": rq, "parent_id": rq, "rq_level": True, "name": f"{rq} as a whole (no theme)",
                "description": RQ_LEVEL_DESCRIPTION}

    def sections_of(self, rq: str) -> list[tuple[dict, int]]:
        """The RQ's themes, then its evidence with no theme (when there is any)."""
        whole = self.rq_level(rq)
        return self.themes_of(rq) + ([(whole, 1)] if whole else [])

    def subtree(self, code_id: str) -> set[str]:
        ids, frontier = {code_id}, [code_id]
        while frontier:
            current = frontier.pop()
            for code in self.codes:
                if code.get("parent_id") == current and code["id"] not in ids:
                    ids.add(code["id"])
                    frontier.append(code["id"])
        return ids

    def caption(self, text: str) -> None:
        self.table_no += 1
        self.doc.add_paragraph(f"Table {self.table_no}. {text}", style="Caption")

    def rq_section(self, rq: str) -> None:
        doc = self.doc
        doc.add_heading(self.rq_title(rq), level=1)
        code = self.by_id.get(rq, {})
        rq_rows = [r for r in self.rows if r["rq"] == rq]
        themes = self.themes_of(rq)
        e, p, d = counts(rq_rows)
        lead = doc.add_paragraph()
        if code.get("description"):
            lead.add_run(typeset(code["description"]).rstrip(".") + ". ").italic = True
        whole = len({r["excerpt_id"] for r in self.whole_rows(rq, rq_rows)})
        lead.add_run(
            (f"{spread(e, p, d)} {'are' if e != 1 else 'is'} coded to {plural(len(themes), 'theme')} under {rq}"
             + (f" or to the question as a whole ({whole} of them)" if whole else "") + ".")
            if rq_rows else f"No evidence is coded to {rq} within the filters of this report."
        )
        self.summary.themes += len(themes)
        themes = self.sections_of(rq)
        self.summary.excerpts += e
        if not themes:
            return
        self.summary_table(rq, themes, rq_rows)
        for theme, depth in themes:
            self.theme(theme, depth, self.section_rows(theme, rq_rows))
        self.framework(rq, themes, rq_rows)

    def summary_table(self, rq: str, themes: list[tuple[dict, int]], rq_rows: list[dict]) -> None:
        """Themes × (excerpts, participants, documents, excerpts by ICS, excerpts by wave)."""
        doc = self.doc
        self.caption(f"{rq}: themes by ICS and wave")
        ics_labels = [label for label, _ in self.ics_columns]
        wave_labels = [label for label, _ in self.wave_columns]
        labels = ["Theme", "Excerpts", "Participants", "Documents"] + ics_labels + wave_labels
        table = doc.add_table(rows=2, cols=len(labels))
        groups = [(1, 3, "All evidence"), (4, 3 + len(ics_labels), "Excerpts by ICS"),
                  (4 + len(ics_labels), len(labels) - 1, "Excerpts by wave")]
        _group_header(table, groups, labels)

        def add(label: str, rows: list[dict], bold: bool, indent: int = 0) -> None:
            cells = table.add_row().cells
            _cell_text(cells[0], label, bold=bold, indent=indent)
            te, tp, td = counts(rows)
            values = [te, tp, td]
            values += [counts([r for r in rows if r.get("ics") == v])[0] for _, v in self.ics_columns]
            values += [counts([r for r in rows if r.get("wave") == v])[0] for _, v in self.wave_columns]
            for i, value in enumerate(values):
                _cell_text(cells[1 + i], str(value) if value or i == 0 else "–", align="right", bold=bold and i == 0)

        for theme, depth in themes:
            if theme.get("rq_level"):
                add(typeset(theme["name"]), self.section_rows(theme, rq_rows), bold=True)
                continue
            ids = self.subtree(theme["id"]) if depth == 1 else {theme["id"]}
            add(typeset(theme["name"]), [r for r in rq_rows if r["code_id"] in ids], bold=depth == 1, indent=depth - 1)
        add(f"All {rq} evidence", rq_rows, bold=True)
        _fit_widths(table, labels, first_min=2.6)
        self.table_note(
            "Excerpts coded to each theme (a theme's row includes its sub-themes); participants and documents they "
            "come from. ICS and wave columns add up to Excerpts; the last row counts each excerpt once."
            + (f" “{rq} as a whole”: excerpts coded to the question itself and to none of its themes."
               if any(t.get("rq_level") for t, _ in themes) else "")
            + self.wave_key()
        )

    def wave_key(self) -> str:
        """`` W1 = wave 1 (2024); W2 = wave 2 (2025).`` from the study settings (empty without dates)."""
        dated = [w for w in self.waves if self.settings.wave(w) and self.settings.wave(w).years()]
        return (" " + "; ".join(f"W{w} = {study.wave_label(self.settings, w)}" for w in dated) + ".") if dated else ""

    def theme(self, theme: dict, depth: int, rows: list[dict]) -> None:
        doc = self.doc
        doc.add_heading(typeset(theme["name"]), level=min(depth + 1, 3))
        if theme.get("description"):
            doc.add_paragraph(typeset(theme["description"]))
        e, p, d = counts(rows)
        if not rows:
            doc.add_paragraph("No excerpts are coded to this theme within the filters of this report.", style="Note")
            return
        where = [label for label, value in self.ics_columns if any(r.get("ics") == value for r in rows)]
        waves = sorted({r.get("wave") for r in rows if r.get("wave") is not None})
        accepted = len({r["excerpt_id"] for r in rows if r.get("status") == "accepted"})
        reviewed = f" ({accepted} accepted by a researcher)" if accepted and self.filters.status != "accepted" else ""
        doc.add_paragraph(
            f"Evidence: {spread(e, p, d)}{reviewed}; {', '.join(where) or 'no ICS'}; "
            f"wave{'s' if len(waves) != 1 else ''} {', '.join(map(str, waves)) or '–'}.",
            style="Note",
        )
        chosen = self.selection.quotes.get(theme["id"], [])
        for row in chosen:
            doc.add_paragraph(f"“{row['_quote']}”", style="Quote")
            note = attribution(row, self.settings)
            if self.label_unreviewed and row.get("status") != "accepted":
                note += " · not yet reviewed"
            doc.add_paragraph(f"— {note}", style="Quote Attribution")
            self.summary.quotes += 1
        withheld = [r for r in per_excerpt(rows) if not common.is_quotable(r)]
        if not chosen and len(withheld) < e:
            doc.add_paragraph("No quotation: none of this theme's excerpts meets the rules in “How quotations are "
                              "chosen”, or each is already quoted under another theme.", style="Note")
        if withheld:
            # the publish database does not say whose withheld excerpts are (docs/consent.md)
            doc.add_paragraph(
                f"{len(withheld)} further excerpt{'s' if len(withheld) != 1 else ''} from "
                f"participants who did not consent to verbatim quotation "
                f"{'are' if len(withheld) != 1 else 'is'} counted above but not quoted.",
                style="Note",
            )

    def framework(self, rq: str, themes: list[tuple[dict, int]], rq_rows: list[dict]) -> None:
        doc = self.doc
        doc.add_heading(f"Framework matrix: {rq}", level=2)
        doc.add_paragraph(
            "Who contributed evidence to each theme, by ICS (columns) and wave (one line per wave in each cell).",
            style="Note",
        )
        self.caption(f"{rq}: framework matrix – theme × ICS, by wave")
        table = doc.add_table(rows=1, cols=1 + len(self.ics_columns))
        _header(table, ["Theme"] + [label for label, _ in self.ics_columns])
        for theme, depth in themes:
            rows = self.section_rows(theme, rq_rows)
            cells = table.add_row().cells
            _cell_text(cells[0], typeset(theme["name"]), bold=True)
            for i, (_, ics) in enumerate(self.ics_columns):
                lines = []
                for label, wave in self.wave_columns:
                    here = [r for r in rows if r.get("ics") == ics and r.get("wave") == wave]
                    if not here:
                        continue
                    people = sorted({r["participant_id"] for r in here if r.get("participant_id")})
                    docs = len({r["source_id"] for r in here if not r.get("participant_id")})
                    who = people + ([plural(docs, "doc")] if docs else [])
                    lines.append(f"{label}: {len({r['excerpt_id'] for r in here})} – {', '.join(who)}")
                _cell_lines(cells[1 + i], lines or ["–"])
        _widths(table, [Cm(4.2)] + [Cm(12.4 / max(len(self.ics_columns), 1))] * len(self.ics_columns))
        self.table_note("“W2: 5 – P03, P07, 1 doc”: in wave 2, 5 excerpts coded to the theme, from participants P03 "
                        "and P07 and one document.")

    def appendix_sources(self) -> None:
        doc = self.doc
        doc.add_heading("Appendix A. Sources of evidence", level=1)
        where, params = [], []
        if self.filters.ics:
            where.append(f"ics IN ({', '.join('?' * len(self.filters.ics))})")
            params += self.filters.ics
        if self.filters.waves:
            where.append(f"wave IN ({', '.join('?' * len(self.filters.waves))})")
            params += self.filters.waves
        sql = "SELECT * FROM sources" + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY kind, ics, date, id"
        sources = common.rows(self.conn, sql, params)
        used = defaultdict(set)
        for r in self.rows:
            used[r["source_id"]].add(r["excerpt_id"])
        doc.add_paragraph(
            f"{len(sources)} sources are in scope. Interviews are listed by participant ID only; "
            "“Coded” is the number of excerpts of each source that appear in this report.",
        )
        self.caption("Sources in scope")
        table = doc.add_table(rows=1, cols=6)
        table.style = doc.styles["Light List Accent 1"]
        _header(table, ["Source", "Kind", "ICS", "Wave", "Date", "Coded"])
        for s in sources:
            title = s.get("title") or ""
            if s.get("kind") == "transcript" and s.get("participant_id"):
                title = f"Interview with {s['participant_id']}" + (f" ({s['collaborative']})" if s.get("collaborative") else "")
            cells = table.add_row().cells
            _cell_text(cells[0], title)
            _cell_text(cells[1], KIND_LABELS.get(s.get("kind"), s.get("kind") or ""))
            _cell_text(cells[2], s.get("ics") or "–")
            _cell_text(cells[3], str(s["wave"]) if s.get("wave") is not None else "–", align="center")
            _cell_text(cells[4], s.get("date") or "–")
            _cell_text(cells[5], str(len(used.get(s["id"], ()))), align="right")
        _widths(table, [Cm(6.0), Cm(2.4), Cm(2.8), Cm(1.4), Cm(2.3), Cm(1.7)])

    def appendix_consent(self) -> None:
        doc = self.doc
        doc.add_heading("Appendix B. Consent summary", level=1)
        doc.add_paragraph(
            "Counts only, from the consent register at the time the evidence was published. Withdrawn "
            "participants' evidence is excluded from every table and quotation; participants who did not "
            "consent to verbatim quotation are counted but never quoted."
        )
        if common.has_table(self.conn, "consent_summary"):
            data = common.rows(self.conn, "SELECT * FROM consent_summary")
            cols = common.columns(self.conn, "consent_summary")
            numeric = [c for c in cols if data and all(isinstance(r[c], (int, float)) or r[c] is None for r in data)]
            if len(data) > 1 and numeric and cols[0] not in numeric:
                data.append({c: (sum(r[c] or 0 for r in data) if c in numeric else "All") for c in cols})
            if data:
                self.caption("Consent register (counts)")
                table = doc.add_table(rows=1, cols=len(cols))
                table.style = doc.styles["Light List Accent 1"]
                labels = {"ics": "ICS", "interview_consent": "Consented to interview", "quotation_refused": "Refused quotation"}
                _header(table, [labels.get(c, c.replace("_", " ").capitalize()) for c in cols])
                for row in data:
                    cells = table.add_row().cells
                    for i, c in enumerate(cols):
                        value = row[c]
                        _cell_text(cells[i], "" if value is None else str(value), bold=row is data[-1] and len(data) > 2 and i == 0,
                                   align="right" if isinstance(value, (int, float)) else None)
                first = 16.6 - 3.0 * (len(cols) - 1) if len(cols) > 1 else 16.6
                _widths(table, [Cm(max(first, 3.5))] + [Cm(3.0)] * (len(cols) - 1))
        withheld = len({r["excerpt_id"] for r in self.rows if not common.is_quotable(r)})
        doc.add_paragraph(  # whose they are is not in the publish database (docs/consent.md): no count of people
            f"In this report, {withheld} coded excerpt{'s' if withheld != 1 else ''} of participants who did not "
            f"consent to verbatim quotation {'were' if withheld != 1 else 'was'} counted but withheld from "
            "quotation (each excerpt once, however many themes it is coded to; the notes under the themes count it "
            "once per theme).",
        )

    def appendix_agreement(self) -> None:
        doc = self.doc
        conn = self.conn
        doc.add_heading("Appendix C. Coder agreement", level=1)
        clause, params = self.filtered("rq", "ics", "wave")
        # review_summary counts rejected suggestions too (the evidence table leaves them out);
        # an older publish database without it falls back to the evidence table.
        if common.has_table(conn, "review_summary"):
            review_sql = f"SELECT rq, status, sum(n) AS n FROM review_summary WHERE {clause} GROUP BY rq, status"
        else:
            review_sql = f"SELECT rq, status, count(*) AS n FROM evidence WHERE {machine_coder('coder')} AND {clause} GROUP BY rq, status"
        review = common.rows(conn, review_sql, params)
        doc.add_paragraph(
            "How the automatic suggestions of the codebook were reviewed by researchers, per research question. "
            "“Pending” suggestions have not been reviewed yet; the proportion accepted is of reviewed suggestions."
        )
        self.caption("Review of automatic suggestions")
        table = doc.add_table(rows=1, cols=6)
        table.style = doc.styles["Light List Accent 1"]
        _header(table, ["RQ", "Suggestions", "Accepted", "Rejected", "Pending", "Accepted of reviewed"])
        for rq in self.rqs:
            n = defaultdict(int)
            for r in review:
                if r["rq"] == rq:
                    n[r["status"]] += r["n"]
            total = sum(n.values())
            reviewed = n["accepted"] + n["rejected"]
            share = f"{100 * n['accepted'] / reviewed:.0f}%" if reviewed else "–"
            cells = table.add_row().cells
            for i, value in enumerate([rq, total, n["accepted"], n["rejected"], n["suggested"], share]):
                _cell_text(cells[i], str(value), bold=i == 0, align=None if i == 0 else "right")
        _widths(table, [Cm(1.6), Cm(3.0), Cm(3.0), Cm(3.0), Cm(3.0), Cm(3.0)])
        self.coder_scorecard()

        self.agreement_between_coders()

    def filtered(self, *columns: str) -> tuple[str, list]:
        """A WHERE clause (and its parameters) holding the report's filters on ``columns`` of
        a publish table: ``rq`` its research questions, ``ics`` and ``wave`` its ICS and waves."""
        chosen = {"rq": self.rqs, "ics": self.filters.ics, "wave": self.filters.waves}
        where, params = [], []
        for column in columns:
            if chosen[column]:
                where.append(f"{column} IN ({', '.join('?' * len(chosen[column]))})")
                params.extend(chosen[column])
        return " AND ".join(where) or "1", params

    def coder_scorecard(self) -> None:
        """The automatic coder's scorecard on the excerpts researchers reviewed in full (the publish
        database's ``suggestion_outcomes``, as `casestudy review scorecard` computes it)."""
        from casestudy.coding import scorecard
        from casestudy.coding.agreement import fmt

        doc, conn = self.doc, self.conn
        if not common.has_table(conn, "suggestion_outcomes"):
            doc.add_paragraph("This publish database was built before the suggestions' outcomes were recorded; run "
                              "`casestudy publish` again to compare the suggestions with researchers' decisions.",
                              style="Note")
            return
        clause, params = self.filtered("rq", "ics", "wave")
        scores = {rq: scorecard.RQScore(rq) for rq in self.rqs}
        for r in common.rows(conn, f"SELECT rq, outcome, count(*) AS n FROM suggestion_outcomes WHERE {clause} "
                                   "GROUP BY rq, outcome", params):
            scorecard.add_outcome(scores[r["rq"]], r["outcome"], r["n"])
        where, place = self.filtered("ics", "wave")  # every excerpt reviewed in full, whatever its RQs
        reviewed = conn.execute(f"SELECT count(DISTINCT excerpt_id) FROM suggestion_outcomes WHERE {where}",
                                place).fetchone()[0]
        if not reviewed:
            doc.add_paragraph("No excerpt has been reviewed in full yet (a researcher decided on it and no suggestion on "
                              "it is waiting), so the suggestions cannot yet be compared with researchers' decisions.",
                              style="Note")
            return
        card = scorecard.Scorecard(reviewed, 0, list(scores.values()))
        doc.add_paragraph(
            f"How far the suggestions can be trusted: on the {reviewed:,} excerpt{'s' if reviewed != 1 else ''} "
            f"researchers have reviewed in full, per research question, how many suggestions they kept and how many "
            f"questions they applied that were not suggested (macro-F1 {fmt(card.macro_f1)}).")
        self.caption("Automatic suggestions against researchers' decisions")
        table = doc.add_table(rows=1, cols=7)
        table.style = doc.styles["Light List Accent 1"]
        _header(table, ["RQ", "Agreed", "False alarms", "Missed", "Precision", "Recall", "F1"])
        _align_header(table, 1)
        for score in card.by_rq:
            cells = table.add_row().cells
            values = [score.rq, score.agreed, score.false_alarms, score.missed,
                      fmt(score.precision), fmt(score.recall), fmt(score.f1)]
            for i, value in enumerate(values):
                _cell_text(cells[i], str(value), bold=i == 0, align=None if i == 0 else "right")
        _widths(table, [Cm(1.6), Cm(2.4), Cm(2.6), Cm(2.4), Cm(2.4), Cm(2.4), Cm(2.4)])
        self.table_note(
            "Excerpts reviewed in full, counted once per research question: agreed = suggested and applied, false "
            "alarm = suggested and not applied, missed = applied by a researcher and not suggested. Precision = "
            "agreed / suggested, recall = agreed / applied. Researchers saw the suggestions as they decided, so "
            "recall counts only what they added by hand.")

    def agreement_between_coders(self) -> None:
        """Inter-coder agreement from every researcher's decisions: the table the workspace's
        agreement page shows (``casestudy.coding.agreement`` on the publish db's ``agreement_ratings``)."""
        from casestudy.coding import agreement

        doc, conn = self.doc, self.conn
        doc.add_heading("Agreement between researchers", level=2)
        if not common.has_table(conn, "agreement_ratings"):
            doc.add_paragraph("This publish database was built before agreement was recorded; run `casestudy publish` "
                              "again to report it.", style="Note")
            return
        # the report's ICS and wave filters; its RQ filter is the themes compared
        where, params = self.filtered("ics", "wave")
        rows = common.rows(conn, f"SELECT excerpt_id, coder, automatic, code_id, value FROM agreement_ratings WHERE {where}", params)
        themes = [{"id": c["id"], "rq": rq, "name": c["name"]} for rq in self.rqs for c, _ in self.themes_of(rq)]
        rq_codes = {r["rq"]: r["id"] for r in common.rows(conn, "SELECT id, rq FROM codes WHERE codable = 0")}
        result = agreement.compute(agreement.ratings_from_rows(rows), themes, rq_codes)
        pairs = [(row, p) for row in result.by_scope("rq") for p in row.pairs]
        if not pairs:
            doc.add_paragraph(
                "No two researchers have decided on the same excerpts yet, so agreement cannot be reported. Assign a "
                "double-coding sample in the coding workspace (`casestudy workspace`).", style="Note")
        else:
            doc.add_paragraph(
                "Computed from every researcher's decisions, as on the coding workspace's agreement page. A unit is one "
                "excerpt and one theme; a researcher's value is their latest decision on it (accepted, added or coded a "
                "part of the excerpt = applied; rejected or removed = not applied; on an excerpt they decided on or "
                "finished, a theme they did not apply = not applied; a suggestion they have not decided yet = no value). "
                "For each research question the units are its themes on the excerpts both researchers rated. Cohen's κ "
                "for each pair; Krippendorff's α (nominal) across all researchers; agreement = share of units with the "
                "same value.")
            self.caption("Inter-coder agreement from researchers' decisions (Cohen's κ, Krippendorff's α)")
            table = doc.add_table(rows=1, cols=6)
            table.style = doc.styles["Light List Accent 1"]
            _header(table, ["Coders", "RQ", "Shared excerpts", "Agreement", "Cohen's κ", "Krippendorff's α"])
            for row, pair in pairs:
                shared = len({e for e, r in self._shared(rows, pair.a, pair.b)})
                cells = table.add_row().cells
                _cell_text(cells[0], f"{pair.a} & {pair.b}")
                _cell_text(cells[1], row.rq, bold=True)
                _cell_text(cells[2], str(shared), align="right")
                _cell_text(cells[3], agreement.fmt(pair.agreement, percent=True), align="right")
                _cell_text(cells[4], agreement.fmt(pair.kappa), align="right")
                _cell_text(cells[5], agreement.fmt(row.alpha), align="right")
            _widths(table, [Cm(4.4), Cm(1.4), Cm(2.6), Cm(2.6), Cm(2.6), Cm(3.0)])
            self.themes_disagreed(result)
        machine = [(row, p) for row in result.by_scope("rq") for p in row.machine_pairs]
        if machine:
            doc.add_paragraph(
                "Researchers compared with the automatic suggestions (the codebook's, and a learned model's when one "
                "was used), on the excerpts each researcher rated: a suggestion counts as applying its theme.")
            self.caption("Agreement between researchers and automatic suggestions")
            table = doc.add_table(rows=1, cols=5)
            table.style = doc.styles["Light List Accent 1"]
            _header(table, ["Researcher", "Automatic coder", "RQ", "Agreement", "Cohen's κ"])
            for row, pair in machine:
                cells = table.add_row().cells
                for k, value in enumerate([pair.a, pair.b, row.rq, agreement.fmt(pair.agreement, percent=True),
                                           agreement.fmt(pair.kappa)]):
                    _cell_text(cells[k], value, bold=k == 2, align="right" if k >= 3 else None)
            _widths(table, [Cm(4.0), Cm(4.4), Cm(1.6), Cm(3.0), Cm(3.0)])

    def themes_disagreed(self, result) -> None:
        """The themes researchers disagreed on, lowest alpha first (at most THEMES_DISAGREED; the
        workspace's agreement page lists them all)."""
        from casestudy.coding import agreement

        disputed = {d.code_id for d in result.disagreements}
        themed = [r for r in result.by_scope("theme") if r.code_id in disputed and any(p.units for p in r.pairs)]
        if not themed:
            return
        most = THEMES_DISAGREED
        themed.sort(key=lambda r: (r.alpha is None, r.alpha or 0.0, r.agreement or 0.0, r.rq, r.name))
        self.caption("Themes the researchers disagreed on, lowest Krippendorff's α first")
        table = self.doc.add_table(rows=1, cols=5)
        table.style = self.doc.styles["Light List Accent 1"]
        _header(table, ["Theme", "RQ", "Units", "Agreement", "Krippendorff's α"])
        _align_header(table, 2)
        for r in themed[:most]:
            cells = table.add_row().cells
            for k, value in enumerate([r.name, r.rq, f"{r.units:,}", agreement.fmt(r.agreement, percent=True),
                                       agreement.fmt(r.alpha)]):
                _cell_text(cells[k], value, bold=k == 1, align="right" if k >= 2 else None)
        _widths(table, [Cm(7.0), Cm(1.4), Cm(2.0), Cm(2.6), Cm(3.0)])
        more = len(themed) - most
        self.table_note("Units: excerpt and theme pairs that two or more researchers rated; agreement: the share of them "
                        "with the same value."
                        + (f" {more} more theme{'s' if more != 1 else ''} had a disagreement; the coding workspace's "
                           "agreement page lists every theme and every disagreement." if more > 0 else ""))

    @staticmethod
    def _shared(rows: list[dict], a: str, b: str):
        """(excerpt, coder) markers of the excerpts both ``a`` and ``b`` rated."""
        rated = {}
        for r in rows:
            rated.setdefault(r["excerpt_id"], set()).add(r["coder"])
        return [(e, c) for e, c in rated.items() if a in c and b in c]


    def appendix_indicators(self) -> None:
        doc = self.doc
        doc.add_heading(INDICATORS_TITLE, level=1)
        doc.add_paragraph(
            "The study's routine quantitative data: for each indicator and ICS (and the collaborative it is reported "
            "for), the first and the latest period in scope, their values and the change between them. Periods are "
            "calendar quarters (2024Q1 = January–March 2024), months, years or dates; a period's wave is its year "
            "(2024 = wave 1, 2025 = wave 2, 2026 = wave 3). These are aggregate figures and no participant is identifiable."
        )
        self.caption("Routine indicators: first and latest values")
        table = doc.add_table(rows=1, cols=7)
        _header(table, ["Indicator", "Unit", "ICS", "Collaborative", "First", "Latest", "Change"])
        _align_header(table, 4)
        for r in self.indicators:
            name, unit = indicator_label(r["indicator"], r.get("unit"))
            cells = table.add_row().cells
            _cell_text(cells[0], name)
            _cell_text(cells[1], unit)
            _cell_text(cells[2], r["ics"] or "–")
            _cell_text(cells[3], r["collaborative"] or "–")
            _cell_lines(cells[4], [format_number(r["first"], r["decimals"]), period_label(r["first_period"])], align="right")
            _cell_lines(cells[5], [format_number(r["latest"], r["decimals"]), period_label(r["latest_period"])], align="right")
            _cell_text(cells[6], format_change(r["first"], r["latest"], r["decimals"]), align="right")
        _widths(table, [Cm(3.3), Cm(1.9), Cm(2.1), Cm(3.5), Cm(1.8), Cm(1.8), Cm(2.2)])
        self.table_note("First and latest value of each indicator in scope, with their periods; the change is "
                        "latest minus first, and as a percentage of the first.")


# Words of an indicator's identifier that name its unit ("agency_spend_gbp_000": £ thousands).
_UNIT_SUFFIXES = [
    (("gbp", "000"), "£ thousands"), (("gbp", "k"), "£ thousands"), (("gbp", "m"), "£ millions"), (("gbp",), "£"),
    (("pct",), "%"), (("percent",), "%"), (("per", "1000"), "per 1,000"), (("days",), "days"), (("weeks",), "weeks"),
    (("hours",), "hours"), (("minutes",), "minutes"), (("mins",), "minutes"), (("rate",), "rate"),
]
_ACRONYMS = {"rtt", "ae", "a&e", "ed", "icb", "ics", "nhs", "gp", "mh", "ld", "oap", "oaps", "los", "mhlda", "vcse",
             "cqc", "ccg", "mhsds", "ecds", "sus", "ooa", "ctr", "ucr", "itu", "icu", "dtoc"}
_PHRASES = {"out of area": "out-of-area", "a and e": "A&E", "length of stay": "length of stay"}


def indicator_label(name: str, unit: str | None = None) -> tuple[str, str]:
    """A readable name and unit for an indicator id: ``rtt_52_week_waits`` → ("RTT 52-week
    waits", "number"); ``agency_spend_gbp_000`` → ("Agency spend", "£ thousands"). An id that
    is already written as words is kept; a unit given in the data wins over the id's suffix."""
    text = str(name or "").strip()
    if not re.fullmatch(r"[A-Za-z0-9_\-]+", text) or ("_" not in text and "-" not in text):
        return text, unit or "number"
    words = [w for w in re.split(r"[_\-]+", text.lower()) if w]
    found_unit = ""
    for suffix, label in _UNIT_SUFFIXES:
        if len(words) > len(suffix) and tuple(words[-len(suffix):]) == suffix:
            words, found_unit = words[: -len(suffix)], label
            break
    out = " ".join("A&E" if w == "ae" else w.upper() if w in _ACRONYMS else w for w in words)
    out = re.sub(r"\b(\d+) (week|day|hour|month|year|minute)\b", r"\1-\2", out)
    for phrase, replacement in _PHRASES.items():
        out = out.replace(phrase, replacement)
    return out[:1].upper() + out[1:], unit or found_unit or "number"


def period_label(period: str | None) -> str:
    """``2024Q1`` → ``2024 Q1`` (a quarter reads better with a space); others as they are."""
    text = str(period or "")
    return re.sub(r"^(\d{4})Q([1-4])$", r"\1 Q\2", text) or "–"


INDICATORS_TITLE = "Appendix D. Routine indicators"


def indicator_changes(conn: sqlite3.Connection, filters: common.Filters) -> list[dict]:
    """First and latest value of each indicator per ICS and collaborative, within the ICS and wave
    filters; empty when the publish database has no ``indicators`` table or no rows in scope."""
    if not common.has_table(conn, "indicators"):
        return []
    where, params = [], []
    if filters.ics:
        where.append(f"lower(ics) IN ({', '.join('?' * len(filters.ics))})")
        params += [i.lower() for i in filters.ics]
    if filters.waves:
        where.append(f"wave IN ({', '.join('?' * len(filters.waves))})")
        params += list(filters.waves)
    found = common.rows(
        conn,
        "SELECT indicator, unit, ics, collaborative, period, period_start, value FROM indicators"
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + " ORDER BY indicator, ics, collaborative, period_start, id",
        params,
    )
    series: dict[tuple, dict] = {}
    for r in found:
        key = (r["indicator"], r["ics"], r["collaborative"])
        if key not in series:
            series[key] = {**r, "first": r["value"], "first_period": r["period"], "decimals": 0}
        series[key]["decimals"] = max(series[key]["decimals"], _decimals(r["value"]))
        series[key].update({"latest": r["value"], "latest_period": r["period"], "unit": series[key]["unit"] or r["unit"]})
    return list(series.values())


def _decimals(value) -> int:
    text = repr(float(value)) if isinstance(value, float) else str(value)
    return min(len(text.split(".")[1]), 4) if "." in text and "e" not in text else 0


def format_number(value, decimals: int | None = None) -> str:
    """``2400`` → ``2,400``; ``5.6`` → ``5.6``; a minus sign, not a hyphen."""
    if value is None:
        return "–"
    decimals = _decimals(value) if decimals is None else decimals
    text = f"{abs(value):,.{decimals}f}"
    return ("−" if value < 0 and float(text.replace(",", "")) else "") + text


def format_change(first, latest, decimals: int | None = None) -> str:
    """The change from ``first`` to ``latest``, signed, with the percentage: ``−2,180 (−90.8%)``."""
    if first is None or latest is None:
        return "–"
    if decimals is None:
        decimals = max(_decimals(first), _decimals(latest))
    diff = round(latest - first, decimals)
    sign = "+" if diff > 0 else ""
    text = sign + format_number(diff, decimals)
    if first:
        pct = 100.0 * (latest - first) / abs(first)
        text += f" ({'+' if pct > 0 else '−' if pct < 0 else ''}{abs(pct):.1f}%)"
    return text


# --- low-level python-docx helpers -------------------------------------------------------


def _short(name: str) -> str:
    return name or ""


def _paragraph_style(styles, name: str, base: str):
    try:
        return styles[name]
    except KeyError:
        style = styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
        style.base_style = styles[base]
        style.quick_style = True
        return style


def _pbdr(style):
    ppr = style.element.get_or_add_pPr()
    border = ppr.find(qn("w:pBdr"))
    if border is None:
        border = OxmlElement("w:pBdr")
        # w:pBdr sits after keepNext/keepLines/pageBreakBefore/framePr/widowControl/numPr/suppressLineNumbers
        successors = ("w:shd", "w:tabs", "w:suppressAutoHyphens", "w:kinsoku", "w:wordWrap", "w:overflowPunct",
                      "w:topLinePunct", "w:autoSpaceDE", "w:autoSpaceDN", "w:bidi", "w:adjustRightInd", "w:snapToGrid",
                      "w:spacing", "w:ind", "w:contextualSpacing", "w:mirrorIndents", "w:suppressOverlap", "w:jc",
                      "w:textDirection", "w:textAlignment", "w:textboxTightWrap", "w:outlineLvl", "w:divId",
                      "w:cnfStyle", "w:rPr", "w:sectPr", "w:pPrChange")
        ppr.insert_element_before(border, *successors)
    return border


def _drop_border(style) -> None:
    ppr = style.element.get_or_add_pPr()
    border = ppr.find(qn("w:pBdr"))
    if border is not None:
        ppr.remove(border)


def _set_border(style, side: str, colour: str, size: int, space: int) -> None:
    border = _pbdr(style)
    for old in border.findall(qn(f"w:{side}")):
        border.remove(old)
    edge = OxmlElement(f"w:{side}")
    edge.set(qn("w:val"), "single")
    edge.set(qn("w:sz"), str(size))
    edge.set(qn("w:space"), str(space))
    edge.set(qn("w:color"), colour)
    order = ["top", "left", "bottom", "right", "between", "bar"]
    later = [border.find(qn(f"w:{s}")) for s in order[order.index(side) + 1 :]]
    later = [x for x in later if x is not None]
    if later:
        later[0].addprevious(edge)
    else:
        border.append(edge)


def _left_border(style, colour: str, size: int) -> None:
    _drop_border(style)
    _set_border(style, "left", colour, size, 8)


def _bottom_border(style, colour: str, size: int) -> None:
    _set_border(style, "bottom", colour, size, 4)


def _field(paragraph, instruction: str, placeholder: str, size: float | None = None) -> None:
    """A complex field (PAGE, NUMPAGES …) that Word and LibreOffice compute as they lay out."""

    def run_with(child):
        run = paragraph.add_run()
        if size:
            run.font.size = Pt(size)
            run.font.color.rgb = GREY
        run._r.append(child)
        return run

    begin = OxmlElement("w:fldChar")
    begin.set(qn("w:fldCharType"), "begin")
    run_with(begin)
    instr = OxmlElement("w:instrText")
    instr.set(qn("xml:space"), "preserve")
    instr.text = f" {instruction} "
    run_with(instr)
    separate = OxmlElement("w:fldChar")
    separate.set(qn("w:fldCharType"), "separate")
    run_with(separate)
    result = paragraph.add_run(placeholder)
    if size:
        result.font.size = Pt(size)
        result.font.color.rgb = GREY
    end = OxmlElement("w:fldChar")
    end.set(qn("w:fldCharType"), "end")
    run_with(end)


def _cell_text(cell, text: str, bold: bool = False, align: str | None = None, indent: int = 0) -> None:
    paragraph = cell.paragraphs[0]
    paragraph.style = "Table Text"
    if indent:
        paragraph.paragraph_format.left_indent = Cm(0.35 * indent)
    run = paragraph.add_run(text)
    if bold:
        run.bold = True
    if align == "right":
        paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    elif align == "center":
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER


def _cell_lines(cell, lines: list[str], align: str | None = None) -> None:
    _cell_text(cell, lines[0], align=align)
    for line in lines[1:]:
        paragraph = cell.add_paragraph(line, style="Table Text")
        paragraph.paragraph_format.space_before = Pt(2)
        if align == "right":
            paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT


def _header(table, labels: list[str]) -> None:
    _look(table, first_row=True, first_column=False)
    cells = table.rows[0].cells
    for cell, label in zip(cells, labels):
        _cell_text(cell, label, bold=True)
    # Repeat the header row on every page and keep it with the table.
    tr_pr = table.rows[0]._tr.get_or_add_trPr()
    repeat = OxmlElement("w:tblHeader")
    repeat.set(qn("w:val"), "true")
    tr_pr.append(repeat)


def _align_header(table, first_number_column: int) -> None:
    """Right-align the header labels over number columns, like the numbers below them."""
    for cell in table.rows[0].cells[first_number_column:]:
        for paragraph in cell.paragraphs:
            paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT


def _no_header_look(table) -> None:
    _look(table, first_row=False, first_column=True)


def _look(table, first_row: bool, first_column: bool) -> None:
    """Which parts of the table style apply (w:tblLook, the last child of w:tblPr)."""
    tbl_pr = table._tbl.tblPr
    look = tbl_pr.find(qn("w:tblLook"))
    if look is None:
        look = OxmlElement("w:tblLook")
        tbl_pr.append(look)
    look.set(qn("w:val"), f"{(0x20 if first_row else 0) | (0x80 if first_column else 0) | 0x400:04X}")
    look.set(qn("w:firstRow"), "1" if first_row else "0")
    look.set(qn("w:lastRow"), "0")
    look.set(qn("w:firstColumn"), "1" if first_column else "0")
    look.set(qn("w:lastColumn"), "0")
    look.set(qn("w:noHBand"), "0")
    look.set(qn("w:noVBand"), "1")


def _cell_margins(table, twips: int = 70) -> None:
    """Narrower left/right cell padding (w:tblCellMar sits just before w:tblLook)."""
    tbl_pr = table._tbl.tblPr
    if tbl_pr.find(qn("w:tblCellMar")) is not None:
        return
    margins = OxmlElement("w:tblCellMar")
    for side in ("left", "right"):
        edge = OxmlElement(f"w:{side}")
        edge.set(qn("w:w"), str(twips))
        edge.set(qn("w:type"), "dxa")
        margins.append(edge)
    look = tbl_pr.find(qn("w:tblLook"))
    if look is not None:
        look.addprevious(margins)
    else:
        tbl_pr.append(margins)


def _widths(table, widths) -> None:
    _cell_margins(table)
    table.autofit = False
    for row in table.rows:
        tr_pr = row._tr.get_or_add_trPr()
        if tr_pr.find(qn("w:cantSplit")) is None:  # a row never breaks across pages
            tr_pr.insert(0, OxmlElement("w:cantSplit"))
        for cell, width in zip(row.cells, widths):
            cell.width = width
    grid = table._tbl.tblGrid
    for col, width in zip(grid.findall(qn("w:gridCol")), widths):
        col.set(qn("w:w"), str(int(width.twips)))


# --- contents, table style and widths ---------------------------------------------------

TABLE_STYLE = "Report Table"
RULE = "7F9DB9"  # the table's horizontal rules
HEADER_FILL = "005EB8"
TEXT_WIDTH_CM = 16.6


def _bookmark(paragraph, name: str, number: int) -> None:
    """Wrap the heading's text in a bookmark the contents link to."""
    start = OxmlElement("w:bookmarkStart")
    start.set(qn("w:id"), str(number))
    start.set(qn("w:name"), name)
    end = OxmlElement("w:bookmarkEnd")
    end.set(qn("w:id"), str(number))
    p = paragraph._p
    ppr = p.find(qn("w:pPr"))
    if ppr is not None:
        ppr.addnext(start)
    else:
        p.insert(0, start)
    p.append(end)


_PRESERVE_SPACE = {"xml:space": "preserve"}


def _run(tag: str, text: "str | None" = None, attributes: "dict[str, str] | None" = None):
    """A run (w:r) holding one element ``tag`` with these attributes and text; returns (run, element)."""
    run = OxmlElement("w:r")
    element = OxmlElement(tag)
    for name, value in (attributes or {}).items():
        element.set(qn(name), value)
    if text is not None:
        element.text = text
    run.append(element)
    return run, element


def _fld_run(kind: str):
    """A field character run: ``begin``, ``separate`` or ``end``."""
    return _run("w:fldChar", attributes={"w:fldCharType": kind})[0]


def _instr_run(instruction: str):
    """A field's instruction (``PAGE``, ``PAGEREF x \\h``) as a run."""
    return _run("w:instrText", f" {instruction} ", _PRESERVE_SPACE)[0]


def _text_run(text: str):
    """A run of text, spaces kept; returns (run, its w:t)."""
    return _run("w:t", text, _PRESERVE_SPACE)


def _toc_entry(paragraph, title: str, bookmark: str):
    """A contents line: a link to ``bookmark`` with the title, a tab and a PAGEREF field;
    returns the w:t that holds the page number (empty until it is known)."""
    link = OxmlElement("w:hyperlink")
    link.set(qn("w:anchor"), bookmark)
    link.set(qn("w:history"), "1")
    link.append(_text_run(title)[0])
    link.append(_run("w:tab")[0])
    link.append(_fld_run("begin"))
    link.append(_instr_run(f"PAGEREF {bookmark} \\h"))
    link.append(_fld_run("separate"))
    number_run, number = _text_run("")
    link.append(number_run)
    link.append(_fld_run("end"))
    paragraph._p.append(link)
    return number


def _field_start(paragraph, instruction: str) -> None:
    """Open a field (begin, instruction, separate) at the start of ``paragraph``."""
    p = paragraph._p
    ppr = p.find(qn("w:pPr"))
    at = 1 if ppr is not None else 0
    for offset, run in enumerate((_fld_run("begin"), _instr_run(instruction), _fld_run("separate"))):
        p.insert(at + offset, run)


def _field_end(paragraph) -> None:
    paragraph._p.append(_fld_run("end"))


def _border(tag: str, val: str = "single", size: int = 4, colour: str = RULE):
    edge = OxmlElement(f"w:{tag}")
    edge.set(qn("w:val"), val)
    if val != "nil":
        edge.set(qn("w:sz"), str(size))
        edge.set(qn("w:space"), "0")
        edge.set(qn("w:color"), colour)
    return edge


def _table_borders():
    """Single rules: a heavier one above and below the table, thin ones between rows, no
    verticals (a clean table in Word and LibreOffice alike)."""
    borders = OxmlElement("w:tblBorders")
    for tag, val, size, colour in (("top", "single", 8, HEADER_FILL), ("left", "nil", 0, ""),
                                   ("bottom", "single", 8, HEADER_FILL), ("right", "nil", 0, ""),
                                   ("insideH", "single", 4, RULE), ("insideV", "nil", 0, "")):
        borders.append(_border(tag, val, size, colour))
    return borders


def _report_table_style(styles):
    """The report's own table style (so a table can be restyled in Word in one place)."""
    try:
        return styles[TABLE_STYLE]
    except KeyError:
        pass
    style = styles.add_style(TABLE_STYLE, WD_STYLE_TYPE.TABLE)
    style.base_style = styles["Normal Table"]
    tbl_pr = style.element.find(qn("w:tblPr"))
    if tbl_pr is None:
        tbl_pr = OxmlElement("w:tblPr")
        style.element.append(tbl_pr)
    tbl_pr.append(_table_borders())
    return style


def _set_table_borders(table) -> None:
    tbl_pr = table._tbl.tblPr
    for old in tbl_pr.findall(qn("w:tblBorders")):
        tbl_pr.remove(old)
    # w:tblBorders comes after tblStyle … tblInd and before shd/tblLayout/tblCellMar/tblLook
    successor = next((tbl_pr.find(qn(t)) for t in ("w:shd", "w:tblLayout", "w:tblCellMar", "w:tblLook", "w:tblCaption")
                      if tbl_pr.find(qn(t)) is not None), None)
    borders = _table_borders()
    if successor is not None:
        successor.addprevious(borders)
    else:
        tbl_pr.append(borders)


def _shade(cell, fill: str) -> None:
    tc_pr = cell._tc.get_or_add_tcPr()
    for old in tc_pr.findall(qn("w:shd")):
        tc_pr.remove(old)
    shd = OxmlElement("w:shd")
    shd.set(qn("w:val"), "clear")
    shd.set(qn("w:color"), "auto")
    shd.set(qn("w:fill"), fill)
    # w:shd sits after tcW/gridSpan/vMerge/tcBorders and before noWrap/tcMar/vAlign
    successor = next((tc_pr.find(qn(t)) for t in ("w:noWrap", "w:tcMar", "w:textDirection", "w:tcFitText", "w:vAlign",
                                                  "w:hideMark") if tc_pr.find(qn(t)) is not None), None)
    if successor is not None:
        successor.addprevious(shd)
    else:
        tc_pr.append(shd)


def _is_header_row(row) -> bool:
    tr_pr = row._tr.trPr
    return tr_pr is not None and tr_pr.find(qn("w:tblHeader")) is not None


def _style_table(table, style) -> None:
    """The report table style, single rules, and a shaded header (direct formatting too,
    because LibreOffice does not apply every part of a Word table style)."""
    table.style = style
    _set_table_borders(table)
    for row in table.rows:
        if not _is_header_row(row):
            continue
        for cell in row.cells:
            _shade(cell, HEADER_FILL)
            for paragraph in cell.paragraphs:
                for run in paragraph.runs:
                    run.font.color.rgb = RGBColor(0xFF, 0xFF, 0xFF)
                    run.bold = True


def _group_header(table, groups: list[tuple[int, int, str]], labels: list[str]) -> None:
    """Two header rows: group labels over merged cells, then the column labels."""
    _look(table, first_row=True, first_column=False)
    top, bottom = table.rows[0].cells, table.rows[1].cells
    for first, last, label in groups:
        if last < first:
            continue
        cell = top[first].merge(top[last]) if last > first else top[first]
        _cell_text(cell, label, bold=True, align="center")
    for cell, label in zip(bottom, labels):
        _cell_text(cell, label, bold=True, align=None if cell is bottom[0] else "right")
    for row in table.rows[:2]:
        tr_pr = row._tr.get_or_add_trPr()
        repeat = OxmlElement("w:tblHeader")
        repeat.set(qn("w:val"), "true")
        tr_pr.append(repeat)


_NARROW, _WIDE = set("fijlrtI.,:;'()[]|!1"), set("mwMWOQDGH%")


def _word_em(word: str) -> float:
    """Rough width of ``word`` in ems, in a bold humanist sans such as Calibri."""
    return sum(0.3 if c in _NARROW else 0.82 if c in _WIDE else 0.62 if c.isupper() or c.isdigit() else 0.52
               for c in word)


def _label_width_cm(text: str, size_pt: float = 8.5) -> float:
    """Room for the longest word of ``text`` in bold at ``size_pt``, plus cell padding."""
    longest = max((_word_em(w) for w in str(text).split()), default=1.0)
    return longest * size_pt * 0.03528 + 0.3


def _fit_widths(table, labels: list[str], first_min: float = 3.0) -> None:
    """Each number column as wide as its label's longest word (so no word breaks), the
    first column the rest of the text width."""
    widths = [max(_label_width_cm(label), 0.9) for label in labels[1:]]
    first = max(first_min, TEXT_WIDTH_CM - sum(widths))
    if first + sum(widths) > TEXT_WIDTH_CM:  # too many columns: shrink the number columns alike
        scale = (TEXT_WIDTH_CM - first) / sum(widths)
        widths = [w * scale for w in widths]
    _widths(table, [Cm(first)] + [Cm(w) for w in widths])


__all__ = ["export_docx", "ReportSummary", "choose_quotes", "trim_quote", "attribution", "cohen_kappa", "CasestudyError"]
