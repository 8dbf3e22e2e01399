"""Review: people accept, reject, add and remove codings, and write memos.

Every decision records who made it and when (``codings.reviewed_by`` /
``reviewed_at``) and goes into ``audit_log``. Auto suggestions are never deleted: a wrong
one is *rejected*, so re-coding will not suggest it again. A hand-added coding can be
removed. All text shown to a reviewer is ``display_text`` (names pseudonymised), and
excerpts of withdrawn participants are not shown.

Each function works inside the caller's transaction and raises ``CasestudyError`` before
writing anything when an id is unknown, so a refused command leaves the db unchanged.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass

import sqlite_utils

from casestudy.consent import pseudonyms
from casestudy.coding.engine import display_offsets
from casestudy.db import (CODING_JOIN, CONSENTED_EXCERPT, EXCERPT_JOIN, PLACE_JOIN, SOURCE_JOIN,
                          VISIBLE_SOURCE, audit, fetch_rows, insert_row, is_machine_coder, now, suggestion_kind,
                          update_row)
from casestudy.errors import CasestudyError

STATUSES = ("suggested", "accepted", "rejected")


# --- reading ------------------------------------------------------------------------




def coding_row(db: sqlite_utils.Database, coding_id: int) -> dict:
    rows = fetch_rows(
        db,
        "SELECT c.*, cd.rq, cd.name AS code_name FROM codings c JOIN codes cd ON cd.id = c.code_id WHERE c.id = ?",
        [coding_id],
    )
    if not rows:
        raise CasestudyError(f"no coding with id {coding_id} (see `casestudy review queue`)")
    return rows[0]


def code_row(db: sqlite_utils.Database, code_id: str) -> dict:
    rows = fetch_rows(db, "SELECT * FROM codes WHERE id = ?", [code_id])
    if not rows:
        near = [r[0] for r in db.execute("SELECT id FROM codes WHERE id LIKE ? ORDER BY id LIMIT 3", [f"%{code_id}%"])]
        hint = f" (did you mean {', '.join(near)}?)" if near else " (see `casestudy codebook list`)"
        raise CasestudyError(f"no code {code_id!r}{hint}")
    return rows[0]


EXCERPT_SQL = f"""
SELECT e.id, e.source_id, e.seq, e.display_text, e.text, e.is_interviewer, e.speaker_role,
       e.participant_id, e.turn, e.page, e.heading, s.kind AS source_kind, s.title AS source_title,
       s.wave, s.date, i.name AS ics, col.name AS collaborative, p.role AS participant_role,
       p.org_type AS org_type, ({CONSENTED_EXCERPT}) AS is_evidence
FROM {EXCERPT_JOIN}
{PLACE_JOIN}
"""


def excerpt_row(db: sqlite_utils.Database, excerpt_id: int, *, evidence_only: bool = True) -> dict:
    rows = fetch_rows(db, EXCERPT_SQL + " WHERE e.id = ?", [excerpt_id])
    if not rows:
        raise CasestudyError(f"no excerpt with id {excerpt_id}")
    row = rows[0]
    if evidence_only and not row["is_evidence"]:
        why = "an interviewer turn" if row["is_interviewer"] else "not evidence (consent withdrawn or not given)"
        raise CasestudyError(f"excerpt {excerpt_id} is {why}; it cannot be reviewed or coded")
    return row


def who(row: dict) -> str:
    """A pseudonymous speaker label: ID, role, organisation type (never a name)."""
    if row.get("is_interviewer"):
        return "Interviewer"
    if row.get("participant_id"):
        bits = [row["participant_id"], row.get("participant_role"), row.get("org_type")]
        return ", ".join(b for b in bits if b)
    return {"board-paper": "Board paper", "policy": "Policy", "observation": "Observation notes"}.get(row.get("source_kind"), "Document")


# what review show and the workspace call the words that carried each kind of suggestion
WHY_LABELS = {"themes": "matched", "key terms": "key terms", "model alone": "model's top words"}


def why_label(coding: dict) -> str:
    """What the words that carried a suggestion are called: a theme's "matched" words, its
    research question's "key terms", or the "model's top words"."""
    return WHY_LABELS[suggestion_kind(coding)]


def name_beside_rq(name: str, rq: str) -> str:
    """A code's name shown beside its RQ badge: a question's own code ("RQ5 Coordination with
    ICB plans") without the RQ said twice."""
    if not rq or not name.startswith(rq + " "):
        return name
    return name[len(rq):].lstrip(" :–-") or name


