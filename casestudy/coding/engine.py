"""Coding: spaCy-assisted suggestions of codebook themes for excerpts.

The pipeline is ``spacy.blank("en")`` with a sentencizer; lemmas come from
spacy-lookups-data's ``lemma_lookup`` table applied to lower-cased tokens, after the
codebook's own overrides (e.g. ``collaboratives`` → ``collaborative``), so matching is
case-insensitive throughout. Each code's patterns become:

* ``phrases`` → a PhraseMatcher on LOWER (exact wording, any case);
* ``lemmas`` and ``weak`` → a PhraseMatcher on LEMMA (any inflection);
* ``tokens`` → a Matcher (spaCy token patterns);
* ``exclude`` → a PhraseMatcher on LEMMA whose matches veto overlapping matches of that code;
* ``context`` → a PhraseMatcher on LEMMA (one per distinct list): a code with a context list is
  suggested only if one of its phrases occurs in the excerpt outside the code's excludes.

A code is suggested for an excerpt when its score reaches the codebook's ``min_score``:
every distinct strong term (phrase, lemma phrase or token pattern) adds 1 to the
evidence, every distinct weak cue adds ``weak_weight``; score = 1 − exp(−evidence).

Suggestions are stored as codings with status ``suggested``, with the terms that carried
them (a JSON list of the excerpt's own words) and their character offsets (a JSON list of
``[start, end]``, aligned with the terms) in ``excerpts.text``. Where ``display_text``
equals ``text`` (no name was pseudonymised) the same offsets index ``display_text``;
otherwise use :func:`display_offsets`.

Two levels (:class:`Coder`): the learned model (``casestudy.coding.learned``) judges which
research questions an excerpt bears on, the patterns find the themes inside them. Themes
are stored with coder ``auto:<codebook version>`` (terms = matched words); a research
question the model alone carries is stored as the RQ's own code with coder
``learned:<model version>`` (terms = the words that weighed most). See ALONE and VETO.

Only evidence is coded: participant turns, paper paragraphs and observation notes of
consenting participants — never interviewer turns. Coding is incremental (the
``coded_excerpts`` table records which excerpts each codebook version and model have seen)
and never touches accepted, rejected or hand-added codings.
"""

from __future__ import annotations

import difflib
import gc
import itertools
import json
import math
import operator
from json.encoder import encode_basestring as _json_string
import re
import threading
from bisect import bisect_right
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import sqlite_utils

from casestudy.coding import codebook as codebook_lib
from casestudy.consent import pseudonyms
from casestudy.coding.codebook import Codebook
from casestudy.coding.learned import sentence_bounds, shown_term
from casestudy.db import CONSENTED_EXCERPT, EXCERPT_JOIN, audit, is_machine_coder, machine_coder, now
from casestudy.errors import CasestudyError
from casestudy.textshape import looks_like_particulars

CHUNK = 1000  # excerpts read from SQLite at a time
BATCH = 256  # texts per nlp.pipe batch

# the excerpts that may be coded: evidence of consenting participants, never interviewers
CODABLE_FROM = f"""
    FROM {EXCERPT_JOIN}
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
    version: str  # the codebook version
    excerpts: int = 0
    suggestions: int = 0  # new suggestions
    dropped: int = 0  # unreviewed suggestions withdrawn (no longer made)
    kept: int = 0  # unreviewed suggestions made again (kept, with the new score and explanation)
    held_back: int = 0  # pattern suggestions the learned model did not back
    keyed: int = 0  # new suggestions of a research question itself carried by its key terms (coder auto:…)
    settled: int = 0  # excerpts reviewed in full that a new model would have given suggestions: left alone
    settled_suggestions: int = 0  # the suggestions not made there
    by_rq: dict = field(default_factory=lambda: defaultdict(int))
    by_coder: dict = field(default_factory=lambda: defaultdict(int))
    codes: dict = field(default_factory=dict)
    model: str | None = None  # learned:<version>, or None (patterns only)
    model_note: str = ""

    def summary(self) -> str:
        lines = [
            f"Codebook version {self.version}"
            + (f", learned model {self.model}" if self.model else ", patterns only")
            + f": coded {self.excerpts:,} excerpts, {self.suggestions:,} new suggestions"
            + (f", {self.kept:,} kept" if self.kept else "")
            + (f", {self.dropped:,} unreviewed suggestions withdrawn" if self.dropped else "")
            + "."
        ]
        if self.model_note:
            lines.append("Learned model: " + self.model_note + ".")
        if self.by_coder:
            parts = []
            for coder, n in sorted(self.by_coder.items()):
                if not coder.startswith("auto:"):
                    what = f"{n:,} research questions judged by the learned model alone"
                elif self.keyed:
                    what = (f"{n - self.keyed:,} themes matched by the codebook's patterns and {self.keyed:,} research "
                            "questions named by their key terms")
                else:
                    what = f"{n:,} themes matched by the codebook's patterns"
                parts.append(f"{what} ({coder})")
            lines.append("New suggestions by coder: " + "; ".join(parts) + ".")
        if self.settled:
            lines.append(f"{self.settled:,} excerpts reviewed in full left as the team left them: a retrained model adds no "
                         f"suggestions to them ({self.settled_suggestions:,} not made; a new codebook version may add some).")
        if self.held_back:
            lines.append(f"{self.held_back:,} pattern matches held back: the learned model did not find their research question "
                         "(`casestudy review why EXCERPT_ID` says why for one excerpt).")
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


MAX_VARIANTS = 20_000  # inflected forms one lemma phrase may expand to


def lemma_table() -> dict[str, str]:
    """spacy-lookups-data's English ``lemma_lookup`` for lower-case words."""
    from spacy.util import load_language_data
    from spacy_lookups_data import en

    return {k: v.lower() for k, v in load_language_data(en["lemma_lookup"]).items() if k == k.lower()}


def word_probabilities() -> dict[str, float]:
    """Log-probabilities of English words (spacy-lookups-data ``lexeme_prob``)."""
    from spacy.util import load_language_data
    from spacy_lookups_data import en

    return load_language_data(en["lexeme_prob"])


_in_text_order = operator.itemgetter(1, 3, 2)  # (start, end, kind) of a (-length, start, kind, end) span


class _LemmaById(dict):
    """LOWER id → the lemma of that lower-case word; filled as words are met."""

    def __init__(self, strings, lemma_of: dict[str, str]):
        super().__init__()
        self.strings, self.lemma_of = strings, lemma_of

    def __missing__(self, lower_id: int) -> str:
        word = self.strings[lower_id]
        lemma = self[lower_id] = self.lemma_of.get(word, word)
        return lemma


