"""What shape a piece of text has: speech or prose, or a table row, agenda line or memo.

Pure functions on one string, no I/O and no heavy imports, for every stage that has to
tell evidence worth quoting (or suggesting) from the furniture of a document:

* ``looks_like_table(text)``: a table row flattened into text: cells separated by pipes
  or tabs, or runs of figures with no sentence around them
  ("Waits over 52 weeks 2,910 960 3,870");
* ``looks_like_agenda_line(text)``: an agenda item, minute heading, timed meeting line
  with nothing said in it ("11:32 Close.", "8. Integrated performance report"), or a line
  of an attendance list ("- Chair of the trust board");
* ``looks_like_particulars(text)``: a labelled line of a meeting's or document's particulars
  ("Venue: …", "Present: …", "Version 1.2 · approved by …"), which the coder does not read
  as evidence either;
* ``strip_observer_memos(text)``: the text without the researcher's own bracketed
  memos ("[RQ3: check this in wave 2.]"), keeping pseudonym tags (``[P04]``) and short
  editorial insertions (``[the ICB chair]``).

The rules are deliberately simple and written down here (and in docs/exports.md) so a
researcher can predict them.
"""

from __future__ import annotations

import re

# A figure as it appears in a table cell: 9, 4,100, 80.0%, £47.6m, (12), −3, 2024/25.
_NUMBER = re.compile(r"^[(\[]?[£$€+\-−–]?\d[\d,]*(?:\.\d+)?(?:/\d+)?(?:%|m|bn|k|p|x)?[)\]]?[,;:]?$", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?…][\"”’)]*$")
_BRACKETED = re.compile(r"\s*\[([^\[\]]*)\]")
_PSEUDONYM = re.compile(r"^(?:P\d+|withheld\b.*)$", re.IGNORECASE)
_MEMO_START = re.compile(
    r"^(?:RQ\s?\d|note|memo|nb|n\.b\.|obs|observer|researcher|reflection|query|question|check|follow[- ]?up|todo|to do)\b",
    re.IGNORECASE,
)
_TIME = r"\d{1,2}[:.]\d{2}"
_ITEM = r"(?:agenda\s+)?item\s+\d+[a-z]?(?:\.\d+)*"
_NUMBERED = r"\d{1,2}(?:\.\d{1,2})*\.?"
_AGENDA_WORDS = (
    "apologies", "apologies for absence", "welcome and apologies", "declarations of interest", "declarations",
    "minutes of the previous meeting", "minutes of the last meeting", "matters arising", "action log", "actions",
    "any other business", "aob", "date of next meeting", "date and time of next meeting", "close", "meeting closed",
    "chair's report", "chair’s report", "questions from the public", "public questions", "agenda", "part one", "part two",
    "for decision", "for approval", "for information", "for assurance", "for discussion", "for noting",
)
_BULLET = re.compile(r"^\s*(?:[-–•*·▪]|\(?[a-z0-9]\))\s+", re.IGNORECASE)
# A meeting's or a document's particulars on one labelled line ("Venue: Board Room, ICB
# headquarters", "Present: …", "Version 1.2 · approved by the board · review date: March 2027")
_PARTICULARS = re.compile(
    r"^(?:venue|location|date|time|date and time|date of meeting|meeting|present|in attendance|attendees|apologies|"
    r"quorum|minutes taken by|minute taker|secretariat|agenda item|report author|author|prepared by|presented by|"
    r"executive sponsor|sponsor|approved by|approval date|effective date|review date|next review|document owner|"
    r"owner|classification)(?:\s*[:|]|\s+[–—-]\s)\s*\S"
    r"|^version\s+\d+(?:\.\d+)*\s*(?:$|[·|,;:(–—-])",
    re.IGNORECASE,
)


def _words(text: str) -> list[str]:
    return text.split()


def _is_number(token: str) -> bool:
    return bool(_NUMBER.match(token))


def number_runs(text: str) -> list[int]:
    """Lengths of the runs of consecutive figures in ``text`` ("1,240 1,010 860" is a run of 3)."""
    runs, current = [], 0
    for token in _words(text):
        if _is_number(token):
            current += 1
            continue
        if current:
            runs.append(current)
        current = 0
    if current:
        runs.append(current)
    return runs


def looks_like_table(text: str) -> bool:
    """True for a table row (or several) flattened into text rather than written as prose.

    A row is: two or more pipes or tabs between cells (one pipe when there is no sentence);
    or a run of three or more figures side by side; or two runs of two; or a run of two
    figures in a short line with no sentence ending (a label and its values:
    "Waits over 65 weeks 0 18").
    """
    text = (text or "").strip()
    if not text:
        return False
    sentence = bool(_SENTENCE_END.search(text))
    if text.count("|") >= 2 or text.count("\t") >= 2 or ("|" in text and not sentence):
        return True
    runs = number_runs(text)
    if any(n >= 3 for n in runs) or sum(1 for n in runs if n >= 2) >= 2:
        return True
    words = _words(text)
    if runs and max(runs) >= 2 and not sentence and len(words) <= 25:
        return True
    # a line that is mostly figures ("2024/25 £47.6m 12%")
    numbers = sum(1 for w in words if _is_number(w))
    return len(words) >= 3 and numbers / len(words) >= 0.5


