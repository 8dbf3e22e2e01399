"""Learned suggestions: a local text classifier per research question.

One logistic regression per RQ (scikit-learn, liblinear, fixed seed) on two blocks of
sublinear TF-IDF features, each l2-normalised: the excerpt's lemmas (stop words left out)
and adjacent lemma pairs; and the character 3- to 6-grams of each lemma, padded with a
space at each end (scikit-learn's ``char_wb``), which let "sub-contracted",
"subcontractor" and "contracting" share evidence. It is trained on

* the codebook's own words: each RQ's name and description, each theme's name,
  description, inclusion note and example (positive for its RQ);
* the labelled sets the project ships (``tests/data/*.yaml`` with an ``excerpts`` list,
  files named ``*heldout*`` left out; in a wheel, the copy in
  ``casestudy/default_codebook/training/``; ``$CASESTUDY_TRAINING`` overrides);
* the study's human decisions, weighted ``study_weight``: an excerpt with an accepted or
  hand-added coding under an RQ is positive for it; one with only rejected codings under an
  RQ is negative for it; excerpts nobody decided on for an RQ are left out for that RQ.

Without decisions it is the *default* model (codebook + shipped sets). The model is
plain numbers (vocabulary, idf, one weight per feature and RQ) kept as JSON in the
``learned_models`` table; its version is a hash of its training data and settings, so
the same data always gives the same model and the same version. Nothing leaves the
machine. Predicting needs only the JSON (no scikit-learn).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from casestudy.coding.codebook import RQS, Codebook

# Chosen by cross-validation over the shipped labelled sets (benchmarks/quality.py --cv).
SETTINGS = {
    "features": "lemma unigrams (no stop words) + lemma bigrams; sublinear tf-idf, l2; "
                "+ a block of char 3-6-grams of each lemma (char_wb), sublinear tf-idf, l2",
    "char_ngrams": [3, 6],
    "C": 16.0,
    "solver": "liblinear (dual)",
    "class_weight": "balanced",
    "codebook_weight": 1.0,
    "study_weight": 8.0,
    "seed": 0,
}
MODEL_FORMAT = "2"

_WORD = re.compile(r"[a-z0-9]+(?:['\-][a-z0-9]+)*")
_SENTENCE_MARK = "[.?!;]"  # a sentence ends at one of these with a space after it
_SENTENCE_GAP = re.compile(rf"(?<={_SENTENCE_MARK})\s+")
_WORD_OR_END = re.compile(_WORD.pattern + rf"|{_SENTENCE_MARK}(?=\s)")  # the words, and each sentence end
_END = ("", False, False)  # a sentence end's entry in a featuriser's lexicon
# a word's final "'s", removed before the words are read (a possessive counts as its word)
_POSSESSIVE = re.compile(r"(?<=[a-z0-9])'s(?![a-z0-9]|['\-][a-z0-9])")
# English function words (a short fixed list, so the features do not change with a library version)
STOP = frozenset(
    """a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have
    having he her here hers herself him himself his how i if in into is it its itself just me more most
    my myself no nor not now of off on once only or other our ours ourselves out over own same she should
    so some such than that the their theirs them themselves then there these they this those through to
    too under until up very was we were what when where which while who whom why will with would you your
    yours yourself yourselves also there's that's it's i'm we're they're we've i've you know mean sort
    kind lot bit thing things really actually just well yeah yes okay ok""".split()
)


# --- features --------------------------------------------------------------------------


def sentence_bounds(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of ``text`` (ending at . ? ! or ; and a space)."""
    out, start = [], 0
    for gap in _SENTENCE_GAP.finditer(text):
        out.append((start, gap.start()))
        start = gap.end()
    if start < len(text) or not out:
        out.append((start, len(text)))
    return out


class Terms(list):
    """An excerpt's word features (a list of lemma terms), carrying every lemma of the
    excerpt in order (``lemmas``), which the character n-gram block is made from, and its
    words' lexicon entries with the sentence ends among them (``entries``)."""

    __slots__ = ("lemmas", "entries")

    def __init__(self, terms=(), lemmas=(), entries=()):
        super().__init__(terms)
        self.lemmas = list(lemmas)
        self.entries = entries


def char_ngrams(word: str, low: int, high: int) -> list[str]:
    """The character n-grams of one word padded with a space at each end, as scikit-learn's
    ``char_wb`` analyser makes them (a padded word shorter than n counts once)."""
    padded = f" {word} "
    out = []
    for n in range(low, high + 1):
        offset = 0
        out.append(padded[offset:offset + n])
        while offset + n < len(padded):
            offset += 1
            out.append(padded[offset:offset + n])
        if offset == 0:
            break
    return out


