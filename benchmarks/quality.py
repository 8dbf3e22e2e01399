"""How well does a codebook find the research questions? Precision, recall and F1 per RQ.

Reads the hand-labelled excerpts in tests/data/labelled_excerpts.yaml (an excerpt is
positive for an RQ when any theme under it applies) and codes each with the codebook's
spaCy engine, exactly as `casestudy code` does. Prints per-RQ precision, recall, F1 and
macro-F1 for the tuning split ("train"), the held-out split and both together.

    python benchmarks/quality.py                   # the shipped codebook
    python benchmarks/quality.py --codebook DIR    # another codebook
    python benchmarks/quality.py --errors train    # list misses / false alarms (train only)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from casestudy import codebook as codebook_lib  # noqa: E402
from casestudy.coding import Engine  # noqa: E402

LABELS = HERE.parent / "tests" / "data" / "labelled_excerpts.yaml"
RQS = codebook_lib.RQS


def load_labelled(path: Path = LABELS) -> list[dict]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))["excerpts"]


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
    none = [(i, p) for i, p in zip(items, predicted) if not i["rqs"]]
    table["none_clean"] = (sum(1 for _, p in none if not p), len(none))
    return table


def evaluate(codebook_dir: "str | Path | None" = None, labels: Path = LABELS) -> dict:
    """{split: score table} for train, heldout and all."""
    book = codebook_lib.load(codebook_dir)
    engine = Engine(book)
    items = load_labelled(labels)
    predicted = predict(engine, items)
    out = {"version": book.version}
    for split in ("train", "heldout", "all"):
        chosen = [(i, p) for i, p in zip(items, predicted) if split == "all" or i["split"] == split]
        out[split] = scores([i for i, _ in chosen], [p for _, p in chosen])
        out[split]["n"] = len(chosen)
    return out


def report(result: dict) -> str:
    lines = [f"Codebook version {result['version']}"]
    for split in ("train", "heldout", "all"):
        table = result[split]
        clean, total = table["none_clean"]
        lines.append(f"\n{split} ({table['n']} excerpts; {clean}/{total} with no RQ left uncoded)")
        lines.append(f"  {'RQ':<4} {'prec':>6} {'recall':>6} {'F1':>6}   tp  fp  fn")
        for rq in RQS:
            r = table[rq]
            lines.append(f"  {rq:<4} {r['precision']:>6.2f} {r['recall']:>6.2f} {r['f1']:>6.2f}  {r['tp']:>3} {r['fp']:>3} {r['fn']:>3}")
        lines.append(f"  macro-F1 {table['macro_f1']:.3f}")
    return "\n".join(lines)


def errors(codebook_dir, split: str) -> str:
    book = codebook_lib.load(codebook_dir)
    engine = Engine(book)
    items = [i for i in load_labelled() if i["split"] == split]
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
    parser.add_argument("--errors", choices=["train"], help="list the excerpts the codebook gets wrong (train split only)")
    args = parser.parse_args(argv)
    if args.errors:
        print(errors(args.codebook, args.errors))
        return 0
    print(report(evaluate(args.codebook)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
