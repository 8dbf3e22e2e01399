"""REFI-QDA 1.0 exchange: `casestudy export qdc|qdpx` and `casestudy import qdc`.

Export reads the publish database only. A ``.qdc`` is the codebook (``CodeBook``,
namespace ``urn:QDA-XML:codebook:1.0``); a ``.qdpx`` is a zip with ``project.qde``
(namespace ``urn:QDA-XML:project:1.0``) and one plain-text file per source in
``sources/`` (lower case, as NVivo and other tools write it). Both validate against
the REFI-QDA XSDs (``Codebook.xsd``, ``Project-mrt2019.xsd``).

* Codes keep their hierarchy (RQn → themes), colours and descriptions; top-level
  names keep the ``RQn`` prefix. The description carries the inclusion, exclusion and
  example lines and the casestudy code id, so an import restores them.
* Users are the coders (``auto:<codebook version>`` and people) and memo authors.
* A source's plain text is its published excerpts joined by blank lines (the same text
  as ``sources.text`` of the publish database); each coded excerpt is one
  ``PlainTextSelection`` spanning exactly that excerpt, with one ``Coding`` per coding.
* Cases: one per participant, with the variables role, organisation type, ICS and wave.
* Memos become ``Notes``, referenced from their code, selection or source.
* GUIDs are uuid5 of casestudy ids, so they are the same on every run.

Import turns a REFI codebook (a ``.qdc``, or the codebook inside a ``.qdpx``) into a
casestudy codebook folder of YAML files (see ``casestudy/codebook.py``), checked by
loading it before anything is written. Malformed XML is refused, never half-loaded.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import shutil
import sqlite3
import tempfile
import uuid
import xml.etree.ElementTree as ET
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from casestudy import __version__
from casestudy import study as study_settings
from casestudy.db import is_machine_coder
from casestudy.export import common
from casestudy.errors import CasestudyError

PROJECT_NS = "urn:QDA-XML:project:1.0"
CODEBOOK_NS = "urn:QDA-XML:codebook:1.0"
GUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/casestudy/refi-qda")
ORIGIN = f"casestudy {__version__}"
SOURCES_DIR = "sources"
COLOUR = re.compile(r"^#(?:[0-9a-fA-F]{6}|[0-9a-fA-F]{3})$")
META_LINE = re.compile(r"^(Include|Exclude|Example|casestudy id):\s*(.*)$", re.IGNORECASE)
CODE_ID = re.compile(r"^(RQ[1-6])\.[a-z0-9]+(?:-[a-z0-9]+)*$")
RQ_NAME = re.compile(r"^\s*(RQ[1-6])\b[\s.:–—-]*(.*)$", re.IGNORECASE)


def guid(kind: str, key) -> str:
    """A GUID that is the same on every run for the same casestudy id."""
    return str(uuid.uuid5(GUID_NAMESPACE, f"{kind}:{key}"))


def _dt_value(value: str | None) -> str | None:
    """An ISO timestamp valid as xsd:dateTime, or None."""
    if not value:
        return None
    try:
        stamp = _dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=_dt.timezone.utc)
    return stamp.replace(microsecond=0).isoformat()


def _colour(value: str | None) -> str | None:
    if value and COLOUR.match(value.strip()):
        return value.strip().upper()
    return None


# --- reading the publish database -------------------------------------------------


@dataclass
class Study:
    codes: list[dict]
    sources: list[dict]
    excerpts: dict[int, list[dict]]  # source id -> excerpts in order
    evidence: list[dict]
    participants: list[dict]
    memos: list[dict]
    info: dict[str, str]
    coding_details: dict[int, dict] = field(default_factory=dict)  # coding id -> created_at, reviewed_by, reviewed_at
    settings: study_settings.StudySettings = field(default_factory=study_settings.StudySettings)  # the study's own names

    def children(self) -> dict:
        out = defaultdict(list)
        ids = {c["id"] for c in self.codes}
        for code in self.codes:
            parent = code.get("parent_id")
            out[parent if parent in ids else None].append(code)
        return out


def read_study(conn: sqlite3.Connection) -> Study:
    codes = common.rows(conn, "SELECT * FROM codes ORDER BY sort, id")
    sources = common.rows(conn, "SELECT * FROM sources ORDER BY id")
    excerpts: dict[int, list[dict]] = defaultdict(list)
    for row in common.rows(conn, "SELECT * FROM excerpts ORDER BY source_id, seq, id"):
        common.safe_row(row)
        excerpts[row["source_id"]].append(row)
    evidence = common.evidence(conn)
    participants = common.rows(conn, "SELECT * FROM participants ORDER BY id") if common.has_table(conn, "participants") else []
    memos = common.rows(conn, "SELECT * FROM memos ORDER BY id") if common.has_table(conn, "memos") else []
    dates = ({r["coding_id"]: r for r in common.rows(conn, "SELECT * FROM coding_details")}
             if common.has_table(conn, "coding_details") else {})
    return Study(codes, sources, excerpts, evidence, participants, memos, common.publish_info(conn), dates,
                 study_settings.load_published(conn))


def speaker_label(excerpt: dict, source: dict) -> str:
    """The pseudonymised label written before a transcript turn: ``Interviewer: `` or ``P03: ``."""
    if source.get("kind") != "transcript":
        return ""
    if excerpt.get("speaker_role") == "interviewer":
        return "Interviewer: "
    return f"{excerpt.get('participant_id') or source.get('participant_id') or 'Participant'}: "


def source_text(excerpts: list[dict], source: dict | None = None) -> tuple[str, dict[int, tuple[int, int]]]:
    """The exported plain text of a source and each excerpt's [start, end) in it.

    Transcript turns start with their speaker's pseudonymised label (``P03: ``); the span
    of an excerpt is its own text, after the label."""
    parts, spans, at = [], {}, 0
    for excerpt in excerpts:
        label = speaker_label(excerpt, source or {})
        text = excerpt.get("text") or ""
        spans[excerpt["id"]] = (at + len(label), at + len(label) + len(text))
        parts.append(label + text)
        at += len(label) + len(text) + 2
    return "\n\n".join(parts), spans


UNSAFE_NAME = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]+')


def safe_source_name(title: str, used: set[str]) -> str:
    """A source name every tool can use as a file name: no ``/ \\ : * ? " < > |`` or control
    characters, no leading dot, at most 100 characters, unique (case-insensitively)."""
    name = " ".join(UNSAFE_NAME.sub("-", title or "").split()).strip(" .-") or "source"
    name = name[:100].rstrip(" .-")
    candidate, n = name, 2
    while candidate.lower() in used:
        candidate, n = f"{name} ({n})", n + 1
    used.add(candidate.lower())
    return candidate


# --- the codebook's own definitions (patterns, settings) ---------------------------------

TEXT_FIELDS = ("name", "description", "inclusion", "exclusion", "example")


def _compact(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=str)


@dataclass
class Definitions:
    """What a REFI description cannot say otherwise: each code's patterns, any raw field the
    visible text does not reproduce exactly, and the codebook's settings (name, lemma
    overrides, scoring)."""

    version: str
    settings: dict
    codes: dict[str, dict]  # code id -> raw YAML dict (RQ codes without their 'codes' list)


def definitions_for(study: Study, codebook_dir=None) -> Definitions | None:
    """The definitions of the codebook the publish database was coded with, or None.

    ``codebook_dir`` (default: the project's codebook) must be that codebook: its version
    must be the one the published codes carry."""
    from casestudy.coding import codebook as codebook_lib

    versions = {c.get("codebook_version") for c in study.codes if c.get("codebook_version")}
    try:
        book = codebook_lib.load(codebook_dir) if codebook_dir else codebook_lib.load()
    except CasestudyError:
        if codebook_dir:
            raise
        return None
    if book.version not in versions:
        if codebook_dir:
            raise CasestudyError(
                f"this codebook is version {book.version}, but the published codes come from "
                f"{', '.join(sorted(versions)) or 'no codebook'}; give the codebook the database was coded with",
                codebook_dir,
            )
        return None
    codes = {}
    for raw in book.raw_files:
        codes[str(raw.get("rq"))] = {k: v for k, v in raw.items() if k != "codes"}
        for code in raw.get("codes") or []:
            codes[str(code.get("id"))] = dict(code)
    return Definitions(book.version, dict(book.raw_settings), codes)


def _definition_line(code: dict, raw: dict) -> str:
    """``casestudy definition: {...}``: the raw fields, with null where the visible text
    (the name attribute, the description lines) already says exactly the same."""
    out = {}
    for key, value in raw.items():
        if key in ("id", "rq"):
            continue
        if key in TEXT_FIELDS and isinstance(value, str) and value == (code.get(key) or ""):
            out[key] = None
        elif key == "colour" and isinstance(value, str) and value.lower() == (code.get("colour") or "").lower():
            out[key] = None
        else:
            out[key] = value
    return "casestudy definition: " + _compact(out)


def code_description(code: dict, raw: dict | None = None, settings: dict | None = None) -> str:
    """The REFI description of a code: its description, then inclusion, exclusion,
    example, the casestudy id and (when known) its definition on lines of their own."""
    lines = [code.get("description") or ""]
    for label, key in (("Include", "inclusion"), ("Exclude", "exclusion"), ("Example", "example")):
        if code.get(key):
            lines.append(f"{label}: {code[key]}")
    lines.append(f"casestudy id: {code['id']}")
    if raw is not None:
        lines.append(_definition_line(code, raw))
    if settings is not None:
        lines.append("casestudy codebook: " + _compact(settings))
    return "\n".join(line for line in lines if line)


# --- building XML ---------------------------------------------------------------------


def _el(parent, ns: str, tag: str, attrib: dict | None = None, text: str | None = None):
    element = ET.SubElement(parent, f"{{{ns}}}{tag}", {k: str(v) for k, v in (attrib or {}).items() if v is not None})
    if text is not None:
        element.text = text
    return element


def _codes_xml(parent, ns: str, study: Study, definitions: Definitions | None,
               notes_by_code: dict[str, list[str]] | None = None) -> None:
    children = study.children()
    codes_el = _el(parent, ns, "Codes")
    first = [True]

    def add(container, code: dict) -> None:
        attrs = {
            "guid": guid("code", code["id"]),
            "name": code.get("name") or code["id"],
            "isCodable": "true" if code.get("codable", 1) else "false",
            "color": _colour(code.get("colour")),
        }
        element = _el(container, ns, "Code", attrs)
        raw = definitions.codes.get(code["id"]) if definitions else None
        settings = definitions.settings if definitions and first[0] else None
        first[0] = False
        _el(element, ns, "Description", text=code_description(code, raw, settings))
        if ns == PROJECT_NS:
            for note in (notes_by_code or {}).get(code["id"], []):
                _el(element, ns, "NoteRef", {"targetGUID": note})
        for child in children.get(code["id"], []):
            add(element, child)

    for top in children.get(None, []):
        add(codes_el, top)


def codebook_xml(study: Study, definitions: Definitions | None = None) -> bytes:
    ET.register_namespace("", CODEBOOK_NS)
    root = ET.Element(f"{{{CODEBOOK_NS}}}CodeBook", {"origin": ORIGIN})
    _codes_xml(root, CODEBOOK_NS, study, definitions)
    return _serialise(root)


def _serialise(root) -> bytes:
    ET.indent(root, space="  ")
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="utf-8", xml_declaration=False)


@dataclass
class ProjectOutput:
    xml: bytes
    texts: dict[str, str]  # file name in sources/ -> text
    selections: int = 0
    codings: int = 0


# Case (participant) and source variables are declared separately: QualCoder, for one,
# turns a variable used by any case into a case attribute only.
CASE_VARIABLES = {
    "role": ("Text", "Participant's role (pseudonymised study data)"),
    "organisation type": ("Text", "Type of the participant's organisation"),
    "participant ICS": ("Text", "The Integrated Care System the participant works in"),
    "waves interviewed": ("Text", "Fieldwork wave(s) the participant was interviewed in"),
}
SOURCE_VARIABLES = {
    "title": ("Text", "The source's full title (its name is a file-safe version of it)"),
    "source kind": ("Text", "transcript, board-paper, policy or observation"),
    "ICS": ("Text", "Integrated Care System the source belongs to"),
    "collaborative": ("Text", "The provider collaborative the source concerns"),
    "wave": ("Integer", "Fieldwork wave"),
    "date": ("Date", "Date of the interview, meeting or document"),
    "participant": ("Text", "The interviewee's study ID (transcripts)"),
}
VARIABLES = {**CASE_VARIABLES, **SOURCE_VARIABLES}


def variable_description(vname: str, settings: "study_settings.StudySettings") -> str:
    """A variable's description; the wave variables name the study's own waves."""
    description = VARIABLES[vname][1]
    if vname in ("wave", "waves interviewed") and settings.waves:
        description += ": " + ", ".join(study_settings.wave_label(settings, w.number) for w in settings.waves)
    return description


def _variable_value(parent, ns: str, vname: str, raw) -> None:
    if raw in (None, ""):
        return
    vtype = VARIABLES[vname][0]
    if vtype == "Date":
        try:
            raw = _dt.date.fromisoformat(str(raw)[:10]).isoformat()
        except ValueError:
            return
    if vtype == "Integer":
        try:
            raw = int(raw)
        except (TypeError, ValueError):
            return
    element = _el(parent, ns, "VariableValue")
    _el(element, ns, "VariableRef", {"targetGUID": guid("variable", vname)})
    _el(element, ns, f"{vtype}Value", text=str(raw))


def _span(details: dict, start: int, end: int) -> tuple[int, int]:
    """The coded span in the source text: the coding's own span within its excerpt when
    it has one (``span_start``/``span_end`` of ``coding_details``), else the whole excerpt."""
    a, b = details.get("span_start"), details.get("span_end")
    if isinstance(a, int) and isinstance(b, int) and 0 <= a < b <= end - start:
        return start + a, start + b
    return start, end


def selection_description(coder: str, status: str | None, dates: dict) -> str | None:
    """What a selection's Description says about review (QualCoder shows it as the coding memo)."""
    if not is_machine_coder(coder):
        return None
    if status == "accepted" and dates.get("reviewed_by"):
        when = _dt_value(dates.get("reviewed_at"))
        return f"Automatic suggestion accepted by {dates['reviewed_by']}" + (f" at {when}" if when else "")
    return "Automatic suggestion, not yet reviewed"


ACCEPTED_BY = re.compile(r"^Automatic suggestion accepted by (?P<who>.+?)(?: at (?P<when>\S+))?$")


def project_xml(study: Study, name: str = "casestudy project", definitions: Definitions | None = None) -> ProjectOutput:
    ns = PROJECT_NS
    ET.register_namespace("", ns)
    built = _dt_value(study.info.get("built_at"))
    out = ProjectOutput(xml=b"", texts={})

    # users: coders, reviewers and memo authors
    users = sorted({r["coder"] for r in study.evidence if r.get("coder")}
                   | {d["reviewed_by"] for d in study.coding_details.values() if d.get("reviewed_by")}
                   | {m["author"] for m in study.memos if m.get("author")})
    user_guid = {u: guid("user", u) for u in users}
    project_attrs = {"name": name, "origin": ORIGIN, "creationDateTime": built, "modifiedDateTime": built}
    if users:
        project_attrs["creatingUserGUID"] = user_guid[users[0]]
    root = ET.Element(f"{{{ns}}}Project", project_attrs)
    if users:
        users_el = _el(root, ns, "Users")
        for user in users:
            _el(users_el, ns, "User", {"guid": user_guid[user], "name": user, "id": user})

    # memos -> notes, and where each is referenced from
    source_by_id = {s["id"]: s for s in study.sources}
    excerpt_source = {e["id"]: sid for sid, rows in study.excerpts.items() for e in rows}
    code_ids = {c["id"] for c in study.codes}
    notes_by_code, notes_by_excerpt, notes_by_source, project_notes = defaultdict(list), defaultdict(list), defaultdict(list), []
    note_scope: dict[int, tuple[int, str]] = {}  # memo id -> (source id, "excerpt"/"source")
    for memo in study.memos:
        note = guid("memo", memo["id"])
        if memo.get("excerpt_id") in excerpt_source:
            notes_by_excerpt[memo["excerpt_id"]].append(note)
            note_scope[memo["id"]] = (excerpt_source[memo["excerpt_id"]], "excerpt")
        elif memo.get("source_id") in source_by_id:
            notes_by_source[memo["source_id"]].append(note)
            note_scope[memo["id"]] = (memo["source_id"], "source")
        if memo.get("code_id") in code_ids:
            notes_by_code[memo["code_id"]].append(note)
        if memo["id"] not in note_scope and memo.get("code_id") not in code_ids:
            project_notes.append(note)

    if study.codes:
        _codes_xml(_el(root, ns, "CodeBook"), ns, study, definitions, notes_by_code)

    variables_el = _el(root, ns, "Variables")
    for vname, (vtype, _) in VARIABLES.items():
        variable = _el(variables_el, ns, "Variable", {"guid": guid("variable", vname), "name": vname, "typeOfVariable": vtype})
        _el(variable, ns, "Description", text=variable_description(vname, study.settings))

    # cases: one per participant
    if study.participants:
        cases_el = _el(root, ns, "Cases")
        for p in study.participants:
            case = _el(cases_el, ns, "Case", {"guid": guid("case", p["id"]), "name": p["id"]})
            _el(case, ns, "Description", text=", ".join(str(x) for x in (p["id"], p.get("role"), p.get("org_type"), p.get("ics")) if x))
            _variable_value(case, ns, "role", p.get("role"))
            _variable_value(case, ns, "organisation type", p.get("org_type"))
            _variable_value(case, ns, "participant ICS", p.get("ics"))
            _variable_value(case, ns, "waves interviewed", ", ".join(w.strip() for w in (p.get("waves") or "").split(",") if w.strip()))
            for s in study.sources:
                if s.get("participant_id") == p["id"]:
                    _el(case, ns, "SourceRef", {"targetGUID": guid("source", s["id"])})

    # sources: text with speaker labels, one selection per (excerpt span, coder, review)
    codings_by_excerpt = defaultdict(list)
    for row in study.evidence:
        codings_by_excerpt[row["excerpt_id"]].append(row)
    scope_span: dict[int, tuple[int, int]] = {}
    if study.sources:
        sources_el = _el(root, ns, "Sources")
        used_names: set[str] = set()
        for s in study.sources:
            sguid = guid("source", s["id"])
            text, spans = source_text(study.excerpts.get(s["id"], []), s)
            out.texts[f"{sguid}.txt"] = text
            title = s.get("title") or f"{s.get('kind')} {s['id']}"
            attrs = {"guid": sguid, "name": safe_source_name(title, used_names), "plainTextPath": f"internal://{sguid}.txt",
                     "creationDateTime": built}
            source_el = _el(sources_el, ns, "TextSource", attrs)
            bits = [s.get("kind"), s.get("ics"), s.get("collaborative"), f"wave {s['wave']}" if s.get("wave") else None, s.get("date"),
                    f"participant {s['participant_id']}" if s.get("participant_id") else None]
            _el(source_el, ns, "Description", text=title + "\n" + "; ".join(str(b) for b in bits if b))
            for excerpt in study.excerpts.get(s["id"], []):
                start, end = spans[excerpt["id"]]
                scope_span[excerpt["id"]] = (start, end)
                groups: dict[tuple, list[dict]] = defaultdict(list)
                for coding in codings_by_excerpt.get(excerpt["id"], []):
                    dates = study.coding_details.get(coding["coding_id"], {})
                    description = selection_description(coding.get("coder"), coding.get("status"), dates)
                    groups[(*_span(dates, start, end), coding.get("coder") or "", description or "")].append(coding)
                who = excerpt.get("participant_id") or (f"p. {excerpt['page']}" if excerpt.get("page") else s.get("kind"))
                for (a, b, coder, description), codings in groups.items():
                    created = sorted(_dt_value(study.coding_details.get(c["coding_id"], {}).get("created_at")) or built or ""
                                     for c in codings)
                    selection = _el(source_el, ns, "PlainTextSelection", {
                        "guid": guid("selection", f"{excerpt['id']}:{a}:{b}:{coder}:{description}"),
                        "name": f"{who} #{excerpt.get('seq')}",
                        "startPosition": a,
                        "endPosition": b,
                        "creatingUser": user_guid.get(coder),
                        "creationDateTime": created[0] or None,
                    })
                    if description:
                        _el(selection, ns, "Description", text=description)
                    for coding in codings:
                        when = _dt_value(study.coding_details.get(coding["coding_id"], {}).get("created_at")) or built
                        coding_el = _el(selection, ns, "Coding", {
                            "guid": guid("coding", coding["coding_id"]),
                            "creatingUser": user_guid.get(coder),
                            "creationDateTime": when,
                        })
                        _el(coding_el, ns, "CodeRef", {"targetGUID": guid("code", coding["code_id"])})
                        out.codings += 1
                    for note in notes_by_excerpt.get(excerpt["id"], []):
                        _el(selection, ns, "NoteRef", {"targetGUID": note})
                    out.selections += 1
            scope_span[-s["id"]] = (0, len(text))
            # QualCoder takes a NoteRef under the source, with the Note's own selection, as an annotation
            for excerpt in study.excerpts.get(s["id"], []):
                for note in notes_by_excerpt.get(excerpt["id"], []):
                    _el(source_el, ns, "NoteRef", {"targetGUID": note})
            for note in notes_by_source.get(s["id"], []):
                _el(source_el, ns, "NoteRef", {"targetGUID": note})
            _variable_value(source_el, ns, "title", title)
            _variable_value(source_el, ns, "source kind", s.get("kind"))
            _variable_value(source_el, ns, "ICS", s.get("ics"))
            _variable_value(source_el, ns, "collaborative", s.get("collaborative"))
            _variable_value(source_el, ns, "wave", s.get("wave"))
            _variable_value(source_el, ns, "date", s.get("date"))
            _variable_value(source_el, ns, "participant", s.get("participant_id"))

    # notes: on a source or excerpt, the text inside with the span it is about (an annotation
    # to QualCoder, NVivo); on a code or the project, a text file in sources/ (a memo or journal)
    if study.memos:
        notes_el = _el(root, ns, "Notes")
        for memo in study.memos:
            nguid = guid("memo", memo["id"])
            attrs = {"guid": nguid, "name": f"Memo {memo['id']}" + (f" ({memo['author']})" if memo.get("author") else ""),
                     "creatingUser": user_guid.get(memo.get("author")), "creationDateTime": _dt_value(memo.get("created_at"))}
            scope = note_scope.get(memo["id"])
            if scope:
                note = _el(notes_el, ns, "Note", attrs)
                _el(note, ns, "PlainTextContent", text=memo.get("text") or "")
                a, b = scope_span[memo["excerpt_id"]] if scope[1] == "excerpt" else scope_span[-scope[0]]
                _el(note, ns, "PlainTextSelection", {"guid": guid("memo-selection", memo["id"]), "startPosition": a, "endPosition": b})
            else:
                attrs["plainTextPath"] = f"internal://{nguid}.txt"
                _el(notes_el, ns, "Note", attrs)
                out.texts[f"{nguid}.txt"] = memo.get("text") or ""
    _el(root, ns, "Description", text=(
        f"{study.settings.display_title()}. {study.settings.summary()} "
        "Consent-safe, pseudonymised export of a casestudy project. "
        "Participants are identified by study ID only; text of participants who did not consent to verbatim "
        "quotation is withheld."))
    for note in project_notes:
        _el(root, ns, "NoteRef", {"targetGUID": note})
    out.xml = _serialise(root)
    return out


# --- export entry points ------------------------------------------------------------


@dataclass
class ExportSummary:
    path: Path
    codes: int = 0
    sources: int = 0
    selections: int = 0
    codings: int = 0
    cases: int = 0
    notes: int = 0
    definitions: str | None = None  # the codebook version whose patterns went in, if any


def _study(working_db, publish_db) -> Study:
    path = common.resolve_publish_db(working_db, publish_db)
    conn = common.open_publish(path)
    try:
        return read_study(conn)
    finally:
        conn.close()


def export_qdc(working_db, out, publish_db=None, codebook_dir=None) -> ExportSummary:
    out = common.check_output(out, (".qdc",))
    study = _study(working_db, publish_db)
    definitions = definitions_for(study, codebook_dir)
    data = codebook_xml(study, definitions)
    common.write_atomically(out, lambda tmp: tmp.write_bytes(data))
    return ExportSummary(out, codes=len(study.codes), definitions=definitions.version if definitions else None)


def export_qdpx(working_db, out, publish_db=None, name: str | None = None, codebook_dir=None) -> ExportSummary:
    out = common.check_output(out, (".qdpx",))
    study = _study(working_db, publish_db)
    definitions = definitions_for(study, codebook_dir)
    project = project_xml(study, name or f"{study.settings.display_title()} (casestudy export)", definitions)

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("project.qde", project.xml)
            for file_name, text in sorted(project.texts.items()):
                archive.writestr(f"{SOURCES_DIR}/{file_name}", text.encode("utf-8"))

    common.write_atomically(out, write)
    return ExportSummary(out, codes=len(study.codes), sources=len(study.sources), selections=project.selections,
                         codings=project.codings, cases=len(study.participants), notes=len(study.memos),
                         definitions=definitions.version if definitions else None)


# --- reading REFI-QDA files safely ---------------------------------------------------------

# Bounds on what an archive may make us read (a zip bomb is refused, memory stays flat):
# the project XML, one source text, and everything together (declared, uncompressed).
MAX_XML_BYTES = 200 * 1024 * 1024
MAX_SOURCE_BYTES = 50 * 1024 * 1024
MAX_TOTAL_BYTES = 2 * 1024 * 1024 * 1024
MAX_MEMBERS = 100_000
MAX_RATIO = 200  # uncompressed / compressed, for members above 1 MB


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element, name: str):
    return next((c for c in element if _local(c.tag) == name), None)


