"""Why the coder suggested what it did for one excerpt, and why not the rest
(`casestudy review why`, the workspace's "Why?").

The excerpt is judged again by the codebook and the learned model it was coded with (read
from the study database), through the same :meth:`Coder.suggest` that coded it, and each
research question's outcome is put in words with the combination rule's thresholds
(docs/coding.md, "How a suggestion is made"). Nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlite_utils

from casestudy.coding import codebook as codebook_lib
from casestudy.coding import review
from casestudy.coding.codebook import Codebook
from casestudy.consent import pseudonyms
from casestudy.db import fetch_rows


@dataclass
class Judgement:
    """One research question, as a reader sees it (terms pseudonymised)."""

    rq: str
    probability: float | None
    suggested: list[str]  # code ids suggested (a theme's, or the RQ's own)
    matched: dict[str, list[str]]  # theme code id → the words its patterns matched
    key_terms: list[str]
    reason: str
    decided: list[str] = field(default_factory=list)  # "RQ3.x accepted by ann": people's decisions


@dataclass
class Account:
    excerpt: dict  # the excerpt row (review.excerpt_row: display_text pseudonymised)
    codebook: str  # the codebook version judged with
    model: str | None  # learned:<version>, or None when it was coded by the patterns alone
    model_note: str  # which model, and why that one
    judgements: list[Judgement]


def account(db: sqlite_utils.Database, excerpt_id: int, book: Codebook | None = None) -> Account:
    """Why each research question was or was not suggested for ``excerpt_id`` (consented
    evidence only: an interviewer turn or a withdrawn participant's excerpt is an error)."""
    from casestudy.coding import learned
    from casestudy.coding.engine import Coder, engine_for

    row = review.excerpt_row(db, excerpt_id)
    book = book or codebook_lib.load()
    engine = engine_for(book)
    featurizer = learned.Featurizer(engine.lemma_of)
    model, note = _model_for(db, excerpt_id, book, featurizer)
    if model is not None and db.execute(
            "SELECT 1 FROM suggestion_outcomes WHERE excerpt_id = ? AND NOT waiting LIMIT 1", [excerpt_id]).fetchone():
        note += ("; reviewed in full by the team, so a retrained model adds no suggestions to it (below is what "
                 "this model would suggest; its codings are as the team left them)")
    verdicts = Coder(engine, model, featurizer).verdicts(row["text"], engine.match(row["text"]))
    shown = pseudonyms.from_db(db)
    decided = _decisions(db, excerpt_id)
    judgements = [
        Judgement(v.rq, v.probability, [s.code_id for s in v.suggested],
                  {m.code_id: [shown(t) for t in m.terms] for m in v.matched},
                  [shown(t) for t in v.key_terms], v.reason, decided.get(v.rq, []))
        for v in verdicts
    ]
    return Account(row, book.version, model.coder if model else None, note, judgements)


def _model_for(db, excerpt_id: int, book: Codebook, featurizer):
    """(the learned model the excerpt was last coded with under this codebook, or the one
    `casestudy code` would use now; a sentence saying which)."""
    from casestudy.coding import learned

    ran = db.execute(
        "SELECT codebook_version FROM coded_excerpts WHERE excerpt_id = ? AND codebook_version LIKE ? "
        "ORDER BY coded_at DESC LIMIT 1", [excerpt_id, book.version + "%"]).fetchone()
    if ran and ran[0] == book.version:
        return None, f"coded by codebook {book.version}'s patterns alone (`casestudy code --patterns-only`)"
    why_not = f"not yet coded with codebook {book.version}"
    if ran:
        version = ran[0].split("+", 1)[1]
        model = _stored_model(db, version)
        if model is not None:
            return model, f"as it was coded: codebook {book.version}, learned:{version}"
        why_not = f"coded with learned:{version}, which the database no longer holds"
    model, which = learned.model_in_use(db, book, featurizer)
    return model, f"{why_not}: judged with {which}"


_LOADED: dict = {}  # version → the last model read (a version names its content)


def _stored_model(db, version: str):
    """The learned model ``version`` as the study database stores it (None if it does not)."""
    from casestudy.coding import learned

    if version not in _LOADED:
        stored = db.execute("SELECT model FROM learned_models WHERE version = ?", [version]).fetchone()
        if stored is None:
            return None
        _LOADED.clear()
        _LOADED[version] = learned.Model.from_json(stored[0])
    return _LOADED[version]


def _decisions(db, excerpt_id: int) -> dict[str, list[str]]:
    """People's decisions on the excerpt's codes, by RQ (the coder never overrides them)."""
    out: dict[str, list[str]] = {}
    for c in fetch_rows(db, """SELECT c.code_id, c.status, c.reviewed_by, c.coder, cd.rq FROM codings c
                               JOIN codes cd ON cd.id = c.code_id
                               WHERE c.excerpt_id = ? AND c.status IN ('accepted', 'rejected')
                               ORDER BY cd.rq, cd.sort, c.id""", [excerpt_id]):
        out.setdefault(c["rq"], []).append(f"{c['code_id']} {c['status']} by {c['reviewed_by'] or c['coder']}")
    return out
