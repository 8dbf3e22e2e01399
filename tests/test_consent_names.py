"""Names from the consent register must not reach what a user sees: ingest's messages, the
audit log, the working database's evidence view (headings, matched terms), and the publish
guard's last check. Names written for this file only."""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
import unicodedata
from pathlib import Path

import pytest
import sqlite_utils
from click.testing import CliRunner

from casestudy import db as dblib
from casestudy.consent import pseudonyms
from casestudy.cli.main import cli
from casestudy.consent.publish import LeakGuard

REPO = Path(__file__).resolve().parent.parent
REGISTER = [
    ("P01", "Eilidh Nic an Tòisich", "yes"),
    ("P02", "Chukwuemeka Obi-Nwankwo", "yes"),
    ("P03", "Jarosław van der Wielen", "yes"),
]
STAFF = [("Ptolemy Quarrington", "[the finance director]")]
WORDS = ["Eilidh", "Tòisich", "Toisich", "Chukwuemeka", "Nwankwo", "Jarosław", "Jaroslaw", "Wielen",
         "Ptolemy", "Quarrington", "nicantoisich", "vanderwielen", "obinwankwo"]

PAPER = """# Report of Jarosław van der Wielen, Director

The joint committee agreed the lead provider contract and the capitated budget for the collaborative.

## Note from Ptolemy Quarrington

The section 75 agreement and pooled budget with the council are governed by the joint committee.
"""
P01 = """Interviewer: What is the collaborative for?

P01: The whole point of the collaborative is to stop competing, and the joint committee holds the lead provider to account.
"""


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], env={"CASESTUDY_CODER": "tester"})


def fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).casefold()


def names_in(text: str) -> list[str]:
    return [w for w in WORDS if fold(w) in fold(text)]


