"""Pseudonymisation, tested with names and texts nobody tuned the matcher to."""

from __future__ import annotations

import pytest

from casestudy.consent import pseudonyms

NAMES = {
    "Siobhán O'Donnell-Price": "[S01]",
    "Kwame Mensah-Boateng": "[S02]",
    "Ingrid Thorsdóttir": "[S03]",
    "Dr Yolanda Petrakis": "[the ICB medical director]",
    "Cllr Hamish Drummond-Kerr": "[the council leader]",
    "Marsh, Helen": "[P01]",  # a register that writes "Last, First"
    "William Grace": "[P21]",
    "June Long": "[P22]",
    "Zoë Ng": "[P23]",
    "Thomas Kellbridge": "[P24]",  # a surname that is also a place
}
P = pseudonyms.build(NAMES, protected={"Kellbridge", "Ashmoor", "Saltmarsh"})


@pytest.mark.parametrize(
    "text, expected",
    [
        # full names: any case, any spacing, a line break, accents either way
        ("I met Siobhán O'Donnell-Price today.", "I met [S01] today."),
        ("SIOBHAN O'DONNELL-PRICE chaired.", "[S01] chaired."),
        ("as Siobhan\nO’Donnell-Price said", "as [S01] said"),
        ("siobhan  odonnell price", "[S01]"),
        ("with O'Donnell-\nPrice in the chair", "with [S01] in the chair"),
        ("Ingrid Thorsdottir and INGRID THORSDÓTTIR", "[S03] and [S03]"),
        ("Zoe Ng and Zoë Ng", "[P23] and [P23]"),
        # possessives, titles, initials, Last, First, e-mail
        ("Kwame's view and Mensah-Boateng's deputy", "[S02]'s view and [S02]'s deputy"),
        ("Dr Petrakis, Dr. Petrakis, Doctor Petrakis, Prof Petrakis", "[the ICB medical director], [the ICB medical director], [the ICB medical director], [the ICB medical director]"),
        ("Cllr Drummond-Kerr and Councillor Hamish", "[the council leader] and [the council leader]"),
        ("H. Marsh and H Marsh and Mrs Marsh", "[P01] and [P01] and [P01]"),
        ("Marsh, Helen signed it", "[P01] signed it"),
        ("write to helen.marsh@nhs.net", "write to [P01]@nhs.net"),
        ("Yolanda's paper", "[the ICB medical director]'s paper"),
        # short forms
        ("Bill Grace and Will Grace", "[P21] and [P21]"),
        # hyphenated parts alone
        ("Boateng agreed", "[S02] agreed"),
        ("Drummond disagreed", "[the council leader] disagreed"),
        # words that are also English words: only as a capitalised name
        ("the salt marsh at Saltmarsh", "the salt marsh at Saltmarsh"),
        ("Marsh said no", "[P01] said no"),
        ("a long grace period in june", "a long grace period in june"),
        ("Will the ICB agree? I asked Will.", "Will the ICB agree? I asked [P21]."),
        ("In June 2025 and on 3 June, Long said", "In June 2025 and on 3 June, [P22] said"),
        ("June said yes", "[P22] said yes"),
        # a place word is never replaced on its own, the full name is
        ("Kellbridge ICB met Thomas Kellbridge", "Kellbridge ICB met [P24]"),
        # not inside other words
        ("Marshall and Saltmarsh and Ngozi", "Marshall and Saltmarsh and Ngozi"),
    ],
)
def test_names_found_in_many_forms(text, expected):
    assert P(text) == expected


def test_a_word_shared_by_two_people_is_never_the_wrong_pseudonym():
    p = pseudonyms.build({"Tom Achebe": "[P06]", "Thomas Price": "[P23]", "Sam Tom": "[P30]"})
    assert p("Tom said") == "[name] said"
    assert p("Tom Achebe said") == "[P06] said"
    assert p("Thomas Price and Tommy") == "[P23] and [P23]"


