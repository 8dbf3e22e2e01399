"""The Word report's quotation rules and counts, checked on the sample study coded by the
real pipeline (ingest -> code -> publish) and read back from the .docx the PI gets."""

from __future__ import annotations

import re
import shutil
import sqlite3
from collections import Counter, defaultdict
from pathlib import Path

import docx
import pytest
from click.testing import CliRunner

from casestudy.cli.main import cli
from casestudy.export.quotes import MIN_WORDS, QUOTES_PER_THEME
from casestudy.export.word import export_docx
from casestudy.ingest.textshape import has_observer_memo, looks_like_agenda_line, looks_like_table, strip_observer_memos


def _norm(text: str) -> str:
    return " ".join(text.replace("…", " ").replace("–", "-").split())


def read_quotes(path: Path) -> dict[str, list[dict]]:
    """Theme heading -> its quotes, each {text, attribution, participant, status_label}."""
    document = docx.Document(str(path))
    themes: dict[str, list[dict]] = {}
    current = None
    pending = None
    for p in document.paragraphs:
        style = p.style.name
        if style in ("Heading 1", "Heading 2", "Heading 3"):
            current = None if p.text.startswith(("Framework matrix", "How ", "Research questions")) or style == "Heading 1" else p.text
            if current:
                themes.setdefault(current, [])
        elif style == "Quote" and current:
            pending = p.text.strip("“”")
        elif style == "Quote Attribution" and current and pending is not None:
            note = p.text.removeprefix("— ")
            match = re.match(r"(P\d+),", note)
            themes[current].append({"text": pending, "attribution": note, "participant": match.group(1) if match else None,
                                    "unreviewed": note.endswith("· not yet reviewed")})
            pending = None
    return themes


def excerpts_by_text(published: Path) -> list[dict]:
    conn = sqlite3.connect(published)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(
            "SELECT DISTINCT e.excerpt_id, e.text, e.source_kind, e.participant_id, e.code, e.quotable, e.status "
            "FROM evidence e")]
    finally:
        conn.close()


def source_of(quote: str, rows: list[dict]) -> dict:
    """The evidence row whose text the quote is cut from (quotes are verbatim)."""
    parts = [_norm(part) for part in re.split(r"…", quote) if len(part.split()) >= 3]
    for row in rows:
        text = _norm(strip_observer_memos(row["text"] or ""))
        if all(part in text for part in parts):
            return row
    raise AssertionError(f"quote not found verbatim in the evidence: {quote[:80]!r}")


@pytest.fixture(scope="module")
def study_report(export_pipeline_dbs, tmp_path_factory):
    working, published = export_pipeline_dbs
    out = tmp_path_factory.mktemp("quotes") / "report.docx"
    summary = export_docx(working, out, publish_db=published)
    return out, published, summary


def test_every_quote_is_verbatim_prose_never_table_agenda_or_memo(study_report):
    out, published, _ = study_report
    rows = excerpts_by_text(published)
    quotes = [q for chosen in read_quotes(out).values() for q in chosen]
    assert len(quotes) > 60
    for q in quotes:
        assert not looks_like_table(q["text"]), q["text"]
        assert not looks_like_agenda_line(q["text"]), q["text"]
        assert not has_observer_memo(q["text"]), q["text"]
        assert len(q["text"].replace("…", "").split()) >= MIN_WORDS
        assert source_of(q["text"], rows)["quotable"] == 1
    # the corpus has table rows, agenda lines and memos coded to themes: none of them is quoted
    flagged = [r for r in rows if looks_like_table(r["text"]) or looks_like_agenda_line(r["text"])]
    assert len(flagged) > 10
    memos = [r for r in rows if has_observer_memo(r["text"])]
    assert memos
    printed = " ".join(_norm(q["text"]) for q in quotes)
    assert not any(re.search(r"\[RQ\d", q["text"]) for q in quotes)
    for row in flagged:
        assert _norm(row["text"])[:60] not in printed


def test_participant_voices_first_and_one_interview_quote_per_theme(study_report):
    out, published, _ = study_report
    themes = read_quotes(out)
    rows = excerpts_by_text(published)
    interview_quotes = sum(1 for chosen in themes.values() for q in chosen if q["participant"])
    total = sum(len(chosen) for chosen in themes.values())
    assert interview_quotes / total >= 0.8, (interview_quotes, total)
    # quotable interview evidence per theme, by the same rules of shape and length
    usable = defaultdict(int)
    for r in rows:
        if r["source_kind"] == "transcript" and r["quotable"] == 1 and len((r["text"] or "").split()) >= MIN_WORDS \
                and not looks_like_table(r["text"]) and not looks_like_agenda_line(r["text"]):
            usable[r["code"]] += 1
    assert usable
    for theme, chosen in themes.items():
        kinds = [bool(q["participant"]) for q in chosen]
        assert kinds == sorted(kinds, reverse=True), theme  # interviews before documents
        if usable.get(theme):
            assert any(kinds), f"{theme}: interview evidence exists but no interview quote"
        if not all(kinds):  # a document only fills a place no interview could
            assert sum(kinds) < QUOTES_PER_THEME, theme


