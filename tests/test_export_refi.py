"""REFI-QDA: `export qdc`, `export qdpx` and `import qdc`, checked against the XSDs."""

from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
import xmlschema
from click.testing import CliRunner

from casestudy.cli.main import cli
from casestudy.export.refi import export_qdc, export_qdpx, guid
from export_fixture import P12_CANARY
from export_pipeline import P09_CANARY, P12_CANARY as P12_REAL, REGISTER_NAMES

XSD = Path(__file__).resolve().parent / "data" / "refi"
P = "{urn:QDA-XML:project:1.0}"
C = "{urn:QDA-XML:codebook:1.0}"


@pytest.fixture(scope="module")
def project_schema():
    return xmlschema.XMLSchema(str(XSD / "Project-mrt2019.xsd"))


@pytest.fixture(scope="module")
def codebook_schema():
    return xmlschema.XMLSchema(str(XSD / "Codebook.xsd"))


@pytest.fixture(scope="module")
def qdpx(export_fixture_db, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("refi") / "study.qdpx"
    export_qdpx("missing.db", out, publish_db=export_fixture_db)
    return out


def read_project(path: Path) -> tuple[ET.Element, dict[str, str]]:
    with zipfile.ZipFile(path) as archive:
        root = ET.fromstring(archive.read("project.qde"))
        texts = {n.split("/", 1)[1]: archive.read(n).decode("utf-8") for n in archive.namelist() if n.startswith("sources/")}
    return root, texts


def coding_excerpts(conn) -> dict[str, tuple[int, str, str]]:
    """Coding GUID -> (excerpt id, code id, coder) from a publish database's evidence."""
    return {guid("coding", c): (e, code, coder) for c, e, code, coder in conn.execute(
        "SELECT coding_id, excerpt_id, code_id, coder FROM evidence")}


def test_qdpx_is_valid_and_selections_span_their_excerpts(qdpx, project_schema, export_fixture_db):
    with zipfile.ZipFile(qdpx) as archive:
        names = archive.namelist()
        project_schema.validate(archive.read("project.qde").decode("utf-8"))
    assert "project.qde" in names and all(n == "project.qde" or n.startswith("sources/") for n in names)
    root, texts = read_project(qdpx)
    conn = sqlite3.connect(export_fixture_db)
    excerpts = {i: (t, q) for i, t, q in conn.execute("SELECT id, text, quotable FROM excerpts")}
    by_coding = coding_excerpts(conn)
    n_evidence = conn.execute("SELECT count(*) FROM evidence").fetchone()[0]
    users = {u.get("guid"): u.get("name") for u in root.iter(f"{P}User")}
    selections = codings = 0
    for source in root.iter(f"{P}TextSource"):
        path = source.get("plainTextPath")
        assert path.startswith("internal://")
        text = texts[path[len("internal://"):]]
        for selection in source.findall(f"{P}PlainTextSelection"):
            start, end = int(selection.get("startPosition")), int(selection.get("endPosition"))
            found = {by_coding[c.get("guid")] for c in selection.findall(f"{P}Coding")}
            assert len({e for e, _, _ in found}) == 1  # one excerpt per selection
            assert {coder for _, _, coder in found} == {users[selection.get("creatingUser")]}  # ... and one coder
            expected, quotable = excerpts[next(iter(found))[0]]
            if quotable:
                assert text[start:end] == expected
            else:
                assert text[start:end].startswith("[withheld")
            selections += 1
            codings += len(selection.findall(f"{P}Coding"))
    assert codings == n_evidence
    # one selection per excerpt and coder
    assert selections == conn.execute("SELECT count(*) FROM (SELECT DISTINCT excerpt_id, coder FROM evidence)").fetchone()[0]


def test_qdpx_codes_users_cases_and_notes(qdpx):
    root, texts = read_project(qdpx)
    tops = root.find(f"{P}CodeBook/{P}Codes").findall(f"{P}Code")
    assert [c.get("name") for c in tops][:2] == ["RQ1 Purpose and aims", "RQ2 Member organisations"]
    assert all(c.get("name").startswith(f"RQ{n}") for n, c in enumerate(tops, start=1))
    child = tops[0].find(f"{P}Code")
    assert child.get("name") == "Scale and resilience" and child.get("color") == "#4E9AD6"
    assert "Include: Mutual aid" in child.find(f"{P}Description").text
    users = {u.get("name") for u in root.iter(f"{P}User")}
    assert {"auto:2024.1", "alice", "bob"} <= users
    cases = {c.get("name"): c for c in root.iter(f"{P}Case")}
    assert set(cases) == {"P01", "P02", "P05", "P10", "P12", "P13"}
    variables = {v.get("guid"): v.get("name") for v in root.iter(f"{P}Variable")}
    p13 = {variables[v.find(f"{P}VariableRef").get("targetGUID")]: v[1].text for v in cases["P13"].findall(f"{P}VariableValue")}
    assert p13 == {"role": "Head of Finance, MHLDA Collaborative", "organisation type": "mental health trust",
                   "participant ICS": "Saltmarsh Coast", "waves interviewed": "2"}
    assert cases["P13"].find(f"{P}SourceRef").get("targetGUID") == guid("source", 5)
    # case and source variables are separate declarations (QualCoder reads a shared one as a case attribute only)
    case_vars = {v.find(f"{P}VariableRef").get("targetGUID") for c in root.iter(f"{P}Case") for v in c.findall(f"{P}VariableValue")}
    source_vars = {v.find(f"{P}VariableRef").get("targetGUID") for s in root.iter(f"{P}TextSource") for v in s.findall(f"{P}VariableValue")}
    assert case_vars and source_vars and not case_vars & source_vars
    notes = {n.get("guid"): n for n in root.iter(f"{P}Note")}
    refs = {r.get("targetGUID") for r in root.iter(f"{P}NoteRef")}
    assert set(notes) <= refs
    # a memo on a code is a Note with a text file (QualCoder: a journal; NVivo: a memo), referenced from the code
    code_memo = next(n for n in notes.values() if n.get("plainTextPath"))
    assert "check wave 3" in texts[code_memo.get("plainTextPath")[len("internal://"):]]
    code = next(c for c in root.iter(f"{P}Code") if c.get("guid") == guid("code", "RQ3.accountability"))
    assert code.find(f"{P}NoteRef").get("targetGUID") == code_memo.get("guid")
    # a memo on an excerpt: its text inside, with the span it is about, referenced from the source and the selection
    excerpt_memo = next(n for n in notes.values() if n.find(f"{P}PlainTextContent") is not None)
    assert "placement figures" in excerpt_memo.find(f"{P}PlainTextContent").text
    span = excerpt_memo.find(f"{P}PlainTextSelection")
    source = next(s for s in root.iter(f"{P}TextSource") if s.get("guid") == guid("source", 5))
    assert excerpt_memo.get("guid") in {r.get("targetGUID") for r in source.findall(f"{P}NoteRef")}
    text = texts[source.get("plainTextPath")[len("internal://"):]]
    assert text[int(span.get("startPosition")):int(span.get("endPosition"))] == (
        "We brought eleven out-of-area placements back into Saltmarsh this year, which is better care and cheaper.")


def test_guids_are_stable_across_runs(qdpx, export_fixture_db, tmp_path):
    again = tmp_path / "again.qdpx"
    export_qdpx("missing.db", again, publish_db=export_fixture_db)
    with zipfile.ZipFile(qdpx) as a, zipfile.ZipFile(again) as b:
        assert a.read("project.qde") == b.read("project.qde")
        assert sorted(a.namelist()) == sorted(b.namelist())


def test_qdc_is_valid(export_fixture_db, tmp_path, codebook_schema):
    out = tmp_path / "codes.qdc"
    result = CliRunner().invoke(cli, ["export", "qdc", str(out), "--publish-db", str(export_fixture_db)])
    assert result.exit_code == 0, result.output
    codebook_schema.validate(str(out))
    root = ET.parse(out).getroot()
    assert len(list(root.iter(f"{C}Code"))) == 14
    assert root.find(f"{C}Codes/{C}Code").get("isCodable") == "false"


def test_round_trip_qdc_import_yaml_load(export_fixture_db, tmp_path):
    from casestudy.coding import codebook

    qdc = tmp_path / "codes.qdc"
    export_qdc("missing.db", qdc, publish_db=export_fixture_db)
    out = tmp_path / "imported"
    result = CliRunner().invoke(cli, ["import", "qdc", str(qdc), "--out", str(out)])
    assert result.exit_code == 0, result.output
    book = codebook.load(out)
    by_id = {c.id: c for c in book.codes}
    assert {"RQ1", "RQ1.scale", "RQ1.variation", "RQ3.cic", "RQ6.oap"} <= set(by_id)
    assert by_id["RQ1"].name == "RQ1 Purpose and aims" and not by_id["RQ1"].codable
    scale = by_id["RQ1.scale"]
    assert (scale.name, scale.inclusion, scale.exclusion, scale.example, scale.colour) == (
        "Scale and resilience", "Mutual aid, shared rotas, scale.", "Finance-only savings (RQ6).", "We pooled the rotas.", "#4e9ad6")
    assert scale.parent_id == "RQ1"
    # exporting the imported codebook again gives the same hierarchy
    assert sorted(c.id for c in book.codes) == sorted(r[0] for r in sqlite3.connect(export_fixture_db).execute("SELECT id FROM codes"))


def test_import_from_qdpx_reads_sources_in_either_case(qdpx, tmp_path):
    upper = tmp_path / "upper.qdpx"
    with zipfile.ZipFile(qdpx) as src, zipfile.ZipFile(upper, "w") as dst:
        for name in src.namelist():
            dst.writestr(name.replace("sources/", "Sources/"), src.read(name))
    for archive in (qdpx, upper):
        out = tmp_path / f"cb-{archive.stem}"
        result = CliRunner().invoke(cli, ["import", "qdc", str(archive), "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert "7 source texts in the archive" in result.output
        assert len(list(out.glob("rq*.yaml"))) == 6


def test_import_from_another_tool_without_casestudy_ids(tmp_path):
    from casestudy.coding import codebook

    qdc = tmp_path / "other.qdc"
    qdc.write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<CodeBook xmlns="urn:QDA-XML:codebook:1.0" origin="OtherQDA"><Codes>'
        '<Code guid="11111111-1111-1111-1111-111111111111" name="RQ4: Contracts" isCodable="false" color="#f00">'
        '<Code guid="22222222-2222-2222-2222-222222222222" name="Block contracts" isCodable="true">'
        '<Description>Fixed-sum contracts.</Description>'
        '<Code guid="33333333-3333-3333-3333-333333333333" name="Risk share" isCodable="true"/></Code>'
        '</Code></Codes></CodeBook>', encoding="utf-8")
    out = tmp_path / "cb"
    result = CliRunner().invoke(cli, ["import", "qdc", str(qdc), "--out", str(out)])
    assert result.exit_code == 0, result.output
    book = codebook.load(out)
    names = {c.id: c.name for c in book.codes}
    assert names == {"RQ4": "RQ4 Contracts", "RQ4.block-contracts": "Block contracts",
                     "RQ4.block-contracts-risk-share": "Block contracts: Risk share"}
    assert book.get("RQ4.block-contracts").colour == "#ff0000"


@pytest.mark.parametrize(
    "content, message",
    [
        ("<CodeBook><Codes><Code", "malformed XML"),
        ("not xml at all", "malformed XML"),
        ("<Other/>", "not a REFI-QDA codebook or project"),
        ('<CodeBook xmlns="urn:QDA-XML:codebook:1.0"><Codes/></CodeBook>', "holds no codes"),
        ('<CodeBook xmlns="urn:QDA-XML:codebook:1.0"><Codes><Code guid="11111111-1111-1111-1111-111111111111" '
         'name="Themes" isCodable="true"/></Codes></CodeBook>', "are not research questions"),
    ],
)
def test_bad_qdc_is_refused_and_nothing_written(tmp_path, content, message):
    bad = tmp_path / "bad.qdc"
    bad.write_text(content, encoding="utf-8")
    out = tmp_path / "cb"
    result = CliRunner().invoke(cli, ["import", "qdc", str(bad), "--out", str(out)])
    assert result.exit_code == 1
    assert message in result.output and len(result.output.strip().splitlines()) == 1, result.output
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".cb")]