class Engine:
    """The codebook compiled into spaCy matchers; ``match(text)`` or ``match_many(texts)``.

    Lemma matching is compiled, not computed per token: every lemma phrase is expanded
    into all the lower-case word forms whose lookup lemma is the phrase's lemma (the
    lookup table inverted, codebook overrides included), and matched with a PhraseMatcher
    on LOWER; ``{LEMMA: ...}`` in token patterns becomes ``{LOWER: {IN: forms}}``. The
    result is exactly that of matching LEMMA after lemmatising every lower-cased token,
    without a Python pass over every token (see ``lemmatise`` and the tests).
    """

    def __init__(self, book: Codebook):
        from spacy.matcher import Matcher, PhraseMatcher
        from spacy.tokens import Doc

        self.book = book
        self.nlp = blank_pipeline()
        self.tokenizer = self.nlp.tokenizer
        self.lemma_of = lemma_table()
        self.lemma_of.update(book.lemma_overrides)
        self.word_prob = word_probabilities()
        self.forms: dict[str, set[str]] = defaultdict(set)
        for word, lemma in self.lemma_of.items():
            self.forms[lemma].add(word)

        vocab = self.nlp.vocab
        strings = vocab.strings
        self.phrase_matcher = PhraseMatcher(vocab, attr="LOWER")
        # token patterns: one Matcher each, run only on a window around each hit of the
        # pattern's anchor (its most selective required token), found by the PhraseMatcher;
        # spaCy's IN predicates cost a Python call per token, so this is much faster
        self.token_matchers: list[tuple[object, int | None]] = []  # (matcher, max length or None)
        # match id of an anchor → index in token_matchers (>= 0), or of a context set → -1 - its index
        self._anchor_ids: dict[int, int] = {}
        self._context_of: dict[str, int] = {}  # code id → index of its context set
        context_sets: dict[tuple[str, ...], int] = {}
        # per token pattern: the word sets (LOWER ids) that must all occur in a window besides its anchor's
        self._others: list[list[frozenset[int]]] = []
        # per token pattern: the most tokens a match can have before and after its anchor's token
        self._reach: list[tuple[int, int] | None] = []
        self.rq_of: dict[str, str] = {}
        self._key: dict[int, tuple[str, str]] = {}  # match id → (code id, kind: S strong, W weak, X exclude)
        for code in book.codable:
            self.rq_of[code.id] = code.rq
            for kind in "SWX":
                self._key[strings.add(f"{code.id}|{kind}")] = (code.id, kind)
            strong = [self._words(p) for p in code.phrases] + [w for p in code.lemmas for w in self._inflect(p)]
            for kind, phrases in (("S", strong), ("W", [w for p in code.weak for w in self._inflect(p)]),
                                  ("X", [w for p in code.exclude for w in self._inflect(p)])):
                if phrases:
                    self.phrase_matcher.add(f"{code.id}|{kind}", [Doc(vocab, words=words) for words in phrases])
            if code.context:  # one matcher entry per distinct context list, shared by the codes that use it
                words = tuple(sorted(set(code.context)))
                index = context_sets.get(words)
                if index is None:
                    index = context_sets[words] = len(context_sets)
                    self._anchor_ids[strings.add(f"&{index}")] = -1 - index
                    self.phrase_matcher.add(f"&{index}", [Doc(vocab, words=w) for p in words for w in self._inflect(p)])
                self._context_of[code.id] = index
            for pattern in code.tokens:
                lowered = self._lower_pattern(pattern)
                matcher = Matcher(vocab)
                matcher.add(f"{code.id}|S", [lowered])
                position, anchor = self._anchor(lowered) or (None, None)
                length = self._max_length(lowered)
                index = len(self.token_matchers)
                required = self._required_sets(lowered, strings)
                if anchor:
                    anchor_words = frozenset(strings.add(w) for w in anchor)
                    required = [words for words in required if words != anchor_words]
                self._others.append(required)
                self._reach.append(self._reach_around(lowered, position) if anchor and length else None)
                if anchor and length:
                    self.token_matchers.append((matcher, length))
                    self._anchor_ids[strings.add(f"@{index}")] = index
                    self.phrase_matcher.add(f"@{index}", [Doc(vocab, words=[w]) for w in anchor])
                else:  # no anchor or unbounded: run on every doc
                    self.token_matchers.append((matcher, None))
        self._always = [i for i, (_, length) in enumerate(self.token_matchers) if length is None]
        self._needed = frozenset().union(*itertools.chain.from_iterable(self._others))  # every word tested in windows
        self._code_kind = {match_id: (code, "SWX".index(kind)) for match_id, (code, kind) in self._key.items()}
        # the order of a doc's matches: by research question, then code
        self._rank = {code_id: i for i, code_id in enumerate(sorted(self.rq_of, key=lambda c: (self.rq_of[c], c)))}
        self._lemma_by_id = _LemmaById(strings, self.lemma_of)
        from spacy.attrs import IDX, LENGTH, LOWER

        self._COLUMNS = [LOWER, IDX, LENGTH]

    # -- lemmas --

    def lemma(self, word: str) -> str:
        word = word.lower()
        return self.lemma_of.get(word, word)

    def variants(self, word: str) -> set[str]:
        """Every lower-case form whose lemma is the lemma of ``word``."""
        lemma = self.lemma(word)
        out = set(self.forms.get(lemma, ()))
        if self.lemma(lemma) == lemma:
            out.add(lemma)
        out.add(word.lower()) if self.lemma(word) == lemma else None
        return out

    def _words(self, phrase: str) -> list[str]:
        return [t.lower_ for t in self.tokenizer(phrase)]

    def _inflect(self, phrase: str) -> list[list[str]]:
        options = [sorted(self.variants(w)) for w in self._words(phrase)]
        total = math.prod(len(o) for o in options)
        if total > MAX_VARIANTS:
            raise CasestudyError(f"lemma phrase {phrase!r} has too many inflected forms ({total}); split it", self.book.path)
        return [list(words) for words in itertools.product(*options)]

    def _lower_pattern(self, pattern: list[dict]) -> list[dict]:
        out = []
        for token in pattern:
            token = dict(token)
            spec = token.pop("LEMMA", None)
            if spec is not None:
                if isinstance(spec, str):
                    token["LOWER"] = {"IN": sorted(self.variants(spec))}
                elif isinstance(spec, dict) and set(spec) <= {"IN", "NOT_IN"}:
                    op = next(iter(spec))
                    token["LOWER"] = {op: sorted(set().union(*(self.variants(str(w)) for w in spec[op])))}
                else:
                    raise CasestudyError("token patterns support LEMMA as a word or {IN: [...]} / {NOT_IN: [...]}", self.book.path)
            out.append(token)
        return out

    @staticmethod
    def _required_sets(pattern: list[dict], strings) -> list[frozenset[int]]:
        out = []
        for token in pattern:
            if token.get("OP") not in (None, "+", "1") or set(token) - {"LOWER", "ORTH", "OP"}:
                continue
            spec = token.get("LOWER", token.get("ORTH"))
            if isinstance(spec, str):
                out.append(frozenset([strings.add(spec.lower())]))
            elif isinstance(spec, dict) and set(spec) == {"IN"}:
                out.append(frozenset(strings.add(str(w).lower()) for w in spec["IN"]))
        return out

    def _anchor(self, pattern: list[dict]) -> tuple[int, list[str]] | None:
        """The position and word forms of the pattern's rarest required token (by English word
        frequency from spacy-lookups-data's ``lexeme_prob``); None if it has none."""
        best = None
        for position, token in enumerate(pattern):
            if token.get("OP") not in (None, "+", "1") or set(token) - {"LOWER", "ORTH", "OP"}:
                continue
            spec = token.get("LOWER", token.get("ORTH"))
            if isinstance(spec, str):
                words = [spec.lower()]
            elif isinstance(spec, dict) and set(spec) == {"IN"}:
                words = [str(w).lower() for w in spec["IN"]]
            else:
                continue
            frequency = sum(math.exp(self.word_prob.get(w, -20.0)) for w in words)
            if best is None or frequency < best[0]:
                best = (frequency, position, words)
        return best[1:] if best else None

    @staticmethod
    def _max_tokens(token: dict) -> int | None:
        """The most tokens one pattern token can match (None when unbounded: * or +)."""
        op = token.get("OP")
        if op in (None, "!", "?", "1"):
            return 0 if op == "!" else 1
        if isinstance(op, str) and op.startswith("{") and op.endswith("}"):
            bounds = op[1:-1].split(",")
            return None if bounds[-1].strip() == "" else int(bounds[-1])
        return None

    @classmethod
    def _max_length(cls, pattern: list[dict]) -> int | None:
        """The most tokens the pattern can match (None when unbounded: * or +)."""
        total = 0
        for token in pattern:
            most = cls._max_tokens(token)
            if most is None:
                return None
            total += most
        return total

    @classmethod
    def _reach_around(cls, pattern: list[dict], anchor: int) -> tuple[int, int]:
        """The most tokens a (bounded) pattern's match can have before and after the token
        matched by its anchor (pattern token ``anchor``, one token long)."""
        length = cls._max_length(pattern)
        if any(token.get("OP") == "!" for token in pattern):  # not narrowed: a match may reach length - 1 either side
            return length - 1, length - 1
        before = cls._max_length(pattern[:anchor])
        return before, length - 1 - before

    def lemmatise(self, doc):
        """Set every token's lemma (lookup table on the lower-cased token). Not needed for
        matching; for display and for checking the compiled matchers."""
        for token in doc:
            token.lemma_ = self.lemma(token.lower_)
        return doc

    # -- matching --

    def match_doc(self, doc, text: str | None = None) -> list[Match]:
        """Matches in a tokenised doc; ``text`` is the doc's text if the caller has it."""
        # the PhraseMatcher's hits, (match id, start, end), grouped by match id: a code's terms,
        # an anchor of a token pattern, or a context set
        hits: defaultdict[int, list[tuple[int, int, int]]] = defaultdict(list)
        for hit in self.phrase_matcher(doc):
            hits[hit[0]].append(hit)
        anchor_ids, key = self._anchor_ids, self._code_kind
        found: dict[str, list] = {}  # code id → [strong, weak, exclude] hits
        windows = []  # (token pattern index, its anchor's hits)
        contexts = {}  # context set index → its hits
        for match_id, group in hits.items():
            index = anchor_ids.get(match_id)
            if index is None:
                code_id, kind = key[match_id]
                kinds = found.get(code_id)
                if kinds is None:
                    kinds = found[code_id] = [(), (), ()]
                kinds[kind] = group
            elif index >= 0:
                windows.append((index, group))
            else:
                contexts[-1 - index] = group
        token_hits = []
        for index in self._always:
            token_hits += self.token_matchers[index][0](doc)
        columns = None  # every token's LOWER id, start and length, read only when needed
        if windows:
            columns = lower, idx, length = self._token_columns(doc)
            token_hits += self._window_matches(doc, lower, windows)
        for hit in token_hits:
            code_id, kind = key[hit[0]]
            kinds = found.get(code_id)
            if kinds is None:
                kinds = found[code_id] = [(), (), ()]
            kinds[kind] = [*kinds[kind], hit]  # a new list: the slot may hold the empty tuple
        if not found:
            return []
        book = self.book
        min_score, weak_weight = book.min_score, book.weak_weight
        context_of = self._context_of
        text = doc.text if text is None else text
        lemmas = self._lemma_by_id
        results = []
        exp = math.exp
        for code_id, (strong, weak, excluded) in found.items():
            # the most evidence these spans could give (every one a distinct term): too little, no work
            if 1.0 - exp(-(len(strong) + len(weak) * weak_weight)) + 2e-9 < min_score:
                continue
            context = context_of.get(code_id)
            if context is not None:  # the code needs one of its context phrases, outside its excludes
                around = contexts.get(context)
                if not around or (excluded and all(any(s < xe and xs < e for _, xs, xe in excluded) for _, s, e in around)):
                    continue
            # spans as (-length, start, kind, end): sorted, longest first, then leftmost, strong (0) before weak (1)
            spans = [(s - e, s, 0, e) for _, s, e in strong]
            if weak:
                spans += [(s - e, s, 1, e) for _, s, e in weak]
            if excluded:
                spans = [span for span in spans if not any(span[1] < xe and xs < span[3] for _, xs, xe in excluded)]
                if not spans:
                    continue
            if len(spans) == 1:
                kept = spans
            else:
                # keep spans, longest first, that overlap no kept one
                spans.sort()
                kept = []
                for span in spans:
                    s, e = span[1], span[3]
                    for _, ks, _, ke in kept:
                        if s < ke and ks < e:
                            break
                    else:
                        kept.append(span)
            if columns is None:
                columns = lower, idx, length = self._token_columns(doc)
            weights: dict[str, float] = {}
            for _, s, k, e in kept:
                # the term: the lemmas of the span's lower-case words (LOWER is str.lower of the token's text)
                term = lemmas[lower[s]] if e - s == 1 else " ".join([lemmas[w] for w in lower[s:e]])
                weight = weak_weight if k else 1.0
                if weights.get(term, 0.0) < weight:
                    weights[term] = weight
            score = 1.0 - exp(-sum(weights.values()))
            if score + 1e-9 < min_score:
                continue
            if len(kept) > 1:
                kept.sort(key=_in_text_order)
            offsets = [[idx[s], idx[e - 1] + length[e - 1]] for _, s, _, e in kept]
            results.append(Match(code_id, [text[a:b] for a, b in offsets], offsets, round(score, 3)))
        if len(results) > 1:
            rank = self._rank
            results.sort(key=lambda m: rank[m.code_id])
        return results

    def _token_columns(self, doc) -> list[list[int]]:
        """[LOWER ids, start offsets, lengths] of the doc's tokens (one array, read column-wise:
        a list per column is much cheaper than a list per token, and makes no Token objects)."""
        return doc.to_array(self._COLUMNS).T.tolist()

    def _window_matches(self, doc, lower: list[int], windows: list[tuple[int, list]]) -> set[tuple[int, int, int]]:
        """The token patterns' matches, each pattern run only on the windows around its anchor's hits."""
        n = len(doc)
        found = set()  # a set: two patterns of a code may find the same span
        present = self._needed.intersection(lower)  # the doc's words that windows test (smaller than set(lower))
        for index, anchors in windows:
            # the anchor's own words are there (it was hit), so only the pattern's other required words are tested
            others = self._others[index]
            if any(map(present.isdisjoint, others)):  # map over a bound method: no generator frame
                continue
            matcher = self.token_matchers[index][0]
            before, after = self._reach[index]
            # every match holds its anchor token, with at most `before` tokens before it and `after`
            # after it, so it lies in the window around one of the anchor's hits; overlapping windows
            # are run as one span (the matcher returns every match inside a span, so the union is the same)
            starts = sorted([hit[1] for hit in anchors])
            lo, hi = max(0, starts[0] - before), min(n, starts[0] + after + 1)
            spans = []
            for i in starts[1:]:
                a, b = max(0, i - before), min(n, i + after + 1)
                if a <= hi:
                    hi = max(hi, b)
                else:
                    spans.append((lo, hi))
                    lo, hi = a, b
            spans.append((lo, hi))
            for lo, hi in spans:
                if others:
                    window = set(lower[lo:hi])
                    if any(map(window.isdisjoint, others)):
                        continue  # a word every match needs is not in this span: it holds no match
                for match_id, s, e in matcher(doc[lo:hi]):
                    found.add((match_id, lo + s, lo + e))
        return found

    def match(self, text: str) -> list[Match]:
        return self.match_doc(self.tokenizer(text), text)

    def match_many(self, texts: Iterable[str], batch_size: int = BATCH) -> Iterator[list[Match]]:
        # the tokenizer alone: matching needs neither sentences nor per-token lemmas
        batch: list[str] = []
        for text in texts:
            batch.append(text)
            if len(batch) >= batch_size:
                yield from (self.match_doc(d, t) for d, t in zip(self.tokenizer.pipe(batch, batch_size=batch_size), batch))
                batch = []
        if batch:
            yield from (self.match_doc(d, t) for d, t in zip(self.tokenizer.pipe(batch, batch_size=batch_size), batch))


