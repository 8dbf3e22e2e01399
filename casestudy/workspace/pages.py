"""What the workspace's pages show, read from the working database through the consent rule.

Every text comes from ``excerpts.display_text`` / ``display_heading`` / ``sources.title`` (names
pseudonymised); every excerpt passes ``CONSENTED_EXCERPT`` (a withdrawn participant's words are
gone at the next request); speakers are labelled by participant ID, role and organisation type.
Memos are pseudonymised when shown, as ``casestudy review show`` does.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import sqlite_utils

from casestudy.coding import review, samples
from casestudy.coding.engine import display_offsets
from casestudy.consent import pseudonyms
from casestudy.db import (SOURCE_KINDS, CONSENTED_EXCERPT, EXCERPT_JOIN, PLACE_JOIN, SOURCE_JOIN, VISIBLE_SOURCE, human_coder,
                          is_machine_coder, machine_coder)
from casestudy.errors import CasestudyError

KINDS = SOURCE_KINDS
STATUS_FILTERS = {
    "to-review": "suggestions waiting",
    "reviewed": "no suggestion waiting",
    "untouched": "no human decision yet",
    "mine": "in my double-coding sample",
}

_EVIDENCE_FROM = f"FROM {EXCERPT_JOIN}"


def connection_setup(db: sqlite_utils.Database) -> None:
    db.execute("PRAGMA busy_timeout = 10000")


# --- the sources list ------------------------------------------------------------------


def sources(db: sqlite_utils.Database, coder: str, *, ics: str | None = None, wave: int | None = None,
            kind: str | None = None, status: str | None = None) -> list[dict]:
    """Every source consent lets anyone see, with its coding progress overall and for ``coder``."""
    where, params = [VISIBLE_SOURCE], {"coder": coder}
    if ics:
        where.append("i.name = :ics")
        params["ics"] = ics
    if wave:
        where.append("s.wave = :wave")
        params["wave"] = int(wave)
    if kind:
        where.append("s.kind = :kind")
        params["kind"] = kind
    rows = list(db.query(
        f"""SELECT s.id, s.kind, s.title, s.wave, s.date, s.words, s.participant_id, i.name AS ics, col.name AS collaborative,
                   scs.quotes AS quotes
            FROM {SOURCE_JOIN} LEFT JOIN ics i ON i.id = s.ics_id LEFT JOIN collaboratives col ON col.id = s.collaborative_id
            WHERE {' AND '.join(where)} ORDER BY s.kind, i.name, s.wave, s.date, s.id""", params))
    if not rows:
        return []
    ids = ",".join(str(r["id"]) for r in rows)
    stats: dict[int, dict] = {r["id"]: {"excerpts": 0, "suggested": 0, "reviewed": 0, "hand": 0, "mine": 0,
                                        "assigned": 0, "finished": 0} for r in rows}
    for source_id, n in db.execute(
            f"SELECT e.source_id, count(*) {_EVIDENCE_FROM} WHERE e.source_id IN ({ids}) AND {CONSENTED_EXCERPT} GROUP BY e.source_id"):
        stats[source_id]["excerpts"] = n
    for source_id, suggested, reviewed, hand in db.execute(
            f"""SELECT e.source_id,
                       sum(c.status = 'suggested' AND {machine_coder()}),
                       sum(c.status != 'suggested' AND {machine_coder()}),
                       sum({human_coder()} AND c.status = 'accepted')
                {_EVIDENCE_FROM} JOIN codings c ON c.excerpt_id = e.id
                WHERE e.source_id IN ({ids}) AND {CONSENTED_EXCERPT} GROUP BY e.source_id"""):
        stats[source_id].update(suggested=suggested or 0, reviewed=reviewed or 0, hand=hand or 0)
    for source_id, n in db.execute(
            f"""SELECT e.source_id, count(DISTINCT d.excerpt_id) FROM decisions d JOIN excerpts e ON e.id = d.excerpt_id
                WHERE d.decider = ? AND d.undone_at IS NULL AND e.source_id IN ({ids}) GROUP BY e.source_id""", [coder]):
        stats[source_id]["mine"] = n
    for source_id, assigned, finished in db.execute(
            f"""SELECT e.source_id, count(*), count(a.done_at) FROM assignments a JOIN excerpts e ON e.id = a.excerpt_id
                WHERE a.coder = ? AND e.source_id IN ({ids}) GROUP BY e.source_id""", [coder]):
        stats[source_id].update(assigned=assigned, finished=finished)
    out = []
    for row in rows:
        row.update(stats[row["id"]])
        if status == "to-review" and not row["suggested"]:
            continue
        if status == "reviewed" and row["suggested"]:
            continue
        if status == "untouched" and (row["reviewed"] or row["hand"]):
            continue
        if status == "mine" and not row["assigned"]:
            continue
        total = row["suggested"] + row["reviewed"]
        row["progress"] = round(100 * row["reviewed"] / total) if total else None
        out.append(row)
    return out


def researchers(db: sqlite_utils.Database) -> list[dict]:
    """Per researcher: decisions, excerpts rated, double-coding progress, last activity."""
    people: dict[str, dict] = {}
    for coder, decisions, excerpts, last in db.execute(
            """SELECT decider, count(*), count(DISTINCT excerpt_id), max(at) FROM decisions
               WHERE undone_at IS NULL GROUP BY decider"""):
        people[coder] = {"coder": coder, "decisions": decisions, "excerpts": excerpts, "last": last, "assigned": 0, "finished": 0}
    for coder, assigned, finished in db.execute("SELECT coder, count(*), count(done_at) FROM assignments GROUP BY coder"):
        people.setdefault(coder, {"coder": coder, "decisions": 0, "excerpts": 0, "last": None})
        people[coder].update(assigned=assigned, finished=finished)
    return sorted(people.values(), key=lambda p: p["coder"])


def filter_choices(db: sqlite_utils.Database) -> dict:
    return {
        "ics": [r[0] for r in db.execute("SELECT name FROM ics ORDER BY name")],
        "waves": [r[0] for r in db.execute("SELECT DISTINCT wave FROM sources WHERE wave IS NOT NULL ORDER BY wave")],
        "kinds": KINDS,
        "statuses": STATUS_FILTERS,
    }


# --- the codebook ------------------------------------------------------------------------


def codebook(db: sqlite_utils.Database) -> list[dict]:
    """Every code, research questions first in each RQ, with definitions (for the type-ahead)."""
    rqs = {r["rq"]: r["name"] for r in db.query("SELECT rq, name FROM codes WHERE codable = 0 OR parent_id IS NULL")}
    return [
        {**row, "rq_name": rqs.get(row["rq"], row["rq"])}
        for row in db.query(
            """SELECT id, rq, name, description, inclusion, exclusion, example, colour, codable FROM codes
               ORDER BY rq, codable, sort, id""")
    ]


# --- the document view ---------------------------------------------------------------


@dataclass
class Excerpt:
    row: dict
    speaker: str
    codable: bool
    quotable: bool
    blind: bool
    html: str = ""
    suggestions: list[dict] = field(default_factory=list)
    accepted: list[dict] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)
    memos: list[dict] = field(default_factory=list)
    finished: bool = False
    assigned: bool = False

    @property
    def pending(self) -> bool:
        """Still waiting for this coder: a suggestion to decide, or a sample excerpt to finish."""
        return bool(self.suggestions) or (self.assigned and not self.finished)


@dataclass
class Document:
    source: dict
    excerpts: list[Excerpt]
    memos: list[dict]


_SOURCE_SQL = f"""SELECT s.id, s.kind, s.title, s.wave, s.date, s.pages, s.words, s.participant_id, i.name AS ics,
       col.name AS collaborative, scs.quotes AS quotes, p.role AS participant_role, p.org_type AS org_type
