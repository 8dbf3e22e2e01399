"""Issue 13, done: a second study, built from scratch with the command line only, with its own
title, ICSs, collaborative and waves. Its report cover, Datasette home page and metadata and its
REFI-QDA project carry its names, and none of the sample study's."""

from __future__ import annotations

import asyncio
import re
import zipfile

import docx
import pytest
from click.testing import CliRunner

import filemakers as fm
from casestudy.cli.main import cli
from test_no_sample_names import sample_names

TITLE = "Integrated care on the Fen coast"
REGISTER = [
    ("P01", "Jo Whitlock", "Northvale", "Northvale Mental Health Trust", "Mental health trust", "Director", "2023-09-10",
     "yes", "yes", "yes", ""),
    ("P02", "Sam Ferrers", "Riverside", "Riverside ICB", "ICB", "Chief Executive", "2025-02-01", "yes", "yes", "yes", ""),
]


def run(*args):
    result = CliRunner(env={"CASESTUDY_CODER": "second-team"}).invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, (args, result.output)
    return result


@pytest.fixture(scope="module")
def second_study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("second")
    db = folder / "db" / "second.db"
    run("init", "--db", db)
    for field, value in (("title", TITLE), ("subtitle", "Interim thematic summary"), ("pi", "Prof Robin Harte"),
                         ("authors", "Prof Robin Harte; Dr Lee Amory"), ("funder", "Fen Coast Health Trust Fund"),
                         ("grant", "FCHT-77"), ("status", "final")):
        run("study", "set", field, value, "--db", db)
    run("study", "add-ics", "Northvale", "--full-name", "Northvale and Fenmouth ICS", "--db", db)
    run("study", "add-ics", "Riverside", "--db", db)
    run("study", "add-collaborative", "Northvale Mental Health Partnership", "--ics", "Northvale", "--type", "mental health",
        "--governance", "lead provider", "--db", db)
    run("study", "add-wave", "1", "--start", "2023-09-01", "--end", "2024-03-31", "--db", db)
    run("study", "add-wave", "2", "--year", "2025", "--db", db)
    run("ingest", fm.write_consent_csv(folder / "register.csv", REGISTER), "--db", db)
    run("ingest", fm.write_txt_transcript(folder / "p01.txt", fm.interview("P01")), "--participant", "P01", "--wave", "1",
        "--date", "2023-10-05", "--collaborative", "Northvale Mental Health Partnership", "--db", db)
    run("ingest", fm.write_txt_transcript(folder / "p02.txt", fm.interview("P02")), "--participant", "P02", "--wave", "2",
        "--date", "2025-03-03", "--db", db)
    run("code", "--db", db)
    run("export", "docx", folder / "report.docx", "--db", db)
    run("export", "qdpx", folder / "study.qdpx", "--db", db)
    return folder, db


def _no_sample_names(text: str) -> None:
    pattern = re.compile(r"\b(" + "|".join(re.escape(n) for n in sample_names()) + r")\b", re.I)
    assert not pattern.search(text), pattern.search(text).group(0)


def _docx_text(path) -> str:
    document = docx.Document(str(path))
    parts = [p.text for p in document.paragraphs]
    parts += [cell.text for table in document.tables for row in table.rows for cell in row.cells]
    parts += [p.text for section in document.sections for p in section.header.paragraphs]
    parts += [document.core_properties.title or "", document.core_properties.subject or "", document.core_properties.author or ""]
    return "\n".join(parts)


def test_report_cover_is_the_second_studys(second_study):
    folder, _ = second_study
    document = docx.Document(str(folder / "report.docx"))
    title = next(p for p in document.paragraphs if p.style.name == "Title")
    assert title.text == TITLE
    text = _docx_text(folder / "report.docx")
    for expected in ("Interim thematic summary", "Prof Robin Harte", "Dr Lee Amory", "Fen Coast Health Trust Fund, grant FCHT-77",
                     "Northvale (Northvale and Fenmouth ICS)", "Riverside", "wave 1 (2023–2024)", "wave 2 (2025)", "Final"):
        assert expected in text, expected
    assert "DRAFT" not in text
    _no_sample_names(text)


def test_report_options_override_the_settings(second_study):
    folder, db = second_study
    run("export", "docx", folder / "draft.docx", "--title", "Board briefing", "--report-status", "draft", "--db", db)
    text = _docx_text(folder / "draft.docx")
    assert "Board briefing" in text and "Board briefing — thematic summary — DRAFT" in text
    assert TITLE not in text


def test_datasette_home_page_and_metadata_are_the_second_studys(second_study):
    from casestudy.browse import serve

    folder, db = second_study
    ds = serve.build_datasette(folder / "db" / "second-publish.db")
    html = asyncio.run(ds.client.get("/")).text
    assert f"{TITLE}: coded evidence" in html
    assert "Northvale" in html and "wave 1 (2023–2024)" in html and "wave 2 (2025)" in html
    meta = asyncio.run(ds.client.get("/-/metadata.json")).json()
    described = meta["databases"]["study"]["tables"]["evidence"]["columns"]
    assert described["ics"] == "Integrated Care System (Northvale, Riverside)."
    assert described["wave"] == "Fieldwork wave: wave 1 (2023–2024), wave 2 (2025)."
    assert "Prof Robin Harte" in meta["description"]
    examples = serve.canned_queries  # the canned-query example points at this study's own ICS and wave
    from casestudy.browse.metadata import canned_examples
    from casestudy import study

    assert canned_examples(study.load_published(folder / "db" / "second-publish.db"))["evidence_for"] == \
        "rq=RQ3&code=&ics=Northvale&wave=2"
    assert examples
    _no_sample_names(html)
    _no_sample_names(str(meta))


def test_refi_project_is_the_second_studys(second_study):
    folder, _ = second_study
    with zipfile.ZipFile(folder / "study.qdpx") as archive:
        project = archive.read("project.qde").decode("utf-8")
    assert f'name="{TITLE} (casestudy export)"' in project
    assert "Northvale" in project and "wave 1 (2023–2024), wave 2 (2025)" in project
    _no_sample_names(project)
