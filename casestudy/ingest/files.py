"""Ingest: files and folders of evidence into ``sources`` and ``excerpts``.

A folder is read through its ``manifest.csv``; options given on the command line
override the manifest. Each file is identified by its SHA-256: an unchanged file is
left alone, a changed one has its excerpts replaced (human codings and memos follow
their text to the new excerpts). Consent files are read first, so a transcript is only
stored when its participant consented to interview (SPEC rule 1).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import sqlite_utils

from casestudy import study
from casestudy.consent import register as consent
from casestudy.ingest import indicators
from casestudy.consent import pseudonyms
from casestudy.ingest import readers
from casestudy.db import SOURCE_KINDS, audit, fetch_rows, human_coder, insert_row, insert_rows, now, update_row
from casestudy.errors import CasestudyError
from casestudy.tables import iso_date, read_table

KINDS = (*SOURCE_KINDS, "consent", "names", "indicators")
META_FIELDS = ("kind", "ics", "collaborative", "wave", "date", "participant_id", "title")
MANIFEST = "manifest.csv"
STUDY_SETTINGS = "study.yaml"  # a study folder's settings, beside its manifest: read before anything else
META_ALIASES = {"participant": "participant_id", "type": "kind"}  # other column names for META_FIELDS
MANIFEST_ALIASES = {"file": "path", "filename": "path", **META_ALIASES}
# Kinds that are read before everything else, so transcripts can be checked against them.
FIRST_KINDS = ("consent", "names")


@dataclass
class Job:
    """One file to ingest, with the metadata that applies to it."""

    path: Path
    meta: dict = field(default_factory=dict)
    origin: str = "command line"
    problem: str | None = None  # a manifest row whose file is missing: refused, or skipped with --skip-bad

    @property
    def kind(self) -> str | None:
        return self.meta.get("kind")


@dataclass
class Report:
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    updated: list[tuple[str, str]] = field(default_factory=list)  # unchanged files whose metadata changed: (path, what)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    consent_files: list[str] = field(default_factory=list)
    settings_files: list[str] = field(default_factory=list)
    participants: dict = field(default_factory=lambda: {"participants": 0, "added": 0, "changed": 0})
    warnings: list[tuple[str, str]] = field(default_factory=list)
    excerpts: int = 0
    indicator_rows: int = 0

    def summary(self) -> str:
        parts = [
            f"{len(self.added)} added",
            f"{len(self.replaced)} replaced",
            f"{len(self.unchanged)} unchanged",
        ]
        if self.updated:
            parts.append(f"{len(self.updated)} with changed metadata")
        if self.consent_files:
            parts.append(f"{len(self.consent_files)} consent/name lists")
        if self.settings_files:
            parts.append("study settings")
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped")
        written = f"{self.excerpts} excerpts"
        if self.indicator_rows:
            written += f" and {self.indicator_rows} indicator values"
        register = ""
        if self.participants["participants"]:
            p = self.participants
            register = f"; consent register: {p['participants']} participants loaded ({p['added']} added, {p['changed']} changed)"
        return f"Ingested {', '.join(parts)}; {written} written{register}."


# --- planning: which files, with which metadata --------------------------------------


def clean_meta(meta: dict, where: "Path | str") -> dict:
    """Validate and normalise metadata values (kind, wave, date); drop empty ones."""
    clean = {k: (str(v).strip() if v is not None else "") for k, v in meta.items() if k in META_FIELDS}
    clean = {k: v for k, v in clean.items() if v}
    if "kind" in clean:
        kind = clean["kind"].lower().replace("_", "-").replace(" ", "-")
        kind = {"board-papers": "board-paper", "boardpaper": "board-paper", "transcripts": "transcript",
                "indicator": "indicators", "routine-indicators": "indicators"}.get(kind, kind)
        if kind not in KINDS:
            raise CasestudyError(f"unknown kind {clean['kind']!r} (use one of {', '.join(KINDS)})", where)
        clean["kind"] = kind
    if "wave" in clean:
        if not re.fullmatch(r"\d{1,2}", clean["wave"]) or int(clean["wave"]) < 1:
            raise CasestudyError(f"wave must be a whole number from 1, got {clean['wave']!r}", where)
        clean["wave"] = int(clean["wave"])
    if "date" in clean:
        clean["date"] = strict_date(clean["date"], where)
    return clean


def strict_date(value: str, where: "Path | str") -> str:
    """A date written as YYYY-MM-DD, or a one-line error; 05/06/2024 is never guessed."""
    text = value.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return iso_date(text, "date", where)
    numbers = re.fullmatch(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})", text)
    hint = ""
    if numbers:
        first, second, year = (int(n) for n in numbers.groups())
        if first > 12 >= second:
            hint = f" (for day {first}, month {second} write {year}-{second:02d}-{first:02d})"
        elif second > 12 >= first:
            hint = f" (for month {first}, day {second} write {year}-{first:02d}-{second:02d})"
        elif first <= 12 and second <= 12:
            hint = (f": day and month cannot be told apart; write {year}-{second:02d}-{first:02d} "
                    f"or {year}-{first:02d}-{second:02d}")
    raise CasestudyError(f"date must be written YYYY-MM-DD, got {text!r}{hint}", where)


def read_manifest(folder: Path, allow_outside: bool = False) -> list[Job]:
    """The files listed in ``folder/manifest.csv`` with their metadata. Paths must stay inside
    the folder (no absolute paths, no ``..`` or symlink out of it) unless ``allow_outside``:
    a shared folder's manifest must not pull any readable file on the machine into the study.
    A listed file that is missing becomes a job with a ``problem``: refused at ingest, or
    skipped with --skip-bad."""
    manifest = folder / MANIFEST
    rows = read_table(manifest, MANIFEST_ALIASES)
    if not rows:
        raise CasestudyError("manifest lists no files", manifest)
    if "path" not in rows[0]:
        raise CasestudyError("missing required column: path", manifest)
    jobs = []
    for number, row in enumerate(rows, start=2):
        where = f"{manifest} row {number}"
        if not row["path"]:
            raise CasestudyError("path is empty", where)
        path = (folder / row["path"]).resolve()
        if not allow_outside and not path.is_relative_to(folder.resolve()):
            raise CasestudyError(f"path leaves the folder: {row['path']} (give --allow-outside to ingest it)", where)
        problem = None if path.is_file() else f"file not found: {row['path']}"
        jobs.append(Job(path, clean_meta(row, where), origin=where, problem=problem))
    return jobs


def _manifest_row_for(path: Path) -> Job | None:
    """A single file's row in the manifest beside it, if there is one."""
    for folder in [path.parent, *path.parent.parents][:3]:
        if (folder / MANIFEST).is_file():
            try:
                jobs = read_manifest(folder)
            except CasestudyError:
                return None
            return next((j for j in jobs if j.path == path.resolve()), None)
    return None


