"""The learned level of coding (casestudy.coding.learned + engine.Coder): deterministic,
versioned models; the RQ-level judgement and its explanation; learning from the study's
human decisions changes suggestions and never touches the decisions; cross-validated floors."""

from __future__ import annotations

import gc
import json
import os
import re
import sys
import threading
from pathlib import Path

import pytest
import sqlite_utils
from click.testing import CliRunner

from casestudy import db as dblib
from casestudy.cli.main import cli
from casestudy.coding import codebook, learned, review
from casestudy.coding import engine as coding

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO / "codebook"
RQS = codebook.RQS


@pytest.fixture(scope="module")
def book():
    return codebook.load(DEFAULT)


@pytest.fixture(scope="module")
def engine(book):
    return coding.engine_for(book)


@pytest.fixture(scope="module")
def featurizer(engine):
    return learned.Featurizer(engine.lemma_of)


def _ex(text, *rqs):
    return learned.Example(text, {rq: int(rq in rqs) for rq in RQS}, 1.0, text[:10])


SMALL = [
    _ex("The money flows to each hospital separately and the income stays with the trust.", "RQ4"),
    _ex("Funding is divided between the partners and one trust is underfunded.", "RQ4"),
    _ex("We pay the other hospital for the work and the money follows the patient.", "RQ4"),
    _ex("Four chief executives sit round the table; primary care is not in the room.", "RQ2"),
    _ex("The community provider asked to be involved and the council is not there.", "RQ2"),
    _ex("Nobody could say what problem we exist to solve in the first place.", "RQ1"),
    _ex("We meet the ICB monthly and the relationship with the integrated care board is good.", "RQ5"),
    _ex("The ICB checks in through a quarterly review and sets our priorities.", "RQ5"),
    _ex("Decisions go back to each board and the committee has terms of reference.", "RQ3"),
    _ex("Waiting times came down and patients are treated sooner.", "RQ6"),
    _ex("The car park was full and the coffee was cold.",),
    _ex("We talked about the weather before the meeting started.",),
]


def test_training_is_deterministic_and_versioned(featurizer):
    one = learned.train(SMALL, featurizer)
    for _ in range(12):  # liblinear's random generator is one per process: a race shows only now and then
        two = learned.train(list(SMALL), featurizer)
        assert one.version == two.version and one.to_json() == two.to_json()
    assert one.coder == f"learned:{one.version}"
    more = learned.train(SMALL + [_ex("Income is shared out between the members.", "RQ4")], featurizer)
    assert more.version != one.version  # the version is a hash of the training data ...
    other = learned.train(SMALL, featurizer, settings=dict(learned.SETTINGS, C=1.0))
    assert other.version != one.version  # ... and of the settings
    # stored as JSON, it predicts exactly the same
    terms = featurizer.terms("Where the money goes between the hospitals is the argument.")
    again = learned.Model.from_json(one.to_json())
    assert again.probabilities(terms) == one.probabilities(terms)
    assert again.to_json() == one.to_json()  # read back, it writes the very same text (kept, not re-encoded)
    assert one.probabilities(terms)["RQ4"] > one.probabilities(terms)["RQ2"]


def test_terms_are_content_words_and_adjacent_pairs(engine):
    """Content words alone (no stop word, one letter or number), every adjacent pair with a
    content word, a possessive read as its word; the same from a fresh featurizer and from one
    whose lexicon already knows the words."""
    text = "The trust\u2019s 2 boards and a Committee in Common: the ICB's plans."
    expected = ["trust", "board", "committee", "common", "icb", "plan",
                "the trust", "trust 2", "2 board", "board and", "a committee", "committee in",
                "in common", "common the", "the icb", "icb plan"]
    fresh = learned.Featurizer(engine.lemma_of)
    first = fresh.terms(text)
    assert list(first) == expected
    assert first.lemmas == ["the", "trust", "2", "board", "and", "a", "committee", "in", "common", "the", "icb", "plan"]
    again = fresh.terms(text)  # every word now from the lexicon
    assert list(again) == expected and again.lemmas == first.lemmas


