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
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
from pathlib import Path

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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codebook", help="codebook folder (default: the shipped codebook)")
    parser.add_argument("--splits", nargs="+", choices=SPLITS, default=list(SPLITS), help="splits to report (default: all)")
    parser.add_argument("--errors", choices=TUNABLE, help="list the excerpts the codebook gets wrong (tuning splits only)")
    args = parser.parse_args(argv)
    if args.errors:
        print(errors(args.codebook, args.errors))
        return 0
    print(report(evaluate(args.codebook, splits=args.splits)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
