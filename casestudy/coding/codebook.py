"""The codebook: research questions, their themes and the patterns that suggest them.

A codebook is a folder of YAML files: one per research question (``rq1-*.yaml`` …) and an
optional ``codebook.yaml`` with the codebook's name, description, scoring settings and
lemma overrides. ``load`` reads and validates a folder into a :class:`Codebook`; every
problem is one ``CasestudyError`` naming the file (and the line, for YAML syntax
errors). ``store`` writes the codes into the ``codes`` table and the version into
``codebooks``.

The version is a short hex digest of the codebook's canonical content (parsed YAML
serialised as sorted JSON, plus the coding engine's own version), so it is the same on
every machine and does not change when only comments, key order or whitespace change.

The default codebook is found, in order, at ``$CASESTUDY_CODEBOOK``, the repository's
``codebook/`` beside the package, or the copy shipped inside the package
(``casestudy/default_codebook/``, put there when a wheel is built).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import sqlite_utils

from casestudy.db import fetch_rows, insert_row, now, update_row
from casestudy.errors import CasestudyError

# Bump when the way patterns are applied changes, so every codebook gets a new version
# and `casestudy code` re-codes (human decisions are kept).
ENGINE_VERSION = "1"

RQS = ("RQ1", "RQ2", "RQ3", "RQ4", "RQ5", "RQ6")
SETTINGS_FILE = "codebook.yaml"
CODE_ID = re.compile(r"^(RQ[1-6])\.[a-z0-9]+(?:-[a-z0-9]+)*$")
COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")

CODE_FIELDS = ("id", "name", "description", "inclusion", "exclusion", "example", "colour", "patterns")
RQ_FIELDS = {"rq", "name", "description", "colour", "examples", "key_terms", "codes"}
PATTERN_KINDS = {"phrases", "lemmas", "tokens", "weak", "exclude", "context"}
SETTINGS_FIELDS = {"name", "description", "min_score", "weak_weight", "lemmas", "files"}


@dataclass
class Code:
    id: str
    rq: str
    name: str
    description: str = ""
    inclusion: str = ""
    exclusion: str = ""
    example: str = ""
    colour: str = ""
    parent_id: str | None = None
    codable: bool = True
    sort: int = 0
    # patterns (empty for the top-level RQ codes)
    phrases: list[str] = field(default_factory=list)  # exact wording, any case (LOWER)
    lemmas: list[str] = field(default_factory=list)  # any inflection (LEMMA)
    tokens: list[list[dict]] = field(default_factory=list)  # spaCy Matcher patterns
    weak: list[str] = field(default_factory=list)  # cue words (LEMMA) that need corroboration
    exclude: list[str] = field(default_factory=list)  # phrases (LEMMA) that veto an overlapping match
    # phrases (LEMMA) of which at least one must occur in the excerpt (outside an exclude) for
    # the code to be suggested at all; they add no score ("the hospice" only counts for RQ2
    # where membership, joining or partnership is talked about)
    context: list[str] = field(default_factory=list)
    # an RQ's own examples: how people talk about the question in general words (training
    # text for the learned model; empty for themes, whose one example is ``example``)
    examples: list[str] = field(default_factory=list)
    # an RQ's key terms (LEMMA): the question's own headline words, which lower the learned
    # model's bar for the RQ (see engine.KEY_FLOOR; empty for themes)
    key_terms: list[str] = field(default_factory=list)
    path: str = ""


@dataclass
class Codebook:
    path: Path
    name: str
    description: str
    version: str
    codes: list[Code]
    min_score: float = 0.45
    weak_weight: float = 0.35
    lemma_overrides: dict[str, str] = field(default_factory=dict)
    # the parsed YAML the version is computed from (codebook.yaml without 'files', one dict per
    # RQ file): what a REFI-QDA export carries so an import gives back the same version
    raw_settings: dict = field(default_factory=dict)
    raw_files: list[dict] = field(default_factory=list)

    @property
    def codable(self) -> list[Code]:
        return [c for c in self.codes if c.codable]

    def get(self, code_id: str) -> Code | None:
        return next((c for c in self.codes if c.id == code_id), None)

    @property
    def coder(self) -> str:
        return f"auto:{self.version}"

    @property
    def key_terms(self) -> dict[str, list[str]]:
        """Each research question's key terms (only those that have any)."""
        return {c.rq: c.key_terms for c in self.codes if not c.codable and c.key_terms}


# --- finding -------------------------------------------------------------------------


def default_path() -> Path:
    """The codebook to use when none is given: $CASESTUDY_CODEBOOK, the repository's
    ``codebook/``, or the copy shipped inside the package."""
    env = os.environ.get("CASESTUDY_CODEBOOK")
    if env:
        return Path(env)
    package = Path(__file__).resolve().parents[1]  # casestudy/
    for candidate in (package.parent / "codebook", package / "default_codebook"):
        if candidate.is_dir() and any(candidate.glob("*.yaml")):
            return candidate
    raise CasestudyError("cannot find the default codebook; give --codebook DIR or set $CASESTUDY_CODEBOOK")


