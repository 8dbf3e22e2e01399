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
MATRIX_SCREENSHOT = SCREENSHOT_DIR.resolve() / "datasette-matrix.png"
WIDTH = 1400  # the width the pages must be readable at (no sideways scrolling)

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
        page = browser.new_page(viewport={"width": WIDTH, "height": 1000})
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


def test_start_here_leads_to_the_matrix_and_the_evidence_behind_a_number(server, page):
    base, pub = server
    page.goto(base + "/")
    assert page.get_by_role("heading", name="Start here").is_visible()
    page.get_by_role("link", name="Framework matrix").click()
    page.wait_for_load_state()
    assert "framework_matrix" in page.url
    rows = page.locator("table.rows-and-columns tbody tr")
    assert rows.count() == 6
    cell = page.locator("a.cs-cell").nth(4)
    number = int(cell.inner_text())
    cell.click()
    page.wait_for_load_state()
    assert "excerpt_evidence" in page.url
    # the number on the matrix is the number of excerpts its link opens, one row each
    assert f"{number:,} row" in page.locator("h3").first.inner_text()
    assert page.locator("table.rows-and-columns tbody tr").count() == min(number, 50)
    # an excerpt's context link opens its interview or document with the neighbouring turns
    page.locator("a.cs-context").first.click()
    page.wait_for_load_state()
    assert "excerpt_context" in page.url
    assert page.locator("span.cs-here").count() == 1


def test_search_from_the_home_page(server, page):
    base, pub = server
    page.goto(base + "/")
    page.fill("form.cs-search input[name=q]", "waiting lists")
    page.select_option("form.cs-search select[name=wave]", "3")
    page.click("form.cs-search input[type=submit]")
    page.wait_for_load_state()
    assert "/study/search" in page.url and "q=waiting+lists" in page.url
    waves = {c.strip() for c in page.locator("td.col-wave").all_inner_texts()}
    assert waves == {"3"}


def fits(page, selector="body") -> bool:
    """Nothing on the page is wider than the window (no sideways scrolling, nothing cut off)."""
    return page.evaluate(
        """sel => {
            const doc = document.documentElement;
            if (doc.scrollWidth > window.innerWidth + 1) return false;
            return Array.from(document.querySelectorAll(sel)).every(el => el.scrollWidth <= el.clientWidth + 1);
        }""",
        selector,
    )


def test_excerpt_evidence_page_quote_first_codes_together_technical_one_click_away(server, page):
    base, pub = server
    page.goto(f"{base}/study/excerpt_evidence?ics=Kellbridge&_search=%22lead+provider%22")
    expected = q(pub, """SELECT count(*) FROM excerpt_evidence WHERE ics = 'Kellbridge' AND excerpt_id IN
                         (SELECT rowid FROM excerpt_evidence_fts WHERE excerpt_evidence_fts MATCH '"lead provider"')""")[0][0]
    assert expected > 0 and f"{expected:,} row" in page.locator("h3").first.inner_text()
    headers = [th.get_attribute("data-column") for th in page.locator("table.rows-and-columns thead th").all()
               if th.is_visible()]
    assert headers[:4] == ["excerpt_id", "text", "attribution", "codes"]
    assert "codings" not in headers and "best_score" not in headers  # technical columns hidden …
    button = page.locator("button.cs-tech-toggle")
    assert button.is_visible() and "Show technical columns" in button.inner_text()
    button.click()  # … one click away
    assert page.locator("th.col-codings").is_visible()
    button.click()
    assert not page.locator("th.col-codings").is_visible()
    # codes listed together, with colours and review status
    first = page.locator("tbody tr").first
    assert first.locator("ul.cs-codes li").count() >= 1 and first.locator(".cs-swatch").count() >= 1
    assert first.locator(".cs-status").first.inner_text() in ("suggested", "accepted")
    # the searched words highlighted in the text
    hits = [t.lower() for t in page.locator("td.col-text mark.cs-hit").all_inner_texts()]
    assert "lead provider" in hits
    # human facet names in a fixed order; waves in numeric order, labelled with their year
    names = [n.split("\n")[0].strip() for n in page.locator(".facet-info-name strong").all_inner_texts()]
    assert [n.rsplit(" ", 1)[0] for n in names[:5]] == ["Research question", "Code", "ICS", "Collaborative", "Wave"]
    breaking = page.locator("#facet-collaborative li").first.evaluate("li => getComputedStyle(li).wordBreak")
    assert breaking == "normal"  # long values wrap between words, never mid-word
    waves = page.locator("#facet-wave li").all_inner_texts()
    assert waves and all(w.startswith("wave ") for w in waves)
    assert [w.split(")")[0] for w in waves] == sorted(w.split(")")[0] for w in waves)
    assert "(2025)" in " ".join(waves)
    assert not page.locator("text=CREATE TABLE").is_visible()
    assert fits(page, "dl.column-descriptions dd")  # the glossary does not clip its text
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": WIDTH, "height": 1500})
    page.evaluate("window.scrollTo(0, document.querySelector('h3').getBoundingClientRect().top + window.scrollY - 10)")
    page.screenshot(path=str(SCREENSHOT), full_page=False)
    page.set_viewport_size({"width": WIDTH, "height": 1000})
    assert SCREENSHOT.stat().st_size > 20_000


def test_a_prefix_search_from_the_home_page(server, page):
    base, pub = server
    page.goto(base + "/")
    page.fill("form.cs-search input[name=q]", "delegat*")
    page.click("form.cs-search input[type=submit]")
    page.wait_for_load_state()
    assert "/study/search" in page.url
    hits = [t.lower() for t in page.locator("td.col-text mark.cs-hit").all_inner_texts()]
    assert {"delegated", "delegation"} <= set(hits) and all(h.startswith("delegat") for h in hits)
    n = q(pub, "SELECT count(*) FROM excerpt_evidence_fts WHERE excerpt_evidence_fts MATCH '\"delegat\"*'")[0][0]
    assert page.locator("table.rows-and-columns tbody tr").count() == min(n, 200)
    # the table's own search box takes prefixes too
    page.goto(f"{base}/study/excerpt_evidence?_search=delegat*")
    assert f"{n:,} row" in page.locator("h3").first.inner_text()


def test_matrix_and_row_page_are_readable_at_1400px(server, page):
    base, pub = server
    page.goto(f"{base}/study/framework_matrix?rq=RQ3")
    assert page.locator("table.rows-and-columns tbody tr").count() > 3
    assert fits(page, ".table-wrapper"), "the framework matrix is wider than the window"
    # its last column is on screen, not cut off
    right = page.evaluate("Math.max(...Array.from(document.querySelectorAll('thead th')).map(th => th.getBoundingClientRect().right))")
    assert right <= WIDTH
    MATRIX_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(MATRIX_SCREENSHOT), full_page=False)
    excerpt = q(pub, "SELECT excerpt_id FROM excerpt_evidence WHERE quotable = 1 AND n_codes > 3 LIMIT 1")[0][0]
    page.goto(f"{base}/study/excerpt_evidence/{excerpt}")
    assert fits(page, ".table-wrapper"), "the row page is wider than the window"
    assert page.locator("td.col-attribution").is_visible() and page.locator("td.col-text mark.cs-term").count() > 0
