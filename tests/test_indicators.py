"""Routine indicators (ingest kind `indicators`): reading, every bad input, idempotency, publish,
Datasette (metadata, facets, the `indicator_trend` query) and the Word report's appendix."""

from __future__ import annotations

import asyncio
import csv
import shutil
from pathlib import Path

import docx
import httpx
import pytest
from click.testing import CliRunner

import filemakers as fm
from filemakers import rows
from casestudy import db as dblib
from casestudy import study
from casestudy.ingest import indicators
from casestudy.consent import publish
from casestudy.browse import serve
from casestudy.cli.main import cli
from casestudy.errors import CasestudyError
from casestudy.export.word import INDICATORS_TITLE, export_docx, format_change, format_number

REPO = Path(__file__).resolve().parent.parent
CORPUS_FILE = REPO / "corpus" / "data" / "routine-indicators.csv"

SMALL = [
    ["ics", "collaborative", "quarter", "indicator", "value"],
    ["Ashmoor", "Ashmoor Acute Alliance", "2024Q1", "rtt_52_week_waits", "2400"],
    ["Ashmoor", "Ashmoor Acute Alliance", "2025Q1", "rtt_52_week_waits", "1900"],
    ["Ashmoor", "Ashmoor Acute Alliance", "2026Q3", "rtt_52_week_waits", "220"],
    ["Kellbridge", "", "2024Q1", "average_length_of_stay_days", "6.1"],
    ["Kellbridge", "", "2026Q1", "average_length_of_stay_days", "5.6"],
]


def write_csv(path: Path, rows: list[list]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)
    return path


def write_xlsx(path: Path, rows: list[list]) -> Path:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(str(path))
    return path


def ingest(args, db_path):
    return CliRunner().invoke(cli, ["ingest", *map(str, args), "--db", str(db_path)])


def get_json(ds, url):
    response = asyncio.run(ds.client.get(url))
    assert response.status_code == 200, (url, response.text[:500])
    return response.json()


# --- periods and values ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text, period, start, wave",
    [
        ("2024Q1", "2024Q1", "2024-01-01", 1),
        ("2025 q3", "2025Q3", "2025-07-01", 2),
        ("2026-Q4", "2026Q4", "2026-10-01", 3),
        ("Q2 2024", "2024Q2", "2024-04-01", 1),
        ("2025-03", "2025-03", "2025-03-01", 2),
        ("2026", "2026", "2026-01-01", 3),
        ("2024-03-31", "2024-03-31", "2024-03-31", 1),
        ("2023Q4", "2023Q4", "2023-10-01", None),  # before the study: kept, no wave
    ],
)
def test_periods(text, period, start, wave):
    parsed = indicators.parse_period(text)
    assert (parsed["period"], parsed["period_start"]) == (period, start)
    assert parsed["year"] == int(start[:4])
    # the wave comes from the study settings' waves (the sample study's: 2024, 2025, 2026)
    settings = study.read_yaml(REPO / "corpus" / "study.yaml")
    assert settings.wave_for_date(parsed["period_start"]) == (settings.wave(wave) if wave else None)


def declare_sample_settings(db_path):
    """The sample study's settings (corpus/study.yaml): its ICSs, collaboratives and waves."""
    db = dblib.open_db(db_path)
    with dblib.transaction(db):
        study.save(db, study.read_yaml(REPO / "corpus" / "study.yaml"), "tester")
    db.conn.close()


@pytest.mark.parametrize("text", ["2024Q5", "Q0 2024", "spring 2024", "2024/25", "2024-13", "2024-02-30", "24Q1", "0999"])
def test_bad_periods(text):
    with pytest.raises(ValueError):
        indicators.parse_period(text)


def test_values():
    assert indicators.parse_value("2400") == 2400 and isinstance(indicators.parse_value("2400"), int)
    assert indicators.parse_value("5.6") == 5.6
    assert indicators.parse_value("1,250") == 1250
    assert indicators.parse_value("-3.5") == -3.5
    for bad in ("n/a", "", "12 beds", "1,2,3", "nan", "inf"):
        with pytest.raises(ValueError):
            indicators.parse_value(bad)


