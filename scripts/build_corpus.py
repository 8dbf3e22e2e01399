#!/usr/bin/env python3
"""Build the fictional sample corpus shipped with casestudy.

Run from the repository root::

    python scripts/build_corpus.py            # rebuilds corpus/
    python scripts/build_corpus.py --out DIR  # builds into another folder

Inputs (all under ``scripts/corpus_src/``; see ``CAST.md`` there):

* ``transcripts/<id>.txt`` - interview sources, one turn per paragraph
  (``Interviewer: ...`` / ``P01: ...``), blank-line separated;
* ``documents/*.md`` - board papers, policies and observation notes in the
  small front-matter-plus-markdown format described in ``CAST.md``.

Outputs (all under ``corpus/``):

* ``transcripts/<ics>/<id>.<ext>`` - each interview rendered in the format
  and speaker-label style listed in :data:`TRANSCRIPTS` (txt, md, vtt, docx);
* ``board-papers/``, ``policy/``, ``observations/`` - documents rendered as
  PDF (reportlab), DOCX (python-docx), TXT or MD;
* ``consent/consent-register.csv`` and a second copy as ``.xlsx``;
* ``names.csv`` (staff names and role pseudonyms), ``manifest.csv``,
  ``data/routine-indicators.csv`` and ``README.md``.

The build is deterministic: the generated folders are deleted and rewritten,
PDFs are written with reportlab's ``invariant`` mode, and DOCX/XLSX files get
fixed core-property dates and fixed ZIP timestamps, so a rerun produces the
same bytes.  Missing sources are skipped with a warning, so the script can be
run while the sources are still being written.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import random
import re
import shutil
import sys
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

REPO = Path(__file__).resolve().parent.parent
SRC = REPO / "scripts" / "corpus_src"
DEFAULT_OUT = REPO / "corpus"

#: Things this script owns inside the output folder; only these are deleted.
GENERATED_DIRS = ("transcripts", "board-papers", "policy", "observations", "consent", "data")
GENERATED_FILES = ("manifest.csv", "names.csv", "README.md")

#: A fixed timestamp for ZIP members (DOCX/XLSX) so that reruns are byte-identical.
ZIP_TIMESTAMP = (2024, 1, 1, 0, 0, 0)
#: Words per minute used to invent elapsed times for .txt and .vtt transcripts.
WORDS_PER_MINUTE = 150
#: Namespace for the deterministic "Teams" cue GUIDs.
VTT_NAMESPACE = uuid.UUID("6f1d8a52-3c1e-4b7a-9d35-2b0c4e5f7a10")


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


# ---------------------------------------------------------------------------
# The cast (mirrors scripts/corpus_src/CAST.md)
# ---------------------------------------------------------------------------

ICS_FOLDERS = {"Ashmoor": "ashmoor", "Kellbridge": "kellbridge", "Saltmarsh Coast": "saltmarsh-coast"}


@dataclass(frozen=True)
class Participant:
    pid: str
    name: str
    role: str
    organisation: str
    org_type: str
    ics: str


PARTICIPANTS = {p.pid: p for p in [
    Participant("P01", "Helen Marsh", "Director of Strategy", "NHS Ashmoor and Dunley ICB", "ICB", "Ashmoor"),
    Participant("P02", "Daniel Okoro", "Programme Director, Acute Alliance", "Ashmoor University Hospitals NHS FT", "acute trust", "Ashmoor"),
    Participant("P03", "Priya Raman", "Director, MHLDA Collaborative", "Ashmoor and Dunley Partnership NHS FT", "mental health trust", "Ashmoor"),
    Participant("P04", "Graham Pellow", "Chief Executive", "Brightwell Care Ltd", "independent sector", "Ashmoor"),
    Participant("P05", "Sarah Lindqvist", "Chief Finance Officer", "NHS Kellbridge ICB", "ICB", "Kellbridge"),
    Participant("P06", "Tom Achebe", "Chief Executive", "Kellbridge Community Health NHS Trust", "community trust", "Kellbridge"),
    Participant("P07", "Fiona Gallagher", "Clinical Lead", "Kellbridge GP Federation", "primary care", "Kellbridge"),
    Participant("P08", "Marcus Boyle", "Group Medical Director", "St Aldric's Hospital NHS Trust", "acute trust", "Kellbridge"),
    Participant("P09", "Janet Hollis", "Director of Operations", "Kellbridge Royal Infirmary NHS FT", "acute trust", "Kellbridge"),
    Participant("P10", "Aisha Carver", "Managing Director, Health Partnership", "Saltmarsh Coast Hospitals NHS FT", "acute trust", "Saltmarsh Coast"),
    Participant("P11", "Owen Treharne", "Director of Adult Social Care", "Saltmarsh Borough Council", "local authority", "Saltmarsh Coast"),
    Participant("P12", "Bernadette Nwosu", "Chief Officer", "Tidewater Voluntary Action", "VCSE", "Saltmarsh Coast"),
    Participant("P13", "Kieran Doyle", "Head of Finance, MHLDA Collaborative", "Coastal Minds NHS FT", "mental health trust", "Saltmarsh Coast"),
    Participant("P14", "Margaret Ellery", "Chair", "NHS Saltmarsh Coast ICB", "ICB", "Saltmarsh Coast"),
    Participant("P15", "Rhys Calloway", "Associate Director of Contracting", "NHS Kellbridge ICB", "ICB", "Kellbridge"),
]}

#: Staff named in board papers and observation notes, with role pseudonyms.
STAFF_PSEUDONYMS = [
    ("Dr Ruth Okafor", "[the ICB chief executive]"),
    ("Colin Vance", "[the ICB chair]"),
    ("Nadia Sorensen", "[the group chief executive]"),
    ("Peter Quayle", "[the trust director of finance]"),
    ("Dr Imran Baig", "[the partnership chair]"),
    ("Lucy Fenwick", "[the ICB company secretary]"),
]


@dataclass(frozen=True)
class Transcript:
    """One row of the transcript table in CAST.md."""

    tid: str
    pid: str
    ics: str
    collaborative: str
    wave: int
    date: str
    ext: str  # txt | md | vtt | docx
    label: str  # "name" or "id": how the participant is labelled
    timestamps: bool = False  # .txt only: "[hh:mm:ss] P02:" style


TRANSCRIPTS = [
    Transcript("2024-P01-w1", "P01", "Ashmoor", "", 1, "2024-04-18", "docx", "name"),
    Transcript("2024-P02-w1", "P02", "Ashmoor", "Ashmoor Acute Alliance", 1, "2024-05-02", "txt", "id", True),
    Transcript("2025-P02-w2", "P02", "Ashmoor", "Ashmoor Acute Alliance", 2, "2025-05-14", "vtt", "name"),
    Transcript("2025-P03-w2", "P03", "Ashmoor", "Ashmoor MHLDA Collaborative", 2, "2025-06-03", "md", "id"),
    Transcript("2026-P03-w3", "P03", "Ashmoor", "Ashmoor MHLDA Collaborative", 3, "2026-05-20", "docx", "id"),
    Transcript("2025-P04-w2", "P04", "Ashmoor", "Ashmoor MHLDA Collaborative", 2, "2025-06-19", "txt", "id"),
    Transcript("2026-P01-w3", "P01", "Ashmoor", "", 3, "2026-04-29", "vtt", "name"),
    Transcript("2024-P05-w1", "P05", "Kellbridge", "", 1, "2024-06-11", "md", "id"),
    Transcript("2026-P05-w3", "P05", "Kellbridge", "", 3, "2026-06-09", "txt", "id", True),
    Transcript("2024-P06-w1", "P06", "Kellbridge", "Kellbridge Community Provider Collaborative", 1, "2024-06-25", "vtt", "name"),
    Transcript("2025-P06-w2", "P06", "Kellbridge", "Kellbridge Community Provider Collaborative", 2, "2025-07-08", "docx", "name"),
    Transcript("2025-P07-w2", "P07", "Kellbridge", "Kellbridge Community Provider Collaborative", 2, "2025-07-15", "txt", "id"),
    Transcript("2026-P08-w3", "P08", "Kellbridge", "Kellbridge Hospitals Group", 3, "2026-06-23", "md", "id"),
    Transcript("2024-P09-w1", "P09", "Kellbridge", "Kellbridge Hospitals Group", 1, "2024-07-03", "docx", "id"),
    Transcript("2024-P10-w1", "P10", "Saltmarsh Coast", "Saltmarsh Coast Health Partnership", 1, "2024-09-12", "txt", "id", True),
    Transcript("2025-P10-w2", "P10", "Saltmarsh Coast", "Saltmarsh Coast Health Partnership", 2, "2025-09-17", "md", "id"),
    Transcript("2026-P10-w3", "P10", "Saltmarsh Coast", "Saltmarsh Coast Health Partnership", 3, "2026-09-08", "vtt", "name"),
    Transcript("2025-P11-w2", "P11", "Saltmarsh Coast", "Saltmarsh Coast Health Partnership", 2, "2025-10-01", "docx", "name"),
    Transcript("2024-P12-w1", "P12", "Saltmarsh Coast", "Saltmarsh Coast Health Partnership", 1, "2024-10-02", "vtt", "id"),
    Transcript("2025-P13-w2", "P13", "Saltmarsh Coast", "Saltmarsh Coast MHLDA Collaborative", 2, "2025-10-21", "txt", "id"),
    Transcript("2026-P13-w3", "P13", "Saltmarsh Coast", "Saltmarsh Coast MHLDA Collaborative", 3, "2026-10-06", "md", "id"),
    Transcript("2026-P14-w3", "P14", "Saltmarsh Coast", "", 3, "2026-10-13", "docx", "name"),
]

#: Consent register details that are not derivable from the transcript table.
CONSENT_FORM_VERSION = "v2.1 (2024-02)"
WITHDRAWN = {"P09": "2025-02-10"}
NO_QUOTES = {"P12"}
NO_INTERVIEW = {"P15"}  # consented to being observed in meetings only
NO_ARCHIVE = {"P04", "P11"}
#: P15 is never interviewed; their consent precedes the meeting they were observed in.
OBSERVATION_ONLY_CONSENT = {"P15": "2025-09-09"}

#: Document kinds -> output folder and the formats each kind may ship in.
DOC_KINDS = {
    "board-paper": ("board-papers", {"pdf", "docx"}),
    "policy": ("policy", {"pdf", "docx"}),
    "observation": ("observations", {"txt", "md", "docx", "pdf"}),
}
#: Default PDF footer line per kind (a document may override it with ``footer:``).
DEFAULT_FOOTERS = {
    "board-paper": "Published for the Board meeting in public",
    "policy": "Published policy document · uncontrolled when printed",
    "observation": "Research field notes · confidential to the study team",
}
MANIFEST_KIND_ORDER = {"consent": 0, "names": 0, "transcript": 1, "board-paper": 2, "policy": 3, "observation": 4,
                       "indicators": 5}


def wave_for(date: str) -> str:
    """Wave 1/2/3 for dates in 2024/2025/2026, otherwise empty."""
    return {"2024": "1", "2025": "2", "2026": "3"}.get(date[:4], "") if date else ""


def long_date(date: str) -> str:
    d = dt.date.fromisoformat(date)
    return f"{d.day} {d:%B %Y}"


def fixed_datetime(date: str) -> dt.datetime:
    """The deterministic timestamp used in document metadata."""
    return dt.datetime.combine(dt.date.fromisoformat(date), dt.time(9, 0, 0))


# ---------------------------------------------------------------------------
# Deterministic ZIP containers (DOCX, XLSX)
# ---------------------------------------------------------------------------

_CORE_DATE = re.compile(r"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)")


def normalise_zip(path: Path, when: dt.datetime) -> None:
    """Rewrite an OOXML package with fixed member timestamps and core dates.

    python-docx and openpyxl stamp ZIP members with the current time, and
    openpyxl also sets the ``modified`` core property at save time; both make
    reruns differ.  Member order and content are otherwise preserved.
    """
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    with zipfile.ZipFile(path) as zin:
        members = [(info.filename, zin.read(info.filename)) for info in zin.infolist()]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zout:
        for name, data in members:
            if name == "docProps/core.xml":
                data = _CORE_DATE.sub(lambda m: m.group(1) + stamp + m.group(3), data.decode("utf-8")).encode("utf-8")
            info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zout.writestr(info, data)
    path.write_bytes(buf.getvalue())


def set_docx_core(document, title: str, author: str, when: dt.datetime, subject: str = "") -> None:
    props = document.core_properties
    props.title = title
    props.subject = subject
    props.author = author
    props.last_modified_by = author
    props.comments = "Fictional sample data generated by scripts/build_corpus.py"
    props.created = when
    props.modified = when
    props.last_printed = when
    props.revision = 1


# ---------------------------------------------------------------------------
# Transcripts
# ---------------------------------------------------------------------------

_TURN = re.compile(r"^(Interviewer|P\d{2})\s*:\s*(.*)$", re.S)
# Sentence boundary: ., ! or ? (optionally followed by a closing quote or
# bracket), whitespace, then something that is not a lower-case letter.
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"”’)]))\s+(?=[^a-z\s])")


@dataclass
class Turn:
    speaker: str  # "Interviewer" or a participant ID
    text: str

    @property
    def words(self) -> int:
        return len(self.text.split())


def parse_transcript(path: Path, expected_pid: str) -> list[Turn]:
    """Read a transcript source into turns (see CAST.md for the format)."""
    raw = path.read_text(encoding="utf-8").replace("\r\n", "\n").lstrip("\ufeff")
    turns: list[Turn] = []
    for block in re.split(r"\n\s*\n", raw):
        block = " ".join(line.strip() for line in block.strip().splitlines()).strip()
        if not block:
            continue
        match = _TURN.match(block)
        if match:
            speaker, text = match.group(1), match.group(2).strip()
            if speaker not in ("Interviewer", expected_pid):
                warn(f"{path.name}: unexpected speaker {speaker!r}")
            turns.append(Turn(speaker, text))
        elif turns:
            warn(f"{path.name}: paragraph without a speaker label joined to the previous turn")
            turns[-1].text += " " + block
        else:
            warn(f"{path.name}: text before the first speaker label ignored")
    return turns


def speaker_label(turn: Turn, spec: Transcript) -> str:
    if turn.speaker == "Interviewer":
        return "Interviewer"
    return PARTICIPANTS[spec.pid].name if spec.label == "name" else turn.speaker


def split_sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text.strip()) if s]


def speech_seconds(words: int) -> float:
    return words * 60.0 / WORDS_PER_MINUTE


def hms(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def vtt_time(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    return f"{ms // 3_600_000:02d}:{ms % 3_600_000 // 60_000:02d}:{ms % 60_000 // 1000:02d}.{ms % 1000:03d}"


def render_txt(turns: list[Turn], spec: Transcript) -> str:
    lines = []
    clock = 0.0
    for turn in turns:
        label = speaker_label(turn, spec)
        prefix = f"[{hms(clock)}] " if spec.timestamps else ""
        lines.append(f"{prefix}{label}: {turn.text}")
        clock += speech_seconds(turn.words) + 2.0  # a short pause between speakers
    return "\n\n".join(lines) + "\n"


def render_md(turns: list[Turn], spec: Transcript) -> str:
    d = dt.date.fromisoformat(spec.date)
    parts = [f"# Interview transcript — {spec.tid}", f"*Wave {spec.wave}, {d:%B %Y}. Recorded with consent.*"]
    parts += [f"**{speaker_label(t, spec)}:** {t.text}" for t in turns]
    return "\n\n".join(parts) + "\n"


def cue_chunks(text: str) -> list[str]:
    """Group a turn into cues of one or two sentences, as Teams does."""
    chunks: list[str] = []
    current: list[str] = []
    for sentence in split_sentences(text):
        current.append(sentence)
        words = sum(len(s.split()) for s in current)
        if len(current) == 2 or words >= 28:
            chunks.append(" ".join(current))
            current = []
    if current:
        chunks.append(" ".join(current))
    return chunks or [text]


def render_vtt(turns: list[Turn], spec: Transcript) -> str:
    """WebVTT in the shape Microsoft Teams exports: GUID/n-k cue ids, voice tags."""
    out = ["WEBVTT", ""]
    clock = 1.2
    for n, turn in enumerate(turns, start=1):
        voice = speaker_label(turn, spec)
        guid = uuid.uuid5(VTT_NAMESPACE, f"{spec.tid}/{n}")
        for k, chunk in enumerate(cue_chunks(turn.text)):
            words = len(chunk.split())
            start, end = clock, clock + max(1.0, speech_seconds(words))
            out += [f"{guid}/{n + 10}-{k}", f"{vtt_time(start)} --> {vtt_time(end)}",
                    f"<v {voice}>{xml_escape(chunk)}</v>", ""]
            # small, deterministic gaps between cues; longer between speakers
            clock = end + 0.12 + (len(chunk) % 5) * 0.03
        clock += 1.1
    return "\n".join(out)


def render_transcript_docx(turns: list[Turn], spec: Transcript, path: Path) -> None:
    from docx import Document

    document = Document()
    document.add_heading("Interview transcript", level=0)
    meta = document.add_paragraph()
    meta.add_run(f"Wave {spec.wave}, {long_date(spec.date)}. Interviewer: Research team.").italic = True
    for turn in turns:
        paragraph = document.add_paragraph()
        paragraph.add_run(f"{speaker_label(turn, spec)}:").bold = True
        paragraph.add_run(f" {turn.text}")
    when = fixed_datetime(spec.date)
    set_docx_core(document, f"Interview transcript {spec.tid}", "Research team", when, "Interview transcript")
    document.save(str(path))
    normalise_zip(path, when)


def build_transcripts(out: Path) -> list[dict]:
    rows = []
    for spec in TRANSCRIPTS:
        source = SRC / "transcripts" / f"{spec.tid}.txt"
        if not source.exists():
            warn(f"transcript source missing, skipped: {source.relative_to(REPO)}")
            continue
        turns = parse_transcript(source, spec.pid)
        if not turns:
            warn(f"transcript source has no turns, skipped: {source.name}")
            continue
        folder = out / "transcripts" / ICS_FOLDERS[spec.ics]
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{spec.tid}.{spec.ext}"
        if spec.ext == "txt":
            target.write_text(render_txt(turns, spec), encoding="utf-8")
        elif spec.ext == "md":
            target.write_text(render_md(turns, spec), encoding="utf-8")
        elif spec.ext == "vtt":
            target.write_text(render_vtt(turns, spec), encoding="utf-8")
        elif spec.ext == "docx":
            render_transcript_docx(turns, spec, target)
        rows.append({
            "path": target.relative_to(out).as_posix(), "kind": "transcript", "ics": spec.ics,
            "collaborative": spec.collaborative, "wave": str(spec.wave), "date": spec.date,
            "participant_id": spec.pid, "title": f"Interview {spec.tid}",
        })
    return rows


# ---------------------------------------------------------------------------
# Documents: parsing the small markdown dialect
# ---------------------------------------------------------------------------

@dataclass
class Block:
    kind: str  # h1 | h2 | h3 | p | bullet | table
    text: str = ""
    rows: list[list[str]] = field(default_factory=list)


@dataclass
class SourceDocument:
    path: Path
    meta: dict[str, str]
    blocks: list[Block]

    @property
    def stem(self) -> str:
        return self.path.stem


_TABLE_RULE = re.compile(r"^\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?$")


def parse_document(path: Path) -> SourceDocument | None:
    """Parse front matter and body; every non-blank line is one block."""
    lines = path.read_text(encoding="utf-8").replace("\r\n", "\n").lstrip("\ufeff").split("\n")
    if not lines or lines[0].strip() != "---" or "---" not in [l.strip() for l in lines[1:]]:
        warn(f"{path.name}: no front matter, skipped")
        return None
    end = 1 + [l.strip() for l in lines[1:]].index("---")
    meta = {}
    for line in lines[1:end]:
        key, _, value = line.partition(":")
        meta[key.strip()] = value.strip()
    blocks: list[Block] = []
    for line in lines[end + 1:]:
        line = line.strip()
        if not line:
            continue
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if _TABLE_RULE.match(line):
                continue  # a markdown separator row: not content
            if blocks and blocks[-1].kind == "table":
                blocks[-1].rows.append(cells)
            else:
                blocks.append(Block("table", rows=[cells]))
        elif line.startswith("### "):
            blocks.append(Block("h3", line[4:].strip()))
        elif line.startswith("## "):
            blocks.append(Block("h2", line[3:].strip()))
        elif line.startswith("# "):
            blocks.append(Block("h1", line[2:].strip()))
        elif line.startswith("- ") or line.startswith("* "):
            blocks.append(Block("bullet", line[2:].strip()))
        else:
            blocks.append(Block("p", line))
    for block in blocks:  # pad ragged tables
        if block.kind == "table":
            width = max(len(r) for r in block.rows)
            block.rows = [r + [""] * (width - len(r)) for r in block.rows]
    return SourceDocument(path, meta, blocks)


def load_documents() -> list[SourceDocument]:
    docs = []
    for path in sorted((SRC / "documents").glob("*.md")):
        doc = parse_document(path)
        if doc is None:
            continue
        kind, fmt = doc.meta.get("kind", ""), doc.meta.get("format", "")
        if kind not in DOC_KINDS:
            warn(f"{path.name}: unknown kind {kind!r}, skipped")
            continue
        if fmt not in DOC_KINDS[kind][1]:
            warn(f"{path.name}: format {fmt!r} not supported for {kind}, skipped")
            continue
        if not doc.meta.get("title") or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", doc.meta.get("date", "")):
            warn(f"{path.name}: missing title or ISO date, skipped")
            continue
        if doc.meta.get("ics") and doc.meta["ics"] not in ICS_FOLDERS:
            warn(f"{path.name}: unknown ics {doc.meta['ics']!r}")
        docs.append(doc)
    return docs


def inline_plain(text: str) -> str:
    """Strip the only inline markup tolerated (``**bold**``)."""
    return re.sub(r"\*\*(.+?)\*\*", r"\1", text)


# ---------------------------------------------------------------------------
# Documents: PDF
# ---------------------------------------------------------------------------

# Characters the standard PDF fonts (WinAnsi) cannot show, with replacements.
_PDF_SUBSTITUTES = {"→": "->", "←": "<-", "≥": ">=", "≤": "<=", "−": "-", "\u2011": "-", "\u00ad": ""}


def pdf_markup(text: str, source: str) -> str:
    for bad, good in _PDF_SUBSTITUTES.items():
        text = text.replace(bad, good)
    try:
        text.encode("cp1252")
    except UnicodeEncodeError:
        odd = sorted({c for c in text if not c.encode("cp1252", "ignore")})
        warn(f"{source}: characters the PDF fonts cannot show: {''.join(odd)!r}")
    text = xml_escape(text)
    return re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)


def pdf_styles():
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_JUSTIFY, TA_LEFT
    from reportlab.lib.styles import ParagraphStyle

    try:  # reportlab hyphenates through pyphen when it is installed
        import pyphen  # noqa: F401
        hyphenation = {"hyphenationLang": "en_GB", "embeddedHyphenation": 1, "uriWasteReduce": 0.3}
    except ImportError:
        warn("pyphen not installed: PDFs are built without hyphenation")
        hyphenation = {}
    navy = colors.HexColor("#1f3b5c")
    body = ParagraphStyle("Body", fontName="Times-Roman", fontSize=10.5, leading=13.6,
                          alignment=TA_JUSTIFY, spaceAfter=6, **hyphenation)
    return {
        "h1": ParagraphStyle("Title", fontName="Helvetica-Bold", fontSize=17, leading=21,
                             textColor=navy, spaceAfter=12, alignment=TA_LEFT),
        "h2": ParagraphStyle("Heading2", fontName="Helvetica-Bold", fontSize=12.5, leading=15.5,
                             textColor=navy, spaceBefore=10, spaceAfter=5, keepWithNext=1),
        "h3": ParagraphStyle("Heading3", fontName="Helvetica-BoldOblique", fontSize=11, leading=13.5,
                             textColor=navy, spaceBefore=7, spaceAfter=4, keepWithNext=1),
        "p": body,
        "bullet": ParagraphStyle("Bullet", parent=body, leftIndent=16, bulletIndent=5, spaceAfter=3),
        "cell": ParagraphStyle("Cell", fontName="Times-Roman", fontSize=9, leading=11),
        "head": ParagraphStyle("CellHead", fontName="Helvetica-Bold", fontSize=8.5, leading=10.5,
                               textColor=colors.white),
    }


def make_pdf_canvas(header: str, footer: str):
    """A canvas class that draws the running header and the footer.

    The header is drawn when a page starts, so text extraction meets it
    before the body; the footer ("Page N of M") is drawn when the document is
    saved, because only then is the total page count known.
    """
    from reportlab.lib import colors
    from reportlab.pdfgen import canvas as rl_canvas

    grey, rule = colors.HexColor("#4a4a4a"), colors.HexColor("#9aa5b1")

    class RunningHeadCanvas(rl_canvas.Canvas):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._pages: list[dict] = []
            self._draw_header()

        def showPage(self):
            self._pages.append(dict(self.__dict__))
            self._startPage()
            self._draw_header()

        def save(self):
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self._draw_footer(total)
                super().showPage()
            super().save()

        def _margins(self) -> tuple[float, float, float]:
            width, height = self._pagesize
            return 56.7, width - 56.7, height

        def _draw_header(self) -> None:
            left, right, height = self._margins()
            self.saveState()
            self.setFillColor(grey)
            self.setStrokeColor(rule)
            self.setLineWidth(0.5)
            self.setFont("Helvetica", 8.5)
            self.drawString(left, height - 40, header)
            self.line(left, height - 45, right, height - 45)
            self.restoreState()

        def _draw_footer(self, total: int) -> None:
            left, right, _ = self._margins()
            self.saveState()
            self.setFillColor(grey)
            self.setStrokeColor(rule)
            self.setLineWidth(0.5)
            self.setFont("Helvetica", 8.5)
            self.line(left, 48, right, 48)
            self.drawString(left, 36, footer)
            self.drawRightString(right, 36, f"Page {self._pageNumber} of {total}")
            self.restoreState()

    return RunningHeadCanvas


def pdf_column_widths(rows: list[list[str]], width: float) -> list[float]:
    """Fit table columns to ``width``: never narrower than the longest word in
    the column, with the remaining space shared in proportion to the text."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    ncols, pad = len(rows[0]), 8.0
    def measure(text: str, row: int) -> float:
        font, size = ("Helvetica-Bold", 8.5) if row == 0 else ("Times-Roman", 9)
        return stringWidth(inline_plain(text), font, size)
    minimum = [max(max((measure(w, i) for w in r[c].split()), default=0) for i, r in enumerate(rows)) + pad
               for c in range(ncols)]
    natural = [max(max(measure(r[c], i) for i, r in enumerate(rows)) + pad, minimum[c]) for c in range(ncols)]
    if sum(natural) <= width:
        spare = width - sum(natural)
        return [n + spare * n / sum(natural) for n in natural]
    if sum(minimum) >= width:
        return [width * m / sum(minimum) for m in minimum]
    spare = width - sum(minimum)
    stretch = [n - m for n, m in zip(natural, minimum)]
    return [m + spare * s / sum(stretch) for m, s in zip(minimum, stretch)]


