"""Study settings: what the study is, who runs it, and what it knows (ICSs, collaboratives, waves).

Everything a user sees that describes *the study* reads these settings: the Word report's cover,
the Datasette home page and column descriptions, the REFI-QDA project. Ingest uses the same
settings as its registry (SPEC rule 6): an ICS, collaborative or wave the study does not know is
refused unless declared as new.

Storage (see docs/study.md): the settings live in the working database, so they are backed up,
versioned by migrations and changed in the same transaction as the ingest that relies on them:

- ``study`` (key, value): title, subtitle, description, pi, authors (JSON list), funder, grant,
  status (``draft`` or ``final``);
- ``ics`` (name, full_name) and ``collaboratives`` (name, ics_id, type, governance_model): the
  registry tables the schema always had;
- ``waves`` (number, year, start, end): the fieldwork waves.

A ``study.yaml`` file is the way to write them by hand (``casestudy study import`` /
``casestudy study export``). ``publish`` copies them into the publish database (table
``study_settings``) so exports and Datasette read them from there (:func:`load_published`).
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from casestudy.db import audit
from casestudy.errors import CasestudyError

SCALARS = ("title", "subtitle", "description", "pi", "funder", "grant", "status")
STATUSES = ("draft", "final")
PUBLISHED_TABLE = "study_settings"
# the YAML/CLI spelling of a field -> the attribute
ALIASES = {"grant_reference": "grant", "grant_ref": "grant", "principal_investigator": "pi", "icss": "ics"}


@dataclass
class Ics:
    name: str
    full_name: str | None = None


@dataclass
class Collaborative:
    name: str
    ics: str | None = None
    type: str | None = None
    governance_model: str | None = None


@dataclass
class Wave:
    """A fieldwork wave: a number, and a calendar year or a date range (ISO dates)."""

    number: int
    year: int | None = None
    start: str | None = None
    end: str | None = None

    def span(self) -> tuple[str | None, str | None]:
        """First and last date of the wave (from the year when no range is given)."""
        if self.start or self.end:
            return self.start, self.end
        if self.year:
            return f"{self.year}-01-01", f"{self.year}-12-31"
        return None, None

    def years(self) -> str:
        """``2025``, ``2025–2026`` or empty when the wave has no dates."""
        first, last = self.span()
        years = [d[:4] for d in (first, last) if d]
        if not years:
            return ""
        return years[0] if len(set(years)) == 1 else f"{years[0]}–{years[-1]}"

    def contains(self, date: str) -> bool:
        first, last = self.span()
        return (first is None or date >= first) and (last is None or date <= last)


@dataclass
class StudySettings:
    title: str = ""
    subtitle: str = ""
    description: str = ""
    pi: str = ""
    authors: list[str] = field(default_factory=list)
    funder: str = ""
    grant: str = ""
    status: str = "draft"
    ics: list[Ics] = field(default_factory=list)
    collaboratives: list[Collaborative] = field(default_factory=list)
    waves: list[Wave] = field(default_factory=list)

    # -- look-ups --

    def ics_names(self) -> list[str]:
        return [i.name for i in self.ics]

    def collaborative_names(self, ics: str | None = None) -> list[str]:
        return [c.name for c in self.collaboratives if ics is None or (c.ics or "").lower() == ics.lower()]

    def find_ics(self, name: str) -> Ics | None:
        return next((i for i in self.ics if i.name.lower() == name.strip().lower()), None)

    def find_collaborative(self, name: str) -> Collaborative | None:
        return next((c for c in self.collaboratives if c.name.lower() == name.strip().lower()), None)

    def wave(self, number: int | None) -> Wave | None:
        return next((w for w in self.waves if number is not None and w.number == int(number)), None)

    def wave_for_date(self, date: str) -> Wave | None:
        """The wave whose dates contain ``date`` (only waves that have dates)."""
        return next((w for w in self.waves if any(w.span()) and w.contains(date)), None)

    def is_empty(self) -> bool:
        return not any(getattr(self, k) for k in SCALARS if k != "status") and not (
            self.authors or self.ics or self.collaboratives or self.waves
        )

    # -- text for people --

    def display_title(self) -> str:
        return self.title or "Case study of NHS provider collaboratives"

    def ics_phrase(self) -> str:
        """``A, B and C`` (empty when none are declared)."""
        return join_names(self.ics_names())

    def waves_phrase(self) -> str:
        """``2024, 2025 and 2026`` or ``waves 1, 2 and 3``."""
        years = [w.years() for w in self.waves]
        if self.waves and all(years):
            return join_names(years)
        return ("waves " + join_names([str(w.number) for w in self.waves])) if self.waves else ""

    def summary(self) -> str:
        """One sentence describing the study, from its settings only."""
        if self.description:
            return self.description
        parts = ["A qualitative case study of NHS provider collaboratives"]
        if self.ics:
            parts.append(f"in {self.ics_phrase()} ({'ICS' if len(self.ics) == 1 else 'ICSs'})")
        if self.waves:
            parts.append(f"over {len(self.waves)} wave{'s' if len(self.waves) != 1 else ''} ({self.waves_phrase()})")
        return " ".join(parts) + "."

    def to_dict(self) -> dict:
        """The settings as the YAML file writes them (collaboratives nested under their ICS)."""
        data: dict[str, Any] = {k: getattr(self, k) for k in ("title", "subtitle", "description", "pi")}
        data["authors"] = list(self.authors)
        data.update({"funder": self.funder, "grant": self.grant, "status": self.status})
        data["ics"] = []
        for i in self.ics:
            entry: dict[str, Any] = {"name": i.name}
            if i.full_name:
                entry["full_name"] = i.full_name
            collaboratives = [_collab_dict(c) for c in self.collaboratives if (c.ics or "").lower() == i.name.lower()]
            if collaboratives:
                entry["collaboratives"] = collaboratives
            data["ics"].append(entry)
        loose = [c for c in self.collaboratives if not c.ics or not self.find_ics(c.ics)]
        if loose:
            data["collaboratives"] = [{**_collab_dict(c), **({"ics": c.ics} if c.ics else {})} for c in loose]
        data["waves"] = [{k: v for k, v in asdict(w).items() if v is not None} for w in self.waves]
        return data


def _collab_dict(c: Collaborative) -> dict:
    return {k: v for k, v in (("name", c.name), ("type", c.type), ("governance_model", c.governance_model)) if v}


def join_names(names: list[str]) -> str:
    names = [n for n in names if n]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def wave_label(settings: StudySettings, n: int | None) -> str:
    """``wave 2 (2025)`` from the settings; ``wave 2`` when the wave has no dates; ``no wave`` for None."""
    if n is None or n == "":
        return "no wave"
    wave = settings.wave(int(n))
    years = wave.years() if wave else ""
    return f"wave {int(n)} ({years})" if years else f"wave {int(n)}"


# --- validation (from YAML or the command line) ---------------------------------------------


def check_date(value: Any, what: str, where: "str | Path | None" = None) -> str:
    """An ISO date (YYYY-MM-DD) or a one-line error."""
    if isinstance(value, _dt.date):
        return value.isoformat()
    text = str(value).strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            return _dt.date.fromisoformat(text).isoformat()
        except ValueError:
            pass
    raise CasestudyError(f"{what} must be a date as YYYY-MM-DD, got {text!r}", where)


def make_wave(number: Any, year: Any = None, start: Any = None, end: Any = None, where=None) -> Wave:
    try:
        number = int(number)
        if number < 1:
            raise ValueError
    except (TypeError, ValueError):
        raise CasestudyError(f"a wave number must be a whole number from 1, got {number!r}", where) from None
    if year not in (None, ""):
        try:
            year = int(year)
            if not 1900 <= year <= 2200:
                raise ValueError
        except (TypeError, ValueError):
            raise CasestudyError(f"wave {number}: year must be a year such as 2025, got {year!r}", where) from None
    else:
        year = None
    start = check_date(start, f"wave {number} start", where) if start not in (None, "") else None
    end = check_date(end, f"wave {number} end", where) if end not in (None, "") else None
    if start and end and start > end:
        raise CasestudyError(f"wave {number}: start {start} is after end {end}", where)
    if year and (start or end) and any(d[:4] != str(year) for d in (start, end) if d):
        raise CasestudyError(f"wave {number}: its dates are not in its year {year}; give a year or a date range", where)
    return Wave(number, year, start, end)


def from_dict(data: Any, where: "str | Path | None" = None) -> StudySettings:
    """Settings from a parsed YAML mapping; a one-line error for anything malformed."""
    if data is None:
        return StudySettings()
    if not isinstance(data, dict):
        raise CasestudyError("study settings must be a mapping of fields (title:, ics:, waves: ...)", where)
    data = {ALIASES.get(str(k).strip().lower(), str(k).strip().lower()): v for k, v in data.items()}
    known = set(SCALARS) | {"authors", "ics", "collaboratives", "waves"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise CasestudyError(f"unknown field {unknown[0]!r} (known: {', '.join(sorted(known))})", where)
    settings = StudySettings()
    for key in SCALARS:
        if data.get(key) is not None:
            if isinstance(data[key], (dict, list)):
                raise CasestudyError(f"{key} must be text", where)
            setattr(settings, key, str(data[key]).strip())
    settings.status = (settings.status or "draft").lower()
    if settings.status not in STATUSES:
        raise CasestudyError(f"status must be draft or final, got {settings.status!r}", where)
    authors = data.get("authors") or []
    if isinstance(authors, str):
        authors = [a.strip() for a in re.split(r";|\n", authors)]
    if not isinstance(authors, list):
        raise CasestudyError("authors must be a list of names", where)
    settings.authors = [str(a).strip() for a in authors if str(a or "").strip()]
    for entry in _as_list(data.get("ics"), "ics", where):
        entry = {"name": entry} if isinstance(entry, str) else entry
        if not isinstance(entry, dict) or not str(entry.get("name") or "").strip():
            raise CasestudyError("every ICS needs a name", where)
        name = str(entry["name"]).strip()
        if settings.find_ics(name):
            raise CasestudyError(f"ICS {name!r} is listed twice", where)
        settings.ics.append(Ics(name, _text(entry.get("full_name"))))
        for c in _as_list(entry.get("collaboratives"), f"ICS {name} collaboratives", where):
            settings.collaboratives.append(_collaborative(c, name, where))
    for c in _as_list(data.get("collaboratives"), "collaboratives", where):
        settings.collaboratives.append(_collaborative(c, None, where))
    seen: set[str] = set()
    for c in settings.collaboratives:
        if c.name.lower() in seen:
            raise CasestudyError(f"collaborative {c.name!r} is listed twice", where)
        seen.add(c.name.lower())
        if c.ics and not settings.find_ics(c.ics):
            settings.ics.append(Ics(c.ics))
    for w in _as_list(data.get("waves"), "waves", where):
        if isinstance(w, (int, str)):
            w = {"number": w}
        if not isinstance(w, dict):
            raise CasestudyError("every wave needs a number (and a year or start/end dates)", where)
        wave = make_wave(w.get("number"), w.get("year"), w.get("start"), w.get("end"), where)
        if settings.wave(wave.number):
            raise CasestudyError(f"wave {wave.number} is listed twice", where)
        settings.waves.append(wave)
    settings.waves.sort(key=lambda w: w.number)
    return settings


def _as_list(value: Any, what: str, where) -> list:
    if value in (None, ""):
        return []
    if not isinstance(value, list):
        raise CasestudyError(f"{what} must be a list", where)
    return value


def _text(value: Any) -> str | None:
    return str(value).strip() or None if value is not None else None


def _collaborative(entry: Any, ics: str | None, where) -> Collaborative:
    entry = {"name": entry} if isinstance(entry, str) else entry
    if not isinstance(entry, dict) or not str(entry.get("name") or "").strip():
        raise CasestudyError("every collaborative needs a name", where)
    return Collaborative(
        str(entry["name"]).strip(),
        ics or _text(entry.get("ics")),
        _text(entry.get("type")),
        _text(entry.get("governance_model") or entry.get("governance")),
    )


def read_yaml(path: "str | Path") -> StudySettings:
    """Settings from a ``study.yaml`` file."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise CasestudyError("no such file", path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError:
        raise CasestudyError("not a UTF-8 text file", path) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise CasestudyError(f"not valid YAML{at}: {getattr(error, 'problem', None) or error}", path) from None
    return from_dict(data, path)


