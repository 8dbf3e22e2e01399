"""End-to-end coding quality: labelled text -> real files -> `casestudy init/ingest/code` -> per-RQ F1.

`benchmarks/quality.py` scores the coder on excerpts held in memory. This harness measures
the whole path a research team (and the maintainers) use, so that errors of ingest
(speaker detection, interviewer turns, PDF paragraph splitting, running headers) and of
how codings map to research questions show up too:

1. the labelled set's interview answers are written into real transcripts, several
   answers per interview with invented, generic, unlabelled interviewer questions between
   them, in turn as a python-docx .docx (``Interviewer:`` / ``P03:`` turns, long answers in
   two paragraphs), a Teams WebVTT (``<v Name>`` voices, turns cut into timed cues, the
   researcher's own name as the other voice) and a .txt (``[hh:mm:ss] Name: ...`` lines);
   every participant is in a consent register (CSV) with a realistic role and organisation.
   Board-paper, survey and briefing paragraphs go into multi-page PDF board papers
   (reportlab: cover table, numbered section headings, numbered and justified paragraphs
   with hyphenation, a running header and a ``Page N of M`` footer) and a .docx policy;
   observation notes into a .txt. A ``manifest.csv`` and a ``study.yaml`` complete the folder;
2. the real CLI runs in that folder with no human decision: ``casestudy init``,
   ``study import``, ``ingest``, ``code`` (as subprocesses ``python -m casestudy``, or
   in-process through click with ``--in-process``);
3. every labelled item is found again among the stored excerpts by text (letters and
   digits only, so PDF re-flow, de-hyphenation and ligatures do not matter). An item stored
   as exactly one excerpt of the right speaker is ``ok``; ``merged`` (one excerpt holding
   other text too), ``split`` (several excerpts), ``speaker`` (wrong speaker or an
   interviewer turn) and ``missing`` are INGEST errors, reported apart from coding errors.
   The item's predicted RQs are those of every coding on its excerpt(s), through
   ``codes.rq`` in the database.

Prints per-RQ precision/recall/F1 and macro-F1 (end to end, and on the items ingest got
right), suggested RQs per coded excerpt against the labels' own rate, breakdowns per file
format and per kind, which coders (``auto:``, ``learned:``) made the suggestions, codings
on interviewer and small-talk turns, and the time of each stage.

    python benchmarks/quality_e2e.py                               # the held-out register set
    python benchmarks/quality_e2e.py tests/data/register_excerpts.yaml --limit 40
    python benchmarks/quality_e2e.py --keep /tmp/e2e --json out.json  # keep the study folder

The default set, tests/data/register_heldout_excerpts.yaml, is for evaluation only:
never tune anything by reading its errors (``--errors`` is refused for it).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

from quality import RQS, scores  # noqa: E402

HELDOUT = REPO / "tests" / "data" / "register_heldout_excerpts.yaml"
EVALUATION_ONLY = {HELDOUT.resolve()}
DOCUMENT_KINDS = ("board-paper", "survey", "briefing")

# --- the invented study around the labelled text -----------------------------------------

ICSS = [
    ("Harrowfield", "Harrowfield and Stanmoor ICS", "Harrowfield Acute Provider Collaborative"),
    ("Lowmere", "Lowmere and Vale ICS", "Lowmere Mental Health Collaborative"),
    ("Castleby", "Castleby Coast ICS", "Castleby Community Partnership"),
]
# (role, organisation template, org_type): the organisation takes the ICS name
PEOPLE = [
    ("Chief Executive", "{ics} Teaching Hospitals NHS Foundation Trust", "acute trust"),
    ("Chair", "{ics} Community Health NHS Trust", "community trust"),
    ("Managing Director, Provider Collaborative", "{ics} Acute Provider Collaborative", "acute trust"),
    ("Programme Director", "{ics} Mental Health NHS Foundation Trust", "mental health trust"),
    ("Director of Finance", "{ics} General Hospital NHS Trust", "acute trust"),
    ("Clinical Director, Elective Care", "{ics} Teaching Hospitals NHS Foundation Trust", "acute trust"),
    ("Director of Adult Social Services", "{ics} County Council", "local authority"),
    ("Chief Executive", "{ics} Voluntary Action", "voluntary sector"),
    ("Director of Strategy", "NHS {ics} Integrated Care Board", "ICB"),
    ("Medical Director", "{ics} Mental Health NHS Foundation Trust", "mental health trust"),
    ("Managing Director", "{ics} Independent Surgical Centre Ltd", "independent sector"),
    ("Clinical Lead, Primary Care Network", "{ics} GP Federation", "primary care"),
]
NAMES = ["Helen Farrant", "Daniel Achterberg", "Amina Qureshi", "Tom Ellingham", "Grace Obi", "Owen Pritchard",
         "Margaret Sully", "Tariq Mahmood", "Siobhan Kearney", "Priya Nair", "Gareth Lloyd-Evans", "Ruth Cardew",
         "Lucy Blenkinsop", "Kwame Asante", "Eleanor Vane", "Martin Dobrowski", "Fatima Begum", "Joanna Hurst",
         "Rhys Morgan", "Beatrice Okonjo", "Samuel Tranter", "Imogen Leckie", "Declan Moran", "Nadia Haddad"]
RESEARCHERS = ["Anna Kerrigan", "Jonah Whitlow", "Sara Lindqvist"]
QUESTIONS = [
    "Could you start by telling me a little about your role and how you came to be involved?",
    "Can you say a bit more about that?",
    "How would you describe how things have gone over the last year?",
    "What does that look like from where you sit?",
    "Has that changed since we last spoke?",
    "Why do you think that is?",
    "Could you give me an example?",
    "How do your colleagues see it, do you think?",
    "What has surprised you most?",
    "If you could change one thing, what would it be?",
    "How does that play out day to day?",
    "What would you want us to understand about how it works here?",
    "Where do you see it going in the next couple of years?",
    "Is there anything that has been harder than you expected?",
    "And how did people react to that?",
]
OPENING = ("Thanks for making the time today. Before we start, are you still happy for the conversation to be recorded?",
           "Yes, that's fine, go ahead.")
CLOSING = ("That's all my questions. Thank you, that was really helpful.",
           "Not at all. Good luck with the write-up.")
SECTIONS = {
    "board-paper": "Provider collaborative update",
    "survey": "Findings of the partner survey",
    "briefing": "National and regional context",
    "observation": "Observation notes",
}


@dataclass
class Placed:
    """Where one labelled item was written."""

    item: dict
    path: str  # relative to the study folder
    fmt: str  # docx, vtt, txt, pdf, docx-policy, txt-observation
    participant: str | None = None


@dataclass
class Study:
    folder: Path
    placed: list[Placed] = field(default_factory=list)
    questions: list[tuple[str, str]] = field(default_factory=list)  # (path, interviewer text)
    small_talk: list[tuple[str, str]] = field(default_factory=list)  # (path, participant text, no RQ)
    participants: dict[str, dict] = field(default_factory=dict)
    files: dict[str, int] = field(default_factory=dict)  # format -> files


def load_items(path: Path) -> list[dict]:
    """The labelled set: dicts with id, kind, rqs, text."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    items = data["excerpts"] if isinstance(data, dict) else data
    return [{"id": str(i["id"]), "kind": i.get("kind") or "interview", "rqs": list(i["rqs"]),
             "text": " ".join(str(i["text"]).split())} for i in items]


