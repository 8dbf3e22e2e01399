"""A coding session in a real browser (Debian chromium, headless, via playwright) against a real
`casestudy workspace`: open a transcript, accept and reject suggestions by keyboard, add a code
by type-ahead, select a phrase and code just it, write a memo, undo; then the database, the
audit log, the next `publish` and the REFI-QDA and Word exports built from it.

Saves a screenshot of the document view to $CASESTUDY_SCREENSHOT_DIR (docs/img to refresh the
README's picture; a temporary folder otherwise). Skipped only when chromium or playwright is absent.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from casestudy.cli.main import cli
from workspace_server import copy_db, q, start, stop

CHROMIUM = "/usr/bin/chromium"
SCREENSHOT_DIR = Path(os.environ.get("CASESTUDY_SCREENSHOT_DIR") or Path(tempfile.gettempdir()) / "casestudy-screenshots")
PHRASE = "committees in common"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium at /usr/bin/chromium"),
]
playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def session(workspace_template, tmp_path):
    path = copy_db(workspace_template, tmp_path / "db")
    # the sample study gives every interview the same answers: with P02's refusal of quotation,
    # publish would withhold P01's identical words too. Here P02 allows quotation, so P01 is quoted.
    conn = sqlite3.connect(path)
    conn.execute("UPDATE consents SET quotes = 1 WHERE participant_id = 'P02'")
    conn.commit()
    conn.close()
    process, base = start(path)
    try:
        with playwright_api.sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM,
                args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(20_000)
            yield page, base, path, tmp_path
            browser.close()
    finally:
        stop(process)


def wait_status(page, text):
    page.wait_for_function(
        "t => document.getElementById('status').textContent.includes(t)", arg=text)


def select_phrase(page, excerpt_id, phrase):
    """Select ``phrase`` inside an excerpt's text with the mouse's Range, as a person would by dragging."""
    found = page.evaluate(
        """([id, phrase]) => {
            const box = document.querySelector(`#e${id} .ws-text`);
            const walker = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
            let node, before = 0;
            const full = box.textContent;
            const at = full.indexOf(phrase);
            if (at < 0) return -1;
            const range = document.createRange();
            let startSet = false;
            while ((node = walker.nextNode())) {
              const len = node.textContent.length;
              if (!startSet && at < before + len) { range.setStart(node, at - before); startSet = true; }
              if (startSet && at + phrase.length <= before + len) { range.setEnd(node, at + phrase.length - before); break; }
              before += len;
            }
            const sel = window.getSelection();
            sel.removeAllRanges();
            sel.addRange(range);
            return at;
        }""",
        [excerpt_id, phrase],
    )
    assert found >= 0, f"{phrase!r} not in excerpt {excerpt_id}"
    box = page.locator(f"#e{excerpt_id} .ws-text").bounding_box()
    page.mouse.move(box["x"] + 2, box["y"] + 2)
    page.locator("#doc").dispatch_event("mouseup")
    page.locator("#code-selection").wait_for(state="visible")
    return found


def test_a_coding_session_end_to_end(session):
    page, base, path, tmp_path = session
    page.goto(base + "/")
    assert "/login" in page.url
    page.fill("#name", "ann")
    page.click("button[type=submit]")
    page.wait_for_url(base + "/")
    assert "Coding as" in page.locator(".ws-user").inner_text()

    source = q(path, """SELECT s.id FROM sources s JOIN excerpts e ON e.source_id = s.id
                        WHERE s.participant_id = 'P01' AND e.text LIKE ? ORDER BY s.id LIMIT 1""", f"%{PHRASE}%")[0][0]
    page.click(f'a[href="/source/{source}"]')
    page.wait_for_url(f"{base}/source/{source}*")
    # the whole transcript in order: interviewer turns greyed and not codable
    assert page.locator("article.ws-interviewer").count() >= 2
    assert page.locator("article.ws-interviewer .ws-suggested").count() == 0
    assert page.locator("mark.ws-term").count() > 0  # matched words highlighted

    # accept by keyboard: n = next excerpt waiting, a = accept the chosen suggestion
    page.keyboard.press("n")
    accepted = int(page.locator("article.ws-current .ws-suggested.ws-chosen").get_attribute("data-coding"))
    page.keyboard.press("a")
    wait_status(page, "Accepted")
    page.keyboard.press("n")
    rejected = int(page.locator("article.ws-current .ws-suggested.ws-chosen").get_attribute("data-coding"))
    assert rejected != accepted
    page.keyboard.press("r")
    wait_status(page, "Rejected")
    assert page.locator(f'.ws-rejected[data-coding="{rejected}"]').count() == 1

    # add a code by type-ahead: c, words of the theme, Enter
    typed_on = int(page.locator("article.ws-current").get_attribute("data-id"))
    page.keyboard.press("c")
    page.locator("#picker-input").fill("out-of-area")
    detail = page.locator("#picker-detail").inner_text()
    assert "RQ6" in detail and "Include:" in detail and "Exclude:" in detail
    page.keyboard.press("Enter")
    wait_status(page, "Coded")
    typed_code = q(path, "SELECT code_id FROM decisions WHERE decider = 'ann' AND excerpt_id = ? ORDER BY id DESC LIMIT 1", typed_on)[0][0]
    assert typed_code.startswith("RQ6.")

    # select a phrase and code just it
    excerpt = q(path, "SELECT id FROM excerpts WHERE source_id = ? AND text LIKE ?", source, f"%{PHRASE}%")[0][0]
    offset = select_phrase(page, excerpt, PHRASE)
    page.click("#code-selection")
    assert PHRASE in page.locator("#picker-target").inner_text()
    page.locator("#picker-input").fill("workforce")
    page.keyboard.press("Enter")
    wait_status(page, "selected words")
    assert q(path, "SELECT span_start, span_end FROM codings WHERE excerpt_id = ? AND span_start IS NOT NULL", excerpt) == [
        (offset, offset + len(PHRASE))]
    assert "".join(page.locator(f"#e{excerpt} .ws-span").all_inner_texts()) == PHRASE

    # a memo on the excerpt
    page.keyboard.press("m")
    page.locator("#memo-text").fill("Decisions taken twice: compare with the wave 2 interview.")
    page.keyboard.press("Control+Enter")
    wait_status(page, "Memo saved")
    assert page.locator(f"#e{excerpt} .ws-memo").count() == 1

    # why (or why not): one row per research question under the excerpt; w again closes it
    page.keyboard.press("w")
    page.wait_for_selector(f"#e{excerpt} .ws-whybox")
    assert page.locator(f"#e{excerpt} .ws-whytable tr").count() == 6
    page.keyboard.press("w")
    page.wait_for_selector(f"#e{excerpt} .ws-whybox", state="detached")

    # undo the last decision (the span coding), then code the phrase again
    page.keyboard.press("u")
    wait_status(page, "Undid")
    assert q(path, "SELECT count(*) FROM codings WHERE excerpt_id = ? AND span_start IS NOT NULL", excerpt) == [(0,)]
    select_phrase(page, excerpt, PHRASE)
    page.keyboard.press("c")
    page.locator("#picker-input").fill("workforce")
    page.keyboard.press("Enter")
    wait_status(page, "selected words")

    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.getSelection().removeAllRanges()")
    page.locator(f"#e{excerpt}").scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOT_DIR / "workspace-document.png"))

    # the database: every decision by ann, in the decisions table and the audit log
    decisions = q(path, "SELECT action, coding_id, undone_at IS NOT NULL FROM decisions WHERE decider = 'ann' ORDER BY id")
    assert [(a, u) for a, _, u in decisions] == [("accept", 0), ("reject", 0), (decisions[2][0], 0), ("add", 1), ("add", 0)]
    assert decisions[0][1] == accepted and decisions[1][1] == rejected
    assert q(path, "SELECT status, reviewed_by FROM codings WHERE id = ?", accepted) == [("accepted", "ann")]
    assert q(path, "SELECT status, reviewed_by FROM codings WHERE id = ?", rejected) == [("rejected", "ann")]
    actions = [a for (a,) in q(path, "SELECT action FROM audit_log WHERE actor = 'ann' ORDER BY id")]
    assert actions[:2] == ["coding.accept", "coding.reject"]
    assert actions.count("coding.undo") == 1 and actions.count("memo.add") == 1
    assert q(path, "SELECT author FROM memos") == [("ann",)]
    span_coding = q(path, "SELECT id FROM codings WHERE excerpt_id = ? AND coder = 'ann' AND span_start IS NOT NULL", excerpt)[0][0]

    # the next publish: who decided, the span and its words; the rejected suggestion is not evidence
    out = tmp_path / "publish.db"
    result = CliRunner().invoke(cli, ["publish", str(out), "--db", str(path)])
    assert result.exit_code == 0, result.output
    assert q(out, "SELECT decided_by, quote, substr(text, span_start + 1, span_end - span_start) FROM evidence WHERE coding_id = ?",
             span_coding) == [("ann", PHRASE, PHRASE)]
    assert q(out, "SELECT decided_by, status FROM evidence WHERE coding_id = ?", accepted) == [("ann", "accepted")]
    assert q(out, "SELECT count(*) FROM evidence WHERE coding_id = ?", rejected) == [(0,)]
    assert q(out, "SELECT count(*) FROM agreement_ratings WHERE coder = 'ann' AND code_id IS NULL")[0][0] >= 2

    # REFI-QDA: the span is a selection of just those characters of the source's text
    qdpx = tmp_path / "p.qdpx"
    result = CliRunner().invoke(cli, ["export", "qdpx", str(qdpx), "--publish-db", str(out), "--db", str(path)])
    assert result.exit_code == 0, result.output
    from xml.etree import ElementTree

    with zipfile.ZipFile(qdpx) as archive:
        names = archive.namelist()
        project = ElementTree.fromstring(archive.read(next(n for n in names if n.endswith(".qde"))))
        found = False
        for source_el in project.iter():
            if not source_el.tag.endswith("TextSource"):
                continue
            text_name = source_el.get("plainTextPath").replace("internal://", "")
            text = archive.read(next(n for n in names if n.endswith(text_name))).decode("utf-8")
            for selection in source_el:
                if selection.tag.endswith("PlainTextSelection"):
                    start, end = int(selection.get("startPosition")), int(selection.get("endPosition"))
                    if text[start:end] == PHRASE:
                        found = True
        assert found, "no REFI-QDA selection of just the coded phrase"

    # Word: the theme's quote is the coded phrase
    import docx

    report = tmp_path / "r.docx"
    result = CliRunner().invoke(cli, ["export", "docx", str(report), "--rq", "RQ6", "--publish-db", str(out), "--db", str(path)])
    assert result.exit_code == 0, result.output
    quotes = [p.text for p in docx.Document(str(report)).paragraphs if p.style.name == "Quote"]
    assert f"“{PHRASE}”" in quotes
    assert json.loads(q(out, "SELECT value FROM publish_info WHERE key = 'counts'")[0][0])
