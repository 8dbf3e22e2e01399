"""Nothing wrong goes in silently (issue 16): metadata checked against the study settings and
the consent register, speaker labels against the participant, honest summaries, strict
dates, UTF-16 text, private files, a named coder for every decision."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

import filemakers as fm
from casestudy import db as dblib
from casestudy.cli.main import cli

SETTINGS = """\
title: A checked study
ics:
  - name: Ashmoor
    collaboratives: [{name: Ashmoor Acute Alliance, type: acute}]
  - Kellbridge
  - Saltmarsh
waves:
  - {number: 1, year: 2024}
  - {number: 2, start: 2025-04-01, end: 2025-09-30}
"""


def run(*args, coder="tester"):
    env = {"CASESTUDY_CODER": coder} if coder else {}
    return CliRunner(env=env).invoke(cli, [str(a) for a in args])


def refused(result, *fragments):
    """A refusal: exit 1, one line, no traceback, every fragment in it."""
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def declared(tmp_path):
    """(db path, folder): a study with declared settings and the consent register loaded."""
    db = tmp_path / "work.db"
    (tmp_path / "study.yaml").write_text(SETTINGS, encoding="utf-8")
    assert run("init", "--db", db).exit_code == 0
    assert run("study", "import", tmp_path / "study.yaml", "--db", db).exit_code == 0
    result = run("ingest", fm.write_consent_csv(tmp_path / "register.csv"), "--db", db)
    assert result.exit_code == 0, result.output
    assert "consent register: 5 participants loaded (5 added, 0 changed)" in result.stdout
    return db, tmp_path


def transcript(folder: Path, name: str, label: str = "P01") -> Path:
    return fm.write_txt_transcript(folder / name, fm.interview(label))


# --- ICS, collaborative and wave against the settings (SPEC rule 6) -----------------------------


def test_mistyped_ics_is_refused_naming_the_known_ones(declared, dump_db):
    db, folder = declared
    before = dump_db(db)
    line = refused(run("ingest", transcript(folder, "t.txt"), "--participant", "P01", "--ics", "Kellbrige", "--db", db),
                   "unknown ICS 'Kellbrige'", "Ashmoor, Kellbridge, Saltmarsh", "--new-ics")
    assert "t.txt" in line
    assert dump_db(db) == before


def test_new_ics_is_added_only_when_asked_and_audited(declared):
    db, folder = declared
    paper = fm.write_text(folder / "paper.txt", "Board paper\n\nThe ICB delegated the budget to the new partnership.\n")
    refused(run("ingest", paper, "--kind", "board-paper", "--ics", "Northvale", "--db", db), "unknown ICS 'Northvale'")
    result = run("ingest", paper, "--kind", "board-paper", "--ics", "Northvale", "--new-ics", "--db", db)
    assert result.exit_code == 0, result.output
    conn = dblib.open_db(db)
    row = conn.execute("SELECT actor, detail FROM audit_log WHERE action = 'study.add-ics' AND target = 'Northvale'").fetchone()
    assert row[0] == "tester" and "--new-ics" in row[1]
    assert "Northvale" in run("study", "show", "--db", db).output


def test_unknown_collaborative_refused_and_collaborative_fills_its_ics(declared, dump_db):
    db, folder = declared
    paper = fm.write_text(folder / "paper.txt", "Board paper\n\nThe alliance agreed a joint waiting list.\n")
    before = dump_db(db)
    refused(run("ingest", paper, "--kind", "board-paper", "--collaborative", "Ashmoor Acute Aliance", "--db", db),
            "unknown collaborative 'Ashmoor Acute Aliance'", "Ashmoor Acute Alliance", "--new-collaborative")
    refused(run("ingest", paper, "--kind", "board-paper", "--ics", "Kellbridge", "--collaborative", "ashmoor acute alliance",
                "--db", db), "belongs to ICS 'Ashmoor', not 'Kellbridge'")
    assert dump_db(db) == before
    assert run("ingest", paper, "--kind", "board-paper", "--collaborative", "ashmoor acute alliance", "--db", db).exit_code == 0
    row = dblib.open_db(db).execute(
        "SELECT i.name, c.name FROM sources s JOIN ics i ON i.id = s.ics_id JOIN collaboratives c ON c.id = s.collaborative_id"
    ).fetchone()
    assert row == ("Ashmoor", "Ashmoor Acute Alliance")  # the declared spelling, and the ICS from the settings


def test_unknown_wave_refused_and_date_outside_its_wave_warned(declared, dump_db):
    db, folder = declared
    before = dump_db(db)
    refused(run("ingest", transcript(folder, "t.txt"), "--participant", "P01", "--wave", "3", "--db", db),
            "unknown wave 3", "wave 1 (2024), wave 2 (2025)")
    assert dump_db(db) == before
    result = run("ingest", transcript(folder, "t.txt"), "--participant", "P01", "--wave", "2", "--date", "2025-11-02", "--db", db)
    assert result.exit_code == 0, result.output
    assert "Warning:" in result.stderr and "date 2025-11-02 is outside wave 2 (2025) (2025-04-01 to 2025-09-30)" in result.stderr


def test_consent_register_with_an_unknown_ics_is_refused(declared, dump_db):
    db, folder = declared
    rows = [list(fm.PARTICIPANTS[0]), ["P09", "Ann Other", "Saltmarsh Cost", "Org", "ICB", "Lead", "2024-03-01", "yes", "yes", "yes", ""]]
    before = dump_db(db)
    refused(run("ingest", fm.write_consent_csv(folder / "more.csv", rows), "--db", db),
            "more.csv row 3", "unknown ICS 'Saltmarsh Cost'")
    refused(run("consent", "import", folder / "more.csv", "--db", db), "unknown ICS 'Saltmarsh Cost'")
    assert dump_db(db) == before


def test_empty_settings_accept_the_first_icss_and_say_so_then_the_rule_bites(tmp_path, study):
    db = tmp_path / "fresh.db"
    result = run("ingest", study, "--db", db)
    assert result.exit_code == 0, result.output
    assert "Note: the study settings declared no ICS" in result.stderr
    assert "Note: the study settings declare no waves" in result.stderr
    paper = fm.write_text(tmp_path / "p.txt", "Paper\n\nA paragraph about the collaborative board.\n")
    refused(run("ingest", paper, "--kind", "policy", "--ics", "Kelbridge", "--db", db), "unknown ICS 'Kelbridge'",
            "Ashmoor, Kellbridge, Saltmarsh")


def test_a_study_folder_brings_its_own_settings(tmp_path, study):
    (study / "study.yaml").write_text(SETTINGS, encoding="utf-8")
    db = tmp_path / "w.db"
    result = run("ingest", study, "--db", db)
    assert result.exit_code == 0, result.output
    assert "study settings" in result.stdout and "Note:" not in result.stderr
    assert "A checked study" in run("study", "show", "--db", db).output


# --- the consent register decides a transcript's ICS ----------------------------------------


def test_transcript_ics_comes_from_the_register(declared):
    db, folder = declared
    assert run("ingest", transcript(folder, "t.txt", label="P03"), "--participant", "P03", "--db", db).exit_code == 0
    ics = dblib.open_db(db).execute("SELECT i.name FROM sources s JOIN ics i ON i.id = s.ics_id").fetchone()[0]
    assert ics == "Kellbridge"


def test_transcript_ics_contradicting_the_register_is_refused(declared, dump_db):
    db, folder = declared
    before = dump_db(db)
    refused(run("ingest", transcript(folder, "t.txt"), "--participant", "P01", "--ics", "Kellbridge", "--db", db),
            "ICS 'Kellbridge' contradicts the consent register, which has P01 in 'Ashmoor'")
    assert dump_db(db) == before


def test_transcript_labelled_for_another_participant_is_refused(declared, dump_db):
    db, folder = declared
    before = dump_db(db)
    refused(run("ingest", transcript(folder, "t.txt", label="P77"), "--participant", "P01", "--db", db),
            "labelled 'P77'", "P01")
    assert dump_db(db) == before


# --- honest summaries ----------------------------------------------------------------------


def test_reingest_with_new_options_says_exactly_what_changed(declared):
    db, folder = declared
    path = transcript(folder, "t.txt")
    assert run("ingest", path, "--participant", "P01", "--wave", "1", "--date", "2024-05-02", "--db", db).exit_code == 0
    result = run("ingest", path, "--participant", "P01", "--wave", "2", "--date", "2025-05-02", "--db", db)
    assert result.exit_code == 0, result.output
    assert "wave 1 → 2" in result.stdout and "date 2024-05-02 → 2025-05-02" in result.stdout
    assert "0 unchanged, 1 with changed metadata" in result.stdout
    again = run("ingest", path, "--participant", "P01", "--wave", "2", "--date", "2025-05-02", "--db", db)
    assert "1 unchanged" in again.stdout and "changed metadata" not in again.stdout
    refused(run("ingest", path, "--participant", "P02", "--db", db), "stored as P01's transcript, not P02's")


def test_skip_bad_skips_a_listed_file_missing_on_disk(tmp_path, study, dump_db):
    (study / "interviews" / "p02-w2.txt").unlink()
    db = tmp_path / "w.db"
    assert run("init", "--db", db).exit_code == 0
    before = dump_db(db)
    refused(run("ingest", study, "--db", db), "manifest.csv row 7", "file not found: interviews/p02-w2.txt")
    assert dump_db(db) == before
    result = run("ingest", study, "--skip-bad", "--db", db)
    assert result.exit_code == 0, result.output
    assert "Skipped" in result.stderr and "p02-w2.txt" in result.stderr
    assert "9 added" in result.stdout and "1 skipped" in result.stdout


# --- readable input --------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_text_reads_like_utf8(declared, encoding):
    db, folder = declared
    text = "\n".join(f"{who}: {what}" for who, what in fm.interview("P01")) + "\nP01: Café culture, naïve plans – “quoted”.\n"
    raw = text.encode(encoding) if encoding == "utf-16" else text.encode(encoding)  # utf-16 writes a BOM
    path = folder / f"unicode-{encoding}.txt"
    path.write_bytes(raw)
    result = run("ingest", path, "--participant", "P01", "--db", db)
    assert result.exit_code == 0, result.output
    texts = [r[0] for r in dblib.open_db(db).execute("SELECT text FROM excerpts ORDER BY id")]
    assert "Café culture, naïve plans – “quoted”." in texts and texts[0] == fm.QUESTIONS[0]


@pytest.mark.parametrize("date, message", [
    ("15/05/2024", "for day 15, month 5 write 2024-05-15"),
    ("05/06/2024", "day and month cannot be told apart; write 2024-06-05 or 2024-05-06"),
    ("2024-02-30", "date is not a date"),
    ("May 2024", "date must be written YYYY-MM-DD"),
])
def test_non_iso_dates_are_refused_never_guessed(declared, dump_db, date, message):
    db, folder = declared
    before = dump_db(db)
    refused(run("ingest", transcript(folder, "t.txt"), "--participant", "P01", "--date", date, "--db", db), message)
    assert dump_db(db) == before


# --- private files -------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_working_database_and_its_wal_are_private(tmp_path):
    db = tmp_path / "new" / "deeper" / "work.db"
    old = os.umask(0o022)
    try:
        assert run("init", "--db", db).exit_code == 0
        assert _mode(db) == 0o600
        assert _mode(db.parent) == 0o700 and _mode(db.parent.parent) == 0o700
        conn = dblib.open_db(db)  # WAL mode: -wal and -shm exist while it is open
        conn["study"].insert({"key": "title", "value": "x"})
        for suffix in ("-wal", "-shm"):
            assert _mode(Path(f"{db}{suffix}")) == 0o600, suffix
        conn.conn.close()
        # a database made by an older version (world-readable) is made private when opened
        os.chmod(db, 0o644)
        assert run("study", "show", "--db", db).exit_code == 0
        assert _mode(db) == 0o600
    finally:
        os.umask(old)


# --- a named person for every decision; counts; codebook options ---------------------------


def test_review_needs_a_named_coder_not_the_login(declared):
    db, folder = declared
    assert run("ingest", transcript(folder, "t.txt"), "--participant", "P01", "--db", db).exit_code == 0
    assert run("code", "--db", db).exit_code == 0
    coding = dblib.open_db(db).execute("SELECT id FROM codings LIMIT 1").fetchone()[0]
    before = fm.dump_db(db)
    refused(run("review", "accept", coding, "--db", db, coder=None), "--coder NAME or $CASESTUDY_CODER")
    assert fm.dump_db(db) == before
    result = run("review", "accept", coding, "--db", db, coder="A Researcher")
    assert result.exit_code == 0 and "by A Researcher" in result.output


def test_codebook_list_and_check_take_the_codebook_option():
    folder = Path(__file__).resolve().parent.parent / "codebook"
    listed = run("codebook", "list", "--codebook", folder)
    assert listed.exit_code == 0 and "RQ1" in listed.output
    assert listed.output == run("codebook", "list", folder).output
    # each RQ's key terms under it
    lines = listed.output.splitlines()
    rq3 = next(i for i, line in enumerate(lines) if line.startswith("RQ3 "))
    assert lines[rq3 + 1].split(None, 2)[:2] == ["key", "terms:"] and "governance" in lines[rq3 + 1]
    assert run("codebook", "check", "--codebook", folder).exit_code == 0