_ENGINES: dict[str, Engine] = {}


def engine_for(book: Codebook) -> Engine:
    """A compiled engine per codebook version (building one takes a fraction of a second)."""
    if book.version not in _ENGINES:
        _ENGINES.clear()
        _ENGINES[book.version] = Engine(book)
    return _ENGINES[book.version]


# --- two levels: the RQ judgement, then the themes inside it ---------------------------

# The combination rule (docs/coding.md, "How a suggestion is made"): an RQ is suggested for an
# excerpt when the learned model gives it at least ALONE, or when a theme's patterns fire and
# the model gives the RQ at least VETO for the whole excerpt, or at least LOCAL for the
# sentence the theme matched in (a long answer that wanders keeps a point made in one
# sentence; asked only when the excerpt has at least LOCAL_FROM, below which it is plainly
# not about the RQ). Themes whose patterns fired are suggested inside a suggested RQ (coder
# auto:<codebook>); an RQ the model alone carries is suggested as the RQ itself (coder
# learned:<model>). An RQ whose key terms the excerpt names needs only KEY_FLOOR (its themes,
# or the RQ itself by auto:<codebook>); an excerpt too little to read (fewer than MIN_WORDS
# content words: a table row, a heading, a short reply; or a line of particulars: "Venue: …",
# "Present: …", "Version 1.2 · approved by …") gets nothing from the model alone or a key term,
# and its themes need ALONE. Score: 1 - (1 - pattern score) * (1 - model probability).
ALONE = 0.5
VETO = 0.3
LOCAL = 0.8
LOCAL_FROM = 0.05
KEY_FLOOR = 0.1  # an RQ whose key terms the excerpt names is suggested from this P(RQ)
MIN_WORDS = 5  # content words an excerpt needs for the model alone or a key term to suggest an RQ (and for a theme under ALONE)
EXPLAIN_TOP = 5  # words shown as the learned model's explanation


