"""`casestudy export docx`: the thematic summary a PI would send on, as a Word document.

Built with python-docx from the publish database only. The document uses real Word
styles (Title, Heading 1–3, Quote, Caption, a "Quote Attribution", "Table Text" and
"Note" style of its own, and built-in table styles), so it can be edited like any
report. Contents:

* a title page (study, filters, date, codebook version);
* contents: a TOC field that Word fills in, and a written list of the sections;
* "About this report": how evidence is counted, attributed and protected;
* for each research question: a summary table of its themes (excerpts and participants
  by ICS and wave), each theme with its description and exemplar quotes (accepted
  codings first, spread across ICSs, waves and roles, each attributed by pseudonym), a
  note of quotes withheld for consent, and a framework matrix (theme × ICS, by wave);
* appendices: sources, consent summary (counts only) and coder agreement, and, when the
  publish database holds routine indicators, their first and latest values by ICS.
"""

from __future__ import annotations

import datetime as _dt
import re
import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor

from casestudy.export import common
from casestudy.errors import CasestudyError

STUDY_TITLE = "Provider collaboratives in three Integrated Care Systems"
STUDY_SUBTITLE = "Thematic summary of coded evidence, 2024–2026"
WAVE_YEARS = {1: 2024, 2: 2025, 3: 2026}
KIND_LABELS = {
    "transcript": "Interview",
    "board-paper": "Board paper",
    "policy": "Policy document",
    "observation": "Observation notes",
}
NAVY = RGBColor(0x00, 0x30, 0x87)
BLUE = RGBColor(0x00, 0x5E, 0xB8)
GREY = RGBColor(0x42, 0x55, 0x63)
QUOTES_PER_THEME = 3
QUOTE_MAX_WORDS = 75


@dataclass
class ReportSummary:
    path: Path
    rqs: list[str]
    themes: int = 0
    excerpts: int = 0
    quotes: int = 0
    withheld: int = 0
    sections: list[str] = field(default_factory=list)


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
) -> ReportSummary:
    """Write the Word report to ``out`` from the (re)built publish database."""
    out = common.check_output(out, (".docx",))
    for rq in rqs:  # refuse a bad --rq before (re)building anything
        common.normalise_rq(rq)
    path = common.resolve_publish_db(working_db, publish_db)
    conn = common.open_publish(path)
    try:
        filters = common.make_filters(conn, rqs, ics, waves, status)
        report = Report(conn, filters, today or _dt.date.today())
        document = report.build()
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


def wave_label(wave) -> str:
    if wave in (None, ""):
        return ""
    year = WAVE_YEARS.get(int(wave))
    return f"wave {wave} ({year})" if year else f"wave {wave}"


def attribution(row: dict) -> str:
    """Who said it or where it was written, without a real name."""
    kind = row.get("source_kind") or ""
    if row.get("participant_id"):
        bits = [row["participant_id"], row.get("participant_role"), row.get("org_type"), row.get("ics"), wave_label(row.get("wave"))]
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


_SENTENCE = re.compile(r"(?<=[.!?…])[\"”’)]*\s+")


def trim_quote(text: str, offsets: list, max_words: int = QUOTE_MAX_WORDS) -> str:
    """The excerpt itself when short; otherwise the sentences around the first matched
    term, with ellipses marking what was left out. Never rewords anything."""
    text = " ".join(text.split())
    if len(text.split()) <= max_words:
        return text
    spans, at = [], 0
    for part in _SENTENCE.split(text):
        start = text.find(part, at)
        spans.append((start, start + len(part)))
        at = start + len(part)
    anchor = 0
    if offsets:
        first = min(int(o[0]) for o in offsets if isinstance(o, (list, tuple)) and o)
        anchor = next((i for i, (s, e) in enumerate(spans) if s <= first < e + 1), 0)
    lo = hi = anchor
    words = len(text[spans[anchor][0] : spans[anchor][1]].split())
    while True:
        grown = False
        if hi + 1 < len(spans):
            extra = len(text[spans[hi + 1][0] : spans[hi + 1][1]].split())
            if words + extra <= max_words:
                hi, words, grown = hi + 1, words + extra, True
        if lo > 0:
            extra = len(text[spans[lo - 1][0] : spans[lo - 1][1]].split())
            if words + extra <= max_words:
                lo, words, grown = lo - 1, words + extra, True
        if not grown:
            break
    quote = text[spans[lo][0] : spans[hi][1]]
    if len(quote.split()) > max_words:  # one very long sentence
        quote = " ".join(quote.split()[:max_words]) + " …"
    return ("… " if lo > 0 else "") + quote + (" …" if hi < len(spans) - 1 and not quote.endswith("…") else "")


