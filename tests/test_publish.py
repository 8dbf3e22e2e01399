"""The publish database: consent-safe, pseudonymised, and the only thing outputs read.

Every test scans *every* table of the publish file (FTS shadow tables included), the
full-text index vocabularies and the raw file bytes for the canary sentences and every
register/staff name (tests/consent_study.py).
"""

from __future__ import annotations

import json
import sqlite3
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

import consent_study as cs
from filemakers import rows
from casestudy.consent import register as consent
from casestudy import db as dblib
from casestudy.consent import publish
from casestudy.cli.main import cli


@pytest.fixture
def work(tmp_path) -> Path:
    """The study ingested and coded, S03 still consented (so their canary IS in the evidence)."""
    return cs.build(tmp_path)


@pytest.fixture
def withdrawn(work) -> Path:
    """The same study after S03 withdrew."""
    db = dblib.open_db(work)
    with db.atomic():
        consent.withdraw(db, "S03", "2024-06-01", "test")
    db.close()
    return work


def test_the_scan_can_see_a_canary(work, tmp_path):
    """Sanity: before S03 withdraws their sentence is published, and the scan finds it."""
    out = tmp_path / "pub.db"
    publish.publish(work, out)
    problems = cs.scan_sqlite(out)
    assert "lighthouse" in problems["excerpts"]
    assert problems.keys() >= {"excerpts", "evidence", "excerpts_fts (index terms)", "file bytes"}


def test_publish_holds_no_canary_and_no_name(withdrawn, tmp_path):
    out = tmp_path / "pub.db"
    counts = publish.publish(withdrawn, out)
    assert cs.scan_sqlite(out) == {}
    assert counts["evidence"] > 0 and counts["participants"] == 2  # S01, S02 (S04 refused quotation: not listed)
    assert {r["id"] for r in rows(out, "SELECT id FROM participants")} == {"S01", "S02"}
    # no trace of the withdrawn or unconsented participants' IDs either
    raw = out.read_bytes()
    for pid in (b"S03", b"S05", b"S06"):
        assert pid not in raw


def test_contract_tables_and_columns(withdrawn, tmp_path):
    out = tmp_path / "pub.db"
    publish.publish(withdrawn, out)
    conn = sqlite3.connect(out)
    columns = {t: [r[1] for r in conn.execute(f"PRAGMA table_info([{t}])")] for t in
               ("evidence", "excerpts", "sources", "codes", "participants", "framework", "consent_summary", "memos", "publish_info")}
    fts = {r[0]: r[1] for r in conn.execute("SELECT name, sql FROM sqlite_master WHERE sql LIKE '%USING FTS5%'")}
    conn.close()
    assert set(columns["evidence"]) >= {
        "coding_id", "excerpt_id", "text", "rq", "code", "code_id", "status", "coder", "terms", "score", "source_id",
        "source_kind", "source_title", "ics", "collaborative", "wave", "date", "page", "heading", "turn", "speaker_role",
        "participant_id", "participant_role", "org_type", "quotable", "offsets", "colour"}
    assert set(columns["excerpts"]) >= {"id", "source_id", "seq", "text", "speaker_role", "participant_id", "turn", "page",
                                        "heading", "start_time", "char_start", "char_end", "quotable"}
    assert set(columns["sources"]) >= {"id", "kind", "format", "title", "ics", "collaborative", "wave", "date", "pages",
                                       "words", "participant_id", "excerpts"}
    assert "path" not in columns["sources"] and "sha256" not in columns["sources"]
    assert set(columns["participants"]) == {"id", "role", "org_type", "ics", "waves", "excerpts"}
    assert set(columns["framework"]) >= {"rq", "code_id", "code", "ics", "wave", "excerpts", "participants", "sources"}
    assert set(columns["consent_summary"]) == {"ics", "participants", "interview_consent", "quotation_refused", "withdrawn"}
    assert "evidence_fts" in fts and all(c in fts["evidence_fts"] for c in ("text", "code", "source_title"))
    assert "excerpts_fts" in fts
    info = dict((r["key"], r["value"]) for r in rows(out, "SELECT key, value FROM publish_info"))
    assert info.keys() >= {"built_at", "schema_version", "codebook_versions", "fingerprint", "counts"}
    assert json.loads(info["counts"])["evidence"] > 0
    # full-text search works on the pseudonymised text
    hits = rows(out, "SELECT e.text FROM evidence_fts f JOIN evidence e ON e.coding_id = f.rowid WHERE evidence_fts MATCH 'committees'")
    assert any("[the council leader]" in h["text"] for h in hits)
    assert rows(out, "SELECT count(*) AS n FROM evidence_fts WHERE evidence_fts MATCH 'hamish OR drummond OR petrakis'")[0]["n"] == 0


