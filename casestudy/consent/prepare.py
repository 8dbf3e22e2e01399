"""Prepare a publish database for browsing at scale: indexes, ANALYZE and precomputed
facet counts (``evidence_facet_counts``, ``evidence_facet_cube``) and code co-occurrence.

Part of the publish stage (``casestudy.consent.publish`` calls it before the file is
moved into place), so the data never depends on the web layer that reads it.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
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
    # the same without the date (dates multiply the combinations): every pair of other facets is summed there
    undated = ", ".join(index[c] for c in filters)
    conn.execute("DROP TABLE IF EXISTS temp.evidence_facet_undated")
    conn.execute(f"CREATE TEMP TABLE evidence_facet_undated AS SELECT {undated}, sum(n) AS n "
                 f"FROM temp.evidence_facet_combos GROUP BY {undated}")
    for col in filters:
        for name, _ in facets:
            a, b = index[col], index[name]
            combos = "evidence_facet_undated" if name in filters else "evidence_facet_combos"
            conn.execute(
                f"INSERT INTO evidence_facet_cube SELECT ?, {a}, ?, {b}, sum(n) FROM temp.{combos} "
                f"WHERE {a} IS NOT NULL AND {b} IS NOT NULL GROUP BY {a}, {b}",
                (col, name),
            )
    conn.execute("DROP TABLE temp.evidence_facet_combos")
    conn.execute("DROP TABLE temp.evidence_facet_undated")
    conn.execute("CREATE INDEX idx_evidence_facet_cube ON evidence_facet_cube (filter, facet, filter_value, count)")


# SQLite's page cache while the publish database is prepared (KiB): sorts for the indexes and the
# GROUP BYs stay in memory up to this, whatever the study's size.
PREPARE_CACHE_KIB = 262_144


def prepare_publish_db(path: "str | Path", conn: sqlite3.Connection | None = None,
                       timings: dict[str, tuple[float, float]] | None = None) -> list[str]:
    """Add what Datasette needs to a publish database; idempotent; returns what it created.

    Indexes (``PUBLISH_INDEXES``), ``evidence_facet_counts`` (the unfiltered facet counts of
    the evidence page, exact because a publish database never changes after it is built),
    ``evidence_facet_cube`` (the facet counts under each single-value filter, ``_build_facet_cube``),
    ``framework_rq``, ``waves``, ``excerpt_evidence`` and its index tables (``excerpt_codes`` …),
    ``cooccurrence`` (pairs of codes on the same excerpt, by ICS and wave) and ANALYZE: set-based SQL
    in one transaction, each table's indexes made after its rows. ``timings`` (if given) gets each
    step's (wall, CPU) seconds. ``casestudy.consent.publish`` may call this on its open connection before
    it closes the file.
    """
    own = conn is None
    if own:
        conn = sqlite3.connect(path)
    created: list[str] = []
    cache = conn.execute("PRAGMA cache_size").fetchone()[0]
    conn.execute(f"PRAGMA cache_size = -{PREPARE_CACHE_KIB}")
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not conn.in_transaction:
            conn.execute("BEGIN")
        for name, needs, build in _steps(conn, tables):
            if needs(tables | set(created)):
                started = time.perf_counter(), time.process_time()
                made = build(conn)
                created += [name] if made is None else made
                _took(timings, name, started)
        if created:
            started = time.perf_counter(), time.process_time()
            conn.execute("PRAGMA analysis_limit = 1000")  # sampled statistics: the same plans, seconds not minutes
            conn.execute("ANALYZE")
            _took(timings, "ANALYZE", started)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.execute(f"PRAGMA cache_size = {cache}")
        if own:
            conn.close()
    return created


def _took(timings: "dict | None", step: str, started: tuple[float, float]) -> None:
    if timings is not None:
        timings[step] = (time.perf_counter() - started[0], time.process_time() - started[1])


def _steps(conn: sqlite3.Connection, tables: set[str]):
    """(name, whether it is needed given the tables there, build → what it created), in order."""
    def missing(table: str, *after: str):
        return lambda have: table not in have and all(t in have for t in after)

    return [
        ("indexes", lambda have: True, lambda c: _build_indexes(c, tables)),
        ("evidence_facet_counts", missing("evidence_facet_counts", "evidence"), _build_evidence_facet_counts),
        ("evidence_facet_cube", missing("evidence_facet_cube", "evidence"), _build_facet_cube),
        ("framework_rq", missing("framework_rq", "evidence"), _build_framework_rq),
        ("waves", missing("waves", "evidence"), _build_waves),
        (EXCERPT_TABLE, missing(EXCERPT_TABLE, "evidence"), _build_excerpt_evidence),
        ("excerpt_facet_counts", missing("excerpt_facet_counts", EXCERPT_TABLE), _build_excerpt_facet_counts),
        (CODE_INDEX_TABLE, missing(CODE_INDEX_TABLE, EXCERPT_TABLE, "evidence"), _build_excerpt_codes),
        (CODE_COMBOS, missing(CODE_COMBOS, CODE_INDEX_TABLE), _build_excerpt_code_combos),
        (CODE_PAIRS, missing(CODE_PAIRS, CODE_INDEX_TABLE), _build_excerpt_code_pairs),
        (EXCERPT_CUBE, missing(EXCERPT_CUBE, CODE_COMBOS, CODE_PAIRS), _build_excerpt_facet_cube),
        ("cooccurrence", missing("cooccurrence", "evidence"), _build_cooccurrence),
    ]


def _build_indexes(conn: sqlite3.Connection, tables: set[str]) -> list[str]:
    created = []
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    for name, table, cols in PUBLISH_INDEXES:
        if table not in tables or name in indexes:
            continue
        have = set(columns(conn, table))
        cols = [c for c in cols if c in have]
        if cols:
            conn.execute(f"CREATE INDEX IF NOT EXISTS [{name}] ON [{table}] ({', '.join(f'[{c}]' for c in cols)})")
            created.append(name)
    return created


def _build_evidence_facet_counts(conn: sqlite3.Connection) -> None:
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


def _build_framework_rq(conn: sqlite3.Connection) -> None:
    conn.execute(
        """CREATE TABLE framework_rq AS
           SELECT rq, ics, wave, count(DISTINCT excerpt_id) AS excerpts,
                  count(DISTINCT participant_id) AS participants, count(DISTINCT source_id) AS sources
           FROM evidence GROUP BY rq, ics, wave"""
    )


def _build_cooccurrence(conn: sqlite3.Connection) -> None:
    """``cooccurrence``: how many excerpts of each ICS and wave have both codes of a pair."""
    conn.execute(
        """CREATE TABLE cooccurrence (code_a_id TEXT, code_a TEXT, code_b_id TEXT, code_b TEXT,
           ics TEXT, wave INTEGER, excerpts INTEGER)"""
    )
    if _has(conn, CODE_PAIRS):  # summed from the pairs of codes already counted
        name = "(SELECT code FROM evidence WHERE code_id = {} LIMIT 1)"
        conn.execute(
            f"""INSERT INTO cooccurrence
                SELECT a_code, {name.format('a_code')}, b_code, {name.format('b_code')}, ics, wave, n FROM (
                  SELECT a_code, b_code, ics, wave, sum(n) AS n FROM {CODE_PAIRS} WHERE a_code != b_code
                  GROUP BY a_code, b_code, ics, wave)"""
        )
    else:
        conn.execute(
            """INSERT INTO cooccurrence
               SELECT a.code_id, a.code, b.code_id, b.code, a.ics, a.wave, count(DISTINCT a.excerpt_id)
               FROM evidence a JOIN evidence b ON b.excerpt_id = a.excerpt_id AND b.code_id != a.code_id
               GROUP BY a.code_id, b.code_id, a.ics, a.wave"""
        )
    conn.execute("CREATE INDEX idx_cooccurrence_a ON cooccurrence (code_a_id, ics, wave)")


# --- the excerpt-level evidence table ------------------------------------------------------

# One row per excerpt: the quote and its attribution first, then its codes (listed together,
# with colours and review status), the facet columns, and the technical columns last.
EXCERPT_TABLE = "excerpt_evidence"
EXCERPT_FACETS = ["rqs", "codes", "ics", "collaborative", "wave", "source_kind", "org_type", "participant_role", "status"]
ARRAY_FACETS = {"rqs", "codes"}  # JSON arrays: an excerpt counts once under each of its values
# A tokenizer without stemming, so that prefix queries ("delegat*") match what they say and
# phrases match the words as written; diacritics folded ("Ní" finds "Ni").
FTS_TOKENIZE = "unicode61 remove_diacritics 2"

_EXCERPT_EVIDENCE = f"""CREATE TABLE {EXCERPT_TABLE} (
  excerpt_id INTEGER PRIMARY KEY,
  text TEXT,
  attribution TEXT,
  codes TEXT,
  rqs TEXT,
  status TEXT,
  ics TEXT,
  collaborative TEXT,
  wave INTEGER,
  source_kind TEXT,
  org_type TEXT,
  participant_role TEXT,
  participant_id TEXT,
  date TEXT,
  source_title TEXT,
  page INTEGER,
  quotable INTEGER,
  table_like INTEGER,
  n_codes INTEGER,
  best_score REAL,
  codings TEXT,
  source_id INTEGER
)"""


def attribution(row: dict, wave_label: str | None) -> str:
    """Who said it, or which document it comes from, in one line a reader can cite."""
    when = wave_label or (f"wave {row['wave']}" if row.get("wave") is not None else None)
    if row.get("source_kind") == "transcript":
        who = [row.get("participant_id") or "withheld participant", row.get("participant_role"), row.get("org_type")]
        parts = [p for p in who if p] + [p for p in (row.get("ics"), when) if p]
        return ", ".join(parts)
    kind = (row.get("source_kind") or "document").replace("-", " ")
    title = row.get("source_title")
    parts = [f"{kind.capitalize()}: {title}" if title else kind.capitalize()]
    if row.get("date"):
        parts.append(str(row["date"])[:10])
    if row.get("page"):
        parts.append(f"p. {row['page']}")
    parts.extend(p for p in (row.get("ics") or "national", when) if p)
    return ", ".join(parts)


_MAYBE_TABLE = re.compile(r"[0-9|\t]")


def _text_is_table(text: str) -> bool:
    """Run-on table text ("Total RTT waiting list 136,000 142,300 Worsening"): never top evidence."""
    from casestudy.textshape import looks_like_table

    # a text with no digit, pipe or tab is never a table row (every rule needs one of them): not parsed
    return bool(text) and not text.startswith("[withheld") and bool(_MAYBE_TABLE.search(text)) and looks_like_table(text)


def _sql_attribution(source_kind, participant_id, participant_role, org_type, ics, wave, wave_label, source_title,
                     date, page) -> str:
    row = {"source_kind": source_kind, "participant_id": participant_id, "participant_role": participant_role,
           "org_type": org_type, "ics": ics, "wave": wave, "source_title": source_title, "date": date, "page": page}
    return attribution(row, wave_label)


def _sql_sorted_set(joined: str | None) -> str:
    """The JSON list of the distinct values of a ``group_concat(…, char(31))``, sorted."""
    return json.dumps(sorted(set(joined.split("\x1f"))) if joined else [])


def _sql_distinct(joined: str | None) -> str:
    """The JSON list of the values of a ``group_concat(…, char(31))``, each once, in their order."""
    return json.dumps(list(dict.fromkeys(joined.split("\x1f"))) if joined else [])


def _build_excerpt_evidence(conn: sqlite3.Connection) -> None:
    """``excerpt_evidence``: the evidence table folded to one row per excerpt in one INSERT … SELECT
    (its codings in codebook order, as JSON built by SQLite), then its FTS index and indexes."""
    conn.execute(_EXCERPT_EVIDENCE)
    conn.create_function("cs_attribution", 10, _sql_attribution, deterministic=True)
    conn.create_function("cs_table_like", 1, lambda text: int(_text_is_table(text or "")), deterministic=True)
    conn.create_function("cs_sorted_set", 1, _sql_sorted_set, deterministic=True)
    conn.create_function("cs_distinct", 1, _sql_distinct, deterministic=True)
    cols = set(columns(conn, "evidence"))
    want = ["excerpt_id", "text", "rq", "code", "code_id", "status", "coder", "score", "terms", "offsets", "colour",
            "ics", "collaborative", "wave", "source_kind", "org_type", "participant_role", "participant_id", "date",
            "source_title", "page", "quotable", "source_id"]
    select = ", ".join(f"e.[{c}]" if c in cols else f"NULL AS [{c}]" for c in want)
    sort = "(SELECT sort FROM codes WHERE id = e.code_id)" if _has(conn, "codes") else "NULL"
    label = "(SELECT label FROM waves w WHERE w.wave = g.wave)" if _has(conn, "waves") else "NULL"
    coding = ("json_object('code_id', code_id, 'code', code, 'rq', rq, 'colour', colour, 'status', status, "
              "'coder', coder, 'score', score, 'terms', json(coalesce(nullif(terms, ''), '[]')), "
              "'offsets', json(coalesce(nullif(offsets, ''), '[]')))")
    # the subquery's order (excerpt, then codebook order) is the order each excerpt's codings are folded in
    conn.execute(
        f"""INSERT INTO {EXCERPT_TABLE}
            SELECT excerpt_id, text,
                   cs_attribution(source_kind, participant_id, participant_role, org_type, ics, wave, {label},
                                  source_title, date, page),
                   cs_distinct(group_concat(code_id, char(31))), cs_sorted_set(group_concat(nullif(rq, ''), char(31))),
                   CASE sum(status = 'accepted') WHEN count(*) THEN 'accepted' WHEN 0 THEN 'suggested'
                        ELSE 'partly accepted' END,
                   ics, collaborative, wave, source_kind, org_type, participant_role, participant_id, date,
                   source_title, page, quotable, cs_table_like(text), count(*), max(score),
                   json_group_array(json({coding})), source_id
            FROM (SELECT {select}, {sort} AS code_sort FROM evidence e ORDER BY e.excerpt_id, code_sort, e.code_id) g
            GROUP BY excerpt_id"""
    )
    conn.execute(
        f"CREATE VIRTUAL TABLE {EXCERPT_TABLE}_fts USING fts5(text, source_title, content={EXCERPT_TABLE}, "
        f"content_rowid=excerpt_id, tokenize='{FTS_TOKENIZE}', prefix='3 5')"
    )
    conn.execute(f"INSERT INTO {EXCERPT_TABLE}_fts({EXCERPT_TABLE}_fts) VALUES ('rebuild')")
    for col in ("ics", "wave", "source_kind", "status", "date"):
        conn.execute(f"CREATE INDEX idx_{EXCERPT_TABLE}_{col} ON {EXCERPT_TABLE} ([{col}])")
    conn.execute(f"CREATE INDEX idx_{EXCERPT_TABLE}_queue ON {EXCERPT_TABLE} (table_like, status, best_score)")


# The excerpt-code index of ``excerpt_evidence``: one row per (excerpt, code), with the excerpt's
# own facet columns copied beside the code, so that the pages filtered by a research question or a
# code (``?rqs__arraycontains=RQ3``, ``?codes__arraycontains=RQ3.2``: the framework matrix's links)
# and their facet counts are index lookups instead of a JSON scan of every excerpt.
CODE_INDEX_TABLE = "excerpt_codes"
SCALAR_FACETS = [c for c in EXCERPT_FACETS if c not in ARRAY_FACETS]
_EXCERPT_CODES = f"""CREATE TABLE {CODE_INDEX_TABLE} (
  code_id TEXT NOT NULL,
  excerpt_id INTEGER NOT NULL REFERENCES {EXCERPT_TABLE}(excerpt_id),
  rq TEXT,
  rq_first INTEGER NOT NULL,
  first INTEGER NOT NULL,
  {", ".join(f"{c} {'INTEGER' if c == 'wave' else 'TEXT'}" for c in SCALAR_FACETS)},
  PRIMARY KEY (code_id, excerpt_id)
) WITHOUT ROWID"""
# ``rq_first`` is 1 on one row of each (excerpt, research question), ``first`` on one row of each
# excerpt: an excerpt counts once under RQ3 however many RQ3 codes it has, and once in all. The
# facet columns have excerpt_evidence's types, so a filter means the same on both tables.
CODE_INDEXES = [
    ("idx_excerpt_codes_first", ["first", *SCALAR_FACETS, "excerpt_id"]),
    ("idx_excerpt_codes_rq", ["rq", "rq_first", *SCALAR_FACETS, "excerpt_id"]),
    ("idx_excerpt_codes_excerpt", ["excerpt_id", "code_id", "rq", "rq_first"]),
]


def _build_excerpt_codes(conn: sqlite3.Connection) -> None:
    """``excerpt_codes``: every code of every excerpt (its ``codes`` list, each code once) with the
    code's RQ and the excerpt's facet values, in one INSERT … SELECT in key order; its indexes are made
    after the rows are in."""
    conn.execute(_EXCERPT_CODES)
    scalar = ", ".join(f"x.[{c}]" for c in SCALAR_FACETS)
    rq = "(SELECT rq FROM codes WHERE id = j.value)" if _has(conn, "codes") else "NULL"
    conn.execute(
        f"""INSERT INTO {CODE_INDEX_TABLE}
            SELECT code_id, excerpt_id, rq, row_number() OVER (PARTITION BY excerpt_id, rq ORDER BY k) = 1, k = 0,
                   {", ".join(SCALAR_FACETS)}
            FROM (SELECT j.value AS code_id, x.excerpt_id, {rq} AS rq, j.key AS k, {scalar}
                  FROM {EXCERPT_TABLE} x, json_each(x.codes) j)
            ORDER BY code_id, excerpt_id"""  # in key order: appended, never inserted in the middle
    )
    for name, cols in CODE_INDEXES:
        conn.execute(f"CREATE INDEX {name} ON {CODE_INDEX_TABLE} ({', '.join(cols)})")


EXCERPT_CUBE = "excerpt_facet_cube"
CODE_COMBOS = "excerpt_code_combos"
_CODE_COMBOS = f"""CREATE TABLE {CODE_COMBOS} (
  {", ".join(f"{c} {'INTEGER' if c == 'wave' else 'TEXT'}" for c in SCALAR_FACETS)},
  code_id TEXT, rq TEXT, rq_first INTEGER, first INTEGER, n INTEGER
)"""


def _build_excerpt_code_combos(conn: sqlite3.Connection) -> None:
    """``excerpt_code_combos``: ``excerpt_codes`` grouped by everything but the excerpt, with the
    number of rows (n) in each group. A few thousand rows where ``excerpt_codes`` has a million: the
    facet counts of a page filtered on facet columns (and at most one RQ or code) are sums here."""
    cols = ", ".join(SCALAR_FACETS)
    conn.execute(_CODE_COMBOS)
    conn.execute(f"INSERT INTO {CODE_COMBOS} SELECT {cols}, code_id, rq, rq_first, first, count(*) FROM {CODE_INDEX_TABLE} "
                 f"GROUP BY {cols}, code_id, rq, rq_first, first")


CODE_PAIRS = "excerpt_code_pairs"


def _build_excerpt_code_pairs(conn: sqlite3.Connection) -> None:
    """``excerpt_code_pairs``: how many excerpts of each ICS and wave have code a and code b (a = b
    included), with ``rq_first`` of each: the RQ and code facets of a page filtered on one RQ or code
    and an ICS and/or wave (a framework-matrix cell) are sums here; so is ``cooccurrence``."""
    table = CODE_INDEX_TABLE
    conn.execute(f"""CREATE TABLE {CODE_PAIRS} (a_code TEXT, a_rq TEXT, a_first INTEGER, b_code TEXT, b_rq TEXT,
                     b_first INTEGER, ics TEXT, wave INTEGER, n INTEGER)""")
    conn.execute(f"""INSERT INTO {CODE_PAIRS}
                     SELECT a.code_id, a.rq, a.rq_first, b.code_id, b.rq, b.rq_first, a.ics, a.wave, count(*)
                     FROM {table} a JOIN {table} b ON b.excerpt_id = a.excerpt_id
                     GROUP BY a.code_id, a.rq_first, b.code_id, b.rq_first, a.ics, a.wave""")
    conn.execute(f"CREATE INDEX idx_{CODE_PAIRS}_code ON {CODE_PAIRS} (a_code, ics, wave)")
    conn.execute(f"CREATE INDEX idx_{CODE_PAIRS}_rq ON {CODE_PAIRS} (a_rq, a_first, ics, wave)")


def _build_excerpt_facet_cube(conn: sqlite3.Connection) -> None:
    """``excerpt_facet_cube``: every facet of ``excerpt_evidence`` under each single filter value
    (``?wave=2``, ``?rqs__arraycontains=RQ3``, ``?codes__arraycontains=RQ3.2``), exact because the file
    never changes: the pages filtered on one value are the largest, and the slowest to count.

    Sums over ``excerpt_code_combos`` and ``excerpt_code_pairs``.
    """
    table, scalar, combos = CODE_INDEX_TABLE, SCALAR_FACETS, CODE_COMBOS
    conn.execute(f"CREATE TABLE {EXCERPT_CUBE} (filter TEXT, filter_value, facet TEXT, value, count INTEGER)")
    # an array facet's value: the code, or the RQ once per excerpt; the same for an array filter
    array = {"codes": ("code_id", "1"), "rqs": ("rq", "rq_first = 1 AND rq IS NOT NULL")}
    insert = f"INSERT INTO {EXCERPT_CUBE} "
    for f in scalar:
        for g in scalar:
            conn.execute(insert + f"SELECT '{f}', {f}, '{g}', {g}, sum(n) FROM {combos} "
                         f"WHERE first = 1 AND {f} IS NOT NULL AND {g} IS NOT NULL GROUP BY {f}, {g}")
        for g, (value, once) in array.items():
            conn.execute(insert + f"SELECT '{f}', {f}, '{g}', {value}, sum(n) FROM {combos} "
                         f"WHERE {f} IS NOT NULL AND {once} GROUP BY {f}, {value}")
    for f, (fvalue, fonce) in array.items():
        for g in scalar:
            conn.execute(insert + f"SELECT '{f}', {fvalue}, '{g}', {g}, sum(n) FROM {combos} "
                         f"WHERE {g} IS NOT NULL AND {fonce} GROUP BY {fvalue}, {g}")
        for g in array:
            where = [f"{side}_first = 1 AND {side}_rq IS NOT NULL" for side, name in (("a", f), ("b", g)) if name == "rqs"]
            a, b = ("a_rq" if f == "rqs" else "a_code"), ("b_rq" if g == "rqs" else "b_code")
            conn.execute(insert + f"SELECT '{f}', {a}, '{g}', {b}, sum(n) FROM {CODE_PAIRS} "
                         f"WHERE {' AND '.join(where) or '1'} GROUP BY {a}, {b}")
    conn.execute(f"CREATE INDEX idx_{EXCERPT_CUBE} ON {EXCERPT_CUBE} (filter, filter_value, facet)")


def _build_excerpt_facet_counts(conn: sqlite3.Connection) -> None:
    """``excerpt_facet_counts``: the unfiltered facet counts of ``excerpt_evidence`` (exact: the file never changes)."""
    conn.execute("CREATE TABLE excerpt_facet_counts (facet TEXT, value, count INTEGER, PRIMARY KEY (facet, value))")
    for col in EXCERPT_FACETS:
        if col in ARRAY_FACETS:
            conn.execute(
                f"INSERT INTO excerpt_facet_counts SELECT ?, j.value, count(*) FROM {EXCERPT_TABLE}, json_each([{col}]) j "
                "GROUP BY j.value", (col,))
        else:
            conn.execute(
                f"INSERT INTO excerpt_facet_counts SELECT ?, [{col}], count(*) FROM {EXCERPT_TABLE} "
                f"WHERE [{col}] IS NOT NULL GROUP BY [{col}]", (col,))
    conn.execute("INSERT INTO excerpt_facet_counts SELECT '*', NULL, count(*) FROM " + EXCERPT_TABLE)


def _build_waves(conn: sqlite3.Connection) -> None:
    """``waves``: each fieldwork wave and its label ("wave 2 (2025)") from the study settings
    copied into the publish database, or else from the years of the wave's sources."""
    conn.execute("CREATE TABLE waves (wave INTEGER PRIMARY KEY, label TEXT)")
    labels: dict[int, str] = {}
    if _has(conn, "study_settings"):
        row = conn.execute("SELECT value FROM study_settings WHERE key = 'wave_labels'").fetchone()
        if row and row[0]:
            labels = {int(k): v for k, v in json.loads(row[0]).items()}
    waves = [w for (w,) in conn.execute(
        "SELECT DISTINCT wave FROM sources WHERE wave IS NOT NULL UNION SELECT DISTINCT wave FROM evidence "
        "WHERE wave IS NOT NULL ORDER BY 1")] if _has(conn, "sources") else []
    for wave in waves:
        if wave not in labels:
            years = [y for (y,) in conn.execute(
                "SELECT DISTINCT substr(date, 1, 4) FROM sources WHERE wave = ? AND date GLOB '[0-9][0-9][0-9][0-9]*' "
                "ORDER BY 1", (wave,))]
            span = years[0] if len(years) == 1 else (f"{years[0]}–{years[-1]}" if years else "")
            labels[wave] = f"wave {wave} ({span})" if span else f"wave {wave}"
    conn.executemany("INSERT INTO waves VALUES (?, ?)", sorted(labels.items()))


def _has(conn: sqlite3.Connection, table: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)).fetchone() is not None