# --- the happy path --------------------------------------------------------------------


def test_corpus_file_through_the_library(tmp_path):
    declare_sample_settings(tmp_path / "work.db")
    db = dblib.open_db(tmp_path / "work.db")
    from casestudy.ingest import files as ingest_lib

    report = ingest_lib.ingest(db, [CORPUS_FILE], {"kind": "indicators"}, actor="tester")
    with CORPUS_FILE.open(encoding="utf-8") as handle:
        expected = list(csv.DictReader(handle))
    assert report.added == [str(CORPUS_FILE.resolve())] and report.indicator_rows == len(expected) == 187
    assert "187 indicator values written" in report.summary()
    stored = [dict(r) for r in db.query(
        """SELECT i.name AS ics, c.name AS collaborative, n.period, n.indicator, n.value, n.wave, n.year, n.row
           FROM indicators n JOIN ics i ON i.id = n.ics_id LEFT JOIN collaboratives c ON c.id = n.collaborative_id
           ORDER BY n.id""")]
    for row, source in zip(stored, expected):
        assert (row["ics"], row["collaborative"], row["period"], row["indicator"]) == (
            source["ics"], source["collaborative"], source["quarter"], source["indicator"])
        assert row["value"] == float(source["value"])
        assert row["wave"] == {2024: 1, 2025: 2, 2026: 3}[row["year"]] == int(source["quarter"][:4]) - 2023
    assert stored[0]["row"] == 2 and isinstance(stored[0]["value"], int)  # NUMERIC: whole numbers stay whole
    # every collaborative is filed under its ICS
    pairs = {(r["ics"], r["collaborative"]) for r in stored}
    linked = {tuple(r) for r in db.execute(
        "SELECT i.name, c.name FROM collaboratives c JOIN ics i ON i.id = c.ics_id")}
    assert pairs <= linked
    audit = [dict(r) for r in db.query("SELECT actor, action, target FROM audit_log WHERE action NOT LIKE 'study.%'")]
    assert audit == [{"actor": "tester", "action": "indicators.add", "target": "indicators"}]
    # no sources, no excerpts: indicators are a table, not a document
    assert db["sources"].count == 0 and db["excerpts"].count == 0


def test_cli_guesses_the_kind_and_reports(db_path):
    result = ingest([CORPUS_FILE], db_path)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "Ingested 1 added, 0 replaced, 0 unchanged; 0 excerpts and 187 indicator values written."
    assert rows(db_path, "SELECT count(*) AS n FROM indicators") == [{"n": 187}]


def test_xlsx_with_untidy_headers_and_optional_columns(tmp_path, db_path):
    import datetime as dt

    path = write_xlsx(tmp_path / "Indicators 2025.xlsx", [
        [" ICS ", "Collaborative", "Period", "Indicator Name" if False else "INDICATOR", "Value", "Unit", "Source", "Notes"],
        ["Saltmarsh Coast", "Saltmarsh Coast MHLDA Collaborative", "2024 Q1", "out_of_area_placements", 38, "placements",
         "MHSDS", "snapshot at quarter end"],
        ["Saltmarsh Coast", "Saltmarsh Coast MHLDA Collaborative", dt.datetime(2025, 3, 31), "out_of_area_placements", 17.0,
         "placements", "MHSDS", None],
        ["saltmarsh coast", None, 2026, "agency_spend_gbp_000", 1234.5, "GBP thousands", None, None],
        [None, None, None, None, None, None, None, None],  # a blank row is ignored
    ])
    declare_sample_settings(db_path)
    result = ingest([path, "--kind", "indicators"], db_path)
    assert result.exit_code == 0, result.output
    got = rows(db_path, """SELECT i.name AS ics, c.name AS collaborative, n.period, n.wave, n.value, n.unit, n.source, n.notes
                           FROM indicators n JOIN ics i ON i.id = n.ics_id LEFT JOIN collaboratives c ON c.id = n.collaborative_id
                           ORDER BY n.id""")
    assert got == [
        {"ics": "Saltmarsh Coast", "collaborative": "Saltmarsh Coast MHLDA Collaborative", "period": "2024Q1", "wave": 1,
         "value": 38, "unit": "placements", "source": "MHSDS", "notes": "snapshot at quarter end"},
        {"ics": "Saltmarsh Coast", "collaborative": "Saltmarsh Coast MHLDA Collaborative", "period": "2025-03-31", "wave": 2,
         "value": 17, "unit": "placements", "source": "MHSDS", "notes": None},
        {"ics": "Saltmarsh Coast", "collaborative": None, "period": "2026", "wave": 3,  # ICS matched case-insensitively
         "value": 1234.5, "unit": "GBP thousands", "source": None, "notes": None},
    ]