def looks_like_particulars(text: str) -> bool:
    """True for one labelled line of a meeting's or a document's particulars, with nothing said
    in it: "Venue: Board Room, ICB headquarters.", "Date: 14 May 2024", "Present: …", "In
    attendance: …", "Version 1.2 · approved by the partnership board · review date: March 2027"
    (at most 16 words and one sentence)."""
    text = (text or "").lstrip()
    if not _PARTICULARS.match(text):  # most text fails here, at its first word
        return False
    return len(_words(text)) <= 16 and len(re.findall(r"[.!?](?:\s|$)", text)) <= 1


def looks_like_agenda_line(text: str) -> bool:
    """True for the furniture of a meeting record, not something anybody said or argued:

    an agenda item or numbered minute heading with no sentence after its title
    ("8. Integrated performance report, quarter 1 2025/26", "Item 7: any other business"),
    a timed line with only a formality in it ("11:32 Close.", "16:05 Summary of actions.
    Next meeting in November."), a standing agenda heading ("Apologies for absence"),
    or a short line of a bulleted list such as an attendance list ("- Chair of the trust"), or
    a meeting's or document's particulars ("Venue: Board Room, ICB headquarters.", "Present: …",
    "Version 1.2 · approved by the partnership board · review date: March 2027").
    """
    text = " ".join((text or "").split())
    if not text:
        return False
    words = _words(text)
    if _BULLET.match(text) and len(words) <= 16:
        return True
    if looks_like_particulars(text):
        return True
    bare = re.sub(rf"^(?:{_TIME}\s*[-–—]?\s*)?", "", text).strip()
    bare_lower = bare.lower().rstrip(".:;")
    if bare_lower in _AGENDA_WORDS:
        return True
    timed = bool(re.match(_TIME, text))
    item = re.match(rf"^(?:{_ITEM}|{_NUMBERED})(?=[\s,:.–-])[\s,:.–-]*", bare, re.IGNORECASE)
    if item:
        rest = bare[item.end():]
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", rest) if s.strip()]
        numbered_sentence = not item.group(0).lower().startswith(("item", "agenda")) and not timed and bool(
            _SENTENCE_END.search(rest)) and len(_words(rest)) >= 6
        # the item's title alone, not a numbered sentence ("1. The Board is asked to note …")
        return len(sentences) <= 1 and len(_words(rest)) <= 14 and not numbered_sentence
    if timed:
        # "11:32 Close." or "16:05 Summary of actions by P06. Next meeting in November."
        first, *others = re.split(r"(?<=[.!?])\s+", bare)
        formality = first.lower().rstrip(".") in _AGENDA_WORDS or first.lower().startswith(("close", "summary of actions"))
        return len(_words(bare)) <= 10 or (formality and len(_words(" ".join(others))) <= 8)
    return False


def _is_memo(inside: str) -> bool:
    """Whether the content of one pair of square brackets is a researcher's memo."""
    inside = inside.strip()
    if not inside or _PSEUDONYM.match(inside):
        return False
    if _MEMO_START.match(inside) or ":" in inside:
        return True
    # a sentence (or more) of the researcher's own, not a short editorial insertion such as
    # "[the ICB chair]", "[inaudible]" or "[laughs]"
    return bool(re.search(r"[.!?;]\s+\S|[.!?]$", inside)) or len(_words(inside)) >= 8


def strip_observer_memos(text: str) -> str:
    """``text`` without its bracketed researcher memos; spacing tidied, nothing else changed."""
    if not text or "[" not in text:
        return text
    out = _BRACKETED.sub(lambda m: "" if _is_memo(m.group(1)) else m.group(0), text)
    out = re.sub(r"[ \t]{2,}", " ", out)
    out = re.sub(r"\s+([.,;:!?])", r"\1", out)
    return out.strip()


def has_observer_memo(text: str) -> bool:
    """Whether ``text`` holds at least one bracketed researcher memo."""
    return any(_is_memo(m.group(1)) for m in _BRACKETED.finditer(text or ""))


def is_quotable_prose(text: str) -> bool:
    """Neither a table row nor an agenda line, once memos are taken out, and not empty."""
    body = strip_observer_memos(text or "")
    return bool(body.strip()) and not looks_like_table(body) and not looks_like_agenda_line(body)


__all__ = [
    "looks_like_table", "looks_like_agenda_line", "looks_like_particulars", "strip_observer_memos", "has_observer_memo",
    "is_quotable_prose", "number_runs",
]
