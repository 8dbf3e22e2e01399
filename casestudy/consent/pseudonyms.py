"""Pseudonymisation: real names in text replaced by stable pseudonyms.

Names come from the ``pseudonyms`` table: every participant of the consent register
(``Helen Marsh`` → ``[P01]``) and any extra list of names (``Dr Ruth Okafor`` →
``[the ICB chief executive]``). ``excerpts.display_text`` and ``sources.title`` hold the
result in the working database, and the publish database is built from it again, so the
evidence view, Datasette and every export only ever see pseudonyms.

How a name is found (the rules; :class:`_Index` is how, at a cost that does not grow with the names):

* the full name, first + last name, ``Last, First``, an initial + last name
  (``H. Marsh``), any title + last name (``Dr Okafor``, ``Mrs. Hollis``), a title +
  first name and common short forms (``Dan Okoro`` for Daniel) — in any case, with any
  run of spaces or a line break between the words, accents optional (``Sorensen`` finds
  ``Sørensen`` and back), straight or curly apostrophes (``O'Neill``, ``O’Neill``,
  ``ONeill``), hyphens optional or split over a line (``Hollis-\\nSmith``), a dot or
  underscore in an address (``helen.marsh@…``), followed by a possessive (``Marsh's``);
* a surname of several words is one unit: it starts at a particle (:data:`PARTICLES`:
  ``Ní Bhriain``, ``Mac Giolla Phádraig``, ``van der Merwe``, ``bin Ismail``), its words
  may be written together (``NiBhriain``), and it is also found without its particles
  (``Bhriain``, ``Giolla Phádraig``, ``Shaughnessy`` for O'Shaughnessy; never ``Donald``
  for McDonald);
* e-mail addresses and handles: first + surname run together (``gwenllianprycejones``,
  only when the letters are not an English word), and before an ``@`` an initial + surname
  (``g.pryce-jones@``) or surname + first name (``nibhriain.siobhan@``), in any case;
* combining accents (decomposed text, Yoruba tone marks) are optional after every letter;
* a first name, a surname, a short form or one half of a hyphenated surname *on its own*
  when exactly one listed person has it. Alone, a word that is also an English word
  (``Marsh``, ``Will``, ``Grace``) is replaced only when written with a capital; a very
  common one (``Will``, ``May``) not at the start of a sentence, and a month or weekday
  name not next to a number (``June 2025``); a word that only names people (``Nwosu``)
  in any case. A word shared by two listed people becomes ``[name]``, never the wrong
  pseudonym; a word of an organisation or place name is never replaced on its own.
  A month or weekday name is also left after a time word (``in April``, ``since June``).
* a full name whose words are all English words (``Will Hope``, ``April Day``) is replaced
  only when each word (particles aside) has a capital, or before an ``@``: ``we will hope
  to`` stays.

How, whatever the number of names: each variant of each name is a sequence of letters
(``Ní Bhriain, Siobhán`` → ``nibhriainsiobhan``) and, between them, what the rules above
allow (an accent, an apostrophe, a hyphen, a dot, a space or line break, a comma). A text
is folded once (accents to their ASCII letter, same length) and split into words; a dict
of every variant's letters, and of its letters up to each place it may be split into two
words, gives at each word the few variants the following words spell; each is checked
gap by gap (a handful of distinct small regular expressions, compiled once for every
name list) in the order the one alternation of every variant used to try them: a title
first, more words first, then the longer pattern. Building costs a few dict entries per
variant and is done when the names change: a consent register or names-list import stores
the tables in the working database (:func:`prepare`), and later commands load them
(:func:`load`; :class:`Deferred` makes them when the first text needs them). Where every letter
of a text folds to an ASCII letter (accented names included) its words are split and met
with the possible first words in C, and Python runs only where one stands
(:meth:`_Index._word_matches`); where the word scan is compiled (``_wordscan.c``, built by
``pip install``, optional) the variants are tried, and the text written, in C too, the same
steps, and what it cannot decide is handed back to this module (:meth:`_Index._scanned`,
:meth:`Pseudonymiser.apply`; ``docs/performance.md``). The same
rules as that alternation (``tests/pseudonyms_reference.py``, kept as the test oracle)
give the same output (``tests/test_pseudonyms_differential.py``), except in decomposed
(NFD) text where an accent mark stands inside a longer word: ``Jose`` is no longer found in
``Jose\u0301ph`` (it is not in ``Joséph`` either). spaCy's English vocabulary
(spacy-lookups-data) is used to know which names are also words.

Limits (see docs/consent.md): a name nobody listed, a nickname not in
:data:`NICKNAMES`, a misspelling, a name split inside a word by hyphenation, or a very
common word used as a name at the start of a sentence is not found.
"""

from __future__ import annotations

import functools
import gc
import json
import marshal
import re
import sqlite3
import struct
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import accumulate, compress
from operator import itemgetter
from pathlib import Path

import sqlite_utils

TITLES = (
    "Dr", "Doctor", "Prof", "Professor", "Mr", "Mrs", "Ms", "Miss", "Mx", "Sir", "Dame",
    "Lord", "Lady", "Cllr", "Councillor", "Rev", "Revd", "Reverend",
)
_TITLE_KEYS = {t.lower() for t in TITLES}
AMBIGUOUS = "[name]"
# An optional title before any name: "Dr Okafor", "Mrs. Hollis", "Cllr Ruth".
_TITLE_RE = r"(?P<title>(?:" + "|".join(sorted(TITLES, key=len, reverse=True)) + r")\.?(?:[\s\u00a0]+|(?<=\.)))"

# Common English short forms of given names (both directions are used).
NICKNAMES = {
    "alexander": ["alex", "sandy"], "alexandra": ["alex", "sandra"], "andrew": ["andy", "drew"],
    "anthony": ["tony"], "benjamin": ["ben"], "catherine": ["cathy", "kate", "cath"],
    "katherine": ["kathy", "kate", "kath"], "charles": ["charlie", "chas"], "christopher": ["chris"],
    "christine": ["chris"], "daniel": ["dan", "danny"], "david": ["dave"], "deborah": ["debbie", "deb"],
    "edward": ["ed", "eddie", "ted"], "elizabeth": ["liz", "beth", "lizzie", "betty"], "frederick": ["fred"],
    "gregory": ["greg"], "james": ["jim", "jimmy", "jamie"], "jennifer": ["jen", "jenny"],
    "jonathan": ["jon", "jonny"], "joseph": ["joe"], "kenneth": ["ken"], "margaret": ["maggie", "meg", "peggy"],
    "matthew": ["matt"], "michael": ["mike", "mick"], "nicholas": ["nick"], "patricia": ["pat", "trish"],
    "patrick": ["pat", "paddy"], "peter": ["pete"], "philip": ["phil"], "rebecca": ["becky", "becca"],
    "richard": ["rich", "rick", "dick"], "robert": ["rob", "bob", "bobby"], "samuel": ["sam"],
    "samantha": ["sam"], "stephen": ["steve"], "steven": ["steve"], "susan": ["sue", "susie"],
    "thomas": ["tom", "tommy"], "timothy": ["tim"], "victoria": ["vicky", "tori"], "william": ["will", "bill", "billy"],
    "jacqueline": ["jackie"], "josephine": ["jo"], "joanne": ["jo"], "nathaniel": ["nat", "nate"],
    "abigail": ["abi", "abby"], "rhys": [], "kieran": [], "bernadette": ["bernie"], "graham": [],
}
_NICK_REVERSE: dict[str, set[str]] = defaultdict(set)
for _full, _shorts in NICKNAMES.items():
    for _short in _shorts:
        _NICK_REVERSE[_short].add(_full)

MONTHS_DAYS = {
    "january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
    "november", "december", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
}
# Words before a month or weekday that make it a date ("in April", "on Friday", "until June").
# Kept short on purpose: "by", "to", "from", "and", "with" come before people too ("a paper by
# April", "I spoke to June"), and a name left in the text is worse than a month hidden.
_TIME_WORDS = frozenset("in on since until till during last next this every each early late mid throughout".split())
_APOSTROPHES = "'’‘`ʼ"
_HYPHENS = "-‐‑–—"
# Combining marks (accents written as a separate character): optional after every letter of a name.
_MARKS = "[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]*"
_SEP = r"(?:[\s\u00a0\u200b]+|[._])"  # spaces or a line break; a dot or underscore (e-mail addresses)


# --- text folding ------------------------------------------------------------------


_EXTRA_FOLD = {"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ı": "i", "æ": "ae", "œ": "oe", "ß": "ss"}


def fold(text: str) -> str:
    """Accents removed (``Sørensen`` → ``Sorensen``), case kept."""
    if text.isascii():
        return text
    text = "".join(_EXTRA_FOLD.get(ch, ch) for ch in text)
    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))


_fold_cached = functools.lru_cache(maxsize=65_536)(fold)  # judging a written form folds it and its words again
_NOT_KEY = re.compile(r"[^a-z0-9]")
_NOT_LETTER = re.compile(r"[^a-z]")
_LETTERS = re.compile(r"[^\W\d_]+")
_NUMBER_BEFORE = re.compile(r"\d(?:st|nd|rd|th)?\s*$")  # "3 May", "3rd May"
_NUMBER_AFTER = re.compile(r"\s*\d")  # "May 2025"
_WORD_BEFORE = re.compile(r"([^\W\d_]+)[\s,]*$")  # "in May"


@functools.lru_cache(maxsize=65_536)
def key(text: str) -> str:
    """The letters of a name, folded and lower case: the lookup key of every variant."""
    return _NOT_KEY.sub("", fold(text).casefold())


@functools.lru_cache(maxsize=1)
def _accent_classes() -> dict[str, str]:
    """For each ASCII letter, a regex class of it and every accented Latin letter that folds to it."""
    variants: dict[str, set[str]] = defaultdict(set)
    for code in list(range(0x41, 0x7B)) + list(range(0xC0, 0x250)) + list(range(0x1E00, 0x1F00)):
        ch = chr(code)
        if not ch.isalpha():
            continue
        base = fold(ch)
        if len(base) == 1 and base.isascii() and base.isalpha():
            variants[base.lower()].add(ch.lower())
    # lower case only: the pattern is compiled with IGNORECASE
    return {b: (b if len(v) == 1 else "[" + "".join(sorted(v)) + "]") for b, v in variants.items()}