def where(row: dict) -> str:
    bits = [row.get("source_title"), row.get("ics"), f"wave {row['wave']}" if row.get("wave") else None, row.get("date")]
    if row.get("page"):
        bits.append(f"p. {row['page']}")
    return " · ".join(str(b) for b in bits if b)


def spans_for_display(row: dict, offsets_json: str | None) -> list[tuple[int, int]]:
    """The offsets of a coding mapped onto the excerpt's display_text (spans over names dropped)."""
    offsets = json.loads(offsets_json or "[]")
    return [tuple(o) for o in display_offsets(row["text"], row["display_text"], offsets) if o]


_QUEUE_FROM = f"""
FROM {CODING_JOIN}
{PLACE_JOIN}
"""


def _queue_where(
    rq: str | None = None,
    code: str | None = None,
    ics: str | None = None,
    wave: int | None = None,
    source: str | None = None,
    kind: str | None = None,
    status: str | None = "suggested",
    exclude_ids: tuple[int, ...] = (),
) -> tuple[str, dict]:
    """The WHERE clause (and its parameters) of the review queue's filters."""
    where_sql = [CONSENTED_EXCERPT]
    params: dict = {}
    if rq:
        where_sql.append("cd.rq = :rq")
        params["rq"] = rq.upper()
    if code:
        where_sql.append("(c.code_id = :code OR c.code_id LIKE :code_prefix)")
        params.update(code=code, code_prefix=code.rstrip(".") + ".%")
    if ics:
        where_sql.append("lower(i.name) = lower(:ics)")
        params["ics"] = ics
    if wave is not None:
        where_sql.append("s.wave = :wave")
        params["wave"] = wave
    if source:
        if str(source).isdigit():
            where_sql.append("s.id = :source")
            params["source"] = int(source)
        else:
            where_sql.append("(s.title LIKE :source_like OR s.path LIKE :source_like)")
            params["source_like"] = f"%{source}%"
    if kind:
        where_sql.append("s.kind = :kind")
        params["kind"] = kind
    if status and status != "all":
        where_sql.append("c.status = :status")
        params["status"] = status
    if exclude_ids:
        where_sql.append(f"c.id NOT IN ({', '.join(str(int(i)) for i in exclude_ids)})")
    return " AND ".join(f"({w})" for w in where_sql), params


def queue(db: sqlite_utils.Database, *, limit: int | None = 50, **filters) -> list[dict]:
    """Codings to review, in reading order, with their excerpt's display text.

    Filters (all optional): ``rq``, ``code`` (or its themes), ``ics``, ``wave``,
    ``source`` (id or text in its title or path), ``kind``, ``status`` (default
    ``suggested``; ``all`` for any) and ``exclude_ids``.
    """
    where, params = _queue_where(**filters)
    sql = f"""
        SELECT c.id AS coding_id, c.code_id, cd.name AS code_name, cd.rq, c.status, c.coder, c.score,
               c.terms, c.offsets, c.reviewed_by, c.reviewed_at,
               e.id AS excerpt_id, e.text, e.display_text, e.participant_id, e.is_interviewer, e.page,
               s.kind AS source_kind, s.title AS source_title, s.wave, s.date, i.name AS ics,
               p.role AS participant_role, p.org_type
        {_QUEUE_FROM}
        WHERE {where}
        ORDER BY s.id, e.seq, cd.sort, c.id
    """
    if limit:
        sql += f" LIMIT {int(limit)}"
    return fetch_rows(db, sql, params)


def queue_count(db: sqlite_utils.Database, **filters) -> int:
    """How many codings :func:`queue` would list without a limit (same filters)."""
    where, params = _queue_where(**filters)
    return db.execute(f"SELECT count(*) {_QUEUE_FROM} WHERE {where}", params).fetchone()[0]


@dataclass
class ExcerptView:
    excerpt: dict
    previous: dict | None
    following: dict | None
    codings: list[dict]
    memos: list[dict]