def plan(paths: Iterable["str | Path"], overrides: dict | None = None, allow_outside: bool = False) -> list[Job]:
    """Expand files and folders into jobs; command-line ``overrides`` beat the manifest."""
    overrides = clean_meta(overrides or {}, "command line")
    jobs: list[Job] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise CasestudyError("no such file or folder", path)
        if path.is_dir():
            if (path / MANIFEST).is_file():
                found = read_manifest(path, allow_outside)
                if (path / STUDY_SETTINGS).is_file():
                    found.insert(0, Job((path / STUDY_SETTINGS).resolve(), {"kind": "study"}, origin=str(path / STUDY_SETTINGS)))
            elif overrides.get("kind"):
                found = [Job(p.resolve()) for p in sorted(path.rglob("*")) if p.is_file() and _supported(p, overrides["kind"])]
                if not found:
                    raise CasestudyError(f"no {overrides['kind']} files found in folder", path)
            else:
                raise CasestudyError("folder has no manifest.csv; add one or give --kind", path)
        else:
            found = [_manifest_row_for(path) or Job(path.resolve())]
        for job in found:
            if job.kind != "study":
                job.meta = {**job.meta, **overrides}
            if not job.kind and not job.problem:
                job.meta["kind"] = guess_kind(job.path)
            jobs.append(job)
    # consent registers and name lists first, then everything in the given order
    return sorted(jobs, key=lambda j: -1 if j.kind == "study" else 0 if j.kind in FIRST_KINDS else 1)


