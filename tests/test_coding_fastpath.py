"""Coding's fast paths give exactly what the plain, per-excerpt paths give, on the shipped
sample study (corpus/): token patterns run only in anchor windows (and skipped in windows
missing a word every match needs) against every pattern run on the whole excerpt; the
batched coder (one tokenizer.pipe, one sparse product per page of excerpts) against one
excerpt at a time; the rows `code` writes (terms, offsets and display terms built as each
row is written) against json.dumps and pseudonyms.display_terms of the per-excerpt
suggestions, on a first run and on a re-coding that updates rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from casestudy import db as dblib
from casestudy.coding import codebook, learned
from casestudy.coding import engine as coding
from casestudy.consent import pseudonyms
from casestudy.ingest import files as ingest

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpus"


@pytest.fixture(scope="module")
def book():
    return codebook.load(REPO / "codebook")


@pytest.fixture(scope="module")
def engine(book):
    return coding.engine_for(book)


@pytest.fixture(scope="module")
def corpus_db(tmp_path_factory) -> Path:
    """The sample study ingested (not coded): copy before changing."""
    path = tmp_path_factory.mktemp("fastpath") / "ingested.db"
    db = dblib.open_db(path)
    ingest.ingest(db, [CORPUS], actor="test")
    db.close()
    return path


@pytest.fixture(scope="module")
def texts(corpus_db) -> list[tuple[int, str]]:
    db = dblib.open_db(corpus_db)
    rows = db.execute(f"SELECT e.id, e.text {coding.CODABLE_FROM} ORDER BY e.id").fetchall()
    db.close()
    assert len(rows) > 300  # the sample study, not an empty fixture
    return rows


def _plain_engine(book) -> coding.Engine:
    """A real engine with every token pattern run on the whole excerpt: no anchors, no windows."""
    plain = coding.Engine(book)
    for index in range(len(plain.token_matchers)):
        if f"@{index}" in plain.phrase_matcher:
            plain.phrase_matcher.remove(f"@{index}")
    plain._anchor_ids = {k: v for k, v in plain._anchor_ids.items() if v < 0}  # context sets stay
    plain._always = list(range(len(plain.token_matchers)))
    return plain


def _as_rows(matches):
    return [(m.code_id, m.terms, m.offsets, m.score) for m in matches]


def test_windowed_token_patterns_match_like_whole_excerpts(book, engine, texts):
    plain = _plain_engine(book)
    assert engine._anchor_ids and any(v >= 0 for v in engine._anchor_ids.values())  # the windows are on
    bodies = [text for _, text in texts]
    # a few texts where anchors occur with and without the rest of their pattern nearby
    bodies += [
        "The collaborative agreed a joint committee; the joint working of the committee in common was delayed.",
        "Committee. " * 30 + "in common",
        "We pooled the budget. " + "Nothing else happened here at all. " * 10 + "A lead provider contract followed.",
    ]
    fast = [_as_rows(m) for m in engine.match_many(bodies)]
    assert fast == [_as_rows(plain.match(text)) for text in bodies]
    assert fast == [_as_rows(engine.match(text)) for text in bodies]
    assert sum(len(m) for m in fast) > len(bodies)  # the corpus is really coded


def test_batched_coder_suggests_like_one_excerpt_at_a_time(book, engine, texts):
    featurizer = learned.Featurizer(engine.lemma_of)
    model = learned.default_model(book, featurizer)
    bodies = [text for _, text in texts]
    batched = list(coding.Coder(engine, model, featurizer).suggest_many(bodies))
    one = coding.Coder(engine, model, featurizer)
    single = [one.suggest(text, engine.match(text)) for text in bodies]  # own terms, model.probabilities
    assert batched == single
    coders = {s.coder for ss in batched for s in ss}
    assert any(c.startswith("auto:") for c in coders) and any(c.startswith("learned:") for c in coders)
    # themes kept by the sentence they matched in (the excerpt alone gave their RQ < VETO) are batched too
    whole = model.probabilities_many([featurizer.terms(text) for text in bodies])
    assert [s for ss, p in zip(batched, whole) for s in ss if s.coder.startswith("auto:") and p[s.rq] < coding.VETO]
    # the batched probabilities are the per-excerpt model's up to the order of float sums (the
    # suggestions above, which carry them rounded to 3 places, are equal exactly)
    docs = [featurizer.terms(text) for text in bodies[:200]]
    for many, one in zip(model.probabilities_many(docs), [model.probabilities(terms) for terms in docs]):
        assert many.keys() == one.keys() and all(abs(many[rq] - one[rq]) < 1e-12 for rq in one)


def _stored(db) -> dict[tuple[int, str], tuple]:
    return {
        (row[0], row[1]): row[2:]
        for row in db.execute(
            "SELECT excerpt_id, code_id, coder, terms, offsets, score, display_terms FROM codings WHERE status = 'suggested'"
        ).fetchall()
    }


def _expected(db, book, engine, texts, use_model: bool) -> dict[tuple[int, str], tuple]:
    """What `code` must store, from the per-excerpt path and the library's own JSON and display terms."""
    featurizer = learned.Featurizer(engine.lemma_of)
    model = learned.default_model(book, featurizer) if use_model else None
    coder = coding.Coder(engine, model, featurizer)
    pseudonymise = pseudonyms.from_db(db)
    out = {}
    for excerpt_id, text in texts:
        for sg in coder.suggest(text, engine.match(text)):
            terms = json.dumps(sg.terms, ensure_ascii=False)
            display = None if terms == "[]" else pseudonyms.display_terms(terms, pseudonymise)
            out[(excerpt_id, sg.code_id)] = (sg.coder, terms, json.dumps(sg.offsets), sg.score, display)
    return out