# --- loading and validation ----------------------------------------------------------


@functools.cache
def _loader():
    """A YAML loader with YAML 1.2-style booleans: only true/false. In YAML 1.1 ``no``, ``on``,
    ``yes``, ``off`` are booleans, which silently breaks word lists such as ``[a, the, no]``.
    Built on first use: PyYAML is not imported by commands that read no codebook."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {
        key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
        for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
    )
    return Loader


def _read_yaml(path: Path):
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise CasestudyError("not UTF-8 text", path) from None
    import yaml

    try:
        return yaml.load(text, Loader=_loader())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise CasestudyError(f"YAML syntax error{where}: {problem}", path) from None


def _text(value, what: str, path: Path, required: bool = True) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise CasestudyError(f"{what} is missing or empty", path)
        return ""
    if not isinstance(value, (str, int, float)):
        raise CasestudyError(f"{what} must be text", path)
    return " ".join(str(value).split())


def _string_list(value, what: str, path: Path) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise CasestudyError(f"{what} must be a list of phrases", path)
    out = []
    for item in value:
        if not isinstance(item, (str, int)) or not str(item).strip():
            raise CasestudyError(f"{what} has an empty or non-text entry: {item!r}", path)
        out.append(" ".join(str(item).split()))
    return out


def _token_patterns(value, what: str, path: Path) -> list[list[dict]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise CasestudyError(f"{what} must be a list of token patterns (each a list of token dicts)", path)
    for number, pattern in enumerate(value, start=1):
        if not isinstance(pattern, list) or not pattern or not all(isinstance(t, dict) and t for t in pattern):
            raise CasestudyError(f"{what} pattern {number} must be a non-empty list of token dicts", path)
    return value


@functools.lru_cache(maxsize=1)
def _validation_vocab():
    """One blank English vocabulary for validating every code's token patterns
    (``spacy.blank`` costs about 0.2 s each time)."""
    import spacy

    return spacy.blank("en").vocab


def _check_tokens(code: Code, path: Path) -> None:
    """Let spaCy validate the token patterns, turning its report into one line."""
    if not code.tokens:
        return
    from spacy.matcher import Matcher

    matcher = Matcher(_validation_vocab(), validate=True)
    for number, pattern in enumerate(code.tokens, start=1):
        try:
            matcher.add(code.id, [pattern])
        except Exception as exc:  # MatchPatternError, ValueError
            detail = [line.strip("- ").strip() for line in str(exc).splitlines() if line.strip().startswith("- [")]
            reason = "; ".join(detail) or " ".join(str(exc).split())
            raise CasestudyError(f"code {code.id}: bad token pattern {number}: {reason}", path) from None


def _load_code(raw, rq: str, path: Path, sort: int) -> Code:
    if not isinstance(raw, dict):
        raise CasestudyError(f"each entry under codes must be a mapping, got {raw!r}", path)
    code_id = raw.get("id")
    label = f"code {code_id}" if code_id else f"code number {sort}"
    missing = [f for f in CODE_FIELDS if raw.get(f) in (None, "", [], {})]
    if missing:
        raise CasestudyError(f"{label}: missing field(s): {', '.join(missing)}", path)
    unknown = sorted(set(raw) - set(CODE_FIELDS))
    if unknown:
        raise CasestudyError(f"{label}: unknown field(s): {', '.join(unknown)}", path)
    code_id = str(code_id)
    match = CODE_ID.match(code_id)
    if not match:
        raise CasestudyError(f"{label}: id must look like '{rq}.short-name' (lower case, digits, hyphens)", path)
    if match.group(1) != rq:
        raise CasestudyError(f"{label}: id belongs to {match.group(1)} but the file is for {rq}", path)
    colour = str(raw["colour"])
    if not COLOUR.match(colour):
        raise CasestudyError(f"{label}: colour must be #rrggbb, got {colour!r}", path)
    patterns = raw["patterns"]
    if not isinstance(patterns, dict):
        raise CasestudyError(f"{label}: patterns must be a mapping of {', '.join(sorted(PATTERN_KINDS))}", path)
    unknown = sorted(set(patterns) - PATTERN_KINDS)
    if unknown:
        raise CasestudyError(
            f"{label}: unknown pattern kind(s): {', '.join(map(str, unknown))} (use {', '.join(sorted(PATTERN_KINDS))})", path
        )
    code = Code(
        id=code_id,
        rq=rq,
        name=_text(raw["name"], f"{label}: name", path),
        description=_text(raw["description"], f"{label}: description", path),
        inclusion=_text(raw["inclusion"], f"{label}: inclusion", path),
        exclusion=_text(raw["exclusion"], f"{label}: exclusion", path),
        example=_text(raw["example"], f"{label}: example", path),
        colour=colour.lower(),
        parent_id=rq,
        codable=True,
        sort=sort,
        phrases=_string_list(patterns.get("phrases"), f"{label}: patterns.phrases", path),
        lemmas=_string_list(patterns.get("lemmas"), f"{label}: patterns.lemmas", path),
        tokens=_token_patterns(patterns.get("tokens"), f"{label}: patterns.tokens", path),
        weak=_string_list(patterns.get("weak"), f"{label}: patterns.weak", path),
        exclude=_string_list(patterns.get("exclude"), f"{label}: patterns.exclude", path),
        context=_string_list(patterns.get("context"), f"{label}: patterns.context", path),
        path=str(path),
    )
    if not (code.phrases or code.lemmas or code.tokens or code.weak):
        raise CasestudyError(f"{label}: patterns need at least one of phrases, lemmas, tokens or weak", path)
    _check_tokens(code, path)
    return code


def _load_rq_file(path: Path, data, sort_base: int) -> tuple[list[Code], dict]:
    if not isinstance(data, dict):
        raise CasestudyError("a research-question file must be a mapping with rq, name, description and codes", path)
    unknown = sorted(set(map(str, data)) - RQ_FIELDS)
    if unknown:
        raise CasestudyError(f"unknown field(s): {', '.join(unknown)}", path)
    rq = str(data.get("rq") or "").strip()
    if not rq:
        raise CasestudyError("missing field: rq (one of RQ1 … RQ6)", path)
    if rq not in RQS:
        raise CasestudyError(f"unknown research question {rq!r} (use one of {', '.join(RQS)})", path)
    name = _text(data.get("name"), f"{rq}: name", path)
    if not name.startswith(rq + " ") or len(name) <= len(rq) + 1:
        raise CasestudyError(f"{rq}: name must be '{rq} <short question>', got {name!r}", path)
    description = _text(data.get("description"), f"{rq}: description", path)
    colour = str(data.get("colour") or "#777777")
    if not COLOUR.match(colour):
        raise CasestudyError(f"{rq}: colour must be #rrggbb, got {colour!r}", path)
    raw_codes = data.get("codes")
    if not isinstance(raw_codes, list) or not raw_codes:
        raise CasestudyError(f"{rq}: codes must be a non-empty list of themes", path)
    examples = [_text(e, f"{rq}: examples entry", path) for e in _string_list(data.get("examples"), f"{rq}: examples", path)]
    key_terms = _string_list(data.get("key_terms"), f"{rq}: key_terms", path)
    wordless = next((term for term in key_terms if not re.search(r"[^\W_]", term)), None)
    if wordless is not None:
        raise CasestudyError(f"{rq}: key_terms entry {wordless!r} has no word in it", path)
    top = Code(id=rq, rq=rq, name=name, description=description, colour=colour.lower(), codable=False, sort=sort_base,
               examples=examples, key_terms=key_terms, path=str(path))
    codes = [top]
    for number, raw in enumerate(raw_codes, start=1):
        codes.append(_load_code(raw, rq, path, sort_base + number))
    return codes, data


def _load_settings(path: Path) -> dict:
    if not path.is_file():
        return {}
    data = _read_yaml(path) or {}
    if not isinstance(data, dict):
        raise CasestudyError("codebook.yaml must be a mapping (name, description, min_score, weak_weight, lemmas)", path)
    unknown = sorted(set(map(str, data)) - SETTINGS_FIELDS)
    if unknown:
        raise CasestudyError(f"unknown field(s): {', '.join(unknown)}", path)
    for key in ("min_score", "weak_weight"):
        if key in data and (not isinstance(data[key], (int, float)) or not 0 < data[key] <= 1):
            raise CasestudyError(f"{key} must be a number above 0 and at most 1", path)
    lemmas = data.get("lemmas") or {}
    if not isinstance(lemmas, dict) or not all(isinstance(k, str) and isinstance(v, str) and k.strip() and v.strip() for k, v in lemmas.items()):
        raise CasestudyError("lemmas must map words to lemmas, e.g. 'collaboratives: collaborative'", path)
    bad = [k for k in lemmas if len(k.split()) != 1 or len(lemmas[k].split()) != 1]
    if bad:
        raise CasestudyError(f"lemma overrides must be single words: {bad[0]!r}", path)
    files = data.get("files")
    if files is not None and (not isinstance(files, list) or not all(isinstance(f, str) for f in files)):
        raise CasestudyError("files must be a list of file names", path)
    return data


def load(folder: "str | Path | None" = None) -> Codebook:
    """Read and validate the codebook in ``folder`` (default: :func:`default_path`)."""
    folder = Path(folder) if folder is not None else default_path()
    if not folder.exists():
        raise CasestudyError("no such codebook folder", folder)
    if folder.is_file():
        raise CasestudyError("a codebook is a folder of YAML files, not a single file", folder)
    settings_path = folder / SETTINGS_FILE
    settings = _load_settings(settings_path)
    if settings.get("files"):
        files = []
        for name in settings["files"]:
            path = folder / name
            if not path.is_file():
                raise CasestudyError(f"files lists {name!r}, which does not exist", settings_path)
            files.append(path)
    else:
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".yaml", ".yml") and p.name != SETTINGS_FILE)
    if not files:
        raise CasestudyError("no research-question YAML files in codebook folder", folder)

    codes: list[Code] = []
    canonical_files = []
    seen_rq: dict[str, Path] = {}
    seen_id: dict[str, Path] = {}
    for index, path in enumerate(files):
        data = _read_yaml(path)
        file_codes, raw = _load_rq_file(path, data, sort_base=(index + 1) * 100)
        rq = file_codes[0].rq
        if rq in seen_rq:
            raise CasestudyError(f"{rq} is defined twice (also in {seen_rq[rq].name})", path)
        seen_rq[rq] = path
        for code in file_codes:
            if code.id in seen_id:
                other = seen_id[code.id]
                where = "earlier in this file" if other == path else f"also in {other.name}"
                raise CasestudyError(f"duplicate code id {code.id} ({where})", path)
            seen_id[code.id] = path
        codes.extend(file_codes)
        canonical_files.append(raw)

    lemma_overrides = {k.strip().lower(): v.strip().lower() for k, v in (settings.get("lemmas") or {}).items()}
    canonical = {
        "engine": ENGINE_VERSION,
        "settings": {k: settings[k] for k in sorted(settings) if k != "files"},
        "rqs": sorted(canonical_files, key=lambda d: str(d.get("rq"))),
    }
    digest = hashlib.sha256(json.dumps(canonical, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8"))
    codes.sort(key=lambda c: (c.rq, c.sort))
    return Codebook(
        path=folder,
        name=_text(settings.get("name"), "name", settings_path, required=False) or folder.name,
        description=_text(settings.get("description"), "description", settings_path, required=False),
        version=digest.hexdigest()[:12],
        codes=codes,
        min_score=float(settings.get("min_score", 0.45)),
        weak_weight=float(settings.get("weak_weight", 0.35)),
        lemma_overrides=lemma_overrides,
        raw_settings=canonical["settings"],
        raw_files=canonical["rqs"],
    )


# --- storing -------------------------------------------------------------------------


def store(db: sqlite_utils.Database, book: Codebook) -> dict:
    """Upsert the codebook's codes and record its version (inside the caller's transaction).

    A code that is no longer in the codebook is deleted, unless codings or memos refer to
    it: then it stays (with the version that last defined it) so nothing loses its code.
    Returns counts: added, updated, removed, kept (retired but still referenced).
    """
    existing = {row["id"]: row for row in fetch_rows(db, "SELECT * FROM codes")}
    counts = {"added": 0, "updated": 0, "removed": 0, "kept": 0}
    # parents first, so the parent_id foreign key is always satisfied
    for code in sorted(book.codes, key=lambda c: (c.codable, c.rq, c.sort)):
        record = {
            "id": code.id,
            "rq": code.rq,
            "parent_id": code.parent_id,
            "name": code.name,
            "description": code.description,
            "inclusion": code.inclusion or None,
            "exclusion": code.exclusion or None,
            "example": code.example or None,
            "colour": code.colour,
            "codable": int(code.codable),
            "sort": code.sort,
            "codebook_version": book.version,
        }
        old = existing.get(code.id)
        if old is None:
            insert_row(db, "codes", record)
            counts["added"] += 1
        elif {k: old.get(k) for k in record} != record:
            update_row(db, "codes", code.id, record)
            counts["updated"] += 1
    current = {c.id for c in book.codes}
    retired = [cid for cid in existing if cid not in current]
    # children before parents
    for code_id in sorted(retired, key=lambda cid: -cid.count(".")):
        used = db.execute(
            """SELECT (SELECT count(*) FROM codings WHERE code_id = :id)
                    + (SELECT count(*) FROM memos WHERE code_id = :id)
                    + (SELECT count(*) FROM codes WHERE parent_id = :id)""",
            {"id": code_id},
        ).fetchone()[0]
        if used:
            counts["kept"] += 1
        else:
            db.execute("DELETE FROM codes WHERE id = ?", [code_id])
            counts["removed"] += 1
    db["codebooks"].upsert(
        {"version": book.version, "path": str(book.path), "loaded_at": now(), "n_codes": len(book.codable)},
        pk="version",
    )
    return counts