def show(db: sqlite_utils.Database, excerpt_id: int) -> ExcerptView:
    """An excerpt with the turns or paragraphs before and after it, its codings and memos."""
    row = excerpt_row(db, excerpt_id)

    def neighbour(seq: int) -> dict | None:
        rows = fetch_rows(db, EXCERPT_SQL + " WHERE e.source_id = ? AND e.seq = ?", [row["source_id"], seq])
        return rows[0] if rows and (rows[0]["is_evidence"] or rows[0]["is_interviewer"]) else None

    codings = fetch_rows(
        db,
        """SELECT c.*, cd.name AS code_name, cd.rq FROM codings c JOIN codes cd ON cd.id = c.code_id
        WHERE c.excerpt_id = ? ORDER BY cd.rq, cd.sort, c.id""",
        [excerpt_id],
    )
    memos = fetch_rows(
        db,
        "SELECT * FROM memos WHERE excerpt_id = ? OR (code_id IN (SELECT code_id FROM codings WHERE excerpt_id = ?) AND excerpt_id IS NULL) ORDER BY id",
        [excerpt_id, excerpt_id],
    )
    # Memos and matched terms are written by people and codebooks, not pseudonymised when
    # stored: show them with the register's and the name lists' names replaced, like the text.
    pseudonymise = pseudonyms.from_db(db)
    for memo_row in memos:
        memo_row["text"] = pseudonymise(memo_row["text"] or "")
    for coding in codings:
        try:
            terms = json.loads(coding["terms"] or "[]")
        except ValueError:
            terms = []
        coding["terms"] = json.dumps([pseudonymise(str(t)) for t in terms] if isinstance(terms, list) else [],
                                     ensure_ascii=False)
    return ExcerptView(row, neighbour(row["seq"] - 1), neighbour(row["seq"] + 1), codings, memos)


# --- deciding -----------------------------------------------------------------------


def _need_coder(coder: str | None) -> str:
    coder = (coder or "").strip()
    if not coder:
        raise CasestudyError("say who you are: --coder NAME or $CASESTUDY_CODER")
    if is_machine_coder(coder):  # in any case, as SQL reads it
        raise CasestudyError(
            f"a person's name cannot start with {coder.split(':')[0]}: (that prefix marks automatic suggestions)"
        )
    return coder


# The coding's fields a decision changes, kept on the decision so it can be undone.
_UNDOABLE = ("status", "reviewed_by", "reviewed_at", "updated_at", "span_start", "span_end")


def _record(db, row: dict, coder: str, action: str, applied: bool, stamp: str, *, created: bool = False,
            blind: bool = False, whole_row: bool = False) -> None:
    """One row in ``decisions``: who decided what about which (excerpt, code), and what it was before
    (the fields a decision changes; the whole coding when the decision deletes it)."""
    if created:
        previous = None
    elif whole_row:
        previous = json.dumps({k: v for k, v in row.items() if k not in ("rq", "code_name")})
    else:
        previous = json.dumps({k: row.get(k) for k in _UNDOABLE})
    insert_row(db, "decisions", {
        "excerpt_id": row["excerpt_id"], "code_id": row["code_id"], "coding_id": row["id"], "decider": coder,
        "action": action, "applied": int(applied), "span_start": row.get("span_start") if created else None,
        "span_end": row.get("span_end") if created else None, "previous": previous, "blind": int(blind), "at": stamp,
    })


def raw_span(text: str, display_text: str, start: int, end: int) -> tuple[int, int]:
    """A span selected in the pseudonymised ``display_text`` as offsets in the raw ``text``
    (the coordinates every coding offset uses). A span edge inside a pseudonym moves out to
    cover the whole name it replaces."""
    if not (0 <= start < end <= len(display_text)):
        raise CasestudyError(f"span {start}-{end} is not inside the excerpt (0-{len(display_text)})")
    if text == display_text:
        return start, end
    blocks = difflib.SequenceMatcher(None, text, display_text, autojunk=False).get_matching_blocks()

    def to_raw(pos: int, is_end: bool) -> int:
        previous_end = 0
        for a, b, size in blocks:
            if b <= pos <= b + size and (size or pos == b):
                if not is_end and pos == b + size and size:
                    continue  # a start at a block's end belongs to what follows
                return a + (pos - b)
            if b > pos:
                return a if is_end else previous_end
            previous_end = a + size
        return len(text)

    raw_start, raw_end = to_raw(start, False), to_raw(end, True)
    if raw_end <= raw_start:
        raise CasestudyError("the selected span is empty")
    return raw_start, raw_end


def check_span(excerpt: dict, span: "tuple[int, int] | None") -> "tuple[int, int] | None":
    """A span given in raw-text offsets, checked against the excerpt (None = the whole excerpt)."""
    if span is None:
        return None
    start, end = int(span[0]), int(span[1])
    if not (0 <= start < end <= len(excerpt["text"])):
        raise CasestudyError(f"span {start}-{end} is not inside excerpt {excerpt['id']} (0-{len(excerpt['text'])})")
    if start == 0 and end == len(excerpt["text"]):
        return None  # the whole excerpt
    return start, end