def _children(element, name: str) -> list:
    return [c for c in element if _local(c.tag) == name]


def _parse(data: bytes, path: Path):
    """Parse REFI XML, refusing DTDs, entities and external references (entity bombs, XXE)."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring

    try:
        return fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise CasestudyError(f"refused: the XML declares a DTD or entities ({type(exc).__name__}), which REFI-QDA never needs", path) from None
    except ET.ParseError as exc:
        raise CasestudyError(f"malformed XML: {exc}", path) from None


def _read_bounded(handle, limit: int, what: str, path: Path) -> bytes:
    chunks, size = [], 0
    while True:
        chunk = handle.read(1 << 20)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise CasestudyError(f"refused: {what} is larger than {limit // (1024 * 1024)} MB uncompressed", path)
        chunks.append(chunk)


class Archive:
    """A .qdpx opened for reading: member names checked (no zip slip), sizes bounded
    (no zip bomb), members read one at a time and never extracted to disk."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.zip = zipfile.ZipFile(path)
            infos = self.zip.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
            raise CasestudyError(f"not a valid .qdpx archive ({exc})", path) from None
        if len(infos) > MAX_MEMBERS:
            self.close()
            raise CasestudyError(f"refused: the archive holds more than {MAX_MEMBERS} files", path)
        total = 0
        for info in infos:
            name = info.filename
            parts = name.replace("\\", "/").split("/")
            if name.startswith(("/", "\\")) or ".." in parts or re.match(r"^[A-Za-z]:", name) or "\x00" in name:
                self.close()
                raise CasestudyError(f"refused: unsafe path {name!r} in the archive (zip slip)", path)
            total += info.file_size
            if info.file_size > 1024 * 1024 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
                self.close()
                raise CasestudyError(
                    f"refused: {name!r} expands {info.file_size // max(info.compress_size, 1)}-fold (a zip bomb?)", path)
        if total > MAX_TOTAL_BYTES:
            self.close()
            raise CasestudyError(f"refused: the archive expands to more than {MAX_TOTAL_BYTES // 1024 ** 3} GB", path)
        self.names = [i.filename for i in infos]
        self.sizes = {i.filename: i.file_size for i in infos}

    def project_name(self) -> str:
        project = next((n for n in self.names if n.lower() == "project.qde"), None) or next(
            (n for n in self.names if n.lower().endswith(".qde") and "/" not in n), None)
        if project is None:
            raise CasestudyError("not a REFI-QDA project: no project.qde in the archive", self.path)
        return project

    def source_names(self) -> dict[str, str]:
        """File name in the sources folder (either case) -> member name."""
        out = {}
        for name in self.names:
            folder, _, file_name = name.partition("/")
            if folder.lower() == SOURCES_DIR and file_name and not name.endswith("/"):
                out[file_name] = name
        return out

    def read(self, name: str, limit: int, what: str) -> bytes:
        if self.sizes.get(name, 0) > limit:
            raise CasestudyError(f"refused: {what} is larger than {limit // (1024 * 1024)} MB uncompressed", self.path)
        try:
            with self.zip.open(name) as handle:
                return _read_bounded(handle, limit, what, self.path)
        except CasestudyError:
            raise
        except Exception as exc:  # BadZipFile (bad CRC), zlib.error, RuntimeError (encrypted), NotImplementedError
            raise CasestudyError(f"not a valid .qdpx archive ({what}: {type(exc).__name__}: {exc})", self.path) from None

    def text(self, file_name: str) -> str:
        member = self.source_names().get(file_name)
        if member is None:
            raise CasestudyError(f"the archive has no sources/{file_name}", self.path)
        return self.read(member, MAX_SOURCE_BYTES, f"sources/{file_name}").decode("utf-8-sig", errors="replace")

    def close(self) -> None:
        self.zip.close()