def _supported(path: Path, kind: str) -> bool:
    suffix = path.suffix.lower()
    if path.name == MANIFEST:
        return False
    if kind in ("consent", "names"):
        return suffix in readers.CONSENT_FORMATS
    if kind == "indicators":
        return suffix in indicators.FORMATS
    if kind == "transcript":
        return suffix in readers.TRANSCRIPT_FORMATS
    return suffix in readers.DOCUMENT_FORMATS


def guess_kind(path: Path) -> str:
    """The kind of a file nobody described: a WebVTT or a file with interviewer turns is a
    transcript, a table with consent columns is a consent register; otherwise ask."""
    suffix = path.suffix.lower()
    if suffix == ".vtt":
        return "transcript"
    if suffix in readers.CONSENT_FORMATS:
        table = read_table(path) if path.stat().st_size else []
        columns = set(table[0]) if table else set()  # a header-only file: let the register say so
        if {"name", "pseudonym"} <= columns:
            return "names"
        if {"indicator", "value"} <= columns:
            return "indicators"
        return "consent"
    if suffix in (".txt", ".md", ".docx") and readers.looks_like_transcript(path):
        return "transcript"
    raise CasestudyError("cannot tell what kind of evidence this is; give --kind (transcript, board-paper, policy or observation)", path)


