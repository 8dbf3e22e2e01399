"""Ingest (library level): manifest, metadata, consent, idempotency, replacement, all-or-nothing."""

from __future__ import annotations

import shutil

import pytest

import filemakers as fm
from casestudy.consent import register as consent
from casestudy.ingest import files as ingest
from casestudy import db as dblib
from casestudy.errors import CasestudyError


@pytest.fixture
def work(db_path):
    return dblib.open_db(db_path)


def rows(db, sql, params=()):
    return [dict(r) for r in db.query(sql, params)]


def source(db, name):
    return next(r for r in rows(db, "SELECT * FROM sources") if r["path"].endswith(name))


def test_study_ingests_every_format(work, study):
    report = ingest.ingest(work, [study])
    assert len(report.added) == 10 and not report.skipped and report.consent_files
    kinds = {(r["kind"], r["format"]) for r in rows(work, "SELECT kind, format FROM sources")}
    assert kinds == {
        ("transcript", "docx"), ("transcript", "vtt"), ("transcript", "txt"), ("transcript", "md"),
        ("board-paper", "docx"), ("board-paper", "pdf"), ("observation", "md"), ("policy", "txt"),
    }
    # the participant of each transcript: register name, ID label, register name, ID label, manifest
    owners = {r["path"].rsplit("/", 1)[1]: r["participant_id"] for r in rows(work, "SELECT * FROM sources WHERE kind='transcript'")}
    assert owners == {"p01-w1.docx": "P01", "p02-w1.vtt": "P02", "p03-w1.vtt": "P03", "p01-w2.txt": "P01",
                      "p02-w2.txt": "P02", "p03-w2.md": "P03"}
    for r in rows(work, "SELECT e.* FROM excerpts e JOIN sources s ON s.id = e.source_id WHERE s.kind = 'transcript'"):
        assert r["speaker"] and r["turn"]
        if r["is_interviewer"]:
            assert r["speaker_role"] == "interviewer" and r["participant_id"] is None
        else:
            assert r["speaker_role"] == "participant" and r["participant_id"]
    # metadata from the manifest
    teams = source(work, "p02-w1.vtt")
    assert (teams["wave"], teams["date"]) == (1, "2024-04-12")
    assert work.execute("SELECT name FROM collaboratives WHERE id = ?", [teams["collaborative_id"]]).fetchone()[0] == "Ashmoor Acute Alliance"
    # page numbers on PDF excerpts, none on .docx
    pdf = source(work, "kellbridge-board.pdf")
    assert pdf["pages"] == 3
    assert {r["page"] for r in rows(work, "SELECT page FROM excerpts WHERE source_id = ?", [pdf["id"]])} == {1, 2, 3}
    docx = source(work, "ashmoor-board.docx")
    assert {r["page"] for r in rows(work, "SELECT page FROM excerpts WHERE source_id = ?", [docx["id"]])} == {None}
    # interviewer turns never reach the evidence rule
    assert work.execute("SELECT count(*) FROM excerpts WHERE is_interviewer = 1").fetchone()[0] == 24


def test_offsets_index_the_source_text(work, study):
    ingest.ingest(work, [study])
    for r in rows(work, "SELECT e.text, e.char_start, e.char_end, s.text AS whole FROM excerpts e JOIN sources s ON s.id = e.source_id"):
        assert r["whole"][r["char_start"]:r["char_end"]] == r["text"]


def test_consent_register_csv_varied_headers(work, study):
    ingest.ingest(work, [study / "consent" / "register.csv"], {"kind": "consent"})
    people = {r["participant_id"]: r for r in rows(work, "SELECT * FROM consents")}
    assert set(people) == {"P01", "P02", "P03", "P04", "P05"}
    assert people["P02"]["consent_date"] == "2024-03-02" and people["P02"]["quotes"] == 0
    assert people["P03"]["recording"] == 0 and people["P04"]["interview"] == 0
    assert people["P05"]["withdrawn_date"] == "2024-09-01"
    assert work["participants"].get("P01")["name"] == "Helen Marsh"
    assert work["pseudonyms"].get("Helen Marsh")["pseudonym"] == "[P01]"


def test_consent_register_xlsx(work, tmp_path):
    path = fm.write_consent_xlsx(tmp_path / "register.xlsx")
    ingest.ingest(work, [path])  # kind guessed from the columns
    people = {r["participant_id"]: r for r in rows(work, "SELECT * FROM consents")}
    assert len(people) == 5 and people["P01"]["consent_date"] == "2024-03-01"
    assert people["P02"]["consent_date"] == "2024-03-02"