def test_a_folder_with_kind_indicators(tmp_path, db_path):
    folder = tmp_path / "data"
    write_csv(folder / "a.csv", SMALL)
    write_xlsx(folder / "b.xlsx", [["ics", "indicator", "quarter", "value"], ["Kellbridge", "beds", "2025Q2", 400]])
    (folder / "readme.txt").write_text("not a table")
    result = ingest([folder, "--kind", "indicators"], db_path)
    assert result.exit_code == 0, result.output
    assert "2 added" in result.stdout and rows(db_path, "SELECT count(*) AS n FROM indicators") == [{"n": 6}]


# --- bad input: one line naming the file (and row), database unchanged --------------------


def _edit(rows_, r, c, value):
    rows_ = [list(x) for x in rows_]
    rows_[r][c] = value
    return rows_


BAD = {
    "missing-value-column": ([[x[0], x[1], x[2], x[3]] for x in SMALL], "bad.csv", "missing required column: value"),
    "missing-period-column": ([[x[0], x[1], x[3], x[4]] for x in SMALL], "bad.csv", "missing required column: period (or quarter)"),
    "missing-two-columns": ([[x[1], x[2], x[4]] for x in SMALL], "bad.csv", "missing required columns: ics, indicator"),
    "non-numeric-value": (_edit(SMALL, 3, 4, "unknown"), "bad.csv row 4", "value 'unknown' is not a number"),
    "value-with-words": (_edit(SMALL, 2, 4, "1900 patients"), "bad.csv row 3", "value '1900 patients' is not a number"),
    "empty-value": (_edit(SMALL, 5, 4, ""), "bad.csv row 6", "value is empty"),
    "bad-quarter": (_edit(SMALL, 2, 2, "2025Q5"), "bad.csv row 3", "period '2025Q5' is not a quarter"),
    "financial-year": (_edit(SMALL, 4, 2, "2024/25"), "bad.csv row 5", "period '2024/25' is not a quarter"),
    "empty-period": (_edit(SMALL, 1, 2, ""), "bad.csv row 2", "period is empty"),
    "empty-ics": (_edit(SMALL, 5, 0, ""), "bad.csv row 6", "ics is empty"),
    "empty-indicator": (_edit(SMALL, 1, 3, ""), "bad.csv row 2", "indicator is empty"),
    "duplicate-figure": (SMALL + [SMALL[2]], "bad.csv row 7", "rtt_52_week_waits for Ashmoor Acute Alliance in 2025Q1 is already given in row 3"),
    "collaborative-in-another-ics": (_edit(SMALL, 3, 0, "Kellbridge"), "bad.csv row 4",
                                     "collaborative 'Ashmoor Acute Alliance' belongs to ICS 'Ashmoor', not 'Kellbridge'"),
    "header-only": (SMALL[:1], "bad.csv", "holds no indicator rows"),
}


