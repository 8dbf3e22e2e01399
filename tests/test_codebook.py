"""The codebook: the shipped default, validation of bad codebooks (library and CLI, db
unchanged), the content-hash version, storing codes, and finding it from anywhere."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from casestudy.coding import codebook
from casestudy import db as dblib
from casestudy.cli.main import cli
from casestudy.errors import CasestudyError

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO / "codebook"


def test_default_codebook_has_six_rqs_with_themes():
    book = codebook.load(DEFAULT)
    tops = [c for c in book.codes if not c.codable]
    assert [c.id for c in tops] == ["RQ1", "RQ2", "RQ3", "RQ4", "RQ5", "RQ6"]
    for top in tops:
        assert re.fullmatch(rf"{top.id} \S.*", top.name)
        themes = [c for c in book.codable if c.parent_id == top.id]
        assert len(themes) >= 4
        for code in themes:
            assert code.id.startswith(top.id + ".")
            assert code.name and code.description and code.inclusion and code.exclusion and code.example
            assert re.fullmatch(r"#[0-9a-f]{6}", code.colour)
            assert code.phrases or code.lemmas or code.tokens
    assert re.fullmatch(r"[0-9a-f]{12}", book.version)
    names = {c.name for c in tops}
    assert "RQ1 Purpose and aims" in names
    # key terms: each RQ's own headline words; none for RQ1 and RQ2 (their words are said of everything)
    assert set(book.key_terms) == {"RQ3", "RQ4", "RQ5", "RQ6"}
    assert "governance" in book.key_terms["RQ3"] and "icb" in book.key_terms["RQ5"]
    assert not any(c.key_terms for c in book.codable)


def test_version_is_content_hash(tmp_path):
    copy = tmp_path / "cb"
    shutil.copytree(DEFAULT, copy)
    version = codebook.load(DEFAULT).version
    # comments and re-indentation do not change the content
    f = copy / "rq2-members.yaml"
    f.write_text("# a new comment\n" + f.read_text(encoding="utf-8") + "\n# trailing\n", encoding="utf-8")
    os.utime(f, (1, 1))
    assert codebook.load(copy).version == version
    # a pattern does
    f.write_text(f.read_text(encoding="utf-8").replace('"membership", ', '"membership", "consortium", ', 1), encoding="utf-8")
    assert codebook.load(copy).version != version


def _valid_rq(rq="RQ1", code_id=None, extra=""):
    code_id = code_id or f"{rq}.thing"
    return f"""rq: {rq}
name: {rq} Something
description: d
codes:
  - id: {code_id}
    name: Thing
    description: d
    inclusion: i
    exclusion: e
    example: x
    colour: "#112233"
    patterns:
      phrases: ["a thing"]
{extra}"""


BAD = {
    "unknown RQ": ({"rq7.yaml": _valid_rq().replace("rq: RQ1", "rq: RQ7")}, "rq7.yaml", "unknown research question 'RQ7'"),
    "duplicate id": ({"a.yaml": _valid_rq("RQ1", "RQ1.same"), "b.yaml": _valid_rq("RQ2", "RQ1.same")}, "b.yaml", "belongs to RQ1"),
    "duplicate id same rq": (
        {"a.yaml": _valid_rq("RQ1", "RQ1.same") + """  - id: RQ1.same
    name: T
    description: d
    inclusion: i
    exclusion: e
    example: x
    colour: "#112233"
    patterns: {phrases: [x]}