def test_refused_quotation_is_counted_but_never_quoted(withdrawn, tmp_path):
    out = tmp_path / "pub.db"
    publish.publish(withdrawn, out)
    # counted, but nothing says whose words they are (the consent page promises no consent record is published)
    assert rows(out, "SELECT count(*) AS n FROM participants WHERE id = 'S04'")[0]["n"] == 0
    assert not rows(out, "SELECT 1 FROM sources WHERE participant_id = 'S04' OR title LIKE '%S04%'")
    assert not rows(out, "SELECT 1 FROM excerpts WHERE participant_id = 'S04'")
    evidence = rows(out, f"SELECT * FROM evidence WHERE text = '{publish.WITHHELD_QUOTE}'")
    assert evidence and all(r["quotable"] == 0 and r["participant_id"] is None for r in evidence)
    assert {(r["participant_role"], r["org_type"]) for r in evidence} == {(None, None)}
    assert all(r["offsets"] == "[]" and r["terms"] == "[]" for r in evidence)
    assert {r["ics"] for r in evidence} == {"Saltmarsh Coast"} and {r["wave"] for r in evidence} == {2}
    frame = rows(out, "SELECT sum(participants) AS n FROM framework WHERE ics = 'Saltmarsh Coast' AND wave = 2")[0]
    assert frame["n"] >= 1
    # the interviewer's turns of that interview are withheld too (they may echo the words)
    context = rows(out, "SELECT x.text FROM excerpts x JOIN sources s ON s.id = x.source_id "
                        "WHERE s.title LIKE 'Interview (quotation withheld)%' AND x.speaker_role = 'interviewer'")
    assert context and all(r["text"] == publish.WITHHELD_CONTEXT for r in context)
    summary = {r["ics"]: r for r in rows(out, "SELECT * FROM consent_summary")}
    assert summary["Saltmarsh Coast"]["quotation_refused"] == 1
    assert summary["Kellbridge"]["withdrawn"] == 1 and summary["Saltmarsh Coast"]["withdrawn"] == 1


def test_evidence_excludes_interviewer_turns_and_keeps_them_as_context(withdrawn, tmp_path):
    out = tmp_path / "pub.db"
    publish.publish(withdrawn, out)
    assert rows(out, "SELECT count(*) AS n FROM evidence WHERE speaker_role = 'interviewer'")[0]["n"] == 0
    context = rows(out, "SELECT * FROM excerpts WHERE speaker_role = 'interviewer'")
    assert context and all(r["participant_id"] is None for r in context)


def test_pseudonyms_and_offsets_in_published_text(withdrawn, tmp_path):
    out = tmp_path / "pub.db"
    publish.publish(withdrawn, out)
    texts = " ".join(r["text"] for r in rows(out, "SELECT text FROM excerpts"))
    assert "[S02]" in texts and "[S04]" in texts and "[the council leader]" in texts and "[the ICB medical director]" in texts
    # withdrawn / unconsented people mentioned by others are not shown by ID
    assert "[S06]" not in texts and "[S05]" not in texts and "[S03]" not in texts
    title = rows(out, "SELECT title FROM sources WHERE kind = 'board-paper'")[0]["title"]
    assert title == "Board meeting in public chaired by [the council leader]"
    for r in rows(out, "SELECT e.text, e.offsets FROM evidence e WHERE e.code_id = 'T.RQ1' AND e.quotable = 1"):
        assert json.loads(r["offsets"]) == [[0, len(r["text"])]]
    # excerpt character offsets index the published source text
    for s in rows(out, "SELECT id, text FROM sources"):
        for x in rows(out, "SELECT text, char_start, char_end FROM excerpts WHERE source_id = ?", s["id"]):
            assert s["text"][x["char_start"] : x["char_end"]] == x["text"]


def test_memos_only_on_published_quotable_excerpts(withdrawn, tmp_path):
    out = tmp_path / "pub.db"
    publish.publish(withdrawn, out)
    memos = rows(out, "SELECT m.*, x.participant_id FROM memos m LEFT JOIN excerpts x ON x.id = m.excerpt_id")
    assert memos and {m["participant_id"] for m in memos} <= {"S01", "S02", None}


def test_withdrawal_takes_effect_in_publish_databases_already_built(work, tmp_path):
    out = tmp_path / "pub.db"
    publish.publish(work, out)
    assert "lighthouse" in cs.scan_sqlite(out).get("excerpts", [])
    result = CliRunner().invoke(cli, ["consent", "withdraw", "S03", "--date", "2024-06-01", "--db", str(work)])
    assert result.exit_code == 0, result.output
    assert f"Rebuilt {out.resolve()}" in result.output
    assert cs.scan_sqlite(out) == {}


