"""benchmarks/generate_study.py: the synthetic study ingests cleanly and is reproducible."""

from __future__ import annotations

import sys
from pathlib import Path

from casestudy import db as dblib
from casestudy.ingest import files as ingest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from generate_study import generate  # noqa: E402


def test_generated_study_ingests(tmp_path):
    info = generate(tmp_path / "s", words=20_000, seed=3, pdf_share=0.05)
    assert 20_000 <= info["words"] < 21_000
    assert {"txt", "vtt", "docx", "pdf"} <= set(info["formats"])
    db = dblib.open_db(tmp_path / "s.db")
    report = ingest.ingest(db, [tmp_path / "s"])
    assert len(report.added) == info["files"] and not report.skipped
    stored = db.execute("SELECT sum(words) FROM sources").fetchone()[0]
    assert abs(stored - info["words"]) / info["words"] < 0.05
    roles = dict(db.execute("SELECT speaker_role, count(*) FROM excerpts WHERE speaker IS NOT NULL GROUP BY 1").fetchall())
    assert roles["interviewer"] > 10 and roles["participant"] > 10


def test_same_seed_same_files(tmp_path):
    a = generate(tmp_path / "a", words=5_000, seed=7, pdf_share=0)
    b = generate(tmp_path / "b", words=5_000, seed=7, pdf_share=0)
    assert a["words"] == b["words"]
    for path in sorted((tmp_path / "a").rglob("*.txt")) + sorted((tmp_path / "a").rglob("*.csv")):
        assert path.read_bytes() == (tmp_path / "b" / path.relative_to(tmp_path / "a")).read_bytes()