@dataclass
class RefiFile:
    root: object
    codes_el: object
    origin: str
    source_files: list[str] = field(default_factory=list)  # names in the archive's sources folder


def read_refi(path: "str | Path", need_codes: bool = True) -> RefiFile:
    """The XML (and, for a .qdpx, the names of the source files) of a REFI-QDA file."""
    path = Path(path)
    if not path.is_file():
        raise CasestudyError("no such file", path)
    source_files: list[str] = []
    if path.suffix.lower() == ".qdpx" or zipfile.is_zipfile(path):
        archive = Archive(path)
        try:
            root = _parse(archive.read(archive.project_name(), MAX_XML_BYTES, "project.qde"), path)
            source_files = sorted(archive.source_names())
        finally:
            archive.close()
    else:
        if path.stat().st_size > MAX_XML_BYTES:
            raise CasestudyError(f"refused: larger than {MAX_XML_BYTES // (1024 * 1024)} MB", path)
        root = _parse(path.read_bytes(), path)
    kind = _local(root.tag)
    if kind == "Project":
        book = _child(root, "CodeBook")
        codes_el = _child(book, "Codes") if book is not None else None
    elif kind == "CodeBook":
        codes_el = _child(root, "Codes")
    else:
        raise CasestudyError(f"not a REFI-QDA codebook or project (root element is {kind!r})", path)
    if need_codes and (codes_el is None or not _children(codes_el, "Code")):
        raise CasestudyError("the REFI-QDA file holds no codes", path)
    return RefiFile(root, codes_el, root.get("origin") or "", source_files)


