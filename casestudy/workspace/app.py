"""The coding workspace: a small ASGI application over the working database.

Why not Datasette here: Datasette serves a database's tables, JSON and SQL to anyone logged in,
and the working database holds the consent register's real names and raw text. The workspace
exposes only the routes below, each reading pseudonymised text through the consent rule
(``casestudy.workspace.pages``) and writing only through ``casestudy.coding.review`` and
``casestudy.coding.samples`` (the functions the CLI uses: same provenance, same audit log).
It uses Datasette's stack: uvicorn, Jinja2, asgi-csrf (Datasette's CSRF protection),
itsdangerous-signed cookies and datasette-auth-passwords' PBKDF2 hashes.

Every write runs in one short ``BEGIN IMMEDIATE`` transaction on a per-thread connection
(WAL, busy timeout), so several researchers, and the CLI, can code at once without losing a
decision.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import threading
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from casestudy import db as dblib
from casestudy.coding import agreement as agreement_lib
from casestudy.coding import codebook as codebook_lib
from casestudy.coding import review, samples, scorecard
from casestudy.errors import CasestudyError
from casestudy.workspace import pages

PACKAGE_DIR = Path(__file__).resolve().parent
SESSION_COOKIE = "cs_workspace"
SESSION_MAX_AGE = 12 * 3600
POST_PATHS = {"/login", "/logout", "/api/decide", "/api/add", "/api/remove", "/api/undo", "/api/memo",
              "/api/finish", "/samples"}


@dataclass
class Config:
    db_path: Path
    users: dict[str, str] | None = None  # name -> PBKDF2 hash; None = no passwords (local only)
    secret: str = ""
    secure_cookies: bool = False
    codebook_dir: "str | Path | None" = None  # for "Why?" (None: $CASESTUDY_CODEBOOK, else the project's)


def read_users(path: "str | Path") -> dict[str, str]:
    """A users file: one ``name:pbkdf2_sha256$...`` line per researcher (``#`` comments)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CasestudyError(f"cannot read users file: {exc.strerror}", path) from None
    users = {}
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, hashed = line.partition(":")
        if not sep or not hashed.startswith("pbkdf2_sha256$") or not name.strip():
            raise CasestudyError(f"line {number} is not NAME:HASH (make it with `casestudy workspace --add-user NAME`)", path)
        review._need_coder(name)
        users[name.strip()] = hashed.strip()
    if not users:
        raise CasestudyError("no users in the users file (add one with `casestudy workspace --add-user NAME`)", path)
    return users


def add_user(path: "str | Path", name: str, password: str) -> None:
    """Add or replace ``name`` in the users file (created readable by its owner only)."""
    from datasette_auth_passwords.utils import hash_password

    name = review._need_coder(name)
    if ":" in name:
        raise CasestudyError("a user name cannot contain ':'")
    if len(password) < 8:
        raise CasestudyError("a password needs at least 8 characters")
    path = Path(path)
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    lines = [l for l in lines if l.partition(":")[0].strip() != name]
    lines.append(f"{name}:{hash_password(password)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    os.chmod(path, 0o600)


# --- requests and responses -----------------------------------------------------------


class Request:
    def __init__(self, scope, body: bytes):
        self.scope = scope
        self.method = scope["method"]
        self.path = scope["path"]
        self.query = dict(urllib.parse.parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        self.headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        self.body = body
        self.user: str | None = None

    @property
    def cookies(self) -> dict[str, str]:
        from http.cookies import SimpleCookie

        jar = SimpleCookie()
        try:
            jar.load(self.headers.get("cookie", ""))
        except Exception:
            return {}
        return {k: m.value for k, m in jar.items()}

    def form(self) -> dict:
        if self.headers.get("content-type", "").startswith("application/json"):
            try:
                data = json.loads(self.body or b"{}")
            except ValueError:
                raise CasestudyError("the request body is not JSON") from None
            return data if isinstance(data, dict) else {}
        return dict(urllib.parse.parse_qsl(self.body.decode("utf-8")))

    def csrftoken(self) -> str:
        getter = self.scope.get("csrftoken")
        return getter() if getter else ""


@dataclass
class Response:
    body: bytes | str
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] | None = None

    @classmethod
    def json(cls, data, status: int = 200) -> "Response":
        return cls(json.dumps(data, default=str), status, "application/json")

    @classmethod
    def redirect(cls, location: str, headers=None) -> "Response":
        return cls(b"", 303, "text/plain", [("location", location), *(headers or [])])


class Workspace:
    """The ASGI application (wrap with :func:`build` for CSRF protection)."""

    def __init__(self, config: Config):
        self.config = config
        self._local = threading.local()
        from itsdangerous import URLSafeTimedSerializer

        self.signer = URLSafeTimedSerializer(config.secret or secrets.token_hex(32), salt="casestudy-workspace")
        from jinja2 import Environment, FileSystemLoader, select_autoescape

        self.env = Environment(loader=FileSystemLoader(str(PACKAGE_DIR / "templates")), autoescape=select_autoescape())
        self.env.filters["pct"] = lambda v: agreement_lib.fmt(v, percent=True)
        self.env.filters["num"] = agreement_lib.fmt
        self.env.filters["tojson_safe"] = lambda v: json.dumps(v).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        self.routes: list[tuple[str, str, Callable]] = [
            ("GET", "/", self.sources_page),
            ("GET", "/login", self.login_page),
            ("POST", "/login", self.login),
            ("POST", "/logout", self.logout),
            ("GET", "/source/", self.document_page),
            ("GET", "/excerpt/", self.excerpt_redirect),
            ("GET", "/agreement", self.agreement_page),
            ("GET", "/samples", self.samples_page),
            ("POST", "/samples", self.samples_assign),
            ("POST", "/api/decide", self.api_decide),
            ("POST", "/api/add", self.api_add),
            ("POST", "/api/remove", self.api_remove),
            ("POST", "/api/undo", self.api_undo),
            ("POST", "/api/memo", self.api_memo),
            ("POST", "/api/finish", self.api_finish),
            ("GET", "/api/why/", self.api_why),
            ("GET", "/static/", self.static),
        ]

    # -- plumbing --------------------------------------------------------------------

    def db(self):
        db = getattr(self._local, "db", None)
        if db is None:
            db = dblib.open_db(self.config.db_path, create=False)
            pages.connection_setup(db)
            self._local.db = db
        return db

    def write(self, action: Callable):
        """Run ``action(db)`` in one short IMMEDIATE transaction (waits for another writer, never loses)."""
        db = self.db()
        db.execute("BEGIN IMMEDIATE")
        try:
            result = action(db)
        except BaseException:
            db.conn.rollback()
            raise
        db.conn.commit()
        return result

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        request = Request(scope, body)
        response = await asyncio.to_thread(self.handle, request)
        headers = [("content-type", response.content_type), ("cache-control", "no-store"),
                   ("x-frame-options", "DENY"), ("referrer-policy", "same-origin"),
                   ("x-content-type-options", "nosniff")]
        headers += response.headers or []
        payload = response.body.encode("utf-8") if isinstance(response.body, str) else response.body
        await send({"type": "http.response.start", "status": response.status,
                    "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]})
        await send({"type": "http.response.body", "body": payload})

    def handle(self, request: Request) -> Response:
        request.user = self.session_user(request)
        for method, path, handler in self.routes:
            matches = request.path == path or (path.endswith("/") and path != "/" and request.path.startswith(path))
            if method == request.method and matches:
                public = path in ("/login", "/static/")
                if request.user is None and not public:
                    if request.path.startswith("/api/") or request.method == "POST":
                        return Response.json({"error": "log in first"}, 401)
                    return Response.redirect("/login?next=" + urllib.parse.quote(request.path))
                try:
                    return handler(request)
                except CasestudyError as error:
                    if request.path.startswith("/api/"):
                        return Response.json({"error": error.message}, 400)
                    return self.render("error.html", request, message=error.message, status=404)
        return self.render("error.html", request, message="no such page", status=404)

    def render(self, template: str, request: Request, status: int = 200, **context) -> Response:
        html = self.env.get_template(template).render(user=request.user, csrftoken=request.csrftoken(),
                                                      passwords=self.config.users is not None, **context)
        return Response(html, status)

    # -- sessions --------------------------------------------------------------------

    def session_user(self, request: Request) -> str | None:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        try:
            name = self.signer.loads(token, max_age=SESSION_MAX_AGE)
        except Exception:
            return None
        if self.config.users is not None and name not in self.config.users:
            return None
        return name

    def login_page(self, request: Request) -> Response:
        known = [] if self.config.users is not None else [p["coder"] for p in pages.researchers(self.db())]
        return self.render("login.html", request, next=request.query.get("next", "/"), known=known, error=None)

    def login(self, request: Request) -> Response:
        form = request.form()
        name = (form.get("name") or "").strip()
        nxt = form.get("next") or "/"
        if not nxt.startswith("/") or nxt.startswith("//"):
            nxt = "/"
        error = None
        try:
            name = review._need_coder(name)
        except CasestudyError as exc:
            error = "Type your name." if not name else exc.message
        if error is None and self.config.users is not None:
            from datasette_auth_passwords.utils import verify_password

            hashed = self.config.users.get(name)
            if not hashed or not verify_password(form.get("password") or "", hashed):
                error = "Wrong name or password."
        if error:
            response = self.render("login.html", request, next=nxt, known=[], error=error)
            response.status = 401 if self.config.users is not None else 400
            return response
        cookie = (f"{SESSION_COOKIE}={self.signer.dumps(name)}; Path=/; HttpOnly; SameSite=Lax; Max-Age={SESSION_MAX_AGE}"
                  + ("; Secure" if self.config.secure_cookies else ""))
        return Response.redirect(nxt, [("set-cookie", cookie)])

    def logout(self, request: Request) -> Response:
        return Response.redirect("/login", [("set-cookie", f"{SESSION_COOKIE}=; Path=/; Max-Age=0")])

    # -- pages ----------------------------------------------------------------------

    def sources_page(self, request: Request) -> Response:
        db = self.db()
        q = request.query
        filters = {k: q.get(k) or None for k in ("ics", "wave", "kind", "status")}
        if filters["wave"] and not str(filters["wave"]).isdigit():
            filters["wave"] = None
        rows = pages.sources(db, request.user, **filters)
        return self.render("sources.html", request, sources=rows, filters=filters, choices=pages.filter_choices(db),
                           people=pages.researchers(db))

    def document_page(self, request: Request) -> Response:
        source_id = _tail_id(request.path)
        db = self.db()
        doc = pages.document(db, source_id, request.user)
        return self.render("document.html", request, doc=doc, codes=pages.codebook(db))

    def excerpt_redirect(self, request: Request) -> Response:
        excerpt = pages.one_excerpt(self.db(), _tail_id(request.path), request.user)
        return Response.redirect(f"/source/{excerpt.row['source_id']}#e{excerpt.row['id']}")

    def agreement_page(self, request: Request) -> Response:
        db = self.db()
        result = agreement_lib.from_working_db(db)
        hidden = samples.unfinished_blind(db, request.user)
        disagreements = [d for d in result.disagreements if d.excerpt_id not in hidden]
        names = {c["id"]: c["name"] for c in pages.codebook(db)}
        return self.render("agreement.html", request, result=result, disagreements=disagreements, hidden=len(hidden),
                           names=names, card=scorecard.compute(db))

    def samples_page(self, request: Request, message: str | None = None, status: int = 200) -> Response:
        db = self.db()
        return self.render("samples.html", request, progress=samples.progress(db), people=pages.researchers(db),
                           choices=pages.filter_choices(db), message=message, status=status)

    def samples_assign(self, request: Request) -> Response:
        form = request.form()
        coders = [c.strip() for c in (form.get("coders") or "").replace(";", ",").split(",") if c.strip()]
        try:
            size = int(form.get("size") or 0)
            seed = int(form["seed"]) if (form.get("seed") or "").strip() else None
            wave = int(form["wave"]) if (form.get("wave") or "").strip() else None
        except ValueError:
            return self.samples_page(request, "Size, seed and wave must be whole numbers.", 400)
        try:
            chosen = self.write(lambda db: samples.assign(
                db, coders, size, request.user, seed=seed, kind=form.get("kind") or None, ics=form.get("ics") or None,
                wave=wave, blind=form.get("blind") == "1", name=(form.get("name") or "").strip() or None))
        except CasestudyError as error:
            return self.samples_page(request, error.message, 400)
        return self.samples_page(request, f"Assigned {len(chosen)} excerpts to {', '.join(coders)}.")

    def static(self, request: Request) -> Response:
        name = request.path[len("/static/"):]
        files = {"workspace.css": "text/css; charset=utf-8", "workspace.js": "text/javascript; charset=utf-8"}
        if name not in files:
            return Response("not found", 404, "text/plain")
        return Response((PACKAGE_DIR / "static" / name).read_bytes(), 200, files[name])

    # -- actions (JSON) ------------------------------------------------------------------

    def _excerpt_json(self, excerpt_id: int, user: str, **extra) -> Response:
        excerpt = pages.one_excerpt(self.db(), excerpt_id, user)
        html = self.env.get_template("excerpt.html").render(ex=excerpt, user=user)
        return Response.json({"excerpt_id": excerpt_id, "html": html, "pending": excerpt.pending, **extra})

    def api_decide(self, request: Request) -> Response:
        form = request.form()
        coding_id = _int(form.get("coding_id"), "coding_id")
        status = {"accept": "accepted", "reject": "rejected"}.get(form.get("decision"), form.get("decision"))
        row = review.coding_row(self.db(), coding_id)
        self._check_visible(row["excerpt_id"], request.user, row)
        self.write(lambda db: review.decide(db, [coding_id], status, request.user))
        return self._excerpt_json(row["excerpt_id"], request.user)

    def api_add(self, request: Request) -> Response:
        form = request.form()
        excerpt_id = _int(form.get("excerpt_id"), "excerpt_id")
        code_id = str(form.get("code_id") or "")
        db = self.db()
        excerpt = review.excerpt_row(db, excerpt_id)
        span = None
        if form.get("start") not in (None, "") and form.get("end") not in (None, ""):
            span = review.raw_span(excerpt["text"], excerpt["display_text"], _int(form["start"], "start"), _int(form["end"], "end"))
        blind = excerpt_id in samples.blind_excerpts(db, request.user)
        coding_id, what = self.write(lambda db: review.add(db, excerpt_id, code_id, request.user, span=span, blind=blind))
        return self._excerpt_json(excerpt_id, request.user, coding_id=coding_id, what=what)

    def api_remove(self, request: Request) -> Response:
        form = request.form()
        coding_id = _int(form.get("coding_id"), "coding_id")
        row = review.coding_row(self.db(), coding_id)
        self._check_visible(row["excerpt_id"], request.user, row)
        self.write(lambda db: review.remove(db, coding_id, request.user))
        return self._excerpt_json(row["excerpt_id"], request.user)

    def api_undo(self, request: Request) -> Response:
        decision = self.write(lambda db: review.undo(db, request.user))
        return self._excerpt_json(decision["excerpt_id"], request.user, undone=decision["action"], code_id=decision["code_id"])

    def api_memo(self, request: Request) -> Response:
        form = request.form()
        excerpt_id = _int(form["excerpt_id"], "excerpt_id") if form.get("excerpt_id") not in (None, "") else None
        source_id = _int(form["source_id"], "source_id") if form.get("source_id") not in (None, "") else None
        code_id = form.get("code_id") or None
        memo_id = self.write(lambda db: review.memo(db, form.get("text") or "", request.user, excerpt_id=excerpt_id,
                                                    code_id=code_id, source_id=None if excerpt_id else source_id))
        if excerpt_id is not None:
            return self._excerpt_json(excerpt_id, request.user, memo_id=memo_id)
        return Response.json({"memo_id": memo_id})

    def api_finish(self, request: Request) -> Response:
        form = request.form()
        excerpt_id = _int(form.get("excerpt_id"), "excerpt_id")
        done = str(form.get("done", "1")) not in ("0", "false", "")
        self.write(lambda db: samples.finish(db, excerpt_id, request.user, done))
        return self._excerpt_json(excerpt_id, request.user)

    def api_why(self, request: Request) -> Response:
        """Why each research question was or was not suggested for the excerpt (read only)."""
        from casestudy.coding import why

        excerpt_id = _tail_id(request.path)
        db = self.db()
        if excerpt_id in samples.blind_excerpts(db, request.user):
            raise CasestudyError(f"excerpt {excerpt_id} is in your blind sample: the coder's judgement is hidden while you code it")
        found = why.account(db, excerpt_id, codebook_lib.load(self.config.codebook_dir))
        html = self.env.get_template("why.html").render(a=found, excerpt_id=excerpt_id)
        return Response.json({"excerpt_id": excerpt_id, "why_html": html})

    def _check_visible(self, excerpt_id: int, user: str, coding: dict) -> None:
        """A blind coder may decide only their own codings on their blind excerpts."""
        if excerpt_id in samples.blind_excerpts(self.db(), user) and coding["coder"] != user:
            raise CasestudyError(f"excerpt {excerpt_id} is in your blind sample: code it by hand")


def _int(value, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise CasestudyError(f"{name} must be a number") from None


def _tail_id(path: str) -> int:
    tail = path.rstrip("/").rsplit("/", 1)[-1]
    if not tail.isdigit():
        raise CasestudyError("no such page")
    return int(tail)


def build(config: Config):
    """The workspace wrapped in asgi-csrf: every POST needs the token of the page it came from."""
    from asgi_csrf import asgi_csrf

    app = Workspace(config)
    wrapped = asgi_csrf(app, signing_secret=config.secret or secrets.token_hex(32), always_protect=POST_PATHS,
                        cookie_secure=config.secure_cookies)
    wrapped.workspace = app  # type: ignore[attr-defined]
    return wrapped
