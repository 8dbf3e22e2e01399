"""Double-coding samples: excerpts assigned to researchers to code, usually blind.

A blind coder sees neither the automatic suggestions nor other people's decisions on the
excerpts of their sample, and codes by hand (``review.add(..., blind=True)``: always their own
coding). Finishing an excerpt (``finish``) records that they rated it even when no theme
applies, so "applied nothing" counts as a value in the agreement figures.
"""

from __future__ import annotations

import random

import sqlite_utils

from casestudy.coding import review
from casestudy.db import CONSENTED_EXCERPT, EXCERPT_JOIN, audit, now
from casestudy.errors import CasestudyError


def assign(db: sqlite_utils.Database, coders: list[str], size: int, assigned_by: str, *, seed: int | None = None,
           kind: str | None = None, ics: str | None = None, wave: int | None = None, source_id: int | None = None,
           blind: bool = True, name: str | None = None) -> list[int]:
    """Assign the same random sample of ``size`` codable excerpts to every coder in ``coders``.

    Excerpts already in a sample of any of these coders are not drawn again. Returns the
    excerpt ids, in reading order.
    """
    assigned_by = review._need_coder(assigned_by)
    coders = list(dict.fromkeys(review._need_coder(c) for c in coders))
    if not coders:
        raise CasestudyError("name at least one coder for the sample")
    if size < 1:
        raise CasestudyError("a sample needs at least one excerpt")
    where, params = [CONSENTED_EXCERPT], []
    for column, value in (("s.kind", kind), ("s.wave", wave), ("s.id", source_id)):
        if value not in (None, ""):
            where.append(f"{column} = ?")
            params.append(value)
    if ics:
        where.append("s.ics_id IN (SELECT id FROM ics WHERE lower(name) = lower(?))")
        params.append(ics)
    marks = ", ".join("?" * len(coders))
    where.append(f"e.id NOT IN (SELECT excerpt_id FROM assignments WHERE coder IN ({marks}))")
    params.extend(coders)
    pool = [r[0] for r in db.execute(
        f"""SELECT e.id FROM {EXCERPT_JOIN}
            WHERE {' AND '.join(f'({w})' for w in where)} ORDER BY e.id""", params)]
    if not pool:
        raise CasestudyError("no excerpt left to sample with these filters")
    chosen = sorted(random.Random(seed).sample(pool, min(size, len(pool))))
    stamp = now()
    name = name or f"sample {stamp}"
    with db.atomic():
        db["assignments"].insert_all(
            ({"excerpt_id": e, "coder": c, "blind": int(blind), "sample": name, "assigned_by": assigned_by,
              "assigned_at": stamp, "done_at": None} for c in coders for e in chosen),
            replace=True,
        )
        audit(db, assigned_by, "sample.assign", name, coders=coders, excerpts=len(chosen), blind=blind, seed=seed)
    return chosen


def blind_excerpts(db: sqlite_utils.Database, coder: str, source_id: int | None = None) -> set[int]:
    """The excerpts ``coder`` codes blind (of one source, or all)."""
    sql = "SELECT a.excerpt_id FROM assignments a WHERE a.coder = ? AND a.blind = 1"
    params: list = [coder]
    if source_id is not None:
        sql += " AND a.excerpt_id IN (SELECT id FROM excerpts WHERE source_id = ?)"
        params.append(source_id)
    return {r[0] for r in db.execute(sql, params)}


def blind_for_anyone_but(db: sqlite_utils.Database, coder: str) -> set[int]:
    """Excerpts in someone's unfinished blind sample, other than ``coder``'s own."""
    return {r[0] for r in db.execute(
        "SELECT excerpt_id FROM assignments WHERE blind = 1 AND done_at IS NULL AND coder != ?", [coder])}


def unfinished_blind(db: sqlite_utils.Database, coder: str) -> set[int]:
    """The coder's own blind excerpts not finished yet (their agreement must not show others' codes)."""
    return {r[0] for r in db.execute(
        "SELECT excerpt_id FROM assignments WHERE blind = 1 AND done_at IS NULL AND coder = ?", [coder])}


def finish(db: sqlite_utils.Database, excerpt_id: int, coder: str, done: bool = True) -> None:
    """Mark an assigned excerpt finished (or not) by ``coder``."""
    coder = review._need_coder(coder)
    review.excerpt_row(db, excerpt_id)
    rows = list(db.query("SELECT done_at FROM assignments WHERE excerpt_id = ? AND coder = ?", [excerpt_id, coder]))
    if not rows:
        raise CasestudyError(f"excerpt {excerpt_id} is not in a sample of {coder}'s")
    with db.atomic():
        db.execute("UPDATE assignments SET done_at = ? WHERE excerpt_id = ? AND coder = ?",
                   [now() if done else None, excerpt_id, coder])
        audit(db, coder, "sample.finish" if done else "sample.reopen", str(excerpt_id))


def progress(db: sqlite_utils.Database) -> list[dict]:
    """Per sample and coder: excerpts assigned and finished."""
    return list(db.query(
        """SELECT sample, coder, blind, count(*) AS assigned, count(done_at) AS finished, min(assigned_at) AS assigned_at
           FROM assignments GROUP BY sample, coder, blind ORDER BY assigned_at DESC, sample, coder"""))