def test_fits_in_two_processes_give_the_same_model(featurizer, monkeypatch, tmp_path):
    """With enough examples the six fits run in two forked processes: the same model, byte for
    byte, as one fit after another (each fit re-seeds liblinear's generator)."""
    examples = [learned.Example(f"{e.text} ({k})", e.labels, e.weight, f"{e.origin}{k}")
                for k in range(learned.PARALLEL_FROM // len(SMALL) + 1) for e in SMALL]
    pids = tmp_path / "pids"
    fit = learned._fit_rq

    def recording(X, examples, rq, settings):
        with pids.open("a") as out:
            out.write(f"{os.getpid()}\n")
        return fit(X, examples, rq, settings)

    monkeypatch.setattr(learned, "_fit_rq", recording)
    parallel = learned.train(examples, featurizer)
    workers = set(pids.read_text().split())
    if (os.cpu_count() or 1) >= 2 and threading.active_count() == 1:
        assert len(workers) == 2 and str(os.getpid()) not in workers  # it did run in two other processes
    else:  # one core, or another thread alive (an earlier test's server): a fork would copy one thread only
        assert workers == {str(os.getpid())}
    pids.unlink()
    monkeypatch.setenv("CASESTUDY_TRAIN_JOBS", "1")
    sequential = learned.train(examples, featurizer)
    assert set(pids.read_text().split()) == {str(os.getpid())}
    assert parallel.to_json() == sequential.to_json()


def test_rq_level_judgement_catches_general_talk_and_explains_it(engine, featurizer):
    model = learned.train(SMALL, featurizer)
    coder = coding.Coder(engine, model, featurizer)
    text = "Honestly we argue about who will pay, because the money never follows the patient."
    assert not [m for m in engine.match(text) if m.code_id.startswith("RQ4.")]  # no theme pattern fires
    found = [s for s in coder.suggest(text, engine.match(text)) if s.rq == "RQ4"]
    assert found and found[0].code_id == "RQ4" and found[0].coder == model.coder
    suggestion = found[0]
    assert 0.5 <= suggestion.score <= 1 and suggestion.probability == suggestion.score
    # the explanation: the excerpt's own words that weighed most, with offsets into the text
    assert suggestion.terms and len(suggestion.terms) == len(suggestion.offsets)
    for term, (start, end) in zip(suggestion.terms, suggestion.offsets):
        assert text[start:end] == term
    assert any(t.lower() in ("money", "income", "patient", "follows the patient", "the money") for t in suggestion.terms)


def test_pattern_themes_need_the_model_not_to_disagree(engine, featurizer):
    """A theme's patterns alone are vetoed when the model finds nothing of its RQ."""
    text = "The joint committee approved its terms of reference."
    matches = engine.match(text)
    assert any(m.code_id.startswith("RQ3.") for m in matches)
    against = learned.train(SMALL + [_ex(text + " " + str(i)) for i in range(8)], featurizer)  # taught: not RQ3
    coder = coding.Coder(engine, against, featurizer)
    assert not [s for s in coder.suggest(text, matches) if s.rq == "RQ3"] and coder.held_back > 0
    patterns_only = coding.Coder(engine, None, featurizer)
    assert [s for s in patterns_only.suggest(text, matches) if s.rq == "RQ3"]


WANDERING = ("We spent most of the year on the winter plan, the new electronic record and the recruitment drive for "
             "theatre nurses across the three sites. The weather did not help and the estates team had a difficult time "
             "with the roofs. Decisions about the shared waiting list now go to the committee in common, which meets "
             "monthly with the four chairs. We also opened the new car park in March.")


def test_a_theme_is_kept_when_its_own_sentence_is_about_the_rq(book, engine, featurizer):
    """A long answer that wanders: the whole excerpt is not about RQ3, the sentence its
    governance themes matched in is, so they are kept with that sentence's probability;
    run together as one sentence, the same words are held back."""
    model = learned.default_model(book, featurizer)
    whole = model.probabilities(featurizer.terms(WANDERING))["RQ3"]
    assert whole < coding.VETO  # the excerpt alone would veto the RQ3 themes
    coder = coding.Coder(engine, model, featurizer)
    rq3 = [s for s in coder.suggest(WANDERING, engine.match(WANDERING)) if s.rq == "RQ3"]
    assert {s.code_id for s in rq3} >= {"RQ3.committees-in-common"}
    sentence = next(WANDERING[a:b] for a, b in coding.sentence_bounds(WANDERING) if "committee in common" in WANDERING[a:b])
    local = model.probabilities(featurizer.terms(sentence))["RQ3"]
    assert local >= coding.LOCAL and all(s.probability == round(local, 3) for s in rq3)
    assert all(s.coder.startswith("auto:") and WANDERING[s.offsets[0][0]:s.offsets[0][1]] == s.terms[0] for s in rq3)
    # a theme in another sentence that the model does not back stays held back
    assert not [s for s in coder.suggest(WANDERING, engine.match(WANDERING)) if s.code_id == "RQ1.backlog-recovery"]
    run_on = WANDERING.replace(". ", ", ")
    assert len(coding.sentence_bounds(run_on)) == 1
    if model.probabilities(featurizer.terms(run_on))["RQ3"] < coding.VETO:
        assert not [s for s in coding.Coder(engine, model, featurizer).suggest(run_on, engine.match(run_on)) if s.rq == "RQ3"]


KEYED = "The leadership of the three hospitals has changed twice this year."


def _between(monkeypatch, p):
    """Thresholds set around a measured P(RQ): above the key floor, below the model's own bars."""
    monkeypatch.setattr(coding, "KEY_FLOOR", p - 0.005)
    monkeypatch.setattr(coding, "VETO", p + 0.005)
    monkeypatch.setattr(coding, "ALONE", p + 0.005)


def test_key_terms_carry_an_rq_the_model_does_not_rule_out(book, engine, featurizer, monkeypatch):
    """An excerpt naming a key term of RQ3 ("leadership"), no RQ3 theme firing: with the
    model's P(RQ3) between the key floor and its own bar, RQ3 itself is suggested by the
    codebook's coder, explained by the key term as written; below the floor, nothing."""
    assert "leadership" in book.key_terms["RQ3"]
    assert not [m for m in engine.match(KEYED) if m.code_id.startswith("RQ3.")]
    model = learned.default_model(book, featurizer)
    p = model.probabilities(featurizer.terms(KEYED))["RQ3"]
    _between(monkeypatch, p)
    found = [s for s in coding.Coder(engine, model, featurizer).suggest(KEYED, engine.match(KEYED)) if s.rq == "RQ3"]
    assert len(found) == 1
    keyed = found[0]
    assert (keyed.code_id, keyed.coder, keyed.terms) == ("RQ3", book.coder, ["leadership"])
    assert [KEYED[a:b] for a, b in keyed.offsets] == ["leadership"]
    assert keyed.probability == round(p, 3) and keyed.score == round(1 - (1 - 0.632120558828558) * (1 - p), 3)
    # the same words without the key term: the model alone is not enough
    plain = KEYED.replace("leadership", "catering")
    if model.probabilities(featurizer.terms(plain))["RQ3"] < coding.ALONE:
        assert not [s for s in coding.Coder(engine, model, featurizer).suggest(plain, engine.match(plain)) if s.rq == "RQ3"]
    # the model rules RQ3 out: the key term does not bring it in
    monkeypatch.setattr(coding, "KEY_FLOOR", p + 0.001)
    assert not [s for s in coding.Coder(engine, model, featurizer).suggest(KEYED, engine.match(KEYED)) if s.rq == "RQ3"]


def test_with_the_default_thresholds_a_passing_key_term_is_not_enough(book, engine, featurizer):
    """Small talk that happens to name a key term: the model gives RQ3 less than the floor."""
    model = learned.default_model(book, featurizer)
    text = "We talked about leadership over lunch and then about car parking."
    assert model.probabilities(featurizer.terms(text))["RQ3"] < coding.KEY_FLOOR
    assert not [s for s in coding.Coder(engine, model, featurizer).suggest(text, engine.match(text)) if s.rq == "RQ3"]


def test_a_key_term_backs_a_theme_the_model_would_hold_back(book, engine, featurizer, monkeypatch, tmp_path):
    """A theme match in an RQ the model gives less than the veto is kept (with the model's
    probability) when the excerpt names one of the RQ's key terms; the same codebook without
    key terms holds it back."""
    text = "The joint committee approved its terms of reference."
    model = learned.default_model(book, featurizer)
    p = model.probabilities(featurizer.terms(text))["RQ3"]
    _between(monkeypatch, p)
    themes = {m.code_id for m in engine.match(text) if m.code_id.startswith("RQ3.")}
    assert "RQ3.joint-committee" in themes
    coder = coding.Coder(engine, model, featurizer)
    kept = [s for s in coder.suggest(text, engine.match(text)) if s.rq == "RQ3"]
    assert {s.code_id for s in kept} == themes and coder.held_back == 0
    assert all(s.probability == round(p, 3) and s.coder == book.coder for s in kept)
    bare = tmp_path / "codebook"
    bare.mkdir()
    for path in DEFAULT.glob("*.yaml"):
        (bare / path.name).write_text(re.sub(r"(?m)^key_terms:.*\n", "", path.read_text()))
    unkeyed = codebook.load(bare)
    assert unkeyed.key_terms == {} and unkeyed.version != book.version
    coder = coding.Coder(coding.engine_for(unkeyed), model, featurizer)
    assert not [s for s in coder.suggest(text, engine.match(text)) if s.rq == "RQ3"] and coder.held_back == len(themes)


@pytest.mark.parametrize("text", [
    "Yes, that's fine, go ahead.", "Sure, no problem.", "Report of | Director of Strategy and Partnerships",
    "Mainly the money, honestly.", "Leadership, mostly. The budget too.",
])
def test_a_short_reply_is_too_little_for_the_model_or_a_key_term(book, engine, featurizer, monkeypatch, text):
    """Under MIN_WORDS content words, neither the model alone nor a key term suggests anything
    (the model never saw a text that short), whatever it gives the RQs; five words are enough."""
    model = learned.default_model(book, featurizer)
    monkeypatch.setattr(coding, "ALONE", 0.0)  # the model "believes" every RQ
    monkeypatch.setattr(coding, "KEY_FLOOR", 0.0)
    assert coding._too_short(featurizer.terms(text)) and not engine.match(text)
    assert coding.Coder(engine, model, featurizer).suggest(text, []) == []
    longer = text + " It matters for the whole partnership."
    assert not coding._too_short(featurizer.terms(longer))
    assert {s.rq for s in coding.Coder(engine, model, featurizer).suggest(longer, [])} == set(RQS)


def test_a_theme_in_a_short_excerpt_needs_the_model_alone_s_bar(book, engine, featurizer):
    """A cover-sheet row or a heading has too few words for a theme's patterns to carry its RQ
    with the model at VETO (0.3): under MIN_WORDS content words a theme needs ALONE (0.5)."""
    model = learned.default_model(book, featurizer)
    coder = coding.Coder(engine, model, featurizer)
    row = "Purpose | For discussion and assurance"
    terms = featurizer.terms(row)
    p = model.probabilities(terms)
    matched = engine.match(row)
    assert coding._too_short(terms) and matched
    assert coding.VETO <= p["RQ3"] < coding.ALONE  # enough for a theme in a longer excerpt
    assert [m.code_id for m in matched if m.code_id.startswith("RQ3")]  # the assurance theme fires...
    assert not [s for s in coder.suggest(row, matched) if s.rq == "RQ3"]  # ...and is held back
    verdict = next(v for v in coder.verdicts(row, matched) if v.rq == "RQ3")
    assert verdict.reason.startswith("held back") and f"under {coding.MIN_WORDS} content words" in verdict.reason
    heading = "3. Group Chief Executive's report"  # the model carries it: the theme stays
    assert coding._too_short(featurizer.terms(heading))
    assert [s.code_id for s in coder.suggest(heading, engine.match(heading)) if s.rq == "RQ3"]
    longer = row + ": the board takes assurance from the joint committee's minutes."
    assert [s for s in coder.suggest(longer, engine.match(longer)) if s.rq == "RQ3"]


def test_a_line_of_particulars_is_too_little_to_read(book, engine, featurizer):
    """A venue or version line has enough words but says nothing: the model alone (which gives a
    venue at "ICB headquarters" RQ5 0.85) and key terms never code it, and a theme needs ALONE."""
    model = learned.default_model(book, featurizer)
    coder = coding.Coder(engine, model, featurizer)
    venue = "Venue: Board Room, ICB headquarters, Ashmoor."
    assert not coding._too_short(featurizer.terms(venue)) and model.probabilities(featurizer.terms(venue))["RQ5"] >= coding.ALONE
    assert coder.suggest(venue, engine.match(venue)) == []
    verdict = next(v for v in coder.verdicts(venue, engine.match(venue)) if v.rq == "RQ5")
    assert verdict.reason.startswith("too little to read") and "line of particulars" in verdict.reason
    version = "Version 1.2 · approved by the partnership board · review date: March 2027"
    p = model.probabilities(featurizer.terms(version))["RQ3"]
    assert p < coding.ALONE and not [s for s in coder.suggest(version, engine.match(version)) if s.rq == "RQ3"]
    said = "Venue and timing aside, the joint committee now takes the decisions for all four trusts."
    assert [s for s in coder.suggest(said, engine.match(said)) if s.rq == "RQ3"]  # a sentence is read as before


@pytest.mark.parametrize("text, rq, found", [
    ("Our Integrated Care Boards agreed it.", "RQ5", [("integrate", "care", "board")]),
    ("The ICBs' plans.", "RQ5", [("icb",)]),
    ("The care board integrated it.", "RQ5", []),  # the words, not in that order
    ("Decision-making and the committees.", "RQ3", [("committee",), ("decision-making",)]),
    ("Two lead providers, funded twice.", "RQ4", [("fund",), ("lead", "provider")]),
    ("A provider that leads.", "RQ4", []),
    ("Members and partners.", "RQ2", []),  # RQ2 has no key terms
])
def test_key_terms_are_matched_as_lemmas_in_order(book, featurizer, text, rq, found):
    keys = coding._KeyTerms(book, featurizer)
    assert keys.found(featurizer.terms(text).lemmas, rq) == found


@pytest.mark.parametrize("text", [
    "First point about the board. Second one? Third! Fourth; and the fifth\nline.  ",
    "A. B. ", "  . Hi there", "The trust's plan. Next one's!  And; x", "", ".", "No end",
    "v1.2 and 3.5 are numbers. e.g. this; that? yes!\n\nno",
])
def test_sentence_terms_are_each_sentence_read_alone(featurizer, text):
    """A sentence's terms read from its excerpt's are the terms of its text read alone, and
    an excerpt's own terms do not change with its sentence ends (pairs run across them)."""
    bounds = coding.sentence_bounds(text)
    whole = featurizer.terms(text)
    alone = [featurizer.terms(text[a:b]) for a, b in bounds]
    read = featurizer.sentence_terms(whole, len(bounds), list(range(len(bounds))))
    assert [(list(t), t.lemmas) for t in read] == [(list(t), t.lemmas) for t in alone]
    for wrong in (len(bounds) - 1, len(bounds) + 1):
        assert featurizer.sentence_terms(whole, wrong, [0]) is None  # not the sentences it has
    run_on = featurizer.terms(re.sub(r"[.?!;](?=\s)", " ", text))
    assert (list(whole), whole.lemmas) == (list(run_on), run_on.lemmas)


def test_a_last_sentence_without_words_is_read_from_its_text(book, engine, featurizer):
    """"Hello. -- ." has a second sentence with no word in it: the excerpt's terms cannot tell
    it from a text ending "Hello. ", so it is not read from them, and the coder reads the
    sentence's text instead (the same probabilities)."""
    text = "Hello. -- ."
    assert len(coding.sentence_bounds(text)) == 2
    assert featurizer.sentence_terms(featurizer.terms(text), 2, [0, 1]) is None
    model = learned.default_model(book, featurizer)
    local = coding._SentenceProbabilities(text, featurizer.terms(text), model, featurizer)
    assert [list(t) for t in local.terms_of([0, 1])] == [["hello"], []]


def test_a_coding_run_gives_the_garbage_collector_back_as_it_was():
    """Coding freezes the heap it starts with and collects young objects less often; after
    the run, or an error inside it, the collector is as it was, and a heap the program had
    frozen itself stays frozen."""
    before = gc.get_threshold()
    assert gc.get_freeze_count() == 0
    with coding._batch_garbage_collection():
        assert gc.get_threshold()[0] == coding._YOUNG_COLLECTION_EVERY and gc.get_freeze_count() > 0
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
    with pytest.raises(RuntimeError), coding._batch_garbage_collection():
        raise RuntimeError("a bad excerpt")
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
    gc.freeze()
    try:
        with coding._batch_garbage_collection():
            pass
        assert gc.get_freeze_count() > 0  # still frozen (unfreezing empties the permanent generation)
    finally:
        gc.unfreeze()
    # two runs that overlap (two threads): the collector comes back only when the last ends
    first, second = coding._batch_garbage_collection(), coding._batch_garbage_collection()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert gc.get_threshold()[0] == coding._YOUNG_COLLECTION_EVERY and gc.get_freeze_count() > 0
    second.__exit__(None, None, None)
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_sentence_bounds():
    text = "First point. Second one? Third! Fourth; and fifth\nline.  "
    assert [text[a:b] for a, b in coding.sentence_bounds(text)] == [
        "First point.", "Second one?", "Third!", "Fourth;", "and fifth\nline."]
    assert coding.sentence_bounds("") == [(0, 0)] and coding.sentence_bounds("No end") == [(0, 6)]
    assert coding.sentence_bounds("v1.2 and 3.5 are numbers.") == [(0, 25)]


def test_default_model_used_until_the_study_has_decisions(coded):
    db, result, _ = coded
    assert result.model and result.model.startswith("learned:")
    assert "too young" in result.model_note
    stored = db.execute("SELECT kind, n_decisions FROM learned_models WHERE version = ?", [result.model.split(":", 1)[1]]).fetchone()
    assert stored == ("default", 0)
    # every learned suggestion is an RQ as a whole, explained by the excerpt's own words
    rows = list(db.query("SELECT c.*, e.text FROM codings c JOIN excerpts e ON e.id = c.excerpt_id WHERE c.coder LIKE 'learned:%'"))
    for row in rows:
        assert row["code_id"] in RQS and row["status"] == "suggested" and 0.5 <= row["score"] <= 1
        terms, offsets = json.loads(row["terms"]), json.loads(row["offsets"])
        assert terms and len(terms) == len(offsets)
        assert all(row["text"][a:b] == t for t, (a, b) in zip(terms, offsets))
    # interviewer turns are never coded, by either coder
    assert db.execute("SELECT count(*) FROM codings c JOIN excerpts e ON e.id = c.excerpt_id WHERE e.is_interviewer = 1").fetchone()[0] == 0


def _decide_many(db, n: int, rq_rejected: str) -> None:
    """n human decisions: every suggestion under ``rq_rejected`` rejected, the rest accepted."""
    rows = list(db.query("""SELECT c.id, cd.rq FROM codings c JOIN codes cd ON cd.id = c.code_id
                            WHERE c.status = 'suggested' ORDER BY c.excerpt_id, c.id LIMIT ?""", [n]))
    assert len(rows) == n
    for row in rows:
        review.decide(db, [row["id"]], "rejected" if row["rq"] == rq_rejected else "accepted", "ann")


def test_learning_from_decisions_changes_suggestions_and_keeps_decisions(coded):
    db, first, _ = coded
    _decide_many(db, learned.MIN_DECISIONS + 4, "RQ3")
    decided = {r["id"]: dict(r) for r in db.query("SELECT * FROM codings WHERE status != 'suggested'")}
    before = {(r["excerpt_id"], r["code_id"], r["coder"], r["score"]) for r in db.query("SELECT * FROM codings WHERE status = 'suggested'")}
    second = coding.code_database(db, codebook.load(DEFAULT), actor="tester")
    assert second.model != first.model and "retrained" in second.model_note
    kind, n = db.execute("SELECT kind, n_decisions FROM learned_models WHERE version = ?", [second.model.split(":", 1)[1]]).fetchone()
    assert kind == "study" and n == learned.MIN_DECISIONS + 4
    after = {(r["excerpt_id"], r["code_id"], r["coder"], r["score"]) for r in db.query("SELECT * FROM codings WHERE status = 'suggested'")}
    assert after != before  # the suggestions changed with what the team decided
    for coding_id, row in decided.items():  # every human decision exactly as it was
        assert dict(db["codings"].get(coding_id)) == row
    # the same decisions give the same model: coding again changes nothing
    third = coding.code_database(db, codebook.load(DEFAULT))
    assert third.model == second.model and third.excerpts == 0 and third.suggestions == 0


def _codings_of(db, excerpts) -> set[tuple]:
    marks = ",".join("?" * len(excerpts))
    return {tuple(r) for r in db.execute(
        f"SELECT excerpt_id, code_id, coder, status FROM codings WHERE excerpt_id IN ({marks})", list(excerpts))}


def test_a_new_model_does_not_reopen_an_excerpt_reviewed_in_full(coded, tmp_path):
    """Coded by the patterns alone, then 60 excerpts reviewed in full: coding with the (study's)
    model adds its suggestions elsewhere but none to those excerpts, and says how many it left
    alone; a new codebook version may still add to them."""
    import shutil

    db, _, _ = coded
    book = codebook.load(DEFAULT)
    coding.code_database(db, book, use_model=False)
    reviewed = [r[0] for r in db.execute("SELECT DISTINCT excerpt_id FROM codings WHERE status = 'suggested' ORDER BY excerpt_id LIMIT 60")]
    with dblib.transaction(db):
        for excerpt_id in reviewed:
            ids = [r[0] for r in db.execute("SELECT id FROM codings WHERE excerpt_id = ? AND status = 'suggested'", [excerpt_id])]
            review.decide(db, ids, "accepted", "ann")
    as_left = _codings_of(db, reviewed)
    result = coding.code_database(db, book, actor="tester")
    assert result.model and "retrained" in result.model_note and result.by_coder.get(result.model)  # the model coded elsewhere
    assert result.settled >= 1 and result.settled_suggestions >= result.settled  # it would have added some here
    assert _codings_of(db, reviewed) == as_left  # ...and added none
    assert f"{result.settled:,} excerpts reviewed in full left as the team left them" in result.summary()
    (detail,) = db.execute("SELECT detail FROM audit_log WHERE action = 'code.run' ORDER BY id DESC LIMIT 1").fetchone()
    assert json.loads(detail)["settled"] == result.settled
    # a new codebook version: a new theme is a new question, and reaches the reviewed excerpts too
    changed = tmp_path / "codebook"
    shutil.copytree(DEFAULT, changed)
    rq3 = changed / "rq3-governance.yaml"
    rq3.write_text(rq3.read_text(encoding="utf-8").replace(
        "codes:\n", "codes:\n  - id: RQ3.test-collaborative\n    name: Collaborative (test)\n    description: Any mention.\n"
        "    inclusion: Any.\n    exclusion: None.\n    example: \"The collaborative met.\"\n    colour: \"#123456\"\n"
        "    patterns:\n      lemmas: [collaborative]\n", 1), encoding="utf-8")
    new_book = codebook.load(changed)
    assert new_book.version != book.version
    coding.code_database(db, new_book, use_model=False)
    added = {r for r in _codings_of(db, reviewed) - as_left if r[1] == "RQ3.test-collaborative"}
    assert added and all(status == "suggested" for *_, status in added)


def test_cli_code_says_which_coder_and_learn_shows_words(tmp_path, study):
    path = tmp_path / "w.db"
    runner = CliRunner()
    assert runner.invoke(cli, ["init", "--db", str(path)]).exit_code == 0
    assert runner.invoke(cli, ["ingest", str(study), "--skip-bad", "--db", str(path)]).exit_code == 0
    result = runner.invoke(cli, ["code", "--db", str(path), "--coder", "ann"])
    assert result.exit_code == 0, result.output
    assert "learned model learned:" in result.output and "too young" in result.output
    assert "New suggestions by coder:" in result.output and "(auto:" in result.output
    keyed = sqlite_utils.Database(path).execute(
        "SELECT count(*) FROM codings WHERE coder LIKE 'auto:%' AND code_id IN ('RQ1','RQ2','RQ3','RQ4','RQ5','RQ6')").fetchone()[0]
    assert keyed  # the sample study has research questions named by their key terms: the codebook's, and said so
    assert f"and {keyed:,} research questions named by their key terms (auto:" in result.output
    (detail,) = sqlite_utils.Database(path).execute("SELECT detail FROM audit_log WHERE action = 'code.run'").fetchone()
    assert json.loads(detail)["keyed"] == keyed  # the run's record says so too
    learn = runner.invoke(cli, ["learn", "--db", str(path), "--top", "3"])
    assert learn.exit_code == 0, learn.output
    assert "default model" in learn.output and "RQ4:" in learn.output
    plain = runner.invoke(cli, ["code", "--patterns-only", "--db", str(path)])
    assert plain.exit_code == 0 and "patterns only" in plain.output
    missing = runner.invoke(cli, ["learn", "--db", str(tmp_path / "nope.db")])
    assert missing.exit_code == 1 and "no such database" in missing.output


def test_training_sets_leave_held_out_files_out():
    names = [p.name for p in learned.training_files()]
    assert "labelled_excerpts.yaml" in names and "fresh_excerpts.yaml" in names
    assert not [n for n in names if "heldout" in n]
    assert "seed_labels.yaml" not in [p.name for p in learned.training_files() if learned.labelled_items(p)]


def test_cross_validated_floors():
    """Cross-validated RQ-level figures of the two-level coder (benchmarks/quality.py --cv) on
    two real-register sets, the spoken and the mixed one (the others are scored by the
    benchmark only)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import quality

    floors = {"register": 0.80, "voices": 0.74}  # k = 3 pooled figures, some points under k = 5's
    result = quality.cross_validate(quality.Bench(DEFAULT), k=3, only=set(floors), pooled=True)
    assert set(floors) <= set(result), quality.cv_report(result)
    for name, floor in floors.items():
        assert result[name]["combined"]["macro_f1"] >= floor, quality.cv_report(result)
        assert result[name]["combined"]["coded_rate"] <= 1.8, quality.cv_report(result)
    if "seeds (CV)" in result:  # 0.418 since the seed labels were adjudicated (tests/data/second_coder/seeds.yaml)
        assert result["seeds (CV)"]["combined"]["macro_f1"] >= 0.36, quality.cv_report(result)


def test_learning_curve_scores_the_unseen_rest_against_the_default_model():
    """benchmarks/quality.py --curve: the simulated reviewer's decisions come from the front
    of each order, the rest is scored by the study model and by the default model beside it."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import quality

    bench = quality.Bench(DEFAULT)
    items = quality.labelled_sets()["first"]
    default = bench.train([quality._example(i) for i in items[:40]])
    examples, reviewed = quality.simulate_decisions(bench, default, items, 25)
    assert sum(len(e.labels) for e in examples) >= 25 and reviewed >= len(examples)
    assert {e.origin for e in examples} <= {i["id"] for i in items[:reviewed]}
    for example in examples:
        item = next(i for i in items if i["id"] == example.origin)
        assert {rq for rq, y in example.labels.items() if y} == set(item["rqs"])  # every missed RQ added
    curve = quality.learning_curve(bench, points=(0, 25), orders=2, only={"first"})
    row = curve["first"]
    assert row[0]["macro_f1"] == row[0]["default_f1"] and row[0]["orders"] == 2 and row[0]["decisions"] == 0
    assert row[25]["decisions"] >= 25 and row[25]["rest"] < row[0]["rest"] == len(items)
    assert "first" in quality.curve_report(curve)


def test_character_ngram_block_is_scikit_learns_char_wb(featurizer):
    """The model's second block is exactly scikit-learn's ``char_wb`` 3-5-gram sublinear
    tf-idf (smooth idf, l2) over the excerpt's lemmas: same vocabulary, same values."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    model = learned.train(SMALL, featurizer)
    lemmas = lambda docs: [" ".join(d.lemmas) for d in docs]  # noqa: E731
    reference = TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(learned.SETTINGS["char_ngrams"]), sublinear_tf=True,
                                lowercase=False)
    reference.fit(lemmas(featurizer.terms(e.text) for e in SMALL))
    assert model.char_vocabulary == reference.vocabulary_
    texts = ["The hospitals' income was sub-contracted to the partners, and the partners' partners.",
             "Underfunding, underfunded, funding: the money again.", "Zzz qqq.", ""]
    docs = [featurizer.terms(t) for t in texts]
    ours = model.char_matrix(docs).toarray()
    theirs = reference.transform(lemmas(docs)).toarray()
    assert ours.shape == theirs.shape and abs(ours - theirs).max() < 1e-5
    assert ours[0].any() and not ours[2].any() and not ours[3].any()


def test_character_ngrams_carry_evidence_to_words_never_trained_on(engine, featurizer):
    """'Subfunding' is in no training example, but its n-grams are those of 'funding' and
    'underfunded': it raises RQ4 above an excerpt without it, and the explanation names it."""
    model = learned.train(SMALL, featurizer)
    text = "Subfunding again."
    terms = featurizer.terms(text)
    assert "subfunding" in terms and "subfunding" not in model.vocabulary
    assert model.probabilities(terms)["RQ4"] > model.probabilities(featurizer.terms("Again."))["RQ4"] + 0.05
    assert dict(model.contributions(terms, "RQ4", top=10)).get("subfunding", 0) > 0
    words, offsets = coding.Coder(engine, model, featurizer).explain(text, terms, "RQ4")
    assert words[:1] == ["Subfunding"] and offsets[:1] == [[0, 10]]


def test_explanations_name_words_not_function_words(engine, featurizer):
    """A word pair with a function word ("the icb") weighs as its content word in an
    explanation and in `learn`'s top words: "ICB", never "the ICB"."""
    assert learned.shown_term("the icb") == "icb" and learned.shown_term("icb the") == "icb"
    assert learned.shown_term("joint committee") == "joint committee" and learned.shown_term("of the") == "of the"
    model = learned.default_model(engine.book, featurizer)
    for words in learned.top_words(model, 20).values():
        assert len(words) == len(set(words)) and all(w == learned.shown_term(w) for w in words), words
    coder = coding.Coder(engine, model, featurizer)
    text = "We meet the ICB every month and the collaborative's plans are now part of the ICB's own plan for the system."
    carried = [s for s in coder.suggest(text, engine.match(text)) if s.coder.startswith("learned:")]
    assert carried, "the learned model carries RQ5 here"
    for s in carried:
        assert s.terms and not any(t.lower().startswith("the ") for t in s.terms), s.terms
        assert all(text[a:b] == t for t, (a, b) in zip(s.terms, s.offsets))
