"""`casestudy ingest` through the command line: options, reports, and every kind of bad input."""

from __future__ import annotations

import zipfile

import pytest
from click.testing import CliRunner

import filemakers as fm
from casestudy import db as dblib
from casestudy.cli.main import cli


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def sources(db_path):
    db = dblib.open_db(db_path)
    return [dict(r) for r in db.query("SELECT s.*, i.name AS ics FROM sources s LEFT JOIN ics i ON i.id = s.ics_id")]


def test_ingest_study_and_report(study, db_path):
    result = run("ingest", study, "--db", db_path)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        "Ingested 10 added, 0 replaced, 0 unchanged, 1 consent/name lists; 66 excerpts written; "
        "consent register: 5 participants loaded (5 added, 0 changed)."
    )
    # a fresh database with no study settings: the ICSs and collaboratives given become its registry, and it says so
    assert [line.split(":")[0] for line in result.stderr.splitlines()] == ["Note"] * 3, result.stderr
    again = run("ingest", study, "--db", db_path)
    assert "0 added, 0 replaced, 10 unchanged" in again.stdout


def test_options_override_the_manifest(study, db_path):
    # an ICS that contradicts the consent register for a transcript is refused (SPEC rule 6) ...
    result = run("ingest", study, "--ics", "Saltmarsh", "--wave", "3", "--date", "2026-05-14", "--db", db_path)
    assert result.exit_code == 1 and "contradicts the consent register" in result.output
    # ... the documents take it (an ICS the consent register made known)
    result = run("ingest", study, "--wave", "3", "--date", "2026-05-14", "--db", db_path)
    assert result.exit_code == 0, result.output
    result = run("ingest", study / "papers", "--kind", "board-paper", "--ics", "Saltmarsh", "--db", db_path)
    assert result.exit_code == 0, result.output
    assert "2 with changed metadata" in result.stdout and "ICS Ashmoor → Saltmarsh" in result.stdout
    rows = sources(db_path)
    assert {(r["wave"], r["date"]) for r in rows} == {(3, "2026-05-14")}
    assert {r["ics"] for r in rows if r["kind"] == "board-paper"} == {"Saltmarsh"}


def test_single_file_takes_its_manifest_row_and_participant_option(study, db_path):
    assert run("ingest", study / "consent" / "register.csv", "--db", db_path).exit_code == 0
    result = run("ingest", study / "interviews" / "p03-w2.md", "--db", db_path)
    assert result.exit_code == 0, result.output
    (row,) = sources(db_path)
    assert (row["kind"], row["participant_id"], row["ics"], row["wave"]) == ("transcript", "P03", "Kellbridge", 2)
    path = fm.write_txt_transcript(study.parent / "elsewhere" / "r.txt", fm.interview("Respondent"))
    result = run("ingest", path, "--participant", "P01", "--db", db_path)
    assert result.exit_code == 0, result.output
    assert {r["participant_id"] for r in sources(db_path)} == {"P01", "P03"}


def test_consent_import_command_and_status(study, db_path):
    result = run("consent", "import", study / "consent" / "register.csv", "--db", db_path)
    assert result.exit_code == 0 and "5 participants: 5 added" in result.stdout
    status = run("consent", "status", "--db", db_path)
    assert "P05" in status.stdout and "2024-09-01" in status.stdout


def test_skip_bad_reports_each_skipped_file(study, db_path):
    (study / "papers" / "ashmoor-board.docx").write_bytes(b"")
    (study / "interviews" / "p01-w2.txt").write_text("no turns in here\n")
    result = run("ingest", study, "--skip-bad", "--db", db_path)
    assert result.exit_code == 0, result.output
    skipped = [line for line in result.stderr.strip().splitlines() if not line.startswith("Note: ")]
    assert len(skipped) == 2
    assert skipped[0].startswith("Skipped ") and "p01-w2.txt: no speaker turns found" in skipped[0]
    assert "ashmoor-board.docx: file is empty" in skipped[1]
    assert "8 added" in result.stdout and "2 skipped" in result.stdout


# --- bad input: one line on stderr naming the file and the problem, exit != 0, db as before


def _consent_csv(tmp_path, edit):
    table = edit([list(fm.CONSENT_HEADER)] + [list(r) for r in fm.PARTICIPANTS])
    return fm.write_consent_csv(tmp_path / "consent.csv", rows=table[1:], header=table[0])


def _set(row, column, value):
    return row[:column] + [value] + row[column + 1:]


def _bad_study(tmp_path, manifest_edit):
    folder = fm.make_study(tmp_path)
    manifest = folder / "manifest.csv"
    manifest.write_text(manifest_edit(manifest.read_text()))
    return folder


