"""`casestudy review why` and casestudy.coding.why: why each research question was or was
not suggested for an excerpt, judged again with the codebook and model it was coded with."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from casestudy import db as dblib
from casestudy.cli.main import cli
from casestudy.coding import codebook, why
from casestudy.coding import engine as coding
from casestudy.ingest import files as ingest

REPO = Path(__file__).resolve().parents[1]
RQS = codebook.RQS


@pytest.fixture
def coded(coded_study_db) -> Path:
    """The coded sample study (shared: tests that write work on a copy)."""
    return coded_study_db


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], env={"CASESTUDY_CODER": "ann"})


def evidence_ids(db) -> list[int]:
    return [r[0] for r in db.execute(
        f"SELECT e.id FROM {dblib.EXCERPT_JOIN} WHERE {dblib.CONSENTED_EXCERPT} ORDER BY e.id")]


def test_the_account_is_what_code_stored(coded):
    """Judged again, every excerpt's suggested codes are exactly the suggestions `code` wrote,
    and every question is given a reason naming a threshold of the rule."""
    db = dblib.open_db(coded)
    book = codebook.load(REPO / "codebook")
    kinds = set()
    for excerpt_id in evidence_ids(db):
        stored = {r[0] for r in db.execute("SELECT code_id FROM codings WHERE excerpt_id = ? AND status = 'suggested'", [excerpt_id])}
        found = why.account(db, excerpt_id, book)
        assert [j.rq for j in found.judgements] == list(RQS)
        assert {c for j in found.judgements for c in j.suggested} == stored, (excerpt_id, found.judgements)
        assert found.model and found.model_note.startswith("as it was coded")
        for j in found.judgements:
            assert 0.0 <= j.probability <= 1.0 and any(f"{t}" in j.reason for t in (0.1, 0.3, 0.5, 0.8)), j
            kinds.add(j.reason.split(":")[0].split(" ")[0])
            if j.suggested:
                assert not j.reason.startswith(("held back", "no theme", "too little")), j
            if j.reason.startswith("held back"):
                assert j.matched and not j.suggested
    db.close()
    assert {"held", "no", "a"} <= kinds, kinds  # held back, nothing, and a theme the model backed


def test_an_excerpt_not_yet_coded_is_judged_with_the_model_code_would_use(coded, tmp_path):
    import shutil

    copy = tmp_path / "copy.db"
    shutil.copy(coded, copy)
    db = dblib.open_db(copy)
    excerpt_id = evidence_ids(db)[0]
    db.execute("DELETE FROM coded_excerpts WHERE excerpt_id = ?", [excerpt_id])
    db.conn.commit()
    found = why.account(db, excerpt_id, codebook.load(REPO / "codebook"))
    assert found.model_note.startswith("not yet coded") and "default model" in found.model_note
    db.close()


def test_once_the_study_has_its_own_model_an_uncoded_excerpt_is_judged_with_it(coded, tmp_path):
    """With MIN_DECISIONS human decisions, `code` trains the study's model; an excerpt not yet
    coded with it is judged with that model (learned.model_in_use: what choose chose, read only)."""
    import shutil

    from casestudy.coding import learned, review

    copy = tmp_path / "copy.db"
    shutil.copy(coded, copy)
    db = dblib.open_db(copy)
    book = codebook.load(REPO / "codebook")
    featurizer = learned.Featurizer(coding.engine_for(book).lemma_of)
    assert learned.model_in_use(db, book, featurizer)[1] == "the default model"
    ids = [r[0] for r in db.execute("SELECT id FROM codings WHERE status = 'suggested' ORDER BY id LIMIT ?",
                                    [learned.MIN_DECISIONS])]
    with dblib.transaction(db):
        review.decide(db, ids, "accepted", "ann")
        chosen = learned.choose(db, book, featurizer).model
    model, which = learned.model_in_use(db, book, featurizer)
    assert model.version == chosen.version and chosen.kind == "study"
    assert which == f"the study's model (trained on {learned.MIN_DECISIONS} human decisions)"
    excerpt_id = evidence_ids(db)[0]
    db.execute("DELETE FROM coded_excerpts WHERE excerpt_id = ?", [excerpt_id])
    db.conn.commit()
    found = why.account(db, excerpt_id, book)
    assert found.model == chosen.coder and f"judged with {which}" in found.model_note
    db.close()


def test_a_model_no_longer_stored_is_said(coded, tmp_path):
    import shutil

    copy = tmp_path / "copy.db"
    shutil.copy(coded, copy)
    db = dblib.open_db(copy)
    excerpt_id = evidence_ids(db)[0]
    version = db.execute("SELECT codebook_version FROM coded_excerpts WHERE excerpt_id = ?", [excerpt_id]).fetchone()[0].split("+")[1]
    db.execute("DELETE FROM learned_models WHERE version = ?", [version])
    db.conn.commit()
    why._LOADED.clear()
    found = why.account(db, excerpt_id, codebook.load(REPO / "codebook"))
    assert found.model_note.startswith(f"coded with learned:{version}, which the database no longer holds: judged with")
    db.close()


def test_patterns_only_coding_is_judged_by_the_patterns(tmp_path, study):
    path = tmp_path / "work.db"
    db = dblib.open_db(path)
    ingest.ingest(db, [study], actor="test", skip_bad=True)
    book = codebook.load(REPO / "codebook")
    coding.code_database(db, book, use_model=False)
    excerpt_id = db.execute("SELECT excerpt_id FROM codings WHERE status = 'suggested' ORDER BY id LIMIT 1").fetchone()[0]
    found = why.account(db, excerpt_id, book)
    assert found.model is None and "patterns alone" in found.model_note
    assert all(j.probability is None for j in found.judgements)
    stored = {r[0] for r in db.execute("SELECT code_id FROM codings WHERE excerpt_id = ?", [excerpt_id])}
    assert {c for j in found.judgements for c in j.suggested} == stored
    db.close()


def test_people_s_decisions_are_shown_beside_the_judgement(coded, tmp_path):
    import shutil

    copy = tmp_path / "copy.db"
    shutil.copy(coded, copy)
    db = dblib.open_db(copy)
    coding_id, excerpt_id, code_id = db.execute(
        "SELECT id, excerpt_id, code_id FROM codings WHERE status = 'suggested' ORDER BY id LIMIT 1").fetchone()
    db.close()
    assert run("review", "reject", coding_id, "--db", copy).exit_code == 0
    out = run("review", "why", excerpt_id, "--db", copy)
    assert out.exit_code == 0, out.output
    assert f"decided: {code_id} rejected by ann" in out.output
    reviewed_in_full = "reviewed in full by the team, so a retrained model adds no suggestions to it"
    db = dblib.open_db(copy)
    waiting = [r[0] for r in db.execute("SELECT id FROM codings WHERE excerpt_id = ? AND status = 'suggested'", [excerpt_id])]
    db.close()
    assert (reviewed_in_full in out.output) == (not waiting)
    if waiting:  # decide the rest: now it is reviewed in full, and says so
        assert run("review", "accept", *waiting, "--db", copy).exit_code == 0
        assert reviewed_in_full in run("review", "why", excerpt_id, "--db", copy).output


def test_cli_prints_one_line_per_question(coded):
    db = dblib.open_db(coded)
    excerpt_id = db.execute("SELECT excerpt_id FROM codings WHERE status = 'suggested' ORDER BY id LIMIT 1").fetchone()[0]
    db.close()
    out = run("review", "why", excerpt_id, "--db", coded)
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert any(l.startswith("Judged as it was coded: codebook ") for l in lines), out.output
    verdicts = [l for l in lines if l[:3] in RQS]
    assert [l[:3] for l in verdicts] == list(RQS) and any(" suggested: " in l for l in verdicts), out.output
    assert any(l.startswith("    suggested: ") for l in lines)


@pytest.mark.parametrize("which,message", [("interviewer", "is an interviewer turn"), ("missing", "no excerpt with id")])
def test_cli_errors_in_one_line(coded, which, message):
    db = dblib.open_db(coded)
    if which == "interviewer":
        excerpt_id = db.execute("SELECT id FROM excerpts WHERE is_interviewer = 1 ORDER BY id LIMIT 1").fetchone()[0]
    else:
        excerpt_id = db.execute("SELECT max(id) + 1 FROM excerpts").fetchone()[0]
    db.close()
    out = run("review", "why", excerpt_id, "--db", coded)
    assert out.exit_code == 1 and out.output.startswith("Error: ") and len(out.output.strip().splitlines()) == 1, out.output
    assert message in out.output and "Traceback" not in out.output


def test_help():
    out = run("review", "why", "--help")
    assert out.exit_code == 0 and "--codebook" in out.output and "nothing is written" in out.output
