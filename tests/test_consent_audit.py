"""An independent consent audit: attacks on every user-facing path with names and text
nobody tuned the code to. Most tests here showed a leak when they were written (the rest guard a
scenario the audit checked by hand, e.g. withdrawal after review and memo). The last three
were strict xfails for leaks in ingest.py (an error echoing a speaker label), db.py (raw
headings and terms in the evidence view) and pseudonyms.py (multi-word surnames, e-mail
forms); they pass since those were fixed (tests/test_consent_names.py and
tests/test_pseudonyms_particles.py test the same with other names).

The study: P01 (Siobhán Ní Bhriain) consented; P02 (Gwenllian Pryce-Jones) consented,
is coded, reviewed and memoed, then withdraws; P03 (Seán Mac Giolla Phádraig) refused
verbatim quotation; a name list adds Bartholomew Quince. A board paper has register
names in its headings.
"""

from __future__ import annotations

import csv
import shutil
import sqlite3
import unicodedata
from pathlib import Path

import pytest
from click.testing import CliRunner

from casestudy.cli.main import cli

REPO = Path(__file__).resolve().parent.parent

REGISTER = [
    ("P01", "Siobhán Ní Bhriain", "ICB", "Director of Strategy", "yes"),
    ("P02", "Gwenllian Pryce-Jones", "acute trust", "Chief Operating Officer", "yes"),
    ("P03", "Seán Mac Giolla Phádraig", "local authority", "Director of Adult Social Care", "no"),
]
STAFF = [("Bartholomew Quince", "[the finance director]")]
NAMES = [r[1] for r in REGISTER] + [s[0] for s in STAFF]
NAME_WORDS = ["Siobhán", "Siobhan", "Bhriain", "Gwenllian", "Pryce", "Giolla", "Phádraig", "Phadraig",
              "Bartholomew", "Quince", "nibhriain", "macgiolla"]
WITHDRAWN_CANARY = ("The purple giraffe budget was quietly moved into the lead provider reserve account "
                    "during the hard winter before anyone noticed.")

P01 = f"""Interviewer: What is the collaborative for?

P01: The whole point of the collaborative is to stop competing, and the joint committee holds the lead provider to account. Bartholomew Quince signed the risk share.

Interviewer: Who else should we speak to?

P01: Write to gwenllian.pryce-jones@glenmoor.nhs.uk or to me at siobhan.nibhriain@glenmoor.nhs.uk about governance.
"""
P02 = f"""Interviewer: What is the collaborative for?

P02: {WITHDRAWN_CANARY} The whole point of the collaborative is to stop competing.

Interviewer: And governance?

P02: Governance runs through the joint committee and the lead provider contract holds the capitated budget.
"""
P03 = """Interviewer: Tell me about the council.

P03: The section 75 agreement and the pooled budget sit with the joint committee, and the risk share is weak.
"""
PAPER = """# Report of Gwenllian Pryce-Jones, Chief Operating Officer

The joint committee agreed the lead provider contract and the capitated budget for the collaborative.

## Update from Seán Mac Giolla Phádraig

The section 75 agreement and pooled budget with the council are governed by the joint committee.
"""


def run(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env={"CASESTUDY_CODER": "auditor", **(env or {})})


def fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if not unicodedata.combining(c)).casefold()


def names_in(text: str) -> list[str]:
    folded = fold(text)
    return [w for w in NAMES + NAME_WORDS if fold(w) in folded]