def to_yaml(settings: StudySettings) -> str:
    import yaml

    return yaml.safe_dump(settings.to_dict(), sort_keys=False, allow_unicode=True, width=100)


# --- the working database ------------------------------------------------------------------


def load(db) -> StudySettings:
    """The settings of the working database (``sqlite_utils.Database`` or ``sqlite3.Connection``)."""
    conn = getattr(db, "conn", db)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
    settings = StudySettings()
    if "study" in tables:
        values = dict(conn.execute("SELECT key, value FROM study").fetchall())
        for key in SCALARS:
            if values.get(key):
                setattr(settings, key, values[key])
        if values.get("authors"):
            settings.authors = json.loads(values["authors"])
    if "ics" in tables:
        settings.ics = [Ics(n, f) for n, f in conn.execute("SELECT name, full_name FROM ics ORDER BY id")]
    if "collaboratives" in tables:
        settings.collaboratives = [
            Collaborative(*row)
            for row in conn.execute(
                """SELECT c.name, i.name, c.type, c.governance_model FROM collaboratives c
                   LEFT JOIN ics i ON i.id = c.ics_id ORDER BY c.id"""
            )
        ]
    if "waves" in tables:
        settings.waves = [Wave(*row) for row in conn.execute('SELECT number, year, start, "end" FROM waves ORDER BY number')]
    return settings


