"""REFI-QDA coming in: other tools' codebooks (`import qdc --rq/--map`), coded projects
(`import qdpx`), the round trip casestudy -> .qdpx -> a new database, a third-party parser
(pyrefiqda) reading every coding and memo we write, and hostile files refused in one line."""

from __future__ import annotations

import shutil
import sqlite3
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from casestudy import db as dblib
from casestudy.cli.main import cli
from casestudy.export import refi

REPO = Path(__file__).resolve().parent.parent
REGISTER = REPO / "corpus" / "consent" / "consent-register.csv"


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def one_line_error(result, message):
    assert result.exit_code == 1, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1, result.output


# --- other tools' codebooks ----------------------------------------------------------------

# What Taguette's "Export codebook > QDC" writes: flat codes named by tag path, upper-case
# GUIDs, every code codable, no descriptions or colours (taguette/export.py, codebook_xml).
TAGUETTE = """<?xml version="1.0" encoding="utf-8"?>
<CodeBook xmlns="urn:QDA-XML:codebook:1.0" origin="Taguette 1.4.1"><Codes>
<Code guid="0B5D7E2A-55A2-5C1E-9D2B-5E0C0F3C1A01" name="shared purpose" isCodable="true"/>
<Code guid="0B5D7E2A-55A2-5C1E-9D2B-5E0C0F3C1A02" name="hospice members" isCodable="true"/>
<Code guid="0B5D7E2A-55A2-5C1E-9D2B-5E0C0F3C1A03" name="committees in common" isCodable="true"/>
<Code guid="0B5D7E2A-55A2-5C1E-9D2B-5E0C0F3C1A04" name="interesting" isCodable="true"/>
</Codes></CodeBook>"""

# An NVivo/QualCoder-style nested codebook: codes three levels deep, duplicate sibling names,
# a codable research-question code, colour names instead of #rrggbb.
NESTED = """<?xml version="1.0" encoding="utf-8"?>
<CodeBook xmlns="urn:QDA-XML:codebook:1.0" origin="NVivo 14"><Codes>
<Code guid="11111111-0000-0000-0000-000000000001" name="Stated aims" isCodable="false" color="red">
  <Description>Why they collaborate.</Description>
  <Code guid="11111111-0000-0000-0000-000000000002" name="Vision" isCodable="true">
    <Code guid="11111111-0000-0000-0000-000000000003" name="2030 vision" isCodable="true" color="blurple"/>
  </Code>
  <Code guid="11111111-0000-0000-0000-000000000004" name="Vision" isCodable="true"/>
</Code>
<Code guid="11111111-0000-0000-0000-000000000005" name="RQ4: Contracts" isCodable="true" color="#0a0">
  <Code guid="11111111-0000-0000-0000-000000000006" name="Block contracts" isCodable="true"/>
</Code>
<Code guid="11111111-0000-0000-0000-000000000007" name="Admin" isCodable="true"/>
</Codes></CodeBook>"""


