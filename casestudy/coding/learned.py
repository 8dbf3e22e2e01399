"""Learned suggestions: a local text classifier per research question.

One logistic regression per RQ (scikit-learn, liblinear, fixed seed) on sublinear TF-IDF
features: the excerpt's lemmas (stop words left out) and adjacent lemma pairs. It is
trained on

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
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from casestudy.coding.codebook import RQS, Codebook

# Chosen by cross-validation over the shipped labelled sets (benchmarks/quality.py --cv).
SETTINGS = {
    "features": "lemma unigrams (no stop words) + lemma bigrams; sublinear tf-idf, l2",
    "C": 4.0,
    "class_weight": "balanced",
    "codebook_weight": 1.0,
    "study_weight": 8.0,
    "min_df": 1,
    "seed": 0,
}
MODEL_FORMAT = "1"

_WORD = re.compile(r"[a-z0-9]+(?:['\-][a-z0-9]+)*")
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


class Featurizer:
    """Text → lemma terms (unigrams without stop words, and adjacent bigrams)."""

    def __init__(self, lemma_of: dict[str, str]):
        self.lemma_of = lemma_of  # the coding engine's lemma table (lookup table + codebook overrides)

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

    def terms(self, text: str) -> list[str]:
        lower = text.lower().replace("\u2019", "'")
        get = self.lemma_of.get
        lemmas = []
        for w in _WORD.findall(lower):
            if w.endswith("'s"):
                w = w[:-2]
            lemmas.append(get(w, w))
        stop = STOP
        out = [w for w in lemmas if w not in stop and len(w) > 1 and not w.isdigit()]
        out.extend(f"{a} {b}" for a, b in zip(lemmas, lemmas[1:]) if not (a in stop and b in stop))
        return out


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


def labelled_items(path: Path) -> list[dict]:
    """The excerpts of a labelled set (``[]`` if the file is not one)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: ~10x faster
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    items = data.get("excerpts") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return []
    return [i for i in items if isinstance(i, dict) and isinstance(i.get("text"), str) and isinstance(i.get("rqs"), list)]


