"""Study settings (casestudy.study, `casestudy study ...`): stored in the working database,
edited from the CLI or a YAML file, copied into the publish database."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from casestudy import db as dblib
from casestudy import study
from casestudy.cli.main import cli

SECOND_STUDY = """\
title: Integrated care in the north
subtitle: Interim findings
pi: Dr Jo Researcher
authors: [Dr Jo Researcher, Sam Analyst]
funder: A Health Research Fund
grant: HRF-42
status: final
ics:
  - name: Northvale
    full_name: Northvale and Fenmouth ICS
    collaboratives:
      - {name: Northvale Mental Health Partnership, type: mental health, governance_model: lead provider}
  - Riverside
waves:
  - {number: 1, start: 2023-09-01, end: 2024-03-31}
  - {number: 2, year: 2025}
"""


def run(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env or {"CASESTUDY_CODER": "tester"})


def test_wave_label_from_years_and_ranges():
    settings = study.from_dict({"waves": [{"number": 1, "start": "2023-09-01", "end": "2024-03-31"},
                                          {"number": 2, "year": 2025}, {"number": 3}]})
    assert study.wave_label(settings, 2) == "wave 2 (2025)"
    assert study.wave_label(settings, 1) == "wave 1 (2023–2024)"
    assert study.wave_label(settings, 3) == "wave 3"
    assert study.wave_label(settings, 9) == "wave 9"
    assert study.wave_label(settings, None) == "no wave"
    assert settings.wave(2).contains("2025-06-30") and not settings.wave(2).contains("2026-01-01")


def test_yaml_round_trip_through_the_database(tmp_path, db_path):
    (tmp_path / "s.yaml").write_text(SECOND_STUDY, encoding="utf-8")
    settings = study.read_yaml(tmp_path / "s.yaml")
    db = dblib.open_db(db_path)
    with dblib.transaction(db):
        study.save(db, settings, "tester")
    loaded = study.load(db)
    assert loaded == settings
    assert loaded.ics_names() == ["Northvale", "Riverside"]
    assert loaded.find_collaborative("northvale mental health partnership").ics == "Northvale"
    assert study.from_dict(__import__("yaml").safe_load(study.to_yaml(loaded))) == loaded
    actions = [r[0] for r in db.execute("SELECT action FROM audit_log")]
    assert "study.add-ics" in actions and "study.add-wave" in actions and "study.set" in actions


@pytest.mark.parametrize("text, message", [
    ("title: [a, b]\n", "title must be text"),
    ("status: published\n", "status must be draft or final"),
    ("waves: [{number: 1, start: 15/05/2024}]\n", "wave 1 start must be a date as YYYY-MM-DD"),
    ("waves: [{number: 1, start: 2024-05-01, end: 2024-01-01}]\n", "is after end"),
    ("ics: [A, a]\n", "listed twice"),
    ("colour: blue\n", "unknown field 'colour'"),
    ("title: 'x\n", "not valid YAML"),
])
def test_bad_settings_file_is_refused_in_one_line_and_changes_nothing(tmp_path, db_path, dump_db, text, message):
    (tmp_path / "bad.yaml").write_text(text, encoding="utf-8")
    before = dump_db(db_path)
    result = run("study", "import", tmp_path / "bad.yaml", "--db", db_path)
    assert result.exit_code == 1
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert str(tmp_path / "bad.yaml") in result.output
    assert dump_db(db_path) == before


def test_cli_builds_settings_one_field_at_a_time(db_path):
    assert run("study", "set", "title", "Integrated care in the north", "--db", db_path).exit_code == 0
    assert run("study", "set", "authors", "A One; B Two", "--db", db_path).exit_code == 0
    assert run("study", "add-ics", "Northvale", "--full-name", "Northvale ICS", "--db", db_path).exit_code == 0
    assert run("study", "add-collaborative", "North MH", "--ics", "Northvale", "--type", "mental health",
               "--governance", "lead provider", "--db", db_path).exit_code == 0
    result = run("study", "add-wave", "2", "--start", "2025-04-01", "--end", "2026-03-31", "--db", db_path)
    assert result.exit_code == 0 and "wave 2 (2025–2026)" in result.output
    shown = run("study", "show", "--db", db_path).output
    assert "Integrated care in the north" in shown and "A One; B Two" in shown
    assert "Northvale - Northvale ICS" in shown and "North MH (mental health; lead provider)" in shown
    settings = study.load(dblib.open_db(db_path))
    assert settings.authors == ["A One", "B Two"] and settings.waves[0].start == "2025-04-01"


@pytest.mark.parametrize("args, message", [
    (["study", "add-collaborative", "X", "--ics", "Nowhere"], "unknown ICS 'Nowhere'"),
    (["study", "set", "status", "published"], "status must be draft or final"),
    (["study", "add-wave", "1", "--start", "15/05/2024"], "wave 1 start must be a date as YYYY-MM-DD"),
    (["study", "remove", "ics", "Nowhere"], "no ics 'Nowhere'"),
])
def test_bad_cli_settings_are_refused(db_path, dump_db, args, message):
    before = dump_db(db_path)
    result = run(*args, "--db", db_path)
    assert result.exit_code != 0 and message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert dump_db(db_path) == before


def test_init_writes_empty_settings_and_says_how_to_fill_them(tmp_path):
    result = run("init", "--db", tmp_path / "new.db")
    assert result.exit_code == 0 and "casestudy study" in result.output
    settings = study.load(dblib.open_db(tmp_path / "new.db"))
    assert settings.is_empty() and settings.status == "draft"


def test_publish_copies_the_settings(tmp_path, db_path):
    from casestudy.consent import publish

    (tmp_path / "s.yaml").write_text(SECOND_STUDY, encoding="utf-8")
    assert run("study", "import", tmp_path / "s.yaml", "--db", db_path).exit_code == 0
    out = tmp_path / "pub.db"
    publish.publish(db_path, out)
    published = study.load_published(out)
    assert published == study.load(dblib.open_db(db_path))
    assert study.wave_label(published, 1) == "wave 1 (2023–2024)"
    # a changed setting makes the publish database stale
    assert not publish.ensure_published(db_path, out)
    assert run("study", "set", "subtitle", "Final findings", "--db", db_path).exit_code == 0
    assert publish.ensure_published(db_path, out)
    assert study.load_published(out).subtitle == "Final findings"


def test_every_study_command_has_help():
    for command in ("show", "set", "add-ics", "add-collaborative", "add-wave", "remove", "import", "export"):
        result = run("study", command, "--help")
        assert result.exit_code == 0 and len(result.output) > 100, command