def _ics_id(db, name: str) -> int | None:
    row = db.execute("SELECT id FROM ics WHERE lower(name) = lower(?)", [name.strip()]).fetchone()
    return row[0] if row else None


def set_field(db, key: str, value: Any, actor: str) -> None:
    """Set one scalar field (or ``authors``, a list) and audit it."""
    key = ALIASES.get(key, key)
    if key == "authors":
        value = value if isinstance(value, list) else [a.strip() for a in str(value).split(";")]
        stored = json.dumps([a for a in value if a])
    elif key in SCALARS:
        stored = str(value or "").strip()
        if key == "status":
            stored = stored.lower() or "draft"
            if stored not in STATUSES:
                raise CasestudyError(f"status must be draft or final, got {value!r}")
    else:
        raise CasestudyError(f"unknown setting {key!r} (known: {', '.join(SCALARS + ('authors',))})")
    old = db.execute("SELECT value FROM study WHERE key = ?", [key]).fetchone()
    if (old[0] if old else "") == stored:
        return
    db["study"].upsert({"key": key, "value": stored}, pk="key")
    audit(db, actor, "study.set", key, value=stored)


def add_ics(db, name: str, actor: str, full_name: str | None = None, reason: str = "declared") -> int:
    """Declare an ICS (or update its full name); return its id. Audited."""
    name = name.strip()
    if not name:
        raise CasestudyError("an ICS needs a name")
    existing = _ics_id(db, name)
    if existing is not None:
        if full_name and full_name != db["ics"].get(existing)["full_name"]:
            db["ics"].update(existing, {"full_name": full_name})
            audit(db, actor, "study.ics", name, full_name=full_name)
        return existing
    new_id = db["ics"].insert({"name": name, "full_name": full_name or None}).last_pk
    audit(db, actor, "study.add-ics", name, full_name=full_name, reason=reason)
    return new_id