def _spacy_stop_words() -> set:
    """spaCy's English stop words, read from its module file without importing spaCy (~1.5 s)."""
    import importlib.util

    try:
        spacy = importlib.util.find_spec("spacy")
        path = Path(spacy.origin).parent / "lang" / "en" / "stop_words.py"
        namespace: dict = {}
        exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), namespace)
        return set(namespace["STOP_WORDS"])
    except Exception:  # pragma: no cover - spaCy missing or laid out otherwise
        try:
            from spacy.lang.en.stop_words import STOP_WORDS
        except Exception:
            return set()
        return set(STOP_WORDS)


@functools.lru_cache(maxsize=1)
def _english_words() -> tuple[frozenset, frozenset]:
    """(every English word form spaCy's lookups know, the very common ones)."""
    words: set[str] = set()
    try:
        import gzip
        import json
        from pathlib import Path

        import spacy_lookups_data

        data = Path(spacy_lookups_data.__file__).parent / "data"
        for name in ("en_lemma_index.json.gz",):
            path = data / name
            if path.is_file():
                with gzip.open(path, "rt", encoding="utf-8") as handle:
                    table = json.load(handle)
                for forms in table.values():
                    if isinstance(forms, dict):
                        words.update(forms)
                        for value in forms.values():
                            words.update(value if isinstance(value, list) else [])
                    else:
                        words.update(forms)
    except Exception:  # no lookups data: every name counts as a possible word (stricter)
        pass
    STOP_WORDS = _spacy_stop_words()
    common = set(STOP_WORDS)  # "Will", "May": skipped only at the start of a sentence
    return frozenset(w.lower() for w in words if isinstance(w, str)), frozenset(common)


# --- how a variant is written ------------------------------------------------------
#
# A variant of a name is a list of *pieces*: a letter the text must hold (a tuple
# ``(letter, exact)``: the letter as the folded copy of a text spells it, and for a
# capital initial the one character it must be, else "") or a regular expression for what
# may stand between letters (a str: combining accents, an apostrophe, a hyphen, a dot, a
# separator). A letter of a name only ever matches a letter or digit of a text and what
# stands between letters never does, so the letters of a match are the text's letters in
# order and each gap between them is matched on its own (see :class:`_Index`).

_APOS_JOINT = rf"(?:[{_APOSTROPHES}]\s?|\s)?"
_HYPHEN_JOINT = rf"(?:\s*[{_HYPHENS}]\s*|\s+)?"
_OPT_SEP = f"(?:{_SEP})?"
_COMMA = r"\s*,\s*"
_EMAIL_JOIN = "[._-]?"
_BEFORE_AT = "(?=@)"
_PUA = "\ue000"  # a combining mark, in the folded copy of a text


@functools.lru_cache(maxsize=1)
def _class_regexes() -> tuple[tuple[str, re.Pattern], ...]:
    """Each ASCII letter's accent class, compiled as a name's pattern would use it."""
    return tuple((base, re.compile(cls, re.IGNORECASE)) for base, cls in sorted(_accent_classes().items()))


_ONE_MARK = re.compile(_MARKS[:-1])


class _FoldTable(dict):
    """``str.translate`` table for the folded copy of a text (same length): each letter to
    the one character the matcher compares — an accented Latin letter to the ASCII letter
    whose accent class matches it (``Ø`` → ``o``), any other letter to lower case — and a
    combining accent to a private-use character. Filled as characters are met."""

    def __missing__(self, code: int) -> str:
        ch = chr(code)
        if ch == _PUA:
            out = " "
        elif _ONE_MARK.fullmatch(ch):
            out = _PUA
        else:
            out = next((base for base, regex in _class_regexes() if regex.fullmatch(ch)), None)
            if out is None:
                low = ch.lower()
                out = low if ch.isalnum() and len(low) == 1 and low.isalnum() else ch
        self[code] = out
        return out


_FOLD_TABLE = _FoldTable()
_UNFOLDED = "\x01"  # in a text's words-only copy: a letter with no ASCII letter, or an accent mark


class _WordFoldTable(dict):
    """``str.translate`` table for the words-only copy of a text (same length): each letter
    or digit as :class:`_FoldTable` folds it when that is ASCII, every other character a
    space, and a letter or digit that does not fold to ASCII, or a combining accent,
    :data:`_UNFOLDED` (such a text is matched the general way)."""

    def __missing__(self, code: int) -> str:
        out = _FOLD_TABLE[code]
        if out == _PUA or (out.isalnum() and not out.isascii()):
            out = _UNFOLDED
        elif not (out.isascii() and out.isalnum()):
            out = " "
        self[code] = out
        return out


_WORD_FOLD_TABLE = _WordFoldTable()


def _folded_copy(text: str) -> str:
    return text.lower() if text.isascii() else text.translate(_FOLD_TABLE)


@functools.lru_cache(maxsize=None)
def _word_pieces(word: str) -> tuple[tuple, int]:
    """One written word of a name as pieces (accents, apostrophes, hyphens and dots
    optional), and the length of the regular expression the alternation of every variant
    would have spelled it with: variants are tried longest first, as that alternation did."""
    classes = _accent_classes()
    pieces: list = []
    length = 0
    for ch in unicodedata.normalize("NFC", word):
        if unicodedata.combining(ch):
            continue  # a mark no precomposed letter holds ("ọ̀" in Adébáyọ̀): optional, below
        if ch in _APOSTROPHES:
            source = _APOS_JOINT
        elif ch in _HYPHENS:
            source = _HYPHEN_JOINT
        elif ch == ".":
            source = r"\.?"
        else:
            base = fold(ch).lower()
            in_class = len(base) == 1 and base in classes
            literal = classes[base] if in_class else re.escape(ch)
            length += len(literal)
            if in_class or ch.isalnum():
                pieces.append((base if in_class else _FOLD_TABLE[ord(ch)], ""))
            else:
                pieces.append(literal)
            if ch.isalpha():
                pieces.append(_MARKS)  # text with decomposed accents (NFD) or tone marks: "Siobha\u0301n"
                length += len(_MARKS)
            continue
        pieces.append(source)
        length += len(source)
    return tuple(pieces), length


# A variant being assembled is a *part*: ``(letters, exact, head, gaps, tail, cuts, length)``:
# its letters; ``(index, character)`` of a letter that must be that exact character; the
# expression before its first letter, of each gap between two letters (ids, see
# _gap_id) and after its last; the number of letters before each place the text may
# split it into two words (a gap that may hold more than accents); and the length of the
# regular expression the alternation would have had. A word with no letter is all head.


@functools.lru_cache(maxsize=None)
def _word_part(word: str) -> tuple:
    pieces, length = _word_pieces(word)
    return _part_of(pieces, length)


def _part_of(pieces: tuple, length: int) -> tuple:
    letters: list[str] = []
    exact: list[tuple[int, str]] = []
    gaps: list[int] = []
    head = ""
    between: list[str] = []
    for piece in pieces:
        if isinstance(piece, tuple):
            if letters:
                gaps.append(_gap_id("".join(between)))
            else:
                head = "".join(between)
            between = []
            if piece[1]:
                exact.append((len(letters), piece[1]))
            letters.append(piece[0])
        else:
            between.append(piece)
    if not letters:
        return ("", (), "".join(between), (), "", (), length)
    cuts = tuple(i + 1 for i, gap in enumerate(gaps) if gap not in _TRIVIAL_GAPS)
    return "".join(letters), tuple(exact), head, tuple(gaps), "".join(between), cuts, length


def _cat(a: tuple, sep: str, b: tuple) -> tuple:
    """Part ``a``, then ``sep``, then part ``b``."""
    length = a[6] + len(sep) + b[6]
    if not b[0]:  # b has no letter: it follows a's last letter
        return a[0], a[1], a[2], a[3], a[4] + sep + b[2], a[5], length
    if not a[0]:
        return b[0], b[1], a[2] + sep + b[2], b[3], b[4], b[5], length
    n = len(a[0])
    exact = a[1] + tuple((i + n, c) for i, c in b[1]) if b[1] else a[1]
    cuts = a[5] + (n,) + tuple(c + n for c in b[5]) if b[5] else a[5] + (n,)
    return a[0] + b[0], exact, a[2], a[3] + (_gap_id(a[4] + sep + b[2]),) + b[3], b[4], cuts, length


def _then(part: tuple, source: str) -> tuple:
    """``part`` followed by ``source`` (``(?=@)``)."""
    return part[0], part[1], part[2], part[3], part[4] + source, part[5], part[6] + len(source)


def _joined(tokens: list[str], glued: int = 0, every_optional: bool = False) -> tuple:
    """``tokens`` joined by separators; the last ``glued`` joins (a multi-word surname), or
    all of them, may be omitted."""
    return _joined_tuple(tuple(tokens), glued, every_optional)


@functools.lru_cache(maxsize=65_536)  # names share first names and surnames: each joined once
def _joined_tuple(tokens: tuple, glued: int, every_optional: bool) -> tuple:
    part = _word_part(tokens[0])
    for i, token in enumerate(tokens[1:], start=1):
        part = _cat(part, _OPT_SEP if every_optional or i >= len(tokens) - glued else _SEP, _word_part(token))
    return part


@dataclass
class _Entry:
    pseudonyms: set = field(default_factory=set)
    single: bool = False
    exact: str | None = None  # the pseudonym of the person whose full name this exactly is


def split_name(full: str) -> tuple[str | None, list[str]]:
    """``"Dr Ruth Okafor"`` → ``("Dr", ["Ruth", "Okafor"])``; ``"Marsh, Helen"`` → ``(None, ["Helen", "Marsh"])``."""
    full = " ".join(full.replace("\u00a0", " ").split())
    if "," in full:
        last, _, given = full.partition(",")
        full = f"{given.strip()} {last.strip()}".strip()
    words = full.split()
    title = None
    while words and words[0].rstrip(".").lower() in _TITLE_KEYS and len(words) > 1:
        title = words.pop(0).rstrip(".")
    return title, words


