"""Writers of real evidence files in real formats, for tests (no mocks).

Each function writes one file and returns its path. ``make_study`` writes a small
study folder: a consent register with names, a transcript in every format, board
papers as .docx and PDF, an observation note, a policy and a manifest.
"""

from __future__ import annotations

import csv
import shutil
import sqlite3
import subprocess
from pathlib import Path

CONSENT_HEADER = [
    " Participant ID ",
    "Name",
    "ICS",
    "Organisation",
    "Org  Type",
    "ROLE",
    "Consent Date",
    "consent_interview",
    "Consent Recording",
    "Consent-Quotes",
    "Withdrawn Date",
]

PARTICIPANTS = [
    # id, name, ics, organisation, org type, role, date, interview, recording, quotes, withdrawn
    ("P01", "Helen Marsh", "Ashmoor", "NHS Ashmoor and Dunley ICB", "ICB", "Director of Strategy", "2024-03-01", "yes", "yes", "yes", ""),
    ("P02", "Daniel Okoro", "Ashmoor", "Ashmoor Acute Alliance", "Acute trust", "Programme Director", "02/03/2024", "Yes", "Yes", "No", ""),
    ("P03", "Amina Shah", "Kellbridge", "Kellbridge Hospitals", "Acute trust", "Chief Operating Officer", "2024-03-05", "Y", "N", "yes", ""),
    ("P04", "Tom Reed", "Saltmarsh", "Saltmarsh Partnership", "Mental health trust", "Finance Director", "2024-03-06", "no", "no", "no", ""),
    ("P05", "Grace Lin", "Saltmarsh", "Saltmarsh Community", "Community trust", "Clinical Lead", "2024-03-07", "yes", "yes", "yes", "2024-09-01"),
]

ANSWERS = [
    "The collaborative was set up to tackle problems no single trust can solve on its own, elective recovery above all.",
    "Governance runs through committees in common, so every decision is technically taken twice by each board.",
    "Very little money moves through the collaborative yet; each trust keeps its own contract with the ICB.",
    "We report to the ICB quarterly, but accountability still sits with each chief executive individually.",
    "The joint forward plan is where our strategy and the ICB's five-year plan are meant to meet.",
    "Quality has improved on the stroke pathway, though it is too early to say the collaborative caused it.",
]
QUESTIONS = [
    "Could you start by describing your role?",
    "How is the collaborative governed at the moment?",
    "Is any money moving through the collaborative yet?",
    "How is the collaborative held to account?",
    "How do your plans line up with the ICB's?",
    "What difference has it made to patients?",
]


def write_consent_csv(path: Path, rows=PARTICIPANTS, header=CONSENT_HEADER) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_consent_xlsx(path: Path, rows=PARTICIPANTS, header=None) -> Path:
    import datetime as dt

    import openpyxl

    header = header or ["participant id", "NAME", "Ics", "organisation", "org_type", "Role ", "CONSENT DATE",
                        "Consent interview", "consent recording", "consent quotes", "withdrawn date"]
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        row = list(row)
        # a real Excel date in one column, as registers typed in Excel have
        if row[6][:4].isdigit():
            row[6] = dt.datetime.strptime(row[6], "%Y-%m-%d")
        sheet.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path


def write_manifest(folder: Path, rows: list[dict]) -> Path:
    columns = ["path", "kind", "ics", "collaborative", "wave", "date", "participant_id"]
    path = folder / "manifest.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in columns})
    return path


def interview(label: str, n: int = 4, interviewer: str = "Interviewer") -> list[tuple[str, str]]:
    """An interview as (speaker, text) turns: question, answer, question, answer..."""
    turns = []
    for i in range(n):
        turns.append((interviewer, QUESTIONS[i % len(QUESTIONS)]))
        turns.append((label, ANSWERS[i % len(ANSWERS)]))
    return turns


def write_text(path: Path, text: str, encoding: str = "utf-8", newline: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.replace("\n", newline).encode(encoding))
    return path


