"""`casestudy serve`: Datasette over the consent-safe publish database.

Datasette is only ever pointed at the *publish* database (``casestudy publish``), never at
the working database: consent safety comes from what is in the served file. This module

* rebuilds the publish database when the working database changed (``ensure_published``),
* prepares it for browsing at scale (``prepare_publish_db``: indexes, ANALYZE, precomputed
  facet counts and code co-occurrence; idempotent, and callable from ``publish``),
* generates Datasette metadata (descriptions, facets, full-text search, canned queries),
* builds a :class:`datasette.app.Datasette` with the package's templates, static files and
  plugin (``casestudy.browse.plugin``), and runs it with uvicorn,
* binds to 127.0.0.1 unless a password hash is given (HTTP basic auth on every request,
  through datasette-auth-passwords).
"""

from __future__ import annotations

import os
import threading
import webbrowser
from pathlib import Path
from typing import Callable

from casestudy.browse.metadata import CANNED_EXAMPLES, STUDY_TITLE, canned_queries, metadata  # noqa: F401
from casestudy.browse.site import (  # noqa: F401
    DB_NAME, DEFAULT_USERNAME, LOCAL_HOSTS, PASSWORD_ENV, STATIC_MOUNT, check_host, check_publish_db, check_tls_files,
)
from casestudy.consent.prepare import DATE_FACET, FACET_COLUMNS, prepare_publish_db  # noqa: F401
from casestudy.errors import CasestudyError

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"
DEFAULT_PORT = 8001


# --- the publish database -----------------------------------------------------------


def default_publish_path(db_path: "str | Path") -> Path:
    """Where the publish database goes by default: beside the working one, ``<stem>-publish.db``."""
    from casestudy.consent.publish import default_publish_path as publish_default

    return publish_default(db_path)


def ensure_publish_db(db_path: "str | Path", publish_path: "str | Path", echo: Callable[[str], None] = print) -> Path:
    """Rebuild ``publish_path`` from the working database if that changed; return its path."""
    db_path, publish_path = Path(db_path), Path(publish_path)
    if db_path.exists() and publish_path.exists() and db_path.resolve() == publish_path.resolve():
        raise CasestudyError("the publish database cannot be the working database", publish_path)
    if db_path.exists():
        try:
            from casestudy.consent import publish as publish_lib
        except ImportError:
            publish_lib = None
        if publish_lib is not None and hasattr(publish_lib, "ensure_published"):
            if publish_lib.ensure_published(str(db_path), str(publish_path)):
                echo(f"Published {db_path} to {publish_path}")
            else:
                echo(f"{publish_path} is up to date")
        elif not publish_path.exists():
            raise CasestudyError("cannot build the publish database: `casestudy publish` is not available", publish_path)
    elif not publish_path.exists():
        raise CasestudyError("no such database (run `casestudy demo` first)", db_path)
    else:
        echo(f"No working database at {db_path}: serving {publish_path} as it is")
    check_publish_db(publish_path)
    return publish_path


# --- the server ----------------------------------------------------------------------


def hash_password(password: str) -> str:
    """A PBKDF2 hash for ``--password-hash`` / ``$CASESTUDY_PASSWORD_HASH``."""
    from datasette_auth_passwords.utils import hash_password as _hash

    return _hash(password)


def build_datasette(publish_path: "str | Path", password_hash: str | None = None, username: str = DEFAULT_USERNAME,
                    settings: dict | None = None):
    """A Datasette over the publish database with the project's metadata, templates, static files and plugin."""
    from casestudy.browse import plugin as datasette_plugin

    publish_path = Path(publish_path)
    check_publish_db(publish_path)
    datasette_plugin.register()
    ds = datasette_plugin.CasestudyDatasette(
        metadata=metadata(publish_path, password_hash, username),
        template_dir=str(TEMPLATES_DIR),
        static_mounts=[(STATIC_MOUNT, str(STATIC_DIR))],
        settings={
            "suggest_facets": False,  # suggestions cost a scan per column on a big table
            "facet_time_limit_ms": 1000,
            "sql_time_limit_ms": 5000,
            "default_page_size": 50,
            "truncate_cells_html": 1000,  # a source's whole text would fill the page
            **(settings or {}),
        },
    )
    if password_hash:  # the plugin reads it from the environment: no page or JSON shows it
        os.environ[PASSWORD_ENV] = password_hash
    ds._casestudy_auth = {"password_hash": password_hash, "username": username}
    if "_memory" in ds.databases:  # Datasette's scratch database: nothing of the study's, only confusing
        ds.remove_database("_memory")
    ds.add_database(datasette_plugin.PublishDatabase(ds, publish_path), name=DB_NAME)
    ds.refresh_if_replaced()  # records the file's identity
    return ds


def run(
    db_path: "str | Path",
    publish_path: "str | Path | None" = None,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    open_browser: bool = False,
    password_hash: str | None = None,
    username: str = DEFAULT_USERNAME,
    echo: Callable[[str], None] = print,
    certfile: "str | Path | None" = None,
    keyfile: "str | Path | None" = None,
    behind_tls_proxy: bool = False,
) -> None:
    """Check the host, rebuild the publish database if needed, prepare it and serve it (blocks)."""
    password_hash = password_hash or os.environ.get(PASSWORD_ENV) or None
    tls = check_tls_files(certfile, keyfile)
    check_host(host, password_hash, tls=tls, behind_tls_proxy=behind_tls_proxy)
    publish_path = Path(publish_path) if publish_path else default_publish_path(db_path)
    ensure_publish_db(db_path, publish_path, echo)
    prepare_publish_db(publish_path)
    ds = build_datasette(publish_path, password_hash, username)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"{'https' if tls else 'http'}://{'[' + shown + ']' if ':' in shown else shown}:{port}/"
    echo(f"Serving {publish_path} at {url}" + (f" (user '{username}', password required)" if password_hash else "")
         + "  (Ctrl+C to stop)")
    if open_browser:
        threading.Timer(1.0, webbrowser.open, [url]).start()
    import uvicorn

    if behind_tls_proxy and not tls and host not in LOCAL_HOSTS:
        echo(f"Plain HTTP on {host}: only a TLS reverse proxy on a trusted network may reach this port.")
    tls_files = {"ssl_certfile": str(certfile), "ssl_keyfile": str(keyfile)} if tls else {}
    uvicorn.run(ds.app(), host=host, port=port, log_level="warning", lifespan="on", **tls_files)
