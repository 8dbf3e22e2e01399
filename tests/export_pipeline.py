"""The real pipeline for the export canary tests: ingest the sample corpus, code it,
publish it. Coding uses ``casestudy.coding.engine`` when it is available; otherwise every
participant and document excerpt is given a suggested coding directly in the working
database (as a reviewer could), so the consent and pseudonym rules of ``publish`` are
exercised on every excerpt either way.
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

CODES = [
    ("RQ1", None, "RQ1 Purpose and aims", 0), ("RQ1.purpose", "RQ1", "Purpose", 1),
    ("RQ2", None, "RQ2 Member organisations", 0), ("RQ2.members", "RQ2", "Members", 1),
    ("RQ3", None, "RQ3 Governance and accountability", 0), ("RQ3.governance", "RQ3", "Governance", 1),
    ("RQ4", None, "RQ4 Contracts", 0), ("RQ4.contracts", "RQ4", "Contracts", 1),
    ("RQ5", None, "RQ5 Plans with ICBs", 0), ("RQ5.plans", "RQ5", "Plans", 1),
    ("RQ6", None, "RQ6 Quality, efficiency and sustainability", 0), ("RQ6.quality", "RQ6", "Quality", 1),
]


def build_working_db(path: Path) -> Path:
    db = dblib.open_db(path)
    ingest.ingest(db, [CORPUS], actor="test")
    if not _code_with_engine(db):
        _code_everything(db)
    db.close()
    return path


def _code_with_engine(db) -> bool:
    try:
        from casestudy.coding import codebook
        from casestudy.coding import engine as coding  # noqa: F401
    except ImportError:
        return False
    run = getattr(coding, "code", None) or getattr(coding, "run", None)
    if run is None:
        return False
    try:
        with db.atomic():
            run(db, codebook.load())
    except Exception:
        return False
    return db.execute("SELECT count(*) FROM codings").fetchone()[0] > 0


def _code_everything(db) -> None:
    """A suggested coding for every non-interviewer excerpt, round-robin over themes."""
    now = dblib.now()
    with db.atomic():
        for n, (code_id, parent, name, codable) in enumerate(CODES):
            db["codes"].upsert(
                {"id": code_id, "rq": code_id[:3], "parent_id": parent, "name": name, "description": f"{name}.",
                 "colour": "#336699", "codable": codable, "sort": n, "codebook_version": "test"},
                pk="id",
            )
        themes = [c[0] for c in CODES if c[3]]
        rows = db.execute("SELECT id FROM excerpts WHERE is_interviewer = 0 ORDER BY id").fetchall()
        db["codings"].insert_all(
            [{"excerpt_id": eid, "code_id": themes[i % len(themes)], "coder": "auto:test", "status": "suggested",
              "terms": "[]", "offsets": "[]", "score": 0.5, "codebook_version": "test", "created_at": now,
              "updated_at": now} for i, (eid,) in enumerate(rows)]
        )