@pytest.fixture
def seeded_db(db_path, tmp_path):
    """A working database that already holds indicators (so 'unchanged' means something),
    with the sample study's settings (its ICSs, collaboratives and waves) declared."""
    declare_sample_settings(db_path)
    result = ingest([write_csv(tmp_path / "seed" / "seed.csv", [
        ["ics", "collaborative", "period", "indicator", "value"],
        ["Ashmoor", "Ashmoor Acute Alliance", "2024Q1", "agency_spend_gbp_000", "6900"],
    ]), "--kind", "indicators"], db_path)
    assert result.exit_code == 0, result.output
    return db_path


def assert_refused(result, where, message):
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ") and where in lines[0] and message in lines[0], lines[0]


@pytest.mark.parametrize("case", sorted(BAD))
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_bad_input_is_refused_and_the_db_is_unchanged(case, fmt, seeded_db, tmp_path, dump_db):
    table, where, message = BAD[case]
    if fmt == "xlsx":
        if case in ("empty-value", "empty-period", "empty-ics", "empty-indicator"):
            table = [[None if cell == "" else cell for cell in row] for row in table]
        path = write_xlsx(tmp_path / "bad.xlsx", table)
        where = where.replace("bad.csv", "bad.xlsx")
    else:
        path = write_csv(tmp_path / "bad.csv", table)
    before = dump_db(seeded_db)
    good = write_csv(tmp_path / "good" / "good.csv", SMALL[:1] + [["Saltmarsh Coast", "", "2025Q1", "beds", "10"]])
    result = ingest([good, path, "--kind", "indicators"], seeded_db)  # all or nothing: the good file is not kept
    assert_refused(result, where, message)
    assert dump_db(seeded_db) == before


@pytest.mark.parametrize(
    "make, where, message",
    [
        (lambda t: fm.write_text(t / "empty.csv", ""), "empty.csv", "file is empty"),
        (lambda t: fm.write_text(t / "notes.txt", "ics,indicator\n"), "notes.txt", "unsupported format .txt for indicators"),
        (lambda t: fm.write_text(t / "broken.xlsx", "PK\x03\x04 not really a workbook" * 20), "broken.xlsx", "not a valid .xlsx"),
        (lambda t: t / "missing.csv", "missing.csv", "no such file"),
    ],
)
def test_bad_files_are_refused(make, where, message, seeded_db, tmp_path, dump_db):
    before = dump_db(seeded_db)
    result = ingest([make(tmp_path), "--kind", "indicators"], seeded_db)
    assert_refused(result, where, message)
    assert dump_db(seeded_db) == before


def test_a_figure_already_stored_from_another_file_is_refused(seeded_db, tmp_path, dump_db):
    clash = write_csv(tmp_path / "other.csv", [
        ["ICS", "Collaborative", "Quarter", "Indicator", "Value"],
        ["Ashmoor", "Ashmoor Acute Alliance", "2024 Q1", "agency_spend_gbp_000", "7000"],
    ])
    before = dump_db(seeded_db)
    result = ingest([clash, "--kind", "indicators"], seeded_db)
    assert_refused(result, "other.csv row 2", "is already stored from seed.csv row 2")
    assert dump_db(seeded_db) == before


def test_library_errors_name_file_and_row(tmp_path):
    path = write_csv(tmp_path / "x.csv", _edit(SMALL, 2, 4, "lots"))
    with pytest.raises(CasestudyError) as error:
        indicators.read_indicators(path)
    assert error.value.path == f"{path} row 3" and error.value.problem == "value 'lots' is not a number"


# --- idempotency ------------------------------------------------------------------------


