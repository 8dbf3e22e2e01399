"""Review commands: queue filters, show in context (pseudonymised, highlighted), accept,
reject, add, remove, memo and the interactive loop; every decision recorded with the
coder and time; errors one line, exit 1, database unchanged."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from casestudy.coding import codebook
from casestudy.coding import review as review_lib
from casestudy.coding import engine as coding
from casestudy.ingest import files as ingest
from casestudy import db as dblib
from casestudy.cli.main import cli

REPO = Path(__file__).resolve().parents[1]
REGISTER_NAMES = ["Helen Marsh", "Daniel Okoro", "Amina Shah", "Tom Reed", "Grace Lin", "Helen", "Amina"]


@pytest.fixture
def coded_db(tmp_path, study) -> Path:
    path = tmp_path / "work.db"
    db = dblib.open_db(path)
    ingest.ingest(db, [study], actor="test", skip_bad=True)
    coding.code_database(db, codebook.load(REPO / "codebook"))
    db.close()
    return path


def run(*args, input=None, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, env=env or {"CASESTUDY_CODER": "ann"})


def test_queue_and_filters(coded_db):
    result = run("review", "queue", "--db", coded_db, "--limit", 0)
    assert result.exit_code == 0, result.output
    assert "suggested" in result.output and "shown" in result.output
    rq3 = run("review", "queue", "--rq", "RQ3", "--db", coded_db, "--limit", 0)
    lines = [l for l in rq3.output.splitlines() if l.startswith("#")]
    # a theme of RQ3, or RQ3 itself (judged by the learned model alone)
    assert lines and all(" RQ3." in l or " RQ3 " in l for l in lines)
    one = run("review", "queue", "--code", "RQ3.committees-in-common", "--ics", "ashmoor", "--wave", 1, "--db", coded_db)
    assert one.exit_code == 0, one.output
    one_lines = [l for l in one.output.splitlines() if l.startswith("#")]
    assert one_lines and all("RQ3.committees-in-common" in l for l in one_lines)
    assert "Ashmoor w1" in one.output
    kind = run("review", "queue", "--kind", "policy", "--db", coded_db)
    assert kind.exit_code == 0, kind.output
    kind_lines = [l for l in kind.output.splitlines() if l.startswith("#")]
    assert kind_lines and all("Policy" in l for l in kind_lines)
    limited = run("review", "queue", "--limit", 2, "--db", coded_db)
    assert len([l for l in limited.output.splitlines() if l.startswith("#")]) == 2
    none = run("review", "queue", "--status", "accepted", "--db", coded_db)
    assert "Nothing to review" in none.output
    for name in REGISTER_NAMES:
        assert name not in result.output


def _participant_excerpt(db_path) -> int:
    db = dblib.open_db(db_path)
    return db.execute(
        """SELECT e.id FROM excerpts e JOIN codings c ON c.excerpt_id = e.id
           WHERE e.participant_id = 'P01' AND e.display_text != e.text ORDER BY e.id LIMIT 1"""
    ).fetchone() or db.execute(
        "SELECT e.id FROM excerpts e JOIN codings c ON c.excerpt_id = e.id WHERE e.participant_id = 'P01' ORDER BY e.id LIMIT 1"
    ).fetchone()


def test_show_in_context_pseudonymised(coded_db):
    (excerpt_id,) = _participant_excerpt(coded_db)
    result = run("review", "show", excerpt_id, "--db", coded_db)
    assert result.exit_code == 0, result.output
    assert "Interviewer:" in result.output  # the question before the answer
    assert "P01" in result.output and "Codings:" in result.output and "auto:" in result.output
    for name in REGISTER_NAMES:
        assert name not in result.output
    styled = CliRunner().invoke(cli, ["review", "show", str(excerpt_id), "--db", str(coded_db)], color=True)
    assert "\x1b[" in styled.output  # matched terms highlighted


def test_show_says_what_carried_each_suggestion(coded_db):
    """review show names what carried each suggestion: a theme's matched terms, an RQ's own key
    terms, or the learned model's words."""
    db = dblib.open_db(coded_db)
    kinds = {
        "matched": "c.coder LIKE 'auto:%' AND c.code_id != cd.rq",
        "key terms": "c.coder LIKE 'auto:%' AND c.code_id = cd.rq",
        "model's top words": "c.coder LIKE 'learned:%'",
    }
    for label, where in kinds.items():
        row = db.execute(f"""SELECT c.excerpt_id, c.code_id, c.terms FROM codings c JOIN codes cd ON cd.id = c.code_id
                             WHERE {where} AND c.terms != '[]' ORDER BY c.id LIMIT 1""").fetchone()
        assert row, label
        result = run("review", "show", row[0], "--db", coded_db)
        line = next(l for l in result.output.splitlines() if f" {row[1]} " in l and "suggested" in l)
        assert f"  {label}: [" in line, line
    db.close()


