"""Files nobody tuned the code to: other label conventions, encodings and producers.

The text files in tests/fixtures/untuned/ were written by hand in styles the corpus
generator never uses (upper-case labels, "Respondent 1", "(00:00:04) Interviewer (JB):",
Otter.ai's label-on-its-own-line export, Markdown blockquotes, Zoom cue settings,
Windows-1252 with CRLF); the .docx and LibreOffice PDF are made here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import filemakers as fm
from casestudy import db as dblib
from casestudy.ingest import files as ingest
from casestudy.ingest import readers

FIXTURES = Path(__file__).parent / "fixtures" / "untuned"


@pytest.fixture
def registered(db_path, tmp_path):
    db = dblib.open_db(db_path)
    ingest.ingest(db, [fm.write_consent_csv(tmp_path / "register.csv")])
    return db


def turns(db, name):
    return [
        dict(r)
        for r in db.query(
            "SELECT e.speaker, e.speaker_role, e.participant_id, e.start_time, e.text FROM excerpts e "
            "JOIN sources s ON s.id = e.source_id WHERE s.path LIKE ? ORDER BY e.seq",
            [f"%{name}"],
        )
    ]


def test_respondent_cp1252_crlf(registered):
    ingest.ingest(registered, [FIXTURES / "respondent-cp1252-crlf.txt"], {"kind": "transcript", "participant_id": "P02"})
    got = turns(registered, "respondent-cp1252-crlf.txt")
    assert [t["speaker"] for t in got] == ["INTERVIEWER", "RESPONDENT 1"] * 3
    assert [t["speaker_role"] for t in got] == ["interviewer", "participant"] * 3
    assert got[1]["text"].startswith("Quite a lot, honestly. The joint committee finally met in June – it took eighteen")
    assert got[3]["text"] == (
        "The £12m elective fund sits with the lead provider now. We’re “hosting” it, "
        "which is the word everyone uses when they don’t want to say “holding”."
    )
    assert "Café conversations" in got[5]["text"]
    assert not any("Transcribed" in t["text"] or "\r" in t["text"] for t in got)


def test_parenthesised_times_and_interviewer_initials(registered):
    ingest.ingest(registered, [FIXTURES / "dr-smith-parenthesised-times.txt"], {"kind": "transcript", "participant_id": "P03"})
    got = turns(registered, "dr-smith-parenthesised-times.txt")
    assert [t["speaker"] for t in got] == ["Interviewer (JB)", "Dr Smith"] * 2 + ["Interviewer (JB)"]
    assert [t["start_time"] for t in got] == ["00:00:04", "00:00:09", "00:01:30", "00:01:41", "00:03:02"]
    assert got[1]["participant_id"] == "P03"
    assert got[1]["text"].endswith("a group of consultants who got on with each other.")


def test_otter_export_labels_on_their_own_line(registered):
    ingest.ingest(registered, [FIXTURES / "otter-export.txt"], {"kind": "transcript"})  # Helen Marsh: register name
    got = turns(registered, "otter-export.txt")
    # the interviewer's "Right." between two halves of one answer is a backchannel: one turn
    assert [t["speaker"] for t in got] == ["Helen Marsh", "Interviewer", "Helen Marsh"]
    assert {t["participant_id"] for t in got if t["speaker"] == "Helen Marsh"} == {"P01"}
    assert got[0]["text"].endswith("supposed to show up. And they did, sort of. There is a chapter on each of them, written by them, which is progress.")
    assert got[1]["text"] == "What would good look like next year?" and got[1]["start_time"] == "00:01:02"


def test_markdown_blockquotes_and_q_labels(registered):
    ingest.ingest(registered, [FIXTURES / "blockquote-bold.md"], {"kind": "transcript"})
    got = turns(registered, "blockquote-bold.md")
    assert [(t["speaker"], t["speaker_role"]) for t in got] == [("Q", "interviewer"), ("Amina Shah", "participant")] * 2
    assert got[3]["text"] == (
        "Outpatient waits are shorter for two specialties, though I would not claim the collaborative did that on its own."
    )
    assert not any("title:" in t["text"] for t in got)


def test_zoom_cue_settings_and_unicode_names(registered):
    ingest.ingest(registered, [FIXTURES / "zoom-unicode.vtt"], {"participant_id": "P02"})
    got = turns(registered, "zoom-unicode.vtt")
    assert [t["speaker"] for t in got] == ["Interviewer", "Siân O’Neill", "Interviewer", "Siân O’Neill"]
    assert got[3]["text"] == "Through a joint committee since April. Before that, committees in common, which meant every decision twice."


def test_docx_bold_runs_soft_breaks_and_qa_labels(registered, tmp_path):
    import docx

    document = docx.Document()
    document.add_paragraph("INTERVIEW 7 – ACUTE ALLIANCE – CONFIDENTIAL")
    for label, parts in [("Q", ["How are decisions taken?"]),
                         ("A", ["Committees in common.", "Each board delegates a little, and not the same little."]),
                         ("Q", ["Is that working?"]),
                         ("A", ["Slowly."])]:
        paragraph = document.add_paragraph()
        paragraph.add_run(f"{label}:").bold = True
        paragraph.add_run("\t" + parts[0])
        for more in parts[1:]:
            paragraph.add_run().add_break()  # a soft line break (Shift+Enter) inside the turn
            paragraph.add_run(more)
    path = tmp_path / "interview7.docx"
    document.save(path)
    ingest.ingest(registered, [path], {"kind": "transcript", "participant_id": "P02"})
    got = turns(registered, "interview7.docx")
    assert [(t["speaker"], t["speaker_role"]) for t in got] == [("Q", "interviewer"), ("A", "participant")] * 2
    assert got[1]["text"] == "Committees in common. Each board delegates a little, and not the same little."


@pytest.mark.render
def test_libreoffice_pdf_with_running_header_and_page_field(registered, tmp_path):
    """A multi-page board paper typed in Word style and exported by LibreOffice."""
    import docx
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    document = docx.Document()
    section = document.sections[0]
    section.header.paragraphs[0].text = "Saltmarsh Partnership Board – Part 1 – 20 January 2026"
    footer = section.footer.paragraphs[0]
    footer.add_run("OFFICIAL   Page ")
    for kind, text in (("begin", None), (None, " PAGE "), ("end", None)):
        run = footer.add_run()
        if kind:
            element = OxmlElement("w:fldChar")
            element.set(qn("w:fldCharType"), kind)
        else:
            element = OxmlElement("w:instrText")
            element.text = text
        run._r.append(element)
    document.add_heading("Saltmarsh Partnership Board", level=0)
    for number in range(1, 7):
        document.add_heading(f"{number}. Agenda item {number}", level=1)
        for para in range(4):
            document.add_paragraph(
                f"Item {number}, point {para + 1}: the Board discussed the collaborative's long-term plan, the "
                "risk share with the ICB and the reorganisation of the programme team, and agreed to return to "
                "the matter once the joint committee had reported on its first year of delegated budgets."
            )
    source = tmp_path / "saltmarsh.docx"
    document.save(source)
    try:
        pdf = fm.soffice_pdf(source, tmp_path / "pdf")
    except Exception as exc:
        pytest.skip(f"soffice could not convert: {exc}")
    if pdf is None:
        pytest.skip("LibreOffice (soffice) is not installed")
    parsed = readers.read_document(pdf)
    assert parsed.pages >= 2
    texts = [e.text for e in parsed.excerpts]
    whole = " ".join(texts)
    assert "Saltmarsh Partnership Board – Part 1" not in whole and "OFFICIAL" not in whole
    points = [t for t in texts if t.startswith("Item ")]
    assert len(points) == 24, texts  # every paragraph once, none cut by a page break
    assert all(t.endswith("first year of delegated budgets.") for t in points)
    assert {e.page for e in parsed.excerpts} == set(range(1, parsed.pages + 1))
    item6 = next(e for e in parsed.excerpts if e.text.startswith("Item 6, point 4"))
    assert item6.heading.endswith("6. Agenda item 6") and item6.page == parsed.pages
