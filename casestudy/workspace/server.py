"""Starting the workspace: host rules (as ``casestudy serve``), users, TLS, uvicorn."""

from __future__ import annotations

import os
import secrets
import threading
import webbrowser
from pathlib import Path
from typing import Callable

from casestudy import db as dblib
from casestudy.coding import codebook as codebook_lib
from casestudy.browse.site import LOCAL_HOSTS, check_tls_files
from casestudy.errors import CasestudyError
from casestudy.workspace.app import Config, build, read_users

DEFAULT_PORT = 8002
USERS_ENV = "CASESTUDY_WORKSPACE_USERS"
SECRET_ENV = "CASESTUDY_WORKSPACE_SECRET"


def check_host(host: str, users: dict | None, tls: bool, behind_tls_proxy: bool) -> None:
    """SPEC rule 5: 127.0.0.1 needs nothing; any other address needs passwords (a users file)
    and must not send them in clear (HTTPS, or a stated TLS proxy)."""
    if host in LOCAL_HOSTS:
        return
    if not users:
        raise CasestudyError(
            f"the workspace on {host} needs passwords: make a users file with `casestudy workspace --add-user NAME "
            f"--users FILE` for each researcher, then pass --users FILE or set ${USERS_ENV} (or use 127.0.0.1)")
    if not (tls or behind_tls_proxy):
        raise CasestudyError(
            f"the workspace on {host} would send passwords in clear text: give --certfile and --keyfile (HTTPS), "
            "or --behind-tls-proxy if a reverse proxy terminates TLS (see docs/security.md)")


def make_config(db_path: "str | Path", host: str, users_path: "str | Path | None", certfile=None, keyfile=None,
                behind_tls_proxy: bool = False, codebook_dir: "str | Path | None" = None) -> Config:
    """Check everything before serving: the database, the users file, TLS files, the host and
    the codebook ("Why?" judges excerpts with it)."""
    db_path = Path(db_path)
    db = dblib.open_db(db_path, create=False)  # creates nothing, migrates an old database
    db.close()
    users_path = users_path or os.environ.get(USERS_ENV) or None
    users = read_users(users_path) if users_path else None
    tls = check_tls_files(certfile, keyfile)
    check_host(host, users, tls, behind_tls_proxy)
    codebook_lib.load(codebook_dir)  # a codebook that does not load stops here, not at the first "Why?"
    return Config(db_path=db_path, users=users, secret=os.environ.get(SECRET_ENV) or secrets.token_hex(32),
                  secure_cookies=tls or behind_tls_proxy, codebook_dir=codebook_dir)


def run(config: Config, host: str = "127.0.0.1", port: int = DEFAULT_PORT, open_browser: bool = False,
        certfile=None, keyfile=None, echo: Callable[[str], None] = print) -> None:
    """Serve the workspace until Ctrl+C."""
    import uvicorn

    scheme = "https" if certfile else "http"
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"{scheme}://{'[' + shown + ']' if ':' in shown else shown}:{port}/"
    who = "log in with your name and password" if config.users else "log in with your name (no password on this computer)"
    echo(f"Coding workspace for {config.db_path} at {url} ({who})  (Ctrl+C to stop)")
    if open_browser:
        threading.Timer(1.0, webbrowser.open, [url]).start()
    uvicorn.run(build(config), host=host, port=port, log_level="warning", lifespan="on",
                ssl_certfile=certfile, ssl_keyfile=keyfile)