def test_taguette_flat_codebook_needs_a_placement_then_imports_with_a_report(tmp_path):
    from casestudy.coding import codebook

    qdc = tmp_path / "codebook.qdc"
    qdc.write_text(TAGUETTE, encoding="utf-8")
    refused = run("import", "qdc", qdc, "--out", tmp_path / "none")
    one_line_error(refused, "4 top-level code(s) are not research questions (e.g. 'shared purpose'); place them with --rq RQn or --map FILE")
    assert not (tmp_path / "none").exists()

    result = run("import", "qdc", qdc, "--out", tmp_path / "flat", "--rq", "RQ1")
    assert result.exit_code == 0, result.output
    book = codebook.load(tmp_path / "flat")
    assert [c.name for c in book.codes if c.codable] == ["shared purpose", "hospice members", "committees in common", "interesting"]
    assert {c.parent_id for c in book.codes if c.codable} == {"RQ1"}
    assert "'shared purpose' -> RQ1 (1 theme(s))" in result.output
    assert "4 themes have no coding patterns" in result.output

    mapping = tmp_path / "map.csv"
    mapping.write_text("code,rq\nshared purpose,RQ1\nhospice members,RQ2\ncommittees in common,rq3\ninteresting,skip\nunused code,RQ5\n",
                       encoding="utf-8")
    result = run("import", "qdc", qdc, "--out", tmp_path / "mapped", "--map", mapping)
    assert result.exit_code == 0, result.output
    book = codebook.load(tmp_path / "mapped")
    placed = {c.name: c.rq for c in book.codes if c.codable}
    assert placed == {"shared purpose": "RQ1", "hospice members": "RQ2", "committees in common": "RQ3"}
    assert "'interesting' left out (mapping says skip)" in result.output
    assert "mapping entries matched no top-level code: unused code" in result.output
    # the RQ codes take the project's own names
    assert book.get("RQ2").name == codebook.load().get("RQ2").name

    bad = tmp_path / "bad.yaml"
    bad.write_text("shared purpose: RQ9\n", encoding="utf-8")
    one_line_error(run("import", "qdc", qdc, "--out", tmp_path / "x", "--map", bad), "use RQ1 … RQ6 or skip")


def test_nested_codebook_is_flattened_renamed_and_recoloured_with_a_report(tmp_path):
    from casestudy.coding import codebook

    qdc = tmp_path / "nvivo.qdc"
    qdc.write_text(NESTED, encoding="utf-8")
    mapping = tmp_path / "map.yaml"
    mapping.write_text("Stated aims: RQ1\nAdmin: skip\n", encoding="utf-8")
    result = run("import", "qdc", qdc, "--out", tmp_path / "cb", "--map", mapping)
    assert result.exit_code == 0, result.output
    book = codebook.load(tmp_path / "cb")
    names = {c.name: c for c in book.codes if c.codable}
    # the folder is not a theme; 3 levels become 'Parent: Child'; the second 'Vision' is renamed
    assert set(names) == {"Stated aims: Vision", "Stated aims: Vision: 2030 vision", "Stated aims: Vision (2)",
                          "Contracts (general)", "Block contracts"}
    assert "'Stated aims' is a folder (not codable)" in result.output
    assert "flattened into themes named 'Parent: Child'" in result.output and "'Stated aims > Vision > 2030 vision'" in result.output
    assert "shares its name with a sibling: renamed 'Stated aims: Vision (2)'" in result.output
    # colour names: 'red' read as #ff0000, a non-colour inherits its parent's
    assert names["Stated aims: Vision"].colour == "#ff0000"
    assert names["Stated aims: Vision: 2030 vision"].colour == "#ff0000"
    assert "colour 'red' read as #ff0000" in result.output and "colour 'blurple' is not a colour" in result.output
    # a codable RQ code: its codings need a theme
    assert names["Contracts (general)"].rq == "RQ4" and book.get("RQ4").codable is False
    assert "top-level 'RQ4: Contracts' is codable" in result.output
    assert names["Block contracts"].colour == "#00aa00"


# --- hostile and malformed files -----------------------------------------------------------

BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<CodeBook xmlns="urn:QDA-XML:codebook:1.0"><Codes><Code guid="11111111-1111-1111-1111-111111111111" name="RQ1 &lol3;" isCodable="false"/></Codes></CodeBook>"""
XXE = """<?xml version="1.0"?>
<!DOCTYPE p [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<Project xmlns="urn:QDA-XML:project:1.0" name="x"><CodeBook><Codes><Code guid="11111111-1111-1111-1111-111111111111" name="RQ1 &secret;" isCodable="false"/></Codes></CodeBook></Project>"""


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _bomb(path: Path, megabytes: int = 60) -> Path:
    """A small archive whose source text expands to ``megabytes`` of zeros."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("project.qde", '<Project xmlns="urn:QDA-XML:project:1.0" name="x"/>')
        with archive.open("sources/a.txt", "w") as handle:
            block = b"0" * (1024 * 1024)
            for _ in range(megabytes):
                handle.write(block)
    return path


@pytest.fixture
def hostile(tmp_path) -> dict[str, tuple[Path, str]]:
    project = '<Project xmlns="urn:QDA-XML:project:1.0" name="x"/>'
    files = {
        "entity bomb (qdc)": (tmp_path / "bomb.qdc", "declares a DTD or entities"),
        "external entity (qdpx)": (_zip(tmp_path / "xxe.qdpx", {"project.qde": XXE.encode()}), "declares a DTD or entities"),
        "zip slip": (_zip(tmp_path / "slip.qdpx", {"project.qde": project.encode(), "../../evil.txt": b"x"}), "zip slip"),
        "absolute path": (_zip(tmp_path / "abs.qdpx", {"project.qde": project.encode(), "/etc/cron.d/x": b"x"}), "zip slip"),
        "bad zip": (tmp_path / "broken.qdpx", "not a valid .qdpx archive"),
        "zip bomb": (_bomb(tmp_path / "bomb.qdpx"), "(a zip bomb?)"),
        "malformed": (_zip(tmp_path / "bad.qdpx", {"project.qde": b"<Project><CodeBook>"}), "malformed XML"),
        "no project": (_zip(tmp_path / "empty.qdpx", {"sources/a.txt": b"x"}), "no project.qde"),
    }
    files["entity bomb (qdc)"][0].write_text(BOMB, encoding="utf-8")
    files["bad zip"][0].write_bytes(b"PK\x03\x04 not really a zip")
    return files


def test_hostile_files_are_refused_in_one_line_and_change_nothing(hostile, tmp_path, dump_db):
    work = tmp_path / "work.db"
    dblib.open_db(work).conn.close()
    assert run("ingest", REGISTER, "--kind", "consent", "--db", work).exit_code == 0
    before = dump_db(work)
    for label, (path, message) in hostile.items():
        for command in (["import", "qdc", path, "--out", tmp_path / f"cb-{path.stem}"],
                        ["import", "qdpx", path, "--db", work, "--kind", "policy"]):
            if label == "entity bomb (qdc)" and command[1] == "qdpx":
                continue
            result = run(*command)
            assert result.exit_code == 1, (label, command, result.output)
            assert message in result.output and len(result.output.strip().splitlines()) == 1, (label, result.output)
            assert "root:" not in result.output  # /etc/passwd never read
        assert not (tmp_path / f"cb-{path.stem}").exists()
    assert dump_db(work) == before


def test_zip_bomb_is_refused_with_flat_memory(tmp_path):
    from casestudy.export.refi import read_refi

    bomb = _bomb(tmp_path / "big.qdpx", megabytes=120)
    assert bomb.stat().st_size < 1024 * 1024
    tracemalloc.start()
    with pytest.raises(Exception) as refused:
        read_refi(bomb, need_codes=False)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert "zip bomb" in str(refused.value)
    assert peak < 5 * 1024 * 1024, peak  # nothing was decompressed
    # a member that lies about its size is bounded by what it declares (zipfile stops there)
    archive = refi.Archive.__new__(refi.Archive)
    with zipfile.ZipFile(bomb) as z, z.open("sources/a.txt") as handle:
        with pytest.raises(Exception) as too_big:
            refi._read_bounded(handle, 2 * 1024 * 1024, "sources/a.txt", bomb)
    assert "larger than 2 MB" in str(too_big.value)
    del archive


# --- a coded project in, and the round trip ------------------------------------------------------


@pytest.fixture(scope="module")
def round_trip(export_pipeline_dbs, tmp_path_factory):
    """A copy of the real-pipeline study with human decisions and memos, exported to .qdpx and
    imported into a new database that has only the consent register."""
    from casestudy.coding import review
    from casestudy.consent import publish

    working, _ = export_pipeline_dbs
    tmp = tmp_path_factory.mktemp("roundtrip")
    src = tmp / "src.db"
    shutil.copy(working, src)
    db = dblib.open_db(src)
    rows = list(db.query(
        "SELECT coding_id, excerpt_id, code_id FROM evidence WHERE coder LIKE 'auto:%' AND quotable = 1 ORDER BY coding_id LIMIT 30"))
    codes = [r[0] for r in db.execute("SELECT id FROM codes WHERE codable = 1 ORDER BY id")]
    with db.atomic():
        review.decide(db, [r["coding_id"] for r in rows[:8]], "accepted", "alice")
        review.decide(db, [r["coding_id"] for r in rows[8:12]], "rejected", "alice")
        added = set()  # (excerpt, code, coder): an excerpt with two suggestions among the rows is coded once
        for i, r in enumerate(rows[12:30]):
            pick, coder = codes[(i * 7) % len(codes)], "bob" if i % 2 else "carol"
            if pick != r["code_id"] and (r["excerpt_id"], pick, coder) not in added:
                added.add((r["excerpt_id"], pick, coder))
                text = db.execute("SELECT text FROM excerpts WHERE id = ?", [r["excerpt_id"]]).fetchone()[0]
                span = (0, text.index(" ", 20)) if i % 3 == 0 and " " in text[20:] else None  # part of the excerpt
                review.add(db, r["excerpt_id"], pick, coder, span=span)
        review.memo(db, "Partnership talk, compare with wave 2.", "alice", excerpt_id=rows[0]["excerpt_id"])
        review.memo(db, "Definition needs tightening.", "bob", code_id=codes[0])
    db.close()
    published = tmp / "src-publish.db"
    publish.publish(str(src), published)
    qdpx = tmp / "study.qdpx"
    result = run("export", "qdpx", qdpx, "--db", src, "--publish-db", published)
    assert result.exit_code == 0, result.output
    new = tmp / "new.db"
    dblib.open_db(new).conn.close()
    assert run("ingest", REGISTER, "--kind", "consent", "--db", new).exit_code == 0
    imported = run("import", "qdpx", qdpx, "--db", new, "--coder", "importer")
    assert imported.exit_code == 0, imported.output
    return {"src": src, "published": published, "qdpx": qdpx, "new": new, "output": imported.output}


def _human_codings_published(published: Path) -> set[tuple]:
    conn = sqlite3.connect(published)
    out = set()
    for title, text, code, coder, status, created, reviewer, a, b in conn.execute(
        """SELECT ev.source_title, ev.text, ev.code_id, ev.coder, ev.status, d.created_at, d.reviewed_by, d.span_start, d.span_end
           FROM evidence ev JOIN coding_details d ON d.coding_id = ev.coding_id
           WHERE ev.quotable = 1"""):
        if refi.is_machine_coder(coder) and status != "accepted":
            continue  # unreviewed suggestions (auto: and learned:) stay behind
        when = created if not refi.is_machine_coder(coder) else None
        out.add((title, text, code, coder, status, refi._dt_value(when) if when else None, reviewer, a, b))
    return out


def test_round_trip_gives_the_same_codings(round_trip):
    expected = _human_codings_published(round_trip["published"])
    assert len(expected) >= 20 and {e[3] for e in expected} >= {"bob", "carol"}
    conn = sqlite3.connect(round_trip["new"])
    got = set()
    for title, text, code, coder, status, created, reviewer, a, b in conn.execute(
        """SELECT s.title, e.text, c.code_id, c.coder, c.status, c.created_at, c.reviewed_by, c.span_start, c.span_end
           FROM codings c JOIN excerpts e ON e.id = c.excerpt_id JOIN sources s ON s.id = e.source_id"""):
        got.add((title, text, code, coder, status, created if not refi.is_machine_coder(coder) else None, reviewer, a, b))
    assert got == expected
    assert any(e[7] is not None for e in expected)  # span codings went out and came back
    # every imported coding is a decision by its person (agreement reads decisions)
    assert conn.execute("SELECT count(*) FROM decisions").fetchone()[0] == len(got)
    # the codebook came along under the same ids, the memos with their targets and authors
    assert {r[0] for r in conn.execute("SELECT code_id FROM codings")} <= {r[0] for r in conn.execute("SELECT id FROM codes")}
    memos = {(a, t, e is not None, c) for a, t, e, c in conn.execute("SELECT author, text, excerpt_id, code_id FROM memos")}
    assert ("alice", "Partnership talk, compare with wave 2.", True, None) in memos
    assert any(a == "bob" and t == "Definition needs tightening." and c for a, t, e, c in memos)
    # provenance: the import is audited by its hash, never by file name
    action = conn.execute("SELECT actor, target FROM audit_log WHERE action = 'qdpx.import'").fetchone()
    assert action[0] == "importer" and "study" not in action[1]
    assert "unreviewed automatic codings left out" in round_trip["output"]


def test_reimport_changes_nothing(round_trip, dump_db):
    before = dump_db(round_trip["new"])
    again = run("import", "qdpx", round_trip["qdpx"], "--db", round_trip["new"], "--coder", "importer")
    assert again.exit_code == 0, again.output
    assert "0 sources added" in again.output
    after = dump_db(round_trip["new"])
    assert [line for line in after if "audit_log" not in line] == [line for line in before if "audit_log" not in line]


def test_pyrefiqda_reads_every_coding_and_memo(round_trip):
    """A third-party parser reads every selection of our export at the excerpt it codes, with
    the right code, coder and date, and every memo with its text."""
    from pyrefiqda.models import Project
    from xsdata_pydantic.bindings import XmlParser

    with zipfile.ZipFile(round_trip["qdpx"]) as archive:
        project = XmlParser().from_bytes(archive.read("project.qde"), Project)
        texts = {n.split("/", 1)[1]: archive.read(n).decode("utf-8") for n in archive.namelist() if n.startswith("sources/")}
    users = {u.guid: u.name for u in project.users.user}
    codes = {}

    def walk(items):
        for code in items:
            codes[code.guid] = code.name
            walk(code.code)

    walk(project.code_book.codes.code)
    conn = sqlite3.connect(round_trip["published"])
    expected = {}
    spans = 0
    for cid, text, code, coder, created, a, b in conn.execute(
            "SELECT ev.coding_id, ev.text, ev.code, ev.coder, d.created_at, d.span_start, d.span_end FROM evidence ev "
            "LEFT JOIN coding_details d ON d.coding_id = ev.coding_id"):
        if a is not None:  # a coding of part of the excerpt: the selection is that span
            text, spans = text[a:b], spans + 1
        expected[refi.guid("coding", cid)] = (text, code, coder, refi._dt_value(created))
    assert spans
    seen = {}
    for source in project.sources.text_source:
        text = texts[source.plain_text_path[len("internal://"):]]
        for sel in source.plain_text_selection:
            for coding in sel.coding:
                when = coding.creation_date_time.to_datetime().isoformat() if coding.creation_date_time else None
                seen[coding.guid] = (text[sel.start_position:sel.end_position], codes[coding.code_ref.target_guid],
                                     users[sel.creating_user], when)
    assert set(seen) == set(expected)
    for key, (text, code, coder, when) in expected.items():
        assert seen[key][:3] == (text, code, coder), key
        assert seen[key][3] == when, key
    notes = {n.guid: n for n in project.notes.note}
    memo_texts = {m: t for m, t in conn.execute("SELECT id, text FROM memos")}
    assert len(notes) == len(memo_texts) == 2
    for mid, text in memo_texts.items():
        note = notes[refi.guid("memo", mid)]
        body = note.plain_text_content or texts[note.plain_text_path[len("internal://"):]]
        assert body == text


def test_transcript_without_consent_refuses_the_whole_import(round_trip, tmp_path, dump_db):
    new = tmp_path / "empty.db"
    dblib.open_db(new).conn.close()
    # no consent register: the first transcript is refused, nothing is written
    before = dump_db(new)
    result = run("import", "qdpx", round_trip["qdpx"], "--db", new)
    one_line_error(result, "has no consent record")
    assert dump_db(new) == before


def test_other_tools_project_with_names_is_pseudonymised(tmp_path):
    """An NVivo-style project: a case named after the participant, speaker labels with real
    names not in the register, a codable code with a named colour, a selection on part of an excerpt."""
    work = tmp_path / "work.db"
    dblib.open_db(work).conn.close()
    assert run("ingest", REGISTER, "--kind", "consent", "--db", work).exit_code == 0
    pid = sqlite3.connect(work).execute(
        "SELECT p.id FROM participants p JOIN consents c ON c.participant_id = p.id "
        "WHERE c.interview = 1 AND c.withdrawn_date IS NULL ORDER BY p.id").fetchone()[0]
    text = ("Interviewer: How did the alliance start?\n\nJo Bloggs: It started with the elective backlog. "
            "Jo Bloggs is me, by the way, and we pooled the waiting lists.\n\nInterviewer: Thanks.")
    start = text.index("we pooled")
    project = f"""<?xml version="1.0" encoding="utf-8"?>
<Project xmlns="urn:QDA-XML:project:1.0" name="NVivo project" origin="NVivo 14">
<Users><User guid="aaaaaaaa-0000-0000-0000-000000000001" name="Dr Researcher"/></Users>
<CodeBook><Codes><Code guid="cccccccc-0000-0000-0000-000000000001" name="Backlog" isCodable="true" color="orange"/></Codes></CodeBook>
<Cases><Case guid="dddddddd-0000-0000-0000-000000000001" name="{pid}"><SourceRef targetGUID="bbbbbbbb-0000-0000-0000-000000000001"/></Case></Cases>
<Sources><TextSource guid="bbbbbbbb-0000-0000-0000-000000000001" name="Interview Jo/2024" plainTextPath="internal://b1.txt">
<PlainTextSelection guid="eeeeeeee-0000-0000-0000-000000000001" startPosition="{start}" endPosition="{len(text) - len(chr(10) * 2 + 'Interviewer: Thanks.')}"
 creatingUser="aaaaaaaa-0000-0000-0000-000000000001" creationDateTime="2024-05-01T10:00:00Z">
<Coding guid="eeeeeeee-0000-0000-0000-000000000002" creatingUser="aaaaaaaa-0000-0000-0000-000000000001" creationDateTime="2024-05-01T10:00:00Z">
<CodeRef targetGUID="cccccccc-0000-0000-0000-000000000001"/></Coding></PlainTextSelection>
</TextSource></Sources></Project>"""
    qdpx = _zip(tmp_path / "nvivo.qdpx", {"project.qde": project.encode(), "Sources/b1.txt": text.encode()})
    result = run("import", "qdpx", qdpx, "--db", work, "--kind", "transcript", "--rq", "RQ1")
    assert result.exit_code == 0, result.output
    assert "1 names not in the consent register added to the name list" in result.output
    assert "1 codings cover part of an excerpt" in result.output
    assert "colour 'orange' read as #ffa500" in result.output
    conn = sqlite3.connect(work)
    display = conn.execute("SELECT display_text FROM excerpts WHERE participant_id = ?", [pid]).fetchone()[0]
    assert "Jo Bloggs" not in display and f"[{pid}] is me" in display
    coder, a, b, created, status = conn.execute(
        "SELECT coder, span_start, span_end, created_at, status FROM codings").fetchone()
    body = conn.execute("SELECT text FROM excerpts WHERE participant_id = ?", [pid]).fetchone()[0]
    assert body[a:b] == "we pooled the waiting lists."
    assert (coder, created, status) == ("Dr Researcher", "2024-05-01T10:00:00+00:00", "accepted")
    title = conn.execute("SELECT title FROM sources").fetchone()[0]
    assert title == f"Interview [{pid}]/2024"  # "Jo" is the listed name's first name: pseudonymised too
