"""How well does a codebook find the research questions? Precision, recall and F1 per RQ.

Codes hand-labelled text with the codebook's spaCy engine, exactly as `casestudy code`
does, and prints per-RQ precision, recall, F1 and macro-F1 for each split (an excerpt is
positive for an RQ when any theme under it applies):

* ``train``   - tests/data/labelled_excerpts.yaml, the split patterns were tuned on;
* ``heldout`` - the same file's held-out split (never inspected while tuning);
* ``all``     - train + heldout (the first set as a whole);
* ``fresh``   - tests/data/fresh_excerpts.yaml, written later in other voices (board
  minutes, council and VCSE partners, sceptical clinicians, finance jargon, hard negatives);
* ``register`` - tests/data/register_excerpts.yaml, written in the register of real
  stakeholder language (hedged interview answers of NHS leaders, clinicians, council and
  VCSE partners; board, survey and briefing prose); for training and cross-validation;
* ``register_heldout`` - tests/data/register_heldout_excerpts.yaml, the same register
  written separately: evaluation only, never tuned on;
* ``seeds``   - real public texts (a study protocol, a blog, a legal briefing) in
  ``$CASESTUDY_SEEDS`` or ``<repo>/../shared/seeds``, labelled by reference in
  tests/data/seed_labels.yaml (no text of theirs is in the repository). Skipped, with a
  message, when the folder is absent.

    python benchmarks/quality.py                        # the shipped codebook, every split
    python benchmarks/quality.py --codebook DIR         # another codebook
    python benchmarks/quality.py --splits train fresh   # only these splits
    python benchmarks/quality.py --errors train         # misses / false alarms (train, fresh or register only)
    python benchmarks/quality.py --agreement            # how far two human coders agreed on each set
    python benchmarks/quality.py --score FILE.yaml      # the default model on your own labelled text
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
from pathlib import Path
from statistics import fmean

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from casestudy.coding import codebook as codebook_lib  # noqa: E402
from casestudy.coding.engine import Engine  # noqa: E402

LABELS = REPO / "tests" / "data" / "labelled_excerpts.yaml"
FRESH = REPO / "tests" / "data" / "fresh_excerpts.yaml"
REGISTER = REPO / "tests" / "data" / "register_excerpts.yaml"
REGISTER_HELDOUT = REPO / "tests" / "data" / "register_heldout_excerpts.yaml"
SEED_LABELS = REPO / "tests" / "data" / "seed_labels.yaml"
SECOND_CODER = REPO / "tests" / "data" / "second_coder"
RQS = codebook_lib.RQS
SPLITS = ("train", "heldout", "all", "fresh", "register", "register_heldout", "seeds")
TUNABLE = ("train", "fresh", "register")  # the only splits whose errors may be looked at while tuning


def load_labelled(path: Path = LABELS) -> list[dict]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))["excerpts"]


def load_fresh(path: Path = FRESH) -> list[dict]:
    return [dict(item, split="fresh") for item in load_labelled(path)]


def load_register(path: Path = REGISTER, split: str = "register") -> list[dict]:
    """The register sets (no ``split`` field in the file): every excerpt gets ``split``."""
    return [dict(item, split=split) for item in load_labelled(path)]


# --- the seeds: real texts labelled by reference --------------------------------------


def seeds_dir() -> Path:
    """$CASESTUDY_SEEDS, else ``shared/seeds`` beside the repository."""
    env = os.environ.get("CASESTUDY_SEEDS")
    return Path(env) if env else REPO.parent / "shared" / "seeds"


_MARKER = re.compile(r"^(?:[•▪◦●‣∙·\-*]|\d+[.)])\s+")


def seed_paragraphs(path: Path) -> list[str]:
    """The splitting rule of seed_labels.yaml: every non-empty line is a paragraph, with a
    leading bullet or list number removed and whitespace collapsed."""
    text = path.read_text(encoding="utf-8").replace("\r\n", "\n").replace("\r", "\n")
    return [" ".join(_MARKER.sub("", line.strip()).split()) for line in text.split("\n") if line.strip()]


def paragraph_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]


def load_seeds(folder: Path | None = None, labels: Path = SEED_LABELS) -> tuple[list[dict], list[str]]:
    """(items, warnings): the labelled seed paragraphs whose text still has the recorded
    hash; a missing file or a changed paragraph is a warning and is left out."""
    folder = seeds_dir() if folder is None else folder
    items, warnings, cache = [], [], {}
    for row in yaml.safe_load(labels.read_text(encoding="utf-8"))["seeds"]:
        name = row["file"]
        if name not in cache:
            path = folder / name
            cache[name] = seed_paragraphs(path) if path.is_file() else None
        paragraphs = cache[name]
        if paragraphs is None:
            warnings.append(f"{name}: missing")
            continue
        index = int(row["para"])
        if index >= len(paragraphs) or paragraph_hash(paragraphs[index]) != row["sha"]:
            warnings.append(f"{name} paragraph {index}: text changed (hash {row['sha']}), left out")
            continue
        items.append({"id": f"{name}#{index}", "split": "seeds", "rqs": list(row["rqs"]), "text": paragraphs[index]})
    return items, warnings


# --- scoring ---------------------------------------------------------------------------


def predict(engine: Engine, items: list[dict]) -> list[set[str]]:
    return [{engine.rq_of[m.code_id] for m in matches} for matches in engine.match_many(i["text"] for i in items)]


def scores(items: list[dict], predicted: list[set[str]]) -> dict:
    table = {}
    for rq in RQS:
        tp = sum(1 for i, p in zip(items, predicted) if rq in i["rqs"] and rq in p)
        fp = sum(1 for i, p in zip(items, predicted) if rq not in i["rqs"] and rq in p)
        fn = sum(1 for i, p in zip(items, predicted) if rq in i["rqs"] and rq not in p)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        table[rq] = {"tp": tp, "fp": fp, "fn": fn, "precision": precision, "recall": recall, "f1": f1}
    table["macro_f1"] = sum(table[rq]["f1"] for rq in RQS) / len(RQS)
    tp = sum(table[rq]["tp"] for rq in RQS)
    fp = sum(table[rq]["fp"] for rq in RQS)
    fn = sum(table[rq]["fn"] for rq in RQS)
    table["micro_precision"] = tp / (tp + fp) if tp + fp else 0.0
    table["micro_recall"] = tp / (tp + fn) if tp + fn else 0.0
    table["rqs_per_excerpt"] = sum(len(p) for p in predicted) / len(predicted) if predicted else 0.0
    none = [(i, p) for i, p in zip(items, predicted) if not i["rqs"]]
    table["none_clean"] = (sum(1 for _, p in none if not p), len(none))
    return table


def split_items(split: str) -> tuple[list[dict], str | None]:
    """(items, None) or ([], reason the split is skipped)."""
    if split in ("train", "heldout"):
        return [i for i in load_labelled() if i["split"] == split], None
    if split == "all":
        return load_labelled(), None
    if split == "fresh":
        return load_fresh(), None
    if split == "register":
        return load_register(), None
    if split == "register_heldout":
        return load_register(REGISTER_HELDOUT, "register_heldout"), None
    folder = seeds_dir()
    if not folder.is_dir():
        return [], f"seeds folder {folder} not found (set $CASESTUDY_SEEDS); seeds split skipped"
    items, warnings = load_seeds(folder)
    for w in warnings:
        print(f"warning: seeds: {w}", file=sys.stderr)
    return items, None if items else f"no labelled seed paragraph found in {folder}"


def evaluate(codebook_dir: "str | Path | None" = None, labels: Path = LABELS, splits=SPLITS) -> dict:
    """{split: score table}; a skipped split is ``None`` with the reason in ``skipped``."""
    book = codebook_lib.load(codebook_dir)
    engine = Engine(book)
    out = {"version": book.version, "skipped": {}}
    for split in splits:
        if labels != LABELS and split in ("train", "heldout", "all"):
            chosen = [i for i in load_labelled(labels) if split == "all" or i["split"] == split]
            reason = None
        else:
            chosen, reason = split_items(split)
        if reason:
            out[split] = None
            out["skipped"][split] = reason
            continue
        out[split] = scores(chosen, predict(engine, chosen))
        out[split]["n"] = len(chosen)
    return out


def report(result: dict) -> str:
    lines = [f"Codebook version {result['version']}"]
    for split in SPLITS:
        if split not in result:
            continue
        table = result[split]
        if table is None:
            lines.append(f"\n{split}: {result['skipped'][split]}")
            continue
        clean, total = table["none_clean"]
        lines.append(f"\n{split} ({table['n']} excerpts; {clean}/{total} with no RQ left uncoded; "
                     f"{table['rqs_per_excerpt']:.2f} RQs suggested per excerpt)")
        lines.append(f"  {'RQ':<4} {'prec':>6} {'recall':>6} {'F1':>6}   tp  fp  fn")
        for rq in RQS:
            r = table[rq]
            lines.append(f"  {rq:<4} {r['precision']:>6.2f} {r['recall']:>6.2f} {r['f1']:>6.2f}  {r['tp']:>3} {r['fp']:>3} {r['fn']:>3}")
        lines.append(f"  macro-F1 {table['macro_f1']:.3f}   micro precision {table['micro_precision']:.2f} recall {table['micro_recall']:.2f}")
    return "\n".join(lines)


def errors(codebook_dir, split: str) -> str:
    if split not in TUNABLE:
        raise SystemExit(f"--errors is for the tuning splits only ({', '.join(TUNABLE)})")
    book = codebook_lib.load(codebook_dir)
    engine = Engine(book)
    items, _ = split_items(split)
    lines = []
    for item, matches in zip(items, engine.match_many(i["text"] for i in items)):
        got = {engine.rq_of[m.code_id] for m in matches}
        want = set(item["rqs"])
        if got != want:
            lines.append(f"{item['id']} want {sorted(want)} got {sorted(got)}: missed {sorted(want - got)} extra {sorted(got - want)}")
            for m in matches:
                if engine.rq_of[m.code_id] in got - want:
                    lines.append(f"    {m.code_id} {m.score} {m.terms}")
            lines.append(f"    {item['text'][:160]}")
    return "\n".join(lines)


# --- cross-validation of the two-level coder (patterns + learned model) ----------------


def labelled_sets() -> dict[str, list[dict]]:
    """Every labelled set the project ships, by name: the files the default model learns
    from (learned.training_files: tests/data/*.yaml with an ``excerpts`` list, ``*heldout*``
    files left out), each excerpt with its file as ``set``."""
    from casestudy.coding import learned

    out = {}
    for path in learned.training_files(LABELS.parent):
        items = learned.labelled_items(path)
        if items:
            name = path.stem.replace("_excerpts", "").replace("labelled", "first")
            out[name] = [dict(i, set=name, id=str(i.get("id"))) for i in items]
    return out


def labelled_sets_pool() -> list[dict]:
    """Every excerpt the default model learns from, all sets together."""
    return [i for items in labelled_sets().values() for i in items]


def heldout_sets() -> dict[str, list[dict]]:
    """Labelled files named ``*heldout*``: evaluation only, never trained on or tuned against."""
    from casestudy.coding import learned

    out = {}
    for path in sorted(LABELS.parent.glob("*heldout*.yaml")):
        items = learned.labelled_items(path)
        if items:
            out[path.stem] = [dict(i, set=path.stem, id=str(i.get("id"))) for i in items]
    return out


def _fold(item_id: str, k: int) -> int:
    return int(hashlib.sha256(item_id.encode("utf-8")).hexdigest(), 16) % k


def _example(item: dict, weight: float = 1.0):
    from casestudy.coding import learned

    return learned.Example(" ".join(item["text"].split()), {rq: int(rq in item["rqs"]) for rq in RQS}, weight, item["id"])


class Bench:
    """The codebook's engine, a featurizer and the codebook's own training examples, built once."""

    def __init__(self, codebook_dir=None):
        from casestudy.coding import learned
        from casestudy.coding.engine import Coder

        self.book = codebook_lib.load(codebook_dir)
        self.engine = Engine(self.book)
        self.featurizer = learned.Featurizer(self.engine.lemma_of)
        self.codebook_examples = learned.codebook_examples(self.book)
        self._coder = Coder
        self._matches: dict[str, list] = {}

    def matches(self, items):
        todo = [i["text"] for i in items if i["text"] not in self._matches]
        for text, found in zip(todo, self.engine.match_many(todo)):
            self._matches[text] = found
        return [self._matches[i["text"]] for i in items]

    def train(self, examples, **kwargs):
        from casestudy.coding import learned

        return learned.train(self.codebook_examples + examples, self.featurizer, **kwargs)

    def predict(self, model, items) -> list[set[str]]:
        """The RQs the two-level coder suggests (model None: the patterns alone)."""
        coder = self._coder(self.engine, model, self.featurizer)
        return [{s.rq for s in coder.suggest(i["text"], m)} for i, m in zip(items, self.matches(items))]

    def model_only(self, model, items, threshold=0.5) -> list[set[str]]:
        return [{rq for rq, p in model.probabilities(self.featurizer.terms(i["text"])).items() if p >= threshold} for i in items]


def coded_rate(items, predicted) -> tuple[float, float]:
    """(RQs suggested per coded excerpt, RQs per labelled excerpt in the labels themselves)."""
    coded = [p for p in predicted if p]
    labelled = [i["rqs"] for i in items if i["rqs"]]
    return (sum(map(len, coded)) / len(coded) if coded else 0.0, sum(map(len, labelled)) / len(labelled) if labelled else 0.0)


def way_tables(items: list[dict], ways: dict[str, list[set[str]]]) -> dict:
    """Each way's predictions for ``items`` scored (:func:`scores`), with ``n`` and the RQs per
    coded excerpt beside the labels' own rate: the cells of :func:`cv_report`."""
    out = {}
    for way, predicted in ways.items():
        table = scores(items, predicted)
        table["n"] = len(items)
        table["coded_rate"], table["label_rate"] = coded_rate(items, predicted)
        out[way] = table
    return out


def cross_validate(bench: Bench, k: int = 5, heldout: bool = False, only: "set[str] | None" = None,
                   pooled: bool = False) -> dict:
    """Cross-validated predictions for every labelled set, three ways: patterns alone, the
    learned model alone (P >= 0.5) and the two-level coder.

    * shipped sets: k-fold by a hash of the id; each fold's model is the default model
      trained without that fold (codebook + every other shipped excerpt);
    * seeds: leave-one-document-out, trained on the codebook, every shipped set and the
      other two seed documents ("seeds (CV)"); and "seeds (default)": the default model,
      which has never seen a seed;
    * ``*heldout*`` files, only with ``heldout``: the default model once (they are never
      trained on; look at their figures once, at the end, never while tuning).

    ``only``: score just these shipped sets (every set is still trained on). ``pooled``: one
    model per fold for all of them (trained without that fold of every scored set), k models
    in all instead of k per set: a little less training data per fold, a quick check.
    """
    from casestudy.coding import learned

    sets = labelled_sets()
    pool = [i for items in sets.values() for i in items]
    seeds, reason = split_items("seeds")
    out: dict[str, dict] = {}
    preds: dict[str, dict[str, list]] = {}

    def record(name, items, patterns, model, combined):
        preds[name] = {"items": items, "patterns": patterns, "model": model, "combined": combined}

    scored = {name: items for name, items in sets.items() if only is None or name in only}
    folds: dict[int, object] = {}

    def fold_model(f: int, held: set[int]):
        """The model trained without ``held`` (with ``pooled``: without fold f of every scored set)."""
        if not pooled:
            return bench.train([_example(i) for i in pool if id(i) not in held])
        if f not in folds:
            out_of_fold = {id(i) for its in scored.values() for i in its if _fold(i["id"], k) == f}
            folds[f] = bench.train([_example(i) for i in pool if id(i) not in out_of_fold])
        return folds[f]

    for name, items in scored.items():
        patterns, model_only, combined = [None] * len(items), [None] * len(items), [None] * len(items)
        for f in range(k):
            test = [n for n, i in enumerate(items) if _fold(i["id"], k) == f]
            if not test:
                continue
            model = fold_model(f, {id(items[n]) for n in test})
            chosen = [items[n] for n in test]
            for n, p, mo, c in zip(test, bench.predict(None, chosen), bench.model_only(model, chosen), bench.predict(model, chosen)):
                patterns[n], model_only[n], combined[n] = p, mo, c
        record(name, items, patterns, model_only, combined)
    default = bench.train([_example(i) for i in pool])
    if seeds:
        record("seeds (default)", seeds, bench.predict(None, seeds), bench.model_only(default, seeds), bench.predict(default, seeds))
        docs = sorted({i["id"].split("#")[0] for i in seeds})
        patterns, model_only, combined = [None] * len(seeds), [None] * len(seeds), [None] * len(seeds)
        for doc in docs:
            test = [n for n, i in enumerate(seeds) if i["id"].split("#")[0] == doc]
            # the other documents are this "study's" decisions, weighted like a study's own
            model = bench.train([_example(i) for i in pool] + [_example(i, learned.SETTINGS["study_weight"]) for i in seeds if i["id"].split("#")[0] != doc])
            chosen = [seeds[n] for n in test]
            for n, p, mo, c in zip(test, bench.predict(None, chosen), bench.model_only(model, chosen), bench.predict(model, chosen)):
                patterns[n], model_only[n], combined[n] = p, mo, c
        record("seeds (CV)", seeds, patterns, model_only, combined)
    else:
        out["skipped"] = reason
    for name, items in (heldout_sets() if heldout else {}).items():
        record(name, items, bench.predict(None, items), bench.model_only(default, items), bench.predict(default, items))
    for name, p in preds.items():
        out[name] = way_tables(p["items"], {way: p[way] for way in ("patterns", "model", "combined")})
    return out


def cv_report(result: dict, title: str = "Cross-validated RQ-level figures") -> str:
    lines = [f"{title} (see docs/coding.md, 'Quality'): per-RQ F1, macro-F1,",
             "micro P/R, RQs per coded excerpt (and the labels' own rate)"]
    if result.get("skipped"):
        lines.append(f"  seeds skipped: {result['skipped']}")
    lines.append(f"  {'set':<22} {'n':>4} {'coder':<9} " + " ".join(f"{rq:>5}" for rq in RQS) + "  macro     P     R  RQs/coded (labels)")
    for name, ways in result.items():
        if name == "skipped":
            continue
        for way, t in ways.items():
            lines.append(
                f"  {name:<22} {t['n']:>4} {way:<9} " + " ".join(f"{t[rq]['f1']:>5.2f}" for rq in RQS)
                + f"  {t['macro_f1']:.3f} {t['micro_precision']:>5.2f} {t['micro_recall']:>5.2f}  {t['coded_rate']:.2f} ({t['label_rate']:.2f})"
            )
    return "\n".join(lines)


# --- the learning curve ------------------------------------------------------------------

CURVE = (0, 25, 50, 100, 200)


def simulate_decisions(bench: Bench, model, items: list[dict], budget: int) -> tuple[list, int]:
    """A reviewer works through ``items`` in order with ``model``'s suggestions: accepts or
    rejects every suggested RQ and adds every labelled RQ that was missed, one decision each,
    until ``budget`` decisions are made. Returns (the study examples learned from: per
    excerpt, the RQs decided on), the number of excerpts reviewed."""
    from casestudy.coding import learned

    examples, used, reviewed = [], 0, 0
    for item, suggested in zip(items, bench.predict(model, items)):
        if used >= budget:
            break
        wanted = set(item["rqs"])
        decided = suggested | wanted
        if not decided:  # nothing suggested, nothing missing: no decision to learn from
            reviewed += 1
            continue
        used += len(decided)
        reviewed += 1
        examples.append(learned.Example(" ".join(item["text"].split()), {rq: int(rq in wanted) for rq in decided},
                                        learned.SETTINGS["study_weight"], item["id"]))
    return examples, reviewed


def learning_curve(bench: Bench, points=CURVE, orders: int = 3, only: "set[str] | None" = None) -> dict:
    """For every labelled set as "a study" (the seeds too, when present; ``only``: just these):
    the default model is trained without it; a simulated reviewer works through its excerpts
    in a shuffled order and makes 0, 25, 50, ... decisions; the study model (default data +
    those decisions) then codes the rest of the study, which is scored. Each point is the
    mean over ``orders`` orders (seeds 0, 1, ...), with the default model scored on the same
    rests beside it, so what the decisions added is read against the same excerpts. An order
    is left out of a point when it leaves fewer than 20 excerpts; a point with no order left
    is left out."""
    import random

    sets = labelled_sets()
    seeds, _ = split_items("seeds")
    studies = dict(sets)
    if seeds:
        studies["seeds"] = seeds
    out = {}
    for name, items in studies.items():
        if only is not None and name not in only:
            continue
        others = [_example(i) for other, its in sets.items() if other != name for i in its]
        default = bench.train(others)
        runs: dict[int, list[tuple[float, float, int, int]]] = {budget: [] for budget in points}
        for seed in range(orders):
            order = list(items)
            random.Random(seed).shuffle(order)
            for budget in points:
                examples, reviewed = simulate_decisions(bench, default, order, budget)
                rest = order[reviewed:]
                if len(rest) < 20:
                    continue
                model = bench.train(others + examples, kind="study") if examples else default
                runs[budget].append((scores(rest, bench.predict(model, rest))["macro_f1"],
                                     scores(rest, bench.predict(default, rest))["macro_f1"],
                                     len(rest), sum(len(e.labels) for e in examples)))
        out[name] = {budget: {"macro_f1": fmean(r[0] for r in got), "default_f1": fmean(r[1] for r in got),
                              "rest": fmean(r[2] for r in got), "decisions": fmean(r[3] for r in got), "orders": len(got)}
                     for budget, got in runs.items() if got}
    return out


def curve_report(curve: dict) -> str:
    lines = ["Learning curve: macro-F1 on the unseen rest of a study after N simulated human decisions",
             "(mean over reviewer orders; in brackets: the study model minus the default model on the same rests)",
             f"  {'study':<12} " + " ".join(f"{n:>15}" for n in CURVE)]
    for name, row in curve.items():
        cells = [f"{row[n]['macro_f1']:.3f} ({row[n]['macro_f1'] - row[n]['default_f1']:+.3f})" if n in row else "-" for n in CURVE]
        lines.append(f"  {name:<12} " + " ".join(f"{c:>15}" for c in cells))
        rests = [f"{row[n]['rest']:.0f}/{row[n]['orders']}" if n in row else "-" for n in CURVE]
        lines.append(f"  {'  rest/orders':<12} " + " ".join(f"{c:>15}" for c in rests))
    return "\n".join(lines)


# --- your own labelled text ------------------------------------------------------------


def load_scored(path: Path) -> list[dict]:
    """A labelled file of one's own (``excerpts:`` with ``text`` and ``rqs``, optional ``id`` and
    ``kind``); ValueError with the file and the problem when it is not one."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: cannot read it ({getattr(e, 'strerror', None) or type(e).__name__})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ValueError(f"{path}: not valid YAML{where}") from None
    items = data.get("excerpts") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise ValueError(f"{path}: no 'excerpts' list")
    out = []
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict) or not isinstance(item.get("text"), str) or not isinstance(item.get("rqs"), list):
            raise ValueError(f"{path}: excerpt {n} needs 'text' (a string) and 'rqs' (a list)")
        unknown = [rq for rq in item["rqs"] if rq not in RQS]
        if unknown:
            raise ValueError(f"{path}: excerpt {item.get('id', n)} has unknown research questions {unknown}")
        out.append(dict(item, id=str(item.get("id", n)), rqs=list(dict.fromkeys(item["rqs"]))))
    return out


def score_file(bench: Bench, path: Path, items: "list[dict] | None" = None) -> dict:
    """The default model (codebook + every shipped set; it never learns from this file) and the
    patterns coding a labelled file of one's own: figures in :func:`cv_report`'s shape, for the
    whole file and for each ``kind`` in it (``items``: the file already read by :func:`load_scored`)."""
    from casestudy.coding import learned

    items = load_scored(path) if items is None else items
    model = learned.default_model(bench.book, bench.featurizer, LABELS.parent)  # what `casestudy code` uses (cached)
    groups = {f"{path.stem} (all)": items}
    for kind in sorted({str(i["kind"]) for i in items if i.get("kind")}):
        groups[f"{path.stem} {kind}"] = [i for i in items if str(i.get("kind")) == kind]
    return {name: way_tables(group, {"patterns": bench.predict(None, group), "model": bench.model_only(model, group),
                                     "combined": bench.predict(model, group)})
            for name, group in groups.items()}


# --- two human coders ---------------------------------------------------------------


def second_coder_records(folder: Path = SECOND_CODER) -> dict[str, dict]:
    """The second coder's record of each double-coded set, by set name: its ``labels``
    (written blind), ``changes`` (adjudicated excerpts: before, after, reason) and
    ``items``, the set's excerpts as shipped (after adjudication)."""
    from casestudy.coding import learned

    out = {}
    for path in sorted(folder.glob("*.yaml")):
        record = yaml.safe_load(path.read_text(encoding="utf-8"))
        if record["set"] == "seeds":  # labelled by reference; the texts are in the seeds folder, if present
            items = split_items("seeds")[0]
        else:
            items = [i for name in record["files"] for i in learned.labelled_items(LABELS.parent / name)]
        out[record["set"]] = dict(record, items=[dict(i, id=str(i["id"])) for i in items])
    return out


def agreement(record: dict) -> dict:
    """How far the second coder's blind labels agree with the original coder's (per-RQ F1,
    macro-F1, excerpts labelled identically), and how many labels adjudication changed."""
    changes = record.get("changes") or {}
    original = [dict(i, rqs=changes[i["id"]]["before"] if i["id"] in changes else i["rqs"]) for i in record["items"]]
    second = [set(record["labels"][i["id"]]) for i in original]
    table = scores(original, second)
    table["n"] = len(original)
    table["identical"] = sum(1 for i, b in zip(original, second) if set(i["rqs"]) == b)
    table["changed"] = len(changes)
    table["labels_changed"] = sum(len(set(c["before"]) ^ set(c["after"])) for c in changes.values())
    return table


def agreement_report(records: dict[str, dict]) -> str:
    lines = ["Agreement of two human coders (the second coding blind; F1 of the second coder against the",
             "original labels; the original labels are the ceiling's yardstick, not the truth)",
             f"  {'set':<16} {'n':>4} " + " ".join(f"{rq:>5}" for rq in RQS) + "  macro  identical  changed in adjudication"]
    for name, record in records.items():
        if not record["items"]:
            lines.append(f"  {name:<16} skipped: its texts are not here (the seeds folder, $CASESTUDY_SEEDS)")
            continue
        t = agreement(record)
        lines.append(f"  {name:<16} {t['n']:>4} " + " ".join(f"{t[rq]['f1']:>5.2f}" for rq in RQS)
                     + f"  {t['macro_f1']:.3f}  {t['identical']:>4}/{t['n']:<4}  {t['changed']} excerpts, {t['labels_changed']} labels")
    return "\n".join(lines)


def training_speed(n: int = 10_000, seed: int = 0) -> dict:
    """Seconds to train the study model on ``n`` simulated decisions, as `casestudy learn` does:
    the codebook's text and every shipped labelled excerpt, plus the decisions (excerpts made
    of two random labelled excerpts joined, fixed seed, labelled with the union of their RQs)."""
    import random
    import time

    from casestudy.coding import learned

    bench = Bench()
    pool = labelled_sets_pool()
    rng = random.Random(seed)
    examples = []
    for k in range(n):
        a, b = rng.choice(pool), rng.choice(pool)
        rqs = set(a["rqs"]) | set(b["rqs"])
        examples.append(learned.Example(f"{a['text']} {b['text']} ({k})", {rq: int(rq in rqs) for rq in RQS}, 3.0, str(k)))
    shipped = [_example(i) for i in pool]
    started = time.perf_counter()
    model = bench.train(shipped + examples, kind="study", n_decisions=n)
    seconds = time.perf_counter() - started
    return {"examples": len(shipped) + n, "decisions": n, "seconds": seconds, "features": len(model.vocabulary), "json_bytes": len(model.to_json())}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codebook", help="codebook folder (default: the shipped codebook)")
    parser.add_argument("--splits", nargs="+", choices=SPLITS, default=list(SPLITS), help="splits to report (default: all)")
    parser.add_argument("--errors", choices=TUNABLE, help="list the excerpts the codebook gets wrong (tuning splits only)")
    parser.add_argument("--cv", action="store_true", help="cross-validated figures of patterns, model and the two-level coder")
    parser.add_argument("--curve", action="store_true", help="the learning curve (simulated human decisions)")
    parser.add_argument("--orders", type=int, default=3, metavar="N", help="with --curve: reviewer orders averaged per point (default 3)")
    parser.add_argument("--heldout", action="store_true", help="with --cv: also the *heldout* files (final figures only)")
    parser.add_argument("--score", metavar="FILE", help="score the default model on a labelled YAML file of your own (never trained on)")
    parser.add_argument("--agreement", action="store_true", help="how far two human coders agreed on each double-coded set")
    parser.add_argument("--speed", type=int, metavar="N", help="time training on N simulated decisions (e.g. 10000)")
    args = parser.parse_args(argv)
    if args.errors:
        print(errors(args.codebook, args.errors))
        return 0
    if args.score:
        try:
            items = load_scored(Path(args.score))  # a bad file is said at once, before the codebook is built
            result = score_file(Bench(args.codebook), Path(args.score), items)
        except ValueError as e:
            print(f"Error: {e}", file=sys.stderr)
            return 1
        print(cv_report(result, title="The default model on your own labelled file"))
        return 0
    if args.agreement:
        print(agreement_report(second_coder_records()))
        return 0
    if args.speed:
        print(training_speed(args.speed))
        return 0
    if args.cv or args.curve:
        bench = Bench(args.codebook)
        if args.cv:
            print(cv_report(cross_validate(bench, heldout=args.heldout)))
        if args.curve:
            print(curve_report(learning_curve(bench, orders=args.orders)))
        return 0
    print(report(evaluate(args.codebook, splits=args.splits)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