def test_offsets_map_through_replacements():
    text = "Ask Kwame Mensah-Boateng about contracts."
    new, spans = P.apply(text)
    assert new == "Ask [S02] about contracts."
    start = text.index("contracts")
    assert new[pseudonyms.map_offset(start, spans) : pseudonyms.map_offset(start + 9, spans, end=True)] == "contracts"
    # a span that starts inside a name snaps to the whole pseudonym
    inside = text.index("Mensah")
    assert new[pseudonyms.map_offset(inside, spans) : pseudonyms.map_offset(inside + 3, spans, end=True)] == "[S02]"
    assert pseudonyms.map_offset(0, spans) == 0


def test_nothing_listed_changes_nothing():
    empty = pseudonyms.build({})
    assert empty("Helen Marsh") == "Helen Marsh"
    assert empty.apply("") == ("", [])


def test_split_name_handles_titles_and_commas():
    assert pseudonyms.split_name("Dr Ruth Okafor") == ("Dr", ["Ruth", "Okafor"])
    assert pseudonyms.split_name("Okafor, Ruth") == (None, ["Ruth", "Okafor"])
    assert pseudonyms.split_name("  Prof.  Ada   Lovelace ") == ("Prof", ["Ada", "Lovelace"])


def test_refresh_repseudonymises_text_and_titles_when_a_name_list_arrives(tmp_path):
    from casestudy import db as dblib

    db = dblib.open_db(tmp_path / "w.db")
    with db.atomic():
        sid = db["sources"].insert({"path": "/x/board.docx", "sha256": "0", "kind": "board-paper", "title": "Minutes signed by Ada Quist"}).last_pk
        db["excerpts"].insert({"source_id": sid, "seq": 1, "text": "Ada Quist opened the meeting.", "display_text": "Ada Quist opened the meeting."})
        pseudonyms.set_names(db, {"Ada Quist": "[the chair]"}, origin="test")
        pseudonyms.refresh_display_text(db)
    assert db.execute("SELECT display_text FROM excerpts").fetchone()[0] == "[the chair] opened the meeting."
    assert db.execute("SELECT title FROM sources").fetchone()[0] == "Minutes signed by [the chair]"


def test_the_matcher_is_built_when_the_first_text_needs_it(tmp_path):
    """A register and a names list imported before any text build nothing; the first text
    builds the matcher once, with every name, and the same one serves until names change."""
    from casestudy import db as dblib

    db = dblib.open_db(tmp_path / "w.db")
    with db.atomic():
        pseudonyms.set_names(db, {"Ada Quist": "[P01]"}, origin="register")
        pseudonyms.refresh_display_text(db)
        pseudonyms.set_names(db, {"Bram Oyelaran": "[the chair]"}, origin="names")
        pseudonyms.refresh_display_text(db)
    pending = pseudonyms.from_db(db)
    assert pending._built is None  # no text yet: nothing was built
    assert pending("") == "" and pending._built is None
    assert pending("Ada Quist met Bram Oyelaran.") == "[P01] met [the chair]."
    built = pending._built
    assert built is not None and pseudonyms.from_db(db) is pending
    assert pending("Quist and Oyelaran") == "[P01] and [the chair]" and pending._built is built
    with db.atomic():
        pseudonyms.set_names(db, {"Cora Lindqvist": "[P02]"}, origin="register")
    assert pseudonyms.from_db(db) is not pending
    assert pseudonyms.from_db(db)("Cora Lindqvist and Ada Quist") == "[P02] and [P01]"


def test_sample_corpus_names_all_replaced(export_pipeline_dbs):
    """Every register and name-list name of the shipped study, in every form it is written."""
    import re
    import sqlite3

    working, _ = export_pipeline_dbs
    conn = sqlite3.connect(working)
    names = [r[0] for r in conn.execute("SELECT name FROM pseudonyms")]
    words = {w for n in names for w in pseudonyms.split_name(n)[1] if len(w) > 2}
    leftover = []
    for (display,) in conn.execute("SELECT display_text FROM excerpts"):
        for w in words:
            if re.search(rf"(?<![\w]){re.escape(w)}(?![\w])", display):
                leftover.append(w)
    conn.close()
    assert leftover == []