def pdf_table(block: Block, styles, width: float):
    from reportlab.lib import colors
    from reportlab.platypus import Paragraph, Table, TableStyle

    data = [[Paragraph(pdf_markup(cell, "table"), styles["head" if i == 0 else "cell"]) for cell in row]
            for i, row in enumerate(block.rows)]
    table = Table(data, colWidths=pdf_column_widths(block.rows, width), repeatRows=1, hAlign="LEFT",
                  spaceBefore=4, spaceAfter=8)
    table.setStyle(TableStyle([
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#1f3b5c")),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#eef2f6")]),
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#9aa5b1")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 4),
        ("RIGHTPADDING", (0, 0), (-1, -1), 4),
        ("TOPPADDING", (0, 0), (-1, -1), 3),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
    ]))
    return table


def render_pdf(doc: SourceDocument, path: Path) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import cm
    from reportlab.platypus import Paragraph, SimpleDocTemplate

    styles = pdf_styles()
    meta = doc.meta
    header = meta.get("header") or meta["title"]
    footer = meta.get("footer") or DEFAULT_FOOTERS[meta["kind"]]
    template = SimpleDocTemplate(
        str(path), pagesize=A4, leftMargin=2 * cm, rightMargin=2 * cm, topMargin=2.3 * cm,
        bottomMargin=2.3 * cm, title=meta["title"], author=header.split("·")[0].strip(),
        subject=meta["kind"], creator="casestudy scripts/build_corpus.py", invariant=1,
    )
    story = []
    for block in doc.blocks:
        if block.kind == "table":
            story.append(pdf_table(block, styles, template.width))
        elif block.kind == "bullet":
            story.append(Paragraph(pdf_markup(block.text, doc.path.name), styles["bullet"], bulletText="•"))
        else:
            story.append(Paragraph(pdf_markup(block.text, doc.path.name), styles[block.kind]))
    template.build(story, canvasmaker=make_pdf_canvas(header, footer))