def test_consent_register_windows_1252_csv(work, tmp_path):
    """Excel on Windows saves CSV in Windows-1252: names with accents must survive."""
    table = [",".join(h.strip() for h in fm.CONSENT_HEADER)] + [",".join(r) for r in fm.PARTICIPANTS]
    table[1] = table[1].replace("Helen Marsh", "Zoë Brontë")
    path = fm.write_text(tmp_path / "register.csv", "\n".join(table) + "\n", encoding="cp1252", newline="\r\n")
    ingest.ingest(work, [path])
    assert work["participants"].get("P01")["name"] == "Zoë Brontë"


@pytest.mark.parametrize(
    "edit, problem",
    [
        (lambda r: r, None),
        (lambda r: [r[0][:4] + r[0][5:]] + [x[:4] + x[5:] for x in r[1:]], "missing required column"),
        (lambda r: [r[0], r[1][:7] + ("maybe",) + r[1][8:]] + r[2:], "consent_interview must be yes or no"),
        (lambda r: [r[0], r[1][:6] + ("31/02/2024",) + r[1][7:]] + r[2:], "consent_date is not a date"),
        (lambda r: r + [r[1]], "appears twice"),
    ],
    ids=["ok", "missing-column", "bad-flag", "bad-date", "duplicate"],
)
def test_consent_register_validation(work, tmp_path, edit, problem):
    table = edit([tuple(fm.CONSENT_HEADER)] + list(fm.PARTICIPANTS))
    path = fm.write_consent_csv(tmp_path / "c.csv", rows=table[1:], header=table[0])
    if problem is None:
        assert consent.read_register(path)
        return
    with pytest.raises(CasestudyError, match=problem) as info:
        ingest.ingest(work, [path], {"kind": "consent"})
    assert info.value.path == str(path)
    assert work["participants"].count == 0


def test_participant_from_option(work, study, tmp_path):
    ingest.ingest(work, [study / "consent" / "register.csv"])
    path = fm.write_txt_transcript(tmp_path / "x.txt", fm.interview("Respondent 1"))
    ingest.ingest(work, [path], {"participant_id": "P03"})
    assert source(work, "x.txt")["participant_id"] == "P03"


def test_transcript_refused_without_interview_consent(work, study, tmp_path, dump_db, db_path):
    ingest.ingest(work, [study / "consent" / "register.csv"])
    before = dump_db(db_path)
    path = fm.write_txt_transcript(tmp_path / "p04.txt", fm.interview("P04"))
    with pytest.raises(CasestudyError, match="P04 did not consent to interview"):
        ingest.ingest(work, [path], {"kind": "transcript"})
    unknown = fm.write_txt_transcript(tmp_path / "p09.txt", fm.interview("P09"))
    with pytest.raises(CasestudyError, match="P09 has no consent record"):
        ingest.ingest(work, [unknown], {"kind": "transcript"})
    assert dump_db(db_path) == before


def test_reingest_same_files_changes_nothing(work, study, db_path, dump_db):
    ingest.ingest(work, [study])
    before = dump_db(db_path)
    report = ingest.ingest(work, [study])
    assert len(report.unchanged) == 10 and not report.added and not report.replaced
    assert dump_db(db_path) == before
    # the same bytes under another name are not stored twice
    copy = shutil.copy(study / "interviews" / "p02-w2.txt", study / "copy.txt")
    report = ingest.ingest(work, [copy], {"kind": "transcript"})
    assert report.unchanged == [str(copy)]
    assert dump_db(db_path) == before


def test_changed_file_keeps_human_codings_whose_text_survives(work, study):
    path = study / "interviews" / "p01-w2.txt"
    ingest.ingest(work, [study])
    src = source(work, "p01-w2.txt")
    excerpts = rows(work, "SELECT id, text FROM excerpts WHERE source_id = ? ORDER BY seq", [src["id"]])
    kept, dropped = excerpts[3], excerpts[5]  # P01's second and third answers
    work["codes"].insert({"id": "rq3.gov", "rq": "RQ3", "name": "Governance"})
    for excerpt, coder, status in [(kept, "alice", "accepted"), (dropped, "alice", "accepted"), (kept, "auto:v1", "suggested")]:
        work["codings"].insert({"excerpt_id": excerpt["id"], "code_id": "rq3.gov", "coder": coder, "status": status})
    work["memos"].insert({"excerpt_id": kept["id"], "author": "alice", "text": "key quote"})

    path.write_text(path.read_text().replace(fm.ANSWERS[2], "We have changed our minds about money entirely."))
    report = ingest.ingest(work, [path])
    assert report.replaced == [str(path)]
    new = rows(work, "SELECT id, text FROM excerpts WHERE source_id = ? ORDER BY seq", [src["id"]])
    assert len(new) == len(excerpts) and new[5]["text"] == "We have changed our minds about money entirely."
    codings = rows(work, "SELECT c.*, e.text FROM codings c JOIN excerpts e ON e.id = c.excerpt_id")
    assert [(c["coder"], c["status"], c["text"]) for c in codings] == [("alice", "accepted", kept["text"])]
    assert rows(work, "SELECT excerpt_id FROM memos") == [{"excerpt_id": new[3]["id"]}]
    assert source(work, "p01-w2.txt")["sha256"] != src["sha256"]
    action = rows(work, "SELECT detail FROM audit_log WHERE action = 'source.replace'")[0]["detail"]
    assert '"human_codings_kept": 1' in action and '"human_codings_lost": 1' in action


