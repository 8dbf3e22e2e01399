"""The fast paths give the same results as the slow ones they short-cut.

PDF text through PDFium vs pdfplumber, the pseudonymiser's token index vs the one regex of
every name it replaced (tests/pseudonyms_reference.py),
and the full-text index kept by bulk insert on ingest vs the per-row trigger.
"""

from __future__ import annotations

import random

import pytest

import filemakers as fm
from casestudy import db as dblib
from casestudy.ingest import files as ingest
import pseudonyms_reference
from casestudy.consent import pseudonyms
from casestudy.ingest import readers


def _blocks(path, monkeypatch, pdfium: bool):
    if not pdfium:
        monkeypatch.setattr(readers, "_pdfium_pages", lambda p: None)
    blocks, pages = readers.read_pdf_blocks(path)
    monkeypatch.undo()
    return [(b.text, b.page, b.is_heading, b.level) for b in blocks], pages


@pytest.mark.parametrize("pages", [fm.PDF_PAGES, [[("p", ["the long-", "term plan and the organ-", "isation 2024-", "25"])]] * 3])
def test_pdf_pdfium_same_blocks_as_pdfplumber(tmp_path, monkeypatch, pages):
    path = fm.write_pdf_board_paper(tmp_path / "b.pdf", pages=pages)
    assert _blocks(path, monkeypatch, pdfium=True) == _blocks(path, monkeypatch, pdfium=False)


def test_pseudonymiser_index_changes_nothing():
    names = {"Siobhan O'Neill-Smith": "[P01]", "Dr Ruth Okafor": "[P02]", "Sørensen, Lars": "[P03]",
             "Will May": "[P04]", "Daniel Okoro": "[P05]"}
    fast = pseudonyms.build(names, {"Kellbridge"})
    slow = pseudonyms_reference.build(names, {"Kellbridge"})
    slow.anchors = None  # the whole alternation on every text
    assert fast.index is not None
    shapes = ["Siobhan ONeill", "O Neill-Smith", "O’Neill–Smith's", "Mr. O'Neill", "SORENSEN", "Lars Sorensen",
              "Sørensen", "Dr\u00a0Okafor", "ruth.okafor@nhs.net", "R. Okafor", "Okafor, Ruth", "Dan Okoro",
              "Will said", "will may", "in May 2025", "Daniel\nOkoro", "£5m to Okoro", "café Okafor", "Marsh"]
    rng = random.Random(0)
    filler = "the board agreed £4m for the lead provider contract – after “long” debate, in May".split()
    texts = shapes + [" ".join(rng.sample(filler, 6) + [rng.choice(shapes)] + rng.sample(filler, 4)) for _ in range(300)]
    for text in texts:
        assert fast.apply(text) == slow.apply(text), text


def test_fts_kept_by_bulk_insert_and_by_trigger(tmp_path):
    db = dblib.open_db(tmp_path / "w.db")
    ingest.ingest(db, [fm.make_study(tmp_path)])
    assert db.execute("SELECT count(*) FROM fts_deferred").fetchone()[0] == 0
    count = db.execute("SELECT count(*) FROM excerpts").fetchone()[0]
    assert db.execute("SELECT count(*) FROM excerpts_fts").fetchone()[0] == count
    db.execute("INSERT INTO excerpts_fts(excerpts_fts, rank) VALUES ('integrity-check', 1)")  # raises if corrupt
    hit = db.execute("SELECT rowid FROM excerpts_fts WHERE excerpts_fts MATCH 'committees'").fetchall()
    assert hit and all(
        "committee" in db.execute("SELECT lower(text) FROM excerpts WHERE id = ?", [r[0]]).fetchone()[0] for r in hit
    )
    # any other insert is indexed by the trigger; updating display_text does not re-index
    source = db.execute("SELECT id FROM sources LIMIT 1").fetchone()[0]
    new_id = db["excerpts"].insert({"source_id": source, "seq": 999, "text": "zyzzyva quorum"}).last_pk
    assert db.execute("SELECT rowid FROM excerpts_fts WHERE excerpts_fts MATCH 'zyzzyva'").fetchall() == [(new_id,)]
    db.execute("UPDATE excerpts SET display_text = 'x' WHERE id = ?", [new_id])
    db.execute("UPDATE excerpts SET text = 'aardvark' WHERE id = ?", [new_id])
    assert db.execute("SELECT rowid FROM excerpts_fts WHERE excerpts_fts MATCH 'zyzzyva'").fetchall() == []
    assert db.execute("SELECT rowid FROM excerpts_fts WHERE excerpts_fts MATCH 'aardvark'").fetchall() == [(new_id,)]
    db.execute("INSERT INTO excerpts_fts(excerpts_fts, rank) VALUES ('integrity-check', 1)")
