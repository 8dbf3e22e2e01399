"""The working database: the schema, declared once, and the migrations that build it.

Every table, index, view and full-text index lives here. A migration is a small
function; ``migrate`` applies the ones a database has not had yet and records each in
``schema_migrations``, so an old database is upgraded in place.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import sqlite_utils

from casestudy.errors import CasestudyError

DEFAULT_DB = "db/casestudy.db"

# The consent rule in one place: which excerpts may be shown at all (SPEC rule 1).
# An excerpt is evidence when it is not the interviewer's, and either it belongs to no
# participant (a board paper, a policy, an observation) or its participant consented to
# interview and has not withdrawn. A transcript excerpt with no participant is never shown.
# Coders that are casestudy itself, not people: the codebook's patterns (``auto:<codebook
# version>``) and the learned model (``learned:<model version>``).
PATTERN_CODER_PREFIX = "auto:"
LEARNED_CODER_PREFIX = "learned:"
MACHINE_CODER_PREFIXES = (PATTERN_CODER_PREFIX, LEARNED_CODER_PREFIX)


def is_machine_coder(coder: "str | None") -> bool:
    """Whether a coding's coder is casestudy itself (patterns or the learned model), not a person.
    Any case, as SQLite's LIKE in ``machine_coder`` reads it, so Python and SQL always agree."""
    return bool(coder) and str(coder).lower().startswith(MACHINE_CODER_PREFIXES)


SUGGESTION_KINDS = ("themes", "key terms", "model alone")  # how an automatic suggestion is made


def suggestion_kind(coding: dict) -> str:
    """How an automatic suggestion (a dict with ``coder``, ``code_id`` and ``rq``) was made: a
    theme's patterns ("themes"), its research question's key terms (the RQ's own code, by the
    patterns' coder: "key terms"), or the learned model alone ("model alone")."""
    if str(coding.get("coder") or "").startswith(LEARNED_CODER_PREFIX):
        return "model alone"
    return "key terms" if coding.get("code_id") == coding.get("rq") else "themes"


def machine_coder(column: str = "c.coder") -> str:
    """``is_machine_coder`` in SQL, for the coder column ``column`` (``c.coder``, or ``coder``
    in a query of one table): ``(c.coder LIKE 'auto:%' OR c.coder LIKE 'learned:%')``."""
    return "(" + " OR ".join(f"{column} LIKE '{prefix}%'" for prefix in MACHINE_CODER_PREFIXES) + ")"


def human_coder(column: str = "c.coder") -> str:
    """SQL: the coder in ``column`` is a person (hand codings), the negation of ``machine_coder``."""
    return f"(NOT {machine_coder(column)})"


SOURCE_KINDS = ("transcript", "board-paper", "policy", "observation")  # what sources.kind may be

CONSENTED_EXCERPT = """
    e.is_interviewer = 0
    AND (
      (e.participant_id IS NULL AND s.kind != 'transcript')
      OR (cs.interview = 1 AND cs.withdrawn_date IS NULL)
    )
"""


def interview_consented(alias: str = "cs") -> str:
    """SQL: the consent row ``alias`` covers interviews and has not been withdrawn (as in
    CONSENTED_EXCERPT, for a participant rather than an excerpt)."""
    return f"({alias}.interview = 1 AND {alias}.withdrawn_date IS NULL)"


# A source anyone may see (listed, opened, its title shown): a document, or the transcript of
# a participant who consented to interview and has not withdrawn. ``scs`` is the consent of the
# source's participant: ``FROM {SOURCE_JOIN} WHERE {VISIBLE_SOURCE}``.
SOURCE_JOIN = """sources s
LEFT JOIN consents scs ON scs.participant_id = s.participant_id"""
VISIBLE_SOURCE = f"(s.kind != 'transcript' OR {interview_consented('scs')})"

# The tables CONSENTED_EXCERPT reads, under its aliases: each excerpt (e) with its source (s)
# and its participant's consent (cs). ``FROM {EXCERPT_JOIN} WHERE {CONSENTED_EXCERPT}``.
EXCERPT_JOIN = """excerpts e
JOIN sources s ON s.id = e.source_id
LEFT JOIN consents cs ON cs.participant_id = e.participant_id"""

# Each coding (c) with its code (cd), its excerpt (e), and that excerpt's source (s) and
# consent (cs): ``FROM {CODING_JOIN} WHERE {CONSENTED_EXCERPT}`` is every coding of evidence.
CODING_JOIN = """codings c
JOIN codes cd ON cd.id = c.code_id
JOIN excerpts e ON e.id = c.excerpt_id
JOIN sources s ON s.id = e.source_id
LEFT JOIN consents cs ON cs.participant_id = e.participant_id"""