def test_bad_archives_and_paths(tmp_path, export_fixture_db):
    runner = CliRunner()
    broken = tmp_path / "broken.qdpx"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    empty = tmp_path / "empty.qdpx"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("sources/a.txt", "x")
    malformed = tmp_path / "malformed.qdpx"
    with zipfile.ZipFile(malformed, "w") as archive:
        archive.writestr("project.qde", "<Project><CodeBook>")
    cases = [
        (["import", "qdc", str(broken)], "not a valid .qdpx archive"),
        (["import", "qdc", str(empty)], "no project.qde"),
        (["import", "qdc", str(malformed)], "malformed XML"),
        (["import", "qdc", str(tmp_path / "missing.qdc")], "no such file"),
        (["export", "qdpx", str(tmp_path / "nope" / "x.qdpx"), "--publish-db", str(export_fixture_db)], "folder does not exist"),
        (["export", "qdc", str(tmp_path / "x.qdc"), "--publish-db", str(tmp_path / "missing.db")], "no such publish database"),
        (["export", "qdpx", str(tmp_path / "x.zip"), "--publish-db", str(export_fixture_db)], "must end in .qdpx"),
    ]
    for args, message in cases:
        result = runner.invoke(cli, args)
        assert result.exit_code == 1, (args, result.output)
        assert message in result.output and len(result.output.strip().splitlines()) == 1, result.output
    existing = tmp_path / "full"
    existing.mkdir()
    (existing / "keep.yaml").write_text("x")
    qdc = tmp_path / "ok.qdc"
    export_qdc("missing.db", qdc, publish_db=export_fixture_db)
    result = runner.invoke(cli, ["import", "qdc", str(qdc), "--out", str(existing)])
    assert result.exit_code == 1 and "not empty" in result.output
    assert (existing / "keep.yaml").read_text() == "x"


