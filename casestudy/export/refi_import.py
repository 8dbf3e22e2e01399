"""`casestudy import qdpx FILE`: a coded REFI-QDA project (NVivo, ATLAS.ti, MAXQDA, QualCoder,
or a casestudy export) into the working database.

* **Sources** become documents of the kind the user says (``--kind``, or a ``--sources``
  CSV per source name: kind, participant_id, ics, collaborative, wave, date, title), else the
  kind our own exports record in a ``source kind`` variable. Each text goes through the
  ordinary ingest (consent check, speaker turns, pseudonymised display text), so a transcript
  of a participant without interview consent refuses the whole import. Transcript
  participants come from the CSV, a ``participant`` variable, or a case named after a
  participant ID. Names that label the participant's turns, or name their case, and are not
  in the consent register are added to the name list with the participant's pseudonym.
* **Codes** are placed under RQ1 … RQ6 as ``import qdc`` places them (``--rq``, ``--map``);
  codes the database does not have are added under their research question.
* **Codings**: every *human* coding (its selection's or coding's ``creatingUser``, not an
  ``auto:``/``learned:`` coder) on each excerpt its selection overlaps, as an accepted coding
  by that person with its date: accepted evidence and training data. An automatic suggestion
  a researcher accepted (``Automatic suggestion accepted by …``) comes back as accepted by
  them. A selection on part of an excerpt becomes a span coding (``span_start``/``span_end``);
  each coding is also recorded in ``decisions`` (by its coder), as the workspace records one.
* **Memos**: Notes on a selection, a source, a code or the project.

Everything happens in one transaction: a refused file (hostile XML, zip slip, zip bomb, a
participant without consent) leaves the database exactly as it was.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import sqlite_utils

from casestudy.consent import pseudonyms
from casestudy.db import SOURCE_KINDS, audit, insert_row, insert_rows, is_machine_coder, now
from casestudy.errors import CasestudyError
from casestudy.export import refi
from casestudy.export.refi import _child, _children, _local
from casestudy.ingest import files as ingest_files
from casestudy.ingest import readers

KINDS = SOURCE_KINDS
WITHHELD = re.compile(r"^(?:[^\n:]{1,40}: )?\[withheld[^\]]*\]$")


@dataclass
class ProjectImport:
    sources_added: int = 0
    sources_unchanged: int = 0
    excerpts: int = 0
    codings: Counter = field(default_factory=Counter)  # coder -> codings imported
    machine_skipped: int = 0
    partial: int = 0
    interviewer_skipped: int = 0
    unplaced: int = 0
    duplicates: int = 0
    memos: int = 0
    codes_added: list[str] = field(default_factory=list)
    names_added: int = 0
    report: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        coders = ", ".join(f"{c} {n}" for c, n in sorted(self.codings.items())) or "none"
        out = [
            f"{self.sources_added} sources added, {self.sources_unchanged} already there; {self.excerpts} excerpts",
            f"{sum(self.codings.values())} human codings imported as accepted ({coders})",
        ]
        if self.machine_skipped:
            out.append(f"{self.machine_skipped} unreviewed automatic codings left out (casestudy suggests its own)")
        if self.partial:
            out.append(f"{self.partial} codings cover part of an excerpt: kept as span codings")
        if self.interviewer_skipped:
            out.append(f"{self.interviewer_skipped} codings on interviewer turns left out (never evidence)")
        if self.unplaced:
            out.append(f"{self.unplaced} codings on text that is in no excerpt (labels, withheld text) left out")
        if self.duplicates:
            out.append(f"{self.duplicates} codings were already in the database")
        if self.codes_added:
            out.append(f"{len(self.codes_added)} codes added to the database: {', '.join(self.codes_added[:6])}"
                       + (" …" if len(self.codes_added) > 6 else ""))
        if self.names_added:
            out.append(f"{self.names_added} names not in the consent register added to the name list (pseudonymised)")
        out.append(f"{self.memos} memos")
        return out + self.report


# --- reading the project -------------------------------------------------------------------


def _users(root) -> dict[str, str]:
    users = {}
    for el in root.iter():
        if _local(el.tag) == "User" and el.get("guid"):
            users[_g(el.get("guid"))] = " ".join((el.get("name") or el.get("id") or "unknown").split())
    return users


def _g(value: str | None) -> str:
    return (value or "").strip().strip("{}").lower()


def _variables(root) -> dict[str, str]:
    out = {}
    for el in root.iter():
        if _local(el.tag) == "Variable" and el.get("guid"):
            out[_g(el.get("guid"))] = (el.get("name") or "").strip()
    return out


def _values(element, variables: dict[str, str]) -> dict[str, str]:
    out = {}
    for value in _children(element, "VariableValue"):
        ref = _child(value, "VariableRef")
        data = next((c for c in value if _local(c.tag) != "VariableRef"), None)
        if ref is not None and data is not None and data.text:
            out[variables.get(_g(ref.get("targetGUID")), "").lower()] = data.text.strip()
    return out


def read_source_map(path: "str | Path") -> dict[str, dict]:
    """``--sources`` CSV: name (the source's name in the project), kind, participant_id, ics,
    collaborative, wave, date, title."""
    from casestudy.tables import read_table

    path = Path(path)
    if not path.is_file():
        raise CasestudyError("no such sources file", path)
    rows = read_table(path, {"source": "name", **ingest_files.META_ALIASES})
    if rows and "name" not in rows[0]:
        raise CasestudyError("a sources file needs a column name (the source's name in the project)", path)
    out = {}
    for number, row in enumerate(rows, start=2):
        meta = ingest_files.clean_meta(row, f"{path} row {number}")  # the manifest's columns, checked the same way
        out[" ".join((row["name"] or "").split()).lower()] = meta
    return out


@dataclass
class Selection:
    start: int
    end: int
    user: str | None
    created: str | None
    description: str
    codings: list[tuple[str, str | None, str | None]]  # (code guid, user, created)
    notes: list[str]


def _selections(source_el, users) -> list[Selection]:
    out = []
    for sel in _children(source_el, "PlainTextSelection"):
        try:
            start, end = int(sel.get("startPosition")), int(sel.get("endPosition"))
        except (TypeError, ValueError):
            continue
        user = users.get(_g(sel.get("creatingUser") or sel.get("modifyingUser")))
        created = sel.get("creationDateTime") or sel.get("modifiedDateTime")
        desc = _child(sel, "Description")
        codings = []
        for coding in _children(sel, "Coding"):
            ref = _child(coding, "CodeRef")
            if ref is None:
                continue
            codings.append((_g(ref.get("targetGUID")), users.get(_g(coding.get("creatingUser"))),
                            coding.get("creationDateTime")))
        notes = [_g(n.get("targetGUID")) for n in _children(sel, "NoteRef")]
        out.append(Selection(min(start, end), max(start, end), user, created,
                             (desc.text or "").strip() if desc is not None else "", codings, notes))
    return out


# --- aligning excerpts with the project's text ---------------------------------------------------


def align(text: str, excerpts: list[tuple[int, str]]) -> dict[int, tuple[int, int]]:
    """Where each excerpt's text is in the project's plain text (in order): exact first, then
    the same words with any whitespace between them."""
    spans, cursor = {}, 0
    for excerpt_id, body in excerpts:
        at = text.find(body, cursor)
        if at >= 0:
            spans[excerpt_id] = (at, at + len(body))
            cursor = at + len(body)
            continue
        words = body.split()
        if not words:
            continue
        match = re.compile(r"\s+".join(re.escape(w) for w in words[:400])).search(text, cursor)
        if match and len(words) <= 400:
            spans[excerpt_id] = (match.start(), match.end())
            cursor = match.end()
    return spans


def _clean_text(text: str) -> str:
    """The text to ingest: withheld placeholders (a consent-safe export's) left out."""
    paragraphs = re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n"))
    return "\n\n".join(p for p in paragraphs if not WITHHELD.match(p.strip()))


def _iso(value: str | None) -> str | None:
    return refi._dt_value(value) if value else None


# --- the import ----------------------------------------------------------------------------------


class ProjectImporter:
    def __init__(self, db: sqlite_utils.Database, path: Path, actor: str, kind: str | None, source_map: dict,
                 rq: str | None, mapping: dict | None):
        self.db, self.path, self.actor = db, path, actor
        self.kind = kind
        self.source_map = source_map
        self.rq, self.mapping = rq, mapping
        self.result = ProjectImport()
        self.register = {r[0] for r in db.execute("SELECT id FROM participants")}
        self.register_names = {(r[0] or "").lower() for r in db.execute("SELECT name FROM participants WHERE name IS NOT NULL")}

    # -- codes --
    def codes(self, refi_file) -> dict[str, str | None]:
        from casestudy.coding import codebook as codebook_lib

        try:
            known = codebook_lib.load()
        except CasestudyError:
            known = None
        plan = refi.plan_codebook(refi_file, self.path, rq=self.rq, mapping=self.mapping, known_book=known)
        existing = {r[0] for r in self.db.execute("SELECT id FROM codes")}
        for code in plan.new_codes:
            if code["id"] in existing:
                continue
            if code["parent_id"] and code["parent_id"] not in existing:
                continue  # its RQ code is added first (new_codes is in order)
            insert_row(self.db, "codes", {**code, "sort": 9000 + len(self.result.codes_added), "codebook_version": f"imported:{self._sha[:12]}"})
            existing.add(code["id"])
            if code["codable"]:
                self.result.codes_added.append(code["id"])
        self.result.report += plan.report
        return plan.code_for_guid

    # -- sources --
    def source_meta(self, name: str, values: dict[str, str], case_names: list[str]) -> dict:
        meta = dict(self.source_map.get(name.lower(), {}))
        from_vars = {"kind": values.get("source kind"), "ics": values.get("ics"), "collaborative": values.get("collaborative"),
                     "wave": values.get("wave"), "date": values.get("date"), "participant_id": values.get("participant"),
                     "title": values.get("title")}
        from_vars = ingest_files.clean_meta({k: v for k, v in from_vars.items() if v}, f"{self.path}: source {name!r}") if any(
            from_vars.values()) else {}
        for key, value in from_vars.items():
            meta.setdefault(key, value)
        if self.kind:
            meta.setdefault("kind", self.kind)
        if not meta.get("kind"):
            raise CasestudyError(f"source {name!r}: say which kind of document it is (--kind, or a row in --sources)", self.path)
        if meta["kind"] not in KINDS:
            raise CasestudyError(f"source {name!r}: kind must be one of {', '.join(KINDS)}", self.path)
        if meta["kind"] == "transcript" and not meta.get("participant_id"):
            ids = [c for c in case_names if c in self.register]
            if len(ids) == 1:
                meta["participant_id"] = ids[0]
            else:
                raise CasestudyError(
                    f"source {name!r}: which participant is it? give participant_id in --sources "
                    "(or a case named after the participant ID)", self.path)
        meta.setdefault("title", name)
        return meta

    def pseudonymise_names(self, pid: str, text: str, case_names: list[str]) -> None:
        """Speaker labels and case names that are not in the register become the participant's pseudonym."""
        found: Counter = Counter()
        for line in text.splitlines():
            match = re.match(r"^\s*(?:\[[\d:.]+\]\s*)?([A-Z][\w'’.-]*(?:\s+[\w'’.-]+){0,3}):\s", line)
            if match:
                found[" ".join(match.group(1).split())] += 1
        # a label is a name when it looks like one (two to four capitalised words) or labels several turns
        labels = {label for label, n in found.items()
                  if n >= 2 or re.fullmatch(r"[A-Z][\w'’.-]+(?:\s+(?:[a-z]{1,3}\s+)?[A-Z][\w'’.-]+){1,3}", label)}
        names = {}
        for label in labels | set(case_names):
            low = label.lower()
            if (label in self.register or low in self.register_names or readers.is_interviewer_label(label)
                    or readers.PARTICIPANT_LABEL.fullmatch(label) or re.fullmatch(r"Speaker\s*\d+", label, re.IGNORECASE)):
                continue
            names[label] = f"[{pid}]"
        if names and pseudonyms.set_names(self.db, names, origin=f"qdpx import {self._sha[:12]}",
                                          participant_ids={n: pid for n in names}):
            self.result.names_added += len(names)
            pseudonyms.refresh_display_text(self.db)

    def ingest_text(self, name: str, sguid: str, text: str, meta: dict, ingestor, tmpdir: Path) -> int | None:
        body = _clean_text(text)
        if not body.strip():
            self.result.report.append(f"source {name!r} has no text left to import (withheld or empty): skipped")
            return None
        tmp = tmpdir / f"{hashlib.sha256(sguid.encode()).hexdigest()[:16]}.txt"
        tmp.write_text(body, encoding="utf-8")
        record_path = f"qdpx:{self._sha[:16]}/{sguid}"
        existing = self.db.execute("SELECT id FROM sources WHERE path = ?", [record_path]).fetchone()
        if existing:
            self.result.sources_unchanged += 1
            return existing[0]
        job = ingest_files.Job(tmp, {k: v for k, v in meta.items() if v not in (None, "")}, origin=f"{self.path}: {name}")
        report = ingest_files.Report()
        ingestor.ingest_one(job, report)
        if not report.added:
            self.result.sources_unchanged += 1
            row = self.db.execute("SELECT id FROM sources WHERE sha256 = ?", [ingest_files.sha256_file(tmp)]).fetchone()
            return row[0] if row else None
        source_id = self.db.execute("SELECT id FROM sources WHERE path = ?", [str(tmp)]).fetchone()[0]
        self.db.execute("UPDATE sources SET path = ?, format = 'qdpx' WHERE id = ?", [record_path, source_id])
        self.result.sources_added += 1
        self.result.excerpts += report.excerpts
        return source_id

    # -- codings --
    def add_codings(self, source_id: int, text: str, selections: list[Selection], code_for: dict) -> dict[str, int]:
        rows = list(self.db.execute("SELECT id, text, is_interviewer FROM excerpts WHERE source_id = ? ORDER BY seq", [source_id]))
        spans = align(text, [(r[0], r[1]) for r in rows])
        interviewer = {r[0] for r in rows if r[2]}
        note_excerpt: dict[str, int] = {}
        decisions: list[dict] = []
        for sel in selections:
            hits = [(eid, a, b) for eid, (a, b) in spans.items() if a < sel.end and sel.start < b]
            for note in sel.notes:
                if hits:
                    note_excerpt[note] = hits[0][0]
            for code_guid, coding_user, created in sel.codings:
                code_id = code_for.get(code_guid)
                if not code_id:
                    continue
                coder = coding_user or sel.user or "unknown"
                when = _iso(created) or _iso(sel.created) or now()
                accepted = refi.ACCEPTED_BY.match(sel.description or "")
                if is_machine_coder(coder):
                    if not accepted:
                        self.result.machine_skipped += 1
                        continue
                    reviewer, reviewed_at = accepted.group("who"), _iso(accepted.group("when")) or when
                else:
                    reviewer, reviewed_at = coder, when
                if not hits:
                    self.result.unplaced += 1
                    continue
                for eid, a, b in hits:
                    if eid in interviewer:
                        self.result.interviewer_skipped += 1
                        continue
                    span = (None, None)
                    if sel.start > a or sel.end < b:
                        span = (max(sel.start, a) - a, min(sel.end, b) - a)
                        self.result.partial += 1
                    cursor = self.db.execute(
                        """INSERT OR IGNORE INTO codings (excerpt_id, code_id, coder, status, terms, offsets, score,
                               codebook_version, created_at, updated_at, reviewed_by, reviewed_at, span_start, span_end)
                           VALUES (?, ?, ?, 'accepted', '[]', '[]', NULL, NULL, ?, ?, ?, ?, ?, ?)""",
                        [eid, code_id, coder, when, reviewed_at, reviewer, reviewed_at, *span])
                    if cursor.rowcount:
                        self.result.codings[coder] += 1
                        # the decision, as the workspace records one: agreement is computed from these
                        decisions.append({
                            "excerpt_id": eid, "code_id": code_id, "coding_id": cursor.lastrowid, "decider": reviewer,
                            "action": "accept" if is_machine_coder(coder) else "add", "applied": 1,
                            "span_start": span[0], "span_end": span[1], "previous": None, "blind": 0, "at": reviewed_at})
                    else:
                        self.result.duplicates += 1
        insert_rows(self.db, "decisions", decisions)
        return note_excerpt

    # -- the whole project --
    def run(self) -> ProjectImport:
        self._sha = ingest_files.sha256_file(self.path)
        archive = refi.Archive(self.path)
        try:
            root = refi._parse(archive.read(archive.project_name(), refi.MAX_XML_BYTES, "project.qde"), self.path)
            if _local(root.tag) != "Project":
                raise CasestudyError(f"not a REFI-QDA project (root element is {_local(root.tag)!r})", self.path)
            book = _child(root, "CodeBook")
            codes_el = _child(book, "Codes") if book is not None else None
            refi_file = refi.RefiFile(root, codes_el, root.get("origin") or "")
            code_for = self.codes(refi_file) if codes_el is not None and _children(codes_el, "Code") else {}
            self._import_sources(root, archive, code_for)
        finally:
            archive.close()
        audit(self.db, self.actor, "qdpx.import", self._sha[:16], sources=self.result.sources_added,
              codings=sum(self.result.codings.values()), memos=self.result.memos, codes=len(self.result.codes_added))
        return self.result

    def _import_sources(self, root, archive, code_for) -> None:
        users = _users(root)
        variables = _variables(root)
        cases_of: dict[str, list[str]] = defaultdict(list)
        for case in root.iter():
            if _local(case.tag) == "Case":
                for ref in _children(case, "SourceRef"):
                    cases_of[_g(ref.get("targetGUID"))].append(" ".join((case.get("name") or "").split()))
        notes = {_g(n.get("guid")): n for n in root.iter() if _local(n.tag) == "Note" and n.get("guid")}
        ingestor = ingest_files.Ingestor(self.db, self.actor)
        memo_targets: dict[str, dict] = {}
        with tempfile.TemporaryDirectory(prefix="casestudy-qdpx-") as tmp:
            tmpdir = Path(tmp)
            sources = [s for s in root.iter() if _local(s.tag) == "TextSource" and s.get("guid")]
            for source_el in sources:
                sguid = _g(source_el.get("guid"))
                name = " ".join((source_el.get("name") or sguid).split())
                text = self._source_text(source_el, archive, name)
                if not _clean_text(text).strip():
                    self.result.report.append(f"source {name!r} has no text left to import (withheld or empty): skipped")
                    continue
                case_names = [c for c in cases_of.get(sguid, []) if c]
                meta = self.source_meta(name, _values(source_el, variables), case_names)
                if meta["kind"] == "transcript":
                    # consent first: never store names or text for someone who has not consented
                    from casestudy.consent import register

                    register.check_interview_consent(self.db, meta["participant_id"], self.path)
                    self.pseudonymise_names(meta["participant_id"], text, case_names)
                    ingestor._pseudonymise = None
                try:
                    source_id = self.ingest_text(name, sguid, text, meta, ingestor, tmpdir)
                except CasestudyError as exc:
                    raise CasestudyError(f"source {name!r}: {ingestor.safe_message(exc.problem)}", self.path) from None
                if source_id is None:
                    continue
                note_excerpt = self.add_codings(source_id, text, _selections(source_el, users), code_for)
                for note in note_excerpt:
                    memo_targets.setdefault(note, {"excerpt_id": note_excerpt[note], "source_id": source_id})
                for ref in _children(source_el, "NoteRef"):
                    note = _g(ref.get("targetGUID"))
                    if note in memo_targets:
                        continue
                    target = {"source_id": source_id}
                    sel = _child(notes.get(note), "PlainTextSelection") if notes.get(note) is not None else None
                    if sel is not None:
                        rows = list(self.db.execute("SELECT id, text FROM excerpts WHERE source_id = ? ORDER BY seq", [source_id]))
                        spans = align(text, [(r[0], r[1]) for r in rows])
                        a, b = int(sel.get("startPosition") or 0), int(sel.get("endPosition") or 0)
                        hit = next((eid for eid, (x, y) in spans.items() if x < b and a < y), None)
                        if hit is not None and not (a <= 0 and b >= len(text)):
                            target = {"excerpt_id": hit, "source_id": source_id}
                    memo_targets[note] = target
        for code in root.iter():
            if _local(code.tag) == "Code":
                for ref in _children(code, "NoteRef"):
                    code_id = code_for.get(_g(code.get("guid")))
                    if code_id:
                        memo_targets.setdefault(_g(ref.get("targetGUID")), {}).setdefault("code_id", code_id)
        for ref in _children(root, "NoteRef"):
            memo_targets.setdefault(_g(ref.get("targetGUID")), {})
        for note_guid, target in memo_targets.items():
            note = notes.get(note_guid)
            if note is None:
                continue
            text = self._note_text(note, archive)
            if not text.strip():
                continue
            user = users.get(_g(note.get("creatingUser") or note.get("modifyingUser")))
            memo = {"excerpt_id": target.get("excerpt_id"), "code_id": target.get("code_id"), "source_id": target.get("source_id"),
                    "author": user or self.actor, "text": text.strip()}
            if self.db.execute(  # the same memo imported before
                    "SELECT 1 FROM memos WHERE excerpt_id IS ? AND code_id IS ? AND source_id IS ? AND author IS ? AND text = ?",
                    list(memo.values())).fetchone():
                continue
            memo["created_at"] = _iso(note.get("creationDateTime") or note.get("modifiedDateTime")) or now()
            insert_row(self.db, "memos", memo)
            self.result.memos += 1

    def _source_text(self, source_el, archive, name: str) -> str:
        inline = _child(source_el, "PlainTextContent")
        if inline is not None and inline.text:
            return inline.text
        path = source_el.get("plainTextPath") or ""
        if not path.startswith("internal://"):
            raise CasestudyError(f"source {name!r}: its text is not inside the archive ({path or 'no plainTextPath'})", self.path)
        return archive.text(path[len("internal://"):].lstrip("/"))

    def _note_text(self, note, archive) -> str:
        inline = _child(note, "PlainTextContent")
        if inline is not None and inline.text:
            return inline.text
        path = note.get("plainTextPath") or ""
        if path.startswith("internal://"):
            try:
                return archive.text(path[len("internal://"):].lstrip("/"))
            except CasestudyError as exc:
                if "no sources/" in exc.problem:
                    return ""
                raise
        desc = _child(note, "Description")
        return (desc.text or "") if desc is not None else ""


def import_project(db: sqlite_utils.Database, path: "str | Path", *, actor: str, kind: str | None = None,
                   sources: "str | Path | None" = None, rq: str | None = None, mapping: "str | Path | None" = None) -> ProjectImport:
    """Import a coded REFI-QDA project in one transaction (all or nothing)."""
    path = Path(path)
    if not path.is_file():
        raise CasestudyError("no such file", path)
    if kind:
        kind = ingest_files.clean_meta({"kind": kind}, "--kind")["kind"]
        if kind not in KINDS:
            raise CasestudyError(f"--kind must be one of {', '.join(KINDS)}")
    source_map = read_source_map(sources) if sources else {}
    mapping_data = refi.read_mapping(mapping) if mapping else None
    with db.atomic():
        return ProjectImporter(db, path, actor, kind, source_map, rq, mapping_data).run()
