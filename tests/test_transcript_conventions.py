"""Transcript conventions of real tools and typists: Teams voices with (Guest) and NHSmail
display names, speaker | words tables in .docx, timing / speaker / words cues, and a
researcher who appears under their own name. Real files, real ingest."""

from __future__ import annotations

import docx
import pytest
from click.testing import CliRunner

import filemakers as fm
from casestudy import db as dblib
from casestudy.cli.main import cli
from casestudy.ingest import readers

QUESTIONS = ["Could you tell me what the collaborative is for?", "And who sits round the table?",
             "How does the money move between the trusts?"]
ANSWERS = ["To keep fragile services going across three small hospitals, mostly.",
           "The three acute trusts, and since last year the community provider as well.",
           "Slowly. Each trust still holds its own contract with the ICB."]


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], env={"CASESTUDY_CODER": "tester"})


@pytest.fixture
def registered(tmp_path, db_path):
    """A database whose register has P01 Helen Marsh (see filemakers.PARTICIPANTS)."""
    assert run("ingest", fm.write_consent_csv(tmp_path / "reg" / "register.csv"), "--db", db_path).exit_code == 0
    return db_path


def turns(db_path):
    db = dblib.open_db(db_path)
    return [dict(r) for r in db.query("SELECT speaker, speaker_role, participant_id, text, start_time FROM excerpts ORDER BY id")]


def _vtt(path, voices):
    lines = ["WEBVTT", ""]
    second = 1
    for n, (voice, text) in enumerate(voices, start=1):
        half = len(text) // 2
        cut = text.rfind(" ", 0, half) if " " in text[:half] else len(text)
        for part in (text[:cut], text[cut:]):  # Teams cuts a turn into several cues
            if part.strip():
                lines += [f"6c1f0e2a-0000-0000-0000-{n:012d}/{second}-0",
                          f"00:00:{second:02d}.000 --> 00:00:{second + 1:02d}.000", f"<v {voice}>{part.strip()}</v>", ""]
                second += 2
    return fm.write_text(path, "\n".join(lines))


def _interleave(interviewer, participant):
    out = []
    for q, a in zip(QUESTIONS, ANSWERS):
        out += [(interviewer, q), (participant, a)]
    return out


@pytest.mark.parametrize("voice", ["Helen Marsh (Guest)", "MARSH, Helen (NHS ASHMOOR AND DUNLEY ICB)", "Dr Helen Marsh"])
def test_teams_voices_name_the_participant_and_the_researcher_interviews(tmp_path, registered, voice):
    path = _vtt(tmp_path / "p01.vtt", _interleave("Sara Lindqvist", voice))
    result = run("ingest", path, "--kind", "transcript", "--db", registered)
    assert result.exit_code == 0, result.output
    rows = turns(registered)
    assert [r["speaker_role"] for r in rows] == ["interviewer", "participant"] * 3
    assert [r["text"] for r in rows if r["speaker_role"] == "participant"] == ANSWERS  # cues re-joined
    assert {r["participant_id"] for r in rows if r["speaker_role"] == "participant"} == {"P01"}


def test_two_unknown_voices_the_questioner_is_the_interviewer_and_it_is_said(tmp_path, registered):
    path = _vtt(tmp_path / "p02.vtt", _interleave("Sara Lindqvist", "Someone Else (Guest)"))
    result = run("ingest", path, "--kind", "transcript", "--participant", "P02", "--db", registered)
    assert result.exit_code == 0, result.output
    assert "Note: p02.vtt: 'Sara Lindqvist' taken as the interviewer" in result.stderr
    rows = turns(registered)
    assert [r["speaker_role"] for r in rows] == ["interviewer", "participant"] * 3
    assert {r["participant_id"] for r in rows if r["speaker_role"] == "participant"} == {"P02"}


def _docx_table(path, rows, header=("Speaker", "Transcript")):
    document = docx.Document()
    document.add_heading("Interview P01, wave 2", level=1)
    table = document.add_table(rows=0, cols=len(header))
    if header:
        for cell, value in zip(table.add_row().cells, header):
            cell.text = value
    for row in rows:
        for cell, value in zip(table.add_row().cells, row):
            cell.text = value
    document.save(path)
    return path


def test_docx_speaker_table(tmp_path, registered):
    path = _docx_table(tmp_path / "p01.docx", _interleave("Interviewer", "P01"))
    assert run("ingest", path, "--kind", "transcript", "--db", registered).exit_code == 0
    rows = turns(registered)
    assert [(r["speaker"], r["text"]) for r in rows] == _interleave("Interviewer", "P01")


