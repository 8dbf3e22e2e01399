"""Every human decision recorded with the person who made it (decisions table), coding spans,
undo, blind samples, and agreement figures computed from those decisions: Cohen's kappa and
Krippendorff's alpha checked against independent computations (scikit-learn, and alpha
by its coincidence-matrix definition written out here)."""

from __future__ import annotations

import itertools
import json
import math
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from casestudy import db as dblib
from casestudy.cli.main import cli
from casestudy.coding import agreement, codebook, review, samples
from casestudy.coding import engine as coding
from casestudy.errors import CasestudyError
from casestudy.ingest import files as ingest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def coded(tmp_path, workspace_template):
    path = tmp_path / "work.db"
    shutil.copy(workspace_template, path)
    return dblib.open_db(path), path


def _suggestions(db, n):
    return [r["coding_id"] for r in review.queue(db, limit=n)]


def test_accepting_records_who_accepted_and_the_evidence_view_shows_it(coded):
    db, _ = coded
    first, second = _suggestions(db, 2)
    review.decide(db, [first], "accepted", "ann")
    review.decide(db, [second], "rejected", "ann")
    review.decide(db, [first], "accepted", "bob")  # a second person's decision is kept too
    rows = list(db.query("SELECT coding_id, decider, action, applied FROM decisions ORDER BY id"))
    assert [(r["coding_id"], r["decider"], r["action"], r["applied"]) for r in rows] == [
        (first, "ann", "accept", 1), (second, "ann", "reject", 0), (first, "bob", "accept", 1)]
    ev = db.execute("SELECT coder, decided_by FROM evidence WHERE coding_id = ?", [first]).fetchone()
    assert ev[0].startswith("auto:") and ev[1] == "bob"
    pending = db.execute("SELECT decided_by FROM evidence WHERE status = 'suggested' LIMIT 1").fetchone()
    assert pending == (None,)


def test_raw_span_of_a_selection_in_the_pseudonymised_text():
    text = "We asked Helen Marsh and the committee about the lead provider contract."
    display = "We asked [P01] and the committee about the lead provider contract."
    # after the pseudonym: the same words
    start = display.index("lead provider")
    s, e = review.raw_span(text, display, start, start + len("lead provider"))
    assert text[s:e] == "lead provider"
    # an edge inside a pseudonym covers the whole name it replaces
    s, e = review.raw_span(text, display, display.index("[P01]") + 2, display.index(" the committee"))
    assert text[s:e] == "Helen Marsh and"
    s, e = review.raw_span(text, display, display.index("asked"), display.index("[P01]") + 3)
    assert text[s:e] == "asked Helen Marsh"
    with pytest.raises(CasestudyError, match="not inside"):
        review.raw_span(text, display, 5, 500)


def test_coding_a_span(coded):
    db, _ = coded
    excerpt_id, text = db.execute(
        "SELECT id, text FROM excerpts WHERE participant_id = 'P01' AND is_interviewer = 0 AND length(text) > 80 LIMIT 1"
    ).fetchone()
    s2, e2 = 10, 60
    coding_id, what = review.add(db, excerpt_id, "RQ3.committees-in-common", "ann", span=(s2, e2))
    assert what in ("added", "accepted the waiting suggestion")
    ev = db.execute("SELECT span_start, span_end, decided_by FROM evidence WHERE coding_id = ?", [coding_id]).fetchone()
    assert ev == (s2, e2, "ann")
    decision = db.execute("SELECT decider, applied FROM decisions ORDER BY id DESC LIMIT 1").fetchone()
    assert decision == ("ann", 1)
    with pytest.raises(CasestudyError, match="not inside"):
        review.add(db, excerpt_id, "RQ3.committees-in-common", "ann", span=(0, len(text) + 5))
    # the whole excerpt as a span is a whole-excerpt coding
    whole, _ = review.add(db, excerpt_id, "RQ4.risk-gain-share", "ann", span=(0, len(text)))
    assert db.execute("SELECT span_start FROM codings WHERE id = ?", [whole]).fetchone() == (None,)
    # coding another span with the same code moves the coding there; undo moves it back
    moved, what = review.add(db, excerpt_id, "RQ4.risk-gain-share", "ann", span=(5, 20))
    assert moved == whole and db.execute("SELECT span_start, span_end FROM codings WHERE id = ?", [whole]).fetchone() == (5, 20)
    review.undo(db, "ann")
    assert db.execute("SELECT span_start, span_end FROM codings WHERE id = ?", [whole]).fetchone() == (None, None)


