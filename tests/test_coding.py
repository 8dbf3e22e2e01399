"""Coding: the spaCy engine (lemmas, offsets, exclusions, equivalence of the compiled
matchers), and coding a real database: never interviewer turns, incremental, new
codebook versions, human decisions surviving re-coding and re-ingest; quality floor."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from casestudy.coding import codebook
from casestudy.coding import engine as coding
from casestudy.ingest import files as ingest
from casestudy import db as dblib
from casestudy.cli.main import cli

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO / "codebook"


@pytest.fixture(scope="module")
def engine():
    return coding.Engine(codebook.load(DEFAULT))


def test_offsets_slice_back_to_terms(engine):
    text = ("Our Risk and Gain Share with the ICB pays back half of any underspend. "
            "Waiting lists fell, and the lead-provider contract was let for five years.")
    matches = engine.match(text)
    assert matches
    for m in matches:
        assert len(m.terms) == len(m.offsets)
        for term, (start, end) in zip(m.terms, m.offsets):
            assert text[start:end] == term
        assert 0 < m.score <= 1
    codes = {m.code_id for m in matches}
    assert {"RQ4.risk-gain-share", "RQ6.waiting-times", "RQ4.lead-provider-contract"} <= codes


def test_case_insensitive_lemmas_and_overrides(engine):
    # plural, capitals, and a word the lookup table does not know ("collaboratives")
    assert "RQ6.out-of-area-placements" in {m.code_id for m in engine.match("OUT-OF-AREA PLACEMENTS are down.")}
    assert engine.lemma("Collaboratives") == "collaborative"
    assert engine.lemma("ICBs") == "icb"
    assert {"sub-contracting", "subcontracts"} & {w for w in engine.variants("subcontract")}


def test_exclusions_veto_overlapping_matches(engine):
    assert "RQ2.membership" not in {m.code_id for m in engine.match("A member of the public asked about parking.")}
    assert "RQ3.accountability-to-icb" not in {m.code_id for m in engine.match("We take into account the views of staff.")}


def test_weak_cue_alone_is_not_enough(engine):
    assert engine.match("The weather was fine.") == []
    got = {m.code_id for m in engine.match("Quality matters to us.")}
    assert "RQ6.quality-of-care" not in got


def test_compiled_lemma_matching_equals_matching_on_lemma(engine):
    """The inflection-set PhraseMatcher (LOWER) finds exactly what a PhraseMatcher on
    LEMMA finds after lemmatising every lower-cased token."""
    from spacy.matcher import PhraseMatcher

    book = engine.book
    reference = PhraseMatcher(engine.nlp.vocab, attr="LEMMA")
    for code in book.codable:
        if code.lemmas:
            reference.add(code.id, [engine.lemmatise(engine.tokenizer(p.lower())) for p in code.lemmas])
    compiled = PhraseMatcher(engine.nlp.vocab, attr="LOWER")
    for code in book.codable:
        if code.lemmas:
            from spacy.tokens import Doc

            compiled.add(code.id, [Doc(engine.nlp.vocab, words=w) for p in code.lemmas for w in engine._inflect(p)])
    labelled = __import__("yaml").safe_load((REPO / "tests/data/labelled_excerpts.yaml").read_text())["excerpts"]
    texts = [x["text"] for x in labelled] + [
        "The Collaboratives' Delegated Budgets were ring-fenced; HEALTH INEQUALITIES widened.",
        "Specialised commissioning moved; the waiting lists and long waits grew at both sites.",
    ]
    for text in texts:
        doc = engine.lemmatise(engine.tokenizer(text))
        assert sorted(reference(doc)) == sorted(compiled(doc)), text


def test_display_offsets_follow_pseudonyms():
    text = "Helen Marsh said the joint committee decides."
    shown = "[P01] said the joint committee decides."
    start = text.index("joint committee")
    mapped = coding.display_offsets(text, shown, [[start, start + 15], [0, 11]])
    assert shown[mapped[0][0]:mapped[0][1]] == "joint committee"
    assert mapped[1] is None  # a span over a name does not map
    assert coding.display_offsets(shown, shown, [[1, 4]]) == [[1, 4]]


# --- coding a database ----------------------------------------------------------------


def test_interviewer_turns_and_withdrawn_never_coded(coded):
    db, result, _ = coded
    assert result.suggestions > 0 and result.excerpts > 0
    bad = db.execute(
        """SELECT count(*) FROM codings c JOIN excerpts e ON e.id = c.excerpt_id
           LEFT JOIN consents cs ON cs.participant_id = e.participant_id
           WHERE e.is_interviewer = 1 OR cs.withdrawn_date IS NOT NULL"""
    ).fetchone()[0]
    assert bad == 0
    # interviewer questions do contain codebook words ("governed", "held to account")
    assert db.execute("SELECT count(*) FROM excerpts WHERE is_interviewer = 1 AND text LIKE '%account%'").fetchone()[0] > 0
    assert db.execute("SELECT count(*) FROM coded_excerpts ce JOIN excerpts e ON e.id = ce.excerpt_id WHERE e.is_interviewer = 1").fetchone()[0] == 0


def test_stored_codings_have_provenance_and_offsets(coded):
    db, result, _ = coded
    rows = list(db.query("SELECT c.*, e.text, e.display_text FROM codings c JOIN excerpts e ON e.id = c.excerpt_id"))
    assert rows
    for row in rows:
        assert row["coder"] in (f"auto:{result.version}", result.model) and row["status"] == "suggested"
        assert result.model.startswith("learned:")
        assert row["codebook_version"] == result.version and row["created_at"]
        terms, offsets = json.loads(row["terms"]), json.loads(row["offsets"])
        assert terms and len(terms) == len(offsets)
        for term, (a, b) in zip(terms, offsets):
            assert row["text"][a:b] == term
            if row["display_text"] == row["text"]:
                assert row["display_text"][a:b] == term
    assert db["codebooks"].get(result.version)
    audit = list(db.query("SELECT * FROM audit_log WHERE action = 'code.run'"))
    assert audit and audit[-1]["actor"] == "tester"


def test_incremental(coded, tmp_path):
    db, result, _ = coded
    n = db["codings"].count
    again = coding.code_database(db, codebook.load(DEFAULT))
    assert again.excerpts == 0 and again.suggestions == 0 and db["codings"].count == n
    extra = tmp_path / "extra.txt"
    extra.write_text("Delegation framework\n\nThe risk and gain share means half of any underspend is reinvested.\n", encoding="utf-8")
    ingest.ingest(db, [extra], {"kind": "policy"}, actor="test")
    third = coding.code_database(db, codebook.load(DEFAULT))
    new = db.execute("SELECT count(*) FROM excerpts e JOIN sources s ON s.id = e.source_id WHERE s.path LIKE '%extra.txt'").fetchone()[0]
    assert third.excerpts == new >= 1
    assert third.by_rq.get("RQ4")


def _changed_codebook(tmp_path) -> Path:
    copy = shutil.copytree(DEFAULT, tmp_path / "cb2")
    f = copy / "rq3-governance.yaml"
    f.write_text(f.read_text(encoding="utf-8").replace('"committees in common", ', '"committees in common", "twin committees", ', 1), encoding="utf-8")
    return copy


def test_new_version_recodes_but_keeps_human_decisions(coded, tmp_path):
    from casestudy.coding import review

    db, result, _ = coded
    suggestions = [r["id"] for r in db.query("SELECT id FROM codings ORDER BY id")]
    accepted, rejected = suggestions[0], suggestions[1]
    review.decide(db, [accepted], "accepted", "ann")
    review.decide(db, [rejected], "rejected", "ann")
    rej = db["codings"].get(rejected)
    excerpt = db.execute("SELECT e.id FROM excerpts e WHERE is_interviewer = 0 AND participant_id IS NOT NULL "
                         "AND id NOT IN (SELECT excerpt_id FROM codings WHERE code_id = 'RQ5.place-partnerships') LIMIT 1").fetchone()[0]
    hand, _ = review.add(db, excerpt, "RQ5.place-partnerships", "bob")
    keep = {i: dict(db["codings"].get(i)) for i in (accepted, rejected, hand)}

    book2 = codebook.load(_changed_codebook(tmp_path))
    assert book2.version != result.version
    before = {(r["excerpt_id"], r["code_id"]): r["id"] for r in db.query("SELECT * FROM codings WHERE status = 'suggested'")}
    second = coding.code_database(db, book2)
    # re-coding only adds or withdraws suggestions: one made again keeps its id
    assert second.kept + second.dropped == len(suggestions) - 2
    assert second.kept > 0
    after = {(r["excerpt_id"], r["code_id"]): r["id"] for r in db.query("SELECT * FROM codings WHERE status = 'suggested'")}
    assert all(after[pair] == before[pair] for pair in set(after) & set(before))
    assert second.excerpts == result.excerpts  # everything re-coded
    for i, row in keep.items():
        assert dict(db["codings"].get(i)) == row  # untouched
    # no fresh suggestion for the pairs people decided on
    for i in (accepted, rejected, hand):
        row = keep[i]
        assert db.execute("SELECT count(*) FROM codings WHERE excerpt_id = ? AND code_id = ?", [row["excerpt_id"], row["code_id"]]).fetchone()[0] == 1
    assert db.execute("SELECT count(*) FROM codings WHERE coder = ? ", [f"auto:{result.version}"]).fetchone()[0] == 2
    assert db.execute("SELECT count(DISTINCT codebook_version) FROM coded_excerpts").fetchone()[0] == 1


def test_human_decisions_survive_reingest_of_changed_file(tmp_path):
    from casestudy.coding import review

    folder = tmp_path / "s"
    folder.mkdir()
    doc = folder / "paper.txt"
    doc.write_text("Board paper\n\nThe joint committee approved the risk share.\n\nNothing else happened today.\n", encoding="utf-8")
    db = dblib.open_db(tmp_path / "w.db")
    ingest.ingest(db, [doc], {"kind": "board-paper"}, actor="t")
    coding.code_database(db, codebook.load(DEFAULT))
    row = next(db.query("SELECT c.id, c.code_id FROM codings c JOIN excerpts e ON e.id = c.excerpt_id WHERE e.text LIKE '%joint committee%' ORDER BY c.id"))
    review.decide(db, [row["id"]], "accepted", "ann")
    doc.write_text("Board paper\n\nThe joint committee approved the risk share.\n\nA new paragraph about waiting lists.\n", encoding="utf-8")
    ingest.ingest(db, [doc], {"kind": "board-paper"}, actor="t")
    kept = list(db.query("SELECT * FROM codings WHERE status = 'accepted'"))
    assert [(k["code_id"], k["reviewed_by"]) for k in kept] == [(row["code_id"], "ann")]
    result = coding.code_database(db, codebook.load(DEFAULT))
    assert result.excerpts >= 2  # the new excerpts are coded
    assert db.execute("SELECT count(*) FROM codings WHERE code_id = ? AND excerpt_id = ?", [row["code_id"], kept[0]["excerpt_id"]]).fetchone()[0] == 1
    assert db.execute("SELECT count(*) FROM codings WHERE code_id = 'RQ6.waiting-times'").fetchone()[0] == 1


def test_cli_code(tmp_path, study):
    path = tmp_path / "w.db"
    runner = CliRunner()
    assert runner.invoke(cli, ["init", "--db", str(path)]).exit_code == 0
    assert runner.invoke(cli, ["ingest", str(study), "--skip-bad", "--db", str(path)]).exit_code == 0
    result = runner.invoke(cli, ["code", "--db", str(path), "--coder", "ann"])
    assert result.exit_code == 0, result.output
    assert "new suggestions" in result.output and "RQ3" in result.output
    again = runner.invoke(cli, ["code", "--db", str(path)])
    assert "coded 0 excerpts" in again.output
    missing = runner.invoke(cli, ["code", "--db", str(tmp_path / "nope.db")])
    assert missing.exit_code == 1 and "no such database" in missing.output


def test_quality_floor():
    """The shipped codebook keeps its measured quality on the labelled excerpts."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import quality

    result = quality.evaluate(DEFAULT, splits=("train", "heldout", "all", "fresh"))
    assert result["heldout"]["macro_f1"] >= 0.80, quality.report(result)
    assert result["train"]["macro_f1"] >= 0.85, quality.report(result)
    assert result["all"]["n"] >= 90
    # the second set, in other voices (board minutes, council and VCSE, finance, hard negatives)
    assert result["fresh"]["n"] >= 40
    assert result["fresh"]["macro_f1"] >= 0.82, quality.report(result)
    assert result["fresh"]["none_clean"][0] >= result["fresh"]["none_clean"][1] - 2, quality.report(result)


