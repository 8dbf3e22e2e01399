"""Round trip of the shipped sample study: corpus/ ingested through the command line."""

from __future__ import annotations

import csv
import re
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from casestudy.cli.main import cli

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
pytestmark = pytest.mark.skipif(
    not (CORPUS / "manifest.csv").is_file(),
    reason="corpus/manifest.csv does not exist yet (scripts/build_corpus.py writes it)",
)


@pytest.fixture(scope="module")
def corpus_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "corpus.db"
    result = CliRunner().invoke(cli, ["ingest", str(CORPUS), "--db", str(path)])
    assert result.exit_code == 0, result.output
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    yield conn
    conn.close()


def query(conn, sql, params=()):
    return [dict(r) for r in conn.execute(sql, params)]


def manifest_rows():
    with (CORPUS / "manifest.csv").open(encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def test_every_manifest_file_is_a_source(corpus_db):
    listed = [r for r in manifest_rows() if r["kind"] not in ("consent", "names", "indicators")]  # tables, not sources
    stored = {Path(r["path"]).resolve() for r in query(corpus_db, "SELECT path FROM sources")}
    withdrawn = {r["participant_id"] for r in query(corpus_db, "SELECT participant_id FROM consents WHERE withdrawn_date IS NOT NULL")}
    for row in listed:  # every file is stored, unless its participant has withdrawn
        assert (CORPUS / row["path"]).resolve() in stored or row["participant_id"] in withdrawn, row
    assert len(stored) >= len(listed) - len(withdrawn)
    kinds = {r["kind"] for r in query(corpus_db, "SELECT DISTINCT kind FROM sources")}
    assert kinds == {"transcript", "board-paper", "policy", "observation"}
    formats = {r["format"] for r in query(corpus_db, "SELECT DISTINCT format FROM sources WHERE kind = 'transcript'")}
    assert formats <= {"docx", "txt", "md", "vtt"} and len(formats) >= 3


def test_consent_rows(corpus_db):
    register = next(r["path"] for r in manifest_rows() if r["kind"] == "consent")
    with (CORPUS / register).open(encoding="utf-8-sig") as handle:
        expected = sum(1 for row in csv.reader(handle) if any(cell.strip() for cell in row)) - 1
    assert corpus_db.execute("SELECT count(*) FROM consents").fetchone()[0] == expected
    # every interviewed participant is in the register and consented to interview
    missing = query(
        corpus_db,
        "SELECT s.path FROM sources s LEFT JOIN consents c ON c.participant_id = s.participant_id "
        "WHERE s.kind = 'transcript' AND (c.participant_id IS NULL OR c.interview != 1)",
    )
    assert missing == []


def test_transcript_turns_have_speakers(corpus_db):
    turns = query(
        corpus_db,
        "SELECT e.*, s.participant_id AS owner FROM excerpts e JOIN sources s ON s.id = e.source_id WHERE s.kind = 'transcript'",
    )
    assert turns
    for turn in turns:
        assert turn["speaker"] and turn["turn"], turn
        if turn["is_interviewer"]:
            assert (turn["speaker_role"], turn["participant_id"]) == ("interviewer", None), turn
        else:
            assert (turn["speaker_role"], turn["participant_id"]) == ("participant", turn["owner"]), turn
    per_source = query(
        corpus_db,
        "SELECT source_id, sum(is_interviewer) AS asked, sum(1 - is_interviewer) AS answered FROM excerpts "
        "WHERE speaker IS NOT NULL GROUP BY source_id",
    )
    assert all(r["asked"] >= 3 and r["answered"] >= 3 for r in per_source), per_source


def test_pdf_excerpts_cite_pages(corpus_db):
    pdfs = query(corpus_db, "SELECT id, pages FROM sources WHERE format = 'pdf'")
    assert pdfs
    for pdf in pdfs:
        pages = [r["page"] for r in query(corpus_db, "SELECT page FROM excerpts WHERE source_id = ? ORDER BY seq", [pdf["id"]])]
        assert None not in pages and pages == sorted(pages)
        assert set(pages) == set(range(1, pdf["pages"] + 1)), (pdf, set(pages))
    assert query(corpus_db, "SELECT count(*) AS n FROM excerpts e JOIN sources s ON s.id = e.source_id "
                            "WHERE s.format != 'pdf' AND e.page IS NOT NULL") == [{"n": 0}]


def test_no_running_headers_or_footers_in_pdf_excerpts(corpus_db):
    import pdfplumber

    for pdf in query(corpus_db, "SELECT id, path FROM sources WHERE format = 'pdf'"):
        texts = [r["text"] for r in query(corpus_db, "SELECT text FROM excerpts WHERE source_id = ?", [pdf["id"]])]
        with pdfplumber.open(pdf["path"]) as document:
            page = document.pages[1]
            lines = page.extract_text_lines()
            margin = [l["text"] for l in lines if l["top"] < page.height * 0.08 or l["bottom"] > page.height * 0.92]
        assert margin, "expected a running header or footer in the sample PDFs"
        for line in margin:
            assert not any(line in t for t in texts), (pdf["path"], line)
        for text in texts:
            assert not re.fullmatch(r"(?i)(page\s*)?\d+(\s*(of|/)\s*\d+)?", text)
            assert not re.search(r"(?i)\bpage \d+ of \d+\b", text), text


def test_excerpts_are_sensible(corpus_db):
    texts = [r["text"] for r in query(corpus_db, "SELECT text FROM excerpts")]
    split = [m.group(0) for t in texts for m in re.finditer(r"\b[a-z]{2,}- (?!and\b|or\b|to\b)[a-z]{2,}\b", t)]
    assert split == [], split[:10]
    assert not any("\u00ad" in t or "\r" in t or t != t.strip() for t in texts)
    documents = query(
        corpus_db,
        "SELECT e.heading FROM excerpts e JOIN sources s ON s.id = e.source_id WHERE s.kind != 'transcript'",
    )
    with_heading = sum(1 for d in documents if d["heading"])
    assert with_heading / len(documents) > 0.8  # headings kept as context


def test_offsets_and_display_text(corpus_db):
    for row in query(
        corpus_db,
        "SELECT e.text, e.display_text, e.char_start, e.char_end, s.text AS whole FROM excerpts e JOIN sources s ON s.id = e.source_id",
    ):
        assert row["whole"][row["char_start"]:row["char_end"]] == row["text"]
        assert row["display_text"]
    names = [r["name"] for r in query(corpus_db, "SELECT name FROM participants WHERE name IS NOT NULL")]
    shown = " ".join(r["display_text"] for r in query(corpus_db, "SELECT display_text FROM excerpts"))
    assert names and not any(name in shown for name in names)