def per_excerpt(rows: list[dict]) -> list[dict]:
    """One candidate per excerpt: the best-status row, with all matched offsets."""
    best: dict[int, dict] = {}
    rank = {"accepted": 2, "suggested": 1}
    for row in rows:
        current = best.get(row["excerpt_id"])
        if current is None:
            best[row["excerpt_id"]] = dict(row, _offsets=list(common.json_list(row.get("offsets"))))
            continue
        current["_offsets"].extend(common.json_list(row.get("offsets")))
        if rank.get(row.get("status"), 0) > rank.get(current.get("status"), 0):
            keep = current["_offsets"]
            best[row["excerpt_id"]] = dict(row, _offsets=keep)
    return list(best.values())


def choose_quotes(rows: list[dict], k: int = QUOTES_PER_THEME) -> list[dict]:
    """Exemplar quotes: accepted first, then spread across ICSs, waves, roles and voices."""
    candidates = [r for r in per_excerpt(rows) if common.is_quotable(r) and not (r.get("text") or "").startswith("[withheld")]
    chosen: list[dict] = []
    seen = defaultdict(set)

    def voice(r):
        return r.get("participant_id") or f"source:{r.get('source_id')}"

    def role(r):
        return r.get("org_type") or r.get("source_kind")

    def merit(r):
        words = len((r.get("text") or "").split())
        value = 3.0 if r.get("status") == "accepted" else 0.0
        value += 2.0 * (r.get("ics") not in seen["ics"])
        value += 1.5 * (r.get("wave") not in seen["wave"])
        value += 1.0 * (role(r) not in seen["role"])
        value += 3.0 * (voice(r) not in seen["voice"])
        value += 0.5 * float(r.get("score") or 0)
        value += 0.5 if 12 <= words <= 90 else 0.0
        return (value, -int(r["excerpt_id"]))

    while candidates and len(chosen) < k:
        pick = max(candidates, key=merit)
        candidates.remove(pick)
        if voice(pick) in seen["voice"] and any(voice(c) not in seen["voice"] for c in candidates):
            continue
        chosen.append(pick)
        seen["ics"].add(pick.get("ics"))
        seen["wave"].add(pick.get("wave"))
        seen["role"].add(role(pick))
        seen["voice"].add(voice(pick))
    return chosen


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


# --- the document --------------------------------------------------------------------