class Featurizer:
    """Text → lemma terms (unigrams without stop words, and adjacent bigrams), with the
    excerpt's lemmas for the character n-gram block."""

    def __init__(self, lemma_of: dict[str, str]):
        self.lemma_of = lemma_of  # the coding engine's lemma table (lookup table + codebook overrides)
        # word → (lemma, content word, a term alone); a sentence end → _END
        self._lexicon: dict[str, tuple[str, bool, bool]] = dict.fromkeys(".?!;", _END)
        self._table_digest: str | None = None

    def table_digest(self) -> str:
        """A digest of the whole lemma table (every word and lemma, in the table's order), for
        the default model's quick key (``modelcache``): ~20 ms for the 41k-word table, once
        per featuriser. Kept, not recomputed, which is sound because a featuriser already
        takes its table as fixed: ``_lexicon`` keeps each word's lemma from the first time the
        word is met, so a table changed afterwards would already give stale terms. Two equal
        tables built in another order digest differently; that only costs a cache miss."""
        if self._table_digest is None:
            digest = hashlib.sha256(json.dumps(list(self.lemma_of), ensure_ascii=False).encode("utf-8"))
            digest.update(b"\0")
            digest.update(json.dumps(list(self.lemma_of.values()), ensure_ascii=False).encode("utf-8"))
            self._table_digest = digest.hexdigest()
        return self._table_digest

    def words(self, text: str) -> list[tuple[str, int, int]]:
        """(lemma, start, end) of every word of ``text``."""
        lower = text.lower().replace("\u2019", "'")
        out = []
        get = self.lemma_of.get
        for m in _WORD.finditer(lower):
            w = m.group()
            if w.endswith("'s"):
                w = w[:-2]
            out.append((get(w, w), m.start(), m.end()))
        return out

    def terms(self, text: str) -> Terms:
        """The excerpt's terms and lemmas (a possessive "'s" is read as its word): content
        words alone (not one letter, not a number) and every adjacent pair with a content word
        (sentence ends do not part a pair)."""
        lower = _POSSESSIVE.sub("", text.lower().replace("\u2019", "'"))
        known = self._lexicon.get
        entries = [known(w) or self._learn(w) for w in _WORD_OR_END.findall(lower)]
        words = [w for w in entries if w is not _END] if _END in entries else entries
        return _terms_of(words, entries)

    @staticmethod
    def sentence_terms(terms: Terms, count: int, which: list[int]) -> list[Terms] | None:
        """The terms of the sentences numbered ``which`` of the excerpt ``terms`` was made
        from, read from its entries without reading the text again; None unless the excerpt
        has ``count`` sentences (as :func:`sentence_bounds` finds them)."""
        entries = terms.entries
        ends = [i for i, entry in enumerate(entries) if entry is _END]
        stop = len(entries)
        if ends and ends[-1] == stop - 1:
            stop = ends.pop()  # no word after the last sentence end: no sentence there
        if len(ends) + 1 != count:  # e.g. a last sentence without a word ("Hello. -- ."): read the text
            return None
        starts = [0] + [i + 1 for i in ends]
        ends.append(stop)
        return [_terms_of(entries[starts[k]:ends[k]]) for k in which]

    def _learn(self, word: str) -> tuple[str, bool, bool]:
        lemma = self.lemma_of.get(word, word)
        content = lemma not in STOP
        entry = self._lexicon[word] = (lemma, content, content and len(lemma) > 1 and not lemma.isdigit())
        return entry


def _terms_of(words: list[tuple[str, bool, bool]], entries=()) -> Terms:
    """Terms from words' lexicon entries: each word that is a term alone, and each adjacent
    pair with a content word."""
    out = [w[0] for w in words if w[2]]
    out += [a[0] + " " + b[0] for a, b in zip(words, words[1:]) if a[1] or b[1]]
    return Terms(out, [w[0] for w in words], entries)


# --- feature matrices ------------------------------------------------------------------


def _sublinear_l2(X, idf, merged: bool = False):
    """Counts → (1 + log count) × idf, each row scaled to unit length (CSR, in place).
    ``merged``: no row holds a column twice (so duplicates need not be summed)."""
    import numpy as np

    if not merged:
        X.sum_duplicates()
    X.data = (1.0 + np.log(X.data)) * idf[X.indices]
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    norms = np.sqrt(np.bincount(rows, weights=X.data * X.data, minlength=X.shape[0]))
    norms[norms == 0] = 1.0
    X.data /= norms[rows]
    return X