# --- the codebook coming in: placing other tools' codes under research questions -----------------


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:40].strip("-") or "code"


META_LINE = re.compile(r"^(Include|Exclude|Example|casestudy id|casestudy definition|casestudy codebook):\s*(.*)$", re.IGNORECASE)


def _split_description(text: str) -> dict:
    out = {"description": [], "inclusion": "", "exclusion": "", "example": "", "id": "", "definition": None, "codebook": None}
    keys = {"include": "inclusion", "exclude": "exclusion", "example": "example", "casestudy id": "id",
            "casestudy definition": "definition", "casestudy codebook": "codebook"}
    for line in (text or "").splitlines():
        match = META_LINE.match(line.strip())
        if match:
            key = keys[match.group(1).lower()]
            value = match.group(2).strip()
            if key in ("definition", "codebook"):
                try:
                    value = json.loads(value)
                except ValueError:
                    value = None
                value = value if isinstance(value, dict) else None
            out[key] = value
        elif line.strip():
            out["description"].append(line.strip())
    out["description"] = " ".join(out["description"])
    return out


# Colour names some tools write instead of #rrggbb (CSS names).
NAMED_COLOURS = {
    "black": "#000000", "white": "#ffffff", "red": "#ff0000", "green": "#008000", "blue": "#0000ff",
    "yellow": "#ffff00", "orange": "#ffa500", "purple": "#800080", "pink": "#ffc0cb", "brown": "#a52a2a",
    "grey": "#808080", "gray": "#808080", "cyan": "#00ffff", "magenta": "#ff00ff", "lime": "#00ff00",
    "navy": "#000080", "teal": "#008080", "olive": "#808000", "maroon": "#800000", "silver": "#c0c0c0",
    "gold": "#ffd700", "violet": "#ee82ee", "indigo": "#4b0082", "turquoise": "#40e0d0", "salmon": "#fa8072",
    "coral": "#ff7f50", "lightblue": "#add8e6", "lightgreen": "#90ee90", "darkgreen": "#006400", "darkblue": "#00008b",
    "darkred": "#8b0000", "lightgrey": "#d3d3d3", "lightgray": "#d3d3d3", "darkgrey": "#a9a9a9", "darkgray": "#a9a9a9",
}