# --- writing the files ------------------------------------------------------------------


def _ts(seconds: float, vtt: bool = False) -> str:
    h, rem = divmod(int(seconds), 3600)
    m, s = divmod(rem, 60)
    return f"{h:02d}:{m:02d}:{s:02d}" + (f".{int(seconds * 1000) % 1000:03d}" if vtt else "")


def _sentences(text: str) -> list[str]:
    return re.split(r"(?<=[.?!])\s+(?=[A-Z\"'‘“])", text)


def _two_paragraphs(text: str) -> list[str]:
    """A long answer as two paragraphs at a sentence boundary near the middle (as a
    transcriber would break it); a short one as one."""
    sentences = _sentences(text)
    if len(text.split()) < 90 or len(sentences) < 3:
        return [text]
    half = len(sentences) // 2
    return [" ".join(sentences[:half]), " ".join(sentences[half:])]


def _write_docx_transcript(path: Path, title: str, turns: list[tuple[str, str, bool]]) -> None:
    import docx

    document = docx.Document()
    document.add_heading(title, level=1)
    document.add_paragraph("Transcribed from the audio recording. Timings removed.")
    for label, text, _ in turns:
        first, *rest = _two_paragraphs(text)
        paragraph = document.add_paragraph()
        paragraph.add_run(f"{label}:").bold = True
        paragraph.add_run(f" {first}")
        for more in rest:  # a continuation paragraph without a label
            document.add_paragraph(more)
    document.save(path)