def test_undo_returns_each_kind_of_decision(coded, dump_db):
    db, path = coded
    before = db.execute("SELECT id, status, reviewed_by, span_start FROM codings ORDER BY id").fetchall()
    first, second = _suggestions(db, 2)
    excerpt = db.execute("SELECT excerpt_id FROM codings WHERE id = ?", [first]).fetchone()[0]
    review.decide(db, [first], "accepted", "ann")
    review.decide(db, [second], "rejected", "ann")
    added, _ = review.add(db, excerpt, "RQ6.quality-of-care", "ann")
    review.remove(db, added, "ann")
    review.undo(db, "ann")  # the removal: the coding is back
    assert db.execute("SELECT status, coder FROM codings WHERE id = ?", [added]).fetchone() == ("accepted", "ann")
    review.undo(db, "ann")  # the addition: gone
    assert db.execute("SELECT count(*) FROM codings WHERE id = ?", [added]).fetchone() == (0,)
    review.undo(db, "ann")
    review.undo(db, "ann")
    after = db.execute("SELECT id, status, reviewed_by, span_start FROM codings ORDER BY id").fetchall()
    assert after == before
    with pytest.raises(CasestudyError, match="no decision to undo"):
        review.undo(db, "ann")
    undos = db.execute("SELECT count(*) FROM audit_log WHERE action = 'coding.undo' AND actor = 'ann'").fetchone()[0]
    assert undos == 4
    # nothing left that agreement would count
    assert db.execute("SELECT count(*) FROM decisions WHERE undone_at IS NULL").fetchone() == (0,)


def test_undo_refuses_when_someone_else_decided_since(coded):
    db, _ = coded
    (first,) = _suggestions(db, 1)
    review.decide(db, [first], "accepted", "ann")
    review.decide(db, [first], "rejected", "bob")
    with pytest.raises(CasestudyError, match="bob has decided"):
        review.undo(db, "ann")
    assert db.execute("SELECT status, reviewed_by FROM codings WHERE id = ?", [first]).fetchone() == ("rejected", "bob")


def test_automatic_names_are_not_people(coded):
    db, _ = coded
    (first,) = _suggestions(db, 1)
    for name in ("auto:x", "learned:v1", ""):
        with pytest.raises(CasestudyError):
            review.decide(db, [first], "accepted", name)


def test_cli_review_undo(coded):
    db, path = coded
    (first,) = _suggestions(db, 1)
    runner = CliRunner()
    ok = runner.invoke(cli, ["review", "accept", str(first), "--db", str(path), "--coder", "ann"])
    assert ok.exit_code == 0, ok.output
    undone = runner.invoke(cli, ["review", "undo", "--db", str(path), "--coder", "ann"])
    assert undone.exit_code == 0, undone.output
    assert "Undid" in undone.output and "accept" in undone.output
    assert db.execute("SELECT status FROM codings WHERE id = ?", [first]).fetchone() == ("suggested",)
    nothing = runner.invoke(cli, ["review", "undo", "--db", str(path), "--coder", "ann"])
    assert nothing.exit_code == 1 and nothing.output.strip() == "Error: ann has no decision to undo"


# --- agreement ------------------------------------------------------------------------


