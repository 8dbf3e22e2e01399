"""The Datasette plugin of `casestudy serve` (registered by ``register()``; see ``casestudy.browse.serve``).

* ``render_cell``: excerpt text with the codebook's matched terms highlighted (from the
  coding's ``offsets``), code colours as swatches, excerpt ids linking to the excerpt in
  its source context, framework-matrix numbers linking to the evidence behind them.
* ``extra_template_vars``: what the home page ("Start here") needs.
* ``extra_css_urls``: the project's stylesheet.
* ``CasestudyDatasette``: answers the *unfiltered* evidence-page facet counts from the
  precomputed ``evidence_facet_counts`` table (exact: a publish database never changes),
  so the evidence page stays fast on a million rows; and the *filtered* ones without
  recounting the filtered rows once per facet: a single facet-value filter (``?wave=2``)
  from the precomputed ``evidence_facet_cube``, other filters and searches of up to 50 000
  rows with one shared count per page (cached). Both give exactly Datasette's own results.

Acts only on the database named in the ``casestudy`` plugin configuration.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import threading
import re
import sys
import urllib.parse

from datasette import hookimpl
from datasette.app import Datasette
from datasette.database import Database
from markupsafe import Markup, escape

from casestudy.browse import metadata as browse_metadata
from casestudy.browse import site
from casestudy.consent import prepare

PLUGIN_NAME = "casestudy"
_connections = threading.local()
_COLOUR = re.compile(r"^#[0-9a-fA-F]{3,8}$")

_FACET_SQL = re.compile(
    r"^\s*select (?P<expr>\[?\w+\]?|date\(\[?\w+\]?\)) as value, count\(\*\) as count from \(\s*"
    r"select .+? from \[?evidence\]?\s*\)\s*where (?P=expr) is not null\s*"
    r"group by (?P=expr) order by count desc, value limit (?P<limit>\d+)\s*$",
    re.S | re.I,
)


# Any facet count Datasette makes on the evidence table, filtered or not.
_FACET_ANY_SQL = re.compile(
    r"^\s*select (?P<expr>\[?\w+\]?|date\(\[?\w+\]?\)) as value, count\(\*\) as count from \(\s*"
    r"(?P<inner>select [\w\s,\[\]]+? from \[?evidence\]?\s+where .+?)\s*\)\s*where (?P=expr) is not null\s*"
    r"group by (?P=expr) order by count desc, value limit (?P<limit>\d+)\s*$",
    re.S | re.I,
)
# The filter of one facet value (?wave=2, ?code=...): answered from evidence_facet_cube.
_ONE_FILTER = re.compile(r'^select [\w\s,\[\]]+? from \[?evidence\]?\s+where "(?P<col>\w+)" = :p0$', re.S | re.I)
# Datasette's count of the filtered rows, run before the facets: tells whether one shared count pays.
_COUNT_SQL = re.compile(r"^\s*select count\(\*\) from \[?evidence\]?\s+(?P<where>where .+?)\s*$", re.S | re.I)
_INNER_WHERE = re.compile(r"^select [\w\s,\[\]]+? from \[?evidence\]?\s+(?P<where>where .+?)$", re.S | re.I)
_FACET_CACHE_SIZE = 64
_SHARED_MAX_ROWS = 50_000  # above this, one covering-index scan per facet is faster than materialising the rows
_MAX_FACET_VALUES = 10000  # more distinct values than this: let Datasette count that facet itself


class PublishDatabase(Database):
    """An immutable publish database whose per-thread connections belong to this file.

    Datasette keeps one connection per thread keyed by the database *name*; when the file is
    replaced (a rebuild after a withdrawal) those connections would go on reading the old
    file. Keying them by a generation number too makes a fresh ``PublishDatabase`` open the
    new file in every thread.
    """

    _generations = itertools.count(1)

    def __init__(self, ds, path):
        super().__init__(ds, path=str(path), is_mutable=False)
        self._key = f"casestudy-publish-{next(self._generations)}"

    async def execute(self, sql, params=None, *args, **kwargs):
        results = await super().execute(sql, params, *args, **kwargs)
        # Remember the table page's count of the filtered rows (run before the facets).
        if isinstance(params, dict) and (count := _COUNT_SQL.match(sql)) and results.rows:
            counts = self.ds.__dict__.setdefault("_filtered_counts", {})
            if len(counts) >= _FACET_CACHE_SIZE:
                counts.pop(next(iter(counts)))
            counts[self.ds._filter_key(self.name, count["where"], params)] = results.rows[0][0]
        return results

    async def execute_fn(self, fn):
        if self.ds.executor is None:
            return await super().execute_fn(fn)

        def in_thread():
            conn = getattr(_connections, self._key, None)
            if not conn:
                conn = self.connect()
                self.ds._prepare_connection(conn, self.name)
                setattr(_connections, self._key, conn)
            return fn(conn)

        return await asyncio.get_event_loop().run_in_executor(self.ds.executor, in_thread)


class CasestudyDatasette(Datasette):
    """Datasette, with the unfiltered evidence facets read from ``evidence_facet_counts``."""

    _has_counts: dict[str, bool]

    async def execute(self, db_name, sql, params=None, truncate=False, custom_time_limit=None, page_size=None,
                      log_sql_errors=True):
        match = _FACET_SQL.match(sql) if not params and "where " not in sql.split("from (", 1)[-1].split(")")[0] else None
        if match and await self._facet_counts_available(db_name):
            facet = match["expr"].replace("[", "").replace("]", "")
            sql = ("select value, count from evidence_facet_counts where facet = :facet "
                   "order by count desc, value limit :limit")
            params = {"facet": facet, "limit": int(match["limit"])}
        elif params and isinstance(params, dict) and (match := _FACET_ANY_SQL.match(sql)):
            rewritten = await self._filtered_facet(db_name, match, params, custom_time_limit)
            if rewritten:
                sql, params = rewritten
        return await super().execute(db_name, sql, params, truncate=truncate, custom_time_limit=custom_time_limit,
                                     page_size=page_size, log_sql_errors=log_sql_errors)

    def _filter_key(self, db_name, where, params):
        db = self.databases.get(db_name)
        return (getattr(db, "_key", db_name), " ".join(where.split()),
                tuple(sorted((k, repr(v)) for k, v in params.items())))

    def refresh_if_replaced(self) -> bool:
        """Serve the new file if the publish database was rebuilt (e.g. after a withdrawal).

        ``casestudy publish`` replaces the file in one step; an open SQLite connection would
        go on reading the old file, so withdrawn evidence would stay on screen until a restart.
        Checked before every request (one ``stat``). Returns True when it switched files.
        """

        name = site.DB_NAME
        db = self.databases.get(name)
        if db is None or not db.path:
            return False
        try:
            st = os.stat(db.path)
        except OSError:
            return False
        identity = (st.st_ino, st.st_mtime_ns, st.st_size)
        known = self.__dict__.setdefault("_publish_identity", {})
        if known.get(name) in (None, identity):
            known[name] = identity
            return False
        site.check_publish_db(db.path)
        prepare.prepare_publish_db(db.path)
        self._metadata_local = browse_metadata.metadata(db.path, **self.__dict__.get("_casestudy_auth", {}))
        fresh = PublishDatabase(self, db.path)
        self.remove_database(name)
        self.add_database(fresh, name=name)
        self.__dict__.setdefault("_has_counts", {}).pop(name, None)
        db.close()
        st = os.stat(db.path)
        known[name] = (st.st_ino, st.st_mtime_ns, st.st_size)
        return True

    async def _filtered_facet(self, db_name, match, params, time_limit):
        """A filtered evidence facet, answered without recounting the filtered rows per facet.

        * one facet-value filter (``?wave=2``): from ``evidence_facet_cube`` (precomputed, exact);
        * anything else (several filters, a search): every default facet is counted in one query
          over the filtered rows (materialised once), cached for the page's other facets.

        Returns (sql, params) that give the same rows as Datasette's facet query, or None to let
        Datasette run its own.
        """

        db = self.get_database(db_name)
        if db.is_mutable:
            return None
        facet = match["expr"].replace("[", "").replace("]", "")
        inner, limit = match["inner"].strip(), int(match["limit"])
        exprs = await self._facet_exprs(db)
        if facet not in exprs:  # a facet the researcher added (?_facet=coder): Datasette counts it
            return None
        one = _ONE_FILTER.match(inner)
        if one and set(params) == {"p0"} and await self._has_table(db, "evidence_facet_cube"):
            col = one["col"]
            if col in exprs and col in prepare.FACET_COLUMNS:
                return (
                    "select value, count from evidence_facet_cube where filter = :col and facet = :facet "
                    f"and filter_value = (select [{col}] from evidence where [{col}] = :p0 limit 1) "
                    "order by count desc, value limit :limit",
                    {"col": col, "facet": facet, "p0": params["p0"], "limit": limit},
                )
        where = _INNER_WHERE.match(inner)
        if not where:
            return None
        key = self._filter_key(db_name, where["where"], params)
        rows_filtered = self.__dict__.get("_filtered_counts", {}).get(key)
        if rows_filtered is None or rows_filtered > _SHARED_MAX_ROWS:
            return None  # many rows: Datasette's per-facet counts use the covering indexes
        cache = self.__dict__.setdefault("_facet_cache", {})
        if key not in cache:
            parts = " union all ".join(
                f"select {i} as facet, c{i} as value, count(*) as count from filtered where c{i} is not null group by c{i}"
                for i in range(len(exprs))
            )
            columns = ", ".join(f"{expr} as c{i}" for i, expr in enumerate(exprs.values()))
            sql = f"with filtered as materialized (select {columns} from ({inner})) {parts}"
            try:
                rows = (await super().execute(db_name, sql, params, truncate=False, custom_time_limit=time_limit)).rows
            except Exception:
                rows = None  # too slow: Datasette's own queries count (and report any time-out)
            if rows is None:
                cache[key] = None
                return None
            counts = {name: [] for name in exprs}
            names = list(exprs)
            for i, value, count in rows:
                counts[names[i]].append((value, count))
            if len(cache) >= _FACET_CACHE_SIZE:
                cache.pop(next(iter(cache)))
            cache[key] = counts
        if cache[key] is None:
            return None
        values = cache[key][facet]
        if len(values) > _MAX_FACET_VALUES:
            return None
        if not values:
            return "select null as value, null as count where 0", {}
        rows = ", ".join("(?, ?)" for _ in values)
        return (f"select column1 as value, column2 as count from (values {rows}) "
                f"order by count desc, value limit {limit}", [x for pair in values for x in pair])

    async def _facet_exprs(self, db) -> dict:
        """The default facets' SQL expressions by facet name (``date(date)`` for the date facet)."""

        known = self.__dict__.setdefault("_facet_exprs_by_db", {})
        k = getattr(db, "_key", db.name)
        if k not in known:
            cols = {r[0] for r in (await db.execute("select name from pragma_table_info('evidence')")).rows}
            exprs = {c: c for c in prepare.FACET_COLUMNS if c in cols}
            if prepare.DATE_FACET in cols:
                exprs[f"date({prepare.DATE_FACET})"] = f"date({prepare.DATE_FACET})"
            known[k] = exprs
        return known[k]

    async def _has_table(self, db, table: str) -> bool:
        cache = self.__dict__.setdefault("_tables_by_db", {})
        key = (getattr(db, "_key", db.name), table)
        if key not in cache:
            cache[key] = await db.table_exists(table)
        return cache[key]

    async def _facet_counts_available(self, db_name: str) -> bool:
        cache = self.__dict__.setdefault("_has_counts", {})
        if db_name not in cache:
            db = self.get_database(db_name)
            cache[db_name] = (not db.is_mutable) and await db.table_exists("evidence_facet_counts")
        return cache[db_name]


