"""`casestudy export docx`: the Word thematic summary, opened and read back."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import docx
import pytest
from click.testing import CliRunner

from casestudy.cli.main import cli
from casestudy.export.word import choose_quotes, cohen_kappa, export_docx, trim_quote
from export_fixture import P12_CANARY
from export_pipeline import P09_CANARY, P12_CANARY as P12_REAL, REGISTER_NAMES


def all_text(path: Path) -> str:
    document = docx.Document(str(path))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.extend(cell.text for cell in row.cells)
    return "\n".join(parts)


def table_after(document, caption_start: str):
    """The table that follows the caption paragraph starting with ``caption_start``."""
    body = document.element.body
    found = False
    for child in body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p" and "".join(child.itertext()).startswith(caption_start):
            found = True
        elif found and tag == "tbl":
            return docx.table.Table(child, document)
    raise AssertionError(f"no table after {caption_start!r}")


def row_cells(table, first: str) -> list[str]:
    for row in table.rows:
        cells = [c.text.strip() for c in row.cells]
        if cells[0] == first:
            return cells
    raise AssertionError(f"no row {first!r}")


@pytest.fixture(scope="module")
def report(export_fixture_db, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("docx") / "report.docx"
    export_docx("missing-working.db", out, publish_db=export_fixture_db)
    return out


def test_report_has_title_contents_and_every_rq(report):
    document = docx.Document(str(report))
    styles = [p.style.name for p in document.paragraphs]
    text = all_text(report)
    assert "Provider collaboratives in three Integrated Care Systems" in text
    assert "Codebook version" in text and "2024.1" in text
    headings = [p.text for p in document.paragraphs if p.style.name == "Heading 1"]
    for title in ("RQ1 Purpose and aims", "RQ3 Governance and accountability", "RQ6 Quality, efficiency and sustainability",
                  "Appendix A. Sources of evidence", "Appendix B. Consent summary", "Appendix C. Coder agreement"):
        assert title in headings
    # a TOC field Word fills in, and a written list that reads without it
    xml = zipfile.ZipFile(report).read("word/document.xml").decode()
    assert 'TOC \\o "1-2"' in xml
    settings = zipfile.ZipFile(report).read("word/settings.xml").decode()
    assert '<w:updateFields w:val="true"/>' in settings
    assert settings.index("<w:updateFields") < settings.index("<w:compat")  # schema order, or Word "repairs" it
    bullets = [p.text for p in document.paragraphs if p.style.name == "List Bullet"]
    assert "RQ4 Contracts" in bullets and "Appendix C. Coder agreement" in bullets
    # real styles, so the PI can edit it
    assert {"Title", "Heading 1", "Heading 2", "Quote", "Quote Attribution", "Caption"} <= set(styles)
    assert all(t.style.name in ("Light List Accent 1", "Light Grid Accent 1") for t in document.tables)


def test_summary_table_counts_excerpts_and_participants_by_ics_and_wave(report):
    document = docx.Document(str(report))
    rq3 = table_after(document, "Table 5. RQ3")
    header = [c.text for c in rq3.rows[0].cells]
    assert header == ["Theme", "All", "Ashmoor", "Kellbridge", "Saltmarsh Coast", "Wave 1", "Wave 2", "Wave 3"]
    # Accountability to the ICB: P01 (Ashmoor w1), board paper (Kellbridge w2), P05 (Kellbridge w3)
    assert row_cells(rq3, "Accountability to the ICB") == ["Accountability to the ICB", "3 (2)", "1 (1)", "2 (1)", "–", "1 (1)", "1 (0)", "1 (1)"]
    # the refused-quotation participant is counted …
    rq2 = table_after(document, "Table 3. RQ2")
    assert row_cells(rq2, "VCSE and local authority members")[1] == "2 (2)"


def test_quotes_are_attributed_by_pseudonym_and_cited(report):
    document = docx.Document(str(report))
    quotes = [p.text for p in document.paragraphs if p.style.name == "Quote"]
    notes = [p.text for p in document.paragraphs if p.style.name == "Quote Attribution"]
    assert any("we pooled the rotas and share the risk" in q for q in quotes)
    assert "— P01, Director of Strategy, ICB, Ashmoor, wave 1 (2024)" in notes
    assert any(n.startswith("— Board paper: Kellbridge ICB Board: delegation of community budgets, 29 July 2025, p. 3") for n in notes)


def test_refused_quotation_is_counted_never_quoted(report):
    xml = zipfile.ZipFile(report).read("word/document.xml").decode()
    assert "knock on doors" not in xml and P12_CANARY not in xml
    text = all_text(report)
    assert "1 further excerpt from 1 participant who did not consent to verbatim quotation is counted above but not quoted." in text


def test_coder_agreement_and_kappa(report):
    document = docx.Document(str(report))
    review = table_after(document, "Table 15.")
    assert row_cells(review, "RQ3")[1:] == ["5", "3", "0", "2", "100%"]
    kappa = table_after(document, "Table 16.")
    assert row_cells(kappa, "alice & bob")[1:] == ["RQ1", "4", "75%", "0.47"]
    assert cohen_kappa([True, False, True, False], [True, False, True, False]) == 1.0
    assert cohen_kappa([True, True], [True, True]) is None


def test_filters_rq_ics_wave_status(export_fixture_db, tmp_path):
    out = tmp_path / "rq3.docx"
    runner = CliRunner()
    result = runner.invoke(cli, ["export", "docx", str(out), "--rq", "rq3", "--ics", "kellbridge", "--status", "accepted",
                                 "--publish-db", str(export_fixture_db), "--db", str(tmp_path / "none.db")])
    assert result.exit_code == 0, result.output
    document = docx.Document(str(out))
    headings = [p.text for p in document.paragraphs if p.style.name == "Heading 1"]
    assert "RQ3 Governance and accountability" in headings and "RQ1 Purpose and aims" not in headings
    text = all_text(out)
    assert "Kellbridge" in text and "accepted only" in text
    notes = [p.text for p in document.paragraphs if p.style.name == "Quote Attribution"]
    assert notes and all("Kellbridge" in n for n in notes)
    assert not any("P05" in n for n in notes)  # P05's coding is only suggested

    result = runner.invoke(cli, ["export", "docx", str(out), "--wave", "3", "--publish-db", str(export_fixture_db)])
    assert result.exit_code == 0, result.output
    assert "P01, Director" not in all_text(out)


def test_quote_choice_prefers_accepted_and_diversity():
    rows = [
        {"excerpt_id": i, "text": f"Quote number {i} with enough words to be a real quote here.", "status": s,
         "ics": ics, "wave": w, "participant_id": p, "source_id": i, "quotable": 1, "score": 0.5}
        for i, s, ics, w, p in [(1, "suggested", "A", 1, "P1"), (2, "accepted", "A", 1, "P1"), (3, "accepted", "A", 1, "P2"),
                                (4, "suggested", "B", 2, "P3"), (5, "accepted", "A", 1, "P9")]
    ]
    rows.append({"excerpt_id": 6, "text": "[withheld: …]", "status": "accepted", "ics": "C", "wave": 3, "participant_id": "P12",
                 "source_id": 6, "quotable": 0})
    chosen = [r["excerpt_id"] for r in choose_quotes(rows, 3)]
    assert chosen[0] in (2, 3, 5) and 4 in chosen and 6 not in chosen
    assert len({r for r in chosen}) == 3
    long = " ".join(f"Sentence {i} is here." for i in range(60))
    assert trim_quote(long, [[long.index("Sentence 30"), long.index("Sentence 30") + 5]], 20).startswith("… ")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--rq", "RQ9"], "unknown research question 'RQ9'"),
        (["--ics", "Atlantis"], "unknown ICS 'Atlantis'"),
        (["--wave", "7"], "unknown wave 7"),
    ],
)
def test_bad_filters_are_one_line_errors(export_fixture_db, tmp_path, args, message):
    out = tmp_path / "r.docx"
    result = CliRunner().invoke(cli, ["export", "docx", str(out), *args, "--publish-db", str(export_fixture_db)])
    assert result.exit_code == 1
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output and not out.exists()


def test_bad_paths_are_one_line_errors(export_fixture_db, tmp_path):
    runner = CliRunner()
    cases = [
        (["export", "docx", str(tmp_path / "no-such-dir" / "r.docx"), "--publish-db", str(export_fixture_db)], "folder does not exist"),
        (["export", "docx", str(tmp_path / "r.txt"), "--publish-db", str(export_fixture_db)], "output must end in .docx"),
        (["export", "docx", str(tmp_path / "r.docx"), "--publish-db", str(tmp_path / "missing.db")], "no such publish database"),
        (["export", "docx", str(tmp_path / "r.docx"), "--db", str(tmp_path / "missing-working.db")], "no such database"),
    ]
    not_publish = tmp_path / "plain.db"
    import sqlite3

    sqlite3.connect(not_publish).execute("CREATE TABLE x (a)").connection.commit()
    cases.append((["export", "docx", str(tmp_path / "r.docx"), "--publish-db", str(not_publish)], "not a publish database"))
    readonly = tmp_path / "ro"
    readonly.mkdir()
    readonly.chmod(0o500)
    try:
        import os

        if not os.access(readonly, os.W_OK):  # (root can write anywhere)
            cases.append((["export", "docx", str(readonly / "r.docx"), "--publish-db", str(export_fixture_db)], "permission denied"))
        for args, message in cases:
            result = runner.invoke(cli, args)
            assert result.exit_code == 1, (args, result.output)
            assert message in result.output and len(result.output.strip().splitlines()) == 1, result.output
    finally:
        readonly.chmod(0o700)


def test_real_pipeline_canaries(export_pipeline_dbs, tmp_path):
    working, published = export_pipeline_dbs
    out = tmp_path / "study.docx"
    result = CliRunner().invoke(cli, ["export", "docx", str(out), "--db", str(working), "--publish-db", str(published)])
    assert result.exit_code == 0, result.output
    xml = zipfile.ZipFile(out).read("word/document.xml").decode()
    text = all_text(out)
    for canary in (P09_CANARY, P12_REAL, "orange folder", "knock on doors"):
        assert canary not in xml and canary not in text
    for name in REGISTER_NAMES:
        assert name not in xml, name
    assert "did not consent to verbatim quotation" in text  # P12 counted, not quoted
    assert "P09" not in xml  # the withdrawn participant is not even counted


def test_default_builds_the_publish_db(export_pipeline_dbs, tmp_path):
    working, _ = export_pipeline_dbs
    copy = tmp_path / "work.db"
    shutil.copy(working, copy)
    out = tmp_path / "r.docx"
    result = CliRunner().invoke(cli, ["export", "docx", str(out), "--rq", "RQ4", "--db", str(copy)])
    assert result.exit_code == 0, result.output
    assert "RQ4" in all_text(out)
    assert list(tmp_path.glob("*publish*.db")), "the publish database was not built beside the working database"


@pytest.mark.render
@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice (soffice) is not installed")
def test_renders_in_libreoffice(report, tmp_path):
    subprocess.run(["soffice", "--headless", "--convert-to", "pdf", "--outdir", str(tmp_path), str(report)],
                   check=True, capture_output=True, timeout=180)
    pdf = tmp_path / "report.pdf"
    assert pdf.exists() and pdf.stat().st_size > 10_000
    from pypdf import PdfReader

    reader = PdfReader(str(pdf))
    assert len(reader.pages) >= 8
    text = " ".join(page.extract_text() for page in reader.pages)
    assert "RQ1 Purpose and aims" in text and "Framework matrix" in text
    assert "pooled the rotas" in text
    assert "knock on doors" not in text


def test_attribution_does_not_repeat_what_the_title_already_says():
    from casestudy.export.word import attribution

    row = {"source_kind": "observation", "source_title": "Observation notes — Partnership board, 16 September 2025",
           "date": "2025-09-16", "page": None, "ics": "Kellbridge"}
    text = attribution(row)
    assert text.count("Observation notes") == 1
    assert text.count("16 September 2025") == 1
    paper = attribution({"source_kind": "board-paper", "source_title": "ICB Board meeting in public",
                         "date": "2024-05-14", "page": 2, "ics": "Ashmoor"})
    assert paper == "Board paper: ICB Board meeting in public, 14 May 2024, p. 2, Ashmoor"


def test_coder_agreement_counts_rejected_suggestions(export_pipeline_dbs, tmp_path):
    """Rejected suggestions are not evidence, but the review table must still count them."""
    working, _ = export_pipeline_dbs
    copy = tmp_path / "work.db"
    shutil.copy(working, copy)
    import sqlite3

    conn = sqlite3.connect(copy)
    ids = [row[0] for row in conn.execute(
        """SELECT c.id FROM codings c JOIN codes cd ON cd.id = c.code_id
           WHERE cd.rq = 'RQ4' AND c.status = 'suggested' ORDER BY c.id LIMIT 3""")]
    conn.close()
    assert len(ids) == 3
    runner = CliRunner()
    assert runner.invoke(cli, ["review", "reject", str(ids[0]), str(ids[1]), "--coder", "A. Researcher", "--db", str(copy)]).exit_code == 0
    assert runner.invoke(cli, ["review", "accept", str(ids[2]), "--coder", "A. Researcher", "--db", str(copy)]).exit_code == 0
    out = tmp_path / "r.docx"
    result = runner.invoke(cli, ["export", "docx", str(out), "--rq", "RQ4", "--db", str(copy)])
    assert result.exit_code == 0, result.output
    cells = row_cells(table_after(docx.Document(str(out)), _review_caption(out)), "RQ4")
    suggestions, accepted, rejected, pending, share = (cells[1], cells[2], cells[3], cells[4], cells[5])
    assert (accepted, rejected) == ("1", "2")
    assert int(suggestions) == int(accepted) + int(rejected) + int(pending)
    assert share == "33%"


def _review_caption(path: Path) -> str:
    """The caption of the coder-agreement review table (its number depends on the report's tables)."""
    for paragraph in docx.Document(str(path)).paragraphs:
        if "Review of automatic suggestions" in paragraph.text:
            return paragraph.text
    raise AssertionError("no review table caption")