def test_accept_reject_record_coder_and_audit(coded_db):
    db = dblib.open_db(coded_db)
    a, b, c = [r[0] for r in db.execute("SELECT id FROM codings ORDER BY id LIMIT 3")]
    assert run("review", "accept", a, b, "--db", coded_db).exit_code == 0
    result = run("review", "reject", c, "--coder", "bob", "--db", coded_db)
    assert result.exit_code == 0 and "rejected by bob" in result.output
    rows = {r["id"]: r for r in db.query("SELECT * FROM codings WHERE id IN (?, ?, ?)", [a, b, c])}
    assert rows[a]["status"] == rows[b]["status"] == "accepted" and rows[a]["reviewed_by"] == "ann" and rows[a]["reviewed_at"]
    assert rows[c]["status"] == "rejected" and rows[c]["reviewed_by"] == "bob"
    audit = list(db.query("SELECT actor, action, target FROM audit_log WHERE action LIKE 'coding.%' ORDER BY id"))
    assert audit == [
        {"actor": "ann", "action": "coding.accept", "target": str(a)},
        {"actor": "ann", "action": "coding.accept", "target": str(b)},
        {"actor": "bob", "action": "coding.reject", "target": str(c)},
    ]
    # the evidence view drops the rejected one
    assert db.execute("SELECT count(*) FROM evidence WHERE coding_id = ?", [c]).fetchone()[0] == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["accept", "1", "999999"], "no coding with id 999999"),
        (["reject", "999999"], "no coding with id 999999"),
        (["add", "{excerpt}", "RQ9.nothing"], "no code 'RQ9.nothing'"),
        (["add", "{excerpt}", "RQ4"], "is a research question, not a theme"),
        (["add", "999999", "RQ4.sub-contracting"], "no excerpt with id 999999"),
        (["add", "{interviewer}", "RQ4.sub-contracting"], "interviewer turn"),
        (["remove", "1"], "reject it instead"),
        (["remove", "999999"], "no coding with id 999999"),
        (["memo", "text"], "say what the memo is about"),
        (["memo", "text", "--code", "RQ0.x"], "no code 'RQ0.x'"),
        (["show", "{interviewer}"], "interviewer turn"),
    ],
)
def test_errors_one_line_db_unchanged(coded_db, dump_db, args, message):
    db = dblib.open_db(coded_db)
    excerpt = db.execute("SELECT id FROM excerpts WHERE is_interviewer = 0 AND participant_id IS NOT NULL LIMIT 1").fetchone()[0]
    interviewer = db.execute("SELECT id FROM excerpts WHERE is_interviewer = 1 LIMIT 1").fetchone()[0]
    db.close()
    args = [a.format(excerpt=excerpt, interviewer=interviewer) for a in args]
    before = dump_db(coded_db)
    result = run("review", *args, "--db", coded_db)
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1, result.output
    assert message in result.output
    assert dump_db(coded_db) == before