def add_collaborative(
    db, name: str, actor: str, ics: str | None = None, type: str | None = None,
    governance_model: str | None = None, reason: str = "declared",
) -> int:
    """Declare a collaborative (in a known ICS) or update its details; return its id. Audited."""
    name = name.strip()
    if not name:
        raise CasestudyError("a collaborative needs a name")
    ics_id = None
    if ics:
        ics_id = _ics_id(db, ics)
        if ics_id is None:
            known = ", ".join(load(db).ics_names()) or "none yet"
            raise CasestudyError(f"unknown ICS {ics!r} (known: {known}); add it first with `casestudy study add-ics`")
    row = db.execute("SELECT id, ics_id, type, governance_model FROM collaboratives WHERE lower(name) = lower(?)", [name]).fetchone()
    details = {"ics_id": ics_id, "type": type, "governance_model": governance_model}
    if row:
        current = {"ics_id": row[1], "type": row[2], "governance_model": row[3]}
        updates = {k: v for k, v in details.items() if v is not None and current[k] != v}
        if updates:
            db["collaboratives"].update(row[0], updates)
            audit(db, actor, "study.collaborative", name, **updates)
        return row[0]
    new_id = db["collaboratives"].insert({"name": name, **details}).last_pk
    audit(db, actor, "study.add-collaborative", name, ics=ics, type=type, governance_model=governance_model, reason=reason)
    return new_id