def test_reingest_unchanged_changed_and_renamed(db_path, tmp_path, dump_db):
    path = write_csv(tmp_path / "ind.csv", SMALL)
    assert ingest([path, "--kind", "indicators"], db_path).exit_code == 0
    before = dump_db(db_path)
    again = ingest([path, "--kind", "indicators"], db_path)
    assert again.exit_code == 0 and "0 added, 0 replaced, 1 unchanged" in again.stdout
    assert dump_db(db_path) == before  # same SHA-256: nothing at all changes
    copy = shutil.copy(path, tmp_path / "copy.csv")
    twin = ingest([copy, "--kind", "indicators"], db_path)
    assert twin.exit_code == 0 and "1 unchanged" in twin.stdout and dump_db(db_path) == before
    # a changed file replaces all of its rows: one value corrected, one row dropped, one added
    changed = _edit(SMALL, 3, 4, "215") + [["Kellbridge", "", "2026Q3", "average_length_of_stay_days", "5.5"]]
    del changed[2]
    write_csv(path, changed)
    result = ingest([path, "--kind", "indicators"], db_path)
    assert result.exit_code == 0 and "0 added, 1 replaced" in result.stdout and "5 indicator values" in result.stdout
    got = rows(db_path, "SELECT period, indicator, value FROM indicators ORDER BY indicator, period")
    assert got == [
        {"period": "2024Q1", "indicator": "average_length_of_stay_days", "value": 6.1},
        {"period": "2026Q1", "indicator": "average_length_of_stay_days", "value": 5.6},
        {"period": "2026Q3", "indicator": "average_length_of_stay_days", "value": 5.5},
        {"period": "2024Q1", "indicator": "rtt_52_week_waits", "value": 2400},
        {"period": "2026Q3", "indicator": "rtt_52_week_waits", "value": 215},
    ]
    assert {r["source_sha256"] for r in rows(db_path, "SELECT DISTINCT source_sha256 FROM indicators")} == {
        __import__("casestudy.ingest.files", fromlist=["sha256_file"]).sha256_file(path)}
    actions = [r["action"] for r in rows(db_path, "SELECT action FROM audit_log WHERE action NOT LIKE 'study.%' ORDER BY id")]
    assert actions == ["indicators.add", "indicators.replace"]


def test_migration_3_upgrades_an_old_database(tmp_path):
    path = tmp_path / "old.db"
    db = dblib.open_db(path)
    db.execute("DROP TABLE indicators")
    db.execute("DELETE FROM schema_migrations WHERE id = 3")
    db.conn.commit()
    db.close()
    db = dblib.open_db(path)
    assert "indicators" in db.table_names() and dblib.schema_version(db) >= 3
    indexes = {i.name for i in db["indicators"].indexes}
    assert "idx_indicators_figure" in indexes and len(indexes) >= 5


# --- publish --------------------------------------------------------------------------------


def test_publish_copies_indicators_without_paths_and_pseudonymises_notes(study, db_path, tmp_path):
    notes = write_csv(tmp_path / "ind.csv", [
        ["ics", "quarter", "indicator", "value", "notes"],
        ["Ashmoor", "2024Q1", "beds", "400", "Figures checked by Helen Marsh"],
        ["Ashmoor", "2024Q2", "beds", "410", ""],
    ])
    assert ingest([study], db_path).exit_code == 0
    for number, year in ((1, 2024), (2, 2025)):  # the study's waves, dated: indicators take their wave from them
        assert CliRunner().invoke(cli, ["study", "add-wave", str(number), "--year", str(year), "--db", str(db_path)]).exit_code == 0
    out = tmp_path / "pub.db"
    assert publish.ensure_published(db_path, out)
    assert rows(out, "SELECT count(*) AS n FROM indicators") == [{"n": 0}]  # the table is always there
    assert ingest([notes, "--kind", "indicators"], db_path).exit_code == 0
    assert publish.ensure_published(db_path, out)  # new indicators: the fingerprint changed, so it rebuilds
    got = rows(out, "SELECT * FROM indicators ORDER BY period")
    assert [(r["ics"], r["period"], r["wave"], r["value"]) for r in got] == [("Ashmoor", "2024Q1", 1, 400), ("Ashmoor", "2024Q2", 1, 410)]
    assert "Helen Marsh" not in got[0]["notes"] and got[0]["notes"].startswith("Figures checked by ")
    assert not any("source_path" in r or "source_sha256" in r for r in got)
    assert str(tmp_path) not in out.read_bytes().decode("utf-8", "ignore")
    assert publish.read_counts(out)["indicators"] == 2
    assert not publish.ensure_published(db_path, out)  # and is up to date afterwards