def decide(db: sqlite_utils.Database, coding_ids: list[int], status: str, coder: str, *,
           span: "tuple[int, int] | None" = None, blind: bool = False) -> list[dict]:
    """Accept or reject codings; every id is checked before anything is written.

    The coding's status becomes the decision (the team's current view); the decision itself,
    with the person who made it, is kept in ``decisions`` for agreement and undo. ``span``
    (raw-text offsets) narrows an accepted coding to part of its excerpt.
    """
    if status not in ("accepted", "rejected"):
        raise CasestudyError(f"unknown decision {status!r}")
    coder = _need_coder(coder)
    rows = [coding_row(db, int(cid)) for cid in dict.fromkeys(coding_ids)]
    stamp = now()
    with db.atomic():
        for row in rows:
            changes = {"status": status, "reviewed_by": coder, "reviewed_at": stamp, "updated_at": stamp}
            if span is not None:
                changes.update(span_start=span[0], span_end=span[1])
            _record(db, row, coder, status[:-2], status == "accepted", stamp, blind=blind)
            update_row(db, "codings", row["id"], changes)
            audit(
                db, coder, f"coding.{status[:-2]}", str(row["id"]),
                excerpt_id=row["excerpt_id"], code_id=row["code_id"], previous=row["status"], coder=row["coder"],
            )
    return rows


def add(db: sqlite_utils.Database, excerpt_id: int, code_id: str, coder: str, *,
        span: "tuple[int, int] | None" = None, blind: bool = False) -> tuple[int, str]:
    """Code an excerpt by hand (``span``: raw-text offsets of part of it). Returns (coding id, what happened).

    When a suggestion for the same code is waiting on the excerpt it is accepted instead,
    so the evidence is not counted twice, unless the coder codes ``blind`` (double-coding):
    then the coding is always the coder's own. One coding per coder, code and excerpt: coding
    a span with a code the coder already applied narrows (or moves) that coding to the span.
    """
    coder = _need_coder(coder)
    excerpt = excerpt_row(db, excerpt_id)
    span = check_span(excerpt, span)
    code = code_row(db, code_id)
    if not code["codable"]:
        raise CasestudyError(f"{code_id} is a research question, not a theme: code one of its themes (see `casestudy codebook list`)")
    stamp = now()
    with db.atomic():
        existing = fetch_rows(db, "SELECT * FROM codings WHERE excerpt_id = ? AND code_id = ? ORDER BY id", [excerpt_id, code_id])
        mine = [r for r in existing if r["coder"] == coder]
        same_span = mine and (mine[0]["span_start"], mine[0]["span_end"]) == (span or (None, None))
        if mine and mine[0]["status"] == "accepted" and same_span:
            raise CasestudyError(f"excerpt {excerpt_id} is already coded {code_id} by {coder} (coding {mine[0]['id']})")
        waiting = [r for r in existing if is_machine_coder(r["coder"]) and r["status"] == "suggested"]
        if waiting and not blind:
            decide(db, [waiting[0]["id"]], "accepted", coder, span=span)
            return waiting[0]["id"], "accepted the waiting suggestion"
        if mine:  # a coding of this coder's, rejected or of another span: accept it again, on this span
            decide(db, [mine[0]["id"]], "accepted", coder, span=span or (None, None), blind=blind)
            return mine[0]["id"], "re-accepted" if same_span else "moved to the new span"
        row = {
            "excerpt_id": excerpt_id,
            "code_id": code_id,
            "coder": coder,
            "status": "accepted",
            "terms": "[]",
            "offsets": "[]",
            "score": None,
            "codebook_version": code["codebook_version"],
            "created_at": stamp,
            "updated_at": stamp,
            "reviewed_by": coder,
            "reviewed_at": stamp,
            "span_start": span[0] if span else None,
            "span_end": span[1] if span else None,
        }
        coding_id = insert_row(db, "codings", row)
        _record(db, {**row, "id": coding_id}, coder, "add", True, stamp, created=True, blind=blind)
        audit(db, coder, "coding.add", str(coding_id), excerpt_id=excerpt_id, code_id=code_id,
              **({"span": list(span)} if span else {}))
    return coding_id, "added"


def remove(db: sqlite_utils.Database, coding_id: int, coder: str) -> dict:
    """Delete a hand-added coding (auto suggestions are rejected, never deleted)."""
    coder = _need_coder(coder)
    row = coding_row(db, coding_id)
    if is_machine_coder(row["coder"]):
        raise CasestudyError(
            f"coding {coding_id} is a codebook suggestion ({row['coder']}); reject it instead: casestudy review reject {coding_id}"
        )
    with db.atomic():
        _record(db, row, coder, "remove", False, now(), whole_row=True)
        db.execute("DELETE FROM codings WHERE id = ?", [coding_id])
        audit(db, coder, "coding.remove", str(coding_id), excerpt_id=row["excerpt_id"], code_id=row["code_id"], added_by=row["coder"])
    return row


