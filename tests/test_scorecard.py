"""`casestudy review scorecard` and casestudy.coding.scorecard: the research-question measure
of the benchmark, on the study's own excerpts as the team reviewed them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlite_utils
from click.testing import CliRunner

from casestudy import db as dblib
from casestudy.cli.main import cli
from casestudy.coding import codebook, review, scorecard


@pytest.fixture
def coded(coded_study_db, tmp_path) -> Path:
    path = tmp_path / "work.db"
    shutil.copy(coded_study_db, path)
    return path


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], env={"CASESTUDY_CODER": "ann"})


def suggestions(db, excerpt_id: int) -> list[tuple[int, str, str]]:
    return [tuple(r) for r in db.execute("""SELECT c.id, c.code_id, cd.rq FROM codings c JOIN codes cd ON cd.id = c.code_id
                                            WHERE c.excerpt_id = ? AND c.status = 'suggested' ORDER BY c.id""", [excerpt_id])]


def test_agreed_false_alarms_and_missed_follow_the_decisions(coded):
    db = dblib.open_db(coded)
    with_many = [r[0] for r in db.execute("""SELECT excerpt_id FROM codings WHERE status = 'suggested'
                                             GROUP BY excerpt_id HAVING count(*) >= 2 ORDER BY excerpt_id""")]
    assert len(with_many) >= 4
    accepted_all, rejected_all, rejected_and_added, partly = with_many[:4]
    expected = {rq: [0, 0, 0] for rq in codebook.RQS}  # agreed, false alarms, missed
    with dblib.transaction(db):
        found = suggestions(db, accepted_all)
        review.decide(db, [i for i, _, _ in found], "accepted", "ann")
        for rq in {rq for _, _, rq in found}:
            expected[rq][0] += 1
        found = suggestions(db, rejected_all)
        review.decide(db, [i for i, _, _ in found], "rejected", "ann")
        for rq in {rq for _, _, rq in found}:
            expected[rq][1] += 1
        found = suggestions(db, rejected_and_added)
        review.decide(db, [i for i, _, _ in found], "rejected", "bob")
        for rq in {rq for _, _, rq in found}:
            expected[rq][1] += 1
        missing_rq = next(rq for rq in codebook.RQS if rq not in {rq for _, _, rq in found})
        theme = db.execute("SELECT id FROM codes WHERE rq = ? AND codable = 1 ORDER BY sort LIMIT 1", [missing_rq]).fetchone()[0]
        review.add(db, rejected_and_added, theme, "bob")
        expected[missing_rq][2] += 1
        review.decide(db, [suggestions(db, partly)[0][0]], "accepted", "ann")  # the rest still waiting
    card = scorecard.compute(db)
    db.close()
    assert (card.reviewed, card.partly) == (3, 1)
    assert {s.rq: [s.agreed, s.false_alarms, s.missed] for s in card.by_rq} == expected
    for s in card.by_rq:
        if s.agreed + s.false_alarms:
            assert s.precision == pytest.approx(s.agreed / (s.agreed + s.false_alarms))
    decided = sum(n["accepted"] + n["rejected"] for n in card.by_kind.values())
    assert decided == sum(n["accepted"] + n["rejected"] for n in card.by_theme.values()) + card.by_kind["key terms"].total() \
        + card.by_kind["model alone"].total()
    assert 0.0 <= card.macro_f1 <= 1.0


def test_a_withdrawn_participants_excerpts_are_not_counted(coded):
    db = dblib.open_db(coded)
    excerpt_id, pid = db.execute("""SELECT c.excerpt_id, e.participant_id FROM codings c JOIN excerpts e ON e.id = c.excerpt_id
                                    WHERE c.status = 'suggested' AND e.participant_id IS NOT NULL ORDER BY c.id LIMIT 1""").fetchone()
    with dblib.transaction(db):
        review.decide(db, [i for i, _, _ in suggestions(db, excerpt_id)], "accepted", "ann")
    assert scorecard.compute(db).reviewed == 1
    db.close()
    assert run("consent", "withdraw", pid, "--db", coded).exit_code == 0
    db = dblib.open_db(coded)
    assert scorecard.compute(db).reviewed == 0
    db.close()


def test_cli_table_and_the_themes_accepted_least(coded):
    out = run("review", "scorecard", "--db", coded)
    assert out.exit_code == 0 and "Nothing reviewed yet" in out.output, out.output
    db = dblib.open_db(coded)
    ids = [r[0] for r in db.execute("SELECT id FROM codings WHERE status = 'suggested' ORDER BY id")]
    db.close()
    assert run("review", "reject", *ids[::3], "--db", coded).exit_code == 0
    assert run("review", "accept", *[i for i in ids if i not in ids[::3]], "--db", coded).exit_code == 0
    out = run("review", "scorecard", "--least", 1, "--db", coded)
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert [l.split()[0] for l in lines if l[2:5] in codebook.RQS and l[5] == " "] == list(codebook.RQS)
    assert any(l.startswith("  macro-F1 0.") for l in lines)
    assert "Themes accepted least often (decided at least 1 times):" in out.output
    assert "Accepted, by what carried the suggestion:" in out.output


def _decide_some(path: Path) -> None:
    """Accept two of every three waiting suggestions on the first excerpts, reject the rest, and
    leave one excerpt partly reviewed."""
    db = dblib.open_db(path)
    excerpts = [r[0] for r in db.execute("SELECT DISTINCT excerpt_id FROM codings WHERE status = 'suggested' ORDER BY excerpt_id")]
    partly = db.execute("""SELECT excerpt_id FROM codings WHERE status = 'suggested' GROUP BY excerpt_id
                           HAVING count(*) >= 2 ORDER BY excerpt_id DESC LIMIT 1""").fetchone()[0]
    with dblib.transaction(db):
        for excerpt_id in [e for e in excerpts if e != partly][:39]:
            for k, (coding_id, _, _) in enumerate(suggestions(db, excerpt_id)):
                review.decide(db, [coding_id], "rejected" if k % 3 == 2 else "accepted", "ann")
        review.decide(db, [suggestions(db, partly)[0][0]], "accepted", "ann")
    assert scorecard.compute(db).partly == 1
    db.close()


def test_the_publish_database_carries_the_scorecard(coded, tmp_path):
    """suggestion_outcomes and the coder_scorecard view in the publish database give what the
    working database's scorecard gives; a withdrawn participant's excerpts are in neither."""
    from casestudy.consent import publish

    _decide_some(coded)
    db = dblib.open_db(coded)
    pid = db.execute("""SELECT e.participant_id FROM suggestion_outcomes o JOIN excerpts e ON e.id = o.excerpt_id
                        WHERE e.participant_id IS NOT NULL AND NOT o.waiting ORDER BY o.excerpt_id LIMIT 1""").fetchone()[0]
    theirs = {r[0] for r in db.execute("SELECT id FROM excerpts WHERE participant_id = ?", [pid])}
    db.close()
    assert run("consent", "withdraw", pid, "--db", coded).exit_code == 0
    db = dblib.open_db(coded)
    card = scorecard.compute(db)
    db.close()
    out = tmp_path / "pub.db"
    publish.publish(coded, out)
    pub = sqlite_utils.Database(out)
    rows = {r["rq"]: r for r in pub["coder_scorecard"].rows}
    assert card.reviewed > 10
    for s in card.by_rq:
        row = rows.get(s.rq, {"agreed": 0, "false_alarms": 0, "missed": 0})
        assert (row["agreed"], row["false_alarms"], row["missed"]) == (s.agreed, s.false_alarms, s.missed)
        if s.f1 is not None:
            assert row["f1"] == pytest.approx(s.f1, abs=0.005) and row["precision"] == pytest.approx(s.precision, abs=0.005)
    published = {r[0] for r in pub.execute("SELECT DISTINCT excerpt_id FROM suggestion_outcomes")}
    assert len(published) == card.reviewed and not published & theirs
    assert "text" not in pub["suggestion_outcomes"].columns_dict


def test_the_word_report_shows_the_scorecard(coded, tmp_path):
    import docx
    from test_export_docx import table_after

    empty = tmp_path / "empty.docx"
    assert run("export", "docx", empty, "--db", coded).exit_code == 0
    paragraphs = [p.text for p in docx.Document(str(empty)).paragraphs]
    assert any(p.startswith("No excerpt has been reviewed in full yet") for p in paragraphs)
    _decide_some(coded)
    db = dblib.open_db(coded)
    card = scorecard.compute(db)
    db.close()
    report = tmp_path / "report.docx"
    result = run("export", "docx", report, "--db", coded)
    assert result.exit_code == 0, result.output
    document = docx.Document(str(report))
    table = table_after(document, "Automatic suggestions against researchers' decisions")
    got = {row.cells[0].text: [c.text for c in row.cells[1:]] for row in table.rows[1:]}
    fmt = lambda v: "–" if v is None else f"{v:.2f}"  # noqa: E731
    assert got == {s.rq: [str(s.agreed), str(s.false_alarms), str(s.missed), fmt(s.precision), fmt(s.recall), fmt(s.f1)]
                   for s in card.by_rq}
    text = "\n".join(p.text for p in document.paragraphs)
    assert f"on the {card.reviewed} excerpts researchers have reviewed in full" in text
    assert f"(macro-F1 {card.macro_f1:.2f})" in text
    # one research question: its row alone, over the same excerpts reviewed in full
    only = tmp_path / "rq3.docx"
    assert run("export", "docx", only, "--rq", "RQ3", "--db", coded).exit_code == 0
    document = docx.Document(str(only))
    rows = table_after(document, "Automatic suggestions against researchers' decisions").rows[1:]
    assert [row.cells[0].text for row in rows] == ["RQ3"]
    assert f"on the {card.reviewed} excerpts researchers have reviewed in full" in "\n".join(p.text for p in document.paragraphs)