@dataclass
class Suggestion:
    code_id: str
    rq: str
    coder: str
    score: float
    terms: list[str]
    offsets: list[list[int]]
    probability: float | None = None  # the learned model's P(RQ), when a model was used


@dataclass
class Verdict:
    """What the combination rule made of one research question for one excerpt, in words."""

    rq: str
    probability: float | None  # the learned model's P(RQ) for the whole excerpt (None: patterns only)
    suggested: list[Suggestion]  # what was suggested for the RQ (themes, or the RQ itself)
    matched: list[Match]  # the RQ's themes whose patterns fired
    key_terms: list[str]  # the RQ's key terms the excerpt names, as written
    reason: str


class _SentenceProbabilities:
    """The model's probabilities for the sentences of one excerpt that held-back theme
    matches stand in: worked out for a whole page at once (:meth:`Coder.suggest_many`),
    else when first asked. The sentences' terms are read from the excerpt's own (``terms``)
    rather than from the text again, when it has them."""

    def __init__(self, text: str, terms, model, featurizer):
        self.text, self.terms, self.model, self.featurizer = text, terms, model, featurizer
        self.bounds = sentence_bounds(text)
        self.ends = [end for _, end in self.bounds]
        self.known: dict[int, dict[str, float]] = {}
        self.where: dict[tuple[int, ...], set[int]] = {}  # a match's word starts → its sentences

    def sentences_of(self, match: Match) -> set[int]:
        """The sentences the match's words stand in (none when the excerpt is one sentence:
        its own probability has already said no)."""
        starts = tuple(start for start, _ in match.offsets)
        found = self.where.get(starts)
        if found is None:
            ends, last = self.ends, len(self.ends) - 1
            found = self.where[starts] = {min(bisect_right(ends, start), last) for start in starts} if last else set()
        return found

    def terms_of(self, which: list[int]) -> list:
        """The terms of the sentences numbered ``which``."""
        found = None
        if getattr(self.terms, "entries", None):
            found = self.featurizer.sentence_terms(self.terms, len(self.bounds), which)
        if found is None:  # no excerpt terms to read them from, or its sentences part otherwise
            found = [self.featurizer.terms(self.text[a:b]) for a, b in (self.bounds[k] for k in which)]
        return found

    def of(self, match: Match, rq: str) -> float:
        """The highest P(rq) of the sentences the match stands in."""
        best = 0.0
        for k in self.sentences_of(match):
            if k not in self.known:
                self.known[k] = self.model.probabilities(self.terms_of([k])[0])
            best = max(best, self.known[k][rq])
        return best