def test_ensure_published_rebuilds_only_on_change(withdrawn, tmp_path):
    out = tmp_path / "pub.db"
    assert publish.ensure_published(withdrawn, out) is True
    first = out.stat().st_mtime_ns
    assert publish.ensure_published(withdrawn, out) is False
    assert out.stat().st_mtime_ns == first
    db = dblib.open_db(withdrawn)
    with db.atomic():  # a review decision: the count of rows does not change, the content does
        db.execute("UPDATE codings SET status = 'accepted' WHERE id = (SELECT min(id) FROM codings)")
    db.close()
    assert publish.ensure_published(withdrawn, out) is True
    assert rows(out, "SELECT count(*) AS n FROM evidence WHERE status = 'accepted'")[0]["n"] >= 1
    assert publish.ensure_published(withdrawn, out) is False
    # a rejected coding leaves the evidence
    db = dblib.open_db(withdrawn)
    with db.atomic():
        db.execute("UPDATE codings SET status = 'rejected' WHERE status = 'accepted'")
    db.close()
    assert publish.ensure_published(withdrawn, out) is True
    assert rows(out, "SELECT count(*) AS n FROM evidence WHERE status IN ('accepted', 'rejected')")[0]["n"] == 0
    assert not list(tmp_path.glob(".pub.db.*"))  # no temporary files left behind


def test_publish_cli(withdrawn, tmp_path):
    out = tmp_path / "out" / "pub.db"
    runner = CliRunner()
    result = runner.invoke(cli, ["publish", str(out), "--db", str(withdrawn)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Published {out}:")
    result = runner.invoke(cli, ["publish", str(out), "--if-changed", "--db", str(withdrawn)])
    assert result.exit_code == 0 and "up to date" in result.output
    result = runner.invoke(cli, ["publish", str(withdrawn), "--db", str(withdrawn)])
    assert result.exit_code == 1 and "different file" in result.output
    result = runner.invoke(cli, ["publish", str(out), "--db", str(tmp_path / "missing.db")])
    assert result.exit_code == 1 and "no such database" in result.output
    assert not (tmp_path / "missing.db").exists()


def test_exports_hold_no_canary_and_no_name(withdrawn, tmp_path):
    """Every export that exists reads the publish database: scan what it writes."""
    runner = CliRunner()
    outputs = []
    for kind, name in (("csv", "out.csv"), ("docx", "out.docx"), ("qdpx", "out.qdpx"), ("qdc", "out.qdc")):
        target = tmp_path / name
        result = runner.invoke(cli, ["export", kind, str(target), "--db", str(withdrawn)])
        assert result.exit_code == 0, (kind, result.output)
        assert target.stat().st_size > 0, kind
        outputs.append(target)
    for target in outputs:
        data = target.read_bytes()
        if zipfile.is_zipfile(target):
            with zipfile.ZipFile(target) as archive:
                text = " ".join(archive.read(n).decode("utf-8", "ignore") for n in archive.namelist())
        else:
            text = data.decode("utf-8", "ignore")
        assert cs.forbidden_found(text) == [], target.name


def test_sample_corpus_publish_is_clean(export_pipeline_dbs):
    """The shipped sample study end to end: P09 withdrew, P12 refused quotation."""
    from export_pipeline import P09_CANARY, P12_CANARY, REGISTER_NAMES

    working, out = export_pipeline_dbs
    conn = sqlite3.connect(out)
    cells = []
    for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
        for row in conn.execute(f"SELECT * FROM [{table}]"):
            cells.extend(c.decode("utf-8", "ignore") if isinstance(c, bytes) else str(c) for c in row)
    participants = {r[0] for r in conn.execute("SELECT id FROM participants")}
    p12 = conn.execute(f"SELECT count(*), sum(quotable) FROM evidence WHERE text = '{publish.WITHHELD_QUOTE}'").fetchone()
    assert conn.execute("SELECT count(*) FROM evidence WHERE participant_id = 'P12'").fetchone()[0] == 0
    conn.close()
    blob = cs.fold("\n".join(cells))
    raw = out.read_bytes()
    for needle in [P09_CANARY, P12_CANARY, *REGISTER_NAMES]:
        assert cs.fold(needle) not in blob, needle
        assert needle.encode() not in raw, needle
    assert "knock on doors" not in blob and "orange folder" not in blob
    assert "P09" not in participants and "P15" not in participants and "P12" not in participants  # P12: withheld
    assert p12[0] > 0 and p12[1] == 0