def test_quality_on_real_seed_texts():
    """Real public texts (../shared/seeds or $CASESTUDY_SEEDS), labelled by reference in
    tests/data/seed_labels.yaml. Skipped where the folder is absent."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import quality

    folder = quality.seeds_dir()
    if not folder.is_dir():
        pytest.skip(f"seeds folder {folder} not found (set $CASESTUDY_SEEDS)")
    items, warnings = quality.load_seeds(folder)
    assert not warnings, warnings  # a changed seed file makes its labels stale: re-label it
    assert len(items) >= 50
    result = quality.evaluate(DEFAULT, splits=("seeds",))
    # 0.446 and 0.36 since adjudication set the study protocol's own questions and objectives to []
    # (tests/data/second_coder/seeds.yaml): the patterns fire on them, as on any text naming an RQ
    assert result["seeds"]["macro_f1"] >= 0.40, quality.report(result)
    assert result["seeds"]["micro_precision"] >= 0.30, quality.report(result)


def test_seeds_split_skipped_without_the_folder(tmp_path, monkeypatch):
    sys.path.insert(0, str(REPO / "benchmarks"))
    import quality

    monkeypatch.setenv("CASESTUDY_SEEDS", str(tmp_path / "absent"))
    result = quality.evaluate(DEFAULT, splits=("train", "seeds"))
    assert result["seeds"] is None and "not found" in result["skipped"]["seeds"]
    assert "seeds: seeds folder" in quality.report(result)
    # a changed paragraph is left out with a warning, not scored against stale labels
    folder = tmp_path / "seeds"
    folder.mkdir()
    (folder / "study-protocol.txt").write_text("Background\n\nA different first paragraph of words here.\n", encoding="utf-8")
    items, warnings = quality.load_seeds(folder)
    assert items == [] and warnings


def test_context_gates_organisation_types(engine):
    """RQ2's organisation types count only where membership, joining or partnership is talked about."""
    def rq2(text):
        return {m.code_id for m in engine.match(text) if m.code_id.startswith("RQ2.")}

    assert "RQ2.vcse" in rq2("The hospice joined as an associate partner in April.")
    assert "RQ2.local-authorities" in rq2("The county council sits on the board as a non-voting member.")
    assert rq2("The hospice shop on the high street reopened after the refurbishment.") == set()
    assert rq2("My partner works at the hospice.") == set()  # a spouse is no membership talk
    assert rq2("Two members of the public asked about the council's car parks.") == set()
    # a codebook without context patterns behaves as before (the gate is per code)
    assert all(not c.context for c in engine.book.codable if not c.id.startswith("RQ2.") or c.id == "RQ2.membership")