# Words that begin a surname of several words ("Ní Bhriain", "Mac Giolla Phádraig",
# "van der Berg", "bin Ismail"), folded to lower case ASCII: the whole surname is the unit,
# not its last word.
PARTICLES = frozenset(
    {
        "ni", "nic", "o", "ua", "mac", "mc", "mhic", "ap", "ab", "ferch", "verch", "de", "d", "del", "della", "dei",
        "des", "van", "von", "vom", "zu", "der", "den", "ter", "ten", "la", "le", "da", "di", "du", "dos", "das", "do",
        "bin", "binti", "bint", "ibn", "al", "el",
    }
)
# A particle written onto the surname with an apostrophe: O'Shaughnessy, D'Souza, d'Arcy, l'Estrange.
_APOSTROPHE_PARTICLE = re.compile(rf"^(?:[OoDdLl])[{_APOSTROPHES}](?=[^\W\d_]{{4}})")


def _is_particle(word: str) -> bool:
    return fold(word).lower().rstrip(".") in PARTICLES


def split_surname(words: list[str]) -> tuple[list[str], list[str]]:
    """``["Seán", "Mac", "Giolla", "Phádraig"]`` → ``(["Seán"], ["Mac", "Giolla", "Phádraig"])``.

    The surname starts at the first particle after the first word (never at the last word
    alone being a particle); without a particle it is the last word.
    """
    for i in range(1, len(words) - 1):
        if _is_particle(words[i]):
            return words[:i], words[i:]
    return words[:-1], words[-1:]


def _surname_cores(surname: list[str]) -> list[list[str]]:
    """The surname without its particles, where that is still a name: ``Ní Bhriain`` →
    ``Bhriain``, ``Mac Giolla Phádraig`` → ``Giolla Phádraig``, ``O'Shaughnessy`` →
    ``Shaughnessy`` (at least 4 letters left; ``McDonald`` is never cut to ``Donald``)."""
    cores = []
    core = [w for w in surname if not _is_particle(w)]
    if core and core != surname:
        cores.append(core)
    base = core or surname
    stripped = _APOSTROPHE_PARTICLE.sub("", base[0]) if base else ""
    if base and stripped != base[0]:
        cores.append([stripped, *base[1:]])
    return cores


def only_english_words(words: "list[str]") -> bool:
    """Whether a name of two or more words has only English words and no particle
    (``Will Hope``, ``April Day``; not ``Ana dos Santos``): such a name written in lower
    case ("we will hope to") is left, in the text and by the publish guard."""
    english, common = _english_words()
    folded = [fold(w).lower() for w in words]
    # "l" of l'Estrange is a particle too: "Helen l'Estrange" is a name in any case
    return len(folded) >= 2 and all((w in english or w in common) and w not in PARTICLES and w != "l" for w in folded)


def runs_together_safely(tokens: list[str]) -> bool:
    """Whether the words may also match written with no space (``gwenllianprycejones@``):
    only when the letters run together are long and not an English word."""
    joined = key("".join(tokens))
    return len(joined) >= 7 and joined not in _english_words()[0]


@functools.lru_cache(maxsize=20_000)  # ingest builds again after each name list: the names seen before are not redone
def _variants(full: str) -> tuple[tuple[str, tuple, int, bool], ...]:
    """Every (key, part, number of words, single word) by which the person called ``full`` may be written."""
    return tuple(_variants_of(full))


def _variants_of(full: str) -> list[tuple[str, tuple, int, bool]]:
    title, words = split_name(full)
    if not words:
        return []
    found: list[tuple[str, tuple, int, bool]] = []

    def add(tokens: list[str], single: bool = False, glued: int = 0, comma: int = 0, run_together: bool = False) -> None:
        if not tokens:
            return
        if comma:  # "Ní Bhriain, Siobhán": the first ``comma`` tokens, a comma, the rest
            part = _cat(_joined(tokens[:comma], comma - 1), _COMMA, _joined(tokens[comma:]))
        else:  # run together: every separator optional
            part = _joined(tokens, glued, every_optional=run_together)
        found.append((key("".join(tokens)), part, len(tokens), single))

    if len(words) == 1:
        add(words, single=True)
        return found
    given, surname = split_surname(words)
    first, last = words[0], words[-1]
    glued = len(surname) - 1  # the words of a surname may be written together: "NiBhriain", "MacGiolla"
    add(words, glued=glued, run_together=runs_together_safely(words))
    add([first, last])
    firsts = {first} | {n.capitalize() for n in NICKNAMES.get(first.lower(), [])}
    for name in firsts:
        tokens = [name, *surname]
        add(tokens, glued=glued, run_together=runs_together_safely(tokens))
        add([*surname, name], comma=len(surname))
    initial = fold(first[0]).upper()
    surname_part = _joined(surname, glued)
    surname_key = key("".join(surname))
    # H Marsh, H. Marsh (a capital initial only: "a carver" is not A. Carver)
    exact = _part_of(tuple((_FOLD_TABLE[ord(c)], c) if c.isalnum() else re.escape(c) for c in initial),
                     len(f"(?-i:{re.escape(initial)})"))
    found.append((key(first[0]) + surname_key, _cat(exact, r"\.?" + _SEP, surname_part), 1 + len(surname), False))
    # e-mail addresses: s.pryce-jones@, spryce-jones@, nibhriain.siobhan@ (any case, only before an @)
    classes = _accent_classes()
    if initial.lower() in classes:
        email_initial = _part_of(((initial.lower(), ""),), len(classes[initial.lower()]))
    else:
        email_initial = _part_of(tuple((_FOLD_TABLE[ord(c)], "") if c.isalnum() else re.escape(c) for c in initial.lower()),
                                 len(re.escape(initial.lower())))
    found.append((key(first[0]) + surname_key, _then(_cat(email_initial, _EMAIL_JOIN, surname_part), _BEFORE_AT),
                  1 + len(surname), False))
    found.append((surname_key + key(first), _then(_cat(surname_part, _EMAIL_JOIN, _word_part(first)), _BEFORE_AT),
                  1 + len(surname), False))
    add([first], single=True)
    add(surname, single=True, glued=glued)  # "Ní Bhriain", "Mac Giolla Phádraig", "Marsh"
    for core in _surname_cores(surname):
        if len(key("".join(core))) >= 4:
            add(core, single=True, glued=len(core) - 1)  # "Bhriain", "Giolla Phádraig", "Shaughnessy"
    if len(surname) > 1:  # each word of a multi-word surname that is not a particle
        for word in surname:
            if not _is_particle(word) and len(key(word)) >= 3:
                add([word], single=True)
    add([last], single=True)
    for nick in NICKNAMES.get(first.lower(), []):
        add([nick.capitalize()], single=True)
    for part in re.split(f"[{_HYPHENS}]", last):
        if part != last and len(key(part)) >= 3:
            add([part], single=True)
    return found


# --- the pseudonymiser -------------------------------------------------------------


_RUN = re.compile(r"([^\W_](?:[^\W_]|\ue000)*)")  # a word of the folded copy: letters, digits, accents between
_LETTER_RUN = re.compile(r"([^\W_]+)")  # the same where the text has no combining accent
# an ASCII text's letters and digits, every other character a space
_ASCII_WORDS = bytes(c if (65 <= c <= 90 or 97 <= c <= 122 or 48 <= c <= 57) else 32 for c in range(256))
_ASCII_LOWER_WORDS = bytes(c + 32 if 65 <= c <= 90 else c for c in _ASCII_WORDS)  # the same, letters in lower case
_NON_ASCII_WORD = re.compile(r"[^\W_\x00-\x7f]|" + _MARKS[:-1])  # a letter or digit that is not ASCII, or an accent
_NON_ASCII_LETTER = re.compile(r"[^\W_\x00-\x7f]")  # the same in two searches, each 3x faster than the alternation
_MARK = re.compile(_MARKS[:-1])


_NON_ASCII = re.compile(r"[^\x00-\x7f]")
# characters beyond ASCII that are neither a letter, a digit nor an accent mark, and common in
# English text: a text whose only such characters are these is matched the fast way at once
_NOT_WORD = frozenset("\u00a0\u200b\u2018\u2019\u201c\u201d\u2013\u2014\u2026\u00a3\u20ac\u2022\u00b7\u00ab\u00bb\u00b0\u00d7")


def _ascii_words(text: str) -> bool:
    """Whether every letter and digit of ``text`` is ASCII and it holds no combining accent."""
    return (text.isascii() or _NOT_WORD.issuperset(_NON_ASCII.findall(text))
            or not (_NON_ASCII_LETTER.search(text) or _MARK.search(text)))


def compiled_is_current(module) -> bool:
    """Whether a compiled word scan was built from the C source beside this module (when the
    source is there: a checkout; an installed wheel ships no source). A build of an older
    source could disagree with the Python way, so it is left unused."""
    import hashlib

    source = Path(__file__).with_name("_wordscan.c")
    if not source.is_file():
        return True
    return getattr(module, "SOURCE", "") == hashlib.sha256(source.read_bytes()).hexdigest()


try:  # the word scan in C (setup.py builds it; optional): the same matches, found faster
    from casestudy.consent import _wordscan
except ImportError:  # pragma: no cover - not compiled here: the pure-Python way
    _wordscan = None
if _wordscan is not None and not compiled_is_current(_wordscan):  # stale: `make` (pip install -e .) rebuilds it
    _wordscan = None
# its flags (see _wordscan.c): a title, the letters of a variant, and for each table 2 * at + capital
# (shifted by 6 each): may start a match, needs a second word, may be a second word, may be cut after
_F_TITLE, _F_LETTERS, _F_STARTS, _F_INCOMPLETE, _F_SECONDS, _F_CUTS = 1, 2, 4, 8, 16, 32
# what may follow a variant's last letter, as the C scan reads it where a text holds no accent mark:
# nothing (the match ends with its word), an "@" (an e-mail form), or anything else (Python's expression)
_PLAIN_TAILS, _AT_TAILS = ("", _MARKS), (_BEFORE_AT, _MARKS + _BEFORE_AT)


@functools.lru_cache(maxsize=1)
def _c_fold_map() -> bytes:
    """For the C scan: each character from 128 to 0x24f as :data:`_WORD_FOLD_TABLE` folds it
    (its ASCII letter or digit, or a space), or 0 where that is not ASCII (Python folds the text)."""
    out = bytearray(0x250)
    for code in range(128, 0x250):
        folded = _WORD_FOLD_TABLE[code]
        out[code] = ord(folded) if folded.isascii() and (folded == " " or folded.isalnum()) else 0
    return bytes(out)