def test_stored_rows_are_the_per_excerpt_suggestions(tmp_path, corpus_db, book, engine, texts):
    path = tmp_path / "work.db"
    path.write_bytes(corpus_db.read_bytes())
    db = dblib.open_db(path)
    first = coding.code_database(db, book, actor="test", use_model=False, chunk=97)  # pages cut mid-source
    assert _stored(db) == _expected(db, book, engine, texts, use_model=False)
    ids = dict(db.execute("SELECT excerpt_id || '/' || code_id, id FROM codings").fetchall())
    # re-coding with the learned model: rows kept (updated in place), withdrawn, added
    second = coding.code_database(db, book, actor="test")
    assert second.kept and second.suggestions and second.dropped
    assert _stored(db) == _expected(db, book, engine, texts, use_model=True)
    kept = dict(db.execute("SELECT excerpt_id || '/' || code_id, id FROM codings").fetchall())
    assert sum(1 for k, v in kept.items() if ids.get(k) == v) == second.kept  # same ids for kept rows
    # and what a full refresh of display terms would write is what is there
    before = db.execute("SELECT id, display_terms FROM codings ORDER BY id").fetchall()
    pseudonyms.fill_display_terms(db, every=True)
    assert db.execute("SELECT id, display_terms FROM codings ORDER BY id").fetchall() == before
    assert first.excerpts == second.excerpts == len(texts)
    db.close()


def test_display_terms_written_with_rows_pseudonymise_like_the_refresh():
    pseudonymise = pseudonyms.build({"Helen Marsh": "[P01]", "Daniel Okoro": "[P02]"}, set())
    shown = coding._DisplayTerms(pseudonymise)
    cases = [[], ["the board"], ["Helen Marsh said", "the board"], ["Okoro's plan", "Daniel Okoro", "Helen"],
             ['a "quoted" word', "caf\u00e9 \u2019s"]]
    for terms in cases * 2:  # twice: the second time from the per-term cache
        terms_json = coding._terms_json(terms)
        assert terms_json == json.dumps(terms, ensure_ascii=False)
        expected = None if terms_json == "[]" else pseudonyms.display_terms(terms_json, pseudonymise)
        assert shown(terms, terms_json) == expected
    assert shown(["Helen Marsh said"], coding._terms_json(["Helen Marsh said"])) != '["Helen Marsh said"]'