def alpha_by_definition(matrix):
    """Krippendorff's alpha, nominal, from the coincidence matrix (Krippendorff 2011, section C)."""
    units = list(zip(*matrix))
    coincidence = {}
    for unit in units:
        values = [v for v in unit if v is not None]
        m = len(values)
        if m < 2:
            continue
        for i, j in itertools.permutations(range(m), 2):
            key = (values[i], values[j])
            coincidence[key] = coincidence.get(key, 0) + 1 / (m - 1)
    n_c = {}
    for (c, _), w in coincidence.items():
        n_c[c] = n_c.get(c, 0) + w
    n = sum(n_c.values())
    observed = sum(w for (c, k), w in coincidence.items() if c != k)
    expected = sum(n_c[c] * n_c[k] for c in n_c for k in n_c if c != k) / (n - 1)
    return 1 - observed / expected


def test_statistics_against_independent_computations():
    from sklearn.metrics import cohen_kappa_score

    a = [1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 0, 0]
    b = [1, 0, 0, 1, 0, 1, 1, 0, 1, 0, 0, 0]
    assert agreement.cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b))
    assert agreement.cohen_kappa([1, 1], [1, 1]) is None
    c = [1, None, 1, 0, 0, 0, 1, 0, 1, 1, None, 0]
    matrix = [[float(v) for v in a], [float(v) for v in b], [math.nan if v is None else float(v) for v in c]]
    assert agreement.krippendorff_alpha(matrix) == pytest.approx(alpha_by_definition([a, b, c]))
    assert agreement.krippendorff_alpha([[1.0, 1.0], [1.0, 1.0]]) is None


