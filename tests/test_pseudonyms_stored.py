"""The name matcher's tables, stored in the working database when the names change.

Building the matcher for thousands of names takes most of a second, so the consent
register and names-list imports store its tables (table ``name_matcher``, migration 9,
keyed by a digest of the names and of the matcher's code) and later commands load them.
What is loaded must pseudonymise exactly as what was built; a stale, foreign or damaged
row must never let a name through (it is built again); the publish database never gets it.
"""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

import pseudonyms_reference as reference
from casestudy import db as dblib
from casestudy.cli.main import cli
from casestudy.consent import pseudonyms
from test_pseudonyms_differential import make_names, make_text, scan_way, shapes, wordscan  # noqa: F401 - fixtures: each test in C and in Python

REGISTER = "participant_id,name,ics,organisation,org_type,role,consent_date,consent_interview,consent_recording,consent_quotes,withdrawn_date\n"
PEOPLE = [("P01", "Ottoline Bracegirdle"), ("P02", "Will Hope"), ("P03", "Siobhán Ní Bhriain")]


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], env={"CASESTUDY_CODER": "tester"})


def write_register(path: Path, people: list[tuple[str, str]]) -> Path:
    path.write_text(REGISTER + "".join(f"{pid},{name},Kellbridge,Kellbridge Hospitals,Acute trust,Manager,2024-03-01,yes,yes,yes,\n" for pid, name in people),
                    encoding="utf-8")
    return path


def write_transcript(path: Path, text: str) -> Path:
    path.write_text(f"Interviewer: What happened?\n\nP01: {text}\n", encoding="utf-8")
    return path


def stored_rows(db_path: Path) -> list[tuple]:
    with sqlite3.connect(db_path) as conn:
        return conn.execute("SELECT digest, names, length(tables) FROM name_matcher").fetchall()


@pytest.fixture
def count_builds(monkeypatch):
    """How many times the matcher is built (the real build runs: this only counts)."""
    calls = []
    real = pseudonyms.build

    def counted(*args, **kwargs):
        calls.append(len(args[0]))
        return real(*args, **kwargs)

    monkeypatch.setattr(pseudonyms, "build", counted)
    pseudonyms._LAST_BUILT.clear()  # a new command: nothing kept in this process
    yield calls
    pseudonyms._LAST_BUILT.clear()


@pytest.mark.parametrize("seed", range(3))
def test_loaded_tables_pseudonymise_exactly_as_built(seed):
    rng = random.Random(500 + seed)
    names = make_names(rng, 150)
    built = pseudonyms.build(names, {"Ashmoor", "Kellbridge"})
    loaded = pseudonyms.loads(pseudonyms.dumps(built))
    oracle = reference.build(names, {"Ashmoor", "Kellbridge"})
    people = list(names)
    texts = [make_text(rng, people) for _ in range(300)]
    texts += [shape for person in people[:40] for shape in shapes(person, rng)]
    for text in texts:
        expected = built.apply(text)
        assert loaded.apply(text) == expected, text
        assert oracle.apply(text) == expected, text
    # every variant met was made from its stored form, and stores back the same
    assert pseudonyms.loads(pseudonyms.dumps(loaded)).apply(texts[0]) == built.apply(texts[0])


def test_stored_form_is_plain_data():
    """marshal of dicts, tuples, strings, numbers and frozensets: no code, no objects of ours."""
    import marshal

    built = pseudonyms.build({"Ottoline Bracegirdle": "[P01]", "Dr Ruth Okafor": "[P02]"}, set())
    data = marshal.loads(pseudonyms.dumps(built))

    def plain(value) -> bool:
        if isinstance(value, (str, int, float, bool, type(None), bytes)):
            return True
        if isinstance(value, (tuple, list, frozenset, set)):
            return all(plain(v) for v in value)
        if isinstance(value, dict):
            return all(plain(k) and plain(v) for k, v in value.items())
        return False

    assert plain(data)
    assert pseudonyms.loads(pseudonyms.dumps(pseudonyms.build({}, set()))).apply("Ottoline") == ("Ottoline", [])


def test_word_kinds_avoid_reading_the_english_vocabulary():
    """The English words a match may be written with are decided when building; loading
    needs no vocabulary for them, and a word not decided then is looked up (same answer)."""
    built = pseudonyms.build({"Will Hope": "[P01]", "Nwosu Okafor": "[P02]", "De Light": "[P03]"}, set())
    kinds = built.kinds
    english, common = pseudonyms._english_words()
    for word in ("will", "hope", "willhope", "nwosu", "okafor", "de", "light", "delight"):
        assert kinds[word] == (word in english) | 2 * (word in common), word
    assert built._word_kind("marsh") == pseudonyms._kind_of("marsh") == 1  # not stored: looked up
    assert built.apply("we will hope to")[0] == "we will hope to"
    assert built.apply("Will Hope said")[0] == "[P01] said"


def test_register_import_stores_and_ingest_only_loads(tmp_path, count_builds):
    db = tmp_path / "w.db"
    register = write_register(tmp_path / "register.csv", PEOPLE)
    result = run("consent", "import", register, "--db", db)
    assert result.exit_code == 0, result.output
    assert count_builds == [3]  # built once, by the import
    (row,) = stored_rows(db)
    opened = dblib.open_db(db)
    assert row[0] == pseudonyms.names_digest(pseudonyms.names_from_db(opened), frozenset(pseudonyms.protected_words(opened)))
    assert row[1] == 3 and row[2] > 0

    pseudonyms._LAST_BUILT.clear()  # the next command is another process
    transcript = write_transcript(tmp_path / "t1.txt", "Ottoline Bracegirdle and Siobhan Ni Bhriain met Will Hope.")
    result = run("ingest", transcript, "--participant", "P01", "--date", "2024-05-01", "--db", db)
    assert result.exit_code == 0, result.output
    assert count_builds == [3]  # loaded, not built
    texts = [r[0] for r in sqlite3.connect(db).execute("SELECT display_text FROM excerpts")]
    assert "[P01] and [P03] met [P02]." in texts
    assert not any(word in " ".join(texts) for word in ("Ottoline", "Bracegirdle", "Bhriain", "Hope"))


