"""Names and checks shared by the Datasette server (``serve``), its metadata and its plugin."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from casestudy.errors import CasestudyError

STATIC_MOUNT = "casestudy-static"
DB_NAME = "study"  # the database's name (and URL) in Datasette: /study/evidence
DEFAULT_USERNAME = "team"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
PASSWORD_ENV = "CASESTUDY_PASSWORD_HASH"


def check_host(host: str, password_hash: str | None, *, tls: bool = False, behind_tls_proxy: bool = False,
               command: str = "serve") -> None:
    """SPEC rule 5: a local address needs nothing; any other needs a password, and the password
    must not cross the network in clear: TLS (certificate and key) or a stated TLS proxy."""
    if password_hash and not password_hash.startswith("pbkdf2_sha256$"):
        raise CasestudyError(f"--password-hash is not a hash from `casestudy {command} --hash-password`")
    if host in LOCAL_HOSTS:
        return
    if not password_hash:
        raise CasestudyError(
            f"serving on {host} needs a password: run `casestudy {command} --hash-password`, then pass "
            f"--password-hash HASH or set ${PASSWORD_ENV} (or serve on 127.0.0.1)"
        )
    if not (tls or behind_tls_proxy):
        raise CasestudyError(
            f"serving on {host} would send the password in clear text: give --certfile and --keyfile "
            "(HTTPS), or --behind-tls-proxy if a reverse proxy terminates TLS (see docs/security.md)"
        )


def check_tls_files(certfile: "str | Path | None", keyfile: "str | Path | None") -> bool:
    """Both or neither; each a readable file. Returns whether TLS is on."""
    if not certfile and not keyfile:
        return False
    if not (certfile and keyfile):
        raise CasestudyError("HTTPS needs both --certfile and --keyfile")
    for path in (certfile, keyfile):
        if not Path(path).is_file():
            raise CasestudyError("no such file", path)
    return True

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
