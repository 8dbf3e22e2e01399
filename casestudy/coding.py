"""Coding: spaCy-assisted suggestions of codebook themes for excerpts.

The pipeline is ``spacy.blank("en")`` with a sentencizer; lemmas come from
spacy-lookups-data's ``lemma_lookup`` table applied to lower-cased tokens, after the
codebook's own overrides (e.g. ``collaboratives`` → ``collaborative``), so matching is
case-insensitive throughout. Each code's patterns become:

* ``phrases`` → a PhraseMatcher on LOWER (exact wording, any case);
* ``lemmas`` and ``weak`` → a PhraseMatcher on LEMMA (any inflection);
* ``tokens`` → a Matcher (spaCy token patterns);
* ``exclude`` → a PhraseMatcher on LEMMA whose matches veto overlapping matches of that code.

A code is suggested for an excerpt when its score reaches the codebook's ``min_score``:
every distinct strong term (phrase, lemma phrase or token pattern) adds 1 to the
evidence, every distinct weak cue adds ``weak_weight``; score = 1 − exp(−evidence).

Suggestions are stored as codings with coder ``auto:<codebook version>`` and status
``suggested``, with the matched terms (a JSON list of the excerpt's own words) and their
character offsets (a JSON list of ``[start, end]``, aligned with the terms) in
``excerpts.text``. Where ``display_text`` equals ``text`` (no name was pseudonymised)
the same offsets index ``display_text``; otherwise use :func:`display_offsets`.

Only evidence is coded: participant turns, paper paragraphs and observation notes of
consenting participants — never interviewer turns. Coding is incremental (the
``coded_excerpts`` table records which excerpts each codebook version has seen) and
never touches accepted, rejected or hand-added codings.
"""

from __future__ import annotations

import difflib
import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import numpy as np
import sqlite_utils

from . import codebook as codebook_lib
from .codebook import Codebook
from .db import CONSENTED_EXCERPT, audit, now

CHUNK = 1000  # excerpts read from SQLite at a time
BATCH = 256  # texts per nlp.pipe batch

# the excerpts that may be coded: evidence of consenting participants, never interviewers
CODABLE_FROM = f"""
    FROM excerpts e
    JOIN sources s ON s.id = e.source_id
    LEFT JOIN consents cs ON cs.participant_id = e.participant_id
    WHERE {CONSENTED_EXCERPT}
"""


@dataclass
class Match:
    code_id: str
    terms: list[str]
    offsets: list[list[int]]
    score: float


@dataclass
class Result:
    version: str
    excerpts: int = 0
    suggestions: int = 0
    dropped: int = 0
    skipped_decided: int = 0
    by_rq: dict = field(default_factory=lambda: defaultdict(int))
    codes: dict = field(default_factory=dict)

    def summary(self) -> str:
        lines = [
            f"Codebook version {self.version}: coded {self.excerpts:,} excerpts, "
            f"{self.suggestions:,} new suggestions"
            + (f", {self.dropped:,} untouched suggestions of older versions dropped" if self.dropped else "")
            + "."
        ]
        if self.by_rq:
            lines.append("New suggestions by research question: " + ", ".join(f"{rq} {n}" for rq, n in sorted(self.by_rq.items())))
        return "\n".join(lines)


# --- the spaCy engine ---------------------------------------------------------------


def blank_pipeline():
    """A blank English pipeline with a sentencizer: the tokeniser everything shares."""
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    return nlp