def register() -> None:
    """Register this module as a Datasette plugin (once per process)."""
    from datasette.plugins import pm

    if pm.get_plugin(PLUGIN_NAME) is None:
        pm.register(sys.modules[__name__], name=PLUGIN_NAME)


def _ours(datasette, database) -> bool:
    config = datasette.plugin_config(PLUGIN_NAME) or {}
    return database is not None and database == config.get("database")


def _get(row, key):
    try:
        return row[key]
    except (KeyError, IndexError):
        return None


def highlight(text: str, offsets, colour: str | None = None) -> Markup:
    """``text`` with the ``[[start, end], ...]`` spans wrapped in <mark>, everything escaped."""
    try:
        spans = json.loads(offsets) if isinstance(offsets, str) else (offsets or [])
        spans = sorted((int(s), int(e)) for s, e in spans)
    except (ValueError, TypeError):
        spans = []
    style = f' style="--cs-colour: {colour}"' if colour and _COLOUR.match(colour) else ""
    out, pos = [], 0
    for start, end in spans:
        start = max(start, pos)
        if start >= end or end > len(text):
            continue
        out.append(escape(text[pos:start]))
        out.append(Markup(f'<mark class="cs-term"{style}>') + escape(text[start:end]) + Markup("</mark>"))
        pos = end
    out.append(escape(text[pos:]))
    return Markup("").join(out)


