"""The disk cache of trained default models (casestudy.coding.modelcache): a cached model is
byte for byte the model training gives, a new database is coded without scikit-learn when
the cache holds the model, anything training reads changes the key, and a broken or
unwritable cache only means training as before."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from casestudy.coding import codebook, learned, modelcache
from casestudy.coding import engine as coding

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def small_training(tmp_path_factory, monkeypatch):
    """Two of the shipped labelled sets as the training data: what is cached, and when, does
    not depend on how much the default model learns from (training them all takes ~7 s)."""
    folder = tmp_path_factory.getbasetemp() / "small-training"
    if not folder.is_dir():
        folder.mkdir()
        for name in ("labelled_excerpts.yaml", "fresh_excerpts.yaml"):
            (folder / name).write_bytes((REPO / "tests" / "data" / name).read_bytes())
    monkeypatch.setenv("CASESTUDY_TRAINING", str(folder))
    assert [p.name for p in learned.training_files()] == ["fresh_excerpts.yaml", "labelled_excerpts.yaml"]
    return folder


@pytest.fixture(scope="module")
def book():
    return codebook.load(REPO / "codebook")


@pytest.fixture(scope="module")
def featurizer(book):
    return learned.Featurizer(coding.engine_for(book).lemma_of)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    monkeypatch.setenv("CASESTUDY_MODEL_CACHE", str(folder))
    monkeypatch.setattr(learned, "_DEFAULTS", {})  # no model from an earlier test in this process
    return folder


def _entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def test_cached_default_model_is_the_trained_one(book, featurizer, cache):
    trained = learned.default_model(book, featurizer)
    (entry,) = _entries(cache)
    assert entry.read_text(encoding="utf-8") == trained.to_json()
    learned._DEFAULTS.clear()
    loaded = learned.default_model(book, featurizer)
    assert loaded is not trained
    assert loaded.to_json() == trained.to_json()
    fresh = learned.train(learned.default_examples(book), featurizer, kind="default")
    assert fresh.to_json() == loaded.to_json()
    assert _entries(cache) == [entry]


def test_new_process_codes_without_training_when_cached(book, featurizer, cache, tmp_path):
    learned.default_model(book, featurizer)  # fills the cache
    script = (
        "import sys\n"
        "from casestudy.coding import codebook, learned\n"
        "from casestudy.coding import engine as coding\n"
        f"book = codebook.load({str(REPO / 'codebook')!r})\n"
        "model = learned.default_model(book, learned.Featurizer(coding.engine_for(book).lemma_of))\n"
        "print(model.version, 'sklearn' in sys.modules)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO), CASESTUDY_MODEL_CACHE=str(cache))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    version, imported = done.stdout.split()
    assert version == learned.default_model(book, featurizer).version
    assert imported == "False"  # loaded from the cache: scikit-learn never imported


def test_what_training_reads_changes_the_key(book, featurizer, cache):
    first = learned.default_model(book, featurizer)
    # the same examples, but a featuriser whose lemma table differs: other features, other entry
    other_lemmas = dict(featurizer.lemma_of, money="cash")
    learned._DEFAULTS.clear()
    second = learned.default_model(book, learned.Featurizer(other_lemmas))
    assert len(_entries(cache)) == 2
    assert second.vocabulary != first.vocabulary
    assert second.to_json() == learned.train(learned.default_examples(book), learned.Featurizer(other_lemmas),
                                             kind="default").to_json()


def test_fingerprint_covers_settings_labels_and_examples(tmp_path):
    source = tmp_path / "source.py"
    source.write_text("x = 1\n")
    examples = [("text", [("RQ1", 1)], 1.0, ["text"])]
    key = modelcache.fingerprint(source, {"C": 4.0}, examples, ["RQ1"])
    assert key == modelcache.fingerprint(source, {"C": 4.0}, examples, ["RQ1"])
    assert key != modelcache.fingerprint(source, {"C": 2.0}, examples, ["RQ1"])
    assert key != modelcache.fingerprint(source, {"C": 4.0}, examples, ["RQ1", "RQ2"])
    assert key != modelcache.fingerprint(source, {"C": 4.0}, [("text", [("RQ1", 0)], 1.0, ["text"])], ["RQ1"])
    assert key != modelcache.fingerprint(source, {"C": 4.0}, [("text", [("RQ1", 1)], 1.0, ["txt"])], ["RQ1"])
    source.write_text("x = 2\n")
    assert key != modelcache.fingerprint(source, {"C": 4.0}, examples, ["RQ1"])


def test_a_broken_entry_is_retrained_and_replaced(book, featurizer, cache):
    trained = learned.default_model(book, featurizer)
    (entry,) = _entries(cache)
    entry.write_text('{"format": "1", "version": "truncat', encoding="utf-8")
    learned._DEFAULTS.clear()
    again = learned.default_model(book, featurizer)
    assert again.to_json() == trained.to_json()
    assert json.loads(entry.read_text(encoding="utf-8"))["version"] == trained.version


def test_cache_off_or_unwritable_still_trains(book, featurizer, tmp_path, monkeypatch):
    monkeypatch.setattr(learned, "_DEFAULTS", {})
    monkeypatch.setenv("CASESTUDY_MODEL_CACHE", "off")
    assert modelcache.cache_dir() is None
    trained = learned.default_model(book, featurizer)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("CASESTUDY_MODEL_CACHE", str(blocker / "models"))
    learned._DEFAULTS.clear()
    assert learned.default_model(book, featurizer).to_json() == trained.to_json()
    assert blocker.read_text() == "not a folder"


def test_default_cache_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("CASESTUDY_MODEL_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert modelcache.cache_dir() == tmp_path / "casestudy" / "models"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert modelcache.cache_dir() == Path.home() / ".cache" / "casestudy" / "models"


def test_cache_keeps_only_the_most_recent_entries(cache):
    for i in range(modelcache.KEEP + 3):
        modelcache.put(f"key{i:02d}", f'{{"n": {i}}}')
        os.utime(cache / f"key{i:02d}.json", (1_000_000 + i, 1_000_000 + i))  # distinct, increasing times
    kept = [p.stem for p in _entries(cache)]
    assert len(kept) == modelcache.KEEP
    assert kept == [f"key{i:02d}" for i in range(3, modelcache.KEEP + 3)]  # the oldest went
    assert modelcache.get(f"key{modelcache.KEEP + 2:02d}") == f'{{"n": {modelcache.KEEP + 2}}}'
    assert modelcache.get("key00") is None
    assert not list(cache.glob("*.tmp"))


# --- the quick key: a cached model found without parsing the labelled sets ---------------


def _no_parsing(monkeypatch):
    """Parsing a labelled set or featurising an example now fails the test."""
    def fail(*args, **kwargs):
        raise AssertionError("the slow path was taken")

    monkeypatch.setattr(learned, "labelled_items", fail)
    monkeypatch.setattr(learned.Featurizer, "terms", fail)


def _copy_training(small_training: Path, to: Path, monkeypatch) -> Path:
    """A copy of the small training folder that a test may change (the shared one stays)."""
    to.mkdir()
    for path in small_training.glob("*.yaml"):
        (to / path.name).write_bytes(path.read_bytes())
    monkeypatch.setenv("CASESTUDY_TRAINING", str(to))
    return to


def _fresh(book, featurizer) -> str:
    return learned.train(learned.default_examples(book), featurizer, kind="default").to_json()


def test_quick_key_hit_is_the_trained_model_without_parsing(book, featurizer, cache, monkeypatch):
    trained = learned.default_model(book, featurizer)  # fills the cache and the index
    quick = learned.quick_key(book, featurizer).key
    assert modelcache.lookup(quick)["version"] == trained.version
    fresh = _fresh(book, featurizer)
    with monkeypatch.context() as patch:
        _no_parsing(patch)
        learned._DEFAULTS.clear()  # a new process: only the disk cache
        loaded = learned.default_model(book, featurizer)
        assert loaded is not trained
        assert learned.default_model(book, featurizer) is loaded  # then the in-process memo
        # a new featuriser over an equal table: the same key, the same model
        assert learned.default_model(book, learned.Featurizer(dict(featurizer.lemma_of))) is loaded
    assert loaded.to_json() == fresh == trained.to_json()


def test_new_process_finds_the_model_without_parsing(book, featurizer, cache):
    learned.default_model(book, featurizer)  # fills the cache and the index
    script = (
        "import sys\n"
        "from casestudy.coding import codebook, learned\n"
        "from casestudy.coding import engine as coding\n"
        f"book = codebook.load({str(REPO / 'codebook')!r})\n"
        "featurizer = learned.Featurizer(coding.engine_for(book).lemma_of)\n"
        "def fail(*args, **kwargs):\n"
        "    raise AssertionError('parsed')\n"
        "learned.labelled_items = fail\n"
        "print(learned.default_model(book, featurizer).to_json())\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO), CASESTUDY_MODEL_CACHE=str(cache))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.strip() == _fresh(book, featurizer)


def test_a_changed_training_file_misses_the_quick_key(book, featurizer, cache, small_training, tmp_path, monkeypatch):
    folder = _copy_training(small_training, tmp_path / "training", monkeypatch)
    first = learned.default_model(book, featurizer)
    quick = learned.quick_key(book, featurizer).key
    path = folder / "fresh_excerpts.yaml"
    text = path.read_text(encoding="utf-8")
    assert text.count("  rqs: [RQ3]\n") > 1
    path.write_text(text.replace("  rqs: [RQ3]\n", "  rqs: [RQ1, RQ3]\n", 1), encoding="utf-8")  # one excerpt's labels
    changed = learned.quick_key(book, featurizer).key
    assert changed != quick and modelcache.lookup(changed) is None
    model = learned.default_model(book, featurizer)
    assert model.version != first.version
    assert model.to_json() == _fresh(book, featurizer)
    assert modelcache.lookup(changed)["version"] == model.version
    # bytes that change no example (a comment) miss too, and find the same entry by its fingerprint
    path.write_text(path.read_text(encoding="utf-8") + "# a comment\n", encoding="utf-8")
    learned._DEFAULTS.clear()
    entries = _entries(cache)
    commented = learned.quick_key(book, featurizer).key
    assert commented != changed
    assert learned.default_model(book, featurizer).to_json() == model.to_json()
    assert _entries(cache) == entries and modelcache.lookup(commented)["key"] == modelcache.lookup(changed)["key"]


def test_an_added_training_file_misses_the_quick_key(book, featurizer, cache, small_training, tmp_path, monkeypatch):
    folder = _copy_training(small_training, tmp_path / "training", monkeypatch)
    first = learned.default_model(book, featurizer)
    quick = learned.quick_key(book, featurizer).key
    (folder / "prose_excerpts.yaml").write_bytes((REPO / "tests" / "data" / "prose_excerpts.yaml").read_bytes())
    assert learned.quick_key(book, featurizer).key != quick
    model = learned.default_model(book, featurizer)
    assert model.n_examples > first.n_examples
    assert model.to_json() == _fresh(book, featurizer)
    # and a held-out set, which training leaves out, changes nothing
    added = learned.quick_key(book, featurizer).key
    (folder / "prose_heldout_excerpts.yaml").write_bytes(b"excerpts: []\n")
    assert learned.quick_key(book, featurizer).key == added


def test_another_codebook_misses_the_quick_key(book, featurizer, cache, tmp_path):
    first = learned.default_model(book, featurizer)
    folder = tmp_path / "codebook"
    folder.mkdir()
    for path in (REPO / "codebook").glob("*.yaml"):
        (folder / path.name).write_bytes(path.read_bytes())
    rq1 = folder / "rq1-purpose.yaml"
    rq1.write_text(rq1.read_text(encoding="utf-8").replace("\nexamples:\n", "\nexamples:\n  - \"Why we merged the rotas.\"\n", 1),
                   encoding="utf-8")
    other = codebook.load(folder)
    assert other.version != book.version
    assert learned.quick_key(other, featurizer).key != learned.quick_key(book, featurizer).key
    model = learned.default_model(other, featurizer)
    assert model.version != first.version
    assert model.to_json() == _fresh(other, featurizer)


def test_another_lemma_table_misses_the_quick_key(book, featurizer, cache):
    first = learned.default_model(book, featurizer)
    other_lemmas = dict(featurizer.lemma_of, services="provision")  # as long as the table, one lemma changed
    assert len(other_lemmas) == len(featurizer.lemma_of)
    other = learned.Featurizer(other_lemmas)
    assert other.table_digest() != featurizer.table_digest()
    assert learned.quick_key(book, other).key != learned.quick_key(book, featurizer).key
    model = learned.default_model(book, other)  # the in-process memo is not cleared: it must miss too
    assert model.to_json() != first.to_json()
    assert model.to_json() == _fresh(book, other)


@pytest.mark.parametrize("damage", ["garbage", "wrong entry", "wrong version", "a folder"])
def test_a_broken_index_means_the_slow_path(book, featurizer, cache, damage):
    trained = learned.default_model(book, featurizer)
    quick = learned.quick_key(book, featurizer).key
    index = cache / modelcache.INDEX
    recorded = json.loads(index.read_text(encoding="utf-8"))
    right = dict(recorded["entries"][quick])
    assert right["version"] == trained.version and (cache / f"{right['key']}.json").is_file()
    if damage == "garbage":
        index.write_bytes(b"\xff{not json")
    elif damage == "wrong entry":  # an entry that exists but is another model
        modelcache.put("0" * 32, trained.to_json().replace(trained.version, "another"))
        recorded["entries"][quick]["key"] = "0" * 32
        index.write_text(json.dumps(recorded), encoding="utf-8")
    elif damage == "wrong version":
        recorded["entries"][quick]["version"] = "another"
        index.write_text(json.dumps(recorded), encoding="utf-8")
    else:
        index.unlink()
        index.mkdir()
    learned._DEFAULTS.clear()
    again = learned.default_model(book, featurizer)
    assert again.to_json() == trained.to_json()
    if damage != "a folder":  # the index is written again, right
        assert modelcache.lookup(quick) == right


def test_the_index_stays_small_and_survives_pruning(cache):
    for i in range(modelcache.KEEP + 3):
        key = f"{i:032x}"
        modelcache.put(key, f'{{"n": {i}}}')
        os.utime(cache / f"{key}.json", (1_000_000 + i, 1_000_000 + i))
        modelcache.remember(f"quick{i}", key, f"v{i}", i)
    index = cache / modelcache.INDEX
    assert index.is_file() and len(_entries(cache)) == modelcache.KEEP  # pruning counts entries only
    entries = json.loads(index.read_text(encoding="utf-8"))["entries"]
    # the index drops quick keys whose entry was pruned (the last prune came after the last record)
    assert set(entries) <= {f"quick{i}" for i in range(2, modelcache.KEEP + 3)}
    for i in range(4 * modelcache.INDEX_KEEP):  # many quick keys of one entry
        modelcache.remember(f"again{i}", f"{modelcache.KEEP + 2:032x}", "v", 1)
    entries = json.loads(index.read_text(encoding="utf-8"))["entries"]
    assert len(entries) == modelcache.INDEX_KEEP
    assert list(entries)[-1] == f"again{4 * modelcache.INDEX_KEEP - 1}"  # the newest kept
    assert modelcache.lookup("quick0") is None
    assert not list(cache.glob("*.tmp"))


def test_cache_off_writes_no_index_and_still_memoises(book, featurizer, monkeypatch):
    monkeypatch.setattr(learned, "_DEFAULTS", {})
    monkeypatch.setenv("CASESTUDY_MODEL_CACHE", "off")
    model = learned.default_model(book, featurizer)
    assert modelcache.lookup(learned.quick_key(book, featurizer).key) is None
    with monkeypatch.context() as patch:
        _no_parsing(patch)
        assert learned.default_model(book, featurizer) is model