# --- writing ------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Ingestor:
    """Ingests jobs into one database within the caller's transaction."""

    def __init__(self, db: sqlite_utils.Database, actor: str = "casestudy", new_ics: bool = False,
                 new_collaborative: bool = False):
        self.db = db
        self._names_cache: dict[tuple[str, ...], list[str]] | None = None  # register name words -> participant IDs
        self._speakers_cache: set[str] | None = None
        self.notes: list[str] = []  # what ingest inferred and the user should know
        self.actor = actor
        self._pseudonymise: pseudonyms.Pseudonymiser | None = None
        self._names_changed = False
        self.registry = study.Registry(db, actor, new_ics=new_ics, new_collaborative=new_collaborative)
        self.report = Report()

    @property
    def pseudonymise(self) -> pseudonyms.Pseudonymiser:
        if self._pseudonymise is None:
            self._pseudonymise = pseudonyms.from_db(self.db, store=True)
        return self._pseudonymise

    def _forget_names(self) -> None:
        """The register or a name list changed: build the pseudonymiser and name lookups again."""
        self._names_changed = True
        self._pseudonymise = None
        self._names_cache = None
        self._speakers_cache = None

    def run(self, jobs: list[Job], skip_bad: bool = False, progress: Callable[[Job], None] | None = None) -> Report:
        report = self.report
        for job in jobs:
            try:
                with self.db.atomic():  # a savepoint: a bad file leaves no trace
                    if job.problem:
                        raise CasestudyError(job.problem, job.origin)
                    self.ingest_one(job, report)
            except consent.WithdrawnParticipant as error:
                self.registry.settings = study.load(self.db)  # the savepoint took back what this file added
                # never stored, but not bad input: a folder may still hold a withdrawn participant's file
                report.skipped.append((str(job.path), self.safe_message(error.problem)))
            except CasestudyError as error:
                self.registry.settings = study.load(self.db)
                if not skip_bad:
                    raise CasestudyError(self.safe_message(error.problem), error.path) from None
                report.skipped.append((str(job.path), self.safe_message(error.problem)))
            if progress:
                progress(job)
        report.notes.extend(self.safe_message(note) for note in self.notes)
        report.notes.extend(self.registry.notes)
        if self._names_changed:  # the matcher's tables for the new names: later commands only load them
            pseudonyms.prepare(self.db)
        return report

    def safe_message(self, problem: str) -> str:
        """An error or warning about to be printed, with every listed name pseudonymised.

        Messages quote what a file holds (a speaker label, a cue line), and that can be a
        name from the consent register. The file's path is printed as the user gave it.
        """
        try:
            return self.pseudonymise(problem)
        except Exception:  # pragma: no cover - a broken name list must not hide the error itself
            return problem

    def ingest_one(self, job: Job, report: Report) -> None:
        if job.kind == "study":  # the folder's study.yaml: its ICSs, collaboratives and waves are declared
            study.save(self.db, study.read_yaml(job.path), self.actor)
            self.registry = study.Registry(self.db, self.actor, self.registry.new_ics, self.registry.new_collaborative)
            report.settings_files.append(str(job.path))
            return
        if job.kind == "consent":
            counts = consent.import_register(self.db, job.path, self.actor, check_ics=self.registry.ics)
            self._forget_names()
            report.consent_files.append(str(job.path))
            for key in ("participants", "added", "changed"):
                report.participants[key] += counts[key]
            for pid in counts.get("kept_withdrawals", []):
                report.warnings.append((str(job.path), f"{pid} has withdrawn; the withdrawal is kept (the file has no withdrawal date)"))
            return
        if job.kind == "names":
            self.import_names(job.path)
            report.consent_files.append(str(job.path))
            return
        if job.kind == "indicators":
            if job.path.stat().st_size == 0:
                raise CasestudyError("file is empty", job.path)
            status, rows = indicators.ingest_file(self.db, job.path, sha256_file(job.path), self.actor, registry=self.registry)
            getattr(report, status).append(str(job.path))
            report.indicator_rows += rows
            return
        status, excerpts = self.ingest_source(job)
        if status != "updated":
            getattr(report, status).append(str(job.path))
        report.excerpts += excerpts

    def import_names(self, path: Path) -> None:
        """A list of extra names (``name, pseudonym``), e.g. staff named in board minutes."""
        rows = read_table(path)
        if rows and not {"name", "pseudonym"} <= set(rows[0]):
            raise CasestudyError("a name list needs the columns name and pseudonym", path)
        names = {}
        for number, row in enumerate(rows, start=2):
            if not row["name"] or not row["pseudonym"]:
                raise CasestudyError(f"row {number}: name and pseudonym must both be given", path)
            names[row["name"]] = row["pseudonym"]
        if pseudonyms.set_names(self.db, names, origin=f"name list {path.name}"):
            self._forget_names()
            pseudonyms.refresh_display_text(self.db)
            # no file name: a name list's file name may itself hold a name
            audit(self.db, self.actor, "names.import", "names", sha256=sha256_file(path), names=len(names))

    # -- sources and excerpts --

    def ingest_source(self, job: Job) -> tuple[str, int]:
        """Store one file of evidence; return ('added'|'replaced'|'unchanged', excerpts)."""
        path = job.path
        if path.stat().st_size == 0:
            raise CasestudyError("file is empty", path)
        self.check_metadata(job)
        digest = sha256_file(path)
        existing = self.db.execute("SELECT id, sha256, participant_id FROM sources WHERE path = ?", [str(path)]).fetchone()
        if existing and existing[1] == digest:
            if job.kind == "transcript" and existing[2]:
                given = job.meta.get("participant_id")
                if given and given.lower() != existing[2].lower():
                    raise CasestudyError(
                        f"this file is stored as {existing[2]}'s transcript, not {given}'s; nothing changed", path
                    )
                self.check_against_register(job, existing[2])
            changes = self._update_metadata(existing[0], job)
            if changes:
                self.report.updated.append((str(path), changes))
                return "updated", 0
            return "unchanged", 0
        twin = self.db.execute("SELECT path FROM sources WHERE sha256 = ? AND path != ?", [digest, str(path)]).fetchone()
        if twin and not existing:
            return "unchanged", 0  # the same file under another name is already stored
        excerpts, title, pages = self.parse(job)
        record = self._source_record(job, digest, excerpts, title, pages)
        if existing:
            self._replace(existing[0], record, excerpts)
            return "replaced", len(excerpts)
        source_id = insert_row(self.db, "sources", record)
        self._insert_excerpts(source_id, excerpts)
        # the source id, kind and hash, never the file name (board-siobhan-ni-bhriain-2024.docx):
        # names never go into the audit log; the path stays in sources.path
        audit(self.db, self.actor, "source.add", str(source_id), kind=job.kind, sha256=digest)
        return "added", len(excerpts)

    def parse(self, job: Job) -> tuple[list[dict], str | None, int | None]:
        if job.kind == "transcript":
            parsed = readers.read_transcript(job.path, self._known_speakers())
            pid = self._transcript_participant(job, parsed)
            consent.check_interview_consent(self.db, pid, job.path)
            parsed.excerpts = readers.join_across_backchannels(parsed.excerpts)
            self.check_against_register(job, pid)
            rows = [self._turn_row(turn, pid) for turn in parsed.excerpts]
        else:
            parsed = readers.read_document(job.path)
            self.report.warnings.extend((str(job.path), warning) for warning in parsed.warnings)
            rows = [
                {"text": ex.text, "page": ex.page, "heading": ex.heading, "speaker_role": None, "is_interviewer": 0}
                for ex in parsed.excerpts
            ]
        return rows, parsed.title, parsed.pages

    def _known_speakers(self) -> set[str]:
        if self._speakers_cache is None:
            names = {row[0] for row in self.db.execute("SELECT name FROM participants WHERE name IS NOT NULL")}
            # names tied to a participant in the name list (e.g. added by `import qdpx`) label their turns too
            names |= {row[0] for row in self.db.execute("SELECT name FROM pseudonyms WHERE participant_id IS NOT NULL")}
            self._speakers_cache = names | {row[0] for row in self.db.execute("SELECT id FROM participants")}
        return self._speakers_cache

    def _transcript_participant(self, job: Job, parsed: readers.ParsedFile) -> str:
        """The participant of a transcript: from --participant, the manifest, or the speaker label.

        One transcript holds one participant. When a label names the participant (an ID or
        a register name) and the file has no interviewer label, the one other voice is the
        interviewer (Teams and Zoom write the researcher's own name). Any further unknown
        voice is refused rather than counted as the participant's words.
        """
        labels = {label: self._participant_for_label(label) for label in parsed.speakers}
        pid = job.meta.get("participant_id")
        if not pid:
            found = list(dict.fromkeys(p for p in labels.values() if p))
            if len(found) > 1:
                raise CasestudyError(
                    f"participants {' and '.join(found)} both speak; one transcript holds one participant", job.path
                )
            if not found:
                # an ID-like label that is not in the register: say so, rather than "cannot tell"
                ids = [label for label in labels if re.fullmatch(r"P\d+", label)]
                if len(ids) != 1:
                    raise CasestudyError(
                        "cannot tell who the participant is; give --participant or a participant_id in the manifest",
                        job.path,
                    )
                found = ids
            pid = found[0]
        if self.db.execute("SELECT 1 FROM participants WHERE id = ?", [pid]).fetchone() is None:
            raise CasestudyError(f"participant {pid} has no consent record; ingest the consent register first", job.path)
        foreign = [label for label, owner in labels.items()
                   if owner is None and re.fullmatch(r"P\d+", label, re.I) and label.upper() != pid.upper()]
        if foreign:
            raise CasestudyError(
                f"the turns are labelled {foreign[0]!r}, another participant ID than {pid}; check --participant "
                f"(or the manifest) and the file's speaker labels",
                job.path,
            )
        others = [label for label, owner in labels.items() if owner not in (None, pid)]
        unknown = [label for label, owner in labels.items() if owner is None]
        named = any(owner == pid for owner in labels.values())
        has_interviewer = any(t.is_interviewer for t in parsed.excerpts)
        if not named and not has_interviewer and not others and len(unknown) == 2:
            # two voices, neither labelled: the one who asks the questions interviews
            interviewer = readers.likely_interviewer(parsed.excerpts, unknown)
            self._mark_interviewer(parsed, interviewer)
            self.notes.append(f"{job.path.name}: {interviewer!r} taken as the interviewer (asks the questions)")
        elif named and len(unknown) == 1 and not has_interviewer and not others:
            self._mark_interviewer(parsed, unknown[0])
        elif others or len(unknown) > 1 or (named and unknown):
            speaker = (others or unknown)[0]
            raise CasestudyError(
                f"speaker {speaker!r} is neither the interviewer nor participant {pid}; one transcript holds one participant",
                job.path,
            )
        job.meta["participant_id"] = pid
        return pid

    @staticmethod
    def _mark_interviewer(parsed: readers.ParsedFile, speaker: str) -> None:
        for turn in parsed.excerpts:
            if turn.speaker == speaker:
                turn.is_interviewer = True
        parsed.speakers = [s for s in parsed.speakers if s != speaker]

    def _participant_for_label(self, label: str) -> str | None:
        """The participant a speaker label names: their ID, or their register name as a call
        tool shows it ("Daniel Achterberg (Guest)", "ACHTERBERG, Daniel (CASTLEBY NHS TRUST)")."""
        row = self.db.execute(
            "SELECT id FROM participants WHERE lower(id) = lower(?) OR lower(name) = lower(?)", [label, label]
        ).fetchone()
        if row:
            return row[0]
        key = readers.name_key(label)
        if len(key) < 2:
            return None
        matches = self._register_names().get(key, [])
        return matches[0] if len(matches) == 1 else None

    def _register_names(self) -> dict[tuple[str, ...], list[str]]:
        """The participants of each register name, by its words (one lookup a label, however long the register)."""
        if self._names_cache is None:
            self._names_cache = {}
            for pid, name in self.db.execute("SELECT id, name FROM participants WHERE name IS NOT NULL"):
                self._names_cache.setdefault(readers.name_key(name), []).append(pid)
        return self._names_cache

    @staticmethod
    def _turn_row(turn: readers.Excerpt, pid: str) -> dict:
        return {
            "text": turn.text,
            "speaker": turn.speaker,
            "speaker_role": "interviewer" if turn.is_interviewer else "participant",
            "participant_id": None if turn.is_interviewer else pid,
            "is_interviewer": int(turn.is_interviewer),
            "turn": turn.turn,
            "start_time": turn.start_time,
            "end_time": turn.end_time,
        }

    def _source_record(self, job: Job, digest: str, excerpts: list[dict], title: str | None, pages: int | None) -> dict:
        meta = job.meta
        text = "\n\n".join(e["text"] for e in excerpts)
        return {
            "path": str(job.path),
            "sha256": digest,
            "kind": job.kind,
            "format": job.path.suffix.lower().lstrip("."),
            "title": self._title(job, title),
            "ics_id": self._ics_id(meta),
            "collaborative_id": self._collaborative_id(meta),
            "wave": meta.get("wave"),
            "date": meta.get("date"),
            "participant_id": meta.get("participant_id") if job.kind == "transcript" else None,
            "text": text,
            "pages": pages,
            "words": len(text.split()),
            "ingested_at": now(),
        }

    def _title(self, job: Job, parsed_title: str | None) -> str:
        if job.meta.get("title"):
            return self.pseudonymise(job.meta["title"])
        if job.kind == "transcript":
            when = job.meta.get("date") or (f"wave {job.meta['wave']}" if job.meta.get("wave") else "undated")
            return f"Interview with {job.meta['participant_id']} ({when})"
        return self.pseudonymise(parsed_title or job.path.stem.replace("-", " ").replace("_", " "))

    def _ics_id(self, meta: dict) -> int | None:
        if not meta.get("ics"):
            return None
        return self.db.execute("SELECT id FROM ics WHERE lower(name) = lower(?)", [meta["ics"]]).fetchone()[0]

    def _collaborative_id(self, meta: dict) -> int | None:
        if not meta.get("collaborative"):
            return None
        return self.db.execute("SELECT id FROM collaboratives WHERE lower(name) = lower(?)", [meta["collaborative"]]).fetchone()[0]

    # -- metadata checks (SPEC rule 6) --

    def check_metadata(self, job: Job) -> None:
        """ICS, collaborative and wave checked against the study settings (the declared
        spelling kept); a blank ICS filled from the collaborative's; a date outside its wave
        warned about."""
        meta, where = job.meta, job.origin if job.origin != "command line" else job.path
        if meta.get("ics"):
            meta["ics"] = self.registry.ics(meta["ics"], where)
        if meta.get("collaborative"):
            meta["collaborative"], ics = self.registry.collaborative(meta["collaborative"], meta.get("ics"), where)
            if ics and not meta.get("ics"):
                meta["ics"] = ics
        if meta.get("wave") is not None:
            self.registry.wave(meta["wave"], where)
        warning = self.registry.date_warning(meta.get("date"), meta.get("wave"))
        if warning:
            self.report.warnings.append((str(job.path), warning))

    def check_against_register(self, job: Job, pid: str) -> None:
        """A transcript's ICS comes from the consent register when not given; a different
        one is refused (the register is where a participant's ICS is recorded)."""
        row = self.db.execute(
            "SELECT i.name FROM participants p LEFT JOIN ics i ON i.id = p.ics_id WHERE p.id = ?", [pid]
        ).fetchone()
        registered = row[0] if row else None
        if not registered:
            return
        given = job.meta.get("ics")
        if not given:
            job.meta["ics"] = registered
            collaborative = self.registry.settings.find_collaborative(job.meta.get("collaborative") or "")
            if collaborative and collaborative.ics and collaborative.ics.lower() != registered.lower():
                raise CasestudyError(
                    f"collaborative {collaborative.name!r} belongs to ICS {collaborative.ics!r}, but the consent "
                    f"register has {pid} in {registered!r}",
                    job.path,
                )
        elif given.lower() != registered.lower():
            raise CasestudyError(
                f"ICS {given!r} contradicts the consent register, which has {pid} in {registered!r}; "
                f"leave the ICS out (it is taken from the register) or correct the register",
                job.path,
            )

    def _update_metadata(self, source_id: int, job: Job) -> str:
        """An unchanged file given new metadata gets it, audited; returns what changed
        (e.g. ``wave 1 → 2; date 2024-05-02 → 2024-06-01``), empty when nothing did."""
        if not any(job.meta.get(k) for k in ("ics", "collaborative", "wave", "date", "title")):
            return ""
        current = fetch_rows(self.db, "SELECT * FROM sources WHERE id = ?", [source_id])[0]
        updates = {
            "ics_id": self._ics_id(job.meta) or current["ics_id"],
            "collaborative_id": self._collaborative_id(job.meta) or current["collaborative_id"],
            "wave": job.meta.get("wave", current["wave"]),
            "date": job.meta.get("date", current["date"]),
        }
        if job.meta.get("title"):
            updates["title"] = self.pseudonymise(job.meta["title"])
        changed = {k: v for k, v in updates.items() if current[k] != v}
        if not changed:
            return ""
        update_row(self.db, "sources", source_id, changed)
        audit(self.db, self.actor, "source.metadata", str(source_id), **changed)
        return "; ".join(self._describe_change(k, current[k], v) for k, v in changed.items())

    def _describe_change(self, key: str, old, new) -> str:
        def name(table: str, row_id) -> str:
            row = self.db.execute(f"SELECT name FROM {table} WHERE id = ?", [row_id]).fetchone() if row_id else None
            return row[0] if row else "(none)"

        if key == "ics_id":
            return f"ICS {name('ics', old)} → {name('ics', new)}"
        if key == "collaborative_id":
            return f"collaborative {name('collaboratives', old)} → {name('collaboratives', new)}"
        return f"{key} {old if old is not None else '(none)'} → {new}"

    def _insert_excerpts(self, source_id: int, excerpts: list[dict]) -> None:
        """Insert excerpts with offsets into the source text."""
        offset = 0
        rows = []
        headings: dict[str, str] = {}  # a source repeats its headings: each pseudonymised once
        for seq, excerpt in enumerate(excerpts, start=1):
            text = excerpt["text"]
            heading = excerpt.get("heading")
            if heading and heading not in headings:
                headings[heading] = self.pseudonymise(heading)
            rows.append(
                {
                    **excerpt,
                    "source_id": source_id,
                    "seq": seq,
                    "display_text": self.pseudonymise(text),
                    "display_heading": headings[heading] if heading else None,
                    "text_sha": sha256_text(text),
                    "char_start": offset,
                    "char_end": offset + len(text),
                }
            )
            offset += len(text) + 2
        # indexed for full-text search in one statement, not by the per-row trigger (db migration 4)
        conn = self.db.conn
        conn.execute("INSERT INTO fts_deferred (source_id) VALUES (?)", [source_id])
        columns = sorted({key for row in rows for key in row})
        if rows:
            # one prepared statement for the whole file (sqlite-utils' insert_all rebuilds it per batch)
            conn.executemany(
                f"INSERT INTO excerpts ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                [tuple(row.get(column) for column in columns) for row in rows],
            )
        conn.execute("INSERT INTO excerpts_fts (rowid, text) SELECT id, text FROM excerpts WHERE source_id = ?", [source_id])
        conn.execute("DELETE FROM fts_deferred WHERE source_id = ?", [source_id])

    def _excerpt_ids_by_hash(self, source_id: int) -> dict[str, int]:
        """Text hash → id of the source's first excerpt with that text."""
        by_hash: dict[str, int] = {}
        for excerpt_id, text_sha in self.db.execute(
            "SELECT id, text_sha FROM excerpts WHERE source_id = ? ORDER BY seq", [source_id]
        ):
            by_hash.setdefault(text_sha, excerpt_id)
        return by_hash

    def _replace(self, source_id: int, record: dict, excerpts: list[dict]) -> None:
        """A changed file: new excerpts, human codings and memos kept where their text survives."""
        db = self.db
        kept_codings = [
            dict(row)
            for row in db.query(
                f"""SELECT c.*, e.text_sha FROM codings c JOIN excerpts e ON e.id = c.excerpt_id
                    WHERE e.source_id = ? AND ({human_coder()} OR c.status != 'suggested')""",
                [source_id],
            )
        ]
        kept_memos = [
            dict(row)
            for row in db.query(
                "SELECT m.*, e.text_sha FROM memos m JOIN excerpts e ON e.id = m.excerpt_id WHERE e.source_id = ?",
                [source_id],
            )
        ]
        old_ids = "SELECT id FROM excerpts WHERE source_id = ?"
        db.execute(f"DELETE FROM codings WHERE excerpt_id IN ({old_ids})", [source_id])
        db.execute(f"DELETE FROM memos WHERE excerpt_id IN ({old_ids})", [source_id])
        db.execute("DELETE FROM excerpts WHERE source_id = ?", [source_id])
        update_row(db, "sources", source_id, record)
        self._insert_excerpts(source_id, excerpts)
        by_hash = self._excerpt_ids_by_hash(source_id)
        codings = _follow_text(kept_codings, by_hash)
        insert_rows(db, "codings", codings, or_ignore=True)
        insert_rows(db, "memos", _follow_text(kept_memos, by_hash))
        moved, lost = len(codings), len(kept_codings) - len(codings)
        audit(
            db,
            self.actor,
            "source.replace",
            str(source_id),
            kind=record["kind"],
            sha256=record["sha256"],
            human_codings_kept=moved,
            human_codings_lost=lost,
        )