def _corrupt_xlsx(p):
    with zipfile.ZipFile(p, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
    return p


BAD_INPUTS = {
    # id: (make(tmp_path) -> (args, name expected in the message), words of the problem)
    "corrupt-docx": (lambda t: ([fm.write_text(t / "bad.docx", "PK\x03\x04junk"), "--kind", "transcript", "--participant", "P01"], "bad.docx"), "not a valid .docx"),
    "corrupt-docx-board": (lambda t: ([fm.write_text(t / "bad.docx", "not a zip"), "--kind", "board-paper"], "bad.docx"), "not a valid .docx"),
    "empty-txt": (lambda t: ([fm.write_text(t / "empty.txt", ""), "--kind", "transcript", "--participant", "P01"], "empty.txt"), "file is empty"),
    "empty-pdf": (lambda t: ([fm.write_text(t / "empty.pdf", ""), "--kind", "policy"], "empty.pdf"), "file is empty"),
    "whitespace-md": (lambda t: ([fm.write_text(t / "blank.md", "\n  \n"), "--kind", "observation"], "blank.md"), "file is empty"),
    "truncated-pdf": (lambda t: ([_truncate(fm.write_pdf_board_paper(t / "cut.pdf")), "--kind", "board-paper"], "cut.pdf"), "not a readable PDF"),
    "pdf-encrypted": (lambda t: ([_encrypt(fm.write_pdf_board_paper(t / "locked.pdf")), "--kind", "board-paper"], "locked.pdf"), "password-protected"),
    "pdf-no-text": (lambda t: ([fm.write_pdf_without_text(t / "scan.pdf"), "--kind", "board-paper"], "scan.pdf"), "no extractable text"),
    "vtt-bad-timing": (lambda t: ([fm.write_text(t / "t.vtt", "WEBVTT\n\n1\n00:00:01.000 --> 00:00:0x.000\nP01: hi\n"), "--kind", "transcript"], "t.vtt"), "malformed cue timing"),
    "vtt-no-voices": (lambda t: ([fm.write_text(t / "t.vtt", "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nhello\n\n00:00:02.000 --> 00:00:03.000\nthere\n"), "--participant", "P01"], "t.vtt"), "has no speaker"),
    "vtt-not-webvtt": (lambda t: ([fm.write_text(t / "t.vtt", "1\n00:00:01,000 --> 00:00:02,000\nhello\n"), "--participant", "P01"], "t.vtt"), "not a WebVTT file"),
    "transcript-no-turns": (lambda t: ([fm.write_text(t / "t.txt", "Just some notes.\nNo speakers.\n"), "--kind", "transcript", "--participant", "P01"], "t.txt"), "no speaker turns"),
    "transcript-no-consent": (lambda t: ([fm.write_txt_transcript(t / "p04.txt", fm.interview("P04")), "--kind", "transcript"], "p04.txt"), "did not consent to interview"),
    "transcript-unregistered": (lambda t: ([fm.write_txt_transcript(t / "p09.txt", fm.interview("P09")), "--kind", "transcript"], "p09.txt"), "P09 has no consent record"),
    "transcript-unknown-participant": (lambda t: ([fm.write_txt_transcript(t / "x.txt", fm.interview("Respondent")), "--kind", "transcript"], "x.txt"), "cannot tell who the participant is"),
    "consent-missing-column": (lambda t: ([_consent_csv(t, lambda r: [x[:7] + x[8:] for x in r])], "consent.csv"), "missing required column(s): consent_interview"),
    "consent-bad-flag": (lambda t: ([_consent_csv(t, lambda r: [r[0], _set(r[1], 8, "perhaps")] + r[2:])], "consent.csv"), "row 2: consent_recording must be yes or no"),
    "consent-bad-date": (lambda t: ([_consent_csv(t, lambda r: [r[0], r[1], _set(r[2], 6, "March 2024")] + r[3:])], "consent.csv"), "row 3: consent_date is not a date"),
    "consent-bad-withdrawn-date": (lambda t: ([_consent_csv(t, lambda r: r[:3] + [_set(r[3], 10, "2024-13-01")] + r[4:])], "consent.csv"), "withdrawn_date is not a date"),
    "consent-duplicate-id": (lambda t: ([_consent_csv(t, lambda r: r + [r[2]])], "consent.csv"), "participant P02 appears twice"),
    "consent-header-only": (lambda t: ([_consent_csv(t, lambda r: r[:1])], "consent.csv"), "no participants"),
    "consent-corrupt-xlsx": (lambda t: ([_corrupt_xlsx(t / "consent.xlsx"), "--kind", "consent"], "consent.xlsx"), "not a valid .xlsx"),
    "consent-binary-csv": (lambda t: ([_binary(t / "consent.csv"), "--kind", "consent"], "consent.csv"), "not a valid"),
    "missing-path": (lambda t: ([t / "nowhere.docx"], "nowhere.docx"), "no such file"),
    "unknown-kind": (lambda t: ([fm.write_text(t / "x.txt", "hello"), "--kind", "minutes"], "--kind"), "'minutes' is not one of"),
    "bad-option-date": (lambda t: ([fm.write_text(t / "x.txt", "hello"), "--kind", "policy", "--date", "yesterday"], "command line"), "date must be written YYYY-MM-DD"),
    "unsupported-format": (lambda t: ([fm.write_text(t / "x.rtf", "{\\rtf1}"), "--kind", "policy"], "x.rtf"), "unsupported format .rtf"),
    "kind-not-guessable": (lambda t: ([fm.write_text(t / "x.txt", "Some policy text.")], "x.txt"), "cannot tell what kind"),
    "manifest-missing-file": (lambda t: ([_bad_study(t, lambda m: m + "papers/gone.pdf,board-paper,,,,,\n")], "manifest.csv row 13"), "file not found: papers/gone.pdf"),
    "manifest-climbs-out": (lambda t: ([_bad_study(t, lambda m: m + "../outside.txt,policy,,,,,\n")], "manifest.csv row 13"), "path leaves the folder: ../outside.txt"),
    "manifest-absolute-path": (lambda t: ([_bad_study(t, lambda m: m + f"{fm.write_text(t / 'abs.txt', 'Policy text.')},policy,,,,,\n")], "manifest.csv row 13"), "path leaves the folder"),
    "manifest-bad-kind": (lambda t: ([_bad_study(t, lambda m: m.replace(",observation,", ",meeting,"))], "manifest.csv row 11"), "unknown kind 'meeting'"),
    "manifest-bad-wave": (lambda t: ([_bad_study(t, lambda m: m.replace(",Ashmoor,,1,2024-04-10", ",Ashmoor,,one,2024-04-10"))], "manifest.csv row 3"), "wave must be a whole number"),
    "manifest-no-path-column": (lambda t: ([_bad_study(t, lambda m: m.replace("path,", "file_name,", 1))], "manifest.csv"), "missing required column: path"),
    "folder-with-one-bad-file": (lambda t: ([_broken_study(t)], "kellbridge-board.pdf"), "not a readable PDF"),
    "folder-without-manifest": (lambda t: ([_folder(t)], "loose"), "folder has no manifest.csv; add one or give --kind"),
    "folder-nothing-of-kind": (lambda t: ([_folder(t), "--kind", "consent"], "loose"), "no consent files found"),
    "not-a-database": (lambda t: ([fm.write_text(t / "x.txt", "hello"), "--kind", "policy", "--db", fm.write_text(t / "junk.db", "not sqlite" * 200)], "junk.db"), "cannot open database"),
}


def _truncate(path):
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 3])
    return path


