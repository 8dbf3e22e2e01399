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


def code_description(code: dict) -> str:
    """The REFI description of a code: its description, then inclusion, exclusion,
    example and the casestudy id on lines of their own."""
    lines = [code.get("description") or ""]
    for label, key in (("Include", "inclusion"), ("Exclude", "exclusion"), ("Example", "example")):
        if code.get(key):
            lines.append(f"{label}: {code[key]}")
    lines.append(f"casestudy id: {code['id']}")
    return "\n".join(line for line in lines if line)


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
    return Study(codes, sources, excerpts, evidence, participants, memos, common.publish_info(conn),
                 study_settings.load_published(conn))


def source_text(excerpts: list[dict]) -> tuple[str, dict[int, tuple[int, int]]]:
    """The exported plain text of a source and each excerpt's [start, end) in it."""
    parts, spans, at = [], {}, 0
    for excerpt in excerpts:
        text = excerpt.get("text") or ""
        spans[excerpt["id"]] = (at, at + len(text))
        parts.append(text)
        at += len(text) + 2
    return "\n\n".join(parts), spans


# --- building XML ---------------------------------------------------------------------


def _el(parent, ns: str, tag: str, attrib: dict | None = None, text: str | None = None):
    element = ET.SubElement(parent, f"{{{ns}}}{tag}", {k: str(v) for k, v in (attrib or {}).items() if v is not None})
    if text is not None:
        element.text = text
    return element


def _codes_xml(parent, ns: str, study: Study, notes_by_code: dict[str, list[str]] | None = None) -> None:
    children = study.children()
    codes_el = _el(parent, ns, "Codes")

    def add(container, code: dict) -> None:
        attrs = {
            "guid": guid("code", code["id"]),
            "name": code.get("name") or code["id"],
            "isCodable": "true" if code.get("codable", 1) else "false",
            "color": _colour(code.get("colour")),
        }
        element = _el(container, ns, "Code", attrs)
        _el(element, ns, "Description", text=code_description(code))
        for note in (notes_by_code or {}).get(code["id"], []):
            _el(element, ns, "NoteRef", {"targetGUID": note})
        for child in children.get(code["id"], []):
            add(element, child)

    for top in children.get(None, []):
        add(codes_el, top)


def codebook_xml(study: Study) -> bytes:
    ET.register_namespace("", CODEBOOK_NS)
    root = ET.Element(f"{{{CODEBOOK_NS}}}CodeBook", {"origin": ORIGIN})
    _codes_xml(root, CODEBOOK_NS, study)
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