def word_counts(docs: list[list[str]], vocabulary: dict[str, int], idf):
    """The word block of ``docs`` (lists of terms) over ``vocabulary``."""
    import numpy as np
    from scipy.sparse import csr_matrix

    get = vocabulary.get
    cols: list[int] = []
    indptr = [0]  # the rows built straight as CSR
    for terms in docs:
        cols += [j for j in map(get, terms) if j is not None]
        indptr.append(len(cols))
    X = csr_matrix((np.ones(len(cols)), np.asarray(cols, dtype=np.int64), np.asarray(indptr, dtype=np.int64)),
                   shape=(len(docs), len(vocabulary)))
    return _sublinear_l2(X, idf)


def char_counts(lemma_docs: list[list[str]], vocabulary: dict[str, int], idf, grams: dict, low: int, high: int):
    """The character n-gram block of ``lemma_docs`` over ``vocabulary``: (excerpt × word
    counts) @ (word × n-gram counts), so each distinct word's n-grams are worked out once
    (kept in ``grams``) and the rest is sparse arithmetic."""
    from collections import Counter

    import numpy as np
    from scipy.sparse import csr_matrix

    T, words = _counted(lemma_docs)  # excerpt × distinct word
    u_cols: list[int] = []
    u_data: list[int] = []
    u_ptr = [0]
    for word in words:
        known = grams.get(word)
        if known is None:
            found = Counter(j for j in map(vocabulary.get, char_ngrams(word, low, high)) if j is not None)
            known = grams[word] = (list(found), list(found.values()))
        u_cols += known[0]
        u_data += known[1]
        u_ptr.append(len(u_cols))
    U = csr_matrix((np.asarray(u_data, dtype=float), np.asarray(u_cols, dtype=np.int64), np.asarray(u_ptr, dtype=np.int64)),
                   shape=(len(words), len(vocabulary)))
    return _sublinear_l2((T @ U).tocsr(), idf, merged=True)  # columns unsorted within a row


def _row(M, i: int):
    """Row ``i`` of a CSR matrix as (columns, values) arrays."""
    a, b = M.indptr[i], M.indptr[i + 1]
    return M.indices[a:b], M.data[a:b]


# --- training examples -----------------------------------------------------------------


@dataclass
class Example:
    text: str
    labels: dict[str, int]  # RQ → 1 (about it) / 0 (not); an RQ left out is unknown
    weight: float = 1.0
    origin: str = ""


def codebook_examples(book: Codebook) -> list[Example]:
    """The codebook's own words as positive examples of their RQ (unknown for the others)."""
    out = []
    for code in book.codes:
        if code.codable:
            parts = [code.name, code.description, code.inclusion, code.example]
        else:
            parts = [code.name, code.description]
            # an RQ's own examples are written to be about that question alone
            out.extend(Example(text, {code.rq: 1}, SETTINGS["codebook_weight"], f"codebook:{code.id}:example")
                       for text in code.examples)
        for part in parts:
            text = re.sub(r"\(RQ[1-6][^)]*\)", "", part or "").strip()
            if text:
                out.append(Example(text, {code.rq: 1}, SETTINGS["codebook_weight"], f"codebook:{code.id}"))
    return out


def training_dir() -> Path | None:
    """Where the shipped labelled sets are: $CASESTUDY_TRAINING, the repository's
    ``tests/data``, or the copy in the package; None if there is none."""
    env = os.environ.get("CASESTUDY_TRAINING")
    if env:
        return Path(env)
    package = Path(__file__).resolve().parents[1]
    for candidate in (package.parent / "tests" / "data", package / "default_codebook" / "training"):
        if candidate.is_dir():
            return candidate
    return None


def training_files(folder: Path | None = None) -> list[Path]:
    """The labelled sets to learn from: every ``*.yaml`` with an ``excerpts`` list, except
    files whose name says they are held out."""
    folder = training_dir() if folder is None else folder
    if folder is None or not folder.is_dir():
        return []
    return [p for p in sorted(folder.glob("*.yaml")) if "heldout" not in p.name.lower()]


def labelled_items(path: Path, data: bytes | None = None) -> list[dict]:
    """The excerpts of a labelled set (``[]`` if the file is not one); ``data``: the file's
    bytes, if they were read already."""
    import io

    import yaml

    # decoded as Path.read_text decodes (universal newlines)
    text = path.read_text(encoding="utf-8") if data is None else io.TextIOWrapper(io.BytesIO(data), encoding="utf-8").read()
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: ~10x faster
    data = yaml.load(text, Loader=loader)
    items = data.get("excerpts") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return []
    return [i for i in items if isinstance(i, dict) and isinstance(i.get("text"), str) and isinstance(i.get("rqs"), list)]


def shipped_examples(folder: Path | None = None) -> list[Example]:
    return _shipped_from((path, None) for path in training_files(folder))