def _expand_colour(value: str | None) -> str | None:
    if not value or not COLOUR.match(value.strip()):
        return None
    value = value.strip().lower()
    if len(value) == 4:
        value = "#" + "".join(ch * 2 for ch in value[1:])
    return value


def _norm(value) -> str:
    return " ".join(str(value if value is not None else "").split())


PLACEHOLDER = "Not given in the imported REFI-QDA codebook; please write before coding."
SKIP = {"skip", "-", "none", "ignore", ""}


def read_mapping(path: "str | Path") -> dict[str, str]:
    """A mapping file: code name -> RQn (or ``skip``), as YAML (``name: RQ2``) or CSV (``code,rq``)."""
    path = Path(path)
    if not path.is_file():
        raise CasestudyError("no such mapping file", path)
    out: dict[str, str] = {}
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise CasestudyError(f"not a readable YAML mapping ({str(exc).splitlines()[0]})", path) from None
        if not isinstance(data, dict):
            raise CasestudyError("a mapping file maps code names to RQ1 … RQ6 (or skip), e.g. 'Vision: RQ1'", path)
        pairs = [(str(k), "" if v is None else str(v)) for k, v in data.items()]
    else:
        from casestudy.tables import read_table

        rows = read_table(path, {"code": "name", "code name": "name", "research question": "rq"})
        if rows and not {"name", "rq"} <= set(rows[0]):
            raise CasestudyError("a mapping CSV needs the columns code (or name) and rq", path)
        pairs = [(r["name"], r["rq"] or "") for r in rows]
    for name, target in pairs:
        target = target.strip()
        if target.lower() in SKIP:
            out[_norm(name).lower()] = "skip"
            continue
        try:
            out[_norm(name).lower()] = common.normalise_rq(target)
        except CasestudyError:
            raise CasestudyError(f"code {name!r} is mapped to {target!r}; use RQ1 … RQ6 or skip", path) from None
    return out


