"""`casestudy export csv`: one row per coding, every evidence column, CSV or xlsx."""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest
from click.testing import CliRunner

from casestudy.cli.main import cli
from casestudy.export.spreadsheet import COLUMNS
from export_pipeline import P09_CANARY, P12_CANARY as P12_REAL, REGISTER_NAMES


def run(*args):
    return CliRunner().invoke(cli, ["export", "csv", *map(str, args)])


def test_one_row_per_coding_with_all_columns(export_fixture_db, tmp_path):
    out = tmp_path / "codings.csv"
    result = run(out, "--publish-db", export_fixture_db)
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out)
    conn = sqlite3.connect(export_fixture_db)
    assert len(frame) == conn.execute("SELECT count(*) FROM evidence").fetchone()[0] == 22
    assert list(frame.columns) == COLUMNS
    assert frame["coding_id"].is_unique
    row = frame[(frame.coding_id == 1)].iloc[0]
    assert row.participant_id == "P01" and row.rq == "RQ1" and row.code == "Scale and resilience" and row.wave == 1
    assert "pooled the rotas" in row.text and row.offsets == "[[21, 31], [102, 108]]"
    # refused quotation: counted (rows present), never quoted
    p12 = frame[frame.participant_id == "P12"]
    assert len(p12) == 4 and set(p12.quotable) == {0}
    assert all(t.startswith("[withheld") for t in p12.text)
    assert "knock on doors" not in out.read_text(encoding="utf-8")


def test_filters_and_xlsx(export_fixture_db, tmp_path):
    out = tmp_path / "rq3.xlsx"
    result = run(out, "--rq", "RQ3", "--status", "accepted", "--publish-db", export_fixture_db)
    assert result.exit_code == 0, result.output
    sheets = pd.read_excel(out, sheet_name=None)
    assert set(sheets) == {"evidence", "codes", "sources"}
    evidence = sheets["evidence"]
    assert set(evidence.rq) == {"RQ3"} and set(evidence.status) == {"accepted"}
    assert len(evidence) == 5
    out2 = tmp_path / "as-xlsx.xlsx"
    assert run(out2, "--format", "xlsx", "--wave", "2", "--publish-db", export_fixture_db).exit_code == 0
    assert set(pd.read_excel(out2).wave) == {2}


@pytest.mark.parametrize(
    "make_args, message",
    [
        (lambda t, p: [t / "x.csv", "--rq", "RQ0", "--publish-db", p], "unknown research question"),
        (lambda t, p: [t / "missing" / "x.csv", "--publish-db", p], "folder does not exist"),
        (lambda t, p: [t / "x.csv", "--format", "xlsx", "--publish-db", p], "must end in .xlsx"),
        (lambda t, p: [t / "x.csv", "--publish-db", t / "missing.db"], "no such publish database"),
        (lambda t, p: [t / "x.csv", "--db", t / "missing-working.db"], "no such database"),
    ],
)
def test_bad_input(export_fixture_db, tmp_path, make_args, message):
    result = run(*make_args(tmp_path, export_fixture_db))
    assert result.exit_code == 1
    assert message in result.output and len(result.output.strip().splitlines()) == 1, result.output
    assert not list(tmp_path.glob("*.csv"))


def test_real_pipeline_canaries(export_pipeline_dbs, tmp_path):
    working, published = export_pipeline_dbs
    out = tmp_path / "all.csv"
    result = run(out, "--db", working, "--publish-db", published)
    assert result.exit_code == 0, result.output
    content = out.read_text(encoding="utf-8")
    for canary in (P09_CANARY, P12_REAL, "orange folder", "knock on doors"):
        assert canary not in content
    for name in REGISTER_NAMES:
        assert name not in content, name
    frame = pd.read_csv(out)
    assert "P09" not in set(frame.participant_id.dropna())
    withheld = frame[frame.quotable == 0]
    assert len(withheld) > 0 and withheld.text.str.startswith("[withheld").all()  # counted, never quoted …
    assert "P12" not in set(frame.participant_id.dropna())  # … nor said whose they are
