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
