"""THE REFERENCE (test oracle only, not the package): casestudy/consent/pseudonyms.py as it
was at commit e0a3b87, one alternation of every variant of every name compiled per name
list, with one rule fix carried over from the package (``only_english_words``: the "l" of
l'Estrange is a particle). tests/test_pseudonyms_differential.py checks the package's token
index finds exactly what this finds. Only the matching is kept; the database helpers
are the package's own.

Pseudonymisation: real names in text replaced by stable pseudonyms.

Names come from the ``pseudonyms`` table: every participant of the consent register
(``Helen Marsh`` → ``[P01]``) and any extra list of names (``Dr Ruth Okafor`` →
``[the ICB chief executive]``). ``excerpts.display_text`` and ``sources.title`` hold the
result in the working database, and the publish database is built from it again, so the
evidence view, Datasette and every export only ever see pseudonyms.

How a name is found (one compiled regular expression per name list):

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

Why regular expressions, not spaCy's PhraseMatcher/Matcher: a blank English pipeline
tokenises ``O'Neill-Smith's``, ``Hollis-\\nSmith`` and ``helen.marsh@nhs.net`` into
shapes that differ from the register entry, and misses accent variants; token patterns
would need every such shape spelled out, where one character class per letter covers
them all, keeps offsets exact, and runs in milliseconds on the whole study. spaCy's
English vocabulary (spacy-lookups-data) is used to know which names are also words.

Limits (see docs/consent.md): a name nobody listed, a nickname not in
:data:`NICKNAMES`, a misspelling, a name split inside a word by hyphenation, or a very
common word used as a name at the start of a sentence is not found.
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field


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
    text = "".join(_EXTRA_FOLD.get(ch, ch) for ch in text)
    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))


def key(text: str) -> str:
    """The letters of a name, folded and lower case: the lookup key of every variant."""
    return re.sub(r"[^a-z0-9]", "", fold(text).casefold())


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
    try:
        from spacy.lang.en.stop_words import STOP_WORDS
    except Exception:  # pragma: no cover
        STOP_WORDS = set()
    common = set(STOP_WORDS)  # "Will", "May": skipped only at the start of a sentence
    return frozenset(w.lower() for w in words if isinstance(w, str)), frozenset(common)


def _word_pattern(word: str) -> str:
    """A regex for one written word of a name: accents, apostrophes and hyphens optional."""
    classes = _accent_classes()
    parts = []
    for ch in unicodedata.normalize("NFC", word):
        if unicodedata.combining(ch):
            continue  # a mark no precomposed letter holds ("ọ̀" in Adébáyọ̀): optional, below
        if ch in _APOSTROPHES:
            parts.append(rf"(?:[{_APOSTROPHES}]\s?|\s)?")
        elif ch in _HYPHENS:
            parts.append(rf"(?:\s*[{_HYPHENS}]\s*|\s+)?")
        elif ch == ".":
            parts.append(r"\.?")
        else:
            base = fold(ch).lower()
            parts.append(classes.get(base, re.escape(ch)) if len(base) == 1 else re.escape(ch))
            if ch.isalpha():
                parts.append(_MARKS)  # text with decomposed accents (NFD) or tone marks: "Siobha\u0301n"
    return "".join(parts)


# --- variants ----------------------------------------------------------------------


@dataclass
class Variant:
    pattern: str  # regex source
    words: int  # how many words (longer variants are tried first)
    single: bool = False  # a single word (first name, surname, short form) on its own


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


def _variants(full: str) -> list[tuple[str, Variant, list[str]]]:
    """Every (key, variant, written words) by which the person called ``full`` may be written."""
    title, words = split_name(full)
    if not words:
        return []
    found: list[tuple[str, Variant, list[str]]] = []
    opt_sep = f"(?:{_SEP})?"

    def pattern_of(tokens: list[str], glued: int = 0) -> str:
        """``tokens`` joined by separators; the last ``glued`` joins (a multi-word surname) may be omitted."""
        out = _word_pattern(tokens[0])
        for i, t in enumerate(tokens[1:], start=1):
            out += (opt_sep if i >= len(tokens) - glued else _SEP) + _word_pattern(t)
        return out

    def add(tokens: list[str], single: bool = False, glued: int = 0, comma: int = 0, run_together: bool = False) -> None:
        if not tokens:
            return
        if comma:  # "Ní Bhriain, Siobhán": the first ``comma`` tokens, a comma, the rest
            pattern = pattern_of(tokens[:comma], comma - 1) + r"\s*,\s*" + pattern_of(tokens[comma:])
        elif run_together:  # every separator optional
            pattern = opt_sep.join(_word_pattern(t) for t in tokens)
        else:
            pattern = pattern_of(tokens, glued)
        found.append((key("".join(tokens)), Variant(pattern, len(tokens), single), tokens))

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
    surname_pattern = pattern_of(surname, glued)
    surname_key = key("".join(surname))
    found.append(
        (key(first[0]) + surname_key, Variant(rf"(?-i:{re.escape(initial)})\.?{_SEP}" + surname_pattern, 1 + len(surname)),
         [first[0], *surname])
    )  # H Marsh, H. Marsh (a capital initial only: "a carver" is not A. Carver)
    # e-mail addresses: s.pryce-jones@, spryce-jones@, nibhriain.siobhan@ (any case, only before an @)
    email_initial = _accent_classes().get(initial.lower(), re.escape(initial.lower()))
    found.append(
        (key(first[0]) + surname_key, Variant(rf"{email_initial}[._-]?{surname_pattern}(?=@)", 1 + len(surname)),
         [first[0], *surname])
    )
    found.append(
        (surname_key + key(first), Variant(rf"{surname_pattern}[._-]?{_word_pattern(first)}(?=@)", 1 + len(surname)),
         [*surname, first])
    )
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


@dataclass
class Pseudonymiser:
    """Replaces every listed name in a text; build once, apply to many texts."""

    pattern: re.Pattern | str | None  # a str is compiled on first use (most texts never need it)
    lookup: dict[str, _Entry]
    protected: frozenset = frozenset()
    # letter runs (ASCII, lower case, as bytes) at least one of which every match in an
    # ASCII text contains: a text with none of them is returned without running the regex
    anchors: frozenset | None = None

    def __call__(self, text: str) -> str:
        return self.apply(text)[0]

    def apply(self, text: str) -> tuple[str, list[tuple[int, int, int, int]]]:
        """The pseudonymised text and the replaced spans ``(old_start, old_end, new_start, new_end)``."""
        if not text or self.pattern is None:
            return text, []
        if self.anchors is not None and (text.isascii() or not _NON_ASCII_LETTER.search(text)):
            # every letter is ASCII ("£", curly quotes and dashes are not letters: a space here)
            if self.anchors.isdisjoint(text.encode("ascii", "replace").translate(_LETTER_RUNS).split()):
                return text, []
        if isinstance(self.pattern, str):
            self.pattern = re.compile(self.pattern, re.IGNORECASE)
        out, spans, last, shift = [], [], 0, 0
        for match in self.pattern.finditer(text):
            new = self._replacement(match)
            if new is None:
                continue
            start, end = match.span()
            out.append(text[last:start])
            out.append(new)
            spans.append((start, end, start + shift, start + shift + len(new)))
            shift += len(new) - (end - start)
            last = end
        out.append(text[last:])
        return "".join(out), spans

    def _replacement(self, match: re.Match) -> str | None:
        written = match.group(0)
        title = match.group("title")
        if title:
            written = written[len(title) :]
        entry = self.lookup.get(key(written))
        if entry is None:  # pragma: no cover - every alternative has a key
            return AMBIGUOUS
        pseudonym = entry.exact or (next(iter(entry.pseudonyms)) if len(entry.pseudonyms) == 1 else AMBIGUOUS)
        if title or match.string.startswith("@", match.end()):
            return pseudonym  # a title + name ("Dr Okafor") or an e-mail address is always a name
        if not entry.single:
            # a full name is a name, unless every word of it is also an English word and it is
            # not written as a name: "we will hope to" is not Will Hope, "Will Hope" is
            return pseudonym if self._capitalised_or_not_words(written) else None
        return pseudonym if self._is_name_here(match, written) else None

    @staticmethod
    def _capitalised_or_not_words(written: str) -> bool:
        """Whether a match of several words is a name: it is not made only of English
        words, or every word is written with a capital."""
        words = re.findall(r"[^\W\d_]+", fold(written))
        return not only_english_words(words) or all(w[0].isupper() for w in words)

    def _is_name_here(self, match: re.Match, written: str) -> bool:
        """Whether a single word that matches a listed name is used as that name here."""
        word = fold(written).lower()
        letters = [c for c in written if c.isalpha()]
        capitalised = bool(letters) and letters[0].isupper()
        english, common = _english_words()
        plain = re.sub(r"[^a-z]", "", word)
        if plain in self.protected:
            return False
        if plain not in english and plain not in common:
            return True  # only ever a name: any case
        if not capitalised:
            return False
        if plain in MONTHS_DAYS:
            text = match.string
            before, after = text[max(0, match.start() - 8) : match.start()], text[match.end() : match.end() + 3]
            if re.search(r"\d(?:st|nd|rd|th)?\s*$", before) or re.match(r"\s*\d", after):
                return False
            # "in April", "by Monday", "since June", "last May": the month or the day, not the person
            previous = re.search(r"([^\W\d_]+)[\s,]*$", text[max(0, match.start() - 20) : match.start()])
            if previous and previous.group(1).lower() in _TIME_WORDS:
                return False
        if plain in common and _sentence_initial(match.string, match.start()):
            return False
        return True


_NON_ASCII_LETTER = re.compile(r"[^\W\d_\x00-\x7f]|" + _MARKS[:-1])  # or a combining mark
# bytes.translate table: ASCII letters to lower case, everything else to a space
_LETTER_RUNS = bytes(c + 32 if 65 <= c <= 90 else c if 97 <= c <= 122 else 32 for c in range(256))


_LITERAL_ASCII = re.compile("[^a-z" + re.escape(_APOSTROPHES + _HYPHENS + ".") + "]")


def _anchors(tokens: "set[str]") -> frozenset | None:
    """The prefilter of :class:`Pseudonymiser`: for each written word of a name, every run
    of its letters that an ASCII text containing it must have as a whole word.

    A match is bounded by non-letters (the lookarounds, separators and titles of the
    pattern), and inside a word only apostrophes, hyphens and dots are optional, so the
    letter run of a text whose letters are all ASCII (other characters a name's pattern may
    consume are spaces, dots, apostrophes and hyphens) that ends where the word's last
    letter group ends is some
    suffix of its groups joined (``O'Neill`` → ``neill`` or ``oneill``). Every variant holds
    at least one such word, so a text without any of these runs cannot match.
    """
    runs: set[bytes] = set()
    for token in tokens:
        folded = fold(token).lower()
        if _LITERAL_ASCII.search(folded.encode("ascii", "ignore").decode()) or not re.search("[a-z]", folded):
            return None  # a digit or symbol an ASCII text could match literally: no prefilter
        groups = [g for g in re.split(r"[^a-z]+", folded) if g]
        for start in range(len(groups)):
            runs.add("".join(groups[start:]).encode("ascii"))
    return frozenset(runs)


def _sentence_initial(text: str, start: int) -> bool:
    i = start - 1
    while i >= 0 and text[i] in " \t\"'“‘(*_[":
        i -= 1
    return i < 0 or text[i] in ".!?:\n\r…"


def build(names: dict[str, str], protected: "set[str] | frozenset | None" = None) -> Pseudonymiser:
    """A pseudonymiser for ``{real name: pseudonym}``.

    ``protected``: words of organisation and place names, never replaced on their own.
    """
    lookup: dict[str, _Entry] = {}
    patterns: dict[str, Variant] = {}
    tokens: set[str] = set()  # every written word a variant is made of
    for full, pseudonym in names.items():
        if not full or not full.strip():
            continue
        _, words = split_name(full)
        tokens.update(words)
        if words:
            tokens.update(n.capitalize() for n in NICKNAMES.get(words[0].lower(), []))
            tokens.update(re.split(f"[{_HYPHENS}]", words[-1]))
        full_key = key("".join(words))
        for k, variant, written in _variants(full):
            if not k:
                continue
            tokens.add("-".join(written))  # its letter runs, run together too: "gwenllianprycejones"
            entry = lookup.setdefault(k, _Entry())
            entry.pseudonyms.add(pseudonym)
            entry.single = entry.single or variant.single
            if k == full_key and not variant.single:
                entry.exact = entry.exact or pseudonym
            patterns.setdefault(variant.pattern, variant)
    if not patterns:
        return Pseudonymiser(None, {})
    protected_keys = frozenset(key(w) for w in (protected or ()) if len(key(w)) >= 2)
    ordered = sorted(patterns.values(), key=lambda v: (-v.words, -len(v.pattern)))
    body = "|".join(f"(?:{v.pattern})" for v in ordered)
    pattern = rf"(?<![^\W_])(?:{_TITLE_RE})?(?:{body})(?![^\W_])"
    anchors = _anchors(tokens)
    # compiling takes ~0.5 s for a few hundred names: only when a text may hold one
    return Pseudonymiser(pattern if anchors is not None else re.compile(pattern, re.IGNORECASE), lookup, protected_keys, anchors)
