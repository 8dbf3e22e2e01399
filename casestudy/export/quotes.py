"""Which excerpts the Word report quotes, by rules a reader can check.

The rules (also printed in the report's "About this report" and in docs/exports.md):

1. **Quotable text only.** Never an excerpt whose participant refused verbatim quotation,
   an interviewer's turn, a flattened table row, an agenda or attendance line, or fewer
   than :data:`MIN_WORDS` words; researchers' bracketed memos are taken out of
   observation notes before anything else is judged (:mod:`casestudy.ingest.textshape`).
2. **Participant voices first.** Interview quotes fill a theme's places first; documents
   (board papers, policies, observation notes) only fill places no interview can.
3. **Every theme that has interview evidence gets at least one interview quote**: themes
   with the fewest candidates choose first, so none is left without one.
4. **Spread.** No excerpt is quoted twice in the report; no participant more than once per
   theme, nor more than an even share of the report's interview quotes (rounded up); within
   a theme, quotes from ICSs, waves and participants not yet heard are preferred, and
   across the report the least-quoted participants are.
5. **Reviewed evidence preferred.** An accepted coding outranks any suggestion; with
   ``--status accepted`` only accepted codings are used at all.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from casestudy.export import common
from casestudy.ingest.textshape import looks_like_agenda_line, looks_like_table, strip_observer_memos

QUOTES_PER_THEME = 3
QUOTE_MAX_WORDS = 75
MIN_WORDS = 12

_SENTENCE = re.compile(r"(?<=[.!?…])[\"”’)]*\s+")


@dataclass
class Selection:
    """The quotes chosen for each code id, and how the choice went."""

    quotes: dict[str, list[dict]] = field(default_factory=dict)
    cap: int = 0  # most interview quotes from any one participant
    per_theme: int = QUOTES_PER_THEME

    def all(self) -> list[dict]:
        return [q for chosen in self.quotes.values() for q in chosen]


def typeset(text: str) -> str:
    """A spaced hyphen used as a dash becomes an en dash; nothing else changes."""
    return re.sub(r"(?<=\S) +-{1,2} +(?=\S)", " – ", text or "")


def is_voice(row: dict) -> bool:
    """A participant speaking in an interview (not a document, not the interviewer)."""
    return bool(row.get("participant_id")) and row.get("source_kind") in (None, "transcript") \
        and row.get("speaker_role") != "interviewer"


def voice_key(row: dict) -> str:
    return row.get("participant_id") or f"source:{row.get('source_id')}"


def per_excerpt(rows: list[dict]) -> list[dict]:
    """One candidate per excerpt: the best-status row, with all matched offsets."""
    best: dict[int, dict] = {}
    rank = {"accepted": 2, "suggested": 1}
    for row in rows:
        current = best.get(row["excerpt_id"])
        if current is None:
            best[row["excerpt_id"]] = dict(row, _offsets=list(common.json_list(row.get("offsets"))))
            continue
        current["_offsets"].extend(common.json_list(row.get("offsets")))
        if rank.get(row.get("status"), 0) > rank.get(current.get("status"), 0):
            best[row["excerpt_id"]] = dict(row, _offsets=current["_offsets"])
    return list(best.values())


def trim_quote(text: str, offsets: list, max_words: int = QUOTE_MAX_WORDS) -> str:
    """The excerpt itself when short; otherwise the sentences around the first matched
    term, with ellipses marking what was left out. Never rewords anything."""
    text = " ".join(text.split())
    if len(text.split()) <= max_words:
        return text
    spans, at = [], 0
    for part in _SENTENCE.split(text):
        start = text.find(part, at)
        spans.append((start, start + len(part)))
        at = start + len(part)
    anchor = 0
    if offsets:
        first = min(int(o[0]) for o in offsets if isinstance(o, (list, tuple)) and o)
        anchor = next((i for i, (s, e) in enumerate(spans) if s <= first < e + 1), 0)
    lo = hi = anchor
    words = len(text[spans[anchor][0] : spans[anchor][1]].split())
    while True:
        grown = False
        if hi + 1 < len(spans):
            extra = len(text[spans[hi + 1][0] : spans[hi + 1][1]].split())
            if words + extra <= max_words:
                hi, words, grown = hi + 1, words + extra, True
        if lo > 0:
            extra = len(text[spans[lo - 1][0] : spans[lo - 1][1]].split())
            if words + extra <= max_words:
                lo, words, grown = lo - 1, words + extra, True
        if not grown:
            break
    quote = text[spans[lo][0] : spans[hi][1]]
    if len(quote.split()) > max_words:  # one very long sentence
        quote = " ".join(quote.split()[:max_words]) + " …"
    return ("… " if lo > 0 else "") + quote + (" …" if hi < len(spans) - 1 and not quote.endswith("…") else "")


def _shifted_offsets(original: str, cleaned: str, offsets: list) -> list:
    """Offsets of the same matched words in ``cleaned`` (memos taken out of ``original``)."""
    if cleaned == original:
        return offsets
    out = []
    for o in offsets:
        if not (isinstance(o, (list, tuple)) and len(o) >= 2):
            continue
        term = original[int(o[0]) : int(o[1])]
        at = cleaned.find(term) if term else -1
        if at >= 0:
            out.append([at, at + len(term)])
    return out


def candidate(row: dict) -> dict | None:
    """``row`` ready to quote (``_quote``: the words that would be printed), or None when
    rule 1 rules it out."""
    if not common.is_quotable(row) or row.get("speaker_role") == "interviewer":
        return None
    original = row.get("text") or ""
    if not original.strip() or original.startswith("[withheld"):
        return None
    if row.get("quote"):  # a researcher coded just these words (a workspace span): quote them as chosen
        return dict(row, _quote=typeset(" ".join(row["quote"].split())))
    text = original if is_voice(row) else strip_observer_memos(original)
    flat = " ".join(text.split())
    if len(flat.split()) < MIN_WORDS or looks_like_table(flat) or looks_like_agenda_line(flat):
        return None
    quote = trim_quote(text, _shifted_offsets(" ".join(original.split()), flat, row.get("_offsets") or []))
    if looks_like_table(quote) or len(quote.split()) < MIN_WORDS:
        return None
    return dict(row, _quote=typeset(quote))


def candidates(rows: list[dict]) -> list[dict]:
    """Every quotable excerpt among a theme's evidence rows, best status first."""
    return [c for c in (candidate(r) for r in per_excerpt(rows)) if c is not None]


