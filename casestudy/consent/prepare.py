"""Prepare a publish database for browsing at scale: indexes, ANALYZE and precomputed
facet counts (``evidence_facet_counts``, ``evidence_facet_cube``) and code co-occurrence.

Part of the publish stage (``casestudy.consent.publish`` calls it before the file is
moved into place), so the data never depends on the web layer that reads it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

# The evidence columns offered as facets, in the order pages show them.
FACET_COLUMNS = [
    "rq", "code", "ics", "collaborative", "wave", "source_kind", "org_type", "participant_role", "status",
]
DATE_FACET = "date"


# Indexes for facets, filters and canned queries on a large evidence table. Datasette
# counts each facet with GROUP BY over the filtered rows; a wide covering index led by the
# filtered column answers every facet from the index alone (no table lookups).
_FACET_INDEX_COLUMNS = ["rq", "ics", "wave", "code", "status", "source_kind", "collaborative", "org_type",
                        "participant_role", "date", "excerpt_id"]
PUBLISH_INDEXES: list[tuple[str, str, list[str]]] = [
    *[
        (f"idx_evidence_by_{lead}", "evidence", [lead] + [c for c in _FACET_INDEX_COLUMNS if c != lead])
        for lead in ("rq", "ics", "wave", "code")
    ],
    ("idx_evidence_excerpt_code", "evidence", ["excerpt_id", "code_id"]),
    ("idx_evidence_code_id", "evidence", ["code_id", "ics", "wave"]),
    ("idx_evidence_status_score", "evidence", ["status", "score"]),
    ("idx_excerpts_source_seq", "excerpts", ["source_id", "seq"]),
    ("idx_framework_rq", "framework", ["rq", "code_id", "ics", "wave"]),
    ("idx_sources_ics_kind", "sources", ["ics", "kind"]),
]


def columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f"PRAGMA table_info([{table}])")]


def _build_facet_cube(conn: sqlite3.Connection) -> None:
    """``evidence_facet_cube``: every facet's counts under each single-value filter (``?wave=2``).

    One row per (filter column, its value, facet, facet value): what the evidence page shows
    when filtered on one facet value, exact because a publish database never changes. Built
    from one GROUP BY over all facet columns (a few hundred thousand combinations on 1 M rows).
    """
    have = set(columns(conn, "evidence"))
    filters = [c for c in FACET_COLUMNS if c in have]
    facets = [(c, c) for c in filters]
    if DATE_FACET in have:
        facets.append((f"date({DATE_FACET})", f"date([{DATE_FACET}])"))
    conn.execute("CREATE TABLE evidence_facet_cube (filter TEXT, filter_value, facet TEXT, value, count INTEGER)")
    if not filters:
        return
    groups = ", ".join(f"{expr} AS f{i}" for i, (_, expr) in enumerate(facets))
    keys = ", ".join(f"f{i}" for i in range(len(facets)))
    conn.execute("DROP TABLE IF EXISTS temp.evidence_facet_combos")
    conn.execute(f"CREATE TEMP TABLE evidence_facet_combos AS SELECT {groups}, count(*) AS n FROM evidence GROUP BY {keys}")
    index = {name: f"f{i}" for i, (name, _) in enumerate(facets)}
    for col in filters:
        for name, _ in facets:
            a, b = index[col], index[name]
            conn.execute(
                f"INSERT INTO evidence_facet_cube SELECT ?, {a}, ?, {b}, sum(n) FROM temp.evidence_facet_combos "
                f"WHERE {a} IS NOT NULL AND {b} IS NOT NULL GROUP BY {a}, {b}",
                (col, name),
            )
    conn.execute("DROP TABLE temp.evidence_facet_combos")
    conn.execute("CREATE INDEX idx_evidence_facet_cube ON evidence_facet_cube (filter, facet, filter_value, count)")


def prepare_publish_db(path: "str | Path", conn: sqlite3.Connection | None = None) -> list[str]:
    """Add what Datasette needs to a publish database; idempotent; returns what it created.

    Indexes (``PUBLISH_INDEXES``), ``evidence_facet_counts`` (the unfiltered facet counts of
    the evidence page, exact because a publish database never changes after it is built),
    ``evidence_facet_cube`` (the facet counts under each single-value filter, ``_build_facet_cube``),
    ``cooccurrence`` (pairs of codes on the same excerpt, by ICS and wave) and ANALYZE.
    ``casestudy.consent.publish`` may call this on its open connection before it closes the file.
    """
    own = conn is None
    if own:
        conn = sqlite3.connect(path)
    created = []
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        for name, table, cols in PUBLISH_INDEXES:
            if table not in tables or name in indexes:
                continue
            have = set(columns(conn, table))
            cols = [c for c in cols if c in have]
            if cols:
                conn.execute(f"CREATE INDEX IF NOT EXISTS [{name}] ON [{table}] ({', '.join(f'[{c}]' for c in cols)})")
                created.append(name)
        if "evidence" in tables and "evidence_facet_counts" not in tables:
            have = set(columns(conn, "evidence"))
            conn.execute("CREATE TABLE evidence_facet_counts (facet TEXT, value, count INTEGER, PRIMARY KEY (facet, value))")
            for col in [c for c in FACET_COLUMNS if c in have]:
                conn.execute(
                    f"INSERT INTO evidence_facet_counts SELECT ?, [{col}], count(*) FROM evidence "
                    f"WHERE [{col}] IS NOT NULL GROUP BY [{col}]",
                    (col,),
                )
            if DATE_FACET in have:
                conn.execute(
                    f"INSERT INTO evidence_facet_counts SELECT 'date({DATE_FACET})', date([{DATE_FACET}]), count(*) "
                    f"FROM evidence WHERE date([{DATE_FACET}]) IS NOT NULL GROUP BY date([{DATE_FACET}])"
                )
            created.append("evidence_facet_counts")
        if "evidence" in tables and "evidence_facet_cube" not in tables:
            _build_facet_cube(conn)
            created.append("evidence_facet_cube")
        if "evidence" in tables and "framework_rq" not in tables:
            conn.execute(
                """CREATE TABLE framework_rq AS
                   SELECT rq, ics, wave, count(DISTINCT excerpt_id) AS excerpts,
                          count(DISTINCT participant_id) AS participants, count(DISTINCT source_id) AS sources
                   FROM evidence GROUP BY rq, ics, wave"""
            )
            created.append("framework_rq")
        if "evidence" in tables and "cooccurrence" not in tables:
            conn.execute(
                """CREATE TABLE cooccurrence (code_a_id TEXT, code_a TEXT, code_b_id TEXT, code_b TEXT,
                   ics TEXT, wave INTEGER, excerpts INTEGER)"""
            )
            conn.execute(
                """INSERT INTO cooccurrence
                   SELECT a.code_id, a.code, b.code_id, b.code, a.ics, a.wave, count(DISTINCT a.excerpt_id)
                   FROM evidence a JOIN evidence b ON b.excerpt_id = a.excerpt_id AND b.code_id != a.code_id
                   GROUP BY a.code_id, b.code_id, a.ics, a.wave"""
            )
            conn.execute("CREATE INDEX idx_cooccurrence_a ON cooccurrence (code_a_id, ics, wave)")
            created.append("cooccurrence")
        if created:
            conn.execute("ANALYZE")
        conn.commit()
    finally:
        if own:
            conn.close()
    return created