@dataclass
class CodebookPlan:
    files: dict[str, dict]  # RQn -> the RQ file's data
    settings: dict
    report: list[str]
    code_for_guid: dict[str, str]  # REFI code guid (lower case) -> casestudy code id (None: left out)
    new_codes: list[dict]  # codes (with rq, parent_id, name ...) for a database, in order
    themes: int = 0
    restored: int = 0  # themes whose casestudy definition came back


class _Placer:
    def __init__(self, path: Path, known: dict, known_tops: dict):
        self.path = path
        self.known = known
        self.known_tops = known_tops
        self.files: dict[str, dict] = {}
        self.used: dict[str, set] = defaultdict(set)
        self.names: dict[str, set] = defaultdict(set)
        self.report: list[str] = []
        self.flattened: list[str] = []
        self.renamed: list[str] = []
        self.colours: list[str] = []
        self.name_patterns = 0
        self.code_for_guid: dict[str, str | None] = {}
        self.themes = 0
        self.restored = 0

    def rq_file(self, rq: str, top=None) -> dict:
        if rq in self.files:
            return self.files[rq]
        known_top = self.known_tops.get(rq)
        data = {"rq": rq, "name": known_top.name if known_top else f"{rq} Research question {rq[2:]}",
                "description": known_top.description if known_top else f"Themes imported for {rq}.",
                "colour": known_top.colour if known_top else "#777777", "codes": []}
        self.files[rq] = data
        return data

    def colour(self, element, inherited: str, label: str) -> str:
        raw = (element.get("color") or "").strip()
        if not raw:
            return inherited
        hexed = _expand_colour(raw)
        if hexed:
            return hexed
        named = NAMED_COLOURS.get(raw.lower().replace(" ", ""))
        if named:
            self.colours.append(f"'{label}' colour {raw!r} read as {named}")
            return named
        self.colours.append(f"'{label}' colour {raw!r} is not a colour: uses {inherited}")
        return inherited

    def theme(self, rq: str, element, display: str, trail: list[str], colour: str) -> str:
        """Add one theme under ``rq`` from a REFI code element; return its id."""
        desc_el = _child(element, "Description")
        info = _split_description(desc_el.text if desc_el is not None else "")
        used = self.used[rq]
        cid = info["id"] if CODE_ID.match(info["id"] or "") and info["id"].startswith(rq + ".") else f"{rq}.{_slug(display)}"
        base, n = cid, 2
        while cid in used:
            cid, n = f"{base}-{n}", n + 1
        used.add(cid)
        name, n = display, 2
        while name.lower() in self.names[rq]:
            name, n = f"{display} ({n})", n + 1
        if name != display:
            self.renamed.append(f"'{' > '.join(trail)}' shares its name with a sibling: renamed '{name}'")
        self.names[rq].add(name.lower())
        known_code = self.known.get(cid)
        visible = {
            "id": cid,
            "name": name,
            "description": info["description"] or name,
            "inclusion": info["inclusion"] or (known_code.inclusion if known_code else "") or PLACEHOLDER,
            "exclusion": info["exclusion"] or (known_code.exclusion if known_code else "") or PLACEHOLDER,
            "example": info["example"] or (known_code.example if known_code else "") or PLACEHOLDER,
            "colour": colour,
        }
        definition = info["definition"]
        if definition and isinstance(definition.get("patterns"), dict):
            raw = {"id": cid}
            for key, value in definition.items():
                if key not in visible:  # patterns, and any field REFI has no place for
                    raw[key] = value
                elif key == "patterns":
                    raw[key] = value
                elif value is None:
                    raw[key] = visible[key]
                elif key == "colour":
                    raw[key] = value if str(value).lower() == visible["colour"] else visible["colour"]
                else:  # the raw text, unless someone edited the visible one in another tool
                    raw[key] = value if _norm(value) == _norm(visible[key]) else visible[key]
            for key in visible:
                raw.setdefault(key, visible[key])
            self.restored += 1
        else:
            raw = dict(visible)
            if known_code:
                raw["patterns"] = _patterns(known_code)
            else:
                raw["patterns"] = {"phrases": [display.split(": ")[-1].lower()]}
                self.name_patterns += 1
        self.rq_file(rq)["codes"].append(raw)
        self.themes += 1
        return cid

    def place(self, rq: str, element, trail: list[str], depth: int, colour: str, own_theme: bool) -> None:
        """Place ``element`` (when ``own_theme``) and its descendants under ``rq``; codes below
        theme level become themes named 'Parent: Child'."""
        name = _norm(element.get("name")) or "(unnamed)"
        guid_ = (element.get("guid") or "").strip("{}").lower()
        colour = self.colour(element, colour, " > ".join(trail))
        children = _children(element, "Code")
        display = ": ".join(trail[-(depth + 1):]) if depth else name
        if own_theme:
            codable = (element.get("isCodable") or "true").strip().lower() not in ("false", "0")
            if codable or not children:
                if depth:
                    self.flattened.append(f"'{' > '.join(trail)}' -> theme '{display}'")
                if not codable:
                    self.report.append(f"'{' > '.join(trail)}' is not codable in the file; imported as a codable theme")
                self.code_for_guid[guid_] = self.theme(rq, element, display, trail, colour)
            else:
                self.code_for_guid[guid_] = None
                self.report.append(f"'{' > '.join(trail)}' is a folder (not codable): its codes are placed as '{name}: …'")
        for child in children:
            self.place(rq, child, trail + [_norm(child.get("name")) or "(unnamed)"], depth + 1, colour, True)

    def summary(self) -> list[str]:
        lines = list(self.report)
        if self.flattened:
            lines.append(f"{len(self.flattened)} codes below theme level flattened into themes named 'Parent: Child', e.g. "
                         + "; ".join(self.flattened[:3]))
        lines += self.renamed
        lines += self.colours
        if self.name_patterns:
            lines.append(f"{self.name_patterns} themes have no coding patterns: each uses its own name as its phrase "
                         "(edit the YAML before relying on suggestions)")
        return lines