def _swatch(colour) -> Markup:
    if colour and _COLOUR.match(str(colour)):
        return Markup(f'<span class="cs-swatch" style="background: {colour}" title="{colour}"></span>')
    return Markup("")


@hookimpl
def render_cell(row, value, column, table, database, datasette):
    if not _ours(datasette, database) or value is None:
        return None
    if isinstance(value, dict) and "value" in value:  # a foreign key: link to the excerpt, not its label
        if column != "excerpt_id":
            return None
        value = value["value"]
    base = datasette.urls.database(database)
    if column == "text" and isinstance(value, str) and table in (None, "evidence"):
        if str(value).startswith("[withheld"):
            return Markup('<span class="cs-withheld">') + escape(value) + Markup("</span>")
        offsets = _get(row, "offsets")
        if offsets is None:
            return None
        return Markup('<span class="cs-excerpt">') + highlight(value, offsets, _get(row, "colour")) + Markup("</span>")
    if column == "text" and isinstance(value, str) and value.startswith("[withheld"):
        return Markup('<span class="cs-withheld">') + escape(value) + Markup("</span>")
    if (column == "excerpt_id" and table in (None, "evidence", "memos")) or (column == "id" and table == "excerpts"):
        href = f"{base}/excerpt_context?" + urllib.parse.urlencode({"excerpt_id": value, "around": 3})
        return Markup(f'<a class="cs-context" href="{escape(href)}" title="Read it in its source, with the turns around it">'
                      f"{escape(str(value))}&nbsp;↗</a>")
    if column == "colour":
        return _swatch(value) + escape(value)
    if column in ("code", "code_a", "code_b", "row_label") and _get(row, "colour"):
        return _swatch(_get(row, "colour")) + escape(value)
    if column == "here" and value:
        return Markup('<span class="cs-here">') + escape(value) + Markup("</span>")
    if table is None and isinstance(value, int):
        cells = (datasette.plugin_config(PLUGIN_NAME) or {}).get("matrix_cells") or {}
        cell = cells.get(column)
        rq = _get(row, "rq")
        if cell and rq and _get(row, "row_label") is not None:
            args = {"rq": rq, "code": _get(row, "code_id") or "", "ics": cell[0], "wave": cell[1]}
            href = f"{base}/evidence_for?" + urllib.parse.urlencode(args)
            return Markup(f'<a class="cs-cell" href="{escape(href)}">{value}</a>')
    return None


