"""The real pipeline for the export canary tests: ingest the sample corpus, code it with
the real coder (``casestudy.coding.engine.code_database`` and the default codebook),
publish it. If coding fails the fixture fails: the tests on it must never run on
hand-made codings (``test_real_pipeline_fixture_has_real_codings`` guards this).
"""

from __future__ import annotations

from pathlib import Path

from casestudy import db as dblib
from casestudy.ingest import files as ingest

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "corpus"
P09_CANARY = "The orange folder on my desk is where the merger plans went to die."
P12_CANARY = "We are the people who knock on doors in Tidewater when the buses stop running."
REGISTER_NAMES = [
    "Helen Marsh", "Daniel Okoro", "Priya Raman", "Graham Pellow", "Sarah Lindqvist", "Tom Achebe",
    "Fiona Gallagher", "Marcus Boyle", "Janet Hollis", "Aisha Carver", "Owen Treharne", "Bernadette Nwosu",
    "Kieran Doyle", "Margaret Ellery", "Rhys Calloway", "Ruth Okafor", "Colin Vance", "Nadia Sorensen",
    "Peter Quayle", "Imran Baig", "Lucy Fenwick",
]

def build_working_db(path: Path) -> Path:
    db = dblib.open_db(path)
    ingest.ingest(db, [CORPUS], actor="test")
    code_with_engine(db)
    db.close()
    return path


def code_with_engine(db) -> int:
    """Code every excerpt with the real coder and the shipped codebook; errors propagate."""
    from casestudy.coding import codebook
    from casestudy.coding import engine

    engine.code_database(db, codebook.load(), actor="test")
    coded = db.execute("SELECT count(*) FROM codings WHERE terms NOT IN ('', '[]') AND offsets NOT IN ('', '[]')").fetchone()[0]
    if not coded:
        raise RuntimeError("the real coder produced no codings with matched terms and offsets")
    return coded