# ---------------------------------------------------------------------------
# Documents: DOCX, TXT, MD
# ---------------------------------------------------------------------------

def _add_docx_runs(paragraph, text: str) -> None:
    """Add text to a paragraph, honouring ``**bold**`` spans."""
    for i, piece in enumerate(re.split(r"\*\*(.+?)\*\*", text)):
        if piece:
            paragraph.add_run(piece).bold = bool(i % 2)


def _add_page_field(paragraph) -> None:
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    run = paragraph.add_run()
    for tag, attrs, text in (("w:fldChar", {"w:fldCharType": "begin"}, None),
                             ("w:instrText", {"xml:space": "preserve"}, " PAGE "),
                             ("w:fldChar", {"w:fldCharType": "end"}, None)):
        element = OxmlElement(tag)
        for key, value in attrs.items():
            element.set(qn(key), value)
        if text:
            element.text = text
        run._r.append(element)


def render_docx(doc: SourceDocument, path: Path) -> None:
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    meta = doc.meta
    document = Document()
    document.styles["Normal"].font.size = Pt(11)
    section = document.sections[0]
    header = meta.get("header") or meta["title"]
    section.header.paragraphs[0].text = header
    footer_par = section.footer.paragraphs[0]
    footer_par.text = (meta.get("footer") or DEFAULT_FOOTERS[meta["kind"]]) + " · Page "
    _add_page_field(footer_par)
    footer_par.alignment = WD_ALIGN_PARAGRAPH.LEFT
    for block in doc.blocks:
        if block.kind in ("h1", "h2", "h3"):
            document.add_heading(inline_plain(block.text), level=int(block.kind[1]))
        elif block.kind == "bullet":
            _add_docx_runs(document.add_paragraph(style="List Bullet"), block.text)
        elif block.kind == "p":
            _add_docx_runs(document.add_paragraph(style="Normal"), block.text)
        elif block.kind == "table":
            table = document.add_table(rows=0, cols=len(block.rows[0]))
            table.style = "Table Grid"
            for i, row in enumerate(block.rows):
                cells = table.add_row().cells
                for cell, text in zip(cells, row):
                    cell.text = ""
                    _add_docx_runs(cell.paragraphs[0], f"**{text}**" if i == 0 and text else text)
            document.add_paragraph()
    when = fixed_datetime(meta["date"])
    set_docx_core(document, meta["title"], header.split("·")[0].strip(), when, meta["kind"])
    document.save(str(path))
    normalise_zip(path, when)


