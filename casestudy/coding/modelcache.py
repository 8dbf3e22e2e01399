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

Where: ``$CASESTUDY_MODEL_CACHE`` (``off`` turns the cache off), else
``$XDG_CACHE_HOME/casestudy/models``, else ``~/.cache/casestudy/models``. The KEEP most
recently written entries are kept. A folder that cannot be written, or an unreadable entry,
just means training as before.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Iterable

LIBRARIES = ("scikit-learn", "scipy", "numpy")
KEEP = 10  # entries kept (the most recently written); each is a model's JSON, ~1-2 MB


def cache_dir() -> Path | None:
    """The cache folder, or None when the cache is off."""
    env = os.environ.get("CASESTUDY_MODEL_CACHE")
    if env is not None:
        return None if env.strip().lower() in ("", "off", "0", "no") else Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "casestudy" / "models"


def _library_versions() -> list[str]:
    out = []
    for name in LIBRARIES:
        try:
            out.append(f"{name}={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            out.append(f"{name}=?")
    return out


def fingerprint(source: Path, settings: dict, examples: Iterable[tuple[str, list, float, list[str]]], labels: list[str]) -> str:
    """The key of a model: ``examples`` are (text, sorted labels, weight, feature terms)."""
    digest = hashlib.sha256()
    digest.update(source.read_bytes())
    digest.update(json.dumps([settings, labels, _library_versions()], sort_keys=True, default=str).encode())
    for example in examples:
        digest.update(json.dumps(example, ensure_ascii=False).encode("utf-8"))
    return digest.hexdigest()[:32]


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
        folder.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=folder, prefix=f".{key}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(tmp, folder / f"{key}.json")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
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
