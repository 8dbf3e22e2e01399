"""Names and checks shared by the Datasette server (``serve``), its metadata and its plugin."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from casestudy.errors import CasestudyError

STATIC_MOUNT = "casestudy-static"
DB_NAME = "study"  # the database's name (and URL) in Datasette: /study/evidence
DEFAULT_USERNAME = "team"

# Tables that exist only in the working database: their presence means "not a publish db".
WORKING_ONLY_TABLES = {"consents", "audit_log", "pseudonyms", "codings", "schema_migrations"}


def _table_names(path: Path) -> set[str]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
    finally:
        conn.close()


def check_publish_db(path: "str | Path") -> None:
    """Refuse anything that is not a publish database (above all: the working database)."""
    path = Path(path)
    if not path.is_file():
        raise CasestudyError("no such publish database (run `casestudy publish` first)", path)
    try:
        names = _table_names(path)
    except sqlite3.Error as exc:
        raise CasestudyError(f"cannot open database: {exc}", path) from None
    leaked = sorted(names & WORKING_ONLY_TABLES)
    if leaked:
        raise CasestudyError(
            f"this is a working database (it has {', '.join(leaked)}); Datasette serves only the publish database", path
        )
    missing = sorted({"evidence", "publish_info"} - names)
    if missing:
        raise CasestudyError(f"not a publish database (no {', '.join(missing)} table)", path)
