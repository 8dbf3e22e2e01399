"""Guards on the shared fixtures: tests that say "real pipeline" must run on the real coder's
output, not on hand-made codings (a fixture that quietly fell back to invented themes once
hid every coding and pseudonymising path of the export tests)."""

from __future__ import annotations

import json
import sqlite3

import consent_study as cs


def _auto_codings_with_evidence(conn) -> int:
    return conn.execute(
        """SELECT count(*) FROM codings WHERE coder LIKE 'auto:%'
           AND terms NOT IN ('', '[]') AND offsets NOT IN ('', '[]')"""
    ).fetchone()[0]


def test_real_pipeline_fixture_has_real_codings(export_pipeline_dbs):
    working, published = export_pipeline_dbs
    with sqlite3.connect(working) as conn:
        assert _auto_codings_with_evidence(conn) > 100
        codes = {r[0] for r in conn.execute("SELECT DISTINCT code_id FROM codings")}
        # the shipped codebook's themes (and RQs judged as a whole by the learned model)
        assert len(codes) > 20 and all("." in c or c in ("RQ1", "RQ2", "RQ3", "RQ4", "RQ5", "RQ6") for c in codes)
    with sqlite3.connect(published) as conn:
        rows = conn.execute("SELECT terms, offsets FROM evidence WHERE terms NOT IN ('', '[]') LIMIT 50").fetchall()
    assert len(rows) == 50
    for terms, offsets in rows:
        assert json.loads(terms) and json.loads(offsets)


def test_consent_study_runs_the_real_coder(tmp_path):
    path = cs.build(tmp_path)
    with sqlite3.connect(path) as conn:
        assert _auto_codings_with_evidence(conn) > 0