class _KeyTerms:
    """The codebook's key terms (each RQ's own headline words) as lemma sequences, read by
    the learned model's featuriser so they meet an excerpt's lemmas as it reads them."""

    def __init__(self, book: Codebook, featurizer):
        self.by_rq: dict[str, list[tuple[str, ...]]] = {}
        for rq, phrases in book.key_terms.items():
            sequences = [tuple(lemma for lemma, _, _ in featurizer.words(p)) for p in phrases]
            self.by_rq[rq] = sorted({s for s in sequences if s})
        self._first = {rq: frozenset(s[0] for s in sequences) for rq, sequences in self.by_rq.items()}

    def found(self, lemmas: list[str], rq: str, present: "set[str] | None" = None) -> list[tuple[str, ...]]:
        """The key terms of ``rq`` among the excerpt's ``lemmas`` (``present``: their set, if known)."""
        first = self._first.get(rq)
        if not first:
            return []
        present = set(lemmas) if present is None else present
        if first.isdisjoint(present):
            return []
        out = []
        for sequence in self.by_rq[rq]:
            if sequence[0] not in present:
                continue
            n = len(sequence)
            if n == 1 or any(tuple(lemmas[i:i + n]) == sequence for i, lemma in enumerate(lemmas) if lemma == sequence[0]):
                out.append(sequence)
        return out


def _too_little(text: str, terms) -> "str | None":
    """Why the excerpt is too little to read, or None: "short" (fewer than MIN_WORDS content
    words) or "particulars" (a line of a meeting's or a document's particulars, "Venue: …",
    "Present: …", "Version 1.2 · approved by …": casestudy.textshape.looks_like_particulars)."""
    if _too_short(terms):
        return "short"
    return "particulars" if looks_like_particulars(text) else None


def _too_short(terms) -> bool:
    """Fewer than MIN_WORDS content words (the terms that are single words: they come first)."""
    n = 0
    for term in terms:
        if " " in term:
            break
        n += 1
        if n >= MIN_WORDS:
            return False
    return True


def _keyable(probability: dict[str, float], rq: str) -> bool:
    """High enough for the RQ's key terms to carry it, and not already carried by the model."""
    return KEY_FLOOR <= probability[rq] < ALONE


def _vetoed(probability: dict[str, float], rq: str) -> bool:
    """The excerpt as a whole is not enough for a theme of ``rq`` whose patterns fired."""
    p = probability[rq]
    return p < VETO and p < ALONE


def _rescuable(probability: dict[str, float], rq: str) -> bool:
    """Worth asking the model about the sentences of a vetoed theme's match."""
    return probability[rq] >= LOCAL_FROM


def _words_that_weighed(contributions: list[tuple[str, float]]) -> list[str]:
    """The EXPLAIN_TOP terms that weighed most, a word pair with a function word ("the icb")
    counted as its content word ("icb"): the explanation names words, not "the"."""
    total: dict[str, float] = {}
    for term, value in contributions:
        key = shown_term(term)
        total[key] = total.get(key, 0.0) + value
    return [t for t, _ in sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))[:EXPLAIN_TOP]]


def _too_little_why(short: str) -> str:
    """Why an excerpt is too little to read, in words (``short``: what :func:`_too_little` said)."""
    return "it is a line of particulars (venue, date, attendance, version)" if short == "particulars" else f"under {MIN_WORDS} content words"


def _reason(p, suggested, matched, named, short: "str | None", pattern_coder: str) -> str:
    """One line on why an RQ was or was not suggested, naming the rule's thresholds (``short``:
    why the excerpt is too little to read, :func:`_too_little`)."""
    if p is None:
        return "a theme's patterns matched" if suggested else "no theme's patterns matched (patterns only)"
    model = f"the model gives it {p:.2f}"
    if suggested:
        if any(s.coder != pattern_coder for s in suggested):
            return f"carried by the model alone: {model} (at least {ALONE})"
        if any(s.code_id == s.rq for s in suggested):
            return f"its key terms are named and {model} (at least {KEY_FLOOR})"
        if short:
            return f"a theme's patterns matched and {model} (at least {ALONE}, as {_too_little_why(short)})"
        if p >= VETO:
            return f"a theme's patterns matched and {model} (at least {VETO})"
        if named:
            return f"a theme's patterns matched, its key terms are named and {model} (at least {KEY_FLOOR})"
        return f"a theme's patterns matched in a sentence the model gives at least {LOCAL} ({model} as a whole)"
    if matched and short:
        return f"held back: a theme's patterns matched, but {_too_little_why(short)} and {model} (under {ALONE})"
    if matched:
        why = f"held back: a theme's patterns matched but {model} (under {VETO}) and no sentence they matched in reaches {LOCAL}"
        if named:
            why += f"; its key terms are named, but they need at least {KEY_FLOOR}"
        return why
    if short and p >= ALONE:
        return f"too little to read: {model} (at least {ALONE}), but {_too_little_why(short)}, which the model alone never codes"
    if short and named and p >= KEY_FLOOR:
        return f"too little to read: its key terms are named and {model} (at least {KEY_FLOOR}), but {_too_little_why(short)}"
    if named:
        return f"its key terms are named, but {model} (under {KEY_FLOOR})"
    return f"no theme's patterns matched, no key term named, and {model} (under {ALONE})"