def _pack(by_letters: dict) -> tuple[bytes, dict, tuple, tuple]:
    """The stored variants (:meth:`_Index.stored`) packed for the C word scan's
    ``define_packed``; the letters it cannot hold (beyond ASCII: no word of its copy of a text
    spells them) left as they are; the heads and tails the packed numbers stand for."""
    heads: dict[str, int] = {}
    tails: dict[str, int] = {}
    out = [b"WSC1"]
    other = {}
    pack = struct.pack
    for letters, variants in by_letters.items():
        if not letters.isascii() or len(letters) > 0xFFFF or len(variants) > 0xFFFF or any(
                rank > 0xFFFFFFFF or len(gaps) > 0xFFFF or len(exact) > 0xFFFF for rank, exact, _, gaps, _ in variants):
            other[letters] = variants
            continue
        out += (pack("<H", len(letters)), letters.encode("ascii"), pack("<H", len(variants)))
        for rank, exact, head, gaps, tail in variants:
            out += (pack("<IHHH", rank, heads.setdefault(head, len(heads)), tails.setdefault(tail, len(tails)), len(gaps)),
                    gaps, pack("<H", len(exact)))
            out += [pack("<HI", i, ord(ch)) for i, ch in exact]
    return b"".join(out), other, tuple(heads), tuple(tails)


class _PackedLetters:
    """``_Index.by_letters`` of a loaded index whose variants the C word scan holds: each
    letters' variants read from it as stored, when first needed (as shapes after that)."""

    __slots__ = ("scanner", "other", "made")

    def __init__(self, scanner, other: dict):
        self.scanner, self.other, self.made = scanner, other, {}

    def get(self, letters: str, default=None):
        found = self.made.get(letters)
        if found is None and letters.isascii():
            found = self.scanner.stored(letters)
        if found is None:
            found = self.other.get(letters)
        return default if found is None else found

    def __setitem__(self, letters: str, shapes: list) -> None:
        self.made[letters] = shapes


def _tail_kind(source: str) -> int:
    return 0 if source in _PLAIN_TAILS else 1 if source in _AT_TAILS else 2


_UNDEFINED = -3  # a place the C scan hands back for want of the variants of its letters (:meth:`_Index._define`)


_PLUS_ONE = (1).__add__
_RANK = itemgetter(0)
class _AsciiSpans:
    """Word ``j``'s (start, end) from where each word starts."""

    __slots__ = ("starts", "words")

    def __init__(self, starts: list[int], words: list[str]):
        self.starts, self.words = starts, words

    def __getitem__(self, j: int) -> tuple[int, int]:
        return self.starts[j], self.starts[j] + len(self.words[j])


class _FoundSpans:
    """Word ``k``'s (start, end) in an ASCII text's folded copy, from word ``j``'s start
    onwards: each found after the one before with ``str.find`` (only spaces lie between)."""

    __slots__ = ("folded", "words", "known")

    def __init__(self, folded: str, words: list[str], j: int, start: int):
        self.folded, self.words = folded, words
        self.known = {j: (start, start + len(words[j]))}

    def __getitem__(self, k: int) -> tuple[int, int]:
        span = self.known.get(k)
        if span is None:
            start = self.folded.find(self.words[k], self[k - 1][1])
            span = self.known[k] = (start, start + len(self.words[k]))
        return span


class _Spans:
    """Word ``j``'s (start, end) from the running ends of a text's gaps and words."""

    __slots__ = ("ends",)

    def __init__(self, ends: list[int]):
        self.ends = ends

    def __getitem__(self, j: int) -> tuple[int, int]:
        return self.ends[2 * j], self.ends[2 * j + 1]
_TITLE_ONLY = re.compile(_TITLE_RE, re.IGNORECASE)
_MAX_CACHE = 50_000


class _Shape:
    """A variant as the index matches it: its letters, the expressions of the gaps between
    them (ids in :data:`_GAPS`), what may come before its first letter and after its last."""

    __slots__ = ("letters", "exact", "head", "gaps", "tail", "needs_at", "needs_capital", "must", "solid", "tail_source",
                 "plain_tail")

    def __init__(self, letters: str, exact: tuple, head: "re.Pattern | None", gaps: tuple, tail: str):
        self.letters, self.exact, self.head, self.gaps, self.tail = letters, exact, head, gaps, _tail(tail)
        self.tail_source = tail
        # nothing but accents may follow the last letter: where a text holds no accent mark
        # and the letter ends a word, the tail matches there and then
        self.plain_tail = tail in ("", _MARKS)
        self.needs_at = _BEFORE_AT in tail  # an e-mail form: only before an "@"
        self.needs_capital = bool(exact) and exact[0][1].isupper()  # a capital initial: "H. Marsh"
        # gaps that hold something (in C: shapes are made as texts first meet them)
        self.must = tuple(compress(range(len(gaps)), map(_GAP_MUST.__getitem__, gaps)))
        self.solid = not self.must  # may be written as one word, nothing between letters


_GAP_IDS: dict[str, int] = {}
_GAPS: list[re.Pattern] = []  # each distinct gap expression, compiled once (a handful in all)
_EMPTY_GAP_OK: list[bool] = []
_GAP_MUST: list[bool] = []  # not _EMPTY_GAP_OK
_GAP_FITS: dict[tuple[int, str], bool] = {}  # (gap id, the text between two letters) -> fits


def _gap_id(source: str) -> int:
    found = _GAP_IDS.get(source)
    if found is None:
        found = _GAP_IDS[source] = len(_GAPS)
        _GAPS.append(re.compile(source, re.IGNORECASE))
        _EMPTY_GAP_OK.append(_GAPS[-1].fullmatch("") is not None)
        _GAP_MUST.append(not _EMPTY_GAP_OK[-1])
    return found


@functools.lru_cache(maxsize=None)
def _tail(source: str) -> re.Pattern:
    """What may follow a variant's last letter, then no letter or digit."""
    return re.compile(f"(?:{source})(?![^\\W_])", re.IGNORECASE)


@functools.lru_cache(maxsize=None)
def _head(source: str) -> "re.Pattern | None":
    return re.compile(source, re.IGNORECASE) if source else None


_TRIVIAL_GAPS = frozenset({_gap_id(""), _gap_id(_MARKS)})  # gaps that hold accents at most: never two words


def _gap_fits(gap_id: int, gap: str) -> bool:
    if not gap:
        return _EMPTY_GAP_OK[gap_id]
    fits = _GAP_FITS.get((gap_id, gap))
    if fits is None:
        if len(_GAP_FITS) > _MAX_CACHE:
            _GAP_FITS.clear()
        fits = _GAP_FITS[(gap_id, gap)] = _GAPS[gap_id].fullmatch(gap) is not None
    return fits


