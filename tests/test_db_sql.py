"""The SQL fragments of casestudy.db (which coder is casestudy, the consent joins) against the
views the migrations recorded, and against the Python rules they stand for."""

from __future__ import annotations

import re

import pytest

from casestudy import db as dblib


def _view_sql(db, name: str) -> str:
    return db.execute("SELECT sql FROM sqlite_master WHERE type = 'view' AND name = ?", [name]).fetchone()[0]


def _lines(sql: str) -> set[str]:
    return {" ".join(line.split()) for line in sql.strip().splitlines() if line.strip()}


def test_the_recorded_views_use_the_same_machine_coder_test(tmp_path):
    """The views hold the test written out (a migration stays as it was recorded); if the
    prefixes change, the views need a new migration, and this fails to say so."""
    db = dblib.open_db(tmp_path / "w.db")
    evidence = _view_sql(db, "evidence")
    human = " AND ".join(f"c.coder NOT LIKE '{p}%'" for p in dblib.MACHINE_CODER_PREFIXES)
    assert f"CASE WHEN {human} THEN c.coder END" in evidence
    assert f"WHERE {dblib.machine_coder()} AND c.excerpt_id IN" in _view_sql(db, "agreement_ratings")
    outcomes = _view_sql(db, "suggestion_outcomes")
    assert outcomes.count(dblib.machine_coder()) == 5 and "LIKE" not in outcomes.replace(dblib.machine_coder(), "")


def test_the_evidence_view_joins_what_coding_join_and_place_join_join(tmp_path):
    db = dblib.open_db(tmp_path / "w.db")
    evidence = _view_sql(db, "evidence")
    recorded = evidence[evidence.index("FROM codings c"):evidence.index("WHERE c.status")]
    assert _lines(recorded) == _lines("FROM " + dblib.CODING_JOIN + "\n" + dblib.PLACE_JOIN)
    assert dblib.CONSENTED_EXCERPT.strip() in evidence


@pytest.mark.parametrize("coder", ["auto:2026.1", "learned:ab12", "alice", "Dr Auto", "autopilot", "learned", "bob:auto:"])
def test_machine_coder_sql_agrees_with_is_machine_coder(tmp_path, coder):
    db = dblib.open_db(tmp_path / "w.db")
    machine, human = db.execute(
        f"SELECT {dblib.machine_coder('x.coder')}, {dblib.human_coder('x.coder')} FROM (SELECT ? AS coder) x", [coder]
    ).fetchone()
    assert bool(machine) is dblib.is_machine_coder(coder)
    assert bool(human) is not dblib.is_machine_coder(coder)


def test_the_joins_read_only_what_a_query_names(tmp_path):
    """PLACE_JOIN's tables are left out of a query that does not read them (joined on keys)."""
    db = dblib.open_db(tmp_path / "w.db")
    plan = " ".join(
        row[3] for row in db.execute(
            f"EXPLAIN QUERY PLAN SELECT count(*) FROM {dblib.CODING_JOIN} {dblib.PLACE_JOIN} WHERE {dblib.CONSENTED_EXCERPT}"
        )
    )
    assert not re.search(r"\b(ics|collaboratives|participants)\b", plan), plan


def test_one_rule_for_consent_to_interview(tmp_path):
    """The excerpt rule (frozen in the evidence view) and the source and participant rules say
    the same thing about a participant's consent."""
    assert dblib.interview_consented("cs") in dblib.CONSENTED_EXCERPT
    assert dblib.interview_consented("scs") in dblib.VISIBLE_SOURCE
    db = dblib.open_db(tmp_path / "w.db")
    for pid, interview, withdrawn in (("P1", 1, None), ("P2", 1, "2025-01-01"), ("P3", 0, None)):
        db.execute("INSERT INTO participants (id) VALUES (?)", [pid])
        db.execute("INSERT INTO consents (participant_id, interview, withdrawn_date) VALUES (?, ?, ?)",
                   [pid, interview, withdrawn])
    for n, (kind, pid) in enumerate((("transcript", "P1"), ("transcript", "P2"), ("transcript", "P3"),
                                     ("transcript", None), ("board-paper", None)), start=1):
        db.execute("INSERT INTO sources (id, path, sha256, kind, participant_id) VALUES (?, ?, ?, ?, ?)",
                   [n, f"f{n}", f"h{n}", kind, pid])
    visible = [r[0] for r in db.execute(f"SELECT s.id FROM {dblib.SOURCE_JOIN} WHERE {dblib.VISIBLE_SOURCE} ORDER BY s.id")]
    assert visible == [1, 5]
    allowed = [r[0] for r in db.execute(
        f"SELECT p.id FROM participants p JOIN consents cs ON cs.participant_id = p.id WHERE {dblib.interview_consented()}")]
    assert allowed == ["P1"]