def write_txt_transcript(path: Path, turns, style: str = "bracket") -> Path:
    """``[00:01:23] P03: …`` (bracket), ``00:01:23 Interviewer: …`` (plain) or no times (none)."""
    lines = ["Interview transcript (anonymised)", ""]
    for i, (speaker, text) in enumerate(turns):
        stamp = f"00:{i // 2:02d}:{(i * 17) % 60:02d}"
        prefix = {"bracket": f"[{stamp}] ", "plain": f"{stamp} ", "none": ""}[style]
        lines += [f"{prefix}{speaker}: {text}", ""]
    return write_text(path, "\n".join(lines))


def write_md_transcript(path: Path, turns) -> Path:
    lines = ["# Interview, wave 2", ""]
    for speaker, text in turns:
        lines += [f"**{speaker}:** {text}", ""]
    return write_text(path, "\n".join(lines))


def write_docx_transcript(path: Path, turns, bold_runs: bool = False, title: str | None = None) -> Path:
    """Transcript paragraphs ``Label: text``; with ``bold_runs`` the label is its own bold run."""
    import docx

    document = docx.Document()
    document.add_heading(title or "Interview transcript", level=1)
    document.add_paragraph("Recorded on Teams; transcribed and checked by the research team.")
    for speaker, text in turns:
        paragraph = document.add_paragraph()
        if bold_runs:
            paragraph.add_run(speaker).bold = True
            paragraph.add_run(":").bold = True
            paragraph.add_run(" ")
            paragraph.add_run(text)
        else:
            paragraph.add_run(f"{speaker}: {text}")
    path.parent.mkdir(parents=True, exist_ok=True)
    document.save(path)
    return path


def write_vtt_teams(path: Path, turns, split_cues: bool = True) -> Path:
    """WebVTT as Microsoft Teams writes it: GUID cue ids, ``<v Name>`` voices, a turn over several cues."""
    lines = ["WEBVTT", ""]
    t = 0.0
    cue = 0
    for speaker, text in turns:
        head, sep, tail = text.partition(", ")
        parts = [head + ",", tail] if split_cues and sep else [text]
        for part in parts:
            cue += 1
            start, end = t, t + 3.5
            lines += [f"3f2a9c1e-7b4d-4e8a-9c1b-0d5e6f7a8b9c/{cue + 10}-0", f"{_ts(start)} --> {_ts(end)}",
                      f"<v {speaker}>{part}</v>", ""]
            t = end + 0.25
    return write_text(path, "\n".join(lines))


def write_vtt_zoom(path: Path, turns) -> Path:
    """WebVTT as Zoom writes it: numeric cue ids and ``Name: text`` inside each cue."""
    lines = ["WEBVTT", ""]
    t = 0.0
    for number, (speaker, text) in enumerate(turns, start=1):
        lines += [str(number), f"{_ts(t)} --> {_ts(t + 4)}", f"{speaker}: {text}", ""]
        t += 4.5
    return write_text(path, "\n".join(lines))


def _ts(seconds: float) -> str:
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{int(h):02d}:{int(m):02d}:{s:06.3f}"


BOARD_SECTIONS = [
    ("Provider collaboratives: development", [
        "The Board received the report on the development of the two provider collaboratives and the draft "
        "principles for delegating functions to them.",
        "Members noted that the Acute Alliance operates as committees in common and asked how decisions would "
        "be recorded when the two committees disagree.",
    ]),
    ("Finance report", [
        "The Chief Finance Officer reported a breakeven position for the system, subject to audit.",
        "The mental health collaborative holds the adult secure budget as lead provider under a risk share.",
    ]),
]


def add_word_table(document, rows, style: str = "Table Grid"):
    """Append a python-docx table of ``rows`` (tuples of cell texts) in a Word table style."""
    table = document.add_table(rows=0, cols=len(rows[0]))
    table.style = style
    for row in rows:
        for cell, value in zip(table.add_row().cells, row):
            cell.text = value
    return table


