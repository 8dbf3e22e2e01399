"""`casestudy export docx`: the Word thematic summary, opened and read back."""

from __future__ import annotations

import shutil
import sqlite3
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


def table_after(document, caption: str):
    """The table that follows the caption paragraph containing ``caption``."""
    body = document.element.body
    found = False
    for child in body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p" and "".join(child.itertext()).startswith("Table ") and caption in "".join(child.itertext()):
            found = True
        elif found and tag == "tbl":
            return docx.table.Table(child, document)
    raise AssertionError(f"no table after {caption!r}")


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
    # contents: a TOC field whose result already lists every Heading 1 and 2, each linked to
    # a bookmark on its heading; without the LibreOffice layout pass (switched off in tests)
    # the page numbers are left for Word to fill in on opening
    xml = zipfile.ZipFile(report).read("word/document.xml").decode()
    assert 'TOC \\o "1-2"' in xml and "Right-click" not in xml
    entries = [p.text.split("\t")[0] for p in document.paragraphs if p.style.name in ("toc 1", "toc 2")]
    wanted = [p.text for p in document.paragraphs if p.style.name in ("Heading 1", "Heading 2")]
    assert entries == wanted and "RQ4 Contracts" in entries and "Appendix C. Coder agreement" in entries
    for n in range(1, len(wanted) + 1):
        assert f'w:name="_Toc{100000 + n}"' in xml and f"PAGEREF _Toc{100000 + n} \\h" in xml
    settings = zipfile.ZipFile(report).read("word/settings.xml").decode()
    assert '<w:updateFields w:val="true"/>' in settings
    assert settings.index("<w:updateFields") < settings.index("<w:compat")  # schema order, or Word "repairs" it
    # real styles, so the PI can edit it; one table style with single rules, no verticals
    assert {"Title", "Heading 1", "Heading 2", "Quote", "Quote Attribution", "Caption", "Table Note"} <= set(styles)
    assert all(t.style.name == "Report Table" for t in document.tables)
    for table in document.tables:
        borders = table._tbl.tblPr.find(docx.oxml.ns.qn("w:tblBorders"))
        kinds = {b.tag.rsplit("}", 1)[-1]: b.get(docx.oxml.ns.qn("w:val")) for b in borders}
        assert kinds == {"top": "single", "bottom": "single", "insideH": "single", "left": "nil", "right": "nil", "insideV": "nil"}


def test_summary_table_counts_excerpts_and_participants_by_ics_and_wave(report):
    document = docx.Document(str(report))
    rq3 = table_after(document, "RQ3: themes by ICS and wave")
    groups = [c.text for c in rq3.rows[0].cells]
    assert groups[1:4] == ["All evidence"] * 3 and groups[4:7] == ["Excerpts by ICS"] * 3 and groups[7:] == ["Excerpts by wave"] * 3
    header = [c.text for c in rq3.rows[1].cells]
    assert header == ["Theme", "Excerpts", "Participants", "Documents", "Ashmoor", "Kellbridge", "Saltmarsh Coast", "W1", "W2", "W3"]
    # Accountability to the ICB: P01 (Ashmoor w1), board paper (Kellbridge w2), P05 (Kellbridge w3)
    assert row_cells(rq3, "Accountability to the ICB") == ["Accountability to the ICB", "3", "2", "1", "1", "2", "–", "1", "1", "1"]
    # the refused-quotation participant is counted …
    rq2 = table_after(document, "RQ2: themes by ICS and wave")
    assert row_cells(rq2, "VCSE and local authority members")[1:3] == ["2", "2"]
    # every table says what it counts
    for caption in ("RQ3: themes by ICS and wave", "RQ3: framework matrix", "Research questions and their evidence"):
        table = table_after(document, caption)
        following = table._tbl.getnext()
        assert following.tag.endswith("}p") and "".join(following.itertext())
        assert docx.text.paragraph.Paragraph(following, document).style.name == "Table Note"
    # the research questions come first in "About this report", before how to read the counts
    headings = [p.text for p in document.paragraphs if p.style.name.startswith("Heading")]
    about = headings[headings.index("About this report"):]
    assert about[1:4] == ["Research questions", "How to read the counts", "How quotations are chosen"]


@pytest.fixture(scope="module")
def pipeline_report(export_pipeline_dbs, tmp_path_factory) -> Path:
    """The Word report of the sample corpus run through ingest → code → publish."""
    working, published = export_pipeline_dbs
    out = tmp_path_factory.mktemp("pipeline-docx") / "r.docx"
    export_docx(working, out, publish_db=published)
    return out