class Coder:
    """Patterns and (optionally) a learned model, combined by the rule above."""

    def __init__(self, engine: "Engine", model=None, featurizer=None):
        from casestudy.coding import learned

        self.engine = engine
        self.model = model
        self.featurizer = featurizer or learned.Featurizer(engine.lemma_of)
        self.keys = _KeyTerms(engine.book, self.featurizer)
        self.held_back = 0  # pattern suggestions the model vetoed

    def suggest(self, text: str, matches: list[Match], terms: list[str] | None = None,
                probability: dict[str, float] | None = None, features: tuple | None = None,
                local: "_SentenceProbabilities | None" = None) -> list[Suggestion]:
        """The excerpt's suggestions. ``terms``, ``probability`` and ``features`` (the
        model's feature blocks and this excerpt's row in them) may come from a batch."""
        engine, model = self.engine, self.model
        pattern_coder = engine.book.coder
        if model is None:
            return [Suggestion(m.code_id, engine.rq_of[m.code_id], pattern_coder, m.score, m.terms, m.offsets) for m in matches]
        if terms is None:
            terms = self.featurizer.terms(text)
        if probability is None:
            probability = model.probabilities(terms)
        by_rq: dict[str, list[Match]] = defaultdict(list)
        for m in matches:
            by_rq[engine.rq_of[m.code_id]].append(m)
        out = []
        short = _too_little(text, terms)
        keyed = self._keyed(text, terms, probability, by_rq, short) if self.keys.by_rq else {}
        for rq, p in probability.items():
            themes = by_rq.get(rq)
            keys = keyed.get(rq)
            if themes:
                if short and p < ALONE:  # a table row, a heading: a theme's words alone are too little
                    backed = []
                    self.held_back += len(themes)
                elif keys or not _vetoed(probability, rq):
                    backed = [(m, p) for m in themes]
                else:
                    backed = []
                    if _rescuable(probability, rq):
                        if local is None:
                            local = _SentenceProbabilities(text, terms, model, self.featurizer)
                        backed = [(m, q) for m, q in ((m, local.of(m, rq)) for m in themes) if q >= LOCAL]
                    self.held_back += len(themes) - len(backed)
                for m, q in backed:
                    score = 1.0 - (1.0 - m.score) * (1.0 - q)
                    out.append(Suggestion(m.code_id, rq, pattern_coder, round(score, 3), m.terms, m.offsets, round(q, 3)))
            elif p >= ALONE:
                if not short:  # a reply such as "Yes, that's fine, go ahead." is too little for the model to read
                    words, offsets = self.explain(text, terms, rq, features)
                    out.append(Suggestion(rq, rq, model.coder, round(p, 3), words, offsets, round(p, 3)))
            elif keys:
                words, offsets = self._locate(text, [" ".join(k) for k in keys])
                score = 1.0 - math.exp(-len(keys)) * (1.0 - p)
                out.append(Suggestion(rq, rq, pattern_coder, round(score, 3), words, offsets, round(p, 3)))
        return out

    def explain(self, text: str, terms: list[str], rq: str,
                features: tuple | None = None) -> tuple[list[str], list[list[int]]]:
        """The excerpt's own words that carried the model's judgement for ``rq`` (most first),
        with their character offsets in ``text``."""
        blocks, row = features if features is not None else (None, 0)
        weighed = self.model.contributions(terms, rq, top=3 * EXPLAIN_TOP, blocks=blocks, row=row)
        return self._locate(text, _words_that_weighed(weighed))

    def verdicts(self, text: str, matches: list[Match]) -> list[Verdict]:
        """For each research question, what :meth:`suggest` made of this excerpt and why (the
        rule's thresholds named), including the questions it did not suggest."""
        terms = self.featurizer.terms(text)
        probability = self.model.probabilities(terms) if self.model is not None else None
        made = self.suggest(text, matches, terms, probability)
        short = _too_little(text, terms)
        lemmas = self._lemmas(text, terms)
        out = []
        for rq in codebook_lib.RQS:
            matched = [m for m in matches if self.engine.rq_of[m.code_id] == rq]
            keys = [" ".join(k) for k in self.keys.found(lemmas, rq)]
            named = self._locate(text, keys)[0]
            suggested = [s for s in made if s.rq == rq]
            p = None if probability is None else probability[rq]
            out.append(Verdict(rq, p, suggested, matched, named,
                               _reason(p, suggested, matched, named, short, self.engine.book.coder)))
        return out

    def _locate(self, text: str, lemma_terms: list[str]) -> tuple[list[str], list[list[int]]]:
        """Where each lemma term (a lemma or lemmas joined by spaces) first stands in ``text``:
        the words as written and their character offsets (terms not found are left out)."""
        words = self.featurizer.words(text)
        at: dict[str, list[int]] = defaultdict(list)  # lemma → where it stands, first first
        for i, (lemma, _, _) in enumerate(words):
            at[lemma].append(i)
        out_terms, out_offsets = [], []
        for term in lemma_terms:
            parts = term.split(" ")
            for i in at.get(parts[0], ()):
                if all(i + k < len(words) and words[i + k][0] == parts[k] for k in range(1, len(parts))):
                    start, end = words[i][1], words[i + len(parts) - 1][2]
                    out_terms.append(text[start:end])
                    out_offsets.append([start, end])
                    break
        return out_terms, out_offsets

    def _keyed(self, text: str, terms, probability: dict[str, float], themed,
               short: "str | None") -> dict[str, list[tuple[str, ...]]]:
        """The RQs the excerpt's key terms carry, with the key terms it names: each RQ with key
        terms that the model puts between KEY_FLOOR and ALONE and whose fired themes (``themed``:
        the RQs with any) it would otherwise hold back, in an excerpt long enough to read
        (``short``: why it is too little to read, :func:`_too_little`, or None)."""
        candidates = [rq for rq in self.keys.by_rq
                      if _keyable(probability, rq) and (rq not in themed or _vetoed(probability, rq))]
        if not candidates or short:
            return {}
        lemmas = self._lemmas(text, terms)
        present = set(lemmas)
        return {rq: found for rq in candidates if (found := self.keys.found(lemmas, rq, present))}

    def _lemmas(self, text: str, terms) -> list[str]:
        """The excerpt's lemmas in order (kept on its terms, else read again)."""
        lemmas = getattr(terms, "lemmas", None)
        return lemmas if lemmas is not None else self.featurizer.terms(text).lemmas

    def suggest_many(self, texts: list[str]) -> Iterator[list[Suggestion]]:
        if self.model is None:
            for text, matches in zip(texts, self.engine.match_many(texts)):
                yield self.suggest(text, matches)
            return
        docs = [self.featurizer.terms(text) for text in texts]
        blocks = self.model.blocks(docs)
        probabilities = self.model.probabilities_many(docs, blocks)
        matched = list(self.engine.match_many(texts))
        local = self.sentence_probabilities(texts, docs, matched, probabilities)
        for row, (text, matches, terms, probability) in enumerate(zip(texts, matched, docs, probabilities)):
            yield self.suggest(text, matches, terms, probability, (blocks, row), local.get(row))

    def sentence_probabilities(self, texts, docs, matched, probabilities) -> dict[int, _SentenceProbabilities]:
        """For each excerpt (by row) with a held-back theme match worth asking about, the
        sentences it matched in, with the model's probabilities for all of them worked out in
        one batch."""
        rq_of = self.engine.rq_of
        local: dict[int, _SentenceProbabilities] = {}
        wanted: list[tuple[int, int]] = []
        sentence_terms: list = []
        for row, (matches, probability) in enumerate(zip(matched, probabilities)):
            if not matches or _too_little(texts[row], docs[row]):  # too little to read: its themes need ALONE, no sentence asked
                continue
            asked = {rq for rq in probability if _vetoed(probability, rq) and _rescuable(probability, rq)}
            if asked and self.keys.by_rq:  # a theme its RQ's key terms back needs no sentence
                asked -= self._keyed(texts[row], docs[row], probability, {rq_of[m.code_id] for m in matches},
                                     None).keys()  # None: an excerpt too little to read was passed over above
            vetoed = [m for m in matches if rq_of[m.code_id] in asked] if asked else None
            if vetoed:
                sentences = local[row] = _SentenceProbabilities(texts[row], docs[row], self.model, self.featurizer)
                which = sorted(set().union(*map(sentences.sentences_of, vetoed)))
                if which:
                    wanted += [(row, k) for k in which]
                    sentence_terms += sentences.terms_of(which)
        if wanted:
            for (row, k), probability in zip(wanted, self.model.probabilities_many(sentence_terms)):
                local[row].known[k] = probability
        return local