def shipped_examples(folder: Path | None = None) -> list[Example]:
    out = []
    for path in training_files(folder):
        for item in labelled_items(path):
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
    _arrays: tuple | None = None
    _inverse: list | None = None

    @property
    def coder(self) -> str:
        return f"learned:{self.version}"

    def _numpy(self):
        if self._arrays is None:
            import numpy as np

            self._arrays = (np.asarray(self.idf), np.asarray(self.weights).T.copy(), np.asarray(self.bias))
        return self._arrays

    def vectorise(self, terms: list[str]):
        """(feature indices, tf-idf values), l2-normalised."""
        import numpy as np

        vocabulary = self.vocabulary
        counts: dict[int, int] = {}
        for t in terms:
            j = vocabulary.get(t)
            if j is not None:
                counts[j] = counts.get(j, 0) + 1
        if not counts:
            return np.zeros(0, dtype=int), np.zeros(0)
        idf = self._numpy()[0]
        index = np.fromiter(counts.keys(), dtype=int, count=len(counts))
        values = (1.0 + np.log(np.fromiter(counts.values(), dtype=float, count=len(counts)))) * idf[index]
        values /= np.sqrt((values * values).sum())
        return index, values

    def probabilities(self, terms: list[str]) -> dict[str, float]:
        """P(the excerpt bears on RQn) for each RQ."""
        import numpy as np

        _, weights, bias = self._numpy()
        index, values = self.vectorise(terms)
        z = bias + (values @ weights[index] if len(index) else 0.0)
        p = 1.0 / (1.0 + np.exp(-z))
        return {rq: float(p[k]) for k, rq in enumerate(RQS)}

    def probabilities_many(self, docs: list[list[str]]) -> list[dict[str, float]]:
        """:meth:`probabilities` for many excerpts' terms at once (one sparse product)."""
        import numpy as np
        from scipy.sparse import csr_matrix

        idf, weights, bias = self._numpy()
        get = self.vocabulary.get
        cols: list[int] = []
        indptr = [0]  # the rows built straight as CSR (no row list); sum_duplicates makes it canonical
        for terms in docs:
            cols += [j for j in map(get, terms) if j is not None]
            indptr.append(len(cols))
        X = csr_matrix((np.ones(len(cols)), np.asarray(cols, dtype=np.int64), np.asarray(indptr, dtype=np.int64)),
                       shape=(len(docs), len(idf)))
        X.sum_duplicates()
        X.data = (1.0 + np.log(X.data)) * idf[X.indices]
        norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        Z = (X @ weights) / norms[:, None] + bias
        P = 1.0 / (1.0 + np.exp(-Z))
        return [dict(zip(RQS, row)) for row in P.tolist()]

    def contributions(self, terms: list[str], rq: str, top: int = 6) -> list[tuple[str, float]]:
        """The terms that pushed the excerpt most towards ``rq`` (term, contribution)."""
        index, values = self.vectorise(terms)
        if not len(index):
            return []
        k = RQS.index(rq)
        weights = self._numpy()[1][index, k] * values
        inverse = self.terms_by_index()
        order = sorted(range(len(index)), key=lambda i: -weights[i])
        return [(inverse[int(index[i])], round(float(weights[i]), 4)) for i in order[:top] if weights[i] > 0]

    def terms_by_index(self) -> list[str]:
        if self._inverse is None:
            self._inverse = sorted(self.vocabulary, key=self.vocabulary.get)
        return self._inverse

    def to_json(self) -> str:
        return json.dumps(
            {"format": MODEL_FORMAT, "version": self.version, "kind": self.kind, "vocabulary": self.vocabulary,
             "idf": self.idf, "weights": self.weights, "bias": self.bias, "n_examples": self.n_examples,
             "n_decisions": self.n_decisions, "settings": self.settings},
            separators=(",", ":"), sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> "Model":
        data = json.loads(text)
        data.pop("format", None)
        data.pop("_arrays", None)
        data.pop("_inverse", None)
        return cls(**data)


def data_version(examples: list[Example], settings: dict) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps({"format": MODEL_FORMAT, "settings": settings}, sort_keys=True).encode())
    for e in examples:
        digest.update(json.dumps([e.text, sorted(e.labels.items()), e.weight], ensure_ascii=False).encode("utf-8"))
    return digest.hexdigest()[:12]


def train(examples: list[Example], featurizer: Featurizer, *, kind: str = "default", n_decisions: int = 0,
          settings: dict | None = None) -> Model:
    """Fit one logistic regression per RQ on the examples that know that RQ."""
    import numpy as np
    from scipy.sparse import csr_matrix
    from sklearn.linear_model import LogisticRegression

    settings = dict(SETTINGS if settings is None else settings)
    version = data_version(examples, settings)
    docs = [featurizer.terms(e.text) for e in examples]
    df: dict[str, int] = {}
    for terms in docs:
        for t in set(terms):
            df[t] = df.get(t, 0) + 1
    min_df = int(settings.get("min_df", 1))
    vocabulary = {t: j for j, t in enumerate(sorted(t for t, n in df.items() if n >= min_df))}
    n = len(docs)
    idf = np.array([math.log((1 + n) / (1 + df[t])) + 1.0 for t in sorted(vocabulary, key=vocabulary.get)])
    rows, cols = [], []
    for i, terms in enumerate(docs):
        found = [j for j in map(vocabulary.get, terms) if j is not None]
        cols.extend(found)
        rows.extend([i] * len(found))
    X = csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(n, len(vocabulary)))
    X.sum_duplicates()
    X.data = (1.0 + np.log(X.data)) * idf[X.indices]
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    X = csr_matrix(X.multiply(1.0 / norms[:, None]))
    weights, bias = [], []
    for rq in RQS:
        idx = [i for i, e in enumerate(examples) if rq in e.labels]
        y = np.array([examples[i].labels[rq] for i in idx])
        if len(idx) == 0 or y.min() == y.max():  # nothing to learn from: a flat, low prior
            weights.append([0.0] * len(vocabulary))
            bias.append(-3.0 if (len(idx) == 0 or y.max() == 0) else 3.0)
            continue
        clf = LogisticRegression(C=float(settings["C"]), class_weight=settings.get("class_weight") or None,
                                 solver="liblinear", random_state=int(settings.get("seed", 0)), max_iter=1000)
        clf.fit(X[idx], y, sample_weight=np.array([examples[i].weight for i in idx]))
        weights.append([round(float(w), 6) for w in clf.coef_[0]])
        bias.append(round(float(clf.intercept_[0]), 6))
    return Model(version=version, kind=kind, vocabulary=vocabulary, idf=[round(float(x), 6) for x in idf],
                 weights=weights, bias=bias, n_examples=len(examples), n_decisions=n_decisions, settings=settings)


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


