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
