"""The publish database is written as a stream (``casestudy.consent.publish._build``): rows go
to the file in batches as they are made, and later tables read earlier ones back from it.

These tests pin what streaming must not change: the same file whatever the batch size (so
no row depends on which batch it fell in, nor on what a read-back saw), the same file twice,
and every value one table copies from another (an excerpt's published text, quotable flag,
span offsets, its source's title) agreeing with the table it came from.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

import consent_study as cs
from casestudy import db as dblib
from casestudy.coding import review
from casestudy.consent import publish
from casestudy.consent import register as consent
from filemakers import dump_db, rows


def _dump(path: Path) -> list[str]:
    """``dump_db`` without what differs between two builds of the same data (time built, seconds taken)."""
    out = []
    for line in dump_db(path):
        if line.startswith('INSERT INTO "publish_info"'):
            line = re.sub(r"VALUES\('built_at','[^']*'\)", "VALUES('built_at','-')", line)
            line = re.sub(r'"seconds": [0-9.]+', '"seconds": -', line)
        out.append(line)
    return out


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    """The consent study, coded, with human work on top: decisions and hand codings on spans
    (many over names, so offsets are mapped through pseudonyms), memos on excerpts, sources
    and codes; S03 withdrew (forbidden words) and S04 refused quotation (withheld rows)."""
    work = cs.build(tmp_path_factory.mktemp("stream-study"))
    db = dblib.open_db(work)
    rng = random.Random(7)
    codings = db.execute("SELECT c.id, e.text FROM codings c JOIN excerpts e ON e.id = c.excerpt_id ORDER BY c.id").fetchall()
    for coding_id, text in rng.sample(codings, 25):
        start = rng.randrange(len(text) // 2)
        review.decide(db, [coding_id], rng.choice(["accepted", "rejected"]), rng.choice(["ann", "ben"]),
                      span=(start, min(len(text), start + rng.randint(5, 60))))
    codes = [r[0] for r in db.execute("SELECT id FROM codes WHERE codable = 1 ORDER BY id")]
    named = db.execute(
        "SELECT id, text FROM excerpts WHERE is_interviewer = 0 AND text <> display_text ORDER BY id"
    ).fetchall()
    assert named, "the study must have excerpts whose names were replaced"
    for excerpt_id, text in named:
        start = rng.randrange(len(text) // 2)
        review.add(db, excerpt_id, rng.choice(codes), "cat", span=(start, min(len(text), start + 40)))
    with db.atomic():
        sources = [r[0] for r in db.execute("SELECT id FROM sources ORDER BY id")]
        for n, source_id in enumerate(sources):
            db["memos"].insert({"source_id": source_id, "author": "ann", "text": f"source memo {n}"})
        db["memos"].insert({"code_id": codes[0], "author": "ben", "text": "a memo on a theme"})
        consent.withdraw(db, "S03", "2024-06-01", "test")
    db.close()
    return work


@pytest.mark.parametrize("batch", [1, 2, 7])
def test_the_same_file_whatever_the_batch_size(study, tmp_path, monkeypatch, batch):
    whole = publish.publish(study, tmp_path / "default.db")
    monkeypatch.setattr(publish, "_BATCH", batch)
    small = publish.publish(study, tmp_path / "small.db")
    assert {k: v for k, v in small.items() if k != "seconds"} == {k: v for k, v in whole.items() if k != "seconds"}
    assert whole["evidence"] > 2 * batch and whole["excerpts"] > 2 * batch  # several batches each
    assert _dump(tmp_path / "small.db") == _dump(tmp_path / "default.db")


def test_the_sample_corpus_gives_the_same_file_in_small_batches(served_study, tmp_path, monkeypatch):
    work, _ = served_study
    publish.publish(work, tmp_path / "default.db")
    monkeypatch.setattr(publish, "_BATCH", 3)
    counts = publish.publish(work, tmp_path / "small.db")
    assert counts["evidence"] > 1000 and counts["disclosures_generalised"] > 0 and counts["withheld_quotes"] > 0
    assert _dump(tmp_path / "small.db") == _dump(tmp_path / "default.db")


@pytest.fixture(scope="module")
def published(study, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("stream-pub") / "pub.db"
    publish.publish(study, out)
    return out


def test_sources_hold_their_excerpts_text_in_order(published):
    excerpts = rows(published, "SELECT id, source_id, text, char_start, char_end FROM excerpts ORDER BY source_id, seq")
    for source in rows(published, "SELECT id, text, excerpts FROM sources"):
        mine = [e for e in excerpts if e["source_id"] == source["id"]]
        assert source["excerpts"] == len(mine)
        assert source["text"] == "\n\n".join(e["text"] for e in mine)
        for e in mine:  # offsets index the source's published text
            assert source["text"][e["char_start"]:e["char_end"]] == e["text"]


def test_evidence_copies_its_excerpt_source_and_participant(published):
    excerpts = {e["id"]: e for e in rows(published, "SELECT * FROM excerpts")}
    sources = {s["id"]: s for s in rows(published, "SELECT id, kind, title FROM sources")}
    people = {p["id"]: p for p in rows(published, "SELECT id, role, org_type FROM participants")}
    evidence = rows(published, "SELECT * FROM evidence")
    assert any(ev["span_start"] is not None for ev in evidence)
    assert any(not ev["quotable"] for ev in evidence)
    for ev in evidence:
        excerpt = excerpts[ev["excerpt_id"]]
        assert excerpt["speaker_role"] != "interviewer"
        for key in ("text", "heading", "speaker_role", "participant_id", "quotable", "source_id"):
            assert ev[key] == excerpt[key], (ev["coding_id"], key)
        assert (ev["source_kind"], ev["source_title"]) == (sources[ev["source_id"]]["kind"], sources[ev["source_id"]]["title"])
        person = people.get(ev["participant_id"], {})
        assert (ev["participant_role"], ev["org_type"]) == (person.get("role"), person.get("org_type"))
        if ev["span_start"] is not None:
            assert ev["quote"] == ev["text"][ev["span_start"]:ev["span_end"]] and ev["quote"]
        if not ev["quotable"]:
            assert ev["participant_id"] is None and ev["terms"] == "[]" and ev["offsets"] == "[]"
        for start, end in json.loads(ev["offsets"]):
            assert 0 <= start <= end <= len(ev["text"])


def test_coding_details_are_the_published_codings(published):
    evidence = {ev["coding_id"]: ev for ev in rows(published, "SELECT coding_id, text, quotable, span_start, span_end FROM evidence")}
    details = rows(published, "SELECT * FROM coding_details")
    assert [d["coding_id"] for d in details] == sorted(evidence)
    spanned = [d for d in details if d["span_start"] is not None]
    assert spanned
    for d in spanned:
        ev = evidence[d["coding_id"]]
        assert ev["quotable"] and 0 <= d["span_start"] < d["span_end"] <= len(ev["text"])


def test_counts_agree_with_the_rows(published):
    count = lambda sql: rows(published, sql)[0]["n"]  # noqa: E731
    for person in rows(published, "SELECT id, excerpts FROM participants"):
        assert person["excerpts"] == count(f"SELECT count(*) AS n FROM excerpts WHERE participant_id = '{person['id']}'")
    counts = publish.read_counts(published)
    assert counts["withheld_quotes"] == count("SELECT count(*) AS n FROM excerpts WHERE quotable = 0") > 0
    assert counts["evidence"] == count("SELECT count(*) AS n FROM evidence")
    framework = rows(published, "SELECT * FROM framework")
    assert sum(f["excerpts"] for f in framework) == count(
        "SELECT count(*) AS n FROM (SELECT DISTINCT rq, code_id, ics, wave, excerpt_id FROM evidence)")
    # a participant who refused quotation is counted in the framework, never named
    assert any(f["participants"] > count(
        f"SELECT count(DISTINCT participant_id) AS n FROM evidence WHERE code_id = '{f['code_id']}' AND ics = '{f['ics']}'")
        for f in framework if f["ics"] == "Saltmarsh Coast")


def test_memos_and_ratings_only_on_what_was_published(published):
    quotable = {r["id"] for r in rows(published, "SELECT id FROM excerpts WHERE quotable = 1")}
    memos = rows(published, "SELECT * FROM memos")
    assert any(m["source_id"] for m in memos) and any(m["code_id"] for m in memos)
    assert all(m["excerpt_id"] in quotable for m in memos if m["excerpt_id"] is not None)
    sources = {s["id"]: s for s in rows(published, "SELECT id, participant_id, ics, wave FROM sources")}
    assert all(m["source_id"] in sources for m in memos if m["source_id"] is not None)
    where = {e["id"]: sources[e["source_id"]] for e in rows(
        published, "SELECT id, source_id FROM excerpts WHERE speaker_role IS NOT 'interviewer'")}
    ratings = rows(published, "SELECT * FROM agreement_ratings")
    assert ratings
    for r in ratings:
        assert (r["ics"], r["wave"]) == (where[r["excerpt_id"]]["ics"], where[r["excerpt_id"]]["wave"])