def test_docx_speaker_time_words_table(tmp_path, registered):
    timed = [(s, f"00:0{i}:00", t) for i, (s, t) in enumerate(_interleave("Interviewer", "Helen Marsh"))]
    path = _docx_table(tmp_path / "p01.docx", timed, header=("Name", "Time", "Text"))
    assert run("ingest", path, "--kind", "transcript", "--db", registered).exit_code == 0
    rows = turns(registered)
    assert [r["speaker_role"] for r in rows] == ["interviewer", "participant"] * 3
    assert [r["start_time"] for r in rows][:2] == ["00:00:00", "00:01:00"]


@pytest.mark.parametrize("suffix", [".txt", ".docx"])
def test_timing_speaker_words_cues(tmp_path, registered, suffix):
    """Teams' older .docx download (and several services): timing line, name line, words."""
    lines = []
    for n, (speaker, text) in enumerate(_interleave("Lindqvist, Sara", "Marsh, Helen")):
        lines += [f"0:0:{n * 5}.0 --> 0:0:{n * 5 + 4}.500", speaker, text, ""]
    if suffix == ".txt":
        path = fm.write_text(tmp_path / "p01.txt", "\n".join(lines))
    else:
        document = docx.Document()
        for line in lines:
            document.add_paragraph(line)
        path = tmp_path / "p01.docx"
        document.save(path)
    result = run("ingest", path, "--kind", "transcript", "--db", registered)
    assert result.exit_code == 0, result.output
    rows = turns(registered)
    assert [(r["speaker"], r["text"]) for r in rows] == _interleave("Sara Lindqvist", "Helen Marsh")
    assert [r["speaker_role"] for r in rows] == ["interviewer", "participant"] * 3
    assert rows[1]["start_time"] == "00:00:05.0"


def test_speaker_labels_as_call_tools_show_them():
    assert readers.speaker_label("Helen Marsh (Guest)") == "Helen Marsh"
    assert readers.speaker_label("MARSH, Helen (NHS ASHMOOR AND DUNLEY ICB)") == "Helen Marsh"
    assert readers.speaker_label("Ní Bhriain, Siobhán (External)") == "Siobhán Ní Bhriain"
    assert readers.speaker_label("Interviewer") == "Interviewer"
    assert readers.name_key("Dr Helen MARSH") == readers.name_key("Marsh, Helen") == ("helen", "marsh")
    assert readers.table_row_turn(("Speaker", "Transcript")) is None
    assert readers.table_row_turn(("P03", "[00:01:02]", "Words.")) == "[00:01:02] P03: Words."
    assert readers.table_row_turn(("", "continued words.")) == "continued words."


def test_an_unreadable_table_is_still_refused_in_one_line(tmp_path, registered, dump_db):
    path = _docx_table(tmp_path / "t.docx", [("1", "2"), ("3", "4")], header=("a", "b"))
    before = dump_db(registered)
    result = run("ingest", path, "--kind", "transcript", "--participant", "P01", "--db", registered)
    assert result.exit_code == 1 and len(result.stderr.strip().splitlines()) == 1
    assert "t.docx" in result.stderr and "no speaker turns" in result.stderr
    assert dump_db(registered) == before


def test_an_answer_cut_by_mm_hmm_is_one_turn(tmp_path, registered):
    long = "We tried to agree a shared waiting list, and it took a year, because every trust had its own rules"
    rest = "and in the end the ICB had to broker it, which tells you where the power really sits."
    voices = [("Sara Lindqvist", "How did the waiting list work go?"), ("Helen Marsh (Guest)", long),
              ("Sara Lindqvist", "Mm-hmm."), ("Helen Marsh (Guest)", rest),
              ("Sara Lindqvist", "Right, yeah. And was that a surprise?"), ("Helen Marsh (Guest)", "Yes.")]
    assert run("ingest", _vtt(tmp_path / "p01.vtt", voices), "--kind", "transcript", "--db", registered).exit_code == 0
    rows = turns(registered)
    assert [r["speaker_role"] for r in rows] == ["interviewer", "participant", "interviewer", "participant"]
    assert rows[1]["text"] == f"{long} {rest}"
    assert rows[3]["text"] == "Yes."  # a participant's short answer is an answer, never dropped
    assert readers.is_backchannel("Mm-hmm.") and readers.is_backchannel("Right, yeah.")
    assert not readers.is_backchannel("Right?") and not readers.is_backchannel("Yes, the board decided that.")