class _Index:
    """Finds, in a text, what the one regular expression of every variant of every name
    (longest first, a title allowed before) would find, at a cost that does not depend
    on the number of names.

    A text is copied once, folded (:class:`_FoldTable`: same length, accented letters as
    their ASCII letter) and split into words. Every variant is indexed by its letters
    (``Ní Bhriain, Siobhán`` → ``nibhriainsiobhan``), and each way its letters may be cut
    into written words (at a space, apostrophe, hyphen or dot) by the letters before the
    cut: at each word of the text that may start a name, a few dict lookups give the
    variants whose letters the following words spell. Those are tried in the alternation's
    order (with a title first, then without), each gap between two letters against that
    variant's expression for it (a handful of distinct ones, compiled once); the first
    that fits is the match.
    """

    by_words = True  # match through the words-only copy where a text allows (tests compare both ways)
    compiled = True  # and meet its words in C where the word scan is built (tests compare both ways)
    _scanner = _cuts = None
    _scanner_packed = False

    def __init__(self, ordered: "list[tuple]") -> None:
        # most texts have no "@" (e-mail forms cannot match) and most words no capital (nor can
        # an initial): the letters where a variant may be cut, and the words it may start with,
        # are kept for each of the four cases, so such words are passed over at once
        self.by_letters: dict[str, list[tuple[int, _Shape]]] = {}
        keys = {(at, capital): set() for at in (False, True) for capital in (False, True)}  # first words
        cuts = {which: set() for which in keys}
        whole = {which: set() for which in keys}  # variants that may be written as one word
        seconds = {which: set() for which in keys}  # what the second word of a match may be
        self.heads = False
        seen: set[tuple] = set()
        for rank, (letters, exact, head, gaps, tail, cut_at) in enumerate(ordered):
            shape = _Shape(letters, exact, _head(head), gaps, tail)
            self.heads = self.heads or shape.head is not None
            same = self.by_letters.get(letters)
            if same is None:
                self.by_letters[letters] = [(rank, shape)]
            else:
                same.append((rank, shape))
            which = (shape.needs_at, shape.needs_capital)
            # the first word of a match ends at a cut before the first gap that must hold something
            # (the separator after the initial of "H. Marsh": "h", never "hm")
            solid = shape.must[0] if shape.must else None
            if (which, letters, cut_at, solid) in seen:
                continue  # the same words as a variant before it (another gap or tail): nothing new below
            seen.add((which, letters, cut_at, solid))
            cuts[which].update(letters[:n] for n in cut_at)  # a word of the text may end after these letters
            firsts = [n for n in cut_at if solid is None or n <= solid + 1]
            keys[which].update(letters[:n] for n in firsts)
            ends = (*cut_at, len(letters))
            seconds[which].update(letters[n:m] for n in firsts for m in ends if m > n)
            if solid is None:
                keys[which].add(letters)
                whole[which].add(letters)
        # per case (before an "@", with a capital): first words, cuts, whole words, second words
        self.sets = {which: (frozenset(keys[which]), frozenset(cuts[which]), frozenset(whole[which]),
                             frozenset(seconds[which])) for which in keys}
        self.tables = self._tables(self.sets)

    @staticmethod
    def _tables(sets: dict) -> dict:
        """For each case (``at``, ``capital``), what every variant allowed in it may start with, be cut at, …"""
        tables = {}
        for at, capital in sets:
            allowed = [sets[w] for w in sets if (at or not w[0]) and (capital or not w[1])]
            starts = frozenset().union(*(keys for keys, _, _, _ in allowed))
            table_cuts = frozenset().union(*(cuts for _, cuts, _, _ in allowed))
            incomplete = starts - frozenset().union(*(whole for _, _, whole, _ in allowed))  # never a match on its own
            tables[at, capital] = (at, capital, table_cuts, starts, starts | _TITLE_KEYS, incomplete,
                                   frozenset().union(*(seconds for _, _, _, seconds in allowed)))
        return tables

    def matches(self, text: str, folded_in_c: bool = True) -> "list[tuple[int, int, str | None]]":
        """``(start, end, title)`` of each match, in order (``folded_in_c`` False: the C scan
        already found it cannot fold this text)."""
        at = "@" in text
        tables = self.tables[at, False], self.tables[at, True]
        starts = tables[1][3]
        if self.by_words and not self.heads:
            scanner = self.scanner() if self.compiled else None
            if scanner is not None and folded_in_c:  # folded in C where every letter folds to ASCII
                found = self._scanned(scanner, text, None, at, tables)
                if found is not None:
                    return found
            elif _ascii_words(text):
                # letters and digits in lower case, everything else (curly quotes, dashes, "£") a space: all in C
                folded = text.encode("ascii", "replace").translate(_ASCII_LOWER_WORDS).decode("ascii")
                return self._word_matches(text, folded, tables)
            folded = text.translate(_WORD_FOLD_TABLE)  # accented letters as their ASCII letter
            if _UNFOLDED not in folded:
                found = self._scanned(scanner, text, folded, at, tables) if scanner is not None else None
                return found if found is not None else self._word_matches(text, folded, tables)
        if text.isascii() or not _NON_ASCII_WORD.search(text):
            # letters and digits, everything else (curly quotes, dashes, "£") a space: all in C
            cased = text.encode("ascii", "replace").translate(_ASCII_WORDS).decode("ascii")
            folded = cased.lower()
            words = folded.split()
            parts = None
        else:
            folded = _folded_copy(text)
            run = _RUN if _PUA in folded else _LETTER_RUN
            parts = run.split(folded)  # gap, word, gap, word, …, gap
            words = parts[1::2]
            if run is _RUN:
                words = [w.replace(_PUA, "") for w in words]
        present = tables[1][4].intersection(words)  # words that may start a match (or a title)
        alone = present & tables[1][5]
        if alone and tables[1][6].isdisjoint(words):  # "I", "A" (of I. Lin, A. Shah) but no second word
            present -= alone
        if not present:
            return []
        if parts is None:
            cased_words = cased.split()

            def capital(j: int) -> bool:
                return cased_words[j][0].isupper()
        else:
            ends = list(accumulate(map(len, parts)))

            def capital(j: int) -> bool:
                return text[ends[2 * j]].isupper()
        # which words may start a match, and the variants each may start (no positions yet)
        candidates: dict[int, list] = {}
        for j in [i for i, word in enumerate(words) if word in present]:
            word = words[j]
            table = tables[capital(j)]
            if word in table[3]:
                found = self._candidates(table, words, j)
                if found:
                    candidates[j] = found
            if word in _TITLE_KEYS and j + 1 < len(words) and words[j + 1] in starts:
                candidates.setdefault(j, [])
        if not candidates:
            return []
        if parts is None:  # where each word starts: the pieces between single spaces, in C
            pieces = folded.split(" ")
            starts_at = list(compress(accumulate(map(_PLUS_ONE, map(len, pieces)), initial=0), pieces))
            spans = _AsciiSpans(starts_at, words)
        else:
            spans = _Spans(ends)
        found_matches: list[tuple[int, int, str | None]] = []
        resume = 0
        for j in sorted(candidates):
            start = spans[j][0]
            if start < resume:
                continue
            hit = None
            if words[j] in _TITLE_KEYS and j + 1 < len(words):
                title = _TITLE_ONLY.match(text, start)
                if title:
                    table = tables[capital(j + 1)]
                    end = self._first(table, text, folded, words, spans, j + 1, title.end())
                    if end is not None:
                        hit = (start, end, title.group())
            if hit is None and candidates[j]:
                table = tables[capital(j)]
                hit = self._with_head(table, text, folded, words, spans, j, resume) if self.heads else None
                if hit is None:
                    end = self._first(table, text, folded, words, spans, j, start, candidates[j])
                    if end is not None:
                        hit = (start, end, None)
            if hit is not None:
                found_matches.append(hit)
                resume = hit[1]
        return found_matches

    def _word_matches(self, text: str, folded: str, tables: tuple) -> "list[tuple[int, int, str | None]]":
        """:meth:`matches` with no Python step per word, where ``folded`` is the text with
        each letter or digit as its lower-case ASCII letter or digit and everything else a
        space (same length): the words are split and met with the words that may start a
        match (or are a title) in C, and so are the places of those words in the list; each
        is found in the text with ``str.find`` from the one before. Only there are the
        following words read and the variants they spell tried (:meth:`_word_hit`), exactly
        as :meth:`matches` tries them."""
        words = folded.split()
        present = tables[1][4].intersection(words)  # one pass over the words: the sets are large, each look-up costs
        if not present:
            return []
        padded = f" {folded} "
        found: list[tuple[int, int, str | None]] = []
        resume = after = 0
        for j in compress(range(len(words)), map(present.__contains__, words)):
            word = words[j]
            # the next place this word stands as a word: no word met with ``present`` lies between
            start = padded.find(f" {word} ", after)
            after = start + len(word) + 1
            if start < resume:
                continue
            hit = self._word_hit(text, folded, words, tables, j, start)[0]
            if hit is not None:
                found.append(hit)
                resume = hit[1]
        return found

    def _word_hit(self, text: str, folded: str, words: list[str], tables: tuple, j: int, start: int) -> tuple:
        """(The match that starts at word ``j`` of the words-only copy, at ``start``, or None;
        the variants its letters alone may start, or None where the word may not start one
        here.)"""
        word = words[j]
        n_words = len(words)
        table = tables[text[start].isupper()]
        if word in table[3] and (word not in table[5] or (j + 1 < n_words and words[j + 1] in table[6])):
            candidates = self._candidates(table, words, j)
        else:  # not a first word here ("a" of "A. Shah" in lower case), or one that needs a second and has none
            candidates = None
        titled = word in _TITLE_KEYS and j + 1 < n_words
        if not candidates and not (titled and words[j + 1] in tables[1][3]):
            return None, candidates
        spans = _FoundSpans(folded, words, j, start)
        if titled:
            title = _TITLE_ONLY.match(text, start)
            if title:
                table_after = tables[text[spans[j + 1][0]].isupper()]
                end = self._first(table_after, text, folded, words, spans, j + 1, title.end(), fits=self._fits_fast)
                if end is not None:
                    return (start, end, title.group()), candidates
        if candidates:
            end = self._first(table, text, folded, words, spans, j, start, candidates, fits=self._fits_fast)
            if end is not None:
                return (start, end, None), candidates
        return None, candidates

    def _scanned(self, scanner, text: str, folded: "str | None", at: bool, tables: tuple) -> "list | None":
        """:meth:`_word_matches` with the words met, and the variants tried, in C
        (:mod:`casestudy.consent._wordscan`, the same steps); a place it hands back is matched
        by :meth:`_word_hit`, and the variants met there are given to it for the next time.
        ``folded`` None: folded in C, where every letter and digit of the text is ASCII and it
        holds no accent mark (:func:`_ascii_words`). None where C cannot fold it or read ``folded``."""
        scanned = scanner.scan(text, folded, at)
        if scanned is None:
            return None
        return self._finished(scanner, text, folded, tables, *scanned)

    def _finished(self, scanner, text: str, folded: "str | None", tables: tuple, places: list, handed: bool) -> list:
        """The matches, from the places the C scan gave (:meth:`_scanned`)."""
        if not handed:  # every place decided in C: these are the matches
            return places
        words = None
        found: list[tuple[int, int, str | None]] = []
        resume = 0
        for place in places:
            if place[2].__class__ is not int:  # a match, (start, end, title or None)
                if place[0] >= resume:
                    found.append(place)
                    resume = place[1]
                continue
            j, start, why = place
            if start < resume:
                continue
            if words is None:
                if folded is None:  # folded in C: the same copy
                    folded = (text.encode("ascii", "replace").translate(_ASCII_LOWER_WORDS).decode("ascii")
                              if text.isascii() else text.translate(_WORD_FOLD_TABLE))
                words = folded.split()
            hit = self._word_hit(text, folded, words, tables, j, start)[0]
            if why == _UNDEFINED:
                self._define(scanner, words, j)
            if hit is not None:
                found.append(hit)
                resume = hit[1]
        return found

    def _define(self, scanner, words: list[str], j: int) -> None:
        """Give the C scan the variants of every letters a match at word ``j`` (or, after a
        title, at ``j + 1``) may be spelled with, in any table."""
        cuts = self._cuts
        if cuts is None:
            cuts = self._cuts = frozenset().union(*(table[2] for table in self.tables.values()))
        for first in (j, j + 1):
            letters = ""
            for k in range(first, len(words)):
                letters += words[k]
                variants = self.by_letters.get(letters)
                if variants is not None:
                    if variants.__class__ is tuple:
                        variants = self._shapes_of(letters, variants) if variants else []
                    scanner.define(letters, [(rank, shape.needs_at, shape.needs_capital, _tail_kind(shape.tail_source),
                                              shape.gaps, shape.must, shape.exact) for rank, shape in variants])
                if letters not in cuts:
                    break

    def scanner(self) -> "object | None":
        """The C word scan of this index (:mod:`casestudy.consent._wordscan`), made on first
        use from the words a match may start with, the titles, the letters of every variant
        and where variants may be cut; None where it is not built (the Python way then)."""
        scanner = self._scanner
        if scanner is None and _wordscan is not None:
            packed = self.__dict__.get("_packed")
            scanner = _wordscan.Scanner(_gap_fits, _TITLE_ONLY.match, self._fold if packed is not None else _c_fold_map())
            scanner.add(_TITLE_KEYS, _F_TITLE)
            for (at, capital), table in self.tables.items():
                shift = 6 * (2 * at + capital)
                for flag, words in ((_F_STARTS, table[3]), (_F_INCOMPLETE, table[5]), (_F_SECONDS, table[6]),
                                    (_F_CUTS, table[2])):
                    scanner.add(words, flag << shift)
            if packed is not None:  # loaded: every variant at once, read in C (a few ms)
                scanner.define_packed(packed, self.gap_ids, _GAP_MUST, self._head_sources, self._tails,
                                      tuple(map(_tail_kind, self._tails)))
                scanner.add(self._other, _F_LETTERS)  # letters beyond ASCII: never a word of the scan
                self._scanner_packed = True
            else:  # built here: each letters' variants given as a text first meets them (:meth:`_define`)
                scanner.add(self.by_letters, _F_LETTERS)
            self._scanner = scanner
        return scanner

    def _shapes_of(self, letters: str, stored: tuple) -> "list[tuple[int, _Shape]]":
        """The variants spelled ``letters``, from their stored form (:meth:`stored`)."""
        gap_ids = self.gap_ids
        shapes = [(rank, _Shape(letters, exact, _head(head), tuple([gap_ids[g] for g in gaps]), tail))
                  for rank, exact, head, gaps, tail in stored]
        self.by_letters[letters] = shapes
        return shapes

    def __getattr__(self, name: str):
        """``by_letters`` of a loaded index, made when first needed: read from the C word
        scan's copy of the variants where it has one (:class:`_PackedLetters`), else
        unmarshalled (the Python way)."""
        if name != "by_letters" or "_letters_blob" not in self.__dict__:
            raise AttributeError(name)
        scanner = self.__dict__.get("_scanner")
        if scanner is not None and self.__dict__.get("_scanner_packed"):
            value = _PackedLetters(scanner, self._other)
        else:
            value = marshal.loads(self._letters_blob)
        self.by_letters = value
        return value

    def _all_letters(self) -> dict:
        """Every letters' variants: as made into shapes where a text met them, else as stored."""
        letters = self.by_letters
        if letters.__class__ is _PackedLetters:
            every = marshal.loads(self._letters_blob)
            every.update(letters.made)
            return every
        return letters

    def stored(self) -> dict:
        """The index as plain dicts, tuples, strings, numbers and frozensets (for :mod:`marshal`):
        each variant as (rank, exact letters, the source of its head, its gaps as bytes: each
        a number into ``gaps``, the source of its tail)."""
        gaps: dict[str, int] = {}  # each gap expression's source, numbered in the order met
        by_letters = {}
        for letters, variants in self._all_letters().items():
            if variants.__class__ is tuple:  # loaded and never met: back to sources, then numbers
                variants = self._shapes_of(letters, variants)
            by_letters[letters] = tuple(
                (rank, shape.exact, shape.head.pattern if shape.head is not None else "",
                 bytes(gaps.setdefault(_GAPS[g].pattern, len(gaps)) for g in shape.gaps), shape.tail_source)
                for rank, shape in variants)
        sets = {f"{int(at)}{int(capital)}": parts for (at, capital), parts in self.sets.items()}
        packed, other, heads, tails = _pack(by_letters)
        # the variants twice: for the C word scan, packed (read in C, no Python object each), and for
        # the Python way, marshalled on their own (read only where a text needs them, :meth:`__getattr__`)
        return {"by_letters": marshal.dumps(by_letters), "packed": packed, "other": other, "head_sources": heads,
                "tails": tails, "fold": _c_fold_map(), "gaps": tuple(gaps), "sets": sets, "heads": self.heads}

    @classmethod
    def from_stored(cls, data: dict) -> "_Index":
        """The index :meth:`stored` gave, with no variant made into a shape until a text needs it."""
        index = cls.__new__(cls)
        index._letters_blob, index._packed, index._other = data["by_letters"], data["packed"], data["other"]
        index._head_sources, index._tails, index._fold = data["head_sources"], data["tails"], data["fold"]
        index.gap_ids = [_gap_id(source) for source in data["gaps"]]
        index.heads = data["heads"]
        index.sets = {(which[0] == "1", which[1] == "1"): parts for which, parts in data["sets"].items()}
        index.tables = cls._tables(index.sets)
        return index

    def _candidates(self, table: tuple, words: list[str], j: int) -> list[tuple[int, _Shape, int]]:
        """(rank, variant, last word) of every variant whose letters words ``j``, ``j+1``, … spell."""
        at, capital, cuts = table[0], table[1], table[2]
        by_letters = self.by_letters
        found: list[tuple[int, _Shape, int]] = []
        letters, last = words[j], j
        while True:
            variants = by_letters.get(letters, ())
            if variants.__class__ is tuple and variants:  # as stored (:func:`loads`): made into shapes when first met
                variants = self._shapes_of(letters, variants)
            for rank, shape in variants:
                if (at or not shape.needs_at) and (capital or not shape.needs_capital):
                    found.append((rank, shape, last))
            last += 1
            if last >= len(words) or letters not in cuts:
                break
            letters += words[last]
        if len(found) > 1:
            found.sort(key=_RANK)
        return found

    def _first(self, table: tuple, text: str, folded: str, words: list[str], spans: list, j: int, at: int,
               candidates: "list | None" = None, fits=None) -> "int | None":
        """The end of the first variant (in the alternation's order) that matches from
        ``at`` with its first letter in word ``j`` (``fits``: :meth:`_fits`, or
        :meth:`_fits_fast` where ``folded`` is a words-only copy)."""
        begin = spans[j][0]
        if at > begin:
            return None
        for _, shape, last in self._candidates(table, words, j) if candidates is None else candidates:
            if at < begin or shape.head is not None:
                if shape.head is None or not shape.head.fullmatch(text, at, begin):
                    continue
            end = fits(shape, text, spans, j, last) if fits is not None else self._fits(shape, text, folded, spans, j, last)
            if end is not None:
                return end
        return None

    @staticmethod
    def _fits_fast(shape: _Shape, text: str, spans, j: int, last: int) -> "int | None":
        """:meth:`_fits` where the text holds no accent mark and words ``j``..``last`` are
        words of its words-only copy (each ends where a letter or digit is followed by
        neither)."""
        if j == last and shape.solid:  # one word of the text, no gap in it to check: the usual case
            s, e = spans[j]
            for i, ch in shape.exact:
                if text[s + i] != ch:
                    return None
            if shape.plain_tail:
                return e
            tail = shape.tail.match(text, e)
            return tail.end() if tail else None
        return _Index._fits_words(shape, text, spans, j, last)

    def _with_head(self, table: tuple, text: str, folded: str, words: list[str], spans: list, j: int, resume: int):
        """A variant whose pattern may start before its first letter (a name written with a
        leading apostrophe or hyphen) matches from the earliest place in the gap before word
        ``j``, as the alternation would; None in every other case."""
        if not any(shape.head is not None for _, shape, _ in self._candidates(table, words, j)):
            return None
        start = spans[j][0]
        gap_start = spans[j - 1][1] if j else 0
        for at in range(max(resume, gap_start), start):
            if at and text[at - 1].isalnum():
                continue
            end = self._first(table, text, folded, words, spans, j, at)
            if end is not None:
                return at, end, None
        return None

    @staticmethod
    def _fits(shape: _Shape, text: str, folded: str, spans: list, j: int, last: int) -> "int | None":
        """Where the match of ``shape`` over words ``j``..``last`` ends, or None."""
        if j == last and shape.solid:  # one word of the text, no gap in it to check: the usual case
            s, e = spans[j]
            if _PUA not in folded[s:e]:
                for i, ch in shape.exact:
                    if text[s + i] != ch:
                        return None
                tail = shape.tail.match(text, e)
                return tail.end() if tail else None
        if _Index.by_words and _PUA not in folded[spans[j][0] : spans[last][1]]:
            return _Index._fits_words(shape, text, spans, j, last)
        positions: list[int] = []
        for s, e in map(spans.__getitem__, range(j, last + 1)):
            chunk = folded[s:e]
            if _PUA in chunk:
                positions.extend(i for i in range(s, e) if folded[i] != _PUA)
            else:
                positions.extend(range(s, e))
        for i, ch in shape.exact:
            if text[positions[i]] != ch:
                return None
        gaps = shape.gaps
        for i in range(len(gaps)):
            if not _gap_fits(gaps[i], text[positions[i] + 1 : positions[i + 1]]):
                return None
        tail = shape.tail.match(text, positions[-1] + 1)
        return tail.end() if tail else None

    @staticmethod
    def _fits_words(shape: _Shape, text: str, spans: list, j: int, last: int) -> "int | None":
        """:meth:`_fits` where no combining accent stands in words ``j``..``last``: the
        letters are the words' characters, so between two letters of one word stands nothing
        and only the gaps between words are read."""
        gaps = shape.gaps
        start, end = spans[j]
        count = end - start  # letters before the next word
        between = []  # index of each gap that falls between two words
        for k in range(j + 1, last + 1):
            s, e = spans[k]
            if not _gap_fits(gaps[count - 1], text[end:s]):
                return None
            between.append(count - 1)
            count += e - s
            end = e
        for i in shape.must:
            if i not in between:  # a gap that must hold something, inside a word
                return None
        for i, ch in shape.exact:
            k, before = j, 0
            while i - before >= spans[k][1] - spans[k][0]:
                before += spans[k][1] - spans[k][0]
                k += 1
            if text[spans[k][0] + i - before] != ch:
                return None
        if shape.plain_tail:  # no accent mark in these words, and the last ends a word
            return end
        tail = shape.tail.match(text, end)
        return tail.end() if tail else None