def _shipped_from(files) -> list[Example]:
    """The examples of the labelled sets ``files``: (path, its bytes or None to read them)."""
    out = []
    for path, data in files:
        for item in labelled_items(path, data):
            rqs = set(item["rqs"])
            out.append(Example(" ".join(item["text"].split()), {rq: int(rq in rqs) for rq in RQS}, 1.0, f"{path.name}:{item.get('id')}"))
    return out


def default_examples(book: Codebook, folder: Path | None = None) -> list[Example]:
    return codebook_examples(book) + shipped_examples(folder)


# --- the model -------------------------------------------------------------------------


@dataclass
class Model:
    version: str
    kind: str  # "default" or "study"
    vocabulary: dict[str, int]
    idf: list[float]
    weights: list[list[float]]  # per RQ, one weight per vocabulary entry
    bias: list[float]
    n_examples: int = 0
    n_decisions: int = 0
    settings: dict = field(default_factory=dict)
    char_vocabulary: dict[str, int] = field(default_factory=dict)  # character n-gram → column
    char_idf: list[float] = field(default_factory=list)
    char_weights: list[list[float]] = field(default_factory=list)  # per RQ, one weight per n-gram
    _arrays: tuple | None = None
    _inverse: list | None = None
    _grams: dict | None = None  # lemma → (n-gram columns, counts), filled as words are met
    _json: str | None = field(default=None, repr=False, compare=False)  # the text it was read from (from_json)

    @property
    def coder(self) -> str:
        return f"learned:{self.version}"

    def _numpy(self):
        if self._arrays is None:
            import numpy as np

            char = (np.asarray(self.char_idf), np.asarray(self.char_weights).T.copy()) if self.char_vocabulary else (None, None)
            self._arrays = (np.asarray(self.idf), np.asarray(self.weights).T.copy(), np.asarray(self.bias)) + char
        return self._arrays

    def word_matrix(self, docs: list[list[str]]):
        """The word block: one l2-normalised sublinear tf-idf row per excerpt's terms."""
        return word_counts(docs, self.vocabulary, self._numpy()[0])

    def char_matrix(self, docs: list[Terms]):
        """The character n-gram block of the excerpts' lemmas (None for a model without it)."""
        if not self.char_vocabulary:
            return None
        if self._grams is None:
            self._grams = {}
        low, high = self.settings.get("char_ngrams", SETTINGS["char_ngrams"])
        return char_counts([d.lemmas for d in docs], self.char_vocabulary, self._numpy()[3], self._grams, low, high)

    def blocks(self, docs: list[Terms]) -> tuple:
        """The excerpts' feature blocks (word block, character block or None), one row each."""
        return self.word_matrix(docs), self.char_matrix(docs)

    def logits(self, docs: list[Terms], blocks: tuple | None = None):
        """bias + word block · weights + char block · weights, one row per excerpt."""
        _, weights, bias, _, char_weights = self._numpy()
        W, C = self.blocks(docs) if blocks is None else blocks
        Z = W @ weights + bias
        if C is not None:
            Z = Z + C @ char_weights
        return Z

    def probabilities(self, terms: Terms) -> dict[str, float]:
        """P(the excerpt bears on RQn) for each RQ."""
        return self.probabilities_many([terms])[0]

    def probabilities_many(self, docs: list[Terms], blocks: tuple | None = None) -> list[dict[str, float]]:
        """:meth:`probabilities` for many excerpts' terms at once (sparse products); pass
        ``blocks`` (from :meth:`blocks`) to reuse the features for :meth:`contributions`."""
        import numpy as np

        P = 1.0 / (1.0 + np.exp(-self.logits(docs, blocks)))
        return [dict(zip(RQS, row)) for row in P.tolist()]

    def contributions(self, terms: Terms, rq: str, top: int = 6, blocks: tuple | None = None,
                      row: int = 0) -> list[tuple[str, float]]:
        """The terms that pushed the excerpt most towards ``rq`` (term, contribution): each
        word or word pair's own weight × value, a word also getting its share of the
        character n-grams it contains (an n-gram's contribution split among the excerpt's
        words that contain it, by count). ``blocks`` and ``row``: the excerpt's features
        already worked out for a batch (else they are worked out here)."""
        import numpy as np

        if blocks is None:
            blocks, row = self.blocks([terms]), 0
        W, C = blocks
        k = RQS.index(rq)
        weights, char_weights = self._numpy()[1], self._numpy()[4]
        total: dict[str, float] = {}
        columns, values = _row(W, row)
        if len(columns):
            inverse = self.terms_by_index()
            for j, value in zip(columns.tolist(), (values * weights[columns, k]).tolist()):
                total[inverse[j]] = value
        if C is not None:
            columns, values = _row(C, row)
            if len(columns):
                order = np.argsort(columns)
                columns, values = columns[order], values[order]
                for lemma, value in self._gram_shares(terms, columns, values * char_weights[columns, k]):
                    total[lemma] = total.get(lemma, 0.0) + value
        ranked = sorted(total.items(), key=lambda item: (-item[1], item[0]))
        return [(term, round(float(value), 4)) for term, value in ranked[:top] if value > 0]

    def _gram_shares(self, terms: Terms, columns, gram_value) -> list[tuple[str, float]]:
        """Each content word's share of the n-gram contributions ``gram_value`` (one per
        column of ``columns``, sorted): split among the words containing the n-gram, by count."""
        import numpy as np

        lemmas = sorted({w for w in terms.lemmas if w not in STOP and len(w) > 1 and not w.isdigit()})
        if not lemmas:
            return []
        cols: list[int] = []
        counts: list[int] = []
        owner: list[int] = []
        for o, lemma in enumerate(lemmas):
            c, n = self._grams[lemma]
            cols += c
            counts += n
            owner += [o] * len(c)
        if not cols:
            return []
        at = np.searchsorted(columns, cols)  # every n-gram of the excerpt's words is in its row
        n = np.asarray(counts, dtype=float)
        holders = np.bincount(at, weights=n, minlength=len(columns))
        share = np.divide(gram_value, holders, out=np.zeros(len(columns)), where=holders > 0)
        return list(zip(lemmas, np.bincount(owner, weights=n * share[at], minlength=len(lemmas)).tolist()))

    def terms_by_index(self) -> list[str]:
        if self._inverse is None:
            self._inverse = sorted(self.vocabulary, key=self.vocabulary.get)
        return self._inverse

    def to_json(self) -> str:
        if self._json is not None:
            return self._json
        return json.dumps(
            {"format": MODEL_FORMAT, "version": self.version, "kind": self.kind, "vocabulary": self.vocabulary,
             "idf": self.idf, "weights": self.weights, "bias": self.bias, "n_examples": self.n_examples,
             "n_decisions": self.n_decisions, "settings": self.settings, "char_vocabulary": self.char_vocabulary,
             "char_idf": self.char_idf, "char_weights": self.char_weights},
            separators=(",", ":"), sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> "Model":
        data = json.loads(text)
        same_format = data.pop("format", None) == MODEL_FORMAT
        for private in ("_arrays", "_inverse", "_grams", "_json"):
            data.pop(private, None)
        model = cls(**data)
        if same_format:
            model._json = text  # what to_json() would write again, kept (a model is never changed)
        return model


def data_version(examples: list[Example], settings: dict) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps({"format": MODEL_FORMAT, "settings": settings}, sort_keys=True).encode())
    for e in examples:
        digest.update(json.dumps([e.text, sorted(e.labels.items()), e.weight], ensure_ascii=False).encode("utf-8"))
    return digest.hexdigest()[:12]