# --- Datasette ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ds(served_study):
    return serve.build_datasette(served_study[1])


def test_datasette_describes_and_facets_the_indicators(ds, served_study):
    pub = served_study[1]
    meta = get_json(ds, "/-/metadata.json")["databases"]["study"]
    table = meta["tables"]["indicators"]
    assert "Routine quantitative data" in table["description"]
    cols = [r["name"] for r in rows(pub, "SELECT name FROM pragma_table_info('indicators')")]
    assert set(cols) <= set(table["columns"])
    data = get_json(ds, "/study/indicators.json?_facet_size=max")
    assert data["filtered_table_rows_count"] == 187
    assert set(data["facet_results"]) == {"ics", "collaborative", "indicator", "wave"}
    for facet in ("ics", "collaborative", "indicator", "wave"):
        counts = {v["value"]: v["count"] for v in data["facet_results"][facet]["results"]}
        expected = {r["v"]: r["n"] for r in rows(pub, f"SELECT {facet} AS v, count(*) AS n FROM indicators GROUP BY 1")}
        assert counts == expected, facet
    assert set(counts) == {1, 2, 3}
    page = asyncio.run(ds.client.get("/study/indicators")).text
    assert "Routine quantitative data" in page
    home = asyncio.run(ds.client.get("/")).text
    assert "/study/indicator_trend?indicator=&amp;ics=" in home and "Routine indicators" in home


def test_indicator_trend_canned_query(ds):
    assert "indicator_trend" in serve.canned_queries(ds.databases["study"].path)
    params = httpx.QueryParams({"indicator": "rtt_52_week_waits", "ics": "Kellbridge", "_shape": "objects", "_size": "max"})
    data = get_json(ds, f"/study/indicator_trend.json?{params}")
    assert data["ok"]
    got = data["rows"]
    assert [r["period"] for r in got] == [f"{y}Q{q}" for y in (2024, 2025, 2026) for q in (1, 2, 3, 4)][:11]
    assert {r["ics"] for r in got} == {"Kellbridge"} and {r["collaborative"] for r in got} == {"Kellbridge Hospitals Group"}
    assert (got[0]["value"], got[0]["change_since_first"]) == (3760, 0)
    assert (got[-1]["value"], got[-1]["change_since_first"], got[-1]["change_since_first_pct"]) == (1600, -2160, -57.4)
    assert [r["wave"] for r in got] == [1] * 4 + [2] * 4 + [3] * 3
    # blank parameters: every indicator of every ICS; case and spaces do not matter
    everything = get_json(ds, "/study/indicator_trend.json?indicator=&ics=&_shape=objects&_size=max")["rows"]
    assert len(everything) == 187
    loose = get_json(ds, "/study/indicator_trend.json?indicator=RTT_52_week_waits+&ics=kellbridge&_shape=objects")["rows"]
    assert len(loose) == 11
    html = asyncio.run(ds.client.get("/study/indicator_trend?indicator=&ics=")).text
    assert "A routine indicator by ICS across periods" in html


def test_no_indicator_query_on_an_older_publish_db(export_fixture_db):
    assert "indicator_trend" not in serve.canned_queries(export_fixture_db)


# --- the Word report -----------------------------------------------------------------------------


def table_after(document, caption: str):
    """The table after the caption paragraph "Table N. <caption>…"."""
    body = document.element.body
    found = False
    for child in body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p" and ". " + caption in "".join(child.itertext()) and "".join(child.itertext()).startswith("Table "):
            found = True
        elif found and tag == "tbl":
            return docx.table.Table(child, document)
    raise AssertionError(f"no table after {caption!r}")