def test_refused_quotation_withheld_in_fixture(qdpx):
    with zipfile.ZipFile(qdpx) as archive:
        for name in archive.namelist():
            assert "knock on doors" not in archive.read(name).decode("utf-8"), name
    assert P12_CANARY  # the fixture carries it with quotable = 0


def test_real_pipeline_canaries(export_pipeline_dbs, tmp_path, project_schema):
    working, published = export_pipeline_dbs
    out = tmp_path / "study.qdpx"
    result = CliRunner().invoke(cli, ["export", "qdpx", str(out), "--db", str(working), "--publish-db", str(published)])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as archive:
        project_schema.validate(archive.read("project.qde").decode("utf-8"))
        for name in archive.namelist():
            content = archive.read(name).decode("utf-8")
            for canary in (P09_CANARY, P12_REAL, "orange folder", "knock on doors"):
                assert canary not in content, (name, canary)
            for person in REGISTER_NAMES:
                assert person not in content, (name, person)
    root, texts = read_project(out)
    conn = sqlite3.connect(published)
    conn.row_factory = sqlite3.Row
    excerpts = {r["id"]: dict(r) for r in conn.execute("SELECT * FROM excerpts")}
    by_coding = coding_excerpts(conn)
    checked = 0
    for source in root.iter(f"{P}TextSource"):
        text = texts[source.get("plainTextPath")[len("internal://"):]]
        for selection in source.findall(f"{P}PlainTextSelection"):
            excerpt = excerpts[by_coding[selection.find(f"{P}Coding").get("guid")][0]]
            start, end = int(selection.get("startPosition")), int(selection.get("endPosition"))
            assert text[start:end] == excerpt["text"]
            if excerpt["speaker_role"] == "participant":  # the pseudonymised speaker label, then exactly the excerpt
                label = f"{excerpt['participant_id'] or 'Participant'}: "  # withheld: whose is not published
                assert text[start - len(label):start] == label
            checked += 1
    assert checked > 100
    cases = {c.get("name") for c in root.iter(f"{P}Case")}
    assert "P09" not in cases and "P12" not in cases  # P12 refused quotation: counted, never named