@dataclass
class Pseudonymiser:
    """Replaces every listed name in a text; build once, apply to many texts."""

    index: "_Index | None"
    lookup: dict[str, tuple]  # a variant's letters -> (pseudonyms, single word, the pseudonym it is the full name of)
    protected: frozenset = frozenset()
    # which of the words a match may hold are English words (1) or very common ones (2): the
    # English vocabulary itself is read only for a word not here (:meth:`_word_kind`)
    kinds: dict = field(default_factory=dict)
    _judged: dict = field(default_factory=dict, repr=False, compare=False)  # :meth:`_judge`'s, by written form

    def __call__(self, text: str) -> str:
        return self.apply(text)[0]

    def apply(self, text: str) -> tuple[str, list[tuple[int, int, int, int]]]:
        """The pseudonymised text and the replaced spans ``(old_start, old_end, new_start, new_end)``."""
        if not text or self.index is None:
            return text, []
        index = self.index
        scanner = index._scanner  # made by the first text's :meth:`_Index.matches`
        if scanner is not None and index.compiled and index.by_words and not index.heads:
            # in C: the matches, and the text with each replaced where the match's written form
            # was judged before (:meth:`_judge`) and the words around it do not decide
            at = "@" in text
            done = scanner.apply(text, None, at, self._judged)
            if done is None:  # a letter C does not fold: Python folds the text
                return self._replaced(text, index.matches(text, folded_in_c=False))
            if done[0].__class__ is str:
                return done
            tables = index.tables[at, False], index.tables[at, True]
            return self._replaced(text, index._finished(scanner, text, None, tables, *done))
        return self._replaced(text, index.matches(text))

    def _replaced(self, text: str, found: "list[tuple[int, int, str | None]]") -> tuple[str, list[tuple[int, int, int, int]]]:
        """``text`` with each match in ``found`` that is a name here replaced, and the spans."""
        if not found:  # most texts
            return text, []
        out, spans, last, shift = [], [], 0, 0
        for start, end, title in found:
            new = self._replacement(text, start, end, title)
            if new is None:
                continue
            out.append(text[last:start])
            out.append(new)
            spans.append((start, end, start + shift, start + shift + len(new)))
            shift += len(new) - (end - start)
            last = end
        if not spans:
            return text, []
        out.append(text[last:])
        return "".join(out), spans

    def _replacement(self, text: str, start: int, end: int, title: "str | None") -> str | None:
        written = text[start:end]
        if title:
            written = written[len(title) :]
        judged = self._judged.get(written)
        if judged is None:
            judged = self._judge(written)
        pseudonym, rule = judged
        if rule is True or title or text.startswith("@", end):
            return pseudonym  # a title + name ("Dr Okafor") or an e-mail address is always a name
        if rule is False:
            return None
        return pseudonym if self._fits_context(text, start, end, *rule) else None

    def _judge(self, written: str) -> tuple:
        """What a match written ``written`` is, wherever it stands: (its pseudonym, True if
        a name, False if not, or (a month or weekday, a very common word) when that depends
        on the words around it). Kept for the next match written the same way."""
        entry = self.lookup.get(key(written))
        if entry is None:  # pragma: no cover - every variant has a key
            judged = (AMBIGUOUS, True)
        else:
            named, single, exact = entry
            pseudonym = exact or (named[0] if len(named) == 1 else AMBIGUOUS)
            if not single:
                # a full name is a name, unless every word of it is also an English word and it is
                # not written as a name: "we will hope to" is not Will Hope, "Will Hope" is
                judged = (pseudonym, self._capitalised_or_not_words(written))
            else:
                judged = (pseudonym, self._single_word_rule(written))
        if len(self._judged) >= _MAX_CACHE:
            self._judged.clear()
        self._judged[written] = judged
        return judged

    def _capitalised_or_not_words(self, written: str) -> bool:
        """Whether a match of several words is a name: it is not made only of English
        words, or every word is written with a capital."""
        words = _LETTERS.findall(_fold_cached(written))
        return not self._only_english_words(words) or all(w[0].isupper() for w in words)

    def _only_english_words(self, words: "list[str]") -> bool:
        """:func:`only_english_words`, through :attr:`kinds`."""
        folded = [_fold_cached(w).lower() for w in words]
        return len(folded) >= 2 and all(self._word_kind(w) and w not in PARTICLES and w != "l" for w in folded)

    def _word_kind(self, plain: str) -> int:
        """1 if ``plain`` is an English word, 2 if a very common one, 3 both, 0 neither."""
        kind = self.kinds.get(plain)
        if kind is None:
            kind = _kind_of(plain)
        return kind

    def _is_name_here(self, text: str, start: int, end: int, written: str) -> bool:
        """Whether a single word that matches a listed name is used as that name here."""
        rule = self._single_word_rule(written)
        return rule if isinstance(rule, bool) else self._fits_context(text, start, end, *rule)

    def _single_word_rule(self, written: str) -> "bool | tuple[bool, bool]":
        """A single word that matches a listed name: True if it is that name wherever it
        stands, False if never, else (a month or weekday, a very common word): the words
        around it decide (:meth:`_fits_context`)."""
        word = _fold_cached(written).lower()
        letters = [c for c in written if c.isalpha()]
        capitalised = bool(letters) and letters[0].isupper()
        plain = _NOT_LETTER.sub("", word)
        if plain in self.protected:
            return False
        kind = self._word_kind(plain)
        if not kind:
            return True  # only ever a name: any case
        if not capitalised:
            return False
        month, common = plain in MONTHS_DAYS, bool(kind & 2)
        return (month, common) if month or common else True

    @staticmethod
    def _fits_context(text: str, start: int, end: int, month: bool, common: bool) -> bool:
        """Whether a capitalised English word that is a listed name is that name here."""
        if month:
            before, after = text[max(0, start - 8) : start], text[end : end + 3]
            if _NUMBER_BEFORE.search(before) or _NUMBER_AFTER.match(after):
                return False
            # "in April", "by Monday", "since June", "last May": the month or the day, not the person
            previous = _WORD_BEFORE.search(text[max(0, start - 20) : start])
            if previous and previous.group(1).lower() in _TIME_WORDS:
                return False
        if common and _sentence_initial(text, start):
            return False
        return True