@hookimpl
def asgi_wrapper(datasette):
    if not isinstance(datasette, CasestudyDatasette):
        return lambda app: app

    def wrap(app):
        async def refreshing(scope, receive, send):
            if scope["type"] == "http":
                datasette.refresh_if_replaced()
            await app(scope, receive, send)

        return refreshing

    return wrap


@hookimpl
def extra_css_urls(database, datasette):
    return [f"/{site.STATIC_MOUNT}/casestudy.css"]


@hookimpl
def extra_template_vars(template, datasette):
    if template != "index.html":
        return {}
    name = (datasette.plugin_config(PLUGIN_NAME) or {}).get("database")

    async def inner():
        if not name or name not in datasette.databases:
            return {"cs": None}
        db = datasette.get_database(name)
        rqs = (await db.execute(
            """SELECT c.rq, c.name, c.colour,
                 (SELECT count FROM evidence_facet_counts f WHERE f.facet = 'rq' AND f.value = c.rq) AS n
               FROM codes c WHERE c.parent_id IS NULL ORDER BY c.sort, c.rq"""
            if await db.table_exists("evidence_facet_counts") else
            "SELECT rq, name, colour, NULL AS n FROM codes WHERE parent_id IS NULL ORDER BY sort, rq"
        )).rows
        ics = [r[0] for r in (await db.execute("SELECT DISTINCT ics FROM sources WHERE ics IS NOT NULL ORDER BY ics")).rows]
        waves = [r[0] for r in (await db.execute("SELECT DISTINCT wave FROM sources WHERE wave IS NOT NULL ORDER BY wave")).rows]
        counts = {}
        for table in ("evidence", "excerpts", "sources", "participants", "indicators"):
            if await db.table_exists(table):
                counts[table] = (await db.execute(f"SELECT count(*) FROM [{table}]")).rows[0][0]
        return {
            "cs": {
                "db": name,
                "db_url": datasette.urls.database(name),
                "rqs": [dict(r) for r in rqs],
                "ics": ics,
                "waves": waves,
                "counts": counts,
            }
        }

    return inner