"""},
        "a.yaml",
        "duplicate code id RQ1.same",
    ),
    "duplicate rq": ({"a.yaml": _valid_rq("RQ1", "RQ1.one"), "b.yaml": _valid_rq("RQ1", "RQ1.two")}, "b.yaml", "RQ1 is defined twice"),
    "bad token pattern": (
        {"a.yaml": _valid_rq().replace('phrases: ["a thing"]', 'tokens: [[{LEMA: thing}]]')},
        "a.yaml",
        "bad token pattern 1",
    ),
    "yaml syntax": ({"a.yaml": _valid_rq().replace("description: d\ncodes", "description: [d\ncodes")}, "a.yaml", "YAML syntax error at line"),
    "missing field": ({"a.yaml": _valid_rq().replace("    inclusion: i\n", "")}, "a.yaml", "missing field(s): inclusion"),
    "bad colour": ({"a.yaml": _valid_rq().replace('"#112233"', "red")}, "a.yaml", "colour must be #rrggbb"),
    "bad rq name": ({"a.yaml": _valid_rq().replace("name: RQ1 Something", "name: Something")}, "a.yaml", "name must be 'RQ1 <short question>'"),
    "unknown pattern kind": ({"a.yaml": _valid_rq().replace("phrases:", "phrasez:")}, "a.yaml", "unknown pattern kind(s): phrasez"),
    "no patterns": ({"a.yaml": _valid_rq().replace('phrases: ["a thing"]', "exclude: [x]")}, "a.yaml", "patterns need at least one"),
    "empty phrase": ({"a.yaml": _valid_rq().replace('["a thing"]', '["a thing", ""]')}, "a.yaml", "empty or non-text entry"),
    "bad settings": ({"a.yaml": _valid_rq(), "codebook.yaml": "min_score: 3\n"}, "codebook.yaml", "min_score must be"),
    "bad lemma override": ({"a.yaml": _valid_rq(), "codebook.yaml": "lemmas: {two words: x}\n"}, "codebook.yaml", "single words"),
    "key terms not a list": ({"a.yaml": _valid_rq().replace("codes:", "key_terms: governance\ncodes:")}, "a.yaml",
                             "RQ1: key_terms must be a list of phrases"),
    "empty key term": ({"a.yaml": _valid_rq().replace("codes:", "key_terms: [governance, '']\ncodes:")}, "a.yaml",
                       "RQ1: key_terms has an empty or non-text entry"),
    "wordless key term": ({"a.yaml": _valid_rq().replace("codes:", "key_terms: [governance, '--']\ncodes:")}, "a.yaml",
                          "RQ1: key_terms entry '--' has no word in it"),
    "empty folder": ({"codebook.yaml": "name: x\n"}, "", "no research-question YAML files"),
}


def _write(folder: Path, files: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_codebook_is_one_clear_error(tmp_path, case):
    files, culprit, message = BAD[case]
    folder = _write(tmp_path / "cb", files)
    with pytest.raises(CasestudyError) as info:
        codebook.load(folder)
    text = info.value.message
    assert "\n" not in text
    assert message in text
    assert str(folder / culprit) in text


@pytest.mark.parametrize("case", ["unknown RQ", "duplicate id", "bad token pattern", "yaml syntax", "missing field"])
def test_bad_codebook_cli_leaves_db_unchanged(tmp_path, case, study, dump_db):
    from casestudy.coding import engine as coding
    from casestudy.ingest import files as ingest

    path = tmp_path / "work.db"
    db = dblib.open_db(path)
    ingest.ingest(db, [study], actor="test", skip_bad=True)
    coding.code_database(db, codebook.load(DEFAULT))
    db.close()
    before = dump_db(path)
    files, culprit, message = BAD[case]
    folder = _write(tmp_path / "cb", files)
    result = CliRunner().invoke(cli, ["code", "--codebook", str(folder), "--db", str(path)])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and result.output.startswith("Error: ")
    assert message in result.output
    assert "Traceback" not in result.output
    assert dump_db(path) == before


def test_yaml_words_no_and_on_stay_words(tmp_path):
    folder = _write(tmp_path / "cb", {"a.yaml": _valid_rq().replace('phrases: ["a thing"]', "tokens: [[{LOWER: {IN: [no, on, yes, off]}}, {LOWER: way}]]")})
    book = codebook.load(folder)
    assert book.codable[0].tokens[0][0]["LOWER"]["IN"] == ["no", "on", "yes", "off"]


def test_store_upserts_and_keeps_referenced_codes(tmp_path):
    db = dblib.open_db(tmp_path / "w.db")
    first = _write(tmp_path / "one", {"a.yaml": _valid_rq("RQ1", "RQ1.keep") + """  - id: RQ1.used
    name: Used
    description: d
    inclusion: i
    exclusion: e
    example: x
    colour: "#112233"
    patterns: {phrases: [used]}
  - id: RQ1.unused
    name: Unused
    description: d
    inclusion: i
    exclusion: e
    example: x
    colour: "#112233"
    patterns: {phrases: [unused]}
"""})
    book = codebook.load(first)
    with db.atomic():
        counts = codebook.store(db, book)
    assert counts["added"] == 4
    assert db["codes"].get("RQ1")["codable"] == 0 and db["codes"].get("RQ1.used")["parent_id"] == "RQ1"
    assert db["codebooks"].get(book.version)["n_codes"] == 3
    source = db["sources"].insert({"path": "x", "sha256": "y", "kind": "policy"}).last_pk
    excerpt = db["excerpts"].insert({"source_id": source, "seq": 1, "text": "used"}).last_pk
    db["codings"].insert({"excerpt_id": excerpt, "code_id": "RQ1.used", "coder": "ann", "status": "accepted"})
    second = _write(tmp_path / "two", {"a.yaml": _valid_rq("RQ1", "RQ1.keep").replace("name: Thing", "name: Thing renamed")})
    book2 = codebook.load(second)
    with db.atomic():
        counts = codebook.store(db, book2)
    ids = {r["id"] for r in db["codes"].rows}
    assert ids == {"RQ1", "RQ1.keep", "RQ1.used"}  # unused gone, used kept
    assert counts == {"added": 0, "updated": 2, "removed": 1, "kept": 1}
    assert db["codes"].get("RQ1.keep")["name"] == "Thing renamed"
    assert db["codes"].get("RQ1.used")["codebook_version"] == book.version  # retired: last defined there


def test_default_codebook_found_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("CASESTUDY_CODEBOOK", raising=False)
    monkeypatch.chdir(tmp_path)
    assert codebook.default_path() == DEFAULT
    other = shutil.copytree(DEFAULT, tmp_path / "mine")
    monkeypatch.setenv("CASESTUDY_CODEBOOK", str(other))
    assert codebook.default_path() == other
    result = CliRunner().invoke(cli, ["codebook", "check"])
    assert result.exit_code == 0, result.output
    assert str(other) in result.output and "codable themes" in result.output


def test_built_package_ships_the_codebook(tmp_path):
    """setup.py's build_py copies codebook/ into the package; the copy is found when the
    package has no repository beside it (a wheel install)."""
    build = tmp_path / "build"
    done = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_py", "-d", str(build)], cwd=REPO, capture_output=True, text=True
    )
    shutil.rmtree(REPO / "build", ignore_errors=True)
    assert done.returncode == 0, done.stderr
    shipped = build / "casestudy" / "default_codebook"
    assert sorted(p.name for p in shipped.glob("*.yaml")) == sorted(p.name for p in DEFAULT.glob("*.yaml"))
    env = {k: v for k, v in os.environ.items() if k != "CASESTUDY_CODEBOOK"}
    env["PYTHONPATH"] = str(build)
    probe = subprocess.run(
        [sys.executable, "-c", "from casestudy.coding import codebook; b = codebook.load(); print(b.path, b.version)"],
        cwd=tmp_path, env=env, capture_output=True, text=True,
    )
    assert probe.returncode == 0, probe.stderr
    path, version = probe.stdout.split()
    assert Path(path) == shipped and version == codebook.load(DEFAULT).version