# --- offsets for display_text -------------------------------------------------------


_PIECES = re.compile(r"\w+\s*|[^\w\s]\s*|\s+")  # words and signs with the space after: every character once


def display_offsets(text: str, display_text: str, offsets: list[list[int]]) -> list[list[int] | None]:
    """Map offsets in ``text`` to ``display_text`` (which has names replaced by pseudonyms).

    Identical texts map one to one. Otherwise each span is moved by the alignment of the
    two texts; a span that touches replaced text (a name) maps to ``None``. The texts are
    aligned word by word (a character alignment costs ~10 ms per excerpt, too slow for a
    review queue of 50 lines), then the matching runs of words become character blocks.
    """
    if text == display_text or not offsets:
        return [list(o) for o in offsets]
    a, b = _PIECES.findall(text), _PIECES.findall(display_text)
    a_at = list(itertools.accumulate(map(len, a), initial=0))
    b_at = list(itertools.accumulate(map(len, b), initial=0))
    blocks = [
        (a_at[i], b_at[j], a_at[i + n] - a_at[i])
        for i, j, n in difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks()
    ]
    out: list[list[int] | None] = []
    for start, end in offsets:
        mapped = None
        for a_start, b_start, size in blocks:
            if a_start <= start and end <= a_start + size:
                mapped = [b_start + (start - a_start), b_start + (end - a_start)]
                break
        out.append(mapped)
    return out


# --- coding a database --------------------------------------------------------------