def test_transcripts_carry_speaker_labels_and_documents_none(qdpx, export_fixture_db):
    root, texts = read_project(qdpx)
    conn = sqlite3.connect(export_fixture_db)
    conn.row_factory = sqlite3.Row
    for source in root.iter(f"{P}TextSource"):
        sid = next(i for i in range(1, 8) if guid("source", i) == source.get("guid"))
        rows = [dict(r) for r in conn.execute("SELECT * FROM excerpts WHERE source_id = ? ORDER BY seq", [sid])]
        kind = conn.execute("SELECT kind FROM sources WHERE id = ?", [sid]).fetchone()[0]
        text = texts[source.get("plainTextPath")[len("internal://"):]]
        at = 0
        for row in rows:  # every paragraph: label (transcripts only), then the excerpt's exact text
            label = "" if kind != "transcript" else ("Interviewer: " if row["speaker_role"] == "interviewer" else f"{row['participant_id']}: ")
            body = row["text"] if row["quotable"] else text[at + len(label):].split("\n\n", 1)[0]
            assert text[at:at + len(label) + len(body)] == label + body
            at += len(label) + len(body) + 2
        assert at - 2 == len(text)


def test_source_names_are_file_safe_and_titles_kept(export_fixture_db, tmp_path):
    import shutil

    copy = tmp_path / "publish.db"
    shutil.copy(export_fixture_db, copy)
    conn = sqlite3.connect(copy)
    titles = {6: "Delegation framework 2025/26: CIC\\options?", 1: "Interview P01, wave 1", 3: "Interview P01, wave 1"}
    for sid, title in titles.items():
        conn.execute("UPDATE sources SET title = ? WHERE id = ?", [title, sid])
    conn.commit()
    conn.close()
    out = tmp_path / "s.qdpx"
    export_qdpx("missing.db", out, publish_db=copy)
    root, _ = read_project(out)
    variables = {v.get("guid"): v.get("name") for v in root.iter(f"{P}Variable")}
    names = []
    for source in root.iter(f"{P}TextSource"):
        name = source.get("name")
        assert not set(name) & set('/\\:*?"<>|') and not name.startswith(".")
        names.append(name.lower())
        values = {variables[v.find(f"{P}VariableRef").get("targetGUID")]: v[1].text for v in source.findall(f"{P}VariableValue")}
        sid = next(i for i in range(1, 8) if guid("source", i) == source.get("guid"))
        if sid in titles:  # the real title is kept: first line of the description and the 'title' variable
            assert values["title"] == titles[sid]
            assert source.find(f"{P}Description").text.splitlines()[0] == titles[sid]
    assert "delegation framework 2025-26- cic-options" in names
    assert len(set(names)) == len(names)  # two sources with the same title get different names