def build(tmp_path: Path, codebook: Path | None = None) -> Path:
    study = tmp_path / "study"
    study.mkdir()
    with open(study / "register.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["participant_id", "name", "ics", "organisation", "org_type", "role", "consent_date",
                    "consent_interview", "consent_recording", "consent_quotes", "withdrawn_date"])
        for pid, name, org_type, role, quotes in REGISTER:
            w.writerow([pid, name, "Glenmoor", f"Glenmoor {org_type}", org_type, role, "2024-01-10", "yes", "yes", quotes, ""])
    with open(study / "names.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["name", "pseudonym"], *STAFF])
    for name, text in (("P01.txt", P01), ("P02.txt", P02), ("P03.txt", P03), ("paper.md", PAPER)):
        (study / name).write_text(text, encoding="utf-8")
    with open(study / "manifest.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["path", "kind", "ics", "collaborative", "wave", "date", "participant_id", "title"])
        w.writerow(["register.csv", "consent", "", "", "", "", "", ""])
        w.writerow(["names.csv", "names", "", "", "", "", "", ""])
        for pid in ("P01", "P02", "P03"):
            w.writerow([f"{pid}.txt", "transcript", "Glenmoor", "", "1", "2024-03-01", pid, ""])
        w.writerow(["paper.md", "board-paper", "Glenmoor", "", "1", "2024-04-01", "", "Board paper"])
    db = tmp_path / "work.db"
    for args in (("init",), ("ingest", study), ("code", *(("--codebook", codebook) if codebook else ()))):
        result = run(*args, "--db", db)
        assert result.exit_code == 0, result.output
    return db


def excerpt_id(db: Path, pid: str, like: str) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT id FROM excerpts WHERE participant_id = ? AND text LIKE ? ORDER BY id", [pid, f"%{like}%"]
        ).fetchone()[0]
    finally:
        conn.close()


@pytest.fixture
def work(tmp_path) -> Path:
    return build(tmp_path)


# --- review show: memos and matched terms are shown as written ---------------------------------


def test_review_show_pseudonymises_memo_text(work):
    """A memo that names someone was printed verbatim by `review show` (and `review next`)."""
    ex = excerpt_id(work, "P01", "whole point")
    assert run("review", "memo", "Siobhán Ní Bhriain contradicts Gwenllian Pryce-Jones here", "--excerpt", ex,
               "--db", work).exit_code == 0
    assert run("review", "memo", "Quince again, see Seán", "--code", "RQ3.joint-committee",
               "--db", work).exit_code == 0
    out = run("review", "show", ex, "--db", work).output
    assert "Memo #1" in out and "Memo #2" in out
    assert names_in(out) == [], out


def name_matching_codebook(tmp_path: Path) -> Path:
    """The default codebook with a name among RQ3's terms (a review named after a person, say)."""
    book = tmp_path / "codebook"
    shutil.copytree(REPO / "codebook", book)
    rq3 = book / "rq3-governance.yaml"
    rq3.write_text(rq3.read_text(encoding="utf-8").replace("lemmas: [", 'lemmas: ["Bartholomew Quince", ', 1),
                   encoding="utf-8")
    return book


def test_review_show_pseudonymises_matched_terms(tmp_path):
    """A codebook term that matches a name (a review named after a person, say) was printed raw."""
    book = name_matching_codebook(tmp_path)
    work = build(tmp_path, codebook=book)
    ex = excerpt_id(work, "P01", "whole point")
    conn = sqlite3.connect(work)
    assert conn.execute("SELECT count(*) FROM codings WHERE terms LIKE '%Quince%'").fetchone()[0] == 1
    conn.close()
    out = run("review", "show", ex, "--db", work).output
    assert "Codings:" in out
    assert names_in(out) == [], out


def test_review_why_pseudonymises_text_and_matched_terms(tmp_path):
    """`review why` shows the excerpt and the words the patterns matched: never a name."""
    book = name_matching_codebook(tmp_path)
    work = build(tmp_path, codebook=book)
    ex = excerpt_id(work, "P01", "whole point")
    out = run("review", "why", ex, "--codebook", book, "--db", work)
    assert out.exit_code == 0, out.output
    assert "matched RQ3." in out.output and "[the finance director]" in out.output
    assert names_in(out.output) == [], out.output


def test_review_why_refuses_a_withdrawn_participants_excerpt(work):
    ex = excerpt_id(work, "P02", "purple giraffe")
    assert run("consent", "withdraw", "P02", "--db", work).exit_code == 0
    out = run("review", "why", ex, "--db", work)
    assert out.exit_code == 1 and out.output.startswith("Error: ") and len(out.output.strip().splitlines()) == 1, out.output
    assert "purple giraffe" not in out.output and "Traceback" not in out.output


# --- exports: --publish-db must be a current publish database ------------------------------------


@pytest.mark.parametrize("kind,suffix", [("csv", ".csv"), ("qdpx", ".qdpx"), ("docx", ".docx")])
def test_export_refuses_the_working_database_as_publish_db(work, tmp_path, kind, suffix):
    """`export ... --publish-db work.db` read the working database (raw text, real names) and
    got as far as building the file (qdpx ended in a traceback)."""
    out = tmp_path / f"leak{suffix}"
    result = run("export", kind, out, "--db", work, "--publish-db", work)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.output.startswith("Error: ") and len(result.output.strip().splitlines()) == 1, result.output
    assert "working database" in result.output
    assert not out.exists()


def test_export_refuses_a_publish_db_built_before_a_withdrawal(work, tmp_path):
    """A copy of a publish database made before a withdrawal (not in <db>.published, so not
    rebuilt) was exported from as it was: the withdrawn participant's words in a new export."""
    built = tmp_path / "work-publish.db"
    assert run("publish", built, "--db", work).exit_code == 0
    copy = tmp_path / "copy-for-the-pi.db"
    shutil.copy(built, copy)
    assert run("consent", "withdraw", "P02", "--db", work).exit_code == 0
    out = tmp_path / "after.csv"
    result = run("export", "csv", out, "--db", work, "--publish-db", copy)
    assert result.exit_code == 1, result.output
    assert "P02" in result.output and "casestudy publish" in result.output
    assert not out.exists()
    # the rebuilt (registered) publish database is fine
    result = run("export", "csv", out, "--db", work, "--publish-db", built)
    assert result.exit_code == 0, result.output
    assert "giraffe" not in out.read_text(encoding="utf-8")


# --- withdrawn after coding, review and memo: gone everywhere ------------------------------------


def test_withdrawal_after_review_and_memo_reaches_publish_and_exports(work, tmp_path):
    ex = excerpt_id(work, "P02", "giraffe")
    conn = sqlite3.connect(work)
    coding = conn.execute("SELECT id FROM codings WHERE excerpt_id = ? ORDER BY id", [ex]).fetchone()[0]
    conn.close()
    assert run("review", "accept", coding, "--db", work).exit_code == 0
    assert run("review", "memo", "Gwenllian: " + WITHDRAWN_CANARY, "--code", "RQ3.joint-committee", "--db", work).exit_code == 0
    published = tmp_path / "work-publish.db"
    assert run("publish", published, "--db", work).exit_code == 0
    assert run("consent", "withdraw", "P02", "--db", work).exit_code == 0
    out = tmp_path / "out.csv"
    assert run("export", "csv", out, "--db", work).exit_code == 0
    texts = [out.read_text(encoding="utf-8"), published.read_bytes().decode("utf-8", "replace")]
    conn = sqlite3.connect(published)
    for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
        texts += [repr(row) for row in conn.execute(f"SELECT * FROM [{table}]")]
    conn.close()
    blob = "\n".join(texts)
    assert "giraffe" not in blob
    assert "P02" not in blob
    assert [w for w in names_in(blob) if w in ("Gwenllian Pryce-Jones", "Gwenllian", "Pryce")] == []


# --- leaks found by the audit in ingest.py, db.py and pseudonyms.py (fixed since) ----------------


def test_ingest_error_does_not_echo_a_register_name(work, tmp_path):
    mixed = tmp_path / "mixed.txt"
    mixed.write_text("Interviewer: Hello.\n\nP01: Governance is fine.\n\nGwenllian Pryce-Jones: The joint committee is weak.\n",
                     encoding="utf-8")
    result = run("ingest", mixed, "--kind", "transcript", "--participant", "P01", "--ics", "Glenmoor", "--db", work)
    assert result.exit_code == 1
    assert names_in(result.output) == [], result.output


def test_working_evidence_view_has_no_names_in_headings(work):
    conn = sqlite3.connect(work)
    rows = conn.execute("SELECT * FROM evidence").fetchall()
    conn.close()
    assert rows
    assert names_in(repr(rows)) == []


def test_multi_word_surnames_and_their_email_addresses_are_replaced(work, tmp_path):
    published = tmp_path / "work-publish.db"
    assert run("publish", published, "--db", work).exit_code == 0
    conn = sqlite3.connect(published)
    rows = conn.execute("SELECT text, heading FROM excerpts").fetchall()
    conn.close()
    assert names_in(repr(rows)) == [], [r for r in rows if names_in(repr(r))]
    assert not any("Giolla" in (h or "") or "Ní " in (t or "") for t, h in rows)
