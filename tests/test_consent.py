"""Consent: the register, withdrawal, purge, the evidence view, and every bad input."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

import consent_study as cs
import filemakers
from casestudy.consent import register as consent
from casestudy import db as dblib
from casestudy.cli.main import cli


@pytest.fixture
def work(tmp_path) -> Path:
    return cs.build(tmp_path)


def run(*args, input=None, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, env=env)


def query(path: Path, sql: str, params=()) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def evidence_text(path: Path) -> str:
    return "\n".join(f"{r[0]} {r[1]}" for r in query(path, "SELECT text, source_title FROM evidence"))


# --- the evidence view ---------------------------------------------------------------


def test_evidence_view_follows_the_consent_rules(work):
    rows = query(work, "SELECT participant_id, speaker_role, quotable, text, source_title FROM evidence")
    pids = {r[0] for r in rows}
    assert pids == {None, "S01", "S02", "S03", "S04"}  # S05 refused at ingest, S06 never stored
    assert all(r[1] != "interviewer" for r in rows)
    assert {r[2] for r in rows if r[0] == "S04"} == {0}
    assert {r[2] for r in rows if r[0] != "S04"} == {1}
    # names are pseudonymised in every text and title of the view
    names_only = [w for w in cs.forbidden_found(evidence_text(work)) if w in cs.NAME_WORDS]
    assert names_only == []


def test_withdrawal_leaves_the_evidence_view_at_once(work):
    assert "lighthouse" in evidence_text(work)
    result = run("consent", "withdraw", "S03", "--date", "2024-06-01", "--db", work)
    assert result.exit_code == 0, result.output
    assert "S03 withdrawn as of 2024-06-01" in result.output
    assert "lighthouse" not in evidence_text(work)
    assert not query(work, "SELECT 1 FROM evidence WHERE participant_id = 'S03'")
    audit = query(work, "SELECT actor, action, target, detail FROM audit_log WHERE action = 'consent.withdraw'")
    assert audit == [("test", "consent.withdraw", "S03", json.dumps({"previous": None, "withdrawn_date": "2024-06-01"}))] or \
        audit[0][1:3] == ("consent.withdraw", "S03")


def test_withdraw_again_without_date_keeps_the_date_and_same_date_is_a_no_op(work):
    assert run("consent", "withdraw", "S03", "--date", "2024-06-01", "--db", work).exit_code == 0
    assert run("consent", "withdraw", "S03", "--db", work).exit_code == 0
    assert run("consent", "withdraw", "S03", "--date", "2024-06-01", "--db", work).exit_code == 0
    assert query(work, "SELECT withdrawn_date FROM consents WHERE participant_id = 'S03'") == [("2024-06-01",)]
    assert query(work, "SELECT count(*) FROM audit_log WHERE action = 'consent.withdraw'") == [(1,)]


# --- ingest and consent ----------------------------------------------------------------


def test_transcript_without_interview_consent_is_refused_and_nothing_changes(work, tmp_path, dump_db):
    path = filemakers.write_txt_transcript(tmp_path / "s05.txt", cs.S05_TURNS)
    before = dump_db(work)
    result = run("ingest", path, "--kind", "transcript", "--participant", "S05", "--db", work)
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == f"Error: {path.resolve()}: participant S05 did not consent to interview; transcript refused" or \
        "did not consent to interview" in result.output
    assert dump_db(work) == before


def test_a_folder_with_an_unconsented_transcript_is_refused_whole(tmp_path):
    study = cs.make_consent_study(tmp_path / "study", with_no_consent=True)
    path = tmp_path / "w.db"
    result = run("ingest", study, "--db", path)
    assert result.exit_code == 1 and "S05 did not consent to interview" in result.output
    assert query(path, "SELECT count(*) FROM sources") == [(0,)]


def test_transcript_of_an_already_withdrawn_participant_is_never_stored(work, tmp_path):
    # S06 withdrew before ingest: the folder ingested, her file skipped, her words nowhere
    assert not query(work, "SELECT 1 FROM sources WHERE participant_id = 'S06'")
    assert not query(work, "SELECT 1 FROM excerpts WHERE text LIKE '%ferry contract%'")
    assert b"ferry contract" not in Path(work).read_bytes()
    path = filemakers.write_txt_transcript(tmp_path / "again.txt", cs.S06_TURNS)
    result = run("ingest", path, "--kind", "transcript", "--participant", "S06", "--db", work)
    assert result.exit_code == 0
    assert "participant S06 withdrew on 2024-05-01; transcript not stored" in result.output
    assert not query(work, "SELECT 1 FROM excerpts WHERE text LIKE '%ferry contract%'")


# --- purge -----------------------------------------------------------------------------


def test_withdraw_and_purge_leaves_no_text_anywhere(work):
    assert b"lighthouse budget" in Path(work).read_bytes() or query(work, "SELECT 1 FROM excerpts WHERE text LIKE '%lighthouse%'")
    others_before = query(work, "SELECT count(*) FROM excerpts e JOIN sources s ON s.id = e.source_id WHERE s.participant_id IS NOT 'S03'")
    result = run("consent", "withdraw", "S03", "--date", "2024-06-01", "--purge", "--yes", "--db", work)
    assert result.exit_code == 0, result.output
    assert "Purged 1 transcript(s), 4 excerpts" in result.output
    # nothing of S03's words in any table, FTS shadow table, index vocabulary, or the file bytes
    problems = cs.scan_sqlite(work, names=False)  # (S04's refused sentence is rightly still stored)
    found = {where: [f for f in what if f in (cs.WITHDRAWN_CANARY, "lighthouse", "pier")] for where, what in problems.items()}
    assert {where: what for where, what in found.items() if what} == {}
    for suffix in ("", "-wal"):
        p = Path(f"{work}{suffix}")
        if p.exists():
            data = p.read_bytes()
            assert b"lighthouse" not in data and b"quietly buried" not in data
    conn = sqlite3.connect(work)
    conn.execute("CREATE VIRTUAL TABLE temp.v USING fts5vocab(main, excerpts_fts, 'row')")
    assert conn.execute("SELECT count(*) FROM temp.v WHERE term IN ('lighthous', 'lighthouse', 'pier')").fetchone() == (0,)
    conn.close()
    # the consent record and the name (for others' mentions) are kept; others' data intact
    assert query(work, "SELECT withdrawn_date FROM consents WHERE participant_id = 'S03'") == [("2024-06-01",)]
    assert query(work, "SELECT count(*) FROM excerpts e JOIN sources s ON s.id = e.source_id WHERE s.participant_id IS NOT 'S03'") == others_before
    assert not query(work, "SELECT 1 FROM sources WHERE participant_id = 'S03'")
    assert not query(work, "SELECT 1 FROM codings c LEFT JOIN excerpts e ON e.id = c.excerpt_id WHERE e.id IS NULL")
    assert not query(work, "SELECT 1 FROM memos WHERE text LIKE '%lighthouse%'")
    (detail,) = query(work, "SELECT detail FROM audit_log WHERE action = 'consent.purge'")[0]
    record = json.loads(detail)
    assert record["excerpts"] == 4 and record["sources"] == 1 and len(record["sha256"]) == 1
    assert "lighthouse" not in detail and "Ingrid" not in detail
    assert query(work, "PRAGMA integrity_check") == [("ok",)]


def test_purge_asks_first_and_refuses_without_a_terminal(work, dump_db):
    before = dump_db(work)
    result = run("consent", "withdraw", "S03", "--purge", "--db", work)
    assert result.exit_code == 1 and "add --yes" in result.output
    assert dump_db(work) == before
    result = run("consent", "withdraw", "S03", "--purge", "--db", work, input="n\n", env={"CASESTUDY_ASSUME_TTY": "1"})
    assert result.exit_code == 1 and "purge cancelled" in result.output
    assert dump_db(work) == before
    result = run("consent", "withdraw", "S03", "--purge", "--db", work, input="y\n", env={"CASESTUDY_ASSUME_TTY": "1"})
    assert result.exit_code == 0, result.output
    assert not query(work, "SELECT 1 FROM excerpts WHERE text LIKE '%lighthouse%'")


def test_purge_library_refuses_a_participant_who_has_not_withdrawn(work):
    db = dblib.open_db(work)
    with pytest.raises(consent.CasestudyError, match="has not withdrawn"):
        with db.atomic():
            consent.purge(db, "S01", "test")
    with pytest.raises(consent.CasestudyError, match="no participant"):
        consent.purge(db, "S99", "test")


def test_purged_participant_transcript_cannot_come_back(work):
    assert run("consent", "withdraw", "S03", "--purge", "--yes", "--db", work).exit_code == 0
    result = run("ingest", Path(work).parent / "study" / "t" / "s03.txt", "--kind", "transcript", "--participant", "S03", "--db", work)
    assert result.exit_code == 0 and "transcript not stored" in result.output
    assert not query(work, "SELECT 1 FROM excerpts WHERE text LIKE '%lighthouse%'")


# --- bad input to withdraw -----------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["S99"], "no participant 'S99' in the consent register"),
        (["S01", "--date", "31/02/2024"], "--date is not a date"),
        (["S01", "--date", "yesterday"], "--date is not a date"),
        (["S01", "--date", "2999-01-01"], "is in the future"),
        (["S01", "--date", "2023-01-01"], "before S01's consent date 2024-03-01"),
        (["", "--date", "2024-06-01"], "no participant ''"),
    ],
)
def test_withdraw_bad_input(work, dump_db, args, message):
    before = dump_db(work)
    result = run("consent", "withdraw", *args, "--db", work)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.output
    assert dump_db(work) == before


def test_withdraw_needs_an_existing_database(tmp_path):
    result = run("consent", "withdraw", "S01", "--db", tmp_path / "none.db")
    assert result.exit_code == 1 and "no such database" in result.output
    assert not (tmp_path / "none.db").exists()


# --- status and import ---------------------------------------------------------------


def test_status_shows_ids_and_scope_never_names(work):
    result = run("consent", "status", "--db", work)
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split()[:2] == ["ID", "ICS"]
    s04 = next(line for line in lines if line.startswith("S04"))
    assert " no " in s04  # quotation refused
    s06 = next(line for line in lines if line.startswith("S06"))
    assert "2024-05-01" in s06
    assert [w for w in cs.forbidden_found(result.output) if w in cs.NAME_WORDS] == []


def test_status_of_an_empty_database(db_path):
    result = run("consent", "status", "--db", db_path)
    assert result.exit_code == 0 and "No participants yet" in result.output


def test_import_csv_and_xlsx_audit_without_names(tmp_path):
    path = tmp_path / "w.db"
    csv_file = filemakers.write_consent_csv(tmp_path / "r.csv", rows=cs.REGISTER[:3])
    result = run("consent", "import", csv_file, "--coder", "alice", "--db", path)
    assert result.exit_code == 0 and "3 participants: 3 added, 0 changed." in result.output
    xlsx = filemakers.write_consent_xlsx(tmp_path / "r.xlsx", rows=cs.REGISTER)
    # the first register made its ICSs the study's; a third ICS must be declared as new
    refused = run("consent", "import", xlsx, "--coder", "bob", "--db", path)
    assert refused.exit_code == 1 and "unknown ICS" in refused.output and "--new-ics" in refused.output
    result = run("consent", "import", xlsx, "--coder", "bob", "--new-ics", "--db", path)
    assert result.exit_code == 0 and "6 participants: 3 added, 0 changed." in result.output, result.output
    audit = query(path, "SELECT actor, action, target, detail FROM audit_log WHERE action NOT LIKE 'study.%'")
    assert {a[0] for a in audit} == {"alice", "bob"}
    assert {a[1] for a in audit} <= {"consent.add", "consent.change", "participant.change"}
    text = json.dumps(audit)
    assert [w for w in cs.forbidden_found(text) if w in cs.NAME_WORDS] == []
    assert query(path, "SELECT pseudonym FROM pseudonyms WHERE participant_id = 'S04'") == [("[S04]",)]


def test_reimporting_an_old_register_never_undoes_a_withdrawal(work, tmp_path):
    assert run("consent", "withdraw", "S01", "--date", "2024-06-01", "--db", work).exit_code == 0
    old = filemakers.write_consent_csv(tmp_path / "old.csv", rows=cs.REGISTER)
    result = run("consent", "import", old, "--db", work)
    assert result.exit_code == 0
    assert "S01 has withdrawn; the withdrawal is kept" in result.output
    assert query(work, "SELECT withdrawn_date FROM consents WHERE participant_id = 'S01'") == [("2024-06-01",)]
    assert not query(work, "SELECT 1 FROM evidence WHERE participant_id = 'S01'")


def test_a_name_change_is_audited_without_the_name(work, tmp_path):
    rows = [list(r) for r in cs.REGISTER]
    rows[0][1] = "Siobhán Price"
    rows[0][5] = "Director of Place and Partnerships"
    path = filemakers.write_consent_csv(tmp_path / "new.csv", rows=rows)
    assert run("consent", "import", path, "--db", work).exit_code == 0
    (detail,) = query(work, "SELECT detail FROM audit_log WHERE action = 'participant.change'")[0]
    record = json.loads(detail)
    assert record["fields"] == ["name", "role"] and "name" not in {k for k in record if k != "fields"}
    assert "Siob" not in detail and "Price" not in detail


def _write(path: Path, data: "str | bytes") -> Path:
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


HEADER = "participant_id,name,ics,organisation,org_type,role,consent_date,consent_interview,consent_recording,consent_quotes,withdrawn_date\n"


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("empty.csv", "", "file is empty"),
        ("header.csv", HEADER, "no participants found"),
        ("missing.csv", "participant_id,ics,consent_date\nS01,Ashmoor,2024-01-01\n", "missing required column(s): organisation"),
        ("flag.csv", HEADER + "S01,A B,Ashmoor,Org,ICB,Role,2024-01-01,perhaps,yes,yes,\n", "consent_interview must be yes or no"),
        ("date.csv", HEADER + "S01,A B,Ashmoor,Org,ICB,Role,2024-13-45,yes,yes,yes,\n", "consent_date is not a date"),
        ("nodate.csv", HEADER + "S01,A B,Ashmoor,Org,ICB,Role,,yes,yes,yes,\n", "consent_date is empty"),
        ("twice.csv", HEADER + "S01,A B,Ashmoor,Org,ICB,Role,2024-01-01,yes,yes,yes,\n" * 2, "appears twice"),
        ("noid.csv", HEADER + ",A B,Ashmoor,Org,ICB,Role,2024-01-01,yes,yes,yes,\n", "participant_id is empty"),
        ("corrupt.xlsx", b"PK\x03\x04 this is not really a workbook", "not a valid .xlsx file"),
        ("register.pdf", "%PDF-1.4", "unsupported format .pdf"),
    ],
)
def test_import_bad_input(work, tmp_path, dump_db, name, data, message):
    path = _write(tmp_path / name, data)
    before = dump_db(work)
    result = run("consent", "import", path, "--db", work)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {path}") and message in lines[0], result.output
    assert dump_db(work) == before


def test_import_of_a_missing_file(work, tmp_path):
    result = run("consent", "import", tmp_path / "nope.csv", "--db", work)
    assert result.exit_code != 0 and "nope.csv" in result.output
