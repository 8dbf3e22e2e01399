"""benchmarks/quality_e2e.py: labelled text written as real transcripts (.docx, .vtt, .txt),
a PDF board paper and a .docx policy, ingested and coded by the real CLI, and found again.

Runs on a small slice of the tunable register set (tests/data/register_excerpts.yaml), never
on the held-out set. Asserts what ingest must get right (every item stored as exactly one
excerpt of the right speaker; interviewer questions stored as interviewer turns and never
coded; the CSV export giving every item the database's RQs) and a modest floor for the coder
on this slice: macro-F1 0.801 and 1.18 RQs per coded excerpt with the codebook's patterns
alone (b670c6a). Since cd207eb the default learned model is trained on the shipped labelled
sets, this slice included, so the slice now scores 0.989: the floor checks that the
suggestions reach the database and the export through the whole path, not how the coder
generalises (that is the held-out figure in docs/coding.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

import quality_e2e as e2e  # noqa: E402

REGISTER = REPO / "tests" / "data" / "register_excerpts.yaml"
MACRO_F1_FLOOR = 0.70
MAX_RQS_PER_CODED = 1.6


def slice_of_register() -> list[dict]:
    """The first 24 interview answers and 14 board/survey/briefing paragraphs of the
    tunable register set: 6 interviews (2 per transcript format), a PDF and a .docx."""
    items = e2e.load_items(REGISTER)
    interviews = [i for i in items if i["kind"] == "interview"][:24]
    documents = [i for i in items if i["kind"] in e2e.DOCUMENT_KINDS][:14]
    return interviews + documents


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return e2e.evaluate(REGISTER, items=slice_of_register(), in_process=True,
                        workdir=tmp_path_factory.mktemp("e2e"))


def test_every_format_is_written_and_ingested(result):
    assert result["files"] == {"docx": 2, "vtt": 2, "txt": 2, "pdf": 1, "docx-policy": 1}
    assert result["n"] == 38
    assert set(result["by_format"]) == {"docx", "vtt", "txt", "pdf", "docx-policy"}
    assert "Ingested 8 added" in result["cli_output"]["ingest"]


def test_every_item_is_exactly_one_excerpt_of_the_right_speaker(result):
    assert result["ingest_errors"] == []
    assert result["ingest"]["ok"] == result["n"]
    excerpt_ids = [i["excerpts"] for i in result["items"]]
    assert all(len(ids) == 1 for ids in excerpt_ids)
    assert len({ids[0] for ids in excerpt_ids}) == result["n"]  # no two items share an excerpt


def test_interviewer_turns_are_stored_as_such_and_never_coded(result):
    checks = result["checks"]
    assert checks["question_errors"] == []
    assert checks["interviewer_turns"] == checks["questions"] == 6 * 2 + 24
    assert checks["interviewer_coded"] == []


def test_the_csv_export_gives_every_item_the_rqs_of_the_database(result):
    checks = result["checks"]
    assert checks["export_rows"] > 0
    assert checks["export_mismatches"] == []


def test_coding_floor_end_to_end(result):
    table = result["all"]
    assert table["macro_f1"] >= MACRO_F1_FLOOR, e2e.report(result)
    assert table["rqs_per_coded"] <= MAX_RQS_PER_CODED, e2e.report(result)
    assert any(coder.startswith("auto:") for coder in result["codebook"])
    assert sum(result["suggestions_by_coder"].values()) > 0


def test_report_names_every_part(result):
    text = e2e.report(result)
    for part in ("Ingest: 38/38", "macro-F1", "RQ6", "Per format:", "pdf", "vtt", "Per kind:", "survey",
                 "Per coder", "auto:", "suggested RQs per coded excerpt", "CSV export:", "Time:"):
        assert part in text


def test_a_merged_turn_is_reported_as_an_ingest_error(tmp_path):
    """The harness can fail: a .txt transcript whose question lost its label puts the
    question inside the answer before it, which must show as 'merged', not as coding."""
    items = [i for i in e2e.load_items(REGISTER) if i["kind"] == "interview"][:3]
    study = e2e.write_study(items, tmp_path / "study")
    [path] = list((tmp_path / "study" / "transcripts").glob("*.docx"))
    import docx

    document = docx.Document(path)
    second_question = [p for p in document.paragraphs if p.text.startswith("Interviewer:")][2]
    for run in second_question.runs:
        run.text = run.text.replace("Interviewer:", "")
    document.save(path)
    e2e.run_cli(tmp_path / "study", tmp_path / "e2e.db", in_process=True, until="ingest")
    found, checks = e2e.find_items(study, tmp_path / "e2e.db")
    statuses = {f.placed.item["id"]: f.status for f in found}
    assert statuses[items[0]["id"]] == "merged"
    assert statuses[items[1]["id"]] == statuses[items[2]["id"]] == "ok"
    assert "interviewer question" in [f.detail for f in found if f.status == "merged"][0]
    assert len(checks["question_errors"]) == 1


def test_text_keys_survive_reflow_and_dehyphenation():
    assert e2e.key("organ-\nisation’s  long-term ﬁnance") == e2e.key("organisation's long-term finance")


def test_the_held_out_set_is_never_listed_for_tuning(capsys):
    with pytest.raises(SystemExit) as stop:
        e2e.main(["--errors"])
    assert stop.value.code == 2
    assert "held-out" in capsys.readouterr().err


def test_hard_conventions_are_ingested_exactly(tmp_path):
    """Field conventions: a .docx speaker | words table (P01), a Teams .vtt whose participant
    is an NHSmail display name with the interviewer's 'Mm-hmm.' inside an answer (P02) and
    an Otter.ai .txt (P03) are read as exactly as the plain ones (since 425d060 and
    0cab6c2). The UTF-16 .txt of --conventions hard is not in this slice: on main it is
    still refused (docs/coding.md)."""
    items = [i for i in e2e.load_items(REGISTER) if i["kind"] == "interview"][:12]
    study = e2e.write_study(items, tmp_path / "study", conventions="hard")
    folder = tmp_path / "study" / "transcripts"
    import docx

    assert docx.Document(folder / "2026-P01-w2.docx").tables[0].rows[0].cells[0].text == "Speaker"
    vtt = (folder / "2026-P02-w2.vtt").read_text(encoding="utf-8")
    assert "<v ACHTERBERG, Daniel (" in vtt and ">Mm-hmm.</v>" in vtt
    assert "Amina Qureshi  00:" in (folder / "2026-P03-w2.txt").read_text(encoding="utf-8")
    timings = e2e.run_cli(tmp_path / "study", tmp_path / "e2e.db", in_process=True, until="ingest")
    skipped = e2e.skipped_files(timings["ingest_output"])
    assert skipped == {}
    found, checks = e2e.find_items(study, tmp_path / "e2e.db", skipped)
    assert [(f.placed.item["id"], f.status, f.detail) for f in found if f.status != "ok"] == []
    assert checks["question_errors"] == []
    assert checks["interviewer_turns"] == checks["questions"]


def test_a_refused_file_is_named_and_its_items_counted_missing(tmp_path):
    """The harness can fail here too: a transcript ingest refuses (an empty .vtt) loses its
    items as 'missing', with the refusal named."""
    items = [i for i in e2e.load_items(REGISTER) if i["kind"] == "interview"][:7]
    study = e2e.write_study(items, tmp_path / "study")
    (tmp_path / "study" / "transcripts" / "2026-P02-w2.vtt").write_text("", encoding="utf-8")
    timings = e2e.run_cli(tmp_path / "study", tmp_path / "e2e.db", in_process=True, until="ingest")
    skipped = e2e.skipped_files(timings["ingest_output"])
    assert list(skipped) == ["2026-P02-w2.vtt"]
    found, _ = e2e.find_items(study, tmp_path / "e2e.db", skipped)
    lost = [f for f in found if f.status == "missing"]
    assert [f.placed.participant for f in lost] == ["P02"] * 3
    assert all(f.detail.startswith("file refused by ingest: ") for f in lost)