def write_docx_board_paper(path: Path, title: str = "Board meeting in public") -> Path:
    """A board paper with Title/Heading styles, body paragraphs and a table."""
    import docx

    document = docx.Document()
    document.core_properties.title = title
    document.add_heading(title, level=0)
    for heading, paragraphs in BOARD_SECTIONS:
        document.add_heading(heading, level=1)
        for text in paragraphs:
            document.add_paragraph(text)
        if heading.startswith("Finance"):
            document.add_heading("Financial position", level=2)
            table = document.add_table(rows=3, cols=3)
            for r, row in enumerate([("Organisation", "Plan £m", "Outturn £m"),
                                     ("Ashmoor University Hospitals", "-4.2", "-3.9"),
                                     ("Dunley General", "-1.1", "-1.3")]):
                for c, value in enumerate(row):
                    table.cell(r, c).text = value
            document.add_paragraph("The Board approved the financial plan for submission to NHS England.")
    path.parent.mkdir(parents=True, exist_ok=True)
    document.save(path)
    return path


# The PDF board paper: three pages, drawn line by line so the test knows exactly where
# the hyphen and the page break fall.
PDF_HEADER = "NHS Kellbridge ICB - Board meeting in public - 22 October 2024"
PDF_PAGES = [
    [
        ("h", "1. Provider collaboratives"),
        ("p", ["The Board received the report on the development of the provider",
               "collaboratives and the draft principles for delegation."]),
        ("p", ["Members asked whether the collaborative would need a new organ-",
               "isation of its programme team before taking on budgets."]),
        ("p", ["The Chief Executive explained that the committee had agreed that the",
               "delegation of elective budgets"]),
    ],
    [
        ("p", ["would be reviewed in March once the joint committee had met twice",
               "and its terms of reference were settled."]),
        ("h", "2. Finance report"),
        ("p", ["The Chief Finance Officer reported a breakeven position for the system,",
               "subject to audit, and a risk share with the mental health collaborative."]),
    ],
    [
        ("h", "3. Quality and safety"),
        ("p", ["The Chief Nursing Officer reported improved stroke outcomes across",
               "both acute trusts in the Alliance."]),
        ("p", ["The Board noted the report."]),
    ],
]


def write_pdf_board_paper(path: Path, pages=PDF_PAGES, header: str = PDF_HEADER) -> Path:
    """A reportlab PDF: running header and ``Page N of M`` footer on every page."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    width, height = A4
    pdf = canvas.Canvas(str(path), pagesize=A4)
    pdf.setTitle("Kellbridge ICB board")
    for number, blocks in enumerate(pages, start=1):
        pdf.setFont("Helvetica", 8)
        pdf.drawString(60, height - 40, header)
        pdf.drawRightString(width - 60, 30, f"Page {number} of {len(pages)}")
        y = height - 110
        for kind, content in blocks:
            if kind == "h":
                pdf.setFont("Helvetica-Bold", 14)
                pdf.drawString(60, y, content)
                y -= 26
                continue
            pdf.setFont("Helvetica", 11)
            for line in content:
                pdf.drawString(60, y, line)
                y -= 14
            y -= 12
        pdf.showPage()
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.save()
    return path


def write_pdf_without_text(path: Path) -> Path:
    """A 'scanned' PDF: shapes only, no text layer."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path), pagesize=A4)
    pdf.rect(50, 50, 400, 600, fill=1)
    pdf.showPage()
    pdf.save()
    return path