class Engine:
    """The codebook compiled into spaCy matchers; ``match(text)`` or ``match_many(texts)``."""

    def __init__(self, book: Codebook):
        from spacy.lookups import load_lookups
        from spacy.matcher import Matcher, PhraseMatcher

        self.book = book
        self.nlp = blank_pipeline()
        strings = self.nlp.vocab.strings
        table = load_lookups("en", ["lemma_lookup"]).get_table("lemma_lookup")
        # LOWER hash → LEMMA hash; words the table does not know keep their lower-case form
        self._lemma: dict[int, int] = {}
        for key, lemma in table.items():
            self._lemma[key] = strings.add(lemma.lower())
        for word, lemma in book.lemma_overrides.items():
            self._lemma[strings.add(word)] = strings.add(lemma)

        vocab = self.nlp.vocab
        self.lower_matcher = PhraseMatcher(vocab, attr="LOWER")
        self.lemma_matcher = PhraseMatcher(vocab, attr="LEMMA")
        self.token_matcher = Matcher(vocab)
        self.rq_of: dict[str, str] = {}
        for code in book.codable:
            self.rq_of[code.id] = code.rq
            if code.phrases:
                self.lower_matcher.add(f"{code.id}|S", [self.nlp.make_doc(p) for p in code.phrases])
            if code.lemmas:
                self.lemma_matcher.add(f"{code.id}|S", [self._lemma_doc(p) for p in code.lemmas])
            if code.weak:
                self.lemma_matcher.add(f"{code.id}|W", [self._lemma_doc(p) for p in code.weak])
            if code.exclude:
                self.lemma_matcher.add(f"{code.id}|X", [self._lemma_doc(p) for p in code.exclude])
            if code.tokens:
                self.token_matcher.add(f"{code.id}|S", code.tokens)
        self._key = {}  # match_id → (code_id, kind)
        for code in book.codable:
            for kind in "SWX":
                self._key[strings.add(f"{code.id}|{kind}")] = (code.id, kind)

    def _lemma_doc(self, text: str):
        return self.lemmatise(self.nlp.make_doc(text))

    def lemmatise(self, doc):
        """Set every token's lemma from the lookup table, applied to its lower-case form."""
        from spacy.attrs import LEMMA, LOWER

        if len(doc):
            get = self._lemma.get
            lowers = doc.to_array(LOWER).tolist()
            lemmas = np.fromiter((get(x, x) for x in lowers), dtype=np.uint64, count=len(lowers))
            doc.from_array([LEMMA], lemmas.reshape(-1, 1))
        return doc

    def match_doc(self, doc) -> list[Match]:
        self.lemmatise(doc)
        found: dict[str, dict[str, list]] = defaultdict(lambda: {"S": [], "W": [], "X": []})
        key = self._key
        for matches in (self.lower_matcher(doc), self.lemma_matcher(doc), self.token_matcher(doc)):
            for match_id, start, end in matches:
                code_id, kind = key[match_id]
                found[code_id][kind].append((start, end))
        results = []
        book = self.book
        for code_id, kinds in found.items():
            excluded = kinds["X"]
            spans = [
                (start, end, kind)
                for kind in "SW"
                for start, end in kinds[kind]
                if not any(start < x_end and x_start < end for x_start, x_end in excluded)
            ]
            if not spans:
                continue
            # longest first, then keep only spans that do not overlap a kept one
            spans.sort(key=lambda s: (-(s[1] - s[0]), s[0], s[2]))
            kept: list[tuple[int, int, str]] = []
            taken = set()
            for start, end, kind in spans:
                if any(i in taken for i in range(start, end)):
                    continue
                kept.append((start, end, kind))
                taken.update(range(start, end))
            weights: dict[str, float] = {}
            for start, end, kind in kept:
                term = " ".join(t.lemma_ for t in doc[start:end])
                weight = 1.0 if kind == "S" else book.weak_weight
                weights[term] = max(weights.get(term, 0.0), weight)
            score = 1.0 - math.exp(-sum(weights.values()))
            if score + 1e-9 < book.min_score:
                continue
            kept.sort()
            results.append(
                Match(
                    code_id=code_id,
                    terms=[doc[s:e].text for s, e, _ in kept],
                    offsets=[[doc[s:e].start_char, doc[s:e].end_char] for s, e, _ in kept],
                    score=round(score, 3),
                )
            )
        results.sort(key=lambda m: (self.rq_of[m.code_id], m.code_id))
        return results

    def match(self, text: str) -> list[Match]:
        return self.match_doc(self.nlp(text))

    def match_many(self, texts: Iterable[str], batch_size: int = BATCH) -> Iterator[list[Match]]:
        for doc in self.nlp.pipe(texts, batch_size=batch_size):
            yield self.match_doc(doc)


_ENGINES: dict[str, Engine] = {}


def engine_for(book: Codebook) -> Engine:
    """A compiled engine per codebook version (building one takes a fraction of a second)."""
    if book.version not in _ENGINES:
        _ENGINES.clear()
        _ENGINES[book.version] = Engine(book)
    return _ENGINES[book.version]


# --- offsets for display_text -------------------------------------------------------


def display_offsets(text: str, display_text: str, offsets: list[list[int]]) -> list[list[int] | None]:
    """Map offsets in ``text`` to ``display_text`` (which has names replaced by pseudonyms).

    Identical texts map one to one. Otherwise each span is moved by the alignment of the
    two texts; a span that touches replaced text (a name) maps to ``None``.
    """
    if text == display_text or not offsets:
        return [list(o) for o in offsets]
    blocks = difflib.SequenceMatcher(None, text, display_text, autojunk=False).get_matching_blocks()
    out: list[list[int] | None] = []
    for start, end in offsets:
        mapped = None
        for a, b, size in blocks:
            if a <= start and end <= a + size:
                mapped = [b + (start - a), b + (end - a)]
                break
        out.append(mapped)
    return out


