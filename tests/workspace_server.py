"""Helpers for the workspace tests: a small coded study, a real `casestudy workspace` server
(subprocess, uvicorn, real HTTP) and logged-in HTTP clients."""

from __future__ import annotations

import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent


def build_coded_study(folder: Path) -> Path:
    """The sample study (tests/filemakers.py) ingested and coded with the shipped codebook."""
    from filemakers import make_study

    from casestudy import db as dblib
    from casestudy.coding import codebook
    from casestudy.coding import engine
    from casestudy.ingest import files as ingest

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "work.db"
    db = dblib.open_db(path)
    ingest.ingest(db, [make_study(folder / "study")], actor="test", skip_bad=True)
    result = engine.code_database(db, codebook.load(REPO / "codebook"))
    assert result.suggestions > 0
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return path


def q(path, sql, *params) -> list[tuple]:
    """The rows of ``sql`` in the database file at ``path`` (its own connection, closed at once:
    the server process holds the database too)."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def copy_db(template: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "work.db"
    shutil.copy(template, path)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(db_path: Path, *extra: str, env: dict | None = None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "casestudy", "workspace", "--db", str(db_path), "--port", str(port), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"workspace exited: {process.stdout.read()}")
        try:
            httpx.get(base + "/login", timeout=5)
            return process, base
        except httpx.TransportError:
            time.sleep(0.2)
    stop(process)
    raise AssertionError("workspace did not start")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class Client:
    """A researcher's browser session: cookies, the CSRF token, JSON actions."""

    def __init__(self, base: str, name: str, password: str | None = None):
        self.http = httpx.Client(base_url=base, follow_redirects=False, timeout=30)
        self.http.get("/login")
        self.token = self.http.cookies["csrftoken"]
        form = {"csrftoken": self.token, "name": name, "next": "/"}
        if password is not None:
            form["password"] = password
        self.login_response = self.http.post("/login", data=form)
        self.name = name

    def get(self, path: str) -> httpx.Response:
        return self.http.get(path)

    def act(self, path: str, **data) -> httpx.Response:
        return self.http.post(path, json=data, headers={"x-csrftoken": self.token})

    def suggestion_ids(self, source_id: int) -> list[int]:
        return [int(x) for x in re.findall(r'ws-suggested" data-coding="(\d+)"', self.get(f"/source/{source_id}").text)]

    def close(self) -> None:
        self.http.close()