def plan_codebook(refi: RefiFile, path: Path, rq: str | None = None, mapping: dict[str, str] | None = None,
                  known_book=None) -> CodebookPlan:
    """Place a REFI codebook's codes under RQ1 … RQ6: top-level codes named ``RQn …`` are
    research questions; others go where ``mapping`` (code name -> RQn or skip) or ``rq``
    says; anything left unplaced is refused."""
    known = {c.id: c for c in known_book.codes} if known_book else {}
    known_tops = {c.id: c for c in known_book.codes if not c.codable} if known_book else {}
    mapping = mapping or {}
    rq = common.normalise_rq(rq) if rq else None
    placer = _Placer(path, known, known_tops)
    settings = None
    unplaced, used_mapping = [], set()
    for top in _children(refi.codes_el, "Code"):
        name = _norm(top.get("name"))
        guid_ = (top.get("guid") or "").strip("{}").lower()
        if not name or not guid_:
            raise CasestudyError("a top-level code has no name or guid", path)
        desc_el = _child(top, "Description")
        info = _split_description(desc_el.text if desc_el is not None else "")
        if info["codebook"] and settings is None:
            settings = info["codebook"]
        match = RQ_NAME.match(name)
        target = mapping.get(name.lower())
        if target:
            used_mapping.add(name.lower())
        if match and not target:
            this_rq = match.group(1).upper()
            question = _norm(match.group(2)) or this_rq
            colour = _expand_colour(top.get("color")) or None
            if top.get("color") and not colour:
                colour = placer.colour(top, "#777777", name)
            existing = placer.files.get(this_rq)
            if existing and existing.get("_from_rq_code"):
                raise CasestudyError(f"{this_rq} appears twice at the top level", path)
            data = placer.rq_file(this_rq)
            data["_from_rq_code"] = True
            definition = info["definition"] or {}
            visible = {"name": f"{this_rq} {question}", "description": info["description"] or question,
                       "colour": colour or "#777777"}
            if definition:
                for key in ("name", "description", "colour"):
                    if key in definition:
                        value = definition[key]
                        if value is None or (key != "colour" and _norm(value) != _norm(visible[key])):
                            data[key] = visible[key]
                        elif key == "colour" and str(value).lower() != visible["colour"]:
                            data[key] = visible["colour"]
                        else:
                            data[key] = value
                    elif key == "colour" and visible["colour"] == "#777777":
                        data.pop("colour", None)
                    else:
                        data[key] = visible[key]
                for key, value in definition.items():  # fields REFI has no place for (e.g. examples)
                    if key not in ("name", "description", "colour", "codes", "rq"):
                        data[key] = value
            else:
                data.update(visible)
            placer.code_for_guid[guid_] = this_rq
            if (top.get("isCodable") or "").strip().lower() in ("true", "1"):
                general = placer.theme(this_rq, top, f"{question} (general)", [name], data.get("colour") or "#777777")
                placer.code_for_guid[guid_] = general
                placer.report.append(f"top-level '{name}' is codable; casestudy's research questions are not: its codings go "
                                     f"to a theme '{question} (general)' ({general})")
            for child in _children(top, "Code"):
                placer.place(this_rq, child, [_norm(child.get("name")) or "(unnamed)"], 0, data.get("colour") or "#777777", True)
            continue
        target = target or rq
        if target == "skip":
            placer.code_for_guid[guid_] = None
            placer.report.append(f"'{name}' left out (mapping says skip)")
            continue
        if not target:
            unplaced.append(name)
            continue
        count_before = placer.themes
        placer.place(target, top, [name], 0, placer.rq_file(target).get("colour") or "#777777", True)
        placer.report.append(f"'{name}' -> {target} ({placer.themes - count_before} theme(s))")
    if unplaced:
        raise CasestudyError(
            f"{len(unplaced)} top-level code(s) are not research questions (e.g. {unplaced[0]!r}); "
            "place them with --rq RQn or --map FILE (code name -> RQn)", path)
    unused = sorted(set(mapping) - used_mapping)
    report = placer.summary()
    if unused:
        report.append(f"mapping entries matched no top-level code: {', '.join(unused[:5])}")
    files = {}
    for rq_name, data in placer.files.items():
        data.pop("_from_rq_code", None)
        if data["codes"]:
            files[rq_name] = data
    if not files:
        raise CasestudyError("no research question has any themes to import", path)
    # codes for a database, in order: RQ codes, then their themes
    new_codes = []
    for rq_name, data in sorted(files.items()):
        new_codes.append({"id": rq_name, "rq": rq_name, "parent_id": None, "name": data["name"], "description": data["description"],
                          "colour": (data.get("colour") or "#777777").lower(), "codable": 0})
        for raw in data["codes"]:
            new_codes.append({"id": raw["id"], "rq": rq_name, "parent_id": rq_name, "name": _norm(raw["name"]),
                              "description": _norm(raw["description"]), "inclusion": _norm(raw["inclusion"]),
                              "exclusion": _norm(raw["exclusion"]), "example": _norm(raw["example"]),
                              "colour": str(raw["colour"]).lower(), "codable": 1})
    return CodebookPlan(files, settings or {}, report, placer.code_for_guid, new_codes, placer.themes, placer.restored)