def test_quotes_spread_across_participants_icss_and_waves_never_twice(study_report):
    out, published, _ = study_report
    themes = read_quotes(out)
    text = "\n".join(p.text for p in docx.Document(str(out)).paragraphs)
    cap = int(re.search(r"or more than (\d+) times in the report", text).group(1))
    per_person = Counter(q["participant"] for chosen in themes.values() for q in chosen if q["participant"])
    assert max(per_person.values()) <= cap
    assert len(per_person) >= 10  # the sample study has 12 quotable participants
    assert max(per_person.values()) - min(per_person.values()) <= cap // 2 + 2
    for theme, chosen in themes.items():
        people = [q["participant"] for q in chosen if q["participant"]]
        assert len(people) == len(set(people)), theme
    every = [_norm(q["text"]) for chosen in themes.values() for q in chosen]
    assert len(every) == len(set(every))
    attributions = " ".join(q["attribution"] for chosen in themes.values() for q in chosen)
    for ics in ("Ashmoor", "Kellbridge", "Saltmarsh Coast"):
        assert attributions.count(ics) >= 15
    for wave in (1, 2, 3):
        assert attributions.count(f"wave {wave}") >= 15


def test_the_rules_are_written_in_the_report(study_report):
    out, _, _ = study_report
    document = docx.Document(str(out))
    headings = [p.text for p in document.paragraphs if p.style.name == "Heading 2"]
    assert "How quotations are chosen" in headings and "How to read the counts" in headings
    text = "\n".join(p.text for p in document.paragraphs)
    for rule in ("Participant voices first", "at least one interview quotation", "no excerpt is quoted twice",
                 "table rows, agenda and attendance lines", "Reviewed evidence first", "--status accepted"):
        assert rule in text, rule
    # the demo's codings are all unreviewed: one sentence says so, no quote carries a label
    assert "every quotation comes from an automatic suggestion" in text
    assert "not yet reviewed" not in "\n".join(p.text for p in document.paragraphs if p.style.name == "Quote Attribution")


def test_reviewed_evidence_is_preferred_and_accepted_only_uses_nothing_else(study_report, tmp_path):
    out, published, _ = study_report
    before = read_quotes(out)
    copy = tmp_path / "publish.db"
    shutil.copy(published, copy)
    conn = sqlite3.connect(copy)
    # a researcher accepts one interview excerpt of a theme that the report did not quote there
    printed = {_norm(q["text"])[:50] for chosen in before.values() for q in chosen}
    pick = theme = None
    for excerpt_id, text, code in conn.execute(
            "SELECT excerpt_id, text, code FROM evidence WHERE source_kind = 'transcript' AND quotable = 1 "
            "ORDER BY code, excerpt_id"):
        words = len(text.split())
        if code in before and len(before[code]) == QUOTES_PER_THEME and MIN_WORDS + 3 <= words <= 70 \
                and not any(q in _norm(text) for q in printed) and not looks_like_table(text):
            pick, theme = (excerpt_id, text), code
            break
    assert pick, "no unquoted interview excerpt to accept"
    conn.execute("UPDATE evidence SET status = 'accepted' WHERE excerpt_id = ? AND code = ?", (pick[0], theme))
    conn.commit()
    conn.close()

    preferred = tmp_path / "preferred.docx"
    export_docx("missing-working.db", preferred, publish_db=copy)
    chosen = read_quotes(preferred)[theme]
    assert _norm(pick[1])[:50] in _norm(chosen[0]["text"])  # the accepted coding is quoted first
    assert not chosen[0]["unreviewed"] and all(q["unreviewed"] for q in chosen[1:])  # labels only beside reviewed ones

    accepted = tmp_path / "accepted.docx"
    result = CliRunner().invoke(cli, ["export", "docx", str(accepted), "--status", "accepted", "--publish-db", str(copy),
                                      "--db", str(tmp_path / "none.db")])
    assert result.exit_code == 0, result.output
    only = read_quotes(accepted)
    assert [len(v) for v in only.values() if v] == [1] and _norm(pick[1])[:50] in _norm(only[theme][0]["text"])
    text = "\n".join(p.text for p in docx.Document(str(accepted)).paragraphs)
    assert "Only codings accepted by a researcher are counted and quoted" in text
    assert "Every quotation in this report comes from a coding a researcher accepted." in text


def test_withheld_counts_use_one_unit_everywhere(export_pipeline_dbs, tmp_path):
    working, published = export_pipeline_dbs
    out = tmp_path / "r.docx"
    result = CliRunner().invoke(cli, ["export", "docx", str(out), "--db", str(working), "--publish-db", str(published)])
    assert result.exit_code == 0, result.output
    said = int(re.search(r"(\d+) coded excerpts counted but withheld from quotation", result.output).group(1))
    text = "\n".join(p.text for p in docx.Document(str(out)).paragraphs)
    appendix = int(re.search(r"In this report, (\d+) coded excerpts? of participants who did not consent to verbatim quotation (?:were|was) counted", text).group(1))
    conn = sqlite3.connect(published)
    distinct = conn.execute("SELECT count(DISTINCT excerpt_id) FROM evidence WHERE quotable = 0 AND status != 'rejected'").fetchone()[0]
    conn.close()
    assert said == appendix == distinct > 0