def pending_count(db: sqlite_utils.Database, version: str) -> int:
    """Excerpts not yet coded with codebook ``version`` or a run key starting with it (for a
    progress bar: a new learned model makes every excerpt pending again)."""
    return db.execute(
        f"""SELECT count(*) {CODABLE_FROM}
            AND NOT EXISTS (SELECT 1 FROM coded_excerpts ce WHERE ce.excerpt_id = e.id
                            AND (ce.codebook_version = ? OR ce.codebook_version LIKE ? || '+%'))""",
        [version, version],
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


def _settled(conn, first: int, last: int, version: str, reviewed: set[int]) -> set[int]:
    """Of ``reviewed`` (excerpts a person decided on with no suggestion waiting: reviewed in
    full), those last coded with codebook ``version`` (with any model, or its patterns alone):
    re-coding them with a new model adds nothing, while a new codebook version may."""
    if not reviewed:
        return set()
    coded = {e for (e,) in conn.execute(
        "SELECT excerpt_id FROM coded_excerpts WHERE excerpt_id BETWEEN ? AND ? AND (codebook_version = ? OR codebook_version LIKE ? || '+%')",
        [first, last, version, version])}
    return reviewed & coded


def _terms_json(terms: list[str]) -> str:
    """``json.dumps(terms, ensure_ascii=False)`` for a list of strings: the encoder's own string
    escaping (``json.encoder.encode_basestring``), joined as it joins them, without building an encoder."""
    return "[" + ", ".join(map(_json_string, terms)) + "]"


def _offsets_json(offsets: list[list[int]]) -> str:
    """``json.dumps(offsets)`` for a list of [start, end] pairs of ints, without the encoder."""
    return "[" + ", ".join([f"[{a}, {b}]" for a, b in offsets]) + "]"


class _DisplayTerms:
    """A suggestion's ``display_terms`` as ``pseudonyms.fill_display_terms`` would set it (the
    terms with every listed name pseudonymised; NULL for no terms), computed while the row is
    written instead of in a second pass over the table. Each distinct term is pseudonymised once."""

    def __init__(self, pseudonymise):
        self.pseudonymise = pseudonymise
        self.seen: dict[str, str] = {}

    def __call__(self, terms: list[str], terms_json: str) -> str | None:
        if terms_json == "[]":
            return None
        seen = self.seen
        shown = []
        for term in terms:
            out = seen.get(term)
            if out is None:
                out = seen[term] = self.pseudonymise(term)
            shown.append(out)
        return terms_json if shown == terms else _terms_json(shown)




def withdraw_uncodable(db: sqlite_utils.Database) -> int:
    """Delete unreviewed suggestions on excerpts that may no longer be coded."""
    cursor = db.execute(
        f"""DELETE FROM codings WHERE {machine_coder('coder')} AND status = 'suggested' AND reviewed_at IS NULL
            AND excerpt_id NOT IN (SELECT e.id {CODABLE_FROM})"""
    )
    return cursor.rowcount


# Coding makes many small, short-lived objects (terms, matches, suggestions) beside a large,
# long-lived heap (spaCy, the matchers, the model): with Python's default thresholds the
# garbage collector ran ~1,600 young and ~12 full collections over a 1M-word study, walking
# that heap each time, ~15 % of the coding time.
_YOUNG_COLLECTION_EVERY = 50_000  # allocations (Python's default: 700)


_gc_runs = {"active": 0, "threshold": None, "froze": False}  # coding runs now inside, and what to restore
_gc_lock = threading.Lock()


@contextmanager
def _batch_garbage_collection():
    """For coding runs: what is alive when the first starts is kept out of the collector's
    walks (``gc.freeze``, unless the program froze its own heap already), and young
    collections run less often; both restored when the last run (of any thread) ends."""
    with _gc_lock:
        if not _gc_runs["active"]:
            _gc_runs["threshold"], _gc_runs["froze"] = gc.get_threshold(), gc.get_freeze_count() == 0
            if _gc_runs["froze"]:
                gc.freeze()
            gc.set_threshold(_YOUNG_COLLECTION_EVERY, *_gc_runs["threshold"][1:])
        _gc_runs["active"] += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_runs["active"] -= 1
            if not _gc_runs["active"]:
                gc.set_threshold(*_gc_runs["threshold"])
                if _gc_runs["froze"]:
                    gc.unfreeze()


def run_key(book: Codebook, model) -> str:
    """What `coded_excerpts` records: the codebook version, and the learned model's if one is used."""
    return book.version + (f"+{model.version}" if model is not None else "")


def code_database(
    db: sqlite_utils.Database,
    book: Codebook | None = None,
    *,
    actor: str = "casestudy",
    progress: Callable[[int], None] | None = None,
    chunk: int = CHUNK,
    use_model: bool = True,
    retrain: bool = False,
) -> Result:
    """Suggest codes for every excerpt not yet coded with this codebook and learned model.

    One transaction: codes stored, the learned model chosen (and retrained when enough new
    human decisions exist, see ``learned.choose``), suggestions written. Re-coding with a new
    codebook or model only adds or withdraws unreviewed suggestions (one still made keeps its
    id, with the new score and explanation). An excerpt/code pair that has any human decision
    (accepted, rejected, hand-added) is never suggested again, and no RQ is suggested as a
    whole where a person already decided on one of its codes for that excerpt.
    ``use_model=False`` gives the codebook's patterns alone.
    """
    from casestudy.coding import learned

    book = book or codebook_lib.load()
    engine = engine_for(book)
    result = Result(version=book.version)
    featurizer = learned.Featurizer(engine.lemma_of)
    with _batch_garbage_collection(), db.atomic():
        result.codes = codebook_lib.store(db, book)
        model = None
        if use_model:
            choice = learned.choose(db, book, featurizer, retrain=retrain)
            model = choice.model
            result.model, result.model_note = model.coder, choice.reason
        coder = Coder(engine, model, featurizer)
        key = run_key(book, model)
        result.dropped = withdraw_uncodable(db)
        conn = db.conn
        stamp = now()
        rq_of_code = dict(conn.execute("SELECT id, rq FROM codes").fetchall())
        pseudonymise = pseudonyms.from_db(db)
        shown_terms = _DisplayTerms(pseudonymise)
        for rows in _pending_chunks(db, key, chunk):
            first, last = rows[0][0], rows[-1][0]
            pending = {excerpt_id for excerpt_id, _ in rows}
            existing: dict[tuple[int, str], int] = {}
            decided: set[tuple[int, str]] = set()
            decided_rq: set[tuple[int, str]] = set()
            for coding_id, excerpt_id, code_id, coder_name, status, reviewed in conn.execute(
                "SELECT id, excerpt_id, code_id, coder, status, reviewed_at FROM codings WHERE excerpt_id BETWEEN ? AND ?",
                [first, last],
            ):
                if excerpt_id not in pending:
                    continue
                if status == "suggested" and reviewed is None and is_machine_coder(coder_name):
                    existing[(excerpt_id, code_id)] = coding_id
                else:
                    decided.add((excerpt_id, code_id))
                    decided_rq.add((excerpt_id, rq_of_code.get(code_id)))
            # reviewed in full: decided on, nothing waiting (casestudy.db's suggestion_outcomes view, read
            # here from the rows already in hand rather than from the view over every coding)
            settled = _settled(conn, first, last, book.version, {e for e, _ in decided} - {e for e, _ in existing})
            inserts, updates, kept = [], [], set()
            for (excerpt_id, _), suggestions in zip(rows, coder.suggest_many([text for _, text in rows])):
                # a researcher's decision on a code (or, for a question's own code, on its RQ) stands
                open_ = [sg for sg in suggestions if (excerpt_id, sg.code_id) not in decided
                         and not (sg.code_id == sg.rq and (excerpt_id, sg.rq) in decided_rq)]
                if excerpt_id in settled:  # reviewed in full under this codebook: a new model does not reopen it
                    result.settled += bool(open_)
                    result.settled_suggestions += len(open_)
                    continue
                for sg in open_:
                    pair = (excerpt_id, sg.code_id)
                    terms, offsets = _terms_json(sg.terms), _offsets_json(sg.offsets)
                    display = shown_terms(sg.terms, terms)
                    if pair in existing:
                        kept.add(pair)
                        updates.append((sg.coder, terms, offsets, sg.score, book.version, stamp, display, existing[pair]))
                        continue
                    inserts.append((excerpt_id, sg.code_id, sg.coder, "suggested", terms, offsets, sg.score, book.version, stamp, stamp, display))
                    result.by_rq[sg.rq] += 1
                    result.by_coder[sg.coder] += 1
                    if sg.code_id == sg.rq and sg.coder == book.coder:
                        result.keyed += 1
            withdrawn = [(cid,) for pair, cid in existing.items() if pair not in kept]
            conn.executemany("DELETE FROM codings WHERE id = ?", withdrawn)
            conn.executemany(
                """UPDATE codings SET coder = ?, terms = ?, offsets = ?, score = ?, codebook_version = ?,
                   updated_at = ?, display_terms = ? WHERE id = ?""",
                updates,
            )
            conn.executemany(
                """INSERT OR IGNORE INTO codings
                   (excerpt_id, code_id, coder, status, terms, offsets, score, codebook_version, created_at, updated_at,
                    display_terms)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                inserts,
            )
            conn.executemany(
                "INSERT OR IGNORE INTO coded_excerpts (excerpt_id, codebook_version, coded_at) VALUES (?, ?, ?)",
                [(excerpt_id, key, stamp) for excerpt_id, _ in rows],
            )
            result.excerpts += len(rows)
            result.suggestions += len(inserts)
            result.kept += len(updates)
            result.dropped += len(withdrawn)
            if progress:
                progress(len(rows))
        db.execute("DELETE FROM coded_excerpts WHERE codebook_version != ?", [key])
        result.held_back = coder.held_back
        # the matched terms the evidence view shows, names pseudonymised: set above on every row written;
        # this fills any other coding left without them
        pseudonyms.fill_display_terms(db, pseudonymise)
        audit(
            db,
            actor,
            "code.run",
            book.version,
            codebook=str(book.path),
            model=result.model,
            excerpts=result.excerpts,
            suggestions=result.suggestions,
            kept=result.kept,
            withdrawn=result.dropped,
            held_back=result.held_back,
            keyed=result.keyed,
            settled=result.settled,
            **{f"codes_{k}": v for k, v in result.codes.items()},
        )
    result.by_rq = dict(result.by_rq)
    result.by_coder = dict(result.by_coder)
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