def _merit(row: dict, theme_seen: dict, used_by: Counter, ics_used: Counter) -> tuple:
    words = len(row["_quote"].split())
    value = 10.0 if row.get("status") == "accepted" else 0.0
    value += 2.0 * (row.get("ics") not in theme_seen["ics"])
    value += 1.5 * (row.get("wave") not in theme_seen["wave"])
    value += 1.0 * ((row.get("org_type") or row.get("source_kind")) not in theme_seen["role"])
    value -= 0.75 * used_by[voice_key(row)]  # spread across the report's participants
    value -= 0.25 * ics_used[row.get("ics")]
    value += 0.5 * float(row.get("score") or 0)
    value += 0.5 if 15 <= words <= 70 else 0.0
    return (value, -int(row["excerpt_id"]))


def select_quotes(themes: list[tuple[str, list[dict]]], per_theme: int = QUOTES_PER_THEME) -> Selection:
    """Choose the quotes of every theme at once (``themes``: (code id, its evidence rows))
    so the report-wide rules (no quote twice, a cap per participant) can hold."""
    pool = {code: candidates(rows) for code, rows in themes}
    voices = {code: [c for c in found if is_voice(c)] for code, found in pool.items()}
    speakers = {voice_key(c) for found in voices.values() for c in found}
    slots = sum(min(per_theme, len({voice_key(c) for c in found})) for found in voices.values())
    cap = max(2, math.ceil(slots / len(speakers))) if speakers else 0
    chosen: dict[str, list[dict]] = {code: [] for code, _ in themes}
    seen = {code: defaultdict(set) for code, _ in themes}
    used: set[int] = set()
    used_by: Counter = Counter()
    ics_used: Counter = Counter()
    order = sorted(chosen, key=lambda code: (len(voices[code]), list(chosen).index(code)))

    def take(code: str, row: dict) -> None:
        chosen[code].append(row)
        used.add(row["excerpt_id"])
        used_by[voice_key(row)] += 1
        ics_used[row.get("ics")] += 1
        for key, value in (("ics", row.get("ics")), ("wave", row.get("wave")),
                           ("role", row.get("org_type") or row.get("source_kind")), ("voice", voice_key(row))):
            seen[code][key].add(value)

    def best(code: str, found: list[dict], capped: bool) -> dict | None:
        open_ = [c for c in found if c["excerpt_id"] not in used and voice_key(c) not in seen[code]["voice"]
                 and (not capped or used_by[voice_key(c)] < cap)]
        return max(open_, key=lambda c: _merit(c, seen[code], used_by, ics_used)) if open_ else None

    # Rules 2–4: one interview quote for every theme that has one (scarcest first; the
    # cap gives way only when it would leave a theme without any), then further rounds.
    for round_ in range(per_theme):
        for code in order:
            if len(chosen[code]) != round_:
                continue
            pick = best(code, voices[code], capped=True) or (best(code, voices[code], capped=False) if round_ == 0 else None)
            if pick:
                take(code, pick)
    # Documents fill the places interviews could not, one quote per document per theme.
    for code in order:
        docs = [c for c in pool[code] if not is_voice(c)]
        while len(chosen[code]) < per_theme:
            pick = best(code, docs, capped=False)
            if pick is None:
                break
            take(code, pick)
    return Selection(quotes=chosen, cap=cap, per_theme=per_theme)


def choose_quotes(rows: list[dict], k: int = QUOTES_PER_THEME) -> list[dict]:
    """The quotes of one theme on its own (the report chooses all themes together)."""
    return select_quotes([("theme", rows)], k).quotes["theme"]