def add_wave(db, wave: Wave, actor: str) -> None:
    """Declare a wave or change its dates. Audited."""
    row = db.execute('SELECT number, year, start, "end" FROM waves WHERE number = ?', [wave.number]).fetchone()
    record = {"number": wave.number, "year": wave.year, "start": wave.start, "end": wave.end}
    if row and Wave(*row) == wave:
        return
    db["waves"].upsert(record, pk="number")
    audit(db, actor, "study.wave" if row else "study.add-wave", str(wave.number),
          **{k: v for k, v in record.items() if k != "number"})


def remove(db, what: str, name: str, actor: str) -> None:
    """Remove an ICS, collaborative or wave that nothing refers to yet. Audited."""
    if what == "wave":
        number = int(name)
        used = db.execute("SELECT count(*) FROM sources WHERE wave = ?", [number]).fetchone()[0]
        if used:
            raise CasestudyError(f"wave {number} has {used} source(s); it cannot be removed")
        if not db.execute("DELETE FROM waves WHERE number = ?", [number]).rowcount:
            raise CasestudyError(f"no wave {number} in the study settings")
    else:
        table, column = {"ics": ("ics", "ics_id"), "collaborative": ("collaboratives", "collaborative_id")}[what]
        row = db.execute(f"SELECT id, name FROM {table} WHERE lower(name) = lower(?)", [name.strip()]).fetchone()
        if row is None:
            raise CasestudyError(f"no {what} {name!r} in the study settings")
        refs = [("sources", column), ("indicators", column)]
        refs += [("participants", "ics_id"), ("organisations", "ics_id"), ("collaboratives", "ics_id")] if what == "ics" else [("memberships", "collaborative_id")]
        for ref_table, ref_column in refs:
            if ref_table in db.table_names() and db.execute(f"SELECT 1 FROM {ref_table} WHERE {ref_column} = ?", [row[0]]).fetchone():
                raise CasestudyError(f"{what} {row[1]!r} is used by {ref_table}; it cannot be removed")
        db.execute(f"DELETE FROM {table} WHERE id = ?", [row[0]])
        name = row[1]
    audit(db, actor, f"study.remove-{what}", str(name))


def save(db, settings: StudySettings, actor: str) -> None:
    """Merge ``settings`` into the working database: fields set, ICSs/collaboratives/waves
    added or updated (nothing removed; see :func:`remove`). Call inside a transaction."""
    for key in SCALARS:
        value = getattr(settings, key)
        if value or key == "status":
            set_field(db, key, value, actor)
    if settings.authors:
        set_field(db, "authors", settings.authors, actor)
    for i in settings.ics:
        add_ics(db, i.name, actor, i.full_name)
    for c in settings.collaboratives:
        add_collaborative(db, c.name, actor, c.ics, c.type, c.governance_model)
    for w in settings.waves:
        add_wave(db, w, actor)


# --- the publish database ------------------------------------------------------------------


def write_published(out, settings: StudySettings) -> None:
    """Copy the settings into a publish database (``sqlite_utils.Database``): ``study_settings``."""
    data = settings.to_dict()
    rows = [{"key": k, "value": v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)} for k, v in data.items()]
    rows.append({"key": "wave_labels", "value": json.dumps({str(w.number): wave_label(settings, w.number) for w in settings.waves})})
    out[PUBLISHED_TABLE].create({"key": str, "value": str}, pk="key")
    out[PUBLISHED_TABLE].insert_all(rows)


def load_published(conn_or_path) -> StudySettings:
    """The settings copied into a publish database (a path, ``sqlite3.Connection`` or
    ``sqlite_utils.Database``); empty settings for a publish database built before they existed."""
    if isinstance(conn_or_path, (str, Path)):
        path = Path(conn_or_path)
        if not path.is_file():
            raise CasestudyError("no such publish database", path)
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return load_published(conn)
        finally:
            conn.close()
    conn = getattr(conn_or_path, "conn", conn_or_path)
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", [PUBLISHED_TABLE]).fetchone():
        return StudySettings()
    data: dict[str, Any] = {}
    for key, value in conn.execute(f"SELECT key, value FROM {PUBLISHED_TABLE}"):
        if key == "wave_labels":
            continue
        data[key] = value if key in SCALARS else json.loads(value)
    return from_dict(data)


# --- the registry ingest checks against (SPEC rule 6) ------------------------------------------