def test_word_report_has_a_routine_indicators_appendix(export_pipeline_dbs, tmp_path):
    working, published = export_pipeline_dbs
    out = tmp_path / "report.docx"
    result = CliRunner().invoke(cli, ["export", "docx", str(out), "--db", str(working), "--publish-db", str(published)])
    assert result.exit_code == 0, result.output
    document = docx.Document(str(out))
    headings = [p.text for p in document.paragraphs if p.style.name == "Heading 1"]
    assert headings[-1] == INDICATORS_TITLE == "Appendix D. Routine indicators"
    assert INDICATORS_TITLE in [p.text.split("\t")[0] for p in document.paragraphs if p.style.name == "toc 1"]
    table = table_after(document, "Routine indicators")
    assert table.style.name == "Report Table"
    cells = [[c.text for c in row.cells] for row in table.rows]
    assert cells[0] == ["Indicator", "Unit", "ICS", "Collaborative", "First", "Latest", "Change"]
    series = {tuple(r.values()) for r in rows(published, "SELECT DISTINCT indicator, ics, collaborative FROM indicators")}
    assert len(cells) - 1 == len(series) == 17
    by_key = {(r[0], r[2], r[3]): [r[1]] + r[4:] for r in cells[1:]}
    # human names and units, each figure above its period
    assert by_key[("RTT 52-week waits", "Kellbridge", "Kellbridge Hospitals Group")] == [
        "number", "3,760\n2024 Q1", "1,600\n2026 Q3", "−2,160 (−57.4%)"]
    assert by_key[("Average length of stay", "Ashmoor", "Ashmoor MHLDA Collaborative")] == [
        "days", "41.0\n2024 Q1", "33.0\n2026 Q3", "−8.0 (−19.5%)"]
    assert by_key[("Agency spend", "Ashmoor", "Ashmoor Acute Alliance")][0] == "£ thousands"
    assert not any("_" in r[0] for r in cells[1:])


def test_indicator_labels():
    from casestudy.export.word import indicator_label, period_label

    assert indicator_label("out_of_area_placements") == ("Out-of-area placements", "number")
    assert indicator_label("agency_spend_gbp_000") == ("Agency spend", "£ thousands")
    assert indicator_label("ae_4_hour_pct") == ("A&E 4-hour", "%")
    assert indicator_label("rtt_52_week_waits", "patients") == ("RTT 52-week waits", "patients")
    assert indicator_label("Delayed discharges") == ("Delayed discharges", "number")
    assert period_label("2024Q3") == "2024 Q3" and period_label("2024-03") == "2024-03"


def test_word_report_indicators_follow_the_ics_and_wave_filters(export_pipeline_dbs, tmp_path):
    working, published = export_pipeline_dbs
    out = tmp_path / "r.docx"
    export_docx(working, out, ics=["Saltmarsh Coast"], waves=[2], publish_db=published)
    table = table_after(docx.Document(str(out)), "Routine indicators")
    body = [[c.text for c in row.cells] for row in table.rows][1:]
    assert body and {r[2] for r in body} == {"Saltmarsh Coast"}
    assert all(r[4].endswith("2025 Q1") and r[5].endswith("2025 Q4") for r in body)


def test_no_appendix_without_indicators(export_fixture_db, tmp_path):
    out = tmp_path / "r.docx"
    export_docx("missing-working.db", out, publish_db=export_fixture_db)
    document = docx.Document(str(out))
    assert INDICATORS_TITLE not in [p.text for p in document.paragraphs]
    assert document.paragraphs[-1].text != ""  # the report still ends with Appendix C's content
    headings = [p.text for p in document.paragraphs if p.style.name == "Heading 1"]
    assert headings[-1] == "Appendix C. Coder agreement"


def test_number_formatting():
    assert format_number(2400) == "2,400" and format_number(5.6) == "5.6" and format_number(5, 1) == "5.0"
    assert format_number(-0.6, 1) == "−0.6" and format_number(-0.0, 1) == "0.0"
    assert format_change(3760, 1600) == "−2,160 (−57.4%)"
    assert format_change(5.6, 5.0, 1) == "−0.6 (−10.7%)"
    assert format_change(10, 12) == "+2 (+20.0%)" and format_change(0, 3) == "+3" and format_change(4, 4) == "0 (0.0%)"