@dataclass
class ImportSummary:
    out: Path
    rqs: list[str]
    themes: int
    sources_in_archive: int
    skipped: list[str]
    report: list[str] = field(default_factory=list)
    version: str = ""
    restored: int = 0


def _known_book(patterns_from):
    from casestudy.coding import codebook as codebook_lib

    try:
        return codebook_lib.load(patterns_from) if patterns_from else codebook_lib.load()
    except CasestudyError:
        if patterns_from:
            raise
        return None


def import_codebook(path: "str | Path", out_dir: "str | Path | None" = None, patterns_from: "str | Path | None" = None,
                    force: bool = False, rq: str | None = None, mapping: "str | Path | None" = None) -> ImportSummary:
    """Write a casestudy codebook folder from a REFI-QDA codebook (.qdc or .qdpx)."""
    from casestudy.coding import codebook as codebook_lib

    path = Path(path)
    mapping_data = read_mapping(mapping) if mapping else None
    refi = read_refi(path)
    out_dir = Path(out_dir) if out_dir else Path(f"{path.stem}-codebook")
    if out_dir.exists() and (not out_dir.is_dir() or (any(out_dir.iterdir()) and not force)):
        raise CasestudyError("output folder exists and is not empty (use --force to replace it)", out_dir)
    parent = out_dir.parent if str(out_dir.parent) else Path(".")
    if not parent.is_dir():
        raise CasestudyError("cannot write here: the folder does not exist", out_dir)
    plan = plan_codebook(refi, path, rq=rq, mapping=mapping_data, known_book=_known_book(patterns_from))

    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=parent))
    try:
        settings = plan.settings or {
            "name": refi.origin and f"Imported from {path.name} ({refi.origin})" or f"Imported from {path.name}",
            "description": f"Codebook imported from the REFI-QDA file {path.name}."}
        (tmp / "codebook.yaml").write_text(yaml.safe_dump(settings, sort_keys=False, allow_unicode=True), encoding="utf-8")
        for rq_name, data in sorted(plan.files.items()):
            file_name = f"{rq_name.lower()}-{_slug(str(data['name'])[len(rq_name):])}.yaml"
            header = f"# {data['name']}: imported from {path.name} by casestudy import qdc\n"
            (tmp / file_name).write_text(header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100),
                                         encoding="utf-8")
        book = codebook_lib.load(tmp)  # refuse anything the coding engine would not accept
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    except CasestudyError as exc:
        raise CasestudyError(f"imported codebook would not load: {exc.problem}", path) from None
    except OSError as exc:
        raise CasestudyError(f"cannot write: {exc.strerror or exc}", out_dir) from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    n_sources = sum(1 for el in refi.root.iter() if _local(el.tag) == "TextSource") if refi.source_files else 0
    return ImportSummary(out_dir, sorted(plan.files), plan.themes, n_sources, [], plan.report, book.version,
                         plan.restored)


def _patterns(code) -> dict:
    out = {}
    for kind in ("phrases", "lemmas", "tokens", "weak", "exclude", "context"):
        value = getattr(code, kind, None)
        if value:
            out[kind] = value
    return out or {"phrases": [code.name.lower()]}