FROM {SOURCE_JOIN} LEFT JOIN ics i ON i.id = s.ics_id LEFT JOIN collaboratives col ON col.id = s.collaborative_id
LEFT JOIN participants p ON p.id = s.participant_id
WHERE s.id = ? AND {VISIBLE_SOURCE}"""


def source(db: sqlite_utils.Database, source_id: int) -> dict:
    rows = list(db.query(_SOURCE_SQL, [source_id]))
    if not rows:
        raise CasestudyError(f"no source {source_id} (or its participant has withdrawn)")
    return rows[0]


def _excerpt_rows(db: sqlite_utils.Database, where: str, params: list) -> list[dict]:
    return list(db.query(
        f"""SELECT e.id, e.source_id, e.seq, e.text, e.display_text, e.display_heading AS heading, e.speaker_role,
                   e.participant_id, e.is_interviewer, e.turn, e.start_time, e.end_time, e.page, s.kind AS source_kind,
                   p.role AS participant_role, p.org_type, ({CONSENTED_EXCERPT}) AS is_evidence,
                   CASE WHEN e.participant_id IS NULL THEN 1 ELSE coalesce(cs.quotes, 0) END AS quotable
            FROM {EXCERPT_JOIN} {PLACE_JOIN}
            WHERE {where} ORDER BY e.seq""", params))


def document(db: sqlite_utils.Database, source_id: int, coder: str) -> Document:
    """A whole source in reading order, each codable excerpt with what ``coder`` may see of its codings."""
    src = source(db, source_id)
    rows = [r for r in _excerpt_rows(db, "e.source_id = ?", [source_id]) if r["is_evidence"] or r["is_interviewer"]]
    excerpts = _build(db, rows, coder)
    memos = list(db.query("SELECT * FROM memos WHERE source_id = ? AND excerpt_id IS NULL ORDER BY id", [source_id]))
    if memos:
        pseudonymise = pseudonyms.from_db(db)
        for memo in memos:
            memo["text"] = pseudonymise(memo["text"] or "")
    return Document(src, excerpts, memos)


def one_excerpt(db: sqlite_utils.Database, excerpt_id: int, coder: str) -> Excerpt:
    rows = _excerpt_rows(db, "e.id = ?", [excerpt_id])
    if not rows or not (rows[0]["is_evidence"] or rows[0]["is_interviewer"]):
        raise CasestudyError(f"no excerpt {excerpt_id} that consent lets you see")
    return _build(db, rows, coder)[0]


def _build(db: sqlite_utils.Database, rows: list[dict], coder: str) -> list[Excerpt]:
    ids = [r["id"] for r in rows if r["is_evidence"]]
    blind = samples.blind_excerpts(db, coder, rows[0]["source_id"]) if rows else set()
    assigned: dict[int, str | None] = {}
    codings: dict[int, list[dict]] = {}
    memos: dict[int, list[dict]] = {}
    if ids:
        marks = ",".join(str(i) for i in ids)
        for a in db.query(f"SELECT excerpt_id, done_at FROM assignments WHERE coder = ? AND excerpt_id IN ({marks})", [coder]):
            assigned[a["excerpt_id"]] = a["done_at"]
        for c in db.query(
                f"""SELECT c.id, c.excerpt_id, c.code_id, c.coder, c.status, c.terms, c.display_terms, c.offsets, c.score,
                           c.reviewed_by, c.reviewed_at, c.span_start, c.span_end, cd.name AS code_name, cd.rq, cd.colour
                    FROM codings c JOIN codes cd ON cd.id = c.code_id WHERE c.excerpt_id IN ({marks})
                    ORDER BY cd.rq, cd.sort, c.id"""):
            codings.setdefault(c["excerpt_id"], []).append(c)
        for m in db.query(f"SELECT * FROM memos WHERE excerpt_id IN ({marks}) ORDER BY id"):
            memos.setdefault(m["excerpt_id"], []).append(m)
    pseudonymise = pseudonyms.from_db(db) if memos else None
    out = []
    for row in rows:
        is_blind = row["id"] in blind
        ex = Excerpt(row, review.who(row), bool(row["is_evidence"]), bool(row["quotable"]), is_blind,
                     finished=assigned.get(row["id"]) is not None, assigned=row["id"] in assigned)
        marks_for_text: list[tuple[int, int, str, str]] = []
        for c in codings.get(row["id"], []):
            automatic = is_machine_coder(c["coder"])
            if is_blind and c["coder"] != coder:
                continue  # blind: neither suggestions nor other people's decisions
            c["automatic"] = automatic
            c["why"] = _terms(c)
            c["why_label"] = review.why_label(c)
            c["label"] = review.name_beside_rq(c["code_name"], c["rq"])
            span = _display_span(row, c)
            c["span"] = span
            c["quote"] = row["display_text"][span[0]:span[1]] if span else None
            if automatic and c["status"] == "suggested":
                ex.suggestions.append(c)
                for o in review.spans_for_display(row, c["offsets"]):
                    marks_for_text.append((o[0], o[1], "term", c["colour"] or "#ffd54f"))
            elif c["status"] == "rejected":
                ex.rejected.append(c)
            else:
                ex.accepted.append(c)
                if span:
                    marks_for_text.append((span[0], span[1], "span", c["colour"] or "#90caf9"))
        for m in memos.get(row["id"], []):
            m["text"] = pseudonymise(m["text"] or "")
            ex.memos.append(m)
        ex.html = highlight(row["display_text"], marks_for_text)
        out.append(ex)
    return out


def _terms(coding: dict) -> list[str]:
    """The matched words (or a learned model's top words), pseudonymised (``display_terms``)."""
    raw = coding.get("display_terms")
    if raw is None:
        raw = coding["terms"] if coding["terms"] in (None, "[]") else "[]"  # never raw terms with names
    try:
        terms = json.loads(raw or "[]")
    except ValueError:
        return []
    return [str(t) for t in terms] if isinstance(terms, list) else []


def _display_span(row: dict, coding: dict) -> tuple[int, int] | None:
    if coding.get("span_start") is None or coding.get("span_end") is None:
        return None
    mapped = display_offsets(row["text"], row["display_text"], [[coding["span_start"], coding["span_end"]]])[0]
    if mapped is None:  # the span's edges touch a name: widen to the words around it
        mapped = _widen(row, coding["span_start"], coding["span_end"])
    return (mapped[0], mapped[1]) if mapped else None


def _widen(row: dict, start: int, end: int) -> list[int] | None:
    from difflib import SequenceMatcher

    blocks = SequenceMatcher(None, row["text"], row["display_text"], autojunk=False).get_matching_blocks()
    ds = de = None
    for a, b, size in blocks:
        if size and a <= start < a + size and ds is None:
            ds = b + (start - a)
        if size and a < end <= a + size:
            de = b + (end - a)
    if ds is None:
        ds = 0
    if de is None:
        de = len(row["display_text"])
    return [ds, de] if de > ds else None


def highlight(text: str, marks: list[tuple[int, int, str, str]]) -> str:
    """``text`` escaped, with matched terms as <mark> and coded spans underlined, in code colours.
    Only the characters of ``text`` are emitted, so selection offsets in the page equal offsets
    in ``display_text``."""
    from html import escape

    if not marks:
        return escape(text, quote=False)
    n = len(text)
    opening: dict[int, list[int]] = {}
    closing: dict[int, list[int]] = {}
    for i, (start, end, _, _) in enumerate(marks):
        start, end = max(0, start), min(n, end)
        if start < end:
            opening.setdefault(start, []).append(i)
            closing.setdefault(end, []).append(i)
    cuts = sorted({0, n, *opening, *closing})
    active: set[int] = set()
    out = []
    for a, b in zip(cuts, cuts[1:]):
        active.difference_update(closing.get(a, ()))
        active.update(opening.get(a, ()))
        piece = escape(text[a:b], quote=False)
        if active:
            span = next((marks[i][3] for i in sorted(active) if marks[i][2] == "span"), None)
            term = next((marks[i][3] for i in sorted(active) if marks[i][2] == "term"), None)
            if span:
                piece = f'<span class="ws-span" style="--c:{_colour(span)}">{piece}</span>'
            if term:
                piece = f'<mark class="ws-term" style="--c:{_colour(term)}">{piece}</mark>'
        out.append(piece)
    return "".join(out)


_COLOUR = re.compile(r"#[0-9a-fA-F]{3,8}")


def _colour(value: str) -> str:
    return value if value and _COLOUR.fullmatch(value) else "#ffd54f"