def test_undefined_alpha_is_none_and_silent():
    """Every unit two coders rated given one value (0/0), or no unit rated by two: None, with no
    numpy warning on stderr (the Word report's export printed one) and no exception."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert agreement.krippendorff_alpha([[1.0, 1.0, math.nan], [1.0, 1.0, 0.0]]) is None
        assert agreement.krippendorff_alpha([[1.0, math.nan], [math.nan, 0.0]]) is None


def test_blind_sample_agreement_from_decisions(coded):
    db, _ = coded
    sample = samples.assign(db, ["ann", "bob"], 6, "lead", seed=3, kind="transcript")
    assert len(sample) == 6
    assert samples.blind_excerpts(db, "ann") == set(sample)
    themes = ["RQ3.committees-in-common", "RQ4.risk-gain-share", "RQ6.quality-of-care"]
    ann = {sample[0]: {themes[0]}, sample[1]: {themes[0], themes[1]}, sample[2]: set(), sample[3]: {themes[2]},
           sample[4]: {themes[1]}, sample[5]: set()}
    bob = {sample[0]: {themes[0]}, sample[1]: {themes[1]}, sample[2]: {themes[2]}, sample[3]: {themes[2]},
           sample[4]: set(), sample[5]: set()}
    for coder, plan in (("ann", ann), ("bob", bob)):
        for excerpt_id, codes in plan.items():
            for code in codes:
                review.add(db, excerpt_id, code, coder, blind=True)
            samples.finish(db, excerpt_id, coder)
    # a blind addition never accepts the waiting suggestion: the suggestions are untouched
    assert db.execute("SELECT count(*) FROM codings WHERE coder LIKE 'auto:%' AND status != 'suggested'").fetchone() == (0,)
    result = agreement.from_working_db(db)
    assert result.coders == ["ann", "bob"]
    rq3 = next(r for r in result.rows if r.scope == "theme" and r.code_id == themes[0])
    xa = [int(themes[0] in ann[e]) for e in sample]
    xb = [int(themes[0] in bob[e]) for e in sample]
    from sklearn.metrics import cohen_kappa_score

    assert rq3.units == 6 and rq3.pairs[0].units == 6
    assert rq3.pairs[0].kappa == pytest.approx(cohen_kappa_score(xa, xb))
    assert rq3.alpha == pytest.approx(alpha_by_definition([xa, xb]))
    assert rq3.agreement == pytest.approx(sum(x == y for x, y in zip(xa, xb)) / 6)
    # per RQ: every theme of the RQ on every shared excerpt
    rq4_themes = [r[0] for r in db.execute("SELECT id FROM codes WHERE rq = 'RQ4' AND codable = 1 ORDER BY sort, id")]
    ya = [int(t in ann[e]) for e in sample for t in rq4_themes]
    yb = [int(t in bob[e]) for e in sample for t in rq4_themes]
    rq4 = next(r for r in result.rows if r.scope == "rq" and r.rq == "RQ4")
    assert rq4.pairs[0].kappa == pytest.approx(cohen_kappa_score(ya, yb))
    assert rq4.alpha == pytest.approx(alpha_by_definition([ya, yb]))
    # the disagreements, unit by unit
    expected = {(e, t) for e in sample for t in themes if (t in ann[e]) != (t in bob[e])}
    assert {(d.excerpt_id, d.code_id) for d in result.disagreements} == expected
    # the codebook's suggestions compared with each person, beside the table
    assert any(p.b.startswith("auto:") for r in result.rows for p in r.machine_pairs)


def test_suggestions_a_person_has_not_decided_are_missing_not_no(coded):
    db, _ = coded
    row = db.execute(
        """SELECT excerpt_id FROM codings WHERE coder LIKE 'auto:%' GROUP BY excerpt_id HAVING count(*) >= 2 LIMIT 1"""
    ).fetchone()
    excerpt_id = row[0]
    first, second = [r[0] for r in db.execute("SELECT id FROM codings WHERE excerpt_id = ? ORDER BY id", [excerpt_id])][:2]
    code2 = db.execute("SELECT code_id FROM codings WHERE id = ?", [second]).fetchone()[0]
    review.decide(db, [first], "accepted", "ann")
    ratings = agreement.ratings_from_rows(db.execute("SELECT * FROM agreement_ratings").fetchall())
    code1 = db.execute("SELECT code_id FROM codings WHERE id = ?", [first]).fetchone()[0]
    assert ratings.value("ann", excerpt_id, code1) == 1
    assert ratings.value("ann", excerpt_id, code2) is None  # shown, not decided
    assert ratings.value("ann", excerpt_id, "RQ1.no-such-theme") == 0
    review.decide(db, [second], "rejected", "ann")
    ratings = agreement.ratings_from_rows(db.execute("SELECT * FROM agreement_ratings").fetchall())
    assert ratings.value("ann", excerpt_id, code2) == 0


def test_migration_backfills_decisions_from_reviewed_codings(coded):
    """An older database (before migration 7) keeps its reviewers' decisions as agreement input."""
    db, path = coded
    first, second = _suggestions(db, 2)
    review.decide(db, [first], "accepted", "ann")
    review.decide(db, [second], "rejected", "bob")
    excerpt = db.execute("SELECT excerpt_id FROM codings WHERE id = ?", [first]).fetchone()[0]
    added, _ = review.add(db, excerpt, "RQ6.quality-of-care", "cat")
    expected = db.execute("SELECT coding_id, decider, action, applied FROM decisions ORDER BY coding_id").fetchall()
    # back to schema 6: no decisions table, no spans
    db.execute("DROP VIEW agreement_ratings")
    db.execute("DROP TABLE decisions")
    db.execute("DROP TABLE assignments")
    db.execute("DROP VIEW evidence")
    db.execute("ALTER TABLE codings DROP COLUMN span_start")
    db.execute("ALTER TABLE codings DROP COLUMN span_end")
    db.create_view("evidence", dblib.EVIDENCE_VIEW_V5)
    db.execute("DELETE FROM schema_migrations WHERE id = 7")
    db.conn.commit()
    db.close()
    db = dblib.open_db(path)
    got = db.execute("SELECT coding_id, decider, action, applied FROM decisions ORDER BY coding_id").fetchall()
    assert sorted(got) == sorted(expected)