# Where an excerpt comes from, after either join: its source's ICS (i) and collaborative
# (col), and its participant (p). Each table is joined on its primary key, so SQLite leaves
# out the ones a query does not read.
PLACE_JOIN = """LEFT JOIN ics i ON i.id = s.ics_id
LEFT JOIN collaboratives col ON col.id = s.collaborative_id
LEFT JOIN participants p ON p.id = e.participant_id"""

# The SQL below (views, backfills) is what each migration recorded, written out and kept as
# it was; queries that run today use the fragments above (tests/test_db_sql.py checks that
# the two still agree).

EVIDENCE_VIEW = f"""
SELECT
  c.id AS coding_id,
  e.id AS excerpt_id,
  e.display_text AS text,
  cd.rq AS rq,
  cd.name AS code,
  cd.id AS code_id,
  c.status AS status,
  c.coder AS coder,
  c.terms AS terms,
  c.score AS score,
  s.id AS source_id,
  s.kind AS source_kind,
  s.title AS source_title,
  i.name AS ics,
  col.name AS collaborative,
  s.wave AS wave,
  s.date AS date,
  e.page AS page,
  e.heading AS heading,
  e.turn AS turn,
  e.speaker_role AS speaker_role,
  e.participant_id AS participant_id,
  p.role AS participant_role,
  p.org_type AS org_type,
  CASE WHEN e.participant_id IS NULL THEN 1 ELSE cs.quotes END AS quotable
FROM codings c
JOIN excerpts e ON e.id = c.excerpt_id
JOIN codes cd ON cd.id = c.code_id
JOIN sources s ON s.id = e.source_id
LEFT JOIN ics i ON i.id = s.ics_id
LEFT JOIN collaboratives col ON col.id = s.collaborative_id
LEFT JOIN participants p ON p.id = e.participant_id
LEFT JOIN consents cs ON cs.participant_id = e.participant_id
WHERE c.status != 'rejected' AND {CONSENTED_EXCERPT}
"""


def now() -> str:
    """The current UTC time as ISO 8601 seconds, for every timestamp we write."""
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def default_db_path() -> str:
    return os.environ.get("CASESTUDY_DB") or DEFAULT_DB


# The databases ``open_db`` returned while a CLI command runs (``track_opened``): the command
# closes them when it ends, so SQLite checkpoints the WAL into the file at once rather than
# whenever the garbage collector breaks the connection's reference cycle.
_tracked: "list | None" = None


def track_opened() -> "list | None":
    """Start recording the databases ``open_db`` returns; give the result to ``close_tracked``."""
    global _tracked
    previous, _tracked = _tracked, []
    return previous


def close_tracked(previous: "list | None") -> None:
    """Close the databases opened since ``track_opened`` and restore the previous recording."""
    global _tracked
    opened, _tracked = _tracked or [], previous
    for db in opened:
        try:
            db.conn.close()
        except Exception:  # pragma: no cover - already closed: nothing to flush
            pass


def open_db(path: "str | Path", create: bool = True) -> sqlite_utils.Database:
    """Open (and by default create and migrate) the working database at ``path``."""
    path = Path(path)
    if not path.exists():
        if not create:
            raise CasestudyError("no such database (run `casestudy init` first)", path)
        make_private_dir(path.parent)
        # created empty and private before SQLite opens it: SQLite gives the -wal and -shm
        # files the database file's permissions (SPEC rule 5: real names, owner only)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    make_private(path)
    try:
        # no sqlite-utils plugins: casestudy needs none, and finding them costs ~0.1 s per command
        db = sqlite_utils.Database(path, execute_plugins=False)
        db.execute("PRAGMA foreign_keys = ON")
        if db.journal_mode != "wal":
            db.enable_wal()
        migrate(db)
    except CasestudyError:
        raise
    except Exception as exc:  # sqlite3.DatabaseError and friends: not a database
        raise CasestudyError(f"cannot open database: {exc}", path) from None
    if _tracked is not None:
        _tracked.append(db)
    return db


def make_private_dir(folder: Path) -> None:
    """Create ``folder`` (and missing parents) readable by the owner only (0700); an existing
    folder is left as it is (it may be shared on purpose)."""
    folder = Path(folder)
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for new in reversed(missing):
        new.mkdir(mode=0o700)
        os.chmod(new, 0o700)  # mkdir's mode is filtered by the umask


