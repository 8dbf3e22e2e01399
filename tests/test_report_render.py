"""The Word report of the sample study as a reader sees it: exported with numbered
contents, then laid out independently by LibreOffice and read back from the PDF
(one export and one render per session)."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess

import docx
import pytest
from click.testing import CliRunner

from casestudy.cli.main import cli
from casestudy.ingest.textshape import looks_like_table
from export_pipeline import P12_CANARY

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
pytestmark = [pytest.mark.render, pytest.mark.skipif(SOFFICE is None, reason="LibreOffice (soffice) is not installed")]


def _flat(text: str) -> str:
    return " ".join((text or "").split())


@pytest.fixture(scope="module")
def rendered(export_pipeline_dbs, tmp_path_factory):
    working, published = export_pipeline_dbs
    folder = tmp_path_factory.mktemp("render")
    out = folder / "report.docx"
    before = os.environ.get("CASESTUDY_SOFFICE")
    os.environ["CASESTUDY_SOFFICE"] = SOFFICE  # the conftest switches the layout pass off for other tests
    try:
        result = CliRunner().invoke(cli, ["export", "docx", str(out), "--db", str(working), "--publish-db", str(published)])
    finally:
        os.environ["CASESTUDY_SOFFICE"] = before if before is not None else "none"
    assert result.exit_code == 0, result.output
    profile = folder / "lo-profile"
    subprocess.run([SOFFICE, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--convert-to", "pdf",
                    "--outdir", str(folder), str(out)], check=True, capture_output=True, timeout=300)
    from pypdf import PdfReader

    reader = PdfReader(str(folder / "report.pdf"))
    pages = [page.extract_text() or "" for page in reader.pages]
    return out, pages, reader, result.output, published


def _contents(document) -> list[tuple[str, str]]:
    """(title, page number) of each line of the report's contents, as written in the .docx."""
    entries = []
    for p in document.paragraphs:
        if p.style.name in ("toc 1", "toc 2"):
            title, _, number = p.text.partition("\t")
            entries.append((title, number))
    return entries


def test_page_count_is_in_range_and_reported(rendered):
    _, pages, _, output, _ = rendered
    assert 20 <= len(pages) <= 60, len(pages)
    assert f"{len(pages)} pages" in output


def test_contents_show_the_pages_the_headings_are_on(rendered):
    out, pages, reader, _, _ = rendered
    entries = _contents(docx.Document(str(out)))
    assert len(entries) > 50
    assert all(number.isdigit() for _, number in entries), [e for e in entries if not e[1].isdigit()][:5]
    # the numbers are visible on the rendered contents pages, beside their titles
    contents = _flat(" ".join(pages[1:4]))
    assert "Right-click" not in contents and "Update Field" not in contents
    for title, number in entries[:12]:
        assert re.search(re.escape(_flat(title)) + r"[ .…]*" + number + r"\b", contents), (title, number)
    # … and each is the page the heading is on in an independent layout of the final file
    outline = []

    def walk(items):
        for item in items:
            if isinstance(item, list):
                walk(item)
            else:
                outline.append((_flat(item.title), reader.get_destination_page_number(item) + 1))

    walk(reader.outline)
    at = 0
    for title, number in entries:
        while at < len(outline) and outline[at][0] != _flat(title):
            at += 1
        assert at < len(outline), f"no bookmark for {title!r}"
        assert outline[at][1] == int(number), (title, number, outline[at][1])
        assert _flat(title)[:25] in _flat(pages[int(number) - 1]), (title, number)
        at += 1


def test_rendered_quotes_hold_no_table_text_and_no_refused_words(rendered):
    out, pages, _, _, published = rendered
    text = _flat(" ".join(pages))
    conn = sqlite3.connect(published)
    coded = [r[0] for r in conn.execute("SELECT DISTINCT text FROM evidence WHERE source_kind = 'board-paper'")]
    conn.close()
    tables = [t for t in coded if looks_like_table(t) and len(t) > 30]
    assert tables, "the sample study's board papers have coded table rows"
    for row in tables:
        assert _flat(row)[:40] not in text, row
    quotes = [p.text for p in docx.Document(str(out)).paragraphs if p.style.name == "Quote"]
    assert quotes and not any(looks_like_table(q) for q in quotes)
    assert _flat(quotes[0])[:40] in text  # quotes are there to be read
    assert P12_CANARY not in text and "knock on doors" not in text
    assert "Excerpts by ICS" in text and "National" in text and "How quotations are chosen" in text


def test_narrow_columns_break_no_word(rendered):
    """Column labels and indicator names are set whole (a word split over two lines would
    come out of the PDF as two pieces)."""
    _, pages, _, _, _ = rendered
    rq1 = next(page for page in pages if "RQ1: themes by ICS and wave" in page)
    for label in ("Excerpts", "Participants", "Documents", "Ashmoor", "Kellbridge", "Saltmarsh", "National"):
        assert re.search(rf"\b{label}\b", rq1), label
    indicators = next(page for page in pages if "Routine indicators: first and latest values" in page)
    for name in ("Agency spend", "Average length of stay", "Out-of-area placements", "RTT 52-week waits", "£ thousands"):
        assert name in _flat(indicators), name
    assert "_" not in indicators