class Report:
    def __init__(self, conn: sqlite3.Connection, filters: common.Filters, today: _dt.date):
        self.conn = conn
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
        core.title = f"{STUDY_TITLE}: thematic summary"
        core.subject = "Qualitative case study of NHS provider collaboratives"
        core.author = "casestudy"
        core.keywords = ", ".join(self.rqs)

        # Running header and footer (not on the title page).
        header = section.header.paragraphs[0]
        header.text = f"{STUDY_TITLE} — thematic summary"
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

    # building ------------------------------------------------------------------------

    def build(self) -> Document:
        self.setup()
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
        doc.add_paragraph(STUDY_TITLE, style="Title")
        doc.add_paragraph(STUDY_SUBTITLE, style="Subtitle")
        excerpts, people, docs = counts(self.rows)
        info = [
            ("Study", "Longitudinal case study of NHS provider collaboratives in Ashmoor, Kellbridge and Saltmarsh Coast ICSs"),
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

    def contents(self) -> None:
        doc = self.doc
        doc.add_paragraph("Contents", style="TOC Heading")
        paragraph = doc.add_paragraph()
        _field(paragraph, 'TOC \\o "1-2" \\h \\z \\u', "Right-click and choose Update Field to show page numbers.", toc=True)
        doc.add_paragraph("Sections of this report", style="Heading 3")
        for title in self.heading_titles():
            doc.add_paragraph(title, style="List Bullet")
        self.summary.sections = self.heading_titles()

    def about(self) -> None:
        doc = self.doc
        doc.add_heading("About this report", level=1)
        doc.add_paragraph(
            "This report summarises the evidence coded to the study's research questions. Each section starts "
            "with a table of the themes under one research question, counting the excerpts coded to each theme "
            "and the distinct participants they come from, by Integrated Care System (ICS) and fieldwork wave. "
            "Each theme is then described, with exemplar quotations chosen to show the range of views across "
            "sites, waves and roles, and a framework matrix shows who spoke to each theme where and when."
        )
        doc.add_heading("How to read the counts", level=2)
        for text in (
            "An excerpt is one interview turn or one paragraph of a document. An excerpt coded to a theme by more "
            "than one coder is counted once.",
            "In tables, “12 (4)” means 12 excerpts from 4 distinct participants; documents (board papers, policies "
            "and observation notes) add excerpts but no participants.",
            "Codings accepted by a researcher are preferred as exemplars; "
            + ("only accepted codings are included in this report." if self.filters.status == "accepted"
               else "suggested codings not yet reviewed are included in the counts, rejected ones never are."),
            "Quotations are verbatim; “…” marks where a long excerpt was shortened.",
        ):
            doc.add_paragraph(text, style="List Bullet")
        doc.add_heading("Research questions", level=2)
        table = doc.add_table(rows=1, cols=3)
        table.style = doc.styles["Light List Accent 1"]
        _header(table, ["RQ", "Question", "Excerpts (participants)"])
        for rq in self.rqs:
            code = self.by_id.get(rq, {})
            rows = [r for r in self.rows if r["rq"] == rq]
            e, p, _ = counts(rows)
            cells = table.add_row().cells
            _cell_text(cells[0], rq, bold=True)
            _cell_text(cells[1], code.get("description") or self.rq_title(rq))
            _cell_text(cells[2], f"{e} ({p})", align="right")
        _widths(table, [Cm(1.4), Cm(11.4), Cm(3.8)])

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
            lead.add_run(code["description"].rstrip(".") + ". ").italic = True
        lead.add_run(
            f"{spread(e, p, d)} {'are' if e != 1 else 'is'} coded to {plural(len(themes), 'theme')} under {rq}."
            if rq_rows else f"No evidence is coded to {rq} within the filters of this report."
        )
        self.summary.themes += len(themes)
        self.summary.excerpts += e
        if not themes:
            return

        # Summary table: counts by ICS and wave.
        self.caption(f"{rq}: themes by ICS and wave — excerpts (participants)")
        headers = ["Theme", "All"] + list(self.ics) + [f"Wave {w}" for w in self.waves]
        table = doc.add_table(rows=1, cols=len(headers))
        table.style = doc.styles["Light List Accent 1"]
        _header(table, headers)
        for theme, depth in themes:
            ids = self.subtree(theme["id"]) if depth == 1 else {theme["id"]}
            rows = [r for r in rq_rows if r["code_id"] in ids]
            cells = table.add_row().cells
            _cell_text(cells[0], ("   " * (depth - 1)) + _short(theme["name"]), bold=depth == 1)
            te, tp, _ = counts(rows)
            _cell_text(cells[1], f"{te} ({tp})", align="center", bold=True)
            for i, ics in enumerate(self.ics):
                ce, cp, _ = counts([r for r in rows if r.get("ics") == ics])
                _cell_text(cells[2 + i], f"{ce} ({cp})" if ce else "–", align="center")
            for j, wave in enumerate(self.waves):
                we, wp, _ = counts([r for r in rows if r.get("wave") == wave])
                _cell_text(cells[2 + len(self.ics) + j], f"{we} ({wp})" if we else "–", align="center")
        total = table.add_row().cells
        _cell_text(total[0], f"All {rq} evidence", bold=True)
        _cell_text(total[1], f"{e} ({p})", align="center", bold=True)
        for i, ics in enumerate(self.ics):
            ce, cp, _ = counts([r for r in rq_rows if r.get("ics") == ics])
            _cell_text(total[2 + i], f"{ce} ({cp})" if ce else "–", align="center", bold=True)
        for j, wave in enumerate(self.waves):
            we, wp, _ = counts([r for r in rq_rows if r.get("wave") == wave])
            _cell_text(total[2 + len(self.ics) + j], f"{we} ({wp})" if we else "–", align="center", bold=True)
        ics_width = min(2.6, 6.6 / max(len(self.ics), 1))
        wave_width = min(2.0, (16.6 - 3.5 - 1.8 - ics_width * len(self.ics)) / max(len(self.waves), 1))
        theme_width = 16.6 - 1.8 - ics_width * len(self.ics) - wave_width * len(self.waves)
        _widths(table, [Cm(theme_width), Cm(1.8)] + [Cm(ics_width)] * len(self.ics) + [Cm(wave_width)] * len(self.waves))

        # Themes with quotes.
        for theme, depth in themes:
            self.theme(theme, depth, [r for r in rq_rows if r["code_id"] == theme["id"]])

        # Framework matrix.
        self.framework(rq, themes, rq_rows)

    def theme(self, theme: dict, depth: int, rows: list[dict]) -> None:
        doc = self.doc
        doc.add_heading(_short(theme["name"]), level=min(depth + 1, 3))
        if theme.get("description"):
            doc.add_paragraph(theme["description"])
        e, p, d = counts(rows)
        if not rows:
            doc.add_paragraph("No excerpts are coded to this theme within the filters of this report.", style="Note")
            return
        where = sorted({r.get("ics") for r in rows if r.get("ics")})
        waves = sorted({r.get("wave") for r in rows if r.get("wave") is not None})
        accepted = len({r["excerpt_id"] for r in rows if r.get("status") == "accepted"})
        doc.add_paragraph(
            f"Evidence: {spread(e, p, d)} ({accepted} accepted); {', '.join(where) or 'no ICS'}; "
            f"wave{'s' if len(waves) != 1 else ''} {', '.join(map(str, waves)) or '–'}.",
            style="Note",
        )
        for row in choose_quotes(rows):
            doc.add_paragraph(f"“{trim_quote(row['text'], row.get('_offsets') or [])}”", style="Quote")
            note = attribution(row)
            if row.get("status") != "accepted":
                note += " (suggested coding, not yet reviewed)"
            doc.add_paragraph(f"— {note}", style="Quote Attribution")
            self.summary.quotes += 1
        withheld = [r for r in per_excerpt(rows) if not common.is_quotable(r)]
        if withheld:
            people = len({r.get("participant_id") for r in withheld})
            doc.add_paragraph(
                f"{len(withheld)} further excerpt{'s' if len(withheld) != 1 else ''} from {people} "
                f"participant{'s' if people != 1 else ''} who did not consent to verbatim quotation "
                f"{'are' if len(withheld) != 1 else 'is'} counted above but not quoted.",
                style="Note",
            )
            self.summary.withheld += len(withheld)

    def framework(self, rq: str, themes: list[tuple[dict, int]], rq_rows: list[dict]) -> None:
        doc = self.doc
        doc.add_heading(f"Framework matrix: {rq}", level=2)
        doc.add_paragraph(
            "Who contributed evidence to each theme, by ICS (columns) and wave (lines in each cell): "
            "excerpts, then the participants and documents they come from.",
            style="Note",
        )
        self.caption(f"{rq}: framework matrix — theme × ICS, by wave")
        table = doc.add_table(rows=1, cols=1 + len(self.ics))
        table.style = doc.styles["Light Grid Accent 1"]
        _header(table, ["Theme"] + list(self.ics))
        for theme, depth in themes:
            rows = [r for r in rq_rows if r["code_id"] == theme["id"]]
            cells = table.add_row().cells
            _cell_text(cells[0], _short(theme["name"]), bold=True)
            for i, ics in enumerate(self.ics):
                lines = []
                for wave in self.waves:
                    here = [r for r in rows if r.get("ics") == ics and r.get("wave") == wave]
                    if not here:
                        continue
                    people = sorted({r["participant_id"] for r in here if r.get("participant_id")})
                    docs = len({r["source_id"] for r in here if not r.get("participant_id")})
                    who = ", ".join(people) + (("; " if people else "") + f"{docs} doc{'s' if docs != 1 else ''}" if docs else "")
                    n = len({r["excerpt_id"] for r in here})
                    lines.append(f"W{wave}: {n} — {who}")
                _cell_lines(cells[1 + i], lines or ["–"])
        _widths(table, [Cm(4.6)] + [Cm(12.0 / max(len(self.ics), 1))] * len(self.ics))

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
        people = len({r["participant_id"] for r in self.rows if not common.is_quotable(r) and r.get("participant_id")})
        doc.add_paragraph(
            f"In this report, {withheld} coded excerpt{'s' if withheld != 1 else ''} from {people} "
            f"participant{'s' if people != 1 else ''} {'were' if withheld != 1 else 'was'} counted but withheld from quotation.",
        )

    def appendix_agreement(self) -> None:
        doc = self.doc
        conn = self.conn
        doc.add_heading("Appendix C. Coder agreement", level=1)
        where, params = [], []
        for column, values in (("rq", self.rqs), ("ics", self.filters.ics), ("wave", self.filters.waves)):
            if values:
                where.append(f"{column} IN ({', '.join('?' * len(values))})")
                params.extend(values)
        clause = " AND ".join(where) or "1"
        # review_summary counts rejected suggestions too (the evidence table leaves them out);
        # an older publish database without it falls back to the evidence table.
        if common.has_table(conn, "review_summary"):
            review_sql = f"SELECT rq, status, sum(n) AS n FROM review_summary WHERE {clause} GROUP BY rq, status"
        else:
            review_sql = f"SELECT rq, status, count(*) AS n FROM evidence WHERE coder LIKE 'auto:%' AND {clause} GROUP BY rq, status"
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

        # Cohen's kappa where two human coders coded the same excerpts.
        human = common.rows(
            conn,
            f"SELECT excerpt_id, code_id, rq, coder FROM evidence WHERE coder NOT LIKE 'auto:%' AND {clause}",
            params,
        )
        by_coder: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
        for r in human:
            by_coder[r["coder"]][r["excerpt_id"]].add(r["code_id"])
        coders = sorted(by_coder)
        pairs = []
        for i, a in enumerate(coders):
            for b in coders[i + 1 :]:
                shared = sorted(set(by_coder[a]) & set(by_coder[b]))
                if shared:
                    pairs.append((a, b, shared))
        doc.add_heading("Agreement between researchers", level=2)
        if not pairs:
            doc.add_paragraph(
                "No two researchers have coded the same excerpts yet, so Cohen's kappa cannot be reported.",
                style="Note",
            )
            return
        doc.add_paragraph(
            "Cohen's kappa for each pair of researchers who coded the same excerpts: for every shared excerpt "
            "and every theme under the research question, whether each researcher applied the theme."
        )
        self.caption("Inter-coder agreement (Cohen's kappa)")
        table = doc.add_table(rows=1, cols=5)
        table.style = doc.styles["Light List Accent 1"]
        _header(table, ["Coders", "RQ", "Shared excerpts", "Agreement", "Cohen's κ"])
        for a, b, shared in pairs:
            for rq in self.rqs:
                theme_ids = [c["id"] for c, _ in self.themes_of(rq)]
                if not theme_ids:
                    continue
                xa, xb = [], []
                for excerpt in shared:
                    for code in theme_ids:
                        xa.append(code in by_coder[a][excerpt])
                        xb.append(code in by_coder[b][excerpt])
                if not (any(xa) or any(xb)):
                    continue
                kappa = cohen_kappa(xa, xb)
                agree = sum(x == y for x, y in zip(xa, xb)) / len(xa)
                cells = table.add_row().cells
                _cell_text(cells[0], f"{a} & {b}")
                _cell_text(cells[1], rq, bold=True)
                _cell_text(cells[2], str(len(shared)), align="right")
                _cell_text(cells[3], f"{100 * agree:.0f}%", align="right")
                _cell_text(cells[4], "–" if kappa is None else f"{kappa:.2f}", align="right")
        _widths(table, [Cm(5.0), Cm(1.6), Cm(3.2), Cm(3.2), Cm(3.6)])


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
        table = doc.add_table(rows=1, cols=6)
        table.style = doc.styles["Light List Accent 1"]
        _header(table, ["Indicator", "ICS", "Collaborative", "First", "Latest", "Change"])
        for r in self.indicators:
            cells = table.add_row().cells
            _cell_text(cells[0], r["indicator"] + (f" ({r['unit']})" if r.get("unit") else ""))
            _cell_text(cells[1], r["ics"] or "–")
            _cell_text(cells[2], r["collaborative"] or "–")
            _cell_text(cells[3], f"{format_number(r['first'], r['decimals'])} ({r['first_period']})", align="right")
            _cell_text(cells[4], f"{format_number(r['latest'], r['decimals'])} ({r['latest_period']})", align="right")
            _cell_text(cells[5], format_change(r["first"], r["latest"], r["decimals"]), align="right")
        _widths(table, [Cm(3.6), Cm(2.2), Cm(3.4), Cm(2.4), Cm(2.4), Cm(2.6)])


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


def _field(paragraph, instruction: str, placeholder: str, size: float | None = None, toc: bool = False) -> None:
    """A complex field (PAGE, NUMPAGES, TOC …) that Word computes when it updates fields."""

    def run_with(child):
        run = paragraph.add_run()
        if size:
            run.font.size = Pt(size)
            run.font.color.rgb = GREY
        run._r.append(child)
        return run

    begin = OxmlElement("w:fldChar")
    begin.set(qn("w:fldCharType"), "begin")
    if toc:
        begin.set(qn("w:dirty"), "true")
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
    if toc:
        result.italic = True
        result.font.color.rgb = GREY
    end = OxmlElement("w:fldChar")
    end.set(qn("w:fldCharType"), "end")
    run_with(end)


def _cell_text(cell, text: str, bold: bool = False, align: str | None = None) -> None:
    paragraph = cell.paragraphs[0]
    paragraph.style = "Table Text"
    run = paragraph.add_run(text)
    if bold:
        run.bold = True
    if align == "right":
        paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    elif align == "center":
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER


def _cell_lines(cell, lines: list[str]) -> None:
    _cell_text(cell, lines[0])
    for line in lines[1:]:
        paragraph = cell.add_paragraph(line, style="Table Text")
        paragraph.paragraph_format.space_before = Pt(2)


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


__all__ = ["export_docx", "ReportSummary", "choose_quotes", "trim_quote", "attribution", "cohen_kappa", "CasestudyError"]