def render_plain(doc: SourceDocument, markdown: bool) -> str:
    """Observation notes as plain text (headings as lines) or as markdown."""
    parts: list[str] = []
    previous = ""
    for block in doc.blocks:
        if block.kind == "table":
            rows = ["| " + " | ".join(r) + " |" for r in block.rows]
            if markdown:
                rows.insert(1, "|" + "---|" * len(block.rows[0]))
            parts.append("\n".join(rows))
        elif block.kind == "bullet" and previous == "bullet":
            parts[-1] += f"\n- {block.text}"
        elif block.kind == "bullet":
            parts.append(f"- {block.text}")
        elif block.kind in ("h1", "h2", "h3"):
            level = int(block.kind[1])
            text = block.text if markdown else inline_plain(block.text)
            parts.append("#" * level + " " + text if markdown else text)
        else:
            parts.append(block.text if markdown else inline_plain(block.text))
        previous = block.kind
    return "\n\n".join(parts) + "\n"


def build_documents(out: Path) -> list[dict]:
    rows = []
    for doc in load_documents():
        meta = doc.meta
        folder = out / DOC_KINDS[meta["kind"]][0]
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{doc.stem}.{meta['format']}"
        if meta["format"] == "pdf":
            render_pdf(doc, target)
        elif meta["format"] == "docx":
            render_docx(doc, target)
        else:
            target.write_text(render_plain(doc, markdown=meta["format"] == "md"), encoding="utf-8")
        rows.append({
            "path": target.relative_to(out).as_posix(), "kind": meta["kind"], "ics": meta.get("ics", ""),
            "collaborative": meta.get("collaborative", ""), "wave": wave_for(meta["date"]),
            "date": meta["date"], "participant_id": "", "title": meta["title"],
        })
    return rows


