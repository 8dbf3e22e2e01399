"""A real browser (Debian chromium, headless, via playwright) against a real `casestudy serve`.

Loads the evidence page with a facet selected and a search, and checks what a person sees:
the highlighted term, the facet counts; follows the home page's "Start here" links. Saves
a screenshot (to $CASESTUDY_SCREENSHOT_DIR, e.g. docs/img to refresh the README's picture;
otherwise to a temporary folder, so tests never change tracked files). Skipped only when
chromium (or playwright) is absent.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from test_serve import free_port, start_server, stop, wait_for

CHROMIUM = "/usr/bin/chromium"
REPO = Path(__file__).resolve().parent.parent
SCREENSHOT_DIR = Path(os.environ.get("CASESTUDY_SCREENSHOT_DIR") or Path(tempfile.gettempdir()) / "casestudy-screenshots")
SCREENSHOT = SCREENSHOT_DIR.resolve() / "datasette-evidence.png"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium at /usr/bin/chromium"),
]
playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def server(served_study):
    from casestudy.browse import serve

    work, pub = served_study
    port = free_port()
    process = start_server(["--port", str(port), "--db", str(work), "--publish-db", str(pub)], env={serve.PASSWORD_ENV: ""})
    try:
        assert wait_for(f"http://127.0.0.1:{port}/").status_code == 200
        yield f"http://127.0.0.1:{port}", pub
    finally:
        stop(process)


@pytest.fixture(scope="module")
def page():
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        yield page
        browser.close()


def q(pub, sql, *params):
    conn = sqlite3.connect(f"file:{pub}?mode=ro", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def test_evidence_page_with_a_facet_and_a_search(server, page):
    base, pub = server
    term = "lead provider"
    expected = q(pub, """SELECT count(*) FROM evidence WHERE ics = 'Kellbridge' AND rowid IN
                         (SELECT rowid FROM evidence_fts WHERE evidence_fts MATCH '"lead provider"')""")[0][0]
    by_rq = dict(q(pub, """SELECT rq, count(*) FROM evidence WHERE ics = 'Kellbridge' AND rowid IN
                           (SELECT rowid FROM evidence_fts WHERE evidence_fts MATCH '"lead provider"') GROUP BY rq"""))
    assert expected > 0
    page.goto(f"{base}/study/evidence?ics=Kellbridge&_search=%22lead+provider%22")
    # the count line a person reads first
    assert f"{expected:,} row" in page.locator("h3").first.inner_text()
    # the selected facet, with its count
    ics_facet = page.locator("#facet-ics")
    assert f"Kellbridge · {expected:,}" in ics_facet.inner_text().replace("\u00b7", "·")
    # the RQ facet counts the filtered rows
    rq_text = page.locator("#facet-rq").inner_text()
    for rq, n in by_rq.items():
        assert f"{rq} {n:,}" in rq_text
    # the search term, highlighted where the codebook matched it, in the code's colour
    marks = page.locator("td.col-text mark.cs-term")
    assert marks.count() > 0
    texts = [t.strip().lower() for t in marks.all_inner_texts()]
    assert term in texts
    mark = marks.filter(has_text="lead provider").first
    background = mark.evaluate("m => getComputedStyle(m).backgroundColor")
    assert background not in ("rgba(0, 0, 0, 0)", "transparent")
    # every row shown is in Kellbridge and mentions the search
    ics_cells = page.locator("td.col-ics").all_inner_texts()
    assert ics_cells and set(c.strip() for c in ics_cells) == {"Kellbridge"}
    # the search box keeps the query
    assert page.locator("input#_search").input_value() == '"lead provider"'
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    # the picture a researcher sees: search box, facets and the first rows
    page.set_viewport_size({"width": 1440, "height": 1800})
    page.evaluate("window.scrollTo(0, document.querySelector('h3').getBoundingClientRect().top + window.scrollY - 10)")
    page.screenshot(path=str(SCREENSHOT), full_page=False)
    assert SCREENSHOT.stat().st_size > 20_000


def test_start_here_leads_to_the_matrix_and_the_evidence_behind_a_number(server, page):
    base, pub = server
    page.goto(base + "/")
    assert page.get_by_role("heading", name="Start here").is_visible()
    page.get_by_role("link", name="Framework matrix").click()
    page.wait_for_load_state()
    assert "framework_matrix" in page.url
    rows = page.locator("table.rows-and-columns tbody tr")
    assert rows.count() == 6
    cell = page.locator("a.cs-cell").first
    number = int(cell.inner_text())
    cell.click()
    page.wait_for_load_state()
    assert "evidence_for" in page.url
    shown = page.locator("table.rows-and-columns tbody tr").count()
    assert shown >= number  # one row per (excerpt, code): at least one per excerpt counted
    # an excerpt's context link opens its interview or document with the neighbouring turns
    page.locator("a.cs-context").first.click()
    page.wait_for_load_state()
    assert "excerpt_context" in page.url
    assert page.locator("span.cs-here").count() == 1


def test_search_from_the_home_page(server, page):
    base, pub = server
    page.goto(base + "/")
    page.fill("form.cs-search input[name=_search]", "waiting lists")
    page.select_option("form.cs-search select[name=wave]", "3")
    page.click("form.cs-search input[type=submit]")
    page.wait_for_load_state()
    assert "/study/evidence" in page.url and "_search=waiting+lists" in page.url
    waves = {c.strip() for c in page.locator("td.col-wave").all_inner_texts()}
    assert waves == {"3"}