def _counted(docs: list[list[str]]):
    """(document × unit counts as CSR, one column per distinct unit in first-met order, no
    row holding a column twice; the units in that order)."""
    import numpy as np
    from scipy.sparse import csr_matrix

    number: dict[str, int] = {}
    ids: list[int] = []
    indptr = [0]
    new = number.setdefault
    for units in docs:
        ids += [new(u, len(number)) for u in units]
        indptr.append(len(ids))
    X = csr_matrix((np.ones(len(ids)), np.asarray(ids, dtype=np.int64), np.asarray(indptr, dtype=np.int64)),
                   shape=(len(docs), len(number)))
    X.sum_duplicates()
    return X, list(number)


def _fitted_block(X, units: list[str]) -> tuple[dict[str, int], list[float]]:
    """Give the counts ``X`` (columns = ``units``) sorted columns, then sublinear tf-idf
    (smooth idf) and unit rows, in place; return the vocabulary and idf, as scikit-learn's
    TfidfVectorizer would fit them."""
    import numpy as np

    df = np.bincount(X.indices, minlength=len(units))
    order = sorted(range(len(units)), key=units.__getitem__)
    rank = np.empty(len(units), dtype=np.int64)
    rank[order] = np.arange(len(units))
    X.indices = rank[X.indices]
    X.has_sorted_indices = False
    idf = np.log((1 + X.shape[0]) / (1 + df[order])) + 1.0
    _sublinear_l2(X, idf, merged=True)
    return {units[j]: k for k, j in enumerate(order)}, idf.tolist()