# ---------------------------------------------------------------------------
# Consent register, names, indicators, README
# ---------------------------------------------------------------------------

CONSENT_COLUMNS = ["participant_id", "name", "ics", "organisation", "org_type", "role", "consent_form_version",
                   "consent_date", "consent_interview", "consent_recording", "consent_quotes", "consent_archive",
                   "withdrawn_date"]


def consent_rows() -> list[dict]:
    first_interview: dict[str, str] = {}
    for spec in TRANSCRIPTS:
        first_interview[spec.pid] = min(first_interview.get(spec.pid, spec.date), spec.date)
    rows = []
    for pid, person in PARTICIPANTS.items():
        if pid in OBSERVATION_ONLY_CONSENT:
            consent_date = OBSERVATION_ONLY_CONSENT[pid]
        else:
            lead_days = 3 + (int(pid[1:]) * 5) % 7  # "a few days": 3 to 9, fixed per person
            consent_date = (dt.date.fromisoformat(first_interview[pid]) - dt.timedelta(days=lead_days)).isoformat()
        yes = lambda flag: "no" if flag else "yes"  # noqa: E731
        rows.append({
            "participant_id": pid, "name": person.name, "ics": person.ics, "organisation": person.organisation,
            "org_type": person.org_type, "role": person.role, "consent_form_version": CONSENT_FORM_VERSION,
            "consent_date": consent_date,
            "consent_interview": yes(pid in NO_INTERVIEW),
            "consent_recording": yes(pid in NO_INTERVIEW),
            "consent_quotes": yes(pid in NO_QUOTES),
            "consent_archive": yes(pid in NO_ARCHIVE),
            "withdrawn_date": WITHDRAWN.get(pid, ""),
        })
    return rows