def test_ics_and_wave_columns_add_up_to_all(pipeline_report):
    """National documents get a column, so every row's ICS columns (and wave columns) sum to its total."""
    document = docx.Document(str(pipeline_report))
    checked = 0
    for rq in ("RQ1", "RQ2", "RQ3", "RQ4", "RQ5", "RQ6"):
        table = table_after(document, f"{rq}: themes by ICS and wave")
        groups = [c.text for c in table.rows[0].cells]
        header = [c.text for c in table.rows[1].cells]
        ics_cols = [i for i, g in enumerate(groups) if g == "Excerpts by ICS"]
        wave_cols = [i for i, g in enumerate(groups) if g == "Excerpts by wave"]
        assert "National" in [header[i] for i in ics_cols]
        for row in table.rows[2:]:
            cells = [c.text for c in row.cells]
            number = lambda v: 0 if v == "–" else int(v)  # noqa: E731
            total = number(cells[1])
            assert sum(number(cells[i]) for i in ics_cols) == total, cells
            assert sum(number(cells[i]) for i in wave_cols) == total, cells
            checked += 1
    assert checked > 40


def test_evidence_on_a_question_as_a_whole_has_its_own_row_section_and_matrix_line(export_pipeline_dbs, pipeline_report):
    """The learned model's RQ-level judgements (general talk with no theme of the RQ) are
    counted in the RQ's total and also shown: a table row, a section with quotes, a matrix line."""
    import sqlite3

    _, published = export_pipeline_dbs
    out = pipeline_report
    document = docx.Document(str(out))
    conn = sqlite3.connect(published)
    expected = dict(conn.execute(
        """SELECT e.rq, count(DISTINCT e.excerpt_id) FROM evidence e
           WHERE e.code_id = e.rq AND e.status != 'rejected'
             AND NOT EXISTS (SELECT 1 FROM evidence t WHERE t.excerpt_id = e.excerpt_id AND t.rq = e.rq
                             AND t.code_id != t.rq AND t.status != 'rejected')
           GROUP BY e.rq"""))
    learned = conn.execute("SELECT count(*) FROM evidence WHERE coder LIKE 'learned:%'").fetchone()[0]
    keyed = conn.execute("SELECT count(*) FROM evidence WHERE coder LIKE 'auto:%' AND code_id = rq").fetchone()[0]
    themes = conn.execute("SELECT count(*) FROM evidence WHERE coder LIKE 'auto:%' AND code_id != rq").fetchone()[0]
    conn.close()
    assert expected and learned  # the sample study has such evidence
    headings = [p.text for p in document.paragraphs if p.style.name.startswith("Heading")]
    for rq in ("RQ1", "RQ2", "RQ3", "RQ4", "RQ5", "RQ6"):
        table = table_after(document, f"{rq}: themes by ICS and wave")
        labels = [row.cells[0].text.strip() for row in table.rows]
        if rq not in expected:
            assert f"{rq} as a whole (no theme)" not in labels
            continue
        assert row_cells(table, f"{rq} as a whole (no theme)")[1] == str(expected[rq])
        assert labels.index(f"{rq} as a whole (no theme)") == len(labels) - 2  # after the themes, before the total
        assert f"{rq} as a whole (no theme)" in headings
        matrix = table_after(document, f"{rq}: framework matrix")
        assert f"{rq} as a whole (no theme)" in [row.cells[0].text.strip() for row in matrix.rows]
    named = f", {keyed:,} research questions named by their key terms" if keyed else ""
    assert (f"{themes:,} themes matched by the codebook's patterns{named} and {learned:,} research questions judged "
            "as a whole by the learned model") in all_text(out)


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
    assert "1 further excerpt from participants who did not consent to verbatim quotation is counted above but not quoted." in text


def test_the_coders_scorecard_counts_the_excerpts_reviewed_in_full(report, export_fixture_db, tmp_path):
    """From the fixture's codings: the excerpts with no automatic suggestion waiting are (1, 1) RQ1,
    (2, 1) RQ3, (3, 1) RQ2, (5, 0) RQ4 and (6, 1) RQ3, each suggestion accepted: five excerpts, all agreed."""
    document = docx.Document(str(report))
    table = table_after(document, "Automatic suggestions against researchers' decisions")
    got = {row.cells[0].text: [c.text for c in row.cells[1:]] for row in table.rows[1:]}
    agreed = {"RQ1": 1, "RQ2": 1, "RQ3": 2, "RQ4": 1, "RQ5": 0, "RQ6": 0}
    assert got == {rq: [str(n), "0", "0"] + (["1.00"] * 3 if n else ["–"] * 3) for rq, n in agreed.items()}
    assert "on the 5 excerpts researchers have reviewed in full" in all_text(report)
    assert "(macro-F1 1.00)" in all_text(report)
    old = tmp_path / "old.db"
    shutil.copy(export_fixture_db, old)
    with sqlite3.connect(old) as conn:
        conn.execute("DROP TABLE suggestion_outcomes")
    out = tmp_path / "old.docx"
    export_docx("missing-working.db", out, publish_db=old)
    assert "built before the suggestions' outcomes were recorded" in all_text(out)
    assert "Automatic suggestions against researchers' decisions" not in all_text(out)