def stored(db, version: str) -> Model | None:
    if "learned_models" not in db.table_names():
        return None
    row = db.execute("SELECT model FROM learned_models WHERE version = ?", [version]).fetchone()
    return Model.from_json(row[0]) if row else None


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


_DEFAULTS: dict[tuple, Model] = {}


def default_model(book: Codebook, featurizer: Featurizer, folder: Path | None = None) -> Model:
    """The model of the codebook's words and the shipped labelled sets (cached per content)."""
    examples = default_examples(book, folder)
    key = (book.version, data_version(examples, SETTINGS))
    if key not in _DEFAULTS:
        _DEFAULTS.clear()
        _DEFAULTS[key] = _trained_or_cached(examples, featurizer)
    return _DEFAULTS[key]


def _trained_or_cached(examples: list[Example], featurizer: Featurizer) -> Model:
    """``train(examples, featurizer, kind="default")``, or the same model from the disk cache
    (``casestudy.coding.modelcache``: keyed by everything training reads)."""
    from casestudy.coding import modelcache

    if modelcache.cache_dir() is None:  # the cache is off
        return train(examples, featurizer, kind="default")
    key = modelcache.fingerprint(
        Path(__file__), SETTINGS,
        ((e.text, sorted(e.labels.items()), e.weight, featurizer.terms(e.text)) for e in examples), list(RQS),
    )
    text = modelcache.get(key)
    if text is not None:
        try:
            model = Model.from_json(text)
            if model.kind == "default" and model.n_examples == len(examples):
                return model
        except (ValueError, TypeError):
            pass
    model = train(examples, featurizer, kind="default")
    modelcache.put(key, model.to_json())
    return model


def choose(db, book: Codebook, featurizer: Featurizer, *, retrain: bool = False) -> Choice:
    """The model to code with: the study's own once it has MIN_DECISIONS human decisions
    (retrained when RETRAIN_EVERY decisions were added or changed, or when ``retrain``),
    else the default model. Stores the model it uses (inside the caller's transaction)."""
    decisions = decision_count(db)
    base = default_model(book, featurizer)
    if decisions < MIN_DECISIONS:
        if stored(db, base.version) is None:
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
    if stored(db, model.version) is None:
        store(db, model)
    return Choice(model, decisions, True, f"the study's model was retrained on {decisions} human decisions")


def top_words(model: Model, top: int = 8) -> dict[str, list[str]]:
    """The words (and word pairs) that weigh most towards each RQ in ``model``."""
    inverse = sorted(model.vocabulary, key=model.vocabulary.get)
    out = {}
    for k, rq in enumerate(RQS):
        weights = model.weights[k]
        order = sorted(range(len(weights)), key=lambda j: -weights[j])[:top]
        out[rq] = [inverse[j] for j in order if weights[j] > 0]
    return out