def soffice_pdf(source: Path, outdir: Path) -> Path | None:
    """Convert a file to PDF with LibreOffice; None when soffice is not installed."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        return None
    outdir.mkdir(parents=True, exist_ok=True)
    profile = outdir / ".lo-profile"
    subprocess.run(
        [soffice, f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", "pdf",
         "--outdir", str(outdir), str(source)],
        check=True, capture_output=True, timeout=120,
    )
    return outdir / (source.stem + ".pdf")


def make_study(root: Path) -> Path:
    """A small study folder with a manifest: every format, five register participants."""
    folder = root / "study"
    folder.mkdir(parents=True, exist_ok=True)
    write_consent_csv(folder / "consent" / "register.csv")
    write_docx_transcript(folder / "interviews" / "p01-w1.docx", interview("Helen Marsh"))
    write_vtt_teams(folder / "interviews" / "p02-w1.vtt", interview("P02"))
    write_vtt_zoom(folder / "interviews" / "p03-w1.vtt", interview("Amina Shah"))
    write_txt_transcript(folder / "interviews" / "p01-w2.txt", interview("P01"), style="bracket")
    write_txt_transcript(folder / "interviews" / "p02-w2.txt", interview("P02"), style="plain")
    write_md_transcript(folder / "interviews" / "p03-w2.md", interview("Respondent"))
    write_docx_board_paper(folder / "papers" / "ashmoor-board.docx")
    write_pdf_board_paper(folder / "papers" / "kellbridge-board.pdf")
    write_text(folder / "notes" / "observation.md",
               "# Observation: Acute Alliance committees in common\n\n## Item 1\n\n"
               "The two committees met in the same room with the same papers.\n\n"
               "Members of one committee asked to refer the decision back to their full board.\n")
    write_text(folder / "policy" / "delegation.txt",
               "Delegation framework\n\nThe ICB may delegate functions to a provider collaborative through a "
               "lead provider contract.\n\nAccountability remains with the ICB for delegated functions.\n")
    write_manifest(folder, [
        {"path": "consent/register.csv", "kind": "consent"},
        {"path": "interviews/p01-w1.docx", "kind": "transcript", "ics": "Ashmoor", "wave": "1", "date": "2024-04-10"},
        {"path": "interviews/p02-w1.vtt", "kind": "transcript", "ics": "Ashmoor", "collaborative": "Ashmoor Acute Alliance",
         "wave": "1", "date": "2024-04-12"},
        {"path": "interviews/p03-w1.vtt", "kind": "transcript", "ics": "Kellbridge", "wave": "1", "date": "2024-05-01"},
        {"path": "interviews/p01-w2.txt", "kind": "transcript", "ics": "Ashmoor", "wave": "2", "date": "2025-04-10"},
        {"path": "interviews/p02-w2.txt", "kind": "transcript", "ics": "Ashmoor", "wave": "2", "date": "2025-04-12",
         "participant_id": "P02"},
        {"path": "interviews/p03-w2.md", "kind": "transcript", "ics": "Kellbridge", "wave": "2", "date": "2025-05-01",
         "participant_id": "P03"},
        {"path": "papers/ashmoor-board.docx", "kind": "board-paper", "ics": "Ashmoor", "date": "2024-05-14"},
        {"path": "papers/kellbridge-board.pdf", "kind": "board-paper", "ics": "Kellbridge", "date": "2024-10-22"},
        {"path": "notes/observation.md", "kind": "observation", "ics": "Ashmoor", "collaborative": "Ashmoor Acute Alliance",
         "date": "2024-11-07"},
        {"path": "policy/delegation.txt", "kind": "policy", "date": "2025-01-01"},
    ])
    return folder


def rows(path: "str | Path", sql: str, *params) -> list[dict]:
    """The rows of ``sql`` in the SQLite file at ``path``, as dicts (its own connection, closed at once)."""
    conn = sqlite3.connect(str(path))
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()


def sql(path: "str | Path", query: str, *params) -> list[tuple]:
    """The rows of ``query`` (tuples) in the SQLite file at ``path``, opened read-only."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(query, params).fetchall()
    finally:
        conn.close()


def dump_db(path: "str | Path") -> list[str]:
    """Every schema object and row of a SQLite database, as SQL lines (for before/after checks)."""
    conn = sqlite3.connect(str(path))
    try:
        return list(conn.iterdump())
    finally:
        conn.close()