def test_unchanged_file_takes_new_manifest_metadata(work, study):
    ingest.ingest(work, [study])
    manifest = study / "manifest.csv"
    manifest.write_text(manifest.read_text().replace("2024-10-22", "2024-10-23"))
    report = ingest.ingest(work, [study])
    assert not report.replaced and source(work, "kellbridge-board.pdf")["date"] == "2024-10-23"


def test_folder_is_all_or_nothing(work, study, db_path, dump_db):
    (study / "papers" / "ashmoor-board.docx").write_bytes(b"PK\x03\x04 broken")
    before = dump_db(db_path)
    with pytest.raises(CasestudyError, match="ashmoor-board.docx: not a valid .docx"):
        ingest.ingest(work, [study])
    assert dump_db(db_path) == before


def test_skip_bad_reports_each_file(work, study):
    (study / "papers" / "ashmoor-board.docx").write_bytes(b"PK\x03\x04 broken")
    (study / "interviews" / "p02-w1.vtt").write_text("WEBVTT\n\n1\n00:00:01.000 --> 00:00:0x.000\nP02: hi\n")
    report = ingest.ingest(work, [study], skip_bad=True)
    assert [p.rsplit("/", 1)[1] for p, _ in report.skipped] == ["p02-w1.vtt", "ashmoor-board.docx"]
    assert "malformed cue timing" in report.skipped[0][1]
    assert len(report.added) == 8
    assert work.execute("SELECT count(*) FROM sources WHERE path LIKE '%ashmoor-board.docx'").fetchone()[0] == 0


def test_folder_without_manifest_uses_kind(work, tmp_path):
    folder = tmp_path / "papers"
    fm.write_docx_board_paper(folder / "a.docx")
    fm.write_pdf_board_paper(folder / "b.pdf")
    fm.write_text(folder / "readme.rtf", "ignored: not a document format")
    report = ingest.ingest(work, [folder], {"kind": "board-paper", "ics": "Kellbridge"})
    assert len(report.added) == 2
    assert {r["name"] for r in rows(work, "SELECT name FROM ics")} == {"Kellbridge"}


def test_kind_guessed_for_single_files(work, study):
    ingest.ingest(work, [study / "consent" / "register.csv"])
    assert ingest.guess_kind(study / "interviews" / "p02-w1.vtt") == "transcript"
    assert ingest.guess_kind(study / "interviews" / "p01-w1.docx") == "transcript"
    with pytest.raises(CasestudyError, match="cannot tell what kind"):
        ingest.guess_kind(study / "policy" / "delegation.txt")


def test_three_speakers_refused(work, study, tmp_path):
    ingest.ingest(work, [study / "consent" / "register.csv"])
    path = fm.write_txt_transcript(
        tmp_path / "group.txt", fm.interview("P01") + fm.interview("P02"), style="none"
    )
    with pytest.raises(CasestudyError, match="one transcript holds one participant"):
        ingest.ingest(work, [path], {"kind": "transcript"})


def test_interviewer_named_by_name_in_teams_file(work, study, tmp_path):
    """Teams writes the researcher's own name as the voice: it must not become participant evidence."""
    ingest.ingest(work, [study / "consent" / "register.csv"])
    path = fm.write_vtt_teams(tmp_path / "teams.vtt", fm.interview("Daniel Okoro", 2, interviewer="Sarah Jones"))
    ingest.ingest(work, [path])
    turns = rows(work, "SELECT speaker, speaker_role, participant_id FROM excerpts ORDER BY seq")
    assert turns[0] == {"speaker": "Sarah Jones", "speaker_role": "interviewer", "participant_id": None}
    assert turns[1] == {"speaker": "Daniel Okoro", "speaker_role": "participant", "participant_id": "P02"}