def test_add_remove_and_memo(coded_db):
    db = dblib.open_db(coded_db)
    excerpt = db.execute(
        """SELECT id FROM excerpts WHERE is_interviewer = 0 AND id NOT IN
           (SELECT excerpt_id FROM codings WHERE code_id = 'RQ2.vcse') LIMIT 1"""
    ).fetchone()[0]
    added = run("review", "add", excerpt, "RQ2.vcse", "--db", coded_db)
    assert added.exit_code == 0 and "added by ann" in added.output
    row = db.execute("SELECT * FROM codings WHERE excerpt_id = ? AND code_id = 'RQ2.vcse'", [excerpt]).fetchone()
    coding_id = row[0]
    got = db["codings"].get(coding_id)
    assert got["coder"] == "ann" and got["status"] == "accepted" and got["reviewed_by"] == "ann"
    again = run("review", "add", excerpt, "RQ2.vcse", "--db", coded_db)
    assert again.exit_code == 1 and "already coded" in again.output
    # adding a code that is waiting as a suggestion accepts the suggestion instead
    waiting = db.execute("SELECT id, excerpt_id, code_id FROM codings WHERE status = 'suggested' LIMIT 1").fetchone()
    acc = run("review", "add", waiting[1], waiting[2], "--db", coded_db)
    assert "accepted the waiting suggestion" in acc.output and db["codings"].get(waiting[0])["status"] == "accepted"
    removed = run("review", "remove", coding_id, "--db", coded_db)
    assert removed.exit_code == 0
    assert db.execute("SELECT count(*) FROM codings WHERE id = ?", [coding_id]).fetchone()[0] == 0
    memo = run("review", "memo", "Ask about the hospice contract", "--excerpt", excerpt, "--code", "RQ2.vcse", "--db", coded_db)
    assert memo.exit_code == 0
    m = list(db.query("SELECT * FROM memos"))[-1]
    assert m["author"] == "ann" and m["excerpt_id"] == excerpt and m["code_id"] == "RQ2.vcse" and m["source_id"]
    assert "Ask about the hospice contract" in run("review", "show", excerpt, "--db", coded_db).output
    actions = [r[0] for r in db.execute("SELECT action FROM audit_log WHERE actor = 'ann' ORDER BY id")]
    assert actions == ["coding.add", "coding.accept", "coding.remove", "memo.add"]


def test_next_loop(coded_db):
    db = dblib.open_db(coded_db)
    first_three = [r[0] for r in db.execute(
        """SELECT c.id FROM codings c JOIN excerpts e ON e.id = c.excerpt_id JOIN codes cd ON cd.id = c.code_id
           WHERE cd.rq = 'RQ4' ORDER BY e.source_id, e.seq, cd.sort, c.id LIMIT 3""")]
    result = run("review", "next", "--rq", "RQ4", "--db", coded_db, input="a\ns\nr\nq\n")
    assert result.exit_code == 0, result.output
    assert "2 decision(s) recorded by ann" in result.output
    statuses = [db["codings"].get(i)["status"] for i in first_three]
    assert statuses == ["accepted", "suggested", "rejected"]
    for name in REGISTER_NAMES:
        assert name not in result.output


def test_coder_name_required(coded_db, dump_db):
    result = CliRunner().invoke(cli, ["review", "accept", "1", "--coder", " ", "--db", str(coded_db)])
    assert result.exit_code == 1 and "--coder NAME" in result.output
    auto = CliRunner().invoke(cli, ["review", "accept", "1", "--coder", "auto:x", "--db", str(coded_db)])
    assert auto.exit_code == 1 and "auto:" in auto.output
    # in any case: SQL reads 'AUTO:x' as a machine coder (LIKE ignores case), so a person cannot be one
    before = dump_db(coded_db)
    for name in ("AUTO:x", "Learned:Jo"):
        result = CliRunner().invoke(cli, ["review", "add", "1", "RQ4.sub-contracting", "--coder", name, "--db", str(coded_db)])
        assert result.exit_code == 1 and result.output.startswith("Error: ") and result.output.count("\n") == 1, result.output
        assert "cannot start with" in result.output
    assert dump_db(coded_db) == before
    assert dblib.is_machine_coder("AUTO:1a2b") and dblib.is_machine_coder("learned:abc") and not dblib.is_machine_coder("Autumn Lee")
    conn = sqlite3.connect(":memory:")
    for name in ("AUTO:1a2b", "Learned:x", "auto:x", "Autumn Lee", "A. Researcher"):
        in_sql = conn.execute(f"SELECT {dblib.machine_coder('?')}".replace("?", "'" + name + "'")).fetchone()[0]
        assert bool(in_sql) == dblib.is_machine_coder(name), name


def test_name_beside_rq_says_the_question_once():
    assert review_lib.name_beside_rq("RQ5 Coordination with ICB plans", "RQ5") == "Coordination with ICB plans"
    assert review_lib.name_beside_rq("Joint forward plan", "RQ5") == "Joint forward plan"
    assert review_lib.name_beside_rq("RQ5", "RQ5") == "RQ5"
    assert review_lib.name_beside_rq("RQ50 things", "RQ5") == "RQ50 things"