def project_xml(study: Study, name: str = "casestudy project") -> ProjectOutput:
    ns = PROJECT_NS
    ET.register_namespace("", ns)
    built = _dt_value(study.info.get("built_at"))

    # users: coders and memo authors
    users = sorted({r["coder"] for r in study.evidence if r.get("coder")} | {m["author"] for m in study.memos if m.get("author")})
    user_guid = {u: guid("user", u) for u in users}
    project_attrs = {"name": name, "origin": ORIGIN, "creationDateTime": built, "modifiedDateTime": built}
    if users:
        project_attrs["creatingUserGUID"] = user_guid[users[0]]
    root = ET.Element(f"{{{ns}}}Project", project_attrs)
    if users:
        users_el = _el(root, ns, "Users")
        for user in users:
            _el(users_el, ns, "User", {"guid": user_guid[user], "name": user, "id": user})

    # memos → notes, and where each is referenced from
    excerpt_source = {e["id"]: sid for sid, rows in study.excerpts.items() for e in rows}
    code_ids = {c["id"] for c in study.codes}
    notes_by_code, notes_by_excerpt, notes_by_source, project_notes = defaultdict(list), defaultdict(list), defaultdict(list), []
    for memo in study.memos:
        note = guid("memo", memo["id"])
        if memo.get("excerpt_id") in excerpt_source:
            notes_by_excerpt[memo["excerpt_id"]].append(note)
        elif memo.get("source_id") is not None and any(s["id"] == memo["source_id"] for s in study.sources):
            notes_by_source[memo["source_id"]].append(note)
        if memo.get("code_id") in code_ids:
            notes_by_code[memo["code_id"]].append(note)
        if not (memo.get("excerpt_id") in excerpt_source or memo.get("code_id") in code_ids
                or memo.get("source_id") in notes_by_source):
            project_notes.append(note)

    if study.codes:
        _codes_xml(_el(root, ns, "CodeBook"), ns, study, notes_by_code)

    variables = {
        "role": ("Text", "Participant's role (pseudonymised study data)"),
        "organisation type": ("Text", "Type of the participant's organisation"),
        "ICS": ("Text", "Integrated Care System"),
        "wave": ("Text", "Fieldwork wave(s)" + (": " + ", ".join(study_settings.wave_label(study.settings, w.number)
                                                                 for w in study.settings.waves) if study.settings.waves else "")),
        "source kind": ("Text", "transcript, board-paper, policy or observation"),
        "date": ("Date", "Date of the interview, meeting or document"),
    }
    variables_el = _el(root, ns, "Variables")
    for vname, (vtype, description) in variables.items():
        variable = _el(variables_el, ns, "Variable", {"guid": guid("variable", vname), "name": vname, "typeOfVariable": vtype})
        _el(variable, ns, "Description", text=description)

    def value(parent, vname: str, raw) -> None:
        if raw in (None, ""):
            return
        vtype = variables[vname][0]
        if vtype == "Date":
            try:
                raw = _dt.date.fromisoformat(str(raw)[:10]).isoformat()
            except ValueError:
                return
        element = _el(parent, ns, "VariableValue")
        _el(element, ns, "VariableRef", {"targetGUID": guid("variable", vname)})
        _el(element, ns, f"{vtype}Value", text=str(raw))

    # cases: one per participant
    published_sources = {s["id"] for s in study.sources}
    if study.participants:
        cases_el = _el(root, ns, "Cases")
        for p in study.participants:
            case = _el(cases_el, ns, "Case", {"guid": guid("case", p["id"]), "name": p["id"]})
            _el(case, ns, "Description", text=", ".join(str(x) for x in (p["id"], p.get("role"), p.get("org_type"), p.get("ics")) if x))
            value(case, "role", p.get("role"))
            value(case, "organisation type", p.get("org_type"))
            value(case, "ICS", p.get("ics"))
            value(case, "wave", (p.get("waves") or "").replace(",", ", ").replace("  ", " ") or None)
            for s in study.sources:
                if s.get("participant_id") == p["id"] and s["id"] in published_sources:
                    _el(case, ns, "SourceRef", {"targetGUID": guid("source", s["id"])})

    # sources with coded selections
    codings_by_excerpt = defaultdict(list)
    for row in study.evidence:
        codings_by_excerpt[row["excerpt_id"]].append(row)
    out = ProjectOutput(xml=b"", texts={})
    if study.sources:
        sources_el = _el(root, ns, "Sources")
        for s in study.sources:
            sguid = guid("source", s["id"])
            text, spans = source_text(study.excerpts.get(s["id"], []))
            out.texts[f"{sguid}.txt"] = text
            attrs = {"guid": sguid, "name": s.get("title") or f"{s.get('kind')} {s['id']}", "plainTextPath": f"internal://{sguid}.txt",
                     "creationDateTime": built}
            source_el = _el(sources_el, ns, "TextSource", attrs)
            bits = [s.get("kind"), s.get("ics"), s.get("collaborative"), f"wave {s['wave']}" if s.get("wave") else None, s.get("date"),
                    f"participant {s['participant_id']}" if s.get("participant_id") else None]
            _el(source_el, ns, "Description", text="; ".join(str(b) for b in bits if b))
            for excerpt in study.excerpts.get(s["id"], []):
                codings = codings_by_excerpt.get(excerpt["id"], [])
                notes = notes_by_excerpt.get(excerpt["id"], [])
                # a coding of part of the excerpt (workspace span) gets a selection of just that part
                start, end = spans[excerpt["id"]]
                parts: dict[tuple[int, int], list[dict]] = {}
                for coding in codings:
                    a, b = coding.get("span_start"), coding.get("span_end")
                    if a is not None and b is not None and 0 <= a < b <= end - start:
                        parts.setdefault((a, b), []).append(coding)
                codings = [c for c in codings if not any(c in group for group in parts.values())]
                for (a, b), group in sorted(parts.items()):
                    part = _el(source_el, ns, "PlainTextSelection", {
                        "guid": guid("span", group[0]["coding_id"]),
                        "name": f"{excerpt.get('participant_id') or s.get('kind')} #{excerpt.get('seq')} ({b - a} characters)",
                        "startPosition": start + a,
                        "endPosition": start + b,
                        "creatingUser": user_guid.get(group[0].get("coder")),
                        "creationDateTime": built,
                    })
                    for coding in group:
                        coding_el = _el(part, ns, "Coding", {
                            "guid": guid("coding", coding["coding_id"]),
                            "creatingUser": user_guid.get(coding.get("coder")),
                            "creationDateTime": built,
                        })
                        _el(coding_el, ns, "CodeRef", {"targetGUID": guid("code", coding["code_id"])})
                        out.codings += 1
                    out.selections += 1
                if not codings and not notes:
                    continue
                creator = codings[0]["coder"] if codings else None
                who = excerpt.get("participant_id") or (f"p. {excerpt['page']}" if excerpt.get("page") else s.get("kind"))
                selection = _el(source_el, ns, "PlainTextSelection", {
                    "guid": guid("excerpt", excerpt["id"]),
                    "name": f"{who} #{excerpt.get('seq')}",
                    "startPosition": start,
                    "endPosition": end,
                    "creatingUser": user_guid.get(creator),
                    "creationDateTime": built,
                })
                for coding in codings:
                    coding_el = _el(selection, ns, "Coding", {
                        "guid": guid("coding", coding["coding_id"]),
                        "creatingUser": user_guid.get(coding.get("coder")),
                        "creationDateTime": built,
                    })
                    _el(coding_el, ns, "CodeRef", {"targetGUID": guid("code", coding["code_id"])})
                    out.codings += 1
                for note in notes:
                    _el(selection, ns, "NoteRef", {"targetGUID": note})
                out.selections += 1
            for note in notes_by_source.get(s["id"], []):
                _el(source_el, ns, "NoteRef", {"targetGUID": note})
            value(source_el, "ICS", s.get("ics"))
            value(source_el, "wave", s.get("wave"))
            value(source_el, "source kind", s.get("kind"))
            value(source_el, "date", s.get("date"))

    if study.memos:
        notes_el = _el(root, ns, "Notes")
        for memo in study.memos:
            attrs = {"guid": guid("memo", memo["id"]), "name": f"Memo {memo['id']}" + (f" ({memo['author']})" if memo.get("author") else ""),
                     "creatingUser": user_guid.get(memo.get("author")), "creationDateTime": _dt_value(memo.get("created_at"))}
            note = _el(notes_el, ns, "Note", attrs)
            _el(note, ns, "PlainTextContent", text=memo.get("text") or "")
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