def _write_vtt(path: Path, turns: list[tuple[str, str, bool]], backchannel: str | None = None) -> None:
    """Teams WebVTT. ``backchannel``: the interviewer's voice, heard saying 'Mm-hmm.' in the
    middle of every second answer of 48 words or more (its own cue, as Teams writes it)."""
    seconds, cue, out, long_answers = 3.5, 0, ["WEBVTT", ""], 0
    for label, text, is_interviewer in turns:
        tokens = text.split()
        starts = list(range(0, len(tokens), 16))  # Teams cuts a turn into short cues
        interject = None
        if backchannel and not is_interviewer and len(tokens) >= 48:
            long_answers += 1
            interject = starts[len(starts) // 2] if long_answers % 2 else None
        for start in starts:
            if start == interject:
                cue += 1
                out += [f"6c1f0e2a-90b4-4d7e-a3c5-{cue:012d}/{cue % 37}-{cue % 3}",
                        f"{_ts(seconds, True)} --> {_ts(seconds + 0.7, True)}", f"<v {backchannel}>Mm-hmm.</v>", ""]
                seconds += 0.9
            chunk = tokens[start:start + 16]
            cue += 1
            end = seconds + len(chunk) / 2.6
            out += [f"6c1f0e2a-90b4-4d7e-a3c5-{cue:012d}/{cue % 37}-{cue % 3}",
                    f"{_ts(seconds, True)} --> {_ts(end, True)}",
                    f"<v {label}>{' '.join(chunk)}</v>", ""]
            seconds = end + 0.4
        seconds += 1.2
    path.write_text("\n".join(out), encoding="utf-8")


def _write_docx_table_transcript(path: Path, title: str, turns: list[tuple[str, str, bool]]) -> None:
    """A transcription service's layout: a two-column table, speaker | words."""
    import docx

    document = docx.Document()
    document.add_heading(title, level=1)
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "Speaker", "Transcript"
    for label, text, _ in turns:
        cells = table.add_row().cells
        cells[0].text = label
        first, *rest = _two_paragraphs(text)
        cells[1].text = first
        for more in rest:
            cells[1].add_paragraph(more)
    document.save(path)


def _write_otter_txt(path: Path, title: str, turns: list[tuple[str, str, bool]]) -> None:
    """Otter.ai's export: the speaker and time on a line of their own, the words wrapped
    at 72 columns below."""
    import textwrap

    seconds, out = 2.0, [title, ""]
    for label, text, _ in turns:
        out += [f"{label}  {_ts(seconds)[3:]}", *textwrap.wrap(text, 72), ""]
        seconds += len(text.split()) / 2.6 + 1.5
    path.write_text("\n".join(out), encoding="utf-8")


def _write_unicode_txt(path: Path, title: str, turns: list[tuple[str, str, bool]]) -> None:
    """Word's 'Save As > Plain Text' with the 'Unicode' encoding: UTF-16 with a byte-order
    mark and CRLF line ends."""
    _write_txt_transcript(path, title, turns)
    path.write_bytes(path.read_text(encoding="utf-8").replace("\n", "\r\n").encode("utf-16"))


def _teams_name(name: str, organisation: str, number: int) -> str:
    """How Teams shows an external participant: '(Guest)', or an NHSmail display name."""
    if number % 2:
        return f"{name} (Guest)"
    first, _, last = name.partition(" ")
    return f"{last.upper()}, {first} ({organisation.upper()})"


def _write_txt_transcript(path: Path, title: str, turns: list[tuple[str, str, bool]]) -> None:
    seconds, out = 2.0, [title, ""]
    for label, text, _ in turns:
        out += [f"[{_ts(seconds)}] {label}: {text}", ""]
        seconds += len(text.split()) / 2.6 + 1.5
    path.write_text("\n".join(out), encoding="utf-8")


def _page_canvas(header: str):
    """A reportlab canvas class drawing the running header and a 'Page N of M' footer."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    class NumberedCanvas(canvas.Canvas):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._pages = []

        def showPage(self):
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self):
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self.setFont("Helvetica", 8)
                self.setFillGray(0.35)
                self.drawString(56, A4[1] - 36, header)
                self.drawRightString(A4[0] - 56, A4[1] - 36, "OFFICIAL")
                self.drawCentredString(A4[0] / 2, 30, f"Page {self._pageNumber} of {total}")
                super().showPage()
            super().save()

    return NumberedCanvas


def _write_pdf_paper(path: Path, title: str, header: str, sections: list[tuple[str, list[str]]], number: int) -> None:
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_JUSTIFY
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    styles = getSampleStyleSheet()
    body = ParagraphStyle("Body", parent=styles["BodyText"], fontName="Helvetica", fontSize=10.5, leading=14,
                          alignment=TA_JUSTIFY, spaceAfter=7, hyphenationLang="en_GB", embeddedHyphenation=1,
                          uriWasteReduce=0.3)
    heading = ParagraphStyle("H", parent=styles["Heading2"], fontName="Helvetica-Bold", fontSize=13, spaceBefore=10)
    story = [Paragraph(title, styles["Title"])]
    cover = Table([["Meeting", "Board meeting in public"], ["Agenda item", f"{7 + number}"],
                   ["Purpose", "For discussion and assurance"], ["Report of", "Director of Strategy and Partnerships"]],
                  colWidths=[110, 330])
    cover.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey), ("FONTSIZE", (0, 0), (-1, -1), 9),
                               ("FONTNAME", (0, 0), (0, -1), "Helvetica-Bold")]))
    story += [cover, Spacer(1, 18), Paragraph("Recommendation", heading),
              Paragraph("The Board is asked to note this report and the actions set out in it.", body), PageBreak()]
    for n, (section, paragraphs) in enumerate(sections, start=1):
        story.append(Paragraph(f"{n}. {section}", heading))
        for m, text in enumerate(paragraphs, start=1):
            escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            story.append(Paragraph(f"{n}.{m}&nbsp;&nbsp;{escaped}", body))
    doc = SimpleDocTemplate(str(path), pagesize=A4, title=title, leftMargin=64, rightMargin=64, topMargin=60,
                            bottomMargin=56)
    doc.build(story, canvasmaker=_page_canvas(header))


def _write_docx_policy(path: Path, title: str, sections: list[tuple[str, list[str]]]) -> None:
    import docx

    document = docx.Document()
    document.core_properties.title = title
    document.add_heading(title, level=0)
    document.add_paragraph("Version 1.2 · approved by the partnership board · review date: March 2027")
    for n, (section, paragraphs) in enumerate(sections, start=1):
        document.add_heading(f"{n}. {section}", level=1)
        for text in paragraphs:
            document.add_paragraph(text)
    document.save(path)


def _write_observation(path: Path, title: str, paragraphs: list[str]) -> None:
    path.write_text("\n\n".join([title, "Observer: research team (non-participant)", *paragraphs]) + "\n", encoding="utf-8")


def _sections(items: list[dict]) -> list[tuple[str, list[str]]]:
    """Paragraphs grouped under a heading per kind, in the order kinds first appear."""
    grouped: dict[str, list[str]] = {}
    for item in items:
        grouped.setdefault(SECTIONS.get(item["kind"], "Discussion"), []).append(item["text"])
    return list(grouped.items())


def _chunks(items: list, sizes: list[int]) -> list[list]:
    out, i, k = [], 0, 0
    while i < len(items):
        size = sizes[k % len(sizes)]
        out.append(items[i:i + size])
        i += size
        k += 1
    return out


CONVENTIONS = ("plain", "hard")


def write_study(items: list[dict], folder: Path, conventions: str = "plain") -> Study:
    """Write ``items`` into a study folder of real files; return where each went.

    ``plain``: the conventions the ingest guide lists (.docx ``Interviewer:``/``P03:``
    paragraphs, Teams voices with the register name, ``[hh:mm:ss] Name:`` lines).
    ``hard``: conventions met in the field: Teams voices of external participants marked
    ``(Guest)`` or shown as NHSmail display names (``SURNAME, First (ORGANISATION)``),
    the interviewer's 'Mm-hmm.' cue in the middle of every second Teams answer of 48 words or more,
    .docx transcripts as a speaker | words table, and .txt as Otter.ai exports (speaker and
    time on their own line, words wrapped at 72 columns) or as Word's 'Unicode' plain text
    (UTF-16 with a BOM, CRLF)."""
    if conventions not in CONVENTIONS:
        raise ValueError(f"conventions must be one of {CONVENTIONS}")
    folder = Path(folder)
    for sub in ("consent", "transcripts", "papers"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    study = Study(folder)
    interviews = [i for i in items if i["kind"] == "interview"]
    documents = [i for i in items if i["kind"] in DOCUMENT_KINDS]
    observations = [i for i in items if i["kind"] not in DOCUMENT_KINDS and i["kind"] != "interview"]
    manifest = [["path", "kind", "ics", "collaborative", "wave", "date", "participant_id", "title"],
                ["consent/register.csv", "consent", "", "", "", "", "", ""]]
    register = [["participant_id", "name", "ics", "organisation", "org_type", "role", "consent_form_version",
                 "consent_date", "consent_interview", "consent_recording", "consent_quotes", "consent_archive",
                 "withdrawn_date"]]
    question = 0
    for number, answers in enumerate(_chunks(interviews, [4, 3, 5]), start=1):
        pid = f"P{number:02d}"
        name = NAMES[(number - 1) % len(NAMES)] if number <= len(NAMES) else f"{NAMES[number % len(NAMES)]} {number}"
        ics, _, collaborative = ICSS[number % len(ICSS)]
        role, organisation, org_type = PEOPLE[(number - 1) % len(PEOPLE)]
        register.append([pid, name, ics, organisation.format(ics=ics), org_type, role, "v1.3 (2025-09)",
                         f"2026-0{1 + number % 3}-{10 + number % 18}", "yes", "yes", "yes", "yes", ""])
        fmt = ("docx", "vtt", "txt")[(number - 1) % 3]
        researcher = RESEARCHERS[number % len(RESEARCHERS)]
        if fmt == "docx":
            interviewer, participant = "Interviewer", pid
        elif fmt == "vtt":
            interviewer, participant = researcher, name  # Teams writes both people's names
            if conventions == "hard":
                participant = _teams_name(name, organisation.format(ics=ics), number)
        else:
            interviewer, participant = ("Interviewer", name) if number % 2 else (researcher, name)
        rel = f"transcripts/{2026}-{pid}-w2.{fmt}"
        turns = [(interviewer, OPENING[0], True), (participant, OPENING[1], False)]
        study.questions.append((rel, OPENING[0]))
        study.small_talk.append((rel, OPENING[1]))
        for answer in answers:
            asked = QUESTIONS[question % len(QUESTIONS)]
            question += 1
            turns += [(interviewer, asked, True), (participant, answer["text"], False)]
            study.questions.append((rel, asked))
            study.placed.append(Placed(answer, rel, fmt, pid))
        turns += [(interviewer, CLOSING[0], True), (participant, CLOSING[1], False)]
        study.questions.append((rel, CLOSING[0]))
        study.small_talk.append((rel, CLOSING[1]))
        title = f"Interview {pid}, wave 2"
        path = folder / rel
        if fmt == "docx":
            (_write_docx_table_transcript if conventions == "hard" else _write_docx_transcript)(path, title, turns)
        elif fmt == "vtt":
            _write_vtt(path, turns, backchannel=interviewer if conventions == "hard" else None)
        else:
            if conventions == "hard":
                (_write_otter_txt if number % 2 else _write_unicode_txt)(path, title, turns)
            else:
                _write_txt_transcript(path, title, turns)
        study.participants[pid] = {"name": name, "role": role, "format": fmt}
        study.files[fmt] = study.files.get(fmt, 0) + 1
        manifest.append([rel, "transcript", ics, collaborative, "2", f"2026-0{4 + number % 5}-{10 + number % 17}",
                         pid, ""])
    pdf_items = [d for n, d in enumerate(documents) if n % 4 != 3]
    policy_items = [d for n, d in enumerate(documents) if n % 4 == 3]
    for number, chunk in enumerate(_chunks(pdf_items, [14, 12]), start=1):
        ics, full, collaborative = ICSS[number % len(ICSS)]
        rel = f"papers/board-{number:02d}.pdf"
        title = f"{collaborative}: report to the Board"
        _write_pdf_paper(folder / rel, title, f"{collaborative} Board · meeting in public · 2{number} May 2026",
                         _sections(chunk), number)
        study.placed += [Placed(item, rel, "pdf") for item in chunk]
        study.files["pdf"] = study.files.get("pdf", 0) + 1
        manifest.append([rel, "board-paper", ics, collaborative, "2", f"2026-05-2{number % 10}", "", ""])
    for number, chunk in enumerate(_chunks(policy_items, [12]), start=1):
        ics, full, collaborative = ICSS[(number + 1) % len(ICSS)]
        rel = f"papers/policy-{number:02d}.docx"
        _write_docx_policy(folder / rel, f"{collaborative}: partnership working policy", _sections(chunk))
        study.placed += [Placed(item, rel, "docx-policy") for item in chunk]
        study.files["docx-policy"] = study.files.get("docx-policy", 0) + 1
        manifest.append([rel, "policy", ics, collaborative, "2", "2026-03-01", "", ""])
    if observations:
        rel = "papers/observation-01.txt"
        _write_observation(folder / rel, "Observation: partnership board, 14 May 2026", [o["text"] for o in observations])
        study.placed += [Placed(item, rel, "txt-observation") for item in observations]
        study.files["txt-observation"] = 1
        manifest.append([rel, "observation", ICSS[0][0], ICSS[0][2], "2", "2026-05-14", "", ""])
    with (folder / "consent" / "register.csv").open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(register)
    with (folder / "manifest.csv").open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(manifest)
    study_yaml = {
        "title": "End-to-end coding evaluation (invented study)",
        "pi": "Evaluation harness", "status": "draft",
        "ics": [{"name": n, "full_name": f, "collaboratives": [{"name": c}]} for n, f, c in ICSS],
        "waves": [{"number": 1, "year": 2025}, {"number": 2, "year": 2026}],
    }
    (folder / "study.yaml").write_text(yaml.safe_dump(study_yaml, sort_keys=False), encoding="utf-8")
    return study


# --- running the CLI --------------------------------------------------------------------


EXPORT = "codings.csv"
STEPS = (("init", ["init"]), ("study", ["study", "import", "study.yaml"]), ("ingest", ["ingest", ".", "--skip-bad"]),
         ("code", ["code"]), ("export", ["export", "csv", EXPORT, "--status", "all"]))


def run_cli(folder: Path, db: Path, in_process: bool = False, until: str = "export",
            code_args: tuple[str, ...] = ()) -> dict[str, float]:
    """init, study import, ingest, code (with ``code_args``), export csv (or the steps up to
    ``until``), as a user would type them in the study folder; seconds per step. A failing
    step raises RuntimeError with the command's output."""
    names = [name for name, _ in STEPS]
    steps = [(name, args + list(code_args) if name == "code" else args) for name, args in STEPS[:names.index(until) + 1]]
    timings = {}
    env = {k: v for k, v in os.environ.items() if k not in ("CASESTUDY_CODEBOOK", "CASESTUDY_DB")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["CASESTUDY_CODER"] = "e2e-harness"
    for name, args in steps:
        args = args + ["--db", str(db)]
        started = time.perf_counter()
        if in_process:
            code, output = _invoke(folder, args, env)
        else:
            done = subprocess.run([sys.executable, "-m", "casestudy", *args], cwd=folder, env=env,
                                  capture_output=True, text=True, stdin=subprocess.DEVNULL)
            code, output = done.returncode, done.stdout + done.stderr
        timings[name] = time.perf_counter() - started
        timings[f"{name}_output"] = output.strip()
        if code != 0:
            raise RuntimeError(f"casestudy {' '.join(args)} failed ({code}): {output.strip()}")
    return timings


def _invoke(folder: Path, args: list[str], env: dict) -> tuple[int, str]:
    from click.testing import CliRunner

    from casestudy.cli.main import cli

    previous = os.getcwd()
    os.chdir(folder)
    try:
        result = CliRunner().invoke(cli, args, env={k: env.get(k) for k in ("CASESTUDY_CODER",)} |
                                    {"CASESTUDY_CODEBOOK": None, "CASESTUDY_DB": None}, catch_exceptions=True)
    finally:
        os.chdir(previous)
    output = result.output + (f"\n{result.exception!r}" if result.exception and result.exit_code != 0
                              and not isinstance(result.exception, SystemExit) else "")
    return result.exit_code, output


# --- finding the items again ------------------------------------------------------------


def key(text: str) -> str:
    """Letters and digits only, lower case, after NFKC (ligatures, odd spaces): robust to
    re-flow, de-hyphenation and typographic quotes."""
    return re.sub(r"[^0-9a-z]", "", unicodedata.normalize("NFKC", text).lower())


def _words(text: str) -> list[str]:
    return [w for w in (key(t) for t in unicodedata.normalize("NFKC", text).split()) if w]


@dataclass
class Found:
    placed: Placed
    status: str  # ok, merged, split, speaker, missing
    excerpt_ids: list[int]
    detail: str = ""
    predicted: set = field(default_factory=set)
    coders: dict = field(default_factory=dict)  # coder prefix -> set of RQs


def read_db(db: Path) -> tuple[dict, dict, list[dict]]:
    """(excerpts by source path, {excerpt id: [(coder, rq, code)]}, every excerpt)."""
    import sqlite3

    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    rows = [dict(r) for r in conn.execute(
        "SELECT e.id, e.seq, e.text, e.speaker, e.participant_id, e.is_interviewer, e.page, e.heading, "
        "s.path, s.kind, s.format FROM excerpts e JOIN sources s ON s.id = e.source_id ORDER BY s.path, e.seq")]
    codings: dict[int, list] = {}
    for r in conn.execute("SELECT c.excerpt_id, c.coder, c.code_id, c.status, k.rq FROM codings c "
                          "JOIN codes k ON k.id = c.code_id WHERE c.status != 'rejected'"):
        codings.setdefault(r["excerpt_id"], []).append((r["coder"], r["rq"], r["code_id"]))
    conn.close()
    by_source: dict[str, list[dict]] = {}
    for row in rows:
        row["key"] = key(row["text"])
        by_source.setdefault(Path(row["path"]).name, []).append(row)
    return by_source, codings, rows


def _coder_kind(coder: str) -> str:
    return coder.split(":", 1)[0] + ":" if ":" in coder else coder


def _spans(excerpts: list[dict]) -> tuple[str, list[tuple[int, int]]]:
    joined, spans, pos = [], [], 0
    for e in excerpts:
        joined.append(e["key"])
        spans.append((pos, pos + len(e["key"])))
        pos += len(e["key"])
    return "".join(joined), spans


def locate(text: str, excerpts: list[dict], joined: str, spans: list) -> list[int] | None:
    """Indexes of the excerpts the text lies in (found by its key), or None."""
    k = key(text)
    at = joined.find(k) if k else -1
    if at < 0:
        return None
    return [n for n, (a, b) in enumerate(spans) if a < at + len(k) and b > at]


def _across_interjections(text: str, excerpts: list[dict]) -> list[int] | None:
    """Indexes of the participant turns holding the text once interviewer turns (a
    'Mm-hmm.' in the middle of an answer) are left out, or None."""
    kept = [n for n, e in enumerate(excerpts) if not e["is_interviewer"]]
    if len(kept) == len(excerpts):
        return None
    joined, spans = _spans([excerpts[n] for n in kept])
    hit = locate(text, [excerpts[n] for n in kept], joined, spans)
    return [kept[n] for n in hit] if hit else None


def _leftover(excerpt_key: str, item_key: str) -> str:
    """What the excerpt holds besides the item ('' when nothing, or only a paragraph number)."""
    at = excerpt_key.find(item_key)
    rest = excerpt_key[:at] + excerpt_key[at + len(item_key):]
    return "" if re.fullmatch(r"\d{0,4}", rest) else rest


def _partial(text: str, excerpts: list[dict]) -> list[int]:
    """Excerpts sharing word 5-grams with the text (for an item not found whole)."""
    words = _words(text)
    grams = {" ".join(words[i:i + 5]) for i in range(max(1, len(words) - 4))}
    hits = []
    for n, e in enumerate(excerpts):
        ew = _words(e["text"])
        shared = sum(1 for i in range(max(1, len(ew) - 4)) if " ".join(ew[i:i + 5]) in grams)
        if shared >= 3:
            hits.append(n)
    return hits


def skipped_files(ingest_output: str) -> dict[str, str]:
    """{file name: problem} for each 'Skipped PATH: problem' line of `ingest --skip-bad`."""
    out = {}
    for line in ingest_output.splitlines():
        match = re.match(r"^Skipped (.+?): (.*)$", line.strip())
        if match:
            out[Path(match.group(1)).name] = match.group(2)
    return out


def find_items(study: Study, db: Path, skipped: dict[str, str] | None = None) -> tuple[list[Found], dict]:
    """Every placed item found among the stored excerpts, with its ingest status and the
    RQs coded on it; and the checks on interviewer and small-talk turns. ``skipped``:
    files ingest refused ({name: problem}); their items are missing for that reason."""
    skipped = skipped or {}
    by_source, codings, rows = read_db(db)
    item_keys = {key(p.item["text"]): p.item["id"] for p in study.placed}
    question_keys = {key(q) for _, q in study.questions}
    found, used = [], set()
    for placed in study.placed:
        name = Path(placed.path).name
        excerpts = by_source.get(name, [])
        joined, spans = _spans(excerpts)
        hit = locate(placed.item["text"], excerpts, joined, spans)
        interrupted = _across_interjections(placed.item["text"], excerpts) if hit is None else None
        if interrupted:
            status, idx = "split", interrupted
            detail = (f"stored as {len(interrupted)} participant turns with interviewer turns between them: "
                      + " | ".join(_short(excerpts[n]["text"], 50) for n in interrupted))
        elif hit is None:
            partial = _partial(placed.item["text"], excerpts)
            status, idx = "missing", partial
            detail = (f"not found whole; {len(partial)} excerpt(s) share its wording" if partial
                      else f"file refused by ingest: {skipped[name]}" if name in skipped
                      else "not found in the stored excerpts of its file")
        else:
            idx = hit
            if len(hit) > 1:
                status, detail = "split", f"stored as {len(hit)} excerpts: " + " | ".join(
                    _short(excerpts[n]["text"]) for n in hit)
            else:
                rest = _leftover(excerpts[hit[0]]["key"], key(placed.item["text"]))
                status, detail = ("merged", _merged_with(rest, item_keys, question_keys, excerpts[hit[0]]["text"])) \
                    if rest else ("ok", "")
        chosen = [excerpts[n] for n in idx]
        if status == "ok" and placed.participant:
            e = chosen[0]
            if e["is_interviewer"] or e["participant_id"] != placed.participant:
                status = "speaker"
                detail = (f"stored as speaker {e['speaker']!r}, participant {e['participant_id']!r}, "
                          f"interviewer={bool(e['is_interviewer'])} (expected {placed.participant})")
        f = Found(placed, status, [e["id"] for e in chosen], detail)
        for e in chosen:
            used.add(e["id"])
            for coder, rq, _ in codings.get(e["id"], []):
                f.predicted.add(rq)
                f.coders.setdefault(_coder_kind(coder), set()).add(rq)
        found.append(f)
    checks = _turn_checks(study, by_source, codings, rows, used, skipped)
    return found, checks


def export_check(found: list[Found], csv_path: Path) -> tuple[int, list[str]]:
    """(rows, mismatches): the RQs the CSV export (what another tool or a reviewer would
    score from) gives each item's excerpt(s) against those read from the database."""
    by_excerpt: dict[int, set] = {}
    rows = 0
    with csv_path.open(newline="", encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            rows += 1
            if row.get("status") != "rejected":
                by_excerpt.setdefault(int(row["excerpt_id"]), set()).add(row["rq"])
    mismatches = []
    for f in found:
        exported = set().union(*(by_excerpt.get(i, set()) for i in f.excerpt_ids)) if f.excerpt_ids else set()
        if exported != f.predicted:
            mismatches.append(f"{f.placed.item['id']}: database {sorted(f.predicted)}, CSV export {sorted(exported)}")
    return rows, mismatches


def _short(text: str, width: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 1] + "…"


def _merged_with(rest: str, item_keys: dict, question_keys: set, text: str) -> str:
    parts = [f"item {iid}" for k, iid in item_keys.items() if k and k in rest]
    parts += ["an interviewer question" for q in question_keys if q and q in rest]
    if not parts:
        parts.append(f"other text ({len(rest)} letters)")
    return "one excerpt also holds " + ", ".join(parts) + f": {_short(text, 90)!r}"


def _turn_checks(study: Study, by_source: dict, codings: dict, rows: list[dict], used: set,
                 skipped: dict[str, str]) -> dict:
    """Interviewer questions must be stored as interviewer turns and never coded; small
    talk (no RQ) should stay uncoded; anything else stored is listed."""
    out = {"questions": 0, "question_errors": [], "interviewer_turns": 0,
           "interviewer_coded": [], "small_talk": len(study.small_talk), "small_talk_coded": [], "other": []}
    seen = set(used)
    for path, text in study.questions:
        if Path(path).name in skipped:
            continue  # the file was refused: counted once, with its items
        out["questions"] += 1
        excerpts = by_source.get(Path(path).name, [])
        joined, spans = _spans(excerpts)
        hit = locate(text, excerpts, joined, spans)
        if hit is None:
            out["question_errors"].append(f"{path}: question not found: {text!r}")
            continue
        for n in hit:
            seen.add(excerpts[n]["id"])
        if len(hit) != 1 or not excerpts[hit[0]]["is_interviewer"]:
            e = excerpts[hit[0]]
            out["question_errors"].append(f"{path}: question {_short(text, 50)!r} stored as speaker {e['speaker']!r} "
                                          f"(interviewer={bool(e['is_interviewer'])}, {len(hit)} excerpt(s))")
    for path, text in study.small_talk:
        excerpts = by_source.get(Path(path).name, [])
        joined, spans = _spans(excerpts)
        hit = locate(text, excerpts, joined, spans) or []
        for n in hit:
            seen.add(excerpts[n]["id"])
            if codings.get(excerpts[n]["id"]):
                out["small_talk_coded"].append(f"{path}: {text!r} -> {sorted({c[1] for c in codings[excerpts[n]['id']]})}")
    for e in rows:
        if e["is_interviewer"]:
            out["interviewer_turns"] += 1
            if codings.get(e["id"]):
                out["interviewer_coded"].append(f"{e['path']} turn {e['seq']}: {_short(e['text'], 60)!r} -> "
                                                f"{sorted({c[2] for c in codings[e['id']]})}")
        elif e["id"] not in seen:
            out["other"].append({"path": Path(e["path"]).name, "text": _short(e["text"], 80),
                                 "rqs": sorted({c[1] for c in codings.get(e["id"], [])})})
    return out


# --- scoring and the report -------------------------------------------------------------


def _table(found: list[Found], coder: str | None = None) -> dict:
    items = [f.placed.item for f in found]
    predicted = [f.predicted if coder is None else f.coders.get(coder, set()) for f in found]
    table = scores(items, predicted)
    coded = [p for p in predicted if p]
    labelled = [i["rqs"] for i in items if i["rqs"]]
    table["n"] = len(items)
    table["rqs_per_coded"] = sum(len(p) for p in coded) / len(coded) if coded else 0.0
    table["label_rate"] = sum(len(r) for r in labelled) / len(labelled) if labelled else 0.0
    table["coded"] = len(coded)
    # a small breakdown may have no positive and no suggestion for an RQ: its F1 is undefined
    table["defined"] = [rq for rq in RQS if table[rq]["tp"] + table[rq]["fp"] + table[rq]["fn"]]
    table["macro_f1_defined"] = (sum(table[rq]["f1"] for rq in table["defined"]) / len(table["defined"])
                                 if table["defined"] else 0.0)
    return table


def evaluate(set_path: Path = HELDOUT, limit: int | None = None, workdir: Path | None = None,
             in_process: bool = False, items: list[dict] | None = None, conventions: str = "plain",
             code_args: tuple[str, ...] = ()) -> dict:
    """Write, ingest, code and score; the result as a dict (see ``report``)."""
    items = load_items(set_path) if items is None else items
    if limit:
        items = items[:limit]
    temp = None
    if workdir is None:
        temp = tempfile.mkdtemp(prefix="casestudy-e2e-")
        workdir = Path(temp)
    try:
        folder = Path(workdir) / "study"
        if folder.exists():
            shutil.rmtree(folder)
        started = time.perf_counter()
        study = write_study(items, folder, conventions)
        timings = {"write": time.perf_counter() - started}
        db = Path(workdir) / "e2e.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        timings.update(run_cli(folder, db, in_process=in_process, code_args=code_args))
        started = time.perf_counter()
        skipped = skipped_files(timings.get("ingest_output", ""))
        found, checks = find_items(study, db, skipped)
        checks["skipped_files"] = skipped
        checks["export_rows"], checks["export_mismatches"] = export_check(found, folder / EXPORT)
        timings["evaluate"] = time.perf_counter() - started
        result = _result(set_path, study, found, checks, timings, db)
        result["conventions"] = conventions
        result["code_args"] = list(code_args)
        return result
    finally:
        if temp:
            shutil.rmtree(temp, ignore_errors=True)


def _result(set_path, study: Study, found: list[Found], checks: dict, timings: dict, db: Path) -> dict:
    clean = [f for f in found if f.status == "ok"]
    coders = sorted({c for f in found for c in f.coders})
    by = lambda attr: sorted({attr(f) for f in found})  # noqa: E731
    result = {
        "set": str(set_path), "n": len(found), "files": study.files, "participants": len(study.participants),
        "commit": _commit(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "codebook": _codebook_versions(db),
        "all": _table(found), "clean": _table(clean) if clean else None,
        "by_format": {fmt: _table([f for f in found if f.placed.fmt == fmt]) for fmt in by(lambda f: f.placed.fmt)},
        "by_kind": {kind: _table([f for f in found if f.placed.item["kind"] == kind])
                    for kind in by(lambda f: f.placed.item["kind"])},
        "by_coder": {c: _table(found, c) for c in coders},
        "suggestions_by_coder": {c: sum(len(f.coders.get(c, ())) for f in found) for c in coders},
        "only_by_coder": {c: _only(found, c) for c in coders},
        "ingest": {status: sum(1 for f in found if f.status == status)
                   for status in ("ok", "merged", "split", "speaker", "missing")},
        "ingest_errors": [{"id": f.placed.item["id"], "file": f.placed.path, "format": f.placed.fmt,
                           "status": f.status, "detail": f.detail} for f in found if f.status != "ok"],
        "checks": checks,
        "timings": {k: round(v, 2) for k, v in timings.items() if isinstance(v, float)},
        "cli_output": {k[:-7]: v for k, v in timings.items() if k.endswith("_output")},
        "items": [{"id": f.placed.item["id"], "kind": f.placed.item["kind"], "format": f.placed.fmt,
                   "status": f.status, "excerpts": f.excerpt_ids, "labels": f.placed.item["rqs"],
                   "predicted": sorted(f.predicted), "by_coder": {c: sorted(v) for c, v in f.coders.items()}}
                  for f in found],
    }
    return result


def _only(found: list[Found], coder: str) -> dict:
    """Item-RQ suggestions that this coder alone made, and how many of them are right."""
    right = wrong = 0
    for f in found:
        others = set().union(*(v for k, v in f.coders.items() if k != coder))
        for rq in f.coders.get(coder, set()) - others:
            if rq in f.placed.item["rqs"]:
                right += 1
            else:
                wrong += 1
    return {"right": right, "wrong": wrong}


def _commit() -> str:
    """The short commit measured, '+changes' when tracked files differ from it."""
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return head + ("+changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _codebook_versions(db: Path) -> list[str]:
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        return [r[0] for r in conn.execute("SELECT DISTINCT coder FROM codings ORDER BY coder")]
    finally:
        conn.close()


def _rq_lines(table: dict, indent: str = "  ") -> list[str]:
    lines = [f"{indent}{'RQ':<4} {'prec':>6} {'recall':>6} {'F1':>6}   tp  fp  fn"]
    for rq in RQS:
        r = table[rq]
        lines.append(f"{indent}{rq:<4} {r['precision']:>6.2f} {r['recall']:>6.2f} {r['f1']:>6.2f}  "
                     f"{r['tp']:>3} {r['fp']:>3} {r['fn']:>3}")
    return lines


def _one_line(name: str, t: dict) -> str:
    """A breakdown row; '-' for an RQ with neither a positive nor a suggestion, left out
    of that row's macro-F1."""
    cells = " ".join(f"{rq} {t[rq]['f1']:.2f}" if rq in t["defined"] else f"{rq}    -" for rq in RQS)
    macro = f"{t['macro_f1_defined']:.3f}" if t["defined"] else "    -"
    return (f"  {name:<16} {t['n']:>4}  macro-F1 {macro}  {cells}"
            f"  RQs/coded {t['rqs_per_coded']:.2f}")


def report(result: dict) -> str:
    a = result["all"]
    lines = [f"End-to-end coding quality: {result['set']} ({result['n']} labelled items; "
             f"files {result['files']}; {result['participants']} participants)",
             f"commit {result['commit']}, {result['date']}; coders {', '.join(result['codebook']) or 'none'}", ""]
    ing = result["ingest"]
    lines.insert(2, f"conventions: {result.get('conventions', 'plain')}; "
                    f"casestudy code {' '.join(result.get('code_args', [])) or '(no options)'}")
    for name, problem in result["checks"].get("skipped_files", {}).items():
        lost = sum(1 for e in result["ingest_errors"] if Path(e["file"]).name == name)
        lines.append(f"INGEST refused {name} ({lost} labelled items lost): {problem}")
    lines.append(f"Ingest: {ing['ok']}/{result['n']} items stored as exactly one excerpt of the right speaker; "
                 f"merged {ing['merged']}, split {ing['split']}, wrong speaker {ing['speaker']}, missing {ing['missing']}")
    for e in result["ingest_errors"]:
        if e["detail"].startswith("file refused by ingest"):
            continue  # one line per refused file above
        lines.append(f"  INGEST {e['status']:<8} {e['id']} ({e['format']}, {e['file']}): {e['detail']}")
    c = result["checks"]
    lines.append(f"Interviewer questions: {c['questions']} in ingested files, {len(c['question_errors'])} not stored as one "
                 f"interviewer turn; {c['interviewer_turns']} interviewer turns stored, {len(c['interviewer_coded'])} coded")
    lines += [f"  INGEST question {q}" for q in c["question_errors"]]
    lines += [f"  CODED interviewer turn {q}" for q in c["interviewer_coded"]]
    if "export_rows" in c:
        lines.append(f"CSV export: {c['export_rows']} codings; {len(c['export_mismatches'])} items whose exported RQs "
                     "differ from the database")
        lines += [f"  EXPORT {m}" for m in c["export_mismatches"][:20]]
    lines.append(f"Small talk (participant turns with no RQ): {c['small_talk']} written, "
                 f"{len(c['small_talk_coded'])} coded")
    lines += [f"  {q}" for q in c["small_talk_coded"]]
    coded_other = [o for o in c["other"] if o["rqs"]]
    lines.append(f"Other stored excerpts (headings, cover tables, notes): {len(c['other'])}, {len(coded_other)} coded")
    lines += [f"  {o['path']}: {o['text']!r} -> {o['rqs']}" for o in coded_other[:10]]
    lines += ["", f"End to end (every item, as a researcher would see it): macro-F1 {a['macro_f1']:.3f}"]
    lines += _rq_lines(a)
    lines.append(f"  suggested RQs per coded excerpt {a['rqs_per_coded']:.2f} (labels' own rate "
                 f"{a['label_rate']:.2f}); {a['coded']}/{a['n']} items coded; "
                 f"{a['none_clean'][0]}/{a['none_clean'][1]} items with no RQ left uncoded")
    if result["clean"] and result["clean"]["n"] != a["n"]:
        lines.append(f"Items ingest got right only ({result['clean']['n']}): macro-F1 {result['clean']['macro_f1']:.3f}")
    lines += ["", "Per format:"] + [_one_line(k, t) for k, t in result["by_format"].items()]
    lines += ["Per kind:"] + [_one_line(k, t) for k, t in result["by_kind"].items()]
    lines += ["Per coder (its suggestions alone):"]
    for k, t in result["by_coder"].items():
        only = result["only_by_coder"][k]
        lines.append(_one_line(k, t) + f"  ({result['suggestions_by_coder'][k]} item-RQ suggestions; "
                     f"by it alone {only['right']} right, {only['wrong']} wrong)")
    t = result["timings"]
    lines += ["", "Time: " + ", ".join(f"{k} {v:.2f}s" for k, v in t.items())
              + f"; total {sum(t.values()):.1f}s"]
    return "\n".join(lines)


def errors(result: dict) -> str:
    lines = []
    for i in result["items"]:
        if set(i["labels"]) != set(i["predicted"]):
            lines.append(f"{i['id']} ({i['format']}, {i['status']}) want {i['labels']} got {i['predicted']} "
                         f"{i['by_coder']}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("labels", nargs="?", type=Path, default=HELDOUT,
                        help="a labelled set (YAML with excerpts: id, kind, rqs, text); default: the held-out register set")
    parser.add_argument("--limit", type=int, help="only the first N items")
    parser.add_argument("--keep", type=Path, help="write the study folder and database here and keep them")
    parser.add_argument("--conventions", choices=CONVENTIONS, default="plain",
                        help="transcript conventions: plain (the default) or hard (Teams guests and NHSmail "
                             "names, .docx speaker tables, Otter.ai and UTF-16 .txt)")
    parser.add_argument("--code-option", action="append", default=[], metavar="OPTION",
                        help="pass an option to `casestudy code`, e.g. --code-option=--patterns-only (repeatable)")
    parser.add_argument("--in-process", action="store_true", help="run the CLI through click in this process")
    parser.add_argument("--json", type=Path, help="also write the full result as JSON")
    parser.add_argument("--errors", action="store_true", help="list the items coded wrongly (not for the held-out set)")
    args = parser.parse_args(argv)
    if args.errors and args.labels.resolve() in EVALUATION_ONLY:
        parser.error("--errors is refused for the held-out set: it is for evaluation only, never for tuning")
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    result = evaluate(args.labels, args.limit, args.keep, args.in_process, conventions=args.conventions,
                      code_args=tuple(args.code_option))
    print(report(result))
    if args.errors:
        print("\nCoding errors:\n" + errors(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