class Registry:
    """What the study knows, for checking the metadata of files being ingested.

    An ICS or collaborative not in the settings is refused with a message naming the known
    ones, unless ``new_ics`` / ``new_collaborative`` declare it as new (then it is added and
    audited). A study that has declared no ICS at all (a fresh database) accepts the first
    ones it is given, adds them and says so in :attr:`notes`: from then on the rule bites.
    The same holds for collaboratives. Waves are checked only once any wave is declared
    (a wave needs its year or dates, which ingest cannot invent).
    """

    def __init__(self, db, actor: str, new_ics: bool = False, new_collaborative: bool = False):
        self.db = db
        self.actor = actor
        self.new_ics = new_ics
        self.new_collaborative = new_collaborative
        self.settings = load(db)
        self.open_ics = not self.settings.ics
        self.open_collaboratives = not self.settings.collaboratives
        self.notes: list[str] = []
        self.added: list[str] = []

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def ics(self, name: str, where) -> str:
        """The declared spelling of ICS ``name``; adds it when allowed, else refuses."""
        found = self.settings.find_ics(name)
        if found:
            return found.name
        known = ", ".join(self.settings.ics_names())
        if not (self.new_ics or self.open_ics):
            raise CasestudyError(
                f"unknown ICS {name.strip()!r} (the study's ICSs: {known}); fix the spelling, or add it with "
                f"--new-ics or `casestudy study add-ics`",
                where,
            )
        reason = "--new-ics" if self.new_ics else "first ICS of a study with none declared"
        add_ics(self.db, name, self.actor, reason=reason)
        self.settings = load(self.db)
        self.added.append(f"ICS {name.strip()}")
        if not self.new_ics:
            self._note("the study settings declared no ICS, so the ICSs given were added to them: "
                       "from now on an ICS that is not in the settings is refused (see `casestudy study show`)")
        return name.strip()

    def collaborative(self, name: str, ics: str | None, where) -> tuple[str, str | None]:
        """The declared collaborative ``name`` and its ICS (filled from the settings when
        ``ics`` is blank); refuses an unknown one, or one that belongs to another ICS."""
        found = self.settings.find_collaborative(name)
        if found:
            if ics and found.ics and found.ics.lower() != ics.lower():
                raise CasestudyError(
                    f"collaborative {found.name!r} belongs to ICS {found.ics!r}, not {ics!r} (see `casestudy study show`)", where
                )
            return found.name, found.ics or ics
        if not (self.new_collaborative or self.open_collaboratives):
            in_ics = self.settings.collaborative_names(ics) if ics else []
            known = ", ".join(in_ics or self.settings.collaborative_names())
            scope = f"in {ics}" if in_ics else "of the study"
            raise CasestudyError(
                f"unknown collaborative {name.strip()!r} (the collaboratives {scope}: {known}); fix the spelling, "
                f"or add it with --new-collaborative or `casestudy study add-collaborative`",
                where,
            )
        reason = "--new-collaborative" if self.new_collaborative else "first collaborative of a study with none declared"
        add_collaborative(self.db, name, self.actor, ics=ics, reason=reason)
        self.settings = load(self.db)
        self.added.append(f"collaborative {name.strip()}")
        if not self.new_collaborative:
            self._note("the study settings declared no collaborative, so the collaboratives given were added to them: "
                       "from now on a collaborative that is not in the settings is refused")
        return name.strip(), ics

    def wave(self, number: int, where) -> None:
        """Refuse a wave the settings do not declare (once any wave is declared)."""
        if not self.settings.waves:
            self._note("the study settings declare no waves, so wave numbers are not checked and show without "
                       "years; declare them with `casestudy study add-wave N --year YYYY`")
            return
        if self.settings.wave(number) is None:
            known = ", ".join(wave_label(self.settings, w.number) for w in self.settings.waves)
            raise CasestudyError(
                f"unknown wave {number} (the study's waves: {known}); declare it with `casestudy study add-wave`", where
            )

    def date_warning(self, date: str | None, number: int | None) -> str | None:
        """A warning when ``date`` falls outside the dates of wave ``number``."""
        wave = self.settings.wave(number) if number is not None else None
        if not date or wave is None or not any(wave.span()) or wave.contains(date):
            return None
        first, last = wave.span()
        return f"date {date} is outside {wave_label(self.settings, number)} ({first or '...'} to {last or '...'})"

    def wave_of_date(self, date: str) -> int | None:
        wave = self.settings.wave_for_date(date)
        return wave.number if wave else None