def _training_features(docs: list[Terms], settings: dict):
    """The training matrix (word block, then the character block if ``settings`` asks for
    it) with each block's vocabulary and idf: (X, vocabulary, idf, char_vocabulary, char_idf)."""
    from scipy.sparse import csr_matrix, hstack

    W, terms = _counted(docs)
    vocabulary, idf = _fitted_block(W, terms)
    blocks, char_vocabulary, char_idf = [W], {}, []
    if settings.get("char_ngrams"):
        low, high = settings["char_ngrams"]
        words, lemmas = _counted([d.lemmas for d in docs])  # excerpt × distinct word
        grams, numbered = _counted([char_ngrams(w, low, high) for w in lemmas])  # word × n-gram
        C = (words @ grams).tocsr()  # excerpt × n-gram counts, no column twice in a row
        char_vocabulary, char_idf = _fitted_block(C, numbered)
        blocks.append(C)
    return csr_matrix(hstack(blocks)), vocabulary, idf, char_vocabulary, char_idf


def _fit_rq(X, examples: list[Example], rq: str, settings: dict) -> tuple:
    """One RQ's logistic regression on the examples that know the RQ: (weights, bias)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    idx = [i for i, e in enumerate(examples) if rq in e.labels]
    y = np.array([examples[i].labels[rq] for i in idx])
    if len(idx) == 0 or y.min() == y.max():  # nothing to learn from: a flat, low prior
        return np.zeros(X.shape[1]), (-3.0 if (len(idx) == 0 or y.max() == 0) else 3.0)
    clf = LogisticRegression(C=float(settings["C"]), class_weight=settings.get("class_weight") or None,
                             solver="liblinear", dual=True,  # dual: fast with more features than examples
                             random_state=int(settings.get("seed", 0)), max_iter=1000)
    clf.fit(X[idx], y, sample_weight=np.array([examples[i].weight for i in idx]))
    return clf.coef_[0], round(float(clf.intercept_[0]), 6)


PARALLEL_FROM = 2_000  # examples: below this, six fits take under a second and a fork costs more
_SHARED: tuple = ()  # (X, examples, settings) for forked workers, which inherit it


def _fit_shared(rq: str) -> tuple:
    X, examples, settings = _SHARED
    return _fit_rq(X, examples, rq, settings)


def _fit_all(X, examples: list[Example], settings: dict) -> list[tuple]:
    """The six RQs' fits, in two forked processes on Linux when there are two cores, enough
    examples and no other thread (a fork copies one thread only). liblinear draws from one C random
    generator per process and each fit re-seeds it, so a fit in its own process gives the same
    numbers as one after another; fits in threads would not."""
    import multiprocessing
    import threading

    global _SHARED
    parallel = (len(examples) >= PARALLEL_FROM and (os.cpu_count() or 1) >= 2 and threading.active_count() == 1
                and sys.platform.startswith("linux")  # where fork is the platform's own way (not macOS, Windows)
                and os.environ.get("CASESTUDY_TRAIN_JOBS") != "1")
    if not parallel:
        return [_fit_rq(X, examples, rq, settings) for rq in RQS]
    _SHARED = (X, examples, settings)
    try:
        with multiprocessing.get_context("fork").Pool(2) as pool:
            return pool.map(_fit_shared, RQS, chunksize=1)
    finally:
        _SHARED = ()


def train(examples: list[Example], featurizer: Featurizer, *, kind: str = "default", n_decisions: int = 0,
          settings: dict | None = None) -> Model:
    """Fit one logistic regression per RQ on the examples that know that RQ (see _fit_all)."""
    settings = dict(SETTINGS if settings is None else settings)
    version = data_version(examples, settings)
    docs = [featurizer.terms(e.text) for e in examples]
    X, vocabulary, idf, char_vocabulary, char_idf = _training_features(docs, settings)
    fits = _fit_all(X, examples, settings)
    width = len(vocabulary)
    weights = [[round(float(w), 6) for w in coef[:width]] for coef, _ in fits]
    char_weights = [[round(float(w), 6) for w in coef[width:]] for coef, _ in fits] if char_vocabulary else []
    bias = [b for _, b in fits]
    return Model(version=version, kind=kind, vocabulary=vocabulary, idf=[round(float(x), 6) for x in idf],
                 weights=weights, bias=bias, n_examples=len(examples), n_decisions=n_decisions, settings=settings,
                 char_vocabulary=char_vocabulary, char_idf=[round(float(x), 6) for x in char_idf],
                 char_weights=char_weights)


# --- the study's model: human decisions, stored models ---------------------------------

MIN_DECISIONS = 20  # human decisions before a study model is trained ("too young" below)
RETRAIN_EVERY = 10  # new (or changed) decisions that make `casestudy code` retrain


def study_examples(db) -> list[Example]:
    """The study's human decisions as examples, one per (excerpt, RQ) decided on.

    Positive: an accepted coding (a suggestion accepted, or a hand-added code) under the RQ.
    Negative: only rejected codings under it. Read from ``display_text`` (names
    pseudonymised), and only for excerpts consent allows, so the model holds no name and
    nothing of a withdrawn participant.
    """
    from casestudy.db import CODING_JOIN, CONSENTED_EXCERPT

    rows = db.execute(
        f"""SELECT e.id, e.display_text, cd.rq, max(c.status = 'accepted')
            FROM {CODING_JOIN}
            WHERE c.status IN ('accepted', 'rejected') AND c.reviewed_at IS NOT NULL AND {CONSENTED_EXCERPT}
            GROUP BY e.id, cd.rq ORDER BY e.id, cd.rq"""
    ).fetchall()
    by_excerpt: dict[int, Example] = {}
    for excerpt_id, text, rq, positive in rows:
        if rq not in RQS:
            continue
        example = by_excerpt.get(excerpt_id)
        if example is None:
            example = by_excerpt[excerpt_id] = Example(" ".join((text or "").split()), {}, SETTINGS["study_weight"], f"excerpt:{excerpt_id}")
        example.labels[rq] = int(positive)
    return list(by_excerpt.values())


def decision_count(db) -> int:
    """Human decisions on codings: accepted, rejected or hand-added (each counted once)."""
    return db.execute(
        "SELECT count(*) FROM codings WHERE status IN ('accepted', 'rejected') AND reviewed_at IS NOT NULL"
    ).fetchone()[0]


def is_stored(db, version: str) -> bool:
    """The study database already holds the model ``version``."""
    if "learned_models" not in db.table_names():
        return False
    return db.execute("SELECT 1 FROM learned_models WHERE version = ?", [version]).fetchone() is not None


def latest_study_model(db) -> Model | None:
    if "learned_models" not in db.table_names():
        return None
    row = db.execute("SELECT model FROM learned_models WHERE kind = 'study' ORDER BY created_at DESC, rowid DESC LIMIT 1").fetchone()
    return Model.from_json(row[0]) if row else None


def store(db, model: Model) -> None:
    from casestudy.db import now

    db["learned_models"].upsert(
        {"version": model.version, "kind": model.kind, "created_at": now(), "n_examples": model.n_examples,
         "n_decisions": model.n_decisions, "n_features": len(model.vocabulary),
         "settings": json.dumps(model.settings, sort_keys=True), "model": model.to_json()},
        pk="version",
    )


@dataclass
class Choice:
    """Which model `casestudy code` uses, and why (for its output)."""

    model: Model
    decisions: int
    trained: bool  # a model was trained in this run
    reason: str


_DEFAULTS: dict[str, Model] = {}  # quick key → the default model (the last one only)


@dataclass
class QuickKey:
    """The default model's quick key, and what it was computed from (reused on a miss)."""

    key: str
    codebook: list[Example]
    files: list[tuple[Path, bytes]]  # the training files and the bytes that were hashed


