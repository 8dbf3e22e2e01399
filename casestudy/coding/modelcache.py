"""A cache on disk of trained *default* models, so that `casestudy code` on a new database
neither imports scikit-learn nor retrains (about 1-2 s per run) when the same model was
trained before on this machine.

Only the default model is cached: it is made of the codebook's words and the shipped
labelled sets, never of a study's excerpts or decisions (a study model lives only in its
own database). An entry is found by a fingerprint of everything training reads: the
source of ``casestudy/coding/learned.py`` (features and training code), the examples with
the feature terms the featuriser gives for each (so the lemma table and codebook overrides
count too), the settings, the research questions and the versions of scikit-learn, SciPy
and NumPy. Any change to these is a different entry, so a cached model is always the model
training would give. The entry is the model's own JSON (``Model.to_json``).

Working out that fingerprint means parsing every labelled set and featurising every
example (~0.6 s), so a small index (``quick-keys.idx``, JSON) maps a *quick key* to it. The
quick key (``learned.quick_key``) is a digest of what those examples and terms are made
from, read without parsing YAML or featurising: the bytes of ``learned.py`` and
``engine.py``; the codebook's version and its own examples' texts, labels and weights; the
settings, model format and RQs; the name and bytes of every training file, in order; the
featuriser's whole lemma table (``Featurizer.table_digest``); and the versions of Python,
scikit-learn, SciPy, NumPy, spaCy, spacy-lookups-data and PyYAML (with whether libyaml is
used). The examples are a function of the codebook's examples and the training files'
bytes, parsed by ``learned.py``'s code with that PyYAML; their terms a function of the
texts, the lemma table and ``learned.py``'s code under that Python. So two runs with the
same quick key train on the same examples with the same terms, and the fingerprint the
index gives is the one the slow path would compute: a hit is still the model training
would give. A miss (or an index that cannot be read) takes the slow path and records the
quick key. The training files are parsed from the very bytes that were hashed, so a file
edited during a run cannot be recorded under the wrong key. The index keeps the
INDEX_KEEP most recent quick keys whose entry still exists.

Where: ``$CASESTUDY_MODEL_CACHE`` (``off`` turns the cache off), else
``$XDG_CACHE_HOME/casestudy/models``, else ``~/.cache/casestudy/models``. The KEEP most
recently written entries are kept. A folder that cannot be written, or an unreadable entry
or index, just means training as before.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Iterable

LIBRARIES = ("scikit-learn", "scipy", "numpy")
# what the quick key adds: the lemma table comes from spacy-lookups-data (through spaCy), the
# labelled sets are parsed by PyYAML
QUICK_LIBRARIES = LIBRARIES + ("spacy", "spacy-lookups-data", "PyYAML")
KEEP = 10  # entries kept (the most recently written); each is a model's JSON, ~1-2 MB
INDEX = "quick-keys.idx"  # quick key → fingerprint (not *.json: not an entry, never pruned as one)
INDEX_KEEP = 4 * KEEP  # quick keys kept in the index (several may lead to one entry)
_KEY = re.compile(r"[0-9a-f]{32}")  # a fingerprint, as an entry's name


def cache_dir() -> Path | None:
    """The cache folder, or None when the cache is off."""
    env = os.environ.get("CASESTUDY_MODEL_CACHE")
    if env is not None:
        return None if env.strip().lower() in ("", "off", "0", "no") else Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "casestudy" / "models"


def _library_versions(names: Iterable[str] = LIBRARIES) -> list[str]:
    return [f"{name}={_version(name)}" for name in names]


@functools.lru_cache(maxsize=None)
def _version(name: str) -> str:
    """An installed distribution's version (once per process: what is imported does not change)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "?"