def write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def write_consent_xlsx(path: Path, rows: list[dict]) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Consent register"
    sheet.append(CONSENT_COLUMNS)
    for row in rows:
        sheet.append([row[c] for c in CONSENT_COLUMNS])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for column in sheet.columns:
        width = max(len(str(c.value or "")) for c in column)
        sheet.column_dimensions[column[0].column_letter].width = min(width + 2, 45)
    sheet.freeze_panes = "A2"
    when = dt.datetime(2026, 10, 31, 9, 0, 0)
    workbook.properties.title = "Consent register"
    workbook.properties.creator = "Research team"
    workbook.properties.lastModifiedBy = "Research team"
    workbook.properties.created = when
    workbook.properties.modified = when
    workbook.save(str(path))
    normalise_zip(path, when)


#: Which invented indicators are reported for which collaborative.  Each
#: series is either an explicit list of 11 quarterly values (used where the
#: board papers, notes or transcripts quote figures, so the data agree with
#: them) or ``(value in 2024Q1, value in 2026Q3, decimals)`` for a generated
#: curve.
INDICATOR_SERIES = {
    ("Ashmoor", "Ashmoor Acute Alliance"): {
        "rtt_52_week_waits": [2400, 2450, 2380, 2250, 1900, 1500, 1100, 700, 290, 250, 220],
        "average_length_of_stay_days": (5.6, 5.0, 1),
        "agency_spend_gbp_000": (6900, 4100, 0)},
    ("Ashmoor", "Ashmoor MHLDA Collaborative"): {
        "out_of_area_placements": [31, 30, 28, 25, 22, 19, 16, 14, 11, 10, 9],
        "average_length_of_stay_days": [41.0, 41.0, 40.0, 39.0, 38.0, 37.0, 36.0, 35.0, 34.0, 33.5, 33.0],
        "agency_spend_gbp_000": (2300, 1450, 0)},
    ("Kellbridge", "Kellbridge Hospitals Group"): {
        "rtt_52_week_waits": [3760, 3820, 3870, 3790, 3500, 3150, 2800, 2450, 2100, 1850, 1600],
        "average_length_of_stay_days": (6.1, 5.6, 1),
        "agency_spend_gbp_000": (8400, 5900, 0)},
    ("Kellbridge", "Kellbridge Community Provider Collaborative"): {
        "average_length_of_stay_days": (27.0, 21.5, 1),
        "agency_spend_gbp_000": (1750, 1100, 0)},
    ("Saltmarsh Coast", "Saltmarsh Coast Health Partnership"): {
        "rtt_52_week_waits": [611, 640, 620, 600, 480, 330, 170, 38, 9, 7, 6],
        "average_length_of_stay_days": [8.9, 8.9, 8.8, 8.7, 8.6, 8.4, 8.3, 8.1, 8.0, 8.0, 7.9],
        "agency_spend_gbp_000": (3900, 2600, 0)},
    ("Saltmarsh Coast", "Saltmarsh Coast MHLDA Collaborative"): {
        "out_of_area_placements": [38, 33, 28, 22, 17, 14, 11, 9, 6, 6, 5],
        "average_length_of_stay_days": [42.0, 40.0, 38.5, 37.0, 35.0, 34.0, 33.0, 32.0, 30.0, 30.0, 29.5],
        "agency_spend_gbp_000": (1900, 1300, 0)},
}
QUARTERS = [f"{year}Q{q}" for year in (2024, 2025, 2026) for q in (1, 2, 3, 4)][:11]  # 2024Q1..2026Q3