def quick_key(book: Codebook, featurizer: Featurizer, folder: Path | None = None) -> QuickKey | None:
    """A digest of everything the default examples and their terms are made from, without
    parsing YAML or featurising (see ``modelcache``'s docstring for why it suffices); None
    for a featuriser of another class, whose terms the key could not vouch for."""
    from casestudy.coding import modelcache

    if type(featurizer) is not Featurizer:
        return None
    import yaml  # (imported already: the codebook is YAML)

    here = Path(__file__).resolve().parent
    codebook = codebook_examples(book)
    files = [(path, path.read_bytes()) for path in training_files(folder)]
    parts = {
        "format": MODEL_FORMAT, "settings": SETTINGS, "rqs": list(RQS), "codebook_version": book.version,
        "codebook_examples": [(e.text, sorted(e.labels.items()), e.weight) for e in codebook],
        "lemma_table": featurizer.table_digest(),
        "libyaml": hasattr(yaml, "CSafeLoader"),
    }
    key = modelcache.quick_fingerprint([here / "learned.py", here / "engine.py"], parts,
                                       [(path.name, data) for path, data in files])
    return QuickKey(key, codebook, files)


def default_model(book: Codebook, featurizer: Featurizer, folder: Path | None = None) -> Model:
    """The model of the codebook's words and the shipped labelled sets (cached per content:
    in this process and on disk, both found by the quick key; see ``modelcache``)."""
    quick = quick_key(book, featurizer, folder)
    if quick is None:  # no quick key: the examples, then the disk cache by its full fingerprint
        return _trained_or_cached(default_examples(book, folder), featurizer)
    if quick.key not in _DEFAULTS:
        model = _quick_hit(quick.key)
        if model is None:
            model = _trained_or_cached(quick.codebook + _shipped_from(quick.files), featurizer, quick.key)
        _DEFAULTS.clear()
        _DEFAULTS[quick.key] = model
    return _DEFAULTS[quick.key]