def _kind_of(plain: str) -> int:
    """1 if ``plain`` is an English word, 2 if a very common one, 3 both, 0 neither."""
    english, common = _english_words()
    return (plain in english) | 2 * (plain in common)


def _word_kinds(shapes: "dict[tuple, tuple]") -> dict[str, int]:
    """:func:`_kind_of` of every word a match of these variants may be written with: its
    letters between any two places where the text may split it (the whole, each word, the
    words run together), digits left out."""
    kinds: dict[str, int] = {}
    for part, (cuts, _, _) in shapes.items():
        letters = part[0]
        ends = (0, *cuts, len(letters))
        for i, a in enumerate(ends):
            for b in ends[i + 1 :]:
                plain = letters[a:b]
                if plain not in kinds and plain.isalpha() and plain.isascii():
                    kinds[plain] = _kind_of(plain)
    return kinds


def _sentence_initial(text: str, start: int) -> bool:
    i = start - 1
    while i >= 0 and text[i] in " \t\"'“‘(*_[":
        i -= 1
    return i < 0 or text[i] in ".!?:\n\r…"


def build(names: dict[str, str], protected: "set[str] | frozenset | None" = None) -> Pseudonymiser:
    """A pseudonymiser for ``{real name: pseudonym}``.

    ``protected``: words of organisation and place names, never replaced on their own.
    """
    collecting = gc.isenabled()
    gc.disable()  # tens of thousands of small tuples: the collector would rescan them all many times
    try:
        return _build(names, protected)
    finally:
        if collecting:
            gc.enable()


def _build(names: dict[str, str], protected: "set[str] | frozenset | None") -> Pseudonymiser:
    entries: dict[str, _Entry] = {}
    shapes: dict[tuple, tuple] = {}  # variant -> (its cuts, words, length of its expression), first seen first
    for full, pseudonym in names.items():
        if not full or not full.strip():
            continue
        _, words = split_name(full)
        full_key = key("".join(words))
        for k, part, n_words, single in _variants(full):
            if not k:
                continue
            entry = entries.get(k)
            if entry is None:
                entry = entries[k] = _Entry()
            entry.pseudonyms.add(pseudonym)
            entry.single = entry.single or single
            if k == full_key and not single:
                entry.exact = entry.exact or pseudonym
            if part[0]:
                shapes.setdefault(part[:5], (part[5], n_words, part[6]))
    if not shapes:
        return Pseudonymiser(None, {})
    protected_keys = frozenset(key(w) for w in (protected or ()) if len(key(w)) >= 2)
    lookup = {k: (tuple(sorted(e.pseudonyms)), e.single, e.exact) for k, e in entries.items()}
    # the order of the one alternation this replaces: more words first, then the longer expression
    ordered = sorted(shapes.items(), key=lambda item: (-item[1][1], -item[1][2]))
    return Pseudonymiser(_Index([(*shape, cut_at) for shape, (cut_at, _, _) in ordered]), lookup, protected_keys,
                         _word_kinds(shapes))


def names_from_db(db: sqlite_utils.Database) -> dict[str, str]:
    try:  # in the table's order, as sqlite-utils' rows gave them (the order decides ties between names)
        rows = db.execute("SELECT name, pseudonym FROM pseudonyms ORDER BY rowid").fetchall()
    except sqlite3.OperationalError:  # no such table
        return {}
    return {name: pseudonym for name, pseudonym in rows if name}


def protected_words(db: sqlite_utils.Database) -> set[str]:
    """Words of ICS, organisation and collaborative names (e.g. ``Northvale`` in ``Northvale ICS``)."""
    words: set[str] = set()
    tables = set(db.table_names())
    for table in ("ics", "organisations", "collaboratives"):
        if table in tables:
            for (name,) in db.execute(f"SELECT name FROM [{table}] WHERE name IS NOT NULL"):
                words.update(w for w in re.findall(r"[^\W\d_]+", name) if w[:1].isupper())
    return words