def generated_series(start: float, finish: float, decimals: int, rng: random.Random) -> list:
    """A little worse through 2024, then a steady improvement to ``finish``, with small fixed noise."""
    peak = start * 1.036
    values = []
    for i in range(len(QUARTERS)):
        if i <= 3:
            value = start * (1 + 0.012 * i)
        else:
            value = peak + (finish - peak) * (i - 3) / (len(QUARTERS) - 4)
        if 0 < i < len(QUARTERS) - 1:
            value *= 1 + rng.uniform(-0.03, 0.03)
        values.append(round(value, decimals) if decimals else int(round(value)))
    return values


def indicator_rows() -> list[dict]:
    rng = random.Random(20240401)
    rows = []
    for (ics, collaborative), indicators in INDICATOR_SERIES.items():
        for indicator, series in indicators.items():
            values = series if isinstance(series, list) else generated_series(*series, rng)
            assert len(values) == len(QUARTERS), (collaborative, indicator)
            rows += [{"ics": ics, "collaborative": collaborative, "quarter": quarter,
                      "indicator": indicator, "value": value} for quarter, value in zip(QUARTERS, values)]
    return rows


README = """\
# Sample corpus (fictional)

This folder is the sample study shipped with casestudy: a small, entirely
invented case study of NHS England provider collaboratives in three
Integrated Care Systems (Ashmoor, Kellbridge and Saltmarsh Coast), followed
over three waves (2024, 2025, 2026) against the study's six research
questions. No real system, organisation or person is described. The cast,
the transcript table and the source formats are documented in
`scripts/corpus_src/CAST.md`.

Do not edit these files by hand: they are generated from
`scripts/corpus_src/` by `python scripts/build_corpus.py`, which deletes and
rewrites them.

## What is where

- `manifest.csv` - one row per file (path, kind, ics, collaborative, wave,
  date, participant_id, title). The consent register comes first.
- `study.yaml` - the sample study's settings (title, team, the ICSs with
  their collaboratives, the waves and their years), read by `casestudy demo`
  and by `casestudy ingest corpus/`. Written by hand, not by this script.
- `transcripts/<ics>/` - interview transcripts in deliberately mixed formats
  (.txt with and without timestamps, .md, Teams-style .vtt, .docx) and
  speaker-label styles (participant IDs or names).
- `board-papers/` - board and committee papers (PDF and DOCX).
- `policy/` - local and national policy documents (an ICB delegation
  framework, the study team's policy briefing note).
- `observations/` - researchers' field notes from meetings they observed.
- `consent/consent-register.csv` - consent for each participant (P01-P15),
  including a withdrawal, a refusal of verbatim quotation and an
  observation-only participant. `consent-register.xlsx` is the same register
  for Excel users and is not listed in the manifest.
- `names.csv` - staff named in papers and notes, with role pseudonyms.
- `data/routine-indicators.csv` - invented quarterly indicators (RTT 52-week
  waits, out-of-area placements, average length of stay, agency spend in
  GBP thousands), 2024Q1-2026Q3; listed in the manifest with kind
  `indicators` (last).
"""


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------

