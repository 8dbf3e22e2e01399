"""What every export shares: finding (or building) the publish database, reading it,
filtering its evidence, and writing an output file safely.

Exports read ONLY the publish database (``casestudy publish``), never the working
database, so consent and pseudonyms hold by construction. As a second line of
defence every export also treats ``quotable = 0`` as "never quote", whatever text the
row carries.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from casestudy.db import PATTERN_CODER_PREFIX
from casestudy.errors import CasestudyError

REQUIRED_TABLES = ("evidence", "excerpts", "sources", "codes")
RQS = tuple(f"RQ{n}" for n in range(1, 7))
WITHHELD = "[withheld: participant did not consent to verbatim quotation]"


# --- the publish database ------------------------------------------------------------


def resolve_publish_db(working_db: "str | Path", publish_db: "str | Path | None" = None) -> Path:
    """The publish database to read: ``publish_db`` as given, or the working
    database's default publish database, (re)built first if it is stale."""
    if publish_db:
        path = Path(publish_db)
        if not path.is_file():
            raise CasestudyError("no such publish database (run `casestudy publish` first)", path)
        working = Path(working_db)
        if working.is_file() and working.resolve() != path.resolve():
            check_not_stale(working, path)
        return path
    working = Path(working_db)
    if not working.is_file():
        raise CasestudyError("no such database (run `casestudy demo` or `casestudy init` first)", working)
    from casestudy.consent import publish

    out = publish.default_publish_path(working)
    publish.ensure_published(str(working), str(out))
    return out


def _read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True)


def check_not_stale(working_db: Path, publish_db: Path) -> None:
    """Refuse a publish database (a copy, say) built before a consent change in ``working_db``.

    A copy is not in ``<db>.published``, so a withdrawal does not rebuild it; exporting from
    it would put a withdrawn participant's words, or the verbatim words of someone who has
    since refused quotation, into a new file.
    """
    try:
        conn = _read_only(working_db)
        try:
            gone = {r[0] for r in conn.execute(
                "SELECT participant_id FROM consents WHERE interview IS NOT 1 OR withdrawn_date IS NOT NULL")}
            unquotable = {r[0] for r in conn.execute("SELECT participant_id FROM consents WHERE quotes IS NOT 1")}
        finally:
            conn.close()
    except sqlite3.Error:
        return  # not a working database of ours: nothing to compare with
    try:
        conn = _read_only(publish_db)
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            present: set = set()
            quoted: set = set()
            for table in ("participants", "evidence", "excerpts", "sources"):
                if table not in tables:
                    continue
                cols = set(columns(conn, table))
                key = "id" if table == "participants" else "participant_id"
                if key in cols:
                    present |= {r[0] for r in conn.execute(f"SELECT DISTINCT [{key}] FROM [{table}] WHERE [{key}] IS NOT NULL")}
                if table in ("evidence", "excerpts") and {"participant_id", "quotable"} <= cols:
                    quoted |= {r[0] for r in conn.execute(
                        f"SELECT DISTINCT participant_id FROM [{table}] WHERE quotable = 1 AND participant_id IS NOT NULL")}
        finally:
            conn.close()
    except sqlite3.Error:
        return  # open_publish says what is wrong with it
    stale = sorted((present & gone) | (quoted & unquotable))
    if stale:
        raise CasestudyError(
            f"this publish database was built before a consent change: it still holds {', '.join(stale)}, "
            f"whose words may no longer be published; rebuild it with `casestudy publish {publish_db}` "
            f"(or export without --publish-db)",
            publish_db,
        )


# Tables only the working database has: exports never read it (raw text, real names, paths).
WORKING_ONLY_TABLES = ("consents", "audit_log", "pseudonyms", "codings", "schema_migrations")


def open_publish(path: "str | Path") -> sqlite3.Connection:
    """Open a publish database read-only; refuse anything that is not one."""
    path = Path(path)
    if not path.is_file():
        raise CasestudyError("no such publish database (run `casestudy publish` first)", path)
    try:
        conn = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
    except sqlite3.DatabaseError as exc:
        raise CasestudyError(f"not a publish database ({exc})", path) from None
    working = [t for t in WORKING_ONLY_TABLES if t in names]
    if working:
        conn.close()
        raise CasestudyError(
            f"this is a working database (it has {', '.join(working)}), not a publish database; exports read only "
            f"the publish database: give --publish-db a file made by `casestudy publish`, or leave it out",
            path,
        )
    missing = [t for t in REQUIRED_TABLES if t not in names]
    if missing:
        conn.close()
        raise CasestudyError(
            f"not a publish database (no table {', '.join(missing)}); make one with `casestudy publish`", path
        )
    return conn


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)).fetchone() is not None


def columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f"PRAGMA table_info([{table}])")]


def rows(conn: sqlite3.Connection, sql: str, params: Iterable = ()) -> list[dict]:
    return [dict(r) for r in conn.execute(sql, tuple(params))]


def publish_info(conn: sqlite3.Connection) -> dict[str, str]:
    """``publish_info`` (key/value rows, as ``casestudy publish`` writes it) as a dict."""
    if not has_table(conn, "publish_info"):
        return {}
    return {str(k): "" if v is None else str(v) for k, v in conn.execute("SELECT key, value FROM publish_info")}