def _encrypt(path):
    from pypdf import PdfWriter

    writer = PdfWriter(clone_from=str(path))
    writer.encrypt("secret")
    writer.write(path)
    return path


def _binary(path):
    path.write_bytes(bytes(range(256)) * 4)
    return path


def _folder(tmp_path):
    folder = tmp_path / "loose"
    fm.write_docx_board_paper(folder / "a.docx")
    return folder


def _broken_study(tmp_path):
    folder = fm.make_study(tmp_path)
    _truncate(folder / "papers" / "kellbridge-board.pdf")
    return folder


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_one_line_and_database_unchanged(case, tmp_path, db_path, dump_db):
    assert run("ingest", fm.write_consent_csv(tmp_path / "reg" / "register.csv"), "--db", db_path).exit_code == 0
    make, problem = BAD_INPUTS[case]
    args, name = make(tmp_path)
    target_db = db_path
    if "--db" in args:
        target_db = args[args.index("--db") + 1]
    else:
        args = [*args, "--db", db_path]
    before = dump_db(db_path)
    result = run("ingest", *args)
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # no traceback
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ") and "Traceback" not in result.output
    assert str(name) in lines[0] and problem in lines[0], lines[0]
    assert result.stdout == ""
    assert dump_db(db_path) == before
    if target_db != db_path:
        assert "not sqlite" in open(target_db).read()


def test_manifest_outside_paths_only_when_allowed(tmp_path, db_path):
    """A shared folder's manifest cannot pull other files on the machine in, unless asked."""
    outside = fm.write_text(tmp_path / "outside.md", "# Local policy\n\nThe collaborative's board meets monthly.\n")
    folder = tmp_path / "shared"
    folder.mkdir()
    fm.write_manifest(folder, [{"path": "../outside.md", "kind": "policy"}])
    refused = run("ingest", folder, "--db", db_path)
    assert refused.exit_code == 1 and "path leaves the folder" in refused.output
    link = folder / "link.md"
    link.symlink_to(outside)
    fm.write_manifest(folder, [{"path": "link.md", "kind": "policy"}])
    assert "path leaves the folder" in run("ingest", folder, "--db", db_path).output
    allowed = run("ingest", folder, "--allow-outside", "--db", db_path)
    assert allowed.exit_code == 0, allowed.output
    assert [s["kind"] for s in sources(db_path)] == ["policy"]