def make_private(path: Path) -> None:
    """The working database, its WAL and SHM files: owner read/write only (0600)."""
    for candidate in (Path(path), Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        try:
            if candidate.exists() and candidate.stat().st_mode & 0o077:
                os.chmod(candidate, 0o600)
        except OSError:  # not ours to change (another user's file): SQLite will say if it cannot open it
            pass


@contextmanager
def transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """One transaction per command: everything inside commits together or not at all."""
    with db.atomic():
        yield db


def insert_rows(db: sqlite_utils.Database, table: str, rows: "list[dict]", *, or_ignore: bool = False) -> None:
    """Insert ``rows`` (dicts with the same keys) into a table of our schema with one prepared
    ``executemany``. sqlite-utils' ``insert`` reads the schema and opens a savepoint first, 5-10
    statements a row; these tables are declared here, so there is nothing to look up."""
    if not rows:
        return
    columns = list(rows[0])
    sql = _insert_sql(table, columns, "INSERT OR IGNORE" if or_ignore else "INSERT")
    execute_many(db, sql, [tuple(row[c] for c in columns) for row in rows])


def execute_many(db: sqlite_utils.Database, sql: str, values: "list[tuple]") -> None:
    """``executemany``, committed at once when no transaction is open (as ``db.execute`` does)."""
    if db.conn.in_transaction:  # the command's transaction (the usual case): nothing to open
        db.conn.executemany(sql, values)
    else:
        with db.atomic():
            db.conn.executemany(sql, values)


def fetch_rows(db: sqlite_utils.Database, sql: str, params: "list | tuple | dict" = ()) -> "list[dict]":
    """The rows of a SELECT as dicts, in one statement (``db.query`` wraps it in a savepoint)."""
    cursor = db.execute(sql, params if isinstance(params, dict) else list(params))
    keys = [d[0] for d in cursor.description]
    return [dict(zip(keys, row)) for row in cursor]


def insert_row(db: sqlite_utils.Database, table: str, row: dict) -> int:
    """Insert one row with one statement (see ``insert_rows``); return its rowid."""
    return db.execute(_insert_sql(table, list(row)), list(row.values())).lastrowid


def update_row(db: sqlite_utils.Database, table: str, key, changes: dict, pk: str = "id") -> None:
    """``UPDATE table SET changes WHERE pk = key`` in one statement (nothing when no changes)."""
    if changes:
        db.execute(f"UPDATE [{table}] SET {', '.join(f'[{c}] = ?' for c in changes)} WHERE [{pk}] = ?",
                   [*changes.values(), key])


def _insert_sql(table: str, columns: "list[str]", verb: str = "INSERT") -> str:
    return f"{verb} INTO [{table}] ({', '.join(f'[{c}]' for c in columns)}) VALUES ({', '.join('?' * len(columns))})"


def audit(db: sqlite_utils.Database, actor: str, action: str, target: str = "", **detail) -> None:
    """Record who did what to which thing, and when, in ``audit_log``."""
    insert_row(db, "audit_log", {
        "at": now(),
        "actor": actor,
        "action": action,
        "target": target,
        "detail": json.dumps(detail, sort_keys=True, default=str) if detail else None,
    })


# --- migrations -------------------------------------------------------------------


def _m001_initial(db: sqlite_utils.Database) -> None:
    """The tables of SPEC "Schema", their indexes, full-text search and the evidence view."""
    db["ics"].create({"id": int, "name": str, "full_name": str}, pk="id", not_null={"name"})
    db["ics"].create_index(["name"], unique=True)

    db["organisations"].create(
        {"id": int, "name": str, "org_type": str, "ics_id": int},
        pk="id",
        not_null={"name"},
        foreign_keys=[("ics_id", "ics", "id")],
    )
    db["organisations"].create_index(["name"], unique=True)

    db["collaboratives"].create(
        {"id": int, "name": str, "ics_id": int, "type": str, "governance_model": str},
        pk="id",
        not_null={"name"},
        foreign_keys=[("ics_id", "ics", "id")],
    )
    db["collaboratives"].create_index(["name"], unique=True)

    db["memberships"].create(
        {"collaborative_id": int, "organisation_id": int, "member_role": str},
        pk=("collaborative_id", "organisation_id"),
        foreign_keys=[
            ("collaborative_id", "collaboratives", "id"),
            ("organisation_id", "organisations", "id"),
        ],
    )

    db["participants"].create(
        {
            "id": str,
            "name": str,  # the real name: raw table only, never published
            "role": str,
            "organisation_id": int,
            "org_type": str,
            "ics_id": int,
        },
        pk="id",
        foreign_keys=[("organisation_id", "organisations", "id"), ("ics_id", "ics", "id")],
    )

    db["consents"].create(
        {
            "participant_id": str,
            "form_version": str,
            "consent_date": str,
            "interview": int,
            "recording": int,
            "quotes": int,
            "archive": int,
            "withdrawn_date": str,
            "source_path": str,
            "updated_at": str,
        },
        pk="participant_id",
        foreign_keys=[("participant_id", "participants", "id")],
    )

    db["sources"].create(
        {
            "id": int,
            "path": str,
            "sha256": str,
            "kind": str,
            "format": str,
            "title": str,
            "ics_id": int,
            "collaborative_id": int,
            "wave": int,
            "date": str,
            "participant_id": str,
            "text": str,
            "pages": int,
            "words": int,
            "ingested_at": str,
        },
        pk="id",
        not_null={"path", "sha256", "kind"},
        foreign_keys=[
            ("ics_id", "ics", "id"),
            ("collaborative_id", "collaboratives", "id"),
            ("participant_id", "participants", "id"),
        ],
    )
    db["sources"].create_index(["path"], unique=True)
    db["sources"].create_index(["sha256"])
    db["sources"].create_index(["kind"])
    db["sources"].create_index(["ics_id"])
    db["sources"].create_index(["participant_id"])

    db["excerpts"].create(
        {
            "id": int,
            "source_id": int,
            "seq": int,
            "text": str,
            "display_text": str,  # the text with register names replaced by pseudonyms
            "text_sha": str,
            "speaker": str,
            "speaker_role": str,
            "participant_id": str,
            "is_interviewer": int,
            "turn": int,
            "start_time": str,
            "end_time": str,
            "page": int,
            "heading": str,
            "char_start": int,
            "char_end": int,
        },
        pk="id",
        not_null={"source_id", "text"},
        defaults={"is_interviewer": 0},
        foreign_keys=[("source_id", "sources", "id"), ("participant_id", "participants", "id")],
    )
    db["excerpts"].create_index(["source_id", "seq"], unique=True)
    db["excerpts"].create_index(["participant_id"])
    db["excerpts"].create_index(["text_sha"])
    db["excerpts"].enable_fts(["text"], create_triggers=True, tokenize="porter")

    db["codes"].create(
        {
            "id": str,
            "rq": str,
            "parent_id": str,
            "name": str,
            "description": str,
            "inclusion": str,
            "exclusion": str,
            "example": str,
            "colour": str,
            "codable": int,
            "sort": int,
            "codebook_version": str,
        },
        pk="id",
        not_null={"name", "rq"},
        foreign_keys=[("parent_id", "codes", "id")],
    )
    db["codes"].create_index(["rq"])

    db["codings"].create(
        {
            "id": int,
            "excerpt_id": int,
            "code_id": str,
            "coder": str,
            "status": str,
            "terms": str,  # JSON list of matched terms
            "offsets": str,  # JSON list of [start, end] character offsets in the excerpt
            "score": float,
            "codebook_version": str,
            "created_at": str,
            "updated_at": str,
            "reviewed_by": str,
            "reviewed_at": str,
        },
        pk="id",
        not_null={"excerpt_id", "code_id", "coder", "status"},
        foreign_keys=[("excerpt_id", "excerpts", "id"), ("code_id", "codes", "id")],
    )
    db["codings"].create_index(["excerpt_id", "code_id", "coder"], unique=True)
    db["codings"].create_index(["code_id"])
    db["codings"].create_index(["status"])
    db["codings"].create_index(["codebook_version"])

    db["memos"].create(
        {
            "id": int,
            "excerpt_id": int,
            "code_id": str,
            "source_id": int,
            "author": str,
            "text": str,
            "created_at": str,
        },
        pk="id",
        not_null={"text"},
        foreign_keys=[
            ("excerpt_id", "excerpts", "id"),
            ("code_id", "codes", "id"),
            ("source_id", "sources", "id"),
        ],
    )

    db["pseudonyms"].create(
        {"name": str, "pseudonym": str, "participant_id": str, "origin": str},
        pk="name",
        not_null={"pseudonym"},
    )

    db["audit_log"].create(
        {"id": int, "at": str, "actor": str, "action": str, "target": str, "detail": str},
        pk="id",
    )
    db["audit_log"].create_index(["action"])

    db["codebooks"].create(
        {"version": str, "path": str, "loaded_at": str, "n_codes": int}, pk="version"
    )

    db.create_view("evidence", EVIDENCE_VIEW, replace=True)


def _m002_coded_excerpts(db: sqlite_utils.Database) -> None:
    """Which excerpts each codebook version has coded (so `code` is incremental even for
    excerpts that got no suggestion). Rows go with their excerpt (ON DELETE CASCADE)."""
    db.execute(
        """CREATE TABLE coded_excerpts (
             excerpt_id INTEGER NOT NULL REFERENCES excerpts(id) ON DELETE CASCADE,
             codebook_version TEXT NOT NULL,
             coded_at TEXT,
             PRIMARY KEY (excerpt_id, codebook_version)
           )"""
    )


def _m003_indicators(db: sqlite_utils.Database) -> None:
    """Routine indicators (ingest kind ``indicators``, see ``casestudy.ingest.indicators``): one row
    per figure, with the file it came from (path + SHA-256: re-ingest is idempotent) and the
    row it was on. ``value`` is NUMERIC so whole numbers stay whole; ``wave`` is the period's
    calendar year as a fieldwork wave (2024 = 1, 2025 = 2, 2026 = 3; NULL for other years)."""
    db.execute(
        """CREATE TABLE indicators (
             id INTEGER PRIMARY KEY,
             ics_id INTEGER NOT NULL REFERENCES ics(id),
             collaborative_id INTEGER REFERENCES collaboratives(id),
             indicator TEXT NOT NULL,
             period TEXT NOT NULL,
             period_start TEXT NOT NULL,
             year INTEGER NOT NULL,
             wave INTEGER,
             value NUMERIC NOT NULL,
             unit TEXT,
             source TEXT,
             notes TEXT,
             row INTEGER,
             source_path TEXT NOT NULL,
             source_sha256 TEXT NOT NULL,
             ingested_at TEXT
           )"""
    )
    db.execute(
        "CREATE UNIQUE INDEX idx_indicators_figure ON indicators "
        "(ics_id, coalesce(collaborative_id, 0), indicator, period)"
    )
    db["indicators"].create_index(["indicator", "ics_id", "period_start"])
    db["indicators"].create_index(["ics_id", "wave"])
    db["indicators"].create_index(["collaborative_id"])
    db["indicators"].create_index(["source_path"])
    db["indicators"].create_index(["source_sha256"])


def _m004_fts_bulk_insert(db: sqlite_utils.Database) -> None:
    """Faster full-text upkeep, same index. Ingest registers a source in ``fts_deferred``
    while it inserts that source's excerpts, then indexes them in one
    ``INSERT INTO excerpts_fts ... SELECT`` (several times faster than a trigger per row) and
    removes the row, all in its transaction; every other insert is indexed by the trigger as
    before. The update trigger fires only when ``text`` (or ``id``) changes, so recomputing
    ``display_text`` no longer re-indexes unchanged text."""
    db.execute("CREATE TABLE fts_deferred (source_id INTEGER PRIMARY KEY)")
    db.execute("DROP TRIGGER IF EXISTS excerpts_ai")
    db.execute(
        """CREATE TRIGGER excerpts_ai AFTER INSERT ON excerpts
           WHEN NOT EXISTS (SELECT 1 FROM fts_deferred WHERE source_id = new.source_id) BEGIN
             INSERT INTO excerpts_fts (rowid, text) VALUES (new.rowid, new.text);
           END"""
    )
    db.execute("DROP TRIGGER IF EXISTS excerpts_au")
    db.execute(
        """CREATE TRIGGER excerpts_au AFTER UPDATE OF id, text ON excerpts BEGIN
             INSERT INTO excerpts_fts (excerpts_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
             INSERT INTO excerpts_fts (rowid, text) VALUES (new.rowid, new.text);
           END"""
    )


# The evidence view from migration 5 on: the heading and the matched terms pseudonymised like
# the text (``excerpts.display_heading``, ``codings.display_terms``), never as written. A
# coding whose display_terms is not filled yet shows NULL terms unless it has none.
EVIDENCE_VIEW_V5 = (
    EVIDENCE_VIEW.replace(
        "  c.terms AS terms,",
        "  coalesce(c.display_terms, CASE WHEN c.terms IS NULL OR c.terms = '[]' THEN c.terms END) AS terms,",
    ).replace("  e.heading AS heading,", "  e.display_heading AS heading,")
)
assert "c.display_terms" in EVIDENCE_VIEW_V5 and "e.display_heading AS heading" in EVIDENCE_VIEW_V5


def _m005_display_heading_terms(db: sqlite_utils.Database) -> None:
    """Consent: headings (``Report of <name>``) and matched terms were shown raw by the
    evidence view. ``excerpts.display_heading`` and ``codings.display_terms`` hold them
    pseudonymised (filled at ingest and coding, recomputed by
    ``pseudonyms.refresh_display_text`` whenever names change); this backfills them, and
    every ``display_text`` and title, with the current name list, and recreates the view."""
    from casestudy.consent import pseudonyms  # not at the top: pseudonyms needs nothing from here, keep it so

    db.execute("ALTER TABLE excerpts ADD COLUMN display_heading TEXT")
    db.execute("ALTER TABLE codings ADD COLUMN display_terms TEXT")
    pseudonyms.refresh_display_text(db)
    db.execute("DROP VIEW IF EXISTS evidence")
    db.create_view("evidence", EVIDENCE_VIEW_V5)


def _m006_study_settings(db: sqlite_utils.Database) -> None:
    """Study settings (``casestudy.study``): ``study`` holds title, subtitle, description, PI,
    authors, funder, grant and status as key/value rows; ``waves`` the fieldwork waves with a
    year or a date range. The ICSs and collaboratives the study knows are the ``ics`` and
    ``collaboratives`` tables, as before."""
    db["study"].create({"key": str, "value": str}, pk="key")
    db["waves"].create({"number": int, "year": int, "start": str, "end": str}, pk="number")


# The evidence view from migration 7 on: a coding may cover a span of its excerpt
# (``span_start``/``span_end``, offsets in the excerpt's ``text`` like ``offsets``; NULL = the
# whole excerpt), and ``decided_by`` names the person whose decision the row stands on: who
# accepted a suggestion, or who added a hand coding (NULL for a suggestion nobody decided).
EVIDENCE_VIEW_V7 = EVIDENCE_VIEW_V5.replace(
    "  c.coder AS coder,",
    "  c.coder AS coder,\n"
    "  coalesce(c.reviewed_by, CASE WHEN c.coder NOT LIKE 'auto:%' AND c.coder NOT LIKE 'learned:%' THEN c.coder END)"
    " AS decided_by,\n"
    "  c.span_start AS span_start,\n"
    "  c.span_end AS span_end,",
)
assert "AS decided_by" in EVIDENCE_VIEW_V7


# What agreement is computed from (``casestudy.coding.agreement``): for every excerpt a coder
# has rated, one marker row (code_id NULL), then one row per code with a value other than
# "not applied": 1 = applied, 0 = decided not to apply (rejected, removed), NULL = a suggestion
# the person saw but has not decided (missing, not "no"). A person has rated an excerpt when they
# made any decision on it or finished it in a double-coding sample; their value for a code is
# their latest decision that was not undone. Automatic coders (``auto:``/``learned:``) rate the
# excerpts a person rated and that they coded; each of their suggestions is 1.
AGREEMENT_RATINGS_VIEW = """
WITH live AS (SELECT * FROM decisions WHERE undone_at IS NULL),
latest AS (SELECT max(id) AS id FROM live GROUP BY excerpt_id, code_id, decider),
human_rated AS (
  SELECT excerpt_id, decider AS coder FROM live
  UNION SELECT excerpt_id, coder FROM assignments WHERE done_at IS NOT NULL
),
machine AS (
  SELECT DISTINCT c.excerpt_id, c.code_id, c.coder FROM codings c
  WHERE (c.coder LIKE 'auto:%' OR c.coder LIKE 'learned:%') AND c.excerpt_id IN (SELECT excerpt_id FROM human_rated)
),
machine_rated AS (
  SELECT DISTINCT h.excerpt_id, m.coder FROM human_rated h
  JOIN (SELECT DISTINCT coder FROM machine) m
  WHERE EXISTS (SELECT 1 FROM coded_excerpts ce WHERE ce.excerpt_id = h.excerpt_id
                AND (ce.codebook_version = m.coder OR 'auto:' || ce.codebook_version = m.coder))
     OR EXISTS (SELECT 1 FROM machine x WHERE x.excerpt_id = h.excerpt_id AND x.coder = m.coder)
)
SELECT excerpt_id, coder, 0 AS automatic, NULL AS code_id, NULL AS value FROM human_rated
UNION ALL
SELECT d.excerpt_id, d.decider, 0, d.code_id, d.applied FROM decisions d JOIN latest l ON l.id = d.id
UNION ALL
SELECT h.excerpt_id, h.coder, 0, s.code_id, NULL
FROM human_rated h JOIN (SELECT DISTINCT excerpt_id, code_id FROM machine) s ON s.excerpt_id = h.excerpt_id
WHERE NOT EXISTS (SELECT 1 FROM live d WHERE d.excerpt_id = h.excerpt_id AND d.code_id = s.code_id AND d.decider = h.coder)
  AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.excerpt_id = h.excerpt_id AND a.coder = h.coder AND a.blind = 1)
UNION ALL
SELECT excerpt_id, coder, 1, NULL, NULL FROM machine_rated
UNION ALL
SELECT excerpt_id, coder, 1, code_id, 1 FROM machine
"""


# How each reviewed excerpt's automatic suggestions fared (casestudy.coding.scorecard, the
# publish database's scorecard, the Word report): one row per excerpt a person decided on and
# research question that was suggested by an automatic coder or applied (accepted, or added by
# hand). ``waiting`` = suggestions on the excerpt still await a decision (the excerpt is only
# partly reviewed, and the scorecard leaves it out).
SUGGESTION_OUTCOMES_VIEW = """
WITH decided AS (
  SELECT c.excerpt_id,
         max((c.coder LIKE 'auto:%' OR c.coder LIKE 'learned:%') AND c.status = 'suggested') AS waiting
  FROM codings c GROUP BY c.excerpt_id
  HAVING max(c.reviewed_at IS NOT NULL OR NOT (c.coder LIKE 'auto:%' OR c.coder LIKE 'learned:%'))
)
SELECT c.excerpt_id AS excerpt_id, cd.rq AS rq,
       max(c.coder LIKE 'auto:%' OR c.coder LIKE 'learned:%') AS suggested,
       max(c.status = 'accepted') AS applied,
       CASE WHEN max(c.coder LIKE 'auto:%' OR c.coder LIKE 'learned:%') AND max(c.status = 'accepted') THEN 'agreed'
            WHEN max(c.coder LIKE 'auto:%' OR c.coder LIKE 'learned:%') THEN 'false alarm'
            ELSE 'missed' END AS outcome,
       d.waiting AS waiting
FROM codings c JOIN codes cd ON cd.id = c.code_id JOIN decided d ON d.excerpt_id = c.excerpt_id
GROUP BY c.excerpt_id, cd.rq
HAVING suggested OR applied
"""


def _m007_workspace(db: sqlite_utils.Database) -> None:
    """The coding workspace (``casestudy workspace``): spans, every human decision, blind samples.

    * ``codings.span_start`` / ``span_end``: a coding of part of an excerpt (character offsets
      in ``excerpts.text``, as ``offsets``); NULL = the whole excerpt, so existing codings stay valid.
    * ``decisions``: one row per human decision (accept, reject, add, remove), with the person
      who made it and the coding's fields before it (``previous``, JSON; NULL when the decision
      created the coding) so the last decision can be undone. Agreement is computed from it:
      every person's latest decision on each (excerpt, code), not the coding's last status.
    * ``assignments``: excerpts a researcher is asked to code (``blind`` = without seeing
      suggestions or other researchers' decisions), and when they finished each.
    Backfills ``decisions`` from the decisions already recorded on codings.
    """
    db.execute("ALTER TABLE codings ADD COLUMN span_start INTEGER")
    db.execute("ALTER TABLE codings ADD COLUMN span_end INTEGER")
    db.execute(
        """CREATE TABLE decisions (
             id INTEGER PRIMARY KEY,
             excerpt_id INTEGER NOT NULL REFERENCES excerpts(id) ON DELETE CASCADE,
             code_id TEXT NOT NULL,
             coding_id INTEGER,
             decider TEXT NOT NULL,
             action TEXT NOT NULL CHECK (action IN ('accept', 'reject', 'add', 'remove')),
             applied INTEGER NOT NULL CHECK (applied IN (0, 1)),
             span_start INTEGER,
             span_end INTEGER,
             previous TEXT,
             blind INTEGER NOT NULL DEFAULT 0,
             at TEXT NOT NULL,
             undone_at TEXT
           )"""
    )
    db.execute("CREATE INDEX idx_decisions_decider ON decisions (decider, id)")
    db.execute("CREATE INDEX idx_decisions_excerpt ON decisions (excerpt_id, code_id)")
    db.execute(
        """CREATE TABLE assignments (
             excerpt_id INTEGER NOT NULL REFERENCES excerpts(id) ON DELETE CASCADE,
             coder TEXT NOT NULL,
             blind INTEGER NOT NULL DEFAULT 1,
             sample TEXT,
             assigned_by TEXT,
             assigned_at TEXT,
             done_at TEXT,
             PRIMARY KEY (excerpt_id, coder)
           )"""
    )
    db.execute("CREATE INDEX idx_assignments_coder ON assignments (coder, done_at)")
    auto = "(c.coder LIKE 'auto:%' OR c.coder LIKE 'learned:%')"
    # a suggestion someone accepted or rejected
    db.execute(
        f"""INSERT INTO decisions (excerpt_id, code_id, coding_id, decider, action, applied, at)
            SELECT c.excerpt_id, c.code_id, c.id, c.reviewed_by,
                   CASE c.status WHEN 'accepted' THEN 'accept' ELSE 'reject' END,
                   c.status = 'accepted', coalesce(c.reviewed_at, c.updated_at, c.created_at, '')
            FROM codings c WHERE {auto} AND c.status IN ('accepted', 'rejected') AND c.reviewed_by IS NOT NULL
            ORDER BY c.reviewed_at, c.id"""
    )
    # a hand coding: added by its coder, and perhaps decided on later by someone else
    db.execute(
        f"""INSERT INTO decisions (excerpt_id, code_id, coding_id, decider, action, applied, at)
            SELECT c.excerpt_id, c.code_id, c.id, c.coder,
                   CASE WHEN c.status = 'rejected' AND coalesce(c.reviewed_by, c.coder) = c.coder THEN 'reject' ELSE 'add' END,
                   NOT (c.status = 'rejected' AND coalesce(c.reviewed_by, c.coder) = c.coder),
                   coalesce(c.created_at, c.reviewed_at, '')
            FROM codings c WHERE NOT {auto} ORDER BY c.created_at, c.id"""
    )
    db.execute(
        f"""INSERT INTO decisions (excerpt_id, code_id, coding_id, decider, action, applied, at)
            SELECT c.excerpt_id, c.code_id, c.id, c.reviewed_by,
                   CASE c.status WHEN 'rejected' THEN 'reject' ELSE 'accept' END, c.status != 'rejected',
                   coalesce(c.reviewed_at, c.updated_at, '')
            FROM codings c WHERE NOT {auto} AND c.reviewed_by IS NOT NULL AND c.reviewed_by != c.coder
            ORDER BY c.reviewed_at, c.id"""
    )
    db.execute("DROP VIEW IF EXISTS evidence")
    db.create_view("evidence", EVIDENCE_VIEW_V7)
    db.create_view("agreement_ratings", AGREEMENT_RATINGS_VIEW)


def _m008_learned_models(db: sqlite_utils.Database) -> None:
    """The learned classifiers `casestudy code` / `casestudy learn` use (casestudy.coding.learned):
    one row per model version (a hash of its training data and settings), the model as JSON."""
    db.execute(
        """CREATE TABLE IF NOT EXISTS learned_models (
             version TEXT PRIMARY KEY, kind TEXT NOT NULL, created_at TEXT, n_examples INTEGER,
             n_decisions INTEGER, n_features INTEGER, settings TEXT, model TEXT NOT NULL
           )"""
    )


def _m009_name_matcher(db: sqlite_utils.Database) -> None:
    """The name matcher's tables for the current names (casestudy.consent.pseudonyms:
    ``prepare``, ``load``), so that a command loads them instead of building them. One row,
    keyed by a digest of the names and of the matcher's code; it holds real names, like
    ``pseudonyms``, and is never copied into the publish database."""
    db.execute(
        """CREATE TABLE IF NOT EXISTS name_matcher (
             digest TEXT PRIMARY KEY, built_at TEXT NOT NULL, names INTEGER NOT NULL, tables BLOB NOT NULL
           )"""
    )


def _m010_suggestion_outcomes(db: sqlite_utils.Database) -> None:
    """``suggestion_outcomes``: how the automatic suggestions fared on each reviewed excerpt
    (agreed, false alarm, missed per research question), for the coder's scorecard."""
    db.create_view("suggestion_outcomes", SUGGESTION_OUTCOMES_VIEW)


MIGRATIONS: list[tuple[int, str, Callable[[sqlite_utils.Database], None]]] = [
    (1, "initial schema", _m001_initial),
    (2, "coded_excerpts: incremental coding per codebook version", _m002_coded_excerpts),
    (3, "indicators: routine quantitative data", _m003_indicators),
    (4, "fts: bulk indexing on ingest, re-index only when text changes", _m004_fts_bulk_insert),
    (5, "pseudonymised headings and matched terms in the evidence view", _m005_display_heading_terms),
    (6, "study settings: study fields and waves", _m006_study_settings),
    (7, "workspace: coding spans, every human decision, blind double-coding assignments", _m007_workspace),
    (8, "learned_models: the learned suggestion models", _m008_learned_models),
    (9, "name_matcher: the name matcher's tables, stored when the names change", _m009_name_matcher),
    (10, "suggestion_outcomes: the automatic suggestions against the team's decisions", _m010_suggestion_outcomes),
]


def migrate(db: sqlite_utils.Database) -> list[int]:
    """Apply every migration this database has not had; return the ids applied."""
    if "schema_migrations" not in db.table_names():
        db["schema_migrations"].create({"id": int, "name": str, "applied_at": str}, pk="id")
    done = {row["id"] for row in db["schema_migrations"].rows}
    applied = []
    for number, name, step in MIGRATIONS:
        if number in done:
            continue
        with db.atomic():
            step(db)
            db["schema_migrations"].insert({"id": number, "name": name, "applied_at": now()})
        applied.append(number)
    return applied


def schema_version(db: sqlite_utils.Database) -> int:
    return max((row["id"] for row in db["schema_migrations"].rows), default=0)