def _follow_text(rows: list[dict], by_hash: dict[str, int]) -> list[dict]:
    """Rows (codings, memos) of a replaced source's excerpts, moved to the new excerpt with the
    same text (``text_sha``), without their old id; rows whose text is gone are left out."""
    moved = []
    for row in rows:
        new_id = by_hash.get(row["text_sha"])
        if new_id is not None:
            moved.append({**{k: v for k, v in row.items() if k not in ("id", "text_sha")}, "excerpt_id": new_id})
    return moved


def ingest_jobs(db: sqlite_utils.Database, jobs: list[Job], *, actor: str = "casestudy", skip_bad: bool = False,
                progress=None, new_ics: bool = False, new_collaborative: bool = False) -> Report:
    """Ingest planned jobs in one transaction: all or nothing unless ``skip_bad``.

    ``new_ics`` / ``new_collaborative`` accept (and add to the study settings) an ICS or
    collaborative the settings do not know; otherwise one is refused (SPEC rule 6)."""
    with db.atomic():
        return Ingestor(db, actor, new_ics=new_ics, new_collaborative=new_collaborative).run(
            jobs, skip_bad=skip_bad, progress=progress
        )


def ingest(db: sqlite_utils.Database, paths: Iterable["str | Path"], overrides: dict | None = None, **options) -> Report:
    """Plan and ingest ``paths`` (files or folders) in one transaction."""
    return ingest_jobs(db, plan(paths, overrides), **options)