def memo(db: sqlite_utils.Database, text: str, coder: str, *, excerpt_id: int | None = None, code_id: str | None = None,
         source_id: int | None = None) -> int:
    """Write a memo about an excerpt, a code, a code on an excerpt, or a whole source."""
    coder = _need_coder(coder)
    text = (text or "").strip()
    if not text:
        raise CasestudyError("a memo needs some text")
    if excerpt_id is None and not code_id and source_id is None:
        raise CasestudyError("say what the memo is about: --excerpt ID, --code CODE_ID and/or --source ID")
    if excerpt_id is not None:
        source_id = excerpt_row(db, excerpt_id)["source_id"]
    elif source_id is not None:
        source_row(db, source_id)
    if code_id:
        code_row(db, code_id)
    with db.atomic():
        memo_id = insert_row(db, "memos", {"excerpt_id": excerpt_id, "code_id": code_id, "source_id": source_id,
                                           "author": coder, "text": text, "created_at": now()})
        audit(db, coder, "memo.add", str(memo_id), excerpt_id=excerpt_id, code_id=code_id, source_id=source_id)
    return memo_id


def source_row(db: sqlite_utils.Database, source_id: int) -> dict:
    """A source that consent lets anyone see: a document, or a transcript whose participant
    consented to interview and has not withdrawn (never its path or raw title)."""
    rows = fetch_rows(
        db,
        f"SELECT s.id, s.kind, s.participant_id FROM {SOURCE_JOIN} WHERE s.id = ? AND {VISIBLE_SOURCE}",
        [source_id],
    )
    if not rows:
        raise CasestudyError(f"no source with id {source_id} that can be coded")
    return rows[0]


def last_decision(db: sqlite_utils.Database, coder: str) -> dict | None:
    """The coder's latest decision that has not been undone."""
    rows = fetch_rows(db, "SELECT * FROM decisions WHERE decider = ? AND undone_at IS NULL ORDER BY id DESC LIMIT 1", [coder])
    return rows[0] if rows else None


def undo(db: sqlite_utils.Database, coder: str) -> dict:
    """Undo the coder's last decision: the coding returns to what it was before (a coding the
    decision created is deleted, one it removed comes back). Undoing again undoes the one before."""
    coder = _need_coder(coder)
    decision = last_decision(db, coder)
    if decision is None:
        raise CasestudyError(f"{coder} has no decision to undo")
    later = fetch_rows(
        db, "SELECT decider FROM decisions WHERE coding_id = ? AND id > ? AND undone_at IS NULL AND decider != ? LIMIT 1",
        [decision["coding_id"], decision["id"], coder])
    if later:
        raise CasestudyError(
            f"{later[0]['decider']} has decided coding {decision['coding_id']} since; decide it again instead of undoing")
    stamp = now()
    with db.atomic():
        if decision["action"] == "remove":
            if fetch_rows(db, "SELECT id FROM codings WHERE id = ?", [decision["coding_id"]]):
                raise CasestudyError(f"coding {decision['coding_id']} exists again; nothing to undo")
            insert_row(db, "codings", json.loads(decision["previous"]))
        elif decision["previous"] is None:  # the decision created the coding
            db.execute("DELETE FROM codings WHERE id = ?", [decision["coding_id"]])
        else:
            restored = json.loads(decision["previous"])
            if not fetch_rows(db, "SELECT id FROM codings WHERE id = ?", [decision["coding_id"]]):
                raise CasestudyError(f"coding {decision['coding_id']} no longer exists; its decision cannot be undone")
            update_row(db, "codings", decision["coding_id"], restored)
        update_row(db, "decisions", decision["id"], {"undone_at": stamp})
        audit(db, coder, "coding.undo", str(decision["coding_id"]), decision=decision["id"], undid=decision["action"],
              excerpt_id=decision["excerpt_id"], code_id=decision["code_id"])
    return decision


def counts(db: sqlite_utils.Database) -> dict[str, int]:
    """Codings of evidence by status."""
    return {
        status: n
        for status, n in db.execute(
            f"""SELECT c.status, count(*) FROM {EXCERPT_JOIN} JOIN codings c ON c.excerpt_id = e.id
                WHERE {CONSENTED_EXCERPT} GROUP BY c.status"""
        )
    }