# --- coding a database --------------------------------------------------------------


def pending_count(db: sqlite_utils.Database, version: str) -> int:
    return db.execute(
        f"""SELECT count(*) {CODABLE_FROM}
            AND NOT EXISTS (SELECT 1 FROM coded_excerpts ce WHERE ce.excerpt_id = e.id AND ce.codebook_version = ?)""",
        [version],
    ).fetchone()[0]


def _pending_chunks(db: sqlite_utils.Database, version: str, chunk: int) -> Iterator[list[tuple[int, str]]]:
    """Excerpts not yet coded with ``version``, ``chunk`` rows at a time (keyset paging)."""
    last = 0
    sql = f"""SELECT e.id, e.text {CODABLE_FROM}
              AND e.id > ?
              AND NOT EXISTS (SELECT 1 FROM coded_excerpts ce WHERE ce.excerpt_id = e.id AND ce.codebook_version = ?)
              ORDER BY e.id LIMIT ?"""
    while True:
        rows = db.execute(sql, [last, version, chunk]).fetchall()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def drop_stale_suggestions(db: sqlite_utils.Database, version: str) -> int:
    """Delete suggestions of other codebook versions that nobody has reviewed."""
    cursor = db.execute(
        """DELETE FROM codings WHERE coder LIKE 'auto:%' AND coder != ? AND status = 'suggested'
           AND reviewed_at IS NULL""",
        [f"auto:{version}"],
    )
    db.execute("DELETE FROM coded_excerpts WHERE codebook_version != ?", [version])
    return cursor.rowcount


def code_database(
    db: sqlite_utils.Database,
    book: Codebook | None = None,
    *,
    actor: str = "casestudy",
    progress: Callable[[int], None] | None = None,
    chunk: int = CHUNK,
) -> Result:
    """Apply ``book`` (default: the default codebook) to every excerpt it has not coded yet.

    One transaction: codes stored, stale suggestions dropped, new suggestions written.
    Excerpt/code pairs that already have any other coding (a human decision, a hand-added
    code, a reviewed suggestion of an older version) are not suggested again.
    """
    book = book or codebook_lib.load()
    engine = engine_for(book)
    result = Result(version=book.version)
    coder = book.coder
    with db.atomic():
        result.dropped = drop_stale_suggestions(db, book.version)
        result.codes = codebook_lib.store(db, book)
        conn = db.conn
        stamp = now()
        for rows in _pending_chunks(db, book.version, chunk):
            first, last = rows[0][0], rows[-1][0]
            decided = set(
                conn.execute(
                    "SELECT excerpt_id, code_id FROM codings WHERE excerpt_id BETWEEN ? AND ? AND coder != ?",
                    [first, last, coder],
                ).fetchall()
            )
            codings = []
            for (excerpt_id, _), matches in zip(rows, engine.match_many(text for _, text in rows)):
                for m in matches:
                    if (excerpt_id, m.code_id) in decided:
                        result.skipped_decided += 1
                        continue
                    codings.append(
                        (excerpt_id, m.code_id, coder, "suggested", json.dumps(m.terms, ensure_ascii=False),
                         json.dumps(m.offsets), m.score, book.version, stamp, stamp)
                    )
                    result.by_rq[engine.rq_of[m.code_id]] += 1
            conn.executemany(
                """INSERT OR IGNORE INTO codings
                   (excerpt_id, code_id, coder, status, terms, offsets, score, codebook_version, created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                codings,
            )
            conn.executemany(
                "INSERT OR IGNORE INTO coded_excerpts (excerpt_id, codebook_version, coded_at) VALUES (?, ?, ?)",
                [(excerpt_id, book.version, stamp) for excerpt_id, _ in rows],
            )
            result.excerpts += len(rows)
            result.suggestions += len(codings)
            if progress:
                progress(len(rows))
        audit(
            db,
            actor,
            "code.run",
            book.version,
            codebook=str(book.path),
            excerpts=result.excerpts,
            suggestions=result.suggestions,
            dropped=result.dropped,
            **{f"codes_{k}": v for k, v in result.codes.items()},
        )
    result.by_rq = dict(result.by_rq)
    return result


def suggestions_by_rq(db: sqlite_utils.Database, status: str = "suggested") -> dict[str, int]:
    """How many codings of each status there are per research question (all coders)."""
    return {
        rq: n
        for rq, n in db.execute(
            """SELECT cd.rq, count(*) FROM codings c JOIN codes cd ON cd.id = c.code_id
               WHERE c.status = ? GROUP BY cd.rq ORDER BY cd.rq""",
            [status],
        )
    }