def test_new_names_are_never_missed_by_old_tables(tmp_path, count_builds):
    """A name added after the tables were stored is found: the digest no longer matches, so
    the tables are built again (and replace the old row)."""
    db = tmp_path / "w.db"
    assert run("consent", "import", write_register(tmp_path / "r1.csv", PEOPLE[:1]), "--db", db).exit_code == 0
    first = stored_rows(db)
    (tmp_path / "names.csv").write_text("name,pseudonym\nPeregrine Quillfeather,[the chair]\n", encoding="utf-8")
    pseudonyms._LAST_BUILT.clear()
    transcript = write_transcript(tmp_path / "t1.txt", "Peregrine Quillfeather chaired; Quillfeather agreed.")
    result = run("ingest", tmp_path / "names.csv", transcript, "--participant", "P01", "--date", "2024-05-01",
                 "--db", db)
    assert result.exit_code == 0, result.output
    (second,) = stored_rows(db)  # one row, for the new names
    assert second[0] != first[0][0] and second[1] == 2
    text = sqlite3.connect(db).execute("SELECT display_text FROM excerpts WHERE display_text LIKE '%chaired%'").fetchone()[0]
    assert text == "[the chair] chaired; [the chair] agreed."

    # a register changed by hand in the database (no import): the stored tables are stale, not used
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO pseudonyms (name, pseudonym, origin) VALUES ('Hephzibah Vantongeren', '[P09]', 'test')")
    conn.commit()
    pseudonyms._LAST_BUILT.clear()
    opened = dblib.open_db(db)
    assert pseudonyms.from_db(opened)("Hephzibah Vantongeren said") == "[P09] said"


@pytest.mark.parametrize("damage", [b"", b"\x00\x01garbage", None])
def test_damaged_or_foreign_row_is_built_again(tmp_path, count_builds, damage):
    db = tmp_path / "w.db"
    assert run("consent", "import", write_register(tmp_path / "r.csv", PEOPLE), "--db", db).exit_code == 0
    conn = sqlite3.connect(db)
    if damage is None:  # tables of a different format, under the right digest
        import marshal

        conn.execute("UPDATE name_matcher SET tables = ?", [marshal.dumps({"format": -1})])
    else:
        conn.execute("UPDATE name_matcher SET tables = ?", [damage])
    conn.commit()
    pseudonyms._LAST_BUILT.clear()
    transcript = write_transcript(tmp_path / "t.txt", "Ottoline Bracegirdle spoke to Ní Bhriain.")
    result = run("ingest", transcript, "--participant", "P01", "--date", "2024-05-01", "--db", db)
    assert result.exit_code == 0, result.output
    assert count_builds == [3, 3]  # the import's build, then the damaged row's
    text = conn.execute("SELECT display_text FROM excerpts WHERE display_text LIKE '%spoke%'").fetchone()[0]
    assert text == "[P01] spoke to [P03]."
    assert stored_rows(db)[0][2] > 100  # and stored again, whole


def test_digest_follows_names_their_order_and_protected_words():
    names = {"Ottoline Bracegirdle": "[P01]", "Will Hope": "[P02]"}
    base = pseudonyms.names_digest(names, frozenset({"Kellbridge"}))
    assert base == pseudonyms.names_digest(dict(names), frozenset({"Kellbridge"}))
    assert base != pseudonyms.names_digest(dict(reversed(names.items())), frozenset({"Kellbridge"}))
    assert base != pseudonyms.names_digest({**names, "Will Hope": "[P03]"}, frozenset({"Kellbridge"}))
    assert base != pseudonyms.names_digest(names, frozenset())
    assert len(pseudonyms.matcher_version()) == 64


def test_publish_database_has_no_matcher_tables(tmp_path):
    db = tmp_path / "w.db"
    assert run("consent", "import", write_register(tmp_path / "r.csv", PEOPLE), "--db", db).exit_code == 0
    transcript = write_transcript(tmp_path / "t.txt", "The joint committee agreed the plan with Ottoline.")
    assert run("ingest", transcript, "--participant", "P01", "--date", "2024-05-01", "--db", db).exit_code == 0
    out = tmp_path / "pub.db"
    result = run("publish", out, "--db", db)
    assert result.exit_code == 0, result.output
    tables = {r[0] for r in sqlite3.connect(out).execute("SELECT name FROM sqlite_master")}
    assert "name_matcher" not in tables
    assert b"bracegirdle" not in out.read_bytes().lower()


def test_read_only_database_still_pseudonymises(tmp_path, count_builds):
    """A command that cannot write (a read-only file) builds in memory and stores nothing."""
    db = tmp_path / "w.db"
    assert run("consent", "import", write_register(tmp_path / "r.csv", PEOPLE), "--db", db).exit_code == 0
    conn = sqlite3.connect(db)
    conn.execute("DELETE FROM name_matcher")
    conn.commit()
    conn.close()
    pseudonyms._LAST_BUILT.clear()
    import sqlite_utils

    readonly = sqlite_utils.Database(sqlite3.connect(f"file:{db}?mode=ro", uri=True))
    made = pseudonyms.from_db(readonly, store=True)
    assert made("Will Hope and Bracegirdle") == "[P02] and [P01]"
    assert stored_rows(db) == []