def clean(out: Path) -> None:
    for name in GENERATED_DIRS:
        shutil.rmtree(out / name, ignore_errors=True)
    for name in GENERATED_FILES:
        (out / name).unlink(missing_ok=True)


def build(out: Path) -> list[dict]:
    out.mkdir(parents=True, exist_ok=True)
    clean(out)

    consent = consent_rows()
    write_csv(out / "consent" / "consent-register.csv", CONSENT_COLUMNS, consent)
    write_consent_xlsx(out / "consent" / "consent-register.xlsx", consent)
    manifest = [{"path": "consent/consent-register.csv", "kind": "consent", "ics": "", "collaborative": "",
                 "wave": "", "date": "", "participant_id": "", "title": "Consent register"},
                {"path": "names.csv", "kind": "names", "ics": "", "collaborative": "",
                 "wave": "", "date": "", "participant_id": "", "title": "Names to pseudonymise"}]

    rest = build_transcripts(out) + build_documents(out)
    rest.sort(key=lambda r: (MANIFEST_KIND_ORDER[r["kind"]], r["path"]))
    manifest += rest
    manifest.append({"path": "data/routine-indicators.csv", "kind": "indicators", "ics": "", "collaborative": "",
                     "wave": "", "date": "", "participant_id": "", "title": "Routine indicators"})
    write_csv(out / "manifest.csv", list(manifest[0]), manifest)

    write_csv(out / "names.csv", ["name", "pseudonym"],
              [{"name": n, "pseudonym": p} for n, p in STAFF_PSEUDONYMS])
    write_csv(out / "data" / "routine-indicators.csv", ["ics", "collaborative", "quarter", "indicator", "value"],
              indicator_rows())
    (out / "README.md").write_text(README, encoding="utf-8")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: corpus/)")
    args = parser.parse_args(argv)
    manifest = build(args.out.resolve())
    counts: dict[str, int] = {}
    for row in manifest:
        counts[row["kind"]] = counts.get(row["kind"], 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items(), key=lambda kv: MANIFEST_KIND_ORDER[kv[0]]))
    print(f"wrote {len(manifest)} manifest rows to {args.out}: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