def fingerprint(source: Path, settings: dict, examples: Iterable[tuple[str, list, float, list[str]]], labels: list[str]) -> str:
    """The key of a model: ``examples`` are (text, sorted labels, weight, feature terms)."""
    digest = hashlib.sha256()
    digest.update(source.read_bytes())
    digest.update(json.dumps([settings, labels, _library_versions()], sort_keys=True, default=str).encode())
    for example in examples:
        digest.update(json.dumps(example, ensure_ascii=False).encode("utf-8"))
    return digest.hexdigest()[:32]


def quick_fingerprint(sources: Iterable[Path], parts: object, files: Iterable[tuple[str, bytes]]) -> str:
    """The quick key: the bytes of ``sources``, ``parts`` (JSON-able: settings, RQs, the
    codebook's examples, the lemma table's digest …), the QUICK_LIBRARIES' and Python's
    versions, and each training file's name and bytes, in order."""
    digest = hashlib.sha256(b"quick-key 1\0")
    for source in sources:
        data = source.read_bytes()
        digest.update(f"{len(data)}\0".encode())
        digest.update(data)
    head = [parts, _library_versions(QUICK_LIBRARIES), sys.implementation.name, sys.version]
    digest.update(json.dumps(head, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8"))
    for name, data in files:
        digest.update(json.dumps([name, len(data), hashlib.sha256(data).hexdigest()]).encode("utf-8"))
    return digest.hexdigest()[:32]


def _read_index(folder: Path) -> dict[str, dict]:
    """The index (quick key → {"key", "version", "n_examples"}, oldest first); {} if absent
    or unreadable."""
    try:
        data = json.loads((folder / INDEX).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    entries = data.get("entries") if isinstance(data, dict) and data.get("format") == 1 else None
    if not isinstance(entries, dict):
        return {}
    return {q: e for q, e in entries.items()
            if isinstance(e, dict) and isinstance(e.get("key"), str) and _KEY.fullmatch(e["key"]) and isinstance(e.get("version"), str)
            and isinstance(e.get("n_examples"), int)}


def lookup(quick: str) -> dict | None:
    """What the index records under the quick key ``quick`` ({"key": the entry's fingerprint,
    "version" and "n_examples": the model's, to check the entry against}), or None."""
    folder = cache_dir()
    if folder is None:
        return None
    return _read_index(folder).get(quick)


def remember(quick: str, key: str, version: str, n_examples: int) -> None:
    """Record that the quick key ``quick`` leads to the entry ``key`` (a model of that
    version and number of examples). Keeps the INDEX_KEEP most recent quick keys whose entry
    still exists; written atomically, like an entry."""
    folder = cache_dir()
    if folder is None:
        return
    try:
        entries = _read_index(folder)
        entries.pop(quick, None)
        entries[quick] = {"key": key, "version": version, "n_examples": n_examples}  # newest last
        kept = {q: e for q, e in entries.items() if (folder / f"{e['key']}.json").is_file()}
        kept = dict(list(kept.items())[-INDEX_KEEP:])
        _write(folder, INDEX, json.dumps({"format": 1, "entries": kept}, sort_keys=False))
    except OSError:
        return


def _write(folder: Path, name: str, text: str) -> None:
    """Write ``folder / name`` atomically (a temporary file, then a rename)."""
    folder.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, folder / name)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def get(key: str) -> str | None:
    """The cached model JSON under ``key``, or None."""
    folder = cache_dir()
    if folder is None:
        return None
    try:
        return (folder / f"{key}.json").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def put(key: str, text: str) -> None:
    """Store ``text`` under ``key`` (atomically: a reader sees the whole entry or none)."""
    folder = cache_dir()
    if folder is None:
        return
    try:
        _write(folder, f"{key}.json", text)
        _prune(folder)
    except OSError:
        return


def _prune(folder: Path, keep: int = KEEP) -> None:
    """Delete all but the ``keep`` most recently written entries (an old codebook's models)."""
    entries = []
    for path in folder.glob("*.json"):
        try:
            entries.append((path.stat().st_mtime, path.name, path))
        except OSError:
            continue
    for _, _, path in sorted(entries, reverse=True)[keep:]:
        path.unlink(missing_ok=True)