def test_the_disagreements_table_is_capped_and_says_how_many_more(export_fixture_db, tmp_path, monkeypatch):
    from casestudy.export import word

    monkeypatch.setattr(word, "THEMES_DISAGREED", 1)
    out = tmp_path / "capped.docx"
    export_docx("missing-working.db", out, publish_db=export_fixture_db)
    document = docx.Document(str(out))
    assert len(table_after(document, "Themes the researchers disagreed on").rows) == 2  # header and one theme
    assert "1 more theme had a disagreement; the coding workspace's agreement page lists every theme" in all_text(out)


def test_coder_agreement_and_kappa(report):
    document = docx.Document(str(report))
    review = table_after(document, "Review of automatic suggestions")
    assert row_cells(review, "RQ3")[1:] == ["5", "3", "0", "2", "100%"]
    kappa = table_after(document, "Inter-coder agreement")
    assert row_cells(kappa, "alice & bob")[1:5] == ["RQ1", "4", "75%", "0.47"]
    # on excerpt (2, 2) alice applied "Reducing unwarranted variation", bob "Scale and resilience"
    disputed = table_after(document, "Themes the researchers disagreed on")
    assert sorted(row.cells[0].text for row in disputed.rows[1:]) == ["Reducing unwarranted variation", "Scale and resilience"]
    assert all(row.cells[1].text == "RQ1" for row in disputed.rows[1:])
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


def _row(i, status, ics, wave, participant, text=None):
    return {"excerpt_id": i, "text": text or f"Quote number {i} with enough words in it to be a real quote from somebody.",
            "status": status, "ics": ics, "wave": wave, "participant_id": participant, "source_id": i,
            "source_kind": "transcript", "speaker_role": "participant", "quotable": 1, "score": 0.5}


def test_quote_choice_prefers_accepted_then_diversity():
    rows = [_row(1, "suggested", "A", 1, "P1"), _row(2, "accepted", "A", 1, "P1"), _row(3, "accepted", "A", 1, "P2"),
            _row(4, "suggested", "B", 2, "P3"), _row(5, "accepted", "A", 1, "P9")]
    rows.append(dict(_row(6, "accepted", "C", 3, "P12"), text="[withheld: …]", quotable=0))
    chosen = [r["excerpt_id"] for r in choose_quotes(rows, 3)]
    # three accepted codings from three participants beat a suggestion from a new ICS and wave
    assert sorted(chosen) == [2, 3, 5]
    # with one accepted coding, the others are chosen for spread: another ICS and wave first
    rows = [_row(1, "accepted", "A", 1, "P1"), _row(2, "suggested", "A", 1, "P2"), _row(3, "suggested", "B", 2, "P3")]
    assert [r["excerpt_id"] for r in choose_quotes(rows, 2)] == [1, 3]
    # never the same participant twice in a theme, never a table row
    rows = [_row(1, "accepted", "A", 1, "P1"), _row(2, "accepted", "A", 1, "P1"),
            _row(3, "accepted", "B", 1, "P2", text="Waiting list 14,520 14,950 13,000 and long waits 455 410 200 here")]
    assert [r["excerpt_id"] for r in choose_quotes(rows, 3)] == [1]
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


def test_contents_page_matching_and_layout_switch(export_fixture_db, tmp_path, monkeypatch):
    from casestudy.export import pagination

    marks = [(0, "About this report", 4), (1, "How to read the counts", 4), (0, "RQ1 Purpose and aims", 6),
             (1, "Theme A", 6), (2, "A deeper heading", 7), (1, "Theme  B", 7), (0, "Appendix A. Sources", 30)]
    assert pagination.match_pages(["About this report", "RQ1 Purpose and aims", "Theme A", "Theme B", "Missing", "Appendix A. Sources"],
                                  marks) == {0: 4, 1: 6, 2: 6, 3: 7, 5: 30}
    monkeypatch.setenv("CASESTUDY_SOFFICE", "none")
    assert pagination.soffice() is None
    monkeypatch.setenv("CASESTUDY_SOFFICE", str(tmp_path / "no-such-soffice"))
    assert pagination.soffice() is None
    # --no-page-numbers never starts LibreOffice: the contents wait for Word to number them
    monkeypatch.setenv("CASESTUDY_SOFFICE", shutil.which("soffice") or "none")
    out = tmp_path / "r.docx"
    result = CliRunner().invoke(cli, ["export", "docx", str(out), "--no-page-numbers", "--publish-db", str(export_fixture_db),
                                      "--db", str(tmp_path / "none.db")])
    assert result.exit_code == 0, result.output
    assert " pages, " not in result.output
    assert '<w:updateFields w:val="true"/>' in zipfile.ZipFile(out).read("word/settings.xml").decode()
    numbers = [p.text.partition("\t")[2] for p in docx.Document(str(out)).paragraphs if p.style.name == "toc 1"]
    assert numbers and set(numbers) == {""}


def test_typeset_dashes():
    from casestudy.export.quotes import typeset

    assert typeset("for - its purpose") == "for – its purpose"
    assert typeset("out-of-area -- again") == "out-of-area – again"
    assert typeset("a well-known co-op") == "a well-known co-op" and typeset("-3 and - ") == "-3 and - "