def _study(working_db, publish_db) -> Study:
    path = common.resolve_publish_db(working_db, publish_db)
    conn = common.open_publish(path)
    try:
        return read_study(conn)
    finally:
        conn.close()


def export_qdc(working_db, out, publish_db=None) -> ExportSummary:
    out = common.check_output(out, (".qdc",))
    study = _study(working_db, publish_db)
    data = codebook_xml(study)
    common.write_atomically(out, lambda tmp: tmp.write_bytes(data))
    return ExportSummary(out, codes=len(study.codes))


def export_qdpx(working_db, out, publish_db=None, name: str | None = None) -> ExportSummary:
    out = common.check_output(out, (".qdpx",))
    study = _study(working_db, publish_db)
    project = project_xml(study, name or f"{study.settings.display_title()} (casestudy export)")

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("project.qde", project.xml)
            for file_name, text in sorted(project.texts.items()):
                archive.writestr(f"{SOURCES_DIR}/{file_name}", text.encode("utf-8"))

    common.write_atomically(out, write)
    return ExportSummary(out, codes=len(study.codes), sources=len(study.sources), selections=project.selections,
                         codings=project.codings, cases=len(study.participants), notes=len(study.memos))


# --- import -----------------------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element, name: str):
    return next((c for c in element if _local(c.tag) == name), None)