class Deferred(Pseudonymiser):
    """A pseudonymiser made on the first text it is given, not before: importing a
    consent register and then a names list into a study with no text yet makes nothing,
    and ingesting sources after them makes it once. Made means loaded from the tables the
    working database keeps for these names (:func:`prepare`), or else built (and, with
    ``store``, those tables written)."""

    def __init__(self, names: dict[str, str], protected: frozenset, db: "sqlite_utils.Database | None" = None,
                 digest: str = "", store: bool = False) -> None:  # noqa: D107 - no dataclass fields yet
        self._names, self._protected = names, protected
        self._db, self._digest, self._store = db, digest, store
        self._built: "Pseudonymiser | None" = None

    def built(self) -> Pseudonymiser:
        if self._built is None:
            made = load(self._db, self._digest) if self._db is not None else None
            if made is None:
                made = build(self._names, self._protected)
                if self._store and self._db is not None:
                    save(self._db, self._digest, made, len(self._names))
            self._built, self._db = made, None
        return self._built

    def apply(self, text: str) -> tuple[str, list[tuple[int, int, int, int]]]:
        if not text:
            return text, []
        return self.built().apply(text)

    def __call__(self, text: str) -> str:
        if not text:
            return text
        return (self._built or self.built()).apply(text)[0]

    index = property(lambda self: self.built().index)
    lookup = property(lambda self: self.built().lookup)
    protected = property(lambda self: self.built().protected)
    kinds = property(lambda self: self.built().kinds)


_LAST_BUILT: dict[str, Deferred] = {}


def from_db(db: sqlite_utils.Database, store: bool = False) -> Pseudonymiser:
    """The pseudonymiser of the database's names, made when the first text needs it:
    loaded from the tables :func:`prepare` stored for these names, or else built (and,
    with ``store``, stored). The last one is reused while the names and protected words
    are the same (ingest asks for it after every name list)."""
    names = names_from_db(db)
    protected = frozenset(protected_words(db))
    digest = names_digest(names, protected)
    last = _LAST_BUILT.get(digest)
    if last is None or (last._built is None and last._db is not db):
        _LAST_BUILT.clear()
        last = _LAST_BUILT[digest] = Deferred(names, protected, db, digest, store)
    elif store and last._built is None:
        last._store = True
    return last


def prepare(db: sqlite_utils.Database) -> bool:
    """Store, in the working database (table ``name_matcher``), the tables of the
    pseudonymiser of its current names, unless those are there already; True if it
    stored them. Called when the names change (a consent register, a names list), so that
    every later command only loads them."""
    names = names_from_db(db)
    protected = frozenset(protected_words(db))
    digest = names_digest(names, protected)
    if _stored_digest(db) == digest:
        return False
    last = _LAST_BUILT.get(digest)
    if last is None or last._built is None:
        last = Deferred(names, protected, digest=digest)
        last._built = build(names, protected)
        _LAST_BUILT.clear()
        _LAST_BUILT[digest] = last
    return save(db, digest, last._built, len(names))


# --- the matcher's tables, kept in the working database ----------------------------
#
# Building the matcher for thousands of names takes most of a second; its tables depend
# only on the names, the protected words, this module's code and the English word lists.
# They are stored (plain dicts, tuples, strings and frozensets, by marshal: no code, no
# objects of ours) in the working database, which is private to its user and holds the
# real names already, keyed by a digest of all of those; a command whose digest differs
# builds them again. They are never copied into the publish database.

_STORE_FORMAT = 3


def _word_list_files() -> "list[Path]":
    """The files of the English words that building reads (spaCy's stop words, spacy-lookups-data)."""
    import importlib.util

    files = []
    for package, relative in (("spacy", ("lang", "en", "stop_words.py")),
                              ("spacy_lookups_data", ("data", "en_lemma_index.json.gz"))):
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):  # pragma: no cover - not installed
            spec = None
        if spec is not None and spec.origin:
            files.append(Path(spec.origin).parent.joinpath(*relative))
    return files


@functools.lru_cache(maxsize=1)
def matcher_version() -> str:
    """What stored tables depend on besides the names: this module's code, the format,
    the Python version (marshal's format) and the English word lists."""
    import hashlib
    import marshal
    import sys

    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(f"format {_STORE_FORMAT} python {sys.version_info[:2]} marshal {marshal.version}".encode())
    for path in _word_list_files():
        size = path.stat().st_size if path.is_file() else -1
        digest.update(f"{path.name} {size}".encode())
    return digest.hexdigest()


def names_digest(names: dict[str, str], protected: "frozenset | set") -> str:
    """The key of the stored tables for these names (in this order) and protected words."""
    import hashlib

    digest = hashlib.sha256(matcher_version().encode())
    digest.update(json.dumps([list(names.items()), sorted(protected)], ensure_ascii=False).encode())
    return digest.hexdigest()


def dumps(matcher: Pseudonymiser) -> bytes:
    """A built pseudonymiser's tables, for :func:`loads`."""
    import marshal

    index = matcher.index.stored() if matcher.index is not None else None
    return marshal.dumps({"format": _STORE_FORMAT, "index": index, "lookup": matcher.lookup,
                          "protected": frozenset(matcher.protected), "kinds": matcher.kinds})


def loads(blob: bytes) -> Pseudonymiser:
    """The pseudonymiser :func:`dumps` stored; ValueError if ``blob`` is not one of this format."""
    import marshal

    collecting = gc.isenabled()
    gc.disable()  # tens of thousands of small tuples at once: the collector would rescan them many times
    try:
        data = marshal.loads(blob)
    except (EOFError, TypeError) as error:
        raise ValueError(f"not a stored name matcher: {error}") from None
    finally:
        if collecting:
            gc.enable()
    if not isinstance(data, dict) or data.get("format") != _STORE_FORMAT:
        raise ValueError("not a stored name matcher of this format")
    index = _Index.from_stored(data["index"]) if data["index"] is not None else None
    return Pseudonymiser(index, data["lookup"], data["protected"], data["kinds"])


def _stored_digest(db: sqlite_utils.Database) -> "str | None":
    try:
        row = db.execute("SELECT digest FROM name_matcher").fetchone()
    except sqlite3.OperationalError:  # a database without the table (not migrated)
        return None
    return row[0] if row else None


def load(db: sqlite_utils.Database, digest: str) -> "Pseudonymiser | None":
    """The stored pseudonymiser of ``digest``, or None if the database holds none (or another)."""
    try:
        row = db.execute("SELECT tables FROM name_matcher WHERE digest = ?", [digest]).fetchone()
    except sqlite3.OperationalError:
        return None
    if row is None:
        return None
    try:
        return loads(row[0])
    except (ValueError, KeyError, TypeError):  # written by another version: built again
        return None


def save(db: sqlite_utils.Database, digest: str, matcher: Pseudonymiser, names: int) -> bool:
    """Store ``matcher``'s tables as those of ``digest`` (the only row kept); False if the
    database has no place for them (not migrated, or opened read-only)."""
    from datetime import datetime, timezone

    blob = dumps(matcher)
    try:
        with db.atomic():
            db.execute("DELETE FROM name_matcher")
            db.execute("INSERT INTO name_matcher (digest, built_at, names, tables) VALUES (?, ?, ?, ?)",
                       [digest, datetime.now(timezone.utc).isoformat(timespec="seconds"), names, blob])
    except sqlite3.OperationalError:
        return False
    return True


def set_names(db: sqlite_utils.Database, names: dict[str, str], origin: str, participant_ids: dict[str, str] | None = None) -> bool:
    """Store names and their pseudonyms; return True when anything changed."""
    participant_ids = participant_ids or {}
    columns = ("name", "pseudonym", "participant_id", "origin")
    existing = {row[0]: dict(zip(columns, row)) for row in db.execute(f"SELECT {', '.join(columns)} FROM pseudonyms")}
    changed: dict[str, dict] = {}  # one query and one batch of writes, however many names
    for name, pseudonym in names.items():
        name = " ".join(name.split())
        if not name:
            continue
        row = {"name": name, "pseudonym": pseudonym, "participant_id": participant_ids.get(name), "origin": origin}
        if existing.get(name) != row:
            changed[name] = existing[name] = row
    if changed:
        db["pseudonyms"].upsert_all(list(changed.values()), pk="name")
    return bool(changed)


def display_terms(terms: "str | None", pseudonymise: "Pseudonymiser") -> "str | None":
    """A coding's matched terms (a JSON list) with every listed name pseudonymised."""
    if terms is None:
        return None
    try:
        values = json.loads(terms)
    except ValueError:
        return "[]"
    if not isinstance(values, list):
        return "[]"
    return json.dumps([pseudonymise(str(v)) for v in values], ensure_ascii=False)


def _has_column(db: sqlite_utils.Database, table: str, column: str) -> bool:
    return any(row[1] == column for row in db.execute(f"PRAGMA table_info([{table}])"))


def fill_display_terms(db: sqlite_utils.Database, pseudonymise: "Pseudonymiser | None" = None, *, every: bool = False) -> int:
    """Fill ``codings.display_terms`` where it is missing (or for every coding): the terms
    the evidence view shows. Called by whatever writes codings, and when names change."""
    if not _has_column(db, "codings", "display_terms"):
        return 0
    pseudonymise = pseudonymise or from_db(db)
    # no terms (a hand-added coding): nothing to pseudonymise, the view shows them as they are
    where = "WHERE terms IS NOT NULL AND terms != '[]'" + ("" if every else " AND display_terms IS NULL")
    updates = [
        (display_terms(terms, pseudonymise), coding_id)
        for coding_id, terms in db.execute(f"SELECT id, terms FROM codings {where}").fetchall()
    ]
    db.conn.executemany("UPDATE codings SET display_terms = ? WHERE id = ?", updates)
    return len(updates)


def refresh_display_text(db: sqlite_utils.Database, source_ids: list[int] | None = None) -> int:
    """Recompute ``excerpts.display_text`` and ``display_heading`` (all excerpts, or those of
    some sources), pseudonymise ``sources.title`` again, and recompute every coding's
    ``display_terms``, with the current names."""
    pseudonymise = from_db(db, store=True)
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
    if _has_column(db, "excerpts", "display_heading"):
        headings = [
            (pseudonymise(heading) if heading else None, excerpt_id)
            for excerpt_id, heading in db.execute(f"SELECT id, heading FROM excerpts {where}", params).fetchall()
        ]
        db.conn.executemany("UPDATE excerpts SET display_heading = ? WHERE id = ?", headings)
    where_s = where.replace("source_id", "id")
    titles = [
        (new, sid)
        for sid, title in db.execute(f"SELECT id, title FROM sources {where_s}", params).fetchall()
        if title and (new := pseudonymise(title)) != title
    ]
    if titles:
        db.conn.executemany("UPDATE sources SET title = ? WHERE id = ?", titles)
    if source_ids is None:
        fill_display_terms(db, pseudonymise, every=True)
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