def make_study(folder: Path, paper_name: str = "board-jaroslaw-van-der-wielen-2024.md") -> Path:
    folder.mkdir()
    with open(folder / "register.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["participant_id", "name", "ics", "organisation", "org_type", "role", "consent_date", "consent_interview",
                    "consent_recording", "consent_quotes", "withdrawn_date"])
        for pid, name, quotes in REGISTER:
            w.writerow([pid, name, "Brackenfold", "Brackenfold ICB", "ICB", "Director", "2024-01-10", "yes", "yes", quotes, ""])
    with open(folder / "names-ptolemy-quarrington.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["name", "pseudonym"], *STAFF])
    (folder / "P01.txt").write_text(P01, encoding="utf-8")
    (folder / paper_name).write_text(PAPER, encoding="utf-8")
    with open(folder / "manifest.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["path", "kind", "ics", "wave", "date", "participant_id", "title"])
        w.writerow(["register.csv", "consent", "", "", "", "", ""])
        w.writerow(["names-ptolemy-quarrington.csv", "names", "", "", "", "", ""])
        w.writerow(["P01.txt", "transcript", "Brackenfold", "1", "2024-03-01", "P01", ""])
        w.writerow([paper_name, "board-paper", "Brackenfold", "1", "2024-04-01", "", "Board paper"])
    return folder


@pytest.fixture
def study(tmp_path) -> Path:
    return make_study(tmp_path / "study")


@pytest.fixture
def work(tmp_path, study) -> Path:
    db = tmp_path / "work.db"
    for args in (("init",), ("ingest", study)):
        result = run(*args, "--db", db)
        assert result.exit_code == 0, result.output
    return db


# --- ingest messages -------------------------------------------------------------------------


def test_ingest_error_and_skip_warning_pseudonymise_speaker_labels(work, tmp_path):
    mixed = tmp_path / "mixed.txt"
    mixed.write_text("Interviewer: Hello.\n\nP01: Fine.\n\nChukwuemeka Obi-Nwankwo: The committee is weak.\n", encoding="utf-8")
    result = run("ingest", mixed, "--kind", "transcript", "--participant", "P01", "--ics", "Brackenfold", "--db", work)
    assert result.exit_code == 1
    assert "speaker '[P02]' is neither the interviewer nor participant P01" in result.output
    assert names_in(result.output) == [], result.output
    result = run("ingest", mixed, "--kind", "transcript", "--participant", "P01", "--ics", "Brackenfold",
                 "--skip-bad", "--db", work)
    assert result.exit_code == 0 and "Skipped" in result.output
    assert names_in(result.output) == [], result.output


def test_two_named_participants_error_shows_ids_only(work, tmp_path):
    both = tmp_path / "both.txt"
    both.write_text("Interviewer: Hello.\n\nP01: Governance.\n\nChukwuemeka Obi-Nwankwo: Finance.\n", encoding="utf-8")
    result = run("ingest", both, "--kind", "transcript", "--ics", "Brackenfold", "--db", work)
    assert result.exit_code == 1
    assert "P01 and P02" in result.output
    assert names_in(result.output) == [], result.output


# --- the audit log -----------------------------------------------------------------------------


def audit_rows(db: Path) -> list[dict]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    rows = [dict(r) for r in conn.execute("SELECT action, target, detail FROM audit_log ORDER BY id")]
    conn.close()
    return rows


def test_audit_log_records_ids_kinds_and_hashes_never_file_names(work, study):
    paper = study / "board-jaroslaw-van-der-wielen-2024.md"
    paper.write_text(PAPER.replace("capitated budget", "capitated budget and the estates plan"), encoding="utf-8")
    assert run("ingest", study, "--db", work).exit_code == 0
    rows = audit_rows(work)
    actions = [r["action"] for r in rows]
    assert {"source.add", "source.replace", "names.import"} <= set(actions)
    blob = json.dumps(rows)
    assert names_in(blob) == [], blob
    assert "board-jaroslaw" not in blob and ".md" not in blob and "names-" not in blob
    added = [json.loads(r["detail"]) for r in rows if r["action"] == "source.add"]
    assert {d["kind"] for d in added} == {"transcript", "board-paper"}
    assert all(len(d["sha256"]) == 64 and "path" not in d for d in added)
    replaced = json.loads(next(r["detail"] for r in rows if r["action"] == "source.replace"))
    assert replaced["kind"] == "board-paper" and len(replaced["sha256"]) == 64 and "path" not in replaced
    # the path is kept where it is needed: the working database's sources table
    conn = sqlite3.connect(work)
    assert conn.execute("SELECT count(*) FROM sources WHERE path LIKE '%board-jaroslaw%'").fetchone()[0] == 1
    conn.close()


# --- the working database's evidence view --------------------------------------------------------


def test_evidence_view_headings_and_terms_are_pseudonymised(tmp_path, study):
    book = tmp_path / "codebook"
    shutil.copytree(REPO / "codebook", book)
    rq3 = book / "rq3-governance.yaml"
    rq3.write_text(rq3.read_text(encoding="utf-8").replace("lemmas: [", 'lemmas: ["Ptolemy Quarrington", ', 1),
                   encoding="utf-8")
    (study / "board-jaroslaw-van-der-wielen-2024.md").write_text(
        PAPER.replace("governed by the joint committee.", "governed by the joint committee and Ptolemy Quarrington."),
        encoding="utf-8")
    db = tmp_path / "work.db"
    for args in (("init",), ("ingest", study), ("code", "--codebook", book)):
        result = run(*args, "--db", db)
        assert result.exit_code == 0, result.output
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM codings WHERE terms LIKE '%Quarrington%'").fetchone()[0] >= 1
    rows = conn.execute("SELECT heading, terms FROM evidence").fetchall()
    conn.close()
    assert rows and any(h and "[P03]" in h for h, _ in rows)
    assert any(t and "[the finance director]" in t for _, t in rows)
    assert names_in(repr(rows)) == [], rows
    # SPEC's columns are all still there
    conn = sqlite3.connect(db)
    columns = [r[1] for r in conn.execute("PRAGMA table_info(evidence)")]
    conn.close()
    for column in ("excerpt_id", "text", "rq", "code", "status", "coder", "source_kind", "source_title", "ics",
                   "collaborative", "wave", "date", "page", "speaker_role", "participant_id"):
        assert column in columns
    # publish and the CSV export still read the view
    out = tmp_path / "out.csv"
    result = run("export", "csv", out, "--db", db)
    assert result.exit_code == 0, result.output
    assert names_in(out.read_text(encoding="utf-8")) == []


def test_a_new_name_list_repseudonymises_headings_and_terms(work, tmp_path):
    conn = sqlite3.connect(work)
    conn.execute("UPDATE codings SET terms = ?, display_terms = NULL", [json.dumps(["Wilhelmina Strachan-Boyd"])])
    conn.commit()
    conn.close()
    db = dblib.open_db(work)
    with db.atomic():
        db["excerpts"].update(1, {"heading": "Minutes by Wilhelmina Strachan-Boyd"})
        pseudonyms.set_names(db, {"Wilhelmina Strachan-Boyd": "[the secretary]"}, origin="test")
        pseudonyms.refresh_display_text(db)
    assert db.execute("SELECT display_heading FROM excerpts WHERE id = 1").fetchone()[0] == "Minutes by [the secretary]"
    terms = {r[0] for r in db.execute("SELECT display_terms FROM codings")}
    assert terms <= {'["[the secretary]"]'}
    db.close()


def test_a_coding_without_display_terms_never_shows_raw_terms(work):
    conn = sqlite3.connect(work)
    rows = conn.execute("SELECT id FROM codings").fetchall()
    if not rows:  # the fixture does not code: add one coding by hand
        excerpt = conn.execute("SELECT id FROM excerpts WHERE is_interviewer = 0 ORDER BY id").fetchone()[0]
        code = conn.execute("SELECT id FROM codes LIMIT 1").fetchone()
        if code is None:
            conn.execute("INSERT INTO codes (id, rq, name) VALUES ('X.y', 'RQ1', 'y')")
            code = ("X.y",)
        conn.execute("INSERT INTO codings (excerpt_id, code_id, coder, status, terms) VALUES (?, ?, 'a', 'suggested', ?)",
                     [excerpt, code[0], json.dumps(["Eilidh Nic an Tòisich"])])
    else:
        conn.execute("UPDATE codings SET terms = ?, display_terms = NULL", [json.dumps(["Eilidh Nic an Tòisich"])])
    conn.commit()
    terms = [r[0] for r in conn.execute("SELECT terms FROM evidence")]
    conn.close()
    assert terms and all(t is None for t in terms)


def test_migration_5_backfills_an_existing_database(tmp_path):
    """A database made by migrations 1-4, with a name in a heading and a matched term, gets
    pseudonymised headings, terms and text from migration 5 with its current names."""
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)
    db["schema_migrations"].create({"id": int, "name": str, "applied_at": str}, pk="id")
    for number, name, step in dblib.MIGRATIONS[:4]:
        step(db)
        db["schema_migrations"].insert({"id": number, "name": name, "applied_at": "2024-01-01"})
    db["participants"].insert({"id": "P01", "name": "Eilidh Nic an Tòisich"})
    db["consents"].insert({"participant_id": "P01", "interview": 1, "quotes": 1})
    db["pseudonyms"].insert({"name": "Eilidh Nic an Tòisich", "pseudonym": "[P01]", "participant_id": "P01"})
    sid = db["sources"].insert({"path": "/x/b.md", "sha256": "0", "kind": "board-paper", "title": "Board"}).last_pk
    eid = db["excerpts"].insert({"source_id": sid, "seq": 1, "text": "Nic an Tòisich agreed.",
                                 "display_text": "Nic an [P01] agreed.", "heading": "Report of Eilidh Nic an Tòisich"}).last_pk
    db["codes"].insert({"id": "RQ1.x", "rq": "RQ1", "name": "x"})
    db["codings"].insert({"excerpt_id": eid, "code_id": "RQ1.x", "coder": "auto:1", "status": "suggested",
                          "terms": json.dumps(["Nic an Tòisich agreed"])})
    db.conn.commit()
    db.close()
    db = dblib.open_db(path)
    assert dblib.schema_version(db) >= 5
    row = db.execute("SELECT text, heading, terms FROM evidence").fetchone()
    assert row == ("[P01] agreed.", "Report of [P01]", '["[P01] agreed"]')
    db.close()


# --- the publish guard ---------------------------------------------------------------------------


def test_leak_guard_finds_run_together_names_and_surnames():
    guard = LeakGuard([name for _, name, _ in REGISTER] + ["Will Hope", "Dr Ana Ng"], [])
    for text in ("mail eilidh.nicantoisich@x", "nicantoisich2024", "Van der Wielen said", "vanderwielen",
                 "chukwuemekaobinwankwo@x", "c.obi-nwankwo7@x", "Will Hope said", "WILL HOPE", "Ana Ng"):
        assert guard.name_in(text), text
    for text in ("we will hope to", "the van is here", "[P01]@x", "Tòisich", "Obi", "der"):
        assert not guard.name_in(text), text


def test_publish_refuses_a_run_together_surname_the_pseudonymiser_missed(work, tmp_path, study):
    paper = study / "board-jaroslaw-van-der-wielen-2024.md"
    paper.write_text(PAPER + "\nThe portal login is vanderwielen2024 for now.\n", encoding="utf-8")
    assert run("ingest", study, "--db", work).exit_code == 0
    out = tmp_path / "pub.db"
    result = run("publish", out, "--db", work)
    assert result.exit_code == 1
    assert "publish stopped" in result.output and not out.exists()
    # stopped half-way through the excerpts it was writing: its temporary file is gone too
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".pub.db.")] == []
    assert names_in(result.output) == []