def _children(element, name: str) -> list:
    return [c for c in element if _local(c.tag) == name]


def _parse(data: bytes, path: Path):
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise CasestudyError(f"malformed XML: {exc}", path) from None


@dataclass
class RefiFile:
    codes_el: object
    origin: str
    sources: dict[str, str] = field(default_factory=dict)  # name in the archive's sources folder -> text


def read_refi(path: "str | Path") -> RefiFile:
    """The codebook (and, for a .qdpx, the source texts) of a REFI-QDA file."""
    path = Path(path)
    if not path.is_file():
        raise CasestudyError("no such file", path)
    suffix = path.suffix.lower()
    sources: dict[str, str] = {}
    if suffix == ".qdpx" or zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
                project = next((n for n in names if n.lower() == "project.qde"), None) or next(
                    (n for n in names if n.lower().endswith(".qde") and "/" not in n), None)
                if project is None:
                    raise CasestudyError("not a REFI-QDA project: no project.qde in the archive", path)
                root = _parse(archive.read(project), path)
                for name in names:  # sources/ or Sources/: either case
                    folder, _, file_name = name.partition("/")
                    if folder.lower() == SOURCES_DIR and file_name and not name.endswith("/"):
                        raw = archive.read(name)
                        if file_name.lower().endswith(".txt"):
                            sources[file_name] = raw.decode("utf-8-sig", errors="replace")
                        else:
                            sources[file_name] = ""
        except zipfile.BadZipFile as exc:
            raise CasestudyError(f"not a valid .qdpx archive ({exc})", path) from None
    else:
        root = _parse(path.read_bytes(), path)
    kind = _local(root.tag)
    if kind == "Project":
        book = _child(root, "CodeBook")
        codes_el = _child(book, "Codes") if book is not None else None
    elif kind == "CodeBook":
        codes_el = _child(root, "Codes")
    else:
        raise CasestudyError(f"not a REFI-QDA codebook or project (root element is {kind!r})", path)
    if codes_el is None or not _children(codes_el, "Code"):
        raise CasestudyError("the REFI-QDA file holds no codes", path)
    return RefiFile(codes_el, root.get("origin") or "", sources)


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:40].strip("-") or "code"


def _split_description(text: str) -> dict:
    out = {"description": [], "inclusion": "", "exclusion": "", "example": "", "id": ""}
    keys = {"include": "inclusion", "exclude": "exclusion", "example": "example", "casestudy id": "id"}
    for line in (text or "").splitlines():
        match = META_LINE.match(line.strip())
        if match:
            out[keys[match.group(1).lower()]] = match.group(2).strip()
        elif line.strip():
            out["description"].append(line.strip())
    out["description"] = " ".join(out["description"])
    return out


def _expand_colour(value: str | None) -> str | None:
    if not value or not COLOUR.match(value.strip()):
        return None
    value = value.strip().lower()
    if len(value) == 4:
        value = "#" + "".join(ch * 2 for ch in value[1:])
    return value


@dataclass
class ImportSummary:
    out: Path
    rqs: list[str]
    themes: int
    sources_in_archive: int
    skipped: list[str]


PLACEHOLDER = "Not given in the imported REFI-QDA codebook; please write before coding."