def test_codebook_round_trip_is_lossless(tmp_path):
    """export qdc -> import qdc gives the same codebook version (name, lemma overrides, context patterns,
    key terms included) and, coding the shipped corpus, exactly the same suggestions."""
    from casestudy.coding import codebook
    from casestudy.coding.engine import engine_for
    from casestudy.export.refi import Study, codebook_xml, definitions_for
    from casestudy.ingest import readers

    book = codebook.load()
    assert any(c.context for c in book.codes) and book.lemma_overrides  # what the old round trip lost
    codes = [{"id": c.id, "rq": c.rq, "parent_id": None if not c.codable else c.parent_id, "name": c.name,
              "description": c.description, "inclusion": c.inclusion, "exclusion": c.exclusion, "example": c.example,
              "colour": c.colour, "codable": int(c.codable), "sort": c.sort, "codebook_version": book.version}
             for c in book.codes]
    study = Study(codes, [], {}, [], [], [], {})
    qdc = tmp_path / "book.qdc"
    qdc.write_bytes(codebook_xml(study, definitions_for(study)))
    xmlschema.XMLSchema(str(XSD / "Codebook.xsd")).validate(str(qdc))
    result = CliRunner().invoke(cli, ["import", "qdc", str(qdc), "--out", str(tmp_path / "back")])
    assert result.exit_code == 0, result.output
    back = codebook.load(tmp_path / "back")
    assert back.version == book.version and back.name == book.name
    assert back.lemma_overrides == book.lemma_overrides
    assert back.key_terms == book.key_terms and book.key_terms  # each RQ's key terms come back too
    assert [(c.id, c.context, c.tokens) for c in back.codes] == [(c.id, c.context, c.tokens) for c in book.codes]
    corpus = Path(__file__).resolve().parents[1] / "corpus"
    texts = []
    for path in sorted(corpus.rglob("*")):
        if path.suffix.lower() in (".txt", ".md", ".vtt", ".docx") and "transcript" in str(path).lower():
            try:
                texts += [t.text for t in readers.read_transcript(path, set()).excerpts]
            except Exception:
                continue
    assert len(texts) > 200
    a = [[(m.code_id, round(m.score, 6)) for m in ms] for ms in engine_for(book).match_many(texts)]
    b = [[(m.code_id, round(m.score, 6)) for m in ms] for ms in engine_for(back).match_many(texts)]
    assert a == b and sum(map(len, a)) > 100


def test_export_reports_a_codebook_that_does_not_match(export_fixture_db, tmp_path):
    from casestudy.coding.codebook import default_path

    result = CliRunner().invoke(cli, ["export", "qdc", str(tmp_path / "x.qdc"), "--publish-db", str(export_fixture_db),
                                      "--codebook", str(default_path())])
    assert result.exit_code == 1 and "the published codes come from" in result.output
    assert len(result.output.strip().splitlines()) == 1
    result = CliRunner().invoke(cli, ["export", "qdc", str(tmp_path / "x.qdc"), "--publish-db", str(export_fixture_db)])
    assert result.exit_code == 0 and "coding patterns not included" in result.output
