"""The hand-labelled sets benchmarks/quality.py reads: every split loads, labels are valid
RQs, ids are unique, the register sets are balanced, and no set copies text from another
set or from the real seed texts."""

import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

import quality  # noqa: E402

FILE_SPLITS = ("train", "heldout", "fresh", "register", "register_heldout")


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9£%']+", text.lower())


def _shingles(text: str, n: int = 8) -> set[tuple[str, ...]]:
    words = _words(text)
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


@pytest.fixture(scope="module")
def sets() -> dict[str, list[dict]]:
    out = {}
    for split in FILE_SPLITS:
        items, reason = quality.split_items(split)
        assert reason is None and items, split
        out[split] = items
    return out


def test_every_split_loads_with_valid_labels(sets):
    for split, items in sets.items():
        for item in items:
            assert item["split"] == split
            assert item["text"].strip(), item["id"]
            assert set(item["rqs"]) <= set(quality.RQS), item["id"]
            assert len(item["rqs"]) == len(set(item["rqs"])), item["id"]


def test_ids_unique_across_all_sets(sets):
    ids = [item["id"] for items in sets.values() for item in items]
    assert len(ids) == len(set(ids))


def test_register_sets_are_balanced_and_realistic(sets):
    main, held = sets["register"], sets["register_heldout"]
    assert len(main) >= 150 and len(held) >= 60
    for rq in quality.RQS:
        assert sum(rq in i["rqs"] for i in main) >= 35, rq
        assert sum(rq in i["rqs"] for i in held) >= 12, rq
    for items in (main, held):
        rate = sum(len(i["rqs"]) for i in items) / len(items)
        assert 1.0 <= rate <= 1.6
        none = sum(1 for i in items if not i["rqs"]) / len(items)
        assert 0.10 <= none <= 0.25
        assert max(len(i["rqs"]) for i in items) <= 3
    interviews = [i for i in main if i["kind"] == "interview"]
    assert len(interviews) >= 100
    assert all(40 <= len(i["text"].split()) <= 150 for i in interviews)


def test_heldout_register_is_never_tuned_on():
    assert "register_heldout" not in quality.TUNABLE
    first = quality.REGISTER_HELDOUT.read_text(encoding="utf-8").splitlines()[0]
    assert "NEVER TUNE ON THIS FILE" in first
    with pytest.raises(SystemExit):
        quality.errors(None, "register_heldout")


def test_no_text_shared_between_sets(sets):
    """Written separately: no run of 12 words appears in two different sets (stock minute
    phrases such as an apology line may recur; sentences may not)."""
    seen: dict[tuple[str, ...], str] = {}
    for split, items in sets.items():
        own = set().union(*(_shingles(i["text"], 12) for i in items))
        for shingle in own:
            assert seen.get(shingle, split) == split, (split, seen[shingle], " ".join(shingle))
            seen[shingle] = split


def test_no_text_copied_from_the_seed_texts(sets):
    folder = quality.seeds_dir()
    if not folder.is_dir():
        pytest.skip(f"seeds folder {folder} not found")
    seed = set()
    for path in sorted(folder.glob("*.txt")):
        seed |= _shingles(path.read_text(encoding="utf-8"))
    assert seed
    for items in sets.values():
        for item in items:
            assert not (_shingles(item["text"]) & seed), item["id"]