def import_codebook(path: "str | Path", out_dir: "str | Path | None" = None, patterns_from: "str | Path | None" = None,
                    force: bool = False) -> ImportSummary:
    """Write a casestudy codebook folder from a REFI-QDA codebook (.qdc or .qdpx)."""
    from casestudy.coding import codebook as codebook_lib

    path = Path(path)
    refi = read_refi(path)
    out_dir = Path(out_dir) if out_dir else Path(f"{path.stem}-codebook")
    if out_dir.exists() and (not out_dir.is_dir() or (any(out_dir.iterdir()) and not force)):
        raise CasestudyError("output folder exists and is not empty (use --force to replace it)", out_dir)
    parent = out_dir.parent if str(out_dir.parent) else Path(".")
    if not parent.is_dir():
        raise CasestudyError("cannot write here: the folder does not exist", out_dir)

    # Patterns are not part of REFI-QDA: reuse those of a known codebook for the same code ids.
    known = {}
    try:
        book = codebook_lib.load(patterns_from) if patterns_from else codebook_lib.load()
        known = {c.id: c for c in book.codes}
    except CasestudyError:
        if patterns_from:
            raise

    files: dict[str, dict] = {}
    skipped: list[str] = []
    themes = 0
    for top in _children(refi.codes_el, "Code"):
        name = (top.get("name") or "").strip()
        match = RQ_NAME.match(name)
        if not match or not top.get("guid"):
            raise CasestudyError(f"top-level code {name!r} is not a research question (its name must start RQ1 … RQ6)", path)
        rq = match.group(1).upper()
        if rq in files:
            raise CasestudyError(f"{rq} appears twice at the top level", path)
        question = match.group(2).strip() or rq
        meta = _split_description((_child(top, "Description").text if _child(top, "Description") is not None else "") or "")
        colour = _expand_colour(top.get("color")) or "#777777"
        codes, used = [], set()

        def walk(element, prefix: str, inherited: str) -> None:
            nonlocal themes
            for code_el in _children(element, "Code"):
                cname = (code_el.get("name") or "").strip()
                if not cname or not code_el.get("guid"):
                    raise CasestudyError(f"a code under {rq} has no name or guid", path)
                desc_el = _child(code_el, "Description")
                info = _split_description(desc_el.text if desc_el is not None else "")
                code_id = info["id"] if CODE_ID.match(info["id"] or "") and info["id"].startswith(rq + ".") else f"{rq}.{_slug(prefix + cname)}"
                base, n = code_id, 2
                while code_id in used:
                    code_id, n = f"{base}-{n}", n + 1
                used.add(code_id)
                ccolour = _expand_colour(code_el.get("color")) or inherited
                known_code = known.get(code_id)
                patterns = _patterns(known_code) if known_code else {"phrases": [cname.lower()]}
                codes.append({
                    "id": code_id,
                    "name": prefix + cname,
                    "description": info["description"] or cname,
                    "inclusion": info["inclusion"] or (known_code.inclusion if known_code else "") or PLACEHOLDER,
                    "exclusion": info["exclusion"] or (known_code.exclusion if known_code else "") or PLACEHOLDER,
                    "example": info["example"] or (known_code.example if known_code else "") or PLACEHOLDER,
                    "colour": ccolour,
                    "patterns": patterns,
                })
                themes += 1
                walk(code_el, f"{prefix}{cname}: ", ccolour)  # deeper codes become themes "Parent: Child"

        walk(top, "", colour)
        if not codes:
            skipped.append(rq)
            continue
        files[rq] = {
            "rq": rq,
            "name": f"{rq} {question}",
            "description": meta["description"] or question,
            "colour": colour,
            "codes": codes,
        }
    if not files:
        raise CasestudyError("no research question has any themes to import", path)

    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=parent))
    try:
        settings = {"name": refi.origin and f"Imported from {path.name} ({refi.origin})" or f"Imported from {path.name}",
                    "description": f"Codebook imported from the REFI-QDA file {path.name}."}
        (tmp / "codebook.yaml").write_text(yaml.safe_dump(settings, sort_keys=False, allow_unicode=True), encoding="utf-8")
        for rq, data in sorted(files.items()):
            file_name = f"{rq.lower()}-{_slug(data['name'][len(rq):])}.yaml"
            header = f"# {data['name']}: imported from {path.name} by casestudy import qdc\n"
            (tmp / file_name).write_text(header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100), encoding="utf-8")
        codebook_lib.load(tmp)  # refuse anything the coding engine would not accept
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
    return ImportSummary(out_dir, sorted(files), themes, len(refi.sources), skipped)


def _patterns(code) -> dict:
    out = {}
    for kind in ("phrases", "lemmas", "tokens", "weak", "exclude"):
        value = getattr(code, kind, None)
        if value:
            out[kind] = value
    return out or {"phrases": [code.name.lower()]}