def codebook_version(conn: sqlite3.Connection) -> str:
    value = publish_info(conn).get("codebook_versions")
    if value:
        listed = json_list(value) if value.startswith("[") else [value]
        if listed:
            return ", ".join(str(v) for v in listed[-1:])
    if "codebook_version" in columns(conn, "codes"):
        found = [r[0] for r in conn.execute("SELECT DISTINCT codebook_version FROM codes WHERE codebook_version IS NOT NULL")]
        if found:
            return ", ".join(sorted(found))
    # the codebook's patterns code as auto:<codebook version>; learned:<model version> names a
    # model, not a codebook, so it has no place here
    coders = [r[0] for r in conn.execute(f"SELECT DISTINCT coder FROM evidence WHERE coder LIKE '{PATTERN_CODER_PREFIX}%'")]
    return ", ".join(sorted(c.split(":", 1)[1] for c in coders)) or "unknown"


# --- evidence and filters ------------------------------------------------------------


def normalise_rq(value: str) -> str:
    """``rq3``, ``RQ3`` or ``3`` → ``RQ3``; anything else is refused."""
    text = str(value).strip().upper()
    if re.fullmatch(r"\d", text):
        text = f"RQ{text}"
    if text not in RQS:
        raise CasestudyError(f"unknown research question {value!r} (use one of {', '.join(RQS)})")
    return text


@dataclass
class Filters:
    rqs: list[str] = field(default_factory=list)
    ics: list[str] = field(default_factory=list)
    waves: list[int] = field(default_factory=list)
    status: str = "all"  # "accepted": only accepted codings; "all": every coding that is not rejected

    def describe(self) -> list[tuple[str, str]]:
        return [
            ("Research questions", ", ".join(self.rqs) or "all (RQ1–RQ6)"),
            ("Integrated Care Systems", ", ".join(self.ics) or "all"),
            ("Waves", ", ".join(str(w) for w in self.waves) or "all"),
            ("Codings", "accepted only" if self.status == "accepted" else "accepted and suggested (not rejected)"),
        ]


def make_filters(conn: sqlite3.Connection, rqs=(), ics=(), waves=(), status: str = "all") -> Filters:
    """Check filter values against what the publish database holds."""
    rq_list = [normalise_rq(r) for r in rqs]
    known_ics = sorted({r[0] for r in conn.execute("SELECT DISTINCT ics FROM sources WHERE ics IS NOT NULL")})
    ics_list = []
    for name in ics:
        match = [k for k in known_ics if k.lower() == str(name).strip().lower()]
        if not match:
            raise CasestudyError(f"unknown ICS {name!r} (known: {', '.join(known_ics) or 'none'})")
        ics_list.append(match[0])
    known_waves = sorted({int(r[0]) for r in conn.execute("SELECT DISTINCT wave FROM sources WHERE wave IS NOT NULL")})
    wave_list = []
    for wave in waves:
        try:
            number = int(wave)
        except (TypeError, ValueError):
            raise CasestudyError(f"wave must be a number, not {wave!r}") from None
        if number not in known_waves:
            raise CasestudyError(f"unknown wave {wave} (known: {', '.join(map(str, known_waves)) or 'none'})")
        wave_list.append(number)
    if status not in ("accepted", "all"):
        raise CasestudyError(f"unknown status {status!r} (use accepted or all)")
    return Filters(rq_list, ics_list, wave_list, status)


def evidence(conn: sqlite3.Connection, filters: Filters | None = None) -> list[dict]:
    """Evidence rows (one per excerpt × code) that pass ``filters``, rejected codings
    never included, unquotable text always replaced by a placeholder."""
    filters = filters or Filters()
    where, params = ["(status IS NULL OR status != 'rejected')"], []
    if filters.status == "accepted":
        where.append("status = 'accepted'")
    for column, values in (("rq", filters.rqs), ("ics", filters.ics), ("wave", filters.waves)):
        if values:
            where.append(f"{column} IN ({', '.join('?' * len(values))})")
            params.extend(values)
    order = "rq, code_id, excerpt_id"
    out = rows(conn, f"SELECT * FROM evidence WHERE {' AND '.join(where)} ORDER BY {order}", params)
    for row in out:
        safe_row(row)
    return out


def is_quotable(row: dict) -> bool:
    value = row.get("quotable")
    return value is None or int(value) == 1


def safe_row(row: dict) -> dict:
    """Make sure an unquotable row carries no verbatim text (in place)."""
    if not is_quotable(row):
        text = row.get("text") or ""
        if not text.startswith("[withheld"):
            row["text"] = WITHHELD
        row["offsets"] = "[]"
        row["terms"] = row.get("terms") if row.get("terms") else "[]"
    return row


def json_list(value) -> list:
    if value in (None, ""):
        return []
    if isinstance(value, list):
        return value
    try:
        data = json.loads(value)
    except (TypeError, ValueError):
        return []
    return data if isinstance(data, list) else []


# --- writing -------------------------------------------------------------------------


def check_output(out: "str | Path", suffixes: Iterable[str]) -> Path:
    """Refuse an output path we cannot write before doing any work."""
    out = Path(out)
    suffixes = tuple(suffixes)
    if out.suffix.lower() not in suffixes:
        raise CasestudyError(f"output must end in {' or '.join(suffixes)}", out)
    if out.is_dir():
        raise CasestudyError("is a folder, not a file", out)
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise CasestudyError("cannot write here: the folder does not exist", out)
    if not os.access(parent, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise CasestudyError("cannot write here: permission denied", out)
    return out


def write_atomically(out: Path, write: Callable[[Path], None]) -> Path:
    """Run ``write(tmp)`` on a temporary file beside ``out`` and move it into place,
    so a failed export never leaves a half-written file."""
    parent = out.parent if str(out.parent) else Path(".")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=out.suffix, dir=parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.replace(tmp, out)
    except OSError as exc:
        raise CasestudyError(f"cannot write: {exc.strerror or exc}", out) from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return out