def _quick_hit(quick: str) -> Model | None:
    """The cached model the index records under the quick key, or None (no cache, no such
    key, or an entry that is gone or does not match what the index says)."""
    from casestudy.coding import modelcache

    found = modelcache.lookup(quick)
    if not found:
        return None
    model = _cached_default(found["key"], found["n_examples"])
    return model if model is not None and model.version == found["version"] else None


def _cached_default(key: str, n_examples: int) -> Model | None:
    """The default model stored in the disk cache under ``key``, if it is one of
    ``n_examples`` examples (else None: absent, unreadable or not what was asked for)."""
    from casestudy.coding import modelcache

    text = modelcache.get(key)
    if text is None:
        return None
    try:
        model = Model.from_json(text)
    except (ValueError, TypeError):
        return None
    return model if model.kind == "default" and model.n_examples == n_examples else None


def _trained_or_cached(examples: list[Example], featurizer: Featurizer, quick: str | None = None) -> Model:
    """``train(examples, featurizer, kind="default")``, or the same model from the disk cache
    (``casestudy.coding.modelcache``: keyed by everything training reads). ``quick``: the
    quick key to record as leading to that entry."""
    from casestudy.coding import modelcache

    if modelcache.cache_dir() is None:  # the cache is off
        return train(examples, featurizer, kind="default")
    key = modelcache.fingerprint(
        Path(__file__), SETTINGS,
        ((e.text, sorted(e.labels.items()), e.weight, terms, terms.lemmas)
         for e, terms in ((e, featurizer.terms(e.text)) for e in examples)), list(RQS),
    )
    model = _cached_default(key, len(examples))
    if model is None:
        model = train(examples, featurizer, kind="default")
        modelcache.put(key, model.to_json())
    if quick is not None:
        modelcache.remember(quick, key, model.version, model.n_examples)
    return model


def model_in_use(db, book: Codebook, featurizer: Featurizer) -> tuple[Model, str]:
    """The model :func:`choose` codes with, read only (nothing trained or stored): the study's
    latest model once the study has MIN_DECISIONS human decisions, else the default model; with
    a phrase naming it. (``choose`` retrains the study's model when RETRAIN_EVERY more decisions
    are in; this returns the one stored until then.)"""
    study = latest_study_model(db)
    if study is not None and decision_count(db) >= MIN_DECISIONS:
        return study, f"the study's model (trained on {study.n_decisions} human decisions)"
    return default_model(book, featurizer), "the default model"


def choose(db, book: Codebook, featurizer: Featurizer, *, retrain: bool = False) -> Choice:
    """The model to code with: the study's own once it has MIN_DECISIONS human decisions
    (retrained when RETRAIN_EVERY decisions were added or changed, or when ``retrain``),
    else the default model. Stores the model it uses (inside the caller's transaction)."""
    decisions = decision_count(db)
    base = default_model(book, featurizer)
    if decisions < MIN_DECISIONS:
        if not is_stored(db, base.version):
            store(db, base)
        return Choice(base, decisions, False,
                      f"the study's own model is too young ({decisions} of {MIN_DECISIONS} human decisions); "
                      f"the default model is used (codebook + shipped labelled sets)")
    current = latest_study_model(db)
    if (not retrain and current is not None and abs(decisions - current.n_decisions) < RETRAIN_EVERY
            and current.settings.get("base") == base.version):
        return Choice(current, decisions, False,
                      f"the study's model (trained on {current.n_decisions} human decisions) is used")
    examples = default_examples(book) + study_examples(db)
    settings = dict(SETTINGS, base=base.version)
    model = train(examples, featurizer, kind="study", n_decisions=decisions, settings=settings)
    if not is_stored(db, model.version):
        store(db, model)
    return Choice(model, decisions, True, f"the study's model was retrained on {decisions} human decisions")


def shown_term(term: str) -> str:
    """A term as an explanation names it: a word pair with a function word ("the icb") as its
    content word ("icb"); anything else as it is."""
    parts = term.split(" ")
    if len(parts) == 2 and (parts[0] in STOP) != (parts[1] in STOP):
        return parts[1] if parts[0] in STOP else parts[0]
    return term


def top_words(model: Model, top: int = 8) -> dict[str, list[str]]:
    """The words (and word pairs) that weigh most towards each RQ in ``model``; a pair with a
    function word ("the icb") is shown as its content word, once."""
    inverse = sorted(model.vocabulary, key=model.vocabulary.get)
    out = {}
    for k, rq in enumerate(RQS):
        weights = model.weights[k]
        words: list[str] = []
        for j in sorted(range(len(weights)), key=lambda j: -weights[j]):
            if weights[j] <= 0 or len(words) == top:
                break
            word = shown_term(inverse[j])
            if word not in words:
                words.append(word)
        out[rq] = words
    return out
