"""Pseudonymisation: real names in excerpt text replaced by stable pseudonyms.

Names come from the ``pseudonyms`` table: every participant of the consent register
(``Helen Marsh`` → ``[P01]``) and any extra list of names (``Dr Ruth Okafor`` →
``[the ICB chief executive]``). Full names match in any case; a surname with a title
(``Dr Okafor``) and a first name alone (``Helen``, ``Helen's``) match when no other
listed person shares them. ``excerpts.display_text`` holds the result: it is the only
text the evidence view, the publish database and the exports ever read.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

import sqlite_utils

TITLES = ("Dr", "Dr.", "Prof", "Prof.", "Professor", "Mr", "Mr.", "Mrs", "Mrs.", "Ms", "Ms.", "Miss", "Sir", "Dame", "Cllr")
_TITLE_RE = r"(?:(?:Dr|Prof|Professor|Mr|Mrs|Ms|Miss|Sir|Dame|Cllr)\.?\s+)?"


@dataclass
class Pseudonymiser:
    """Replaces every listed name in a text; build once, apply to many excerpts."""

    pattern: re.Pattern | None
    lookup: dict[str, str]

    def __call__(self, text: str) -> str:
        if not text or self.pattern is None:
            return text
        return self.pattern.sub(self._replace, text)

    def apply(self, text: str) -> tuple[str, list[tuple[int, int, int, int]]]:
        """The pseudonymised text and the replaced spans ``(old_start, old_end, new_start, new_end)``."""
        if not text or self.pattern is None:
            return text, []
        out, spans, last, shift = [], [], 0, 0
        for match in self.pattern.finditer(text):
            start, end = match.span()
            new = self._replace(match)
            out.append(text[last:start])
            out.append(new)
            spans.append((start, end, start + shift, start + shift + len(new)))
            shift += len(new) - (end - start)
            last = end
        out.append(text[last:])
        return "".join(out), spans

    def _replace(self, match: re.Match) -> str:
        return self.lookup[_key(match.group("name"))]


def _key(name: str) -> str:
    return " ".join(name.lower().replace("’", "'").split())


def _split_name(full: str) -> tuple[str | None, list[str]]:
    words = full.split()
    title = words[0] if words and words[0] in TITLES else None
    return title, words[1:] if title else words


def build(names: dict[str, str]) -> Pseudonymiser:
    """A pseudonymiser for ``{real name: pseudonym}``."""
    lookup: dict[str, str] = {}
    first_names: dict[str, set[str]] = defaultdict(set)
    surnames: dict[str, set[str]] = defaultdict(set)
    for full, pseudonym in names.items():
        title, words = _split_name(full.strip())
        if not words:
            continue
        lookup[_key(" ".join(words))] = pseudonym
        if title:
            lookup[_key(full)] = pseudonym
        if len(words) >= 2:
            first_names[words[0]].add(pseudonym)
            surnames[words[-1]].add(pseudonym)
    variants_ci = set(lookup)  # full names: any case
    variants_cs: set[str] = set()  # single words: as capitalised in the text
    for first, owners in first_names.items():
        if len(owners) == 1 and len(first) > 2:
            lookup[_key(first)] = next(iter(owners))
            variants_cs.add(first)
    for surname, owners in surnames.items():
        if len(owners) == 1:
            for title in ("Dr", "Prof", "Professor", "Mr", "Mrs", "Ms", "Miss", "Cllr"):
                lookup[_key(f"{title} {surname}")] = next(iter(owners))
                variants_ci.add(_key(f"{title} {surname}"))
    if not lookup:
        return Pseudonymiser(None, {})
    alternatives = sorted(
        [_flexible(v) for v in variants_ci] + [re.escape(v) for v in variants_cs],
        key=len,
        reverse=True,
    )
    # Full names are matched case-insensitively, single first names only as written.
    ci = "|".join(a for a in alternatives if a.startswith("(?i:"))
    cs = "|".join(a for a in alternatives if not a.startswith("(?i:"))
    body = "|".join(x for x in (ci, cs) if x)
    pattern = re.compile(rf"(?<![\w-])(?P<name>{body})(?![\w-])")
    # lookup keys for title variants with a dot ("Dr. Okafor")
    for key in list(lookup):
        first, *rest = key.split(" ", 1)
        if rest and first in {t.lower() for t in TITLES if not t.endswith(".")}:
            lookup[f"{first}. {rest[0]}"] = lookup[key]
    return Pseudonymiser(pattern, lookup)


def _flexible(variant: str) -> str:
    """A case-insensitive pattern for a multi-word name, tolerant of spacing and a title dot."""
    words = [re.escape(w) for w in variant.split()]
    if words and words[0] in {t.lower() for t in TITLES}:
        words[0] = words[0] + r"\.?"
    return "(?i:" + r"\s+".join(words) + ")"


def names_from_db(db: sqlite_utils.Database) -> dict[str, str]:
    if "pseudonyms" not in db.table_names():
        return {}
    return {row["name"]: row["pseudonym"] for row in db["pseudonyms"].rows if row["name"]}


def from_db(db: sqlite_utils.Database) -> Pseudonymiser:
    return build(names_from_db(db))


def set_names(db: sqlite_utils.Database, names: dict[str, str], origin: str, participant_ids: dict[str, str] | None = None) -> bool:
    """Store names and their pseudonyms; return True when anything changed."""
    participant_ids = participant_ids or {}
    changed = False
    for name, pseudonym in names.items():
        name = " ".join(name.split())
        if not name:
            continue
        row = {"name": name, "pseudonym": pseudonym, "participant_id": participant_ids.get(name), "origin": origin}
        try:
            existing = db["pseudonyms"].get(name)
        except sqlite_utils.db.NotFoundError:
            existing = None
        if existing != row:
            db["pseudonyms"].upsert(row, pk="name")
            changed = True
    return changed


def refresh_display_text(db: sqlite_utils.Database, source_ids: list[int] | None = None) -> int:
    """Recompute ``excerpts.display_text`` (all excerpts, or those of some sources)."""
    pseudonymise = from_db(db)
    where, params = "", []
    if source_ids is not None:
        if not source_ids:
            return 0
        where = f"WHERE source_id IN ({','.join('?' * len(source_ids))})"
        params = list(source_ids)
    updates = [
        (pseudonymise(text), excerpt_id)
        for excerpt_id, text in db.execute(f"SELECT id, text FROM excerpts {where}", params).fetchall()
    ]
    db.conn.executemany("UPDATE excerpts SET display_text = ? WHERE id = ?", updates)
    return len(updates)


def map_offset(pos: int, spans: list[tuple[int, int, int, int]], end: bool = False) -> int:
    """Where character ``pos`` of the original text lands in the pseudonymised text.

    A position inside a replaced name snaps to the start of its pseudonym (or to its end
    when ``end`` is true), so a coded span never cuts a pseudonym in half.
    """
    shift = 0
    for old_start, old_end, new_start, new_end in spans:
        if pos <= old_start:
            break
        if pos < old_end:
            return new_end if end else new_start
        shift = new_end - old_end
    return pos + shift
