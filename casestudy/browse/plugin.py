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

from datasette import Response, hookimpl
from datasette.app import Datasette
from datasette.database import Database, QueryInterrupted
from datasette.facets import Facet
from datasette.utils import path_with_added_args, path_with_removed_args
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


# --- the excerpt table's filters as index lookups ---------------------------------------------------
#
# Datasette writes a filter of ``excerpt_evidence`` (the framework matrix's links:
# ``?rqs__arraycontains=RQ3&ics=<ICS>&wave=2``) as SQL over the excerpt table: a JSON scan of
# every excerpt's list of RQs or codes, and a read of every wide row that matches. ``excerpt_codes``
# (casestudy.consent.prepare) holds the same facts one narrow row per (excerpt, code), indexed, so
# the same condition is answered there:
#
# * ``ExcerptFilter.parse`` reads the WHERE clause when every part of it is one of Datasette's
#   filters on a facet column (``"ics" = :p1``, ``"ics" is null``, array contains on ``rqs`` or
#   ``codes``): the page's row count and its facet counts are then counted in ``excerpt_codes``,
#   and its rows are found through it;
# * any other WHERE (a search, ``_where``, a filter on another column) keeps its parts, with each
#   array-contains part alone made a lookup (``index_lookups``).
#
# Both give exactly the rows (and counts) of Datasette's own SQL (tests/test_serve.py compares them);
# a Datasette that wrote its SQL differently would simply not be rewritten (``INDEX_LOOKUPS`` counts).
_T = r'(?:"excerpt_evidence"|\[excerpt_evidence\]|excerpt_evidence)'
_ARRAY_FILTER = re.compile(
    r':(?P<p>p\d+) in \(select value from json_each\(' + _T + r'\.(?:"|\[)?(?P<col>rqs|codes)(?:"|\])?\)\)')
_SCALAR_FILTER = re.compile(r'(?:"|\[)?(?P<col>\w+)(?:"|\])? (?:= :(?P<p>p\d+)|is null)')
_COUNT = re.compile(r"^select count\(\*\) from " + _T + r" where (?P<where>.+?)\s*$", re.S)
_ROWS = re.compile(r"^(?P<head>select .+? from " + _T + r" )where (?P<where>.+?) (?P<tail>order by .*)$", re.S)
_CURSOR = re.compile(r" and \(excerpt_id > :(?P<a>p\d+) or \(excerpt_id = :(?P=a) and \(\(excerpt_id > :p\d+\)\)\)\)$")
_FIRST_PAGE = re.compile(r"order by excerpt_id(?:, excerpt_id)? limit (?P<n>\d+)")
INDEX_LOOKUPS = {"filters": 0, "counts": 0, "rows": 0}  # what was rewritten: the tests check these move


class ExcerptFilter:
    """A WHERE clause of ``excerpt_evidence`` made only of facet filters, as conditions on ``excerpt_codes``."""

    def __init__(self, arrays: list[tuple[str, str]], scalars: list[str], values: list[tuple[str, str | None]],
                 cursor: str = ""):
        self.arrays, self.scalars = arrays, scalars  # [("rqs", "p0")], ['"ics" = :p1']
        self.values = values  # [("ics", "p1")]; ("ics", None) for "ics" is null
        self.cursor = cursor  # a later page in excerpt order: "(excerpt_id > :p2 or (…))", else ""

    @classmethod
    def parse(cls, where: str) -> "ExcerptFilter | None":
        arrays, scalars, values = [], [], []
        where = where.strip()
        cursor = _CURSOR.search(where)
        if cursor:  # ?_next=: Datasette's "after this excerpt", last
            where = where[:cursor.start()].strip()
        for part in where.split(" and "):
            if (m := _ARRAY_FILTER.fullmatch(part)):
                arrays.append((m["col"], m["p"]))
            elif (m := _SCALAR_FILTER.fullmatch(part)) and m["col"] in prepare.SCALAR_FACETS:
                scalars.append(part)
                values.append((m["col"], m["p"]))
            else:
                return None
        return cls(arrays, scalars, values, cursor[0].removeprefix(" and ").strip() if cursor else "")

    def whole(self) -> "ExcerptFilter":
        """The same filter on every page: what the facets count (the page's row count does too)."""
        return ExcerptFilter(self.arrays, self.scalars, self.values)

    def single(self) -> tuple[str, str, str] | None:
        """(facet, parameter, SQL of its value) when the filter is one facet value, else None."""
        if len(self.arrays) + len(self.values) != 1:
            return None
        if self.arrays:
            col, param = self.arrays[0]
            return col, param, f":{param}"
        col, param = self.values[0]
        if param is None:
            return None
        # the value as the column stores it (wave=2 comes as the text '2')
        return col, param, f"(SELECT [{col}] FROM {prepare.CODE_INDEX_TABLE} WHERE [{col}] = :{param} LIMIT 1)"

    @staticmethod
    def _lookup(col: str, param: str) -> str:
        return f"rq = :{param} and rq_first = 1" if col == "rqs" else f"code_id = :{param}"

    def rows(self) -> str:
        """Conditions on ``excerpt_codes`` met by exactly one row of each excerpt that passes."""
        if self.arrays:
            (col, param), rest = self.arrays[0], self.arrays[1:]
            parts = [self._lookup(col, param)] + [
                f"excerpt_id in (select excerpt_id from {prepare.CODE_INDEX_TABLE} where {self._lookup(c, p)})"
                for c, p in rest]
        else:
            parts = ["first = 1"]
        return " and ".join(parts + self.scalars + ([self.cursor] if self.cursor else []))

    def every_code(self) -> str | None:
        """Conditions met by every (excerpt, code) row of the excerpts that pass (no array filter only)."""
        return None if self.arrays else (" and ".join(self.scalars) or "1")


def index_lookups(sql: str, combos: bool = True) -> str:
    """``sql`` over ``excerpt_evidence`` with its facet filters answered from ``excerpt_codes`` (and the
    row count of a page filtered on facet columns only from ``excerpt_code_combos``, if ``combos``)."""
    table = prepare.CODE_INDEX_TABLE
    if (m := _COUNT.match(sql)) and (found := ExcerptFilter.parse(m["where"])):
        INDEX_LOOKUPS["counts"] += 1
        if not found.arrays and combos:  # the excerpts of each combination of facet values, summed
            return f"select coalesce(sum(n), 0) from {prepare.CODE_COMBOS} where first = 1 and {found.every_code()}"
        return f"select count(*) from {table} where {found.rows()}"
    if (m := _ROWS.match(sql)) and (found := ExcerptFilter.parse(m["where"])):
        INDEX_LOOKUPS["rows"] += 1
        first = _FIRST_PAGE.fullmatch(m["tail"].strip())  # in excerpt order: only the page's ids
        inner = f" order by excerpt_id limit {first['n']}" if first else ""
        return f"{m['head']}where excerpt_id in (select excerpt_id from {table} where {found.rows()}{inner}) {m['tail']}"

    def lookup(match: re.Match) -> str:
        INDEX_LOOKUPS["filters"] += 1
        return (f"excerpt_evidence.excerpt_id in (select excerpt_id from {table} where "
                f"{ExcerptFilter._lookup(match['col'], match['p'])})")

    return _ARRAY_FILTER.sub(lookup, sql)


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
        if "excerpt_evidence" in sql and (index := await self._code_index()):
            sql = index_lookups(sql, combos=index == "combos")
        results = await super().execute(sql, params, *args, **kwargs)
        # Remember the table page's count of the filtered rows (run before the facets).
        if isinstance(params, dict) and (count := _COUNT_SQL.match(sql)) and results.rows:
            counts = self.ds.__dict__.setdefault("_filtered_counts", {})
            if len(counts) >= _FACET_CACHE_SIZE:
                counts.pop(next(iter(counts)))
            counts[self.ds._filter_key(self.name, count["where"], params)] = results.rows[0][0]
        return results

    async def _code_index(self) -> str | None:
        """"combos" when this file has ``excerpt_codes`` and ``excerpt_code_combos``, "codes" for the first only."""
        if not hasattr(self, "_index_tables"):
            names = {r[0] for r in (await super().execute(
                "select name from sqlite_master where name in (?, ?)", [prepare.CODE_INDEX_TABLE, prepare.CODE_COMBOS])).rows}
            self._index_tables = (("combos" if prepare.CODE_COMBOS in names else "codes")
                                  if prepare.CODE_INDEX_TABLE in names else None)
        return self._index_tables

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
            self.facet_rewrites["unfiltered"] += 1
            facet = match["expr"].replace("[", "").replace("]", "")
            sql = ("select value, count from evidence_facet_counts where facet = :facet "
                   "order by count desc, value limit :limit")
            params = {"facet": facet, "limit": int(match["limit"])}
        elif params and isinstance(params, dict) and (match := _FACET_ANY_SQL.match(sql)):
            rewritten = await self._filtered_facet(db_name, match, params, custom_time_limit)
            if rewritten:
                sql, params = rewritten
                self.facet_rewrites["filtered"] += 1
        return await super().execute(db_name, sql, params, truncate=truncate, custom_time_limit=custom_time_limit,
                                     page_size=page_size, log_sql_errors=log_sql_errors)

    @property
    def facet_rewrites(self) -> dict:
        """How many facet queries of the evidence page the rewrite answered (unfiltered / filtered):
        the tests check these move, so a Datasette whose facet SQL no longer matches fails loudly."""
        return self.__dict__.setdefault("_facet_rewrites", {"unfiltered": 0, "filtered": 0})

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
            except QueryInterrupted:
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
        spans = [(int(s), int(e), colour) for s, e in spans]
    except (ValueError, TypeError):
        spans = []
    return _marked(text, spans)


def _marked(text: str, spans: list) -> Markup:
    """``text`` with each ``(start, end, colour)`` span marked in its colour; overlaps merged."""
    out, pos = [], 0
    for start, end, colour in sorted(spans, key=lambda s: (s[0], -s[1])):
        start = max(start, pos)
        if start >= end or end > len(text):
            continue
        style = f' style="--cs-colour: {colour}"' if colour and _COLOUR.match(str(colour)) else ""
        out.append(escape(text[pos:start]))
        out.append(Markup(f'<mark class="cs-term"{style}>') + escape(text[start:end]) + Markup("</mark>"))
        pos = end
    out.append(escape(text[pos:]))
    return Markup("").join(out)


def _codings(row) -> list[dict]:
    try:
        value = json.loads(_get(row, "codings") or "[]")
    except (ValueError, TypeError):
        return []
    return [c for c in value if isinstance(c, dict)] if isinstance(value, list) else []


def _swatch(colour) -> Markup:
    if colour and _COLOUR.match(str(colour)):
        return Markup(f'<span class="cs-swatch" style="background: {colour}"></span>')
    return Markup("")


def _code_list(row, value) -> Markup | None:
    """An excerpt's codes, each in its colour with its review status."""
    codings = _codings(row)
    if not codings:
        return None
    items = [
        Markup('<li class="cs-code cs-status-{}">').format(escape(str(c.get("status") or "")))
        + _swatch(c.get("colour")) + escape(c.get("code") or c.get("code_id") or "")
        + Markup(' <span class="cs-status">{}</span></li>').format(c.get("status") or "")
        for c in codings
    ]
    return Markup('<ul class="cs-codes">') + Markup("").join(items) + Markup("</ul>")


def _search_hits(value: str) -> Markup:
    """The search query's highlight() output (hits between \x02 and \x03), escaped, hits marked."""
    out = []
    for i, part in enumerate(re.split("[\x02\x03]", value)):
        out.append(Markup('<mark class="cs-hit">') + escape(part) + Markup("</mark>") if i % 2 else escape(part))
    return Markup('<span class="cs-excerpt">') + Markup("").join(out) + Markup("</span>")


def _link(href: str, value, title: str = "Read the excerpts behind this number") -> Markup:
    return Markup('<a class="cs-cell" href="{}" title="{}">{}</a>').format(href, title, value)


def _evidence_url(base: str, args: list[tuple[str, object]]) -> str:
    """A link to the excerpt-level evidence filtered to ``args`` (ICS 'national' = no ICS)."""
    pairs = []
    for key, value in args:
        if value is None or value == "":
            continue
        if key == "ics" and value == browse_metadata.NO_ICS:
            pairs.append(("ics__isnull", "1"))
        else:
            pairs.append((key, value))
    return f"{base}/{prepare.EXCERPT_TABLE}?" + urllib.parse.urlencode(pairs)


def _number_link(row, value, column, base, config) -> Markup | None:
    """Numbers on the canned-query pages, linked to the excerpts they count."""
    code_id = _get(row, "code_id")
    cells = config.get("matrix_cells") or {}
    if _get(row, "row_label") is not None and _get(row, "rq"):  # the framework matrix
        what = [("codes__arraycontains", code_id)] if code_id else [("rqs__arraycontains", _get(row, "rq"))]
        if column in cells:
            ics, wave = cells[column]
            return _link(_evidence_url(base, what + [("ics", ics), ("wave", wave)]), value)
        if column == "total":
            return _link(_evidence_url(base, what), value)
        return None
    wave = re.fullmatch(r"wave (\d+)( %)?", column)
    if wave and code_id:  # change across waves: each wave's count and share
        title = "Read this wave's excerpts (the share's numerator)" if wave.group(2) else None
        return _link(_evidence_url(base, [("codes__arraycontains", code_id), ("ics", _get(row, "ics")),
                                          ("wave", wave.group(1))]), value, *([title] if title else []))
    if column == "excerpts" and _get(row, "code_a_id") and _get(row, "code_b_id"):  # co-occurrence
        return _link(_evidence_url(base, [("codes__arraycontains", _get(row, "code_a_id")),
                                          ("codes__arraycontains", _get(row, "code_b_id")),
                                          ("ics", _get(row, "ics")), ("wave", _get(row, "wave"))]), value)
    return None


@hookimpl
def render_cell(row, value, column, table, database, datasette):
    if not _ours(datasette, database) or value is None:
        return None
    if isinstance(value, dict) and "value" in value:  # a foreign key: link to the excerpt, not its label
        if column != "excerpt_id":
            return None
        value = value["value"]
    base = datasette.urls.database(database)
    if column == "text" and isinstance(value, str) and value.startswith("[withheld"):
        return Markup('<span class="cs-withheld">') + escape(value) + Markup("</span>")
    if column == "text" and isinstance(value, str) and table is None and "\x02" in value:
        return _search_hits(value)
    if column == "text" and isinstance(value, str) and table == prepare.EXCERPT_TABLE:
        spans = [(int(s), int(e), c.get("colour")) for c in _codings(row) for s, e in (c.get("offsets") or [])]
        return Markup('<span class="cs-excerpt">') + _marked(value, spans) + Markup("</span>")
    if column == "text" and isinstance(value, str) and table in (None, "evidence"):
        offsets = _get(row, "offsets")
        if offsets is None:
            return None
        return Markup('<span class="cs-excerpt">') + highlight(value, offsets, _get(row, "colour")) + Markup("</span>")
    if column == "codes" and table in (None, prepare.EXCERPT_TABLE):
        return _code_list(row, value)
    if column == "rqs" and isinstance(value, str) and value.startswith("["):
        try:
            return escape(", ".join(json.loads(value)))
        except (ValueError, TypeError):
            return None
    if column == "attribution":
        out = Markup('<span class="cs-attribution">') + escape(value) + Markup("</span>")
        excerpt = _get(row, "excerpt_id")
        if isinstance(excerpt, int):  # the excerpt's id is the row link here: context goes beside who said it
            href = f"{base}/excerpt_context?" + urllib.parse.urlencode({"excerpt_id": excerpt, "around": 3})
            out += Markup(' <a class="cs-context" href="{}" title="Read it in its source, with the turns around it">'
                          'in context&nbsp;↗</a>').format(href)
        return out
    if (column == "excerpt_id" and table in (None, "evidence", "memos", prepare.EXCERPT_TABLE, "disclosure")) or (
            column == "id" and table == "excerpts"):
        href = f"{base}/excerpt_context?" + urllib.parse.urlencode({"excerpt_id": value, "around": 3})
        return Markup(f'<a class="cs-context" href="{escape(href)}" title="Read it in its source, with the turns around it">'
                      f"{escape(str(value))}&nbsp;↗</a>")
    if column == "colour":  # a swatch, never the hex code as text
        return _swatch(value) or Markup("")
    if column in ("code", "code_a", "code_b", "row_label") and _get(row, "colour"):
        return _swatch(_get(row, "colour")) + escape(value)
    if column == "here" and value:
        return Markup('<span class="cs-here">') + escape(value) + Markup("</span>")
    if table is None and isinstance(value, (int, float)) and not isinstance(value, bool):
        return _number_link(row, value, column, base, datasette.plugin_config(PLUGIN_NAME) or {})
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
                 (SELECT count FROM excerpt_facet_counts f WHERE f.facet = 'rqs' AND f.value = c.rq) AS n
               FROM codes c WHERE c.parent_id IS NULL ORDER BY c.sort, c.rq"""
            if await db.table_exists("excerpt_facet_counts") else
            "SELECT rq, name, colour, NULL AS n FROM codes WHERE parent_id IS NULL ORDER BY sort, rq"
        )).rows
        ics = [r[0] for r in (await db.execute("SELECT DISTINCT ics FROM sources WHERE ics IS NOT NULL ORDER BY ics")).rows]
        waves = [{"wave": r[0], "label": f"wave {r[0]}"}
                 for r in (await db.execute("SELECT DISTINCT wave FROM sources WHERE wave IS NOT NULL ORDER BY wave")).rows]
        if await db.table_exists("waves"):
            labels = dict((await db.execute("SELECT wave, label FROM waves")).rows)
            waves = [{**w, "label": labels.get(w["wave"], w["label"])} for w in waves]
        counts = {}
        for table in ("evidence", "excerpts", "sources", "participants", "indicators", prepare.EXCERPT_TABLE):
            if await db.table_exists(table):
                counts[table] = (await db.execute(f"SELECT count(*) FROM [{table}]")).rows[0][0]
        return {
            "cs": {
                "db": name,
                "db_url": datasette.urls.database(name),
                "rqs": [dict(r) for r in rqs],
                "ics": ics,
                "waves": waves,
                "waves_phrase": " to ".join(w["label"] for w in (waves[:1] + waves[-1:] if len(waves) > 1 else waves)),
                "counts": counts,
            }
        }

    return inner


# --- the excerpt-level evidence table: its facets, through the public facet-class hook -------------

FACET_LABELS = {
    "rqs": "Research question", "codes": "Code", "rq": "Research question", "code": "Code", "ics": "ICS",
    "collaborative": "Collaborative", "wave": "Wave", "source_kind": "Kind of source", "org_type": "Organisation type",
    "participant_role": "Role", "status": "Review status", "date": "Date", "date (date)": "Date", "coder": "Coder",
    "participant_id": "Participant", "indicator": "Indicator",
}
FACET_ORDER = ["rqs", "rq", "codes", "code", "ics", "collaborative", "wave", "source_kind", "org_type",
               "participant_role", "status", "date", "indicator"]


class ExcerptFacet(Facet):
    """The facets of ``excerpt_evidence``, registered with ``register_facet_classes``.

    Every configured facet is counted at once: from the precomputed ``excerpt_facet_counts``
    when the page shows every row (its row count equals the table's), otherwise in one query
    over the filtered rows. Array columns (``rqs``, ``codes``) count each excerpt once under
    each of its values. Values come in a fixed, readable order (waves numerically) with
    human labels ("wave 2 (2025)", code names).
    """

    type = "cs"

    async def suggest(self):
        return []

    async def facet_results(self):
        configs = self.get_configs()
        columns = [c["config"]["simple"] if isinstance(c["config"], dict) else c["config"] for c in configs]
        db = self.ds.get_database(self.database)
        have = set(await db.table_columns(self.table))
        columns = [c for c in columns if c in have]  # a facet asked for in the URL must be a column
        if not columns:
            return [], []
        try:
            counts = await self._counts(db, columns)
        except QueryInterrupted:
            return [], columns
        labels = await _labels(db)
        size = self.get_facet_size()
        pairs = self.get_querystring_pairs()
        results = []
        for column in columns:
            key = f"{column}__arraycontains" if column in prepare.ARRAY_FACETS else column
            values = counts.get(column, [])
            if column == "wave":
                values = sorted(values, key=lambda vc: (vc[0] is None, vc[0]))
            else:
                values = sorted(values, key=lambda vc: (-vc[1], str(vc[0])))
            shown = []
            for value, count in values[:size]:
                selected = (key, str(value)) in pairs
                first_page = path_with_added_args(self.request, {"_next": None})  # a new filter starts at its first page
                path = (path_with_removed_args(self.request, {key: str(value)}, path=first_page) if selected
                        else path_with_added_args(self.request, [("_next", None), (key, value)]))
                shown.append({
                    "value": value,
                    "label": labels.get(column, {}).get(value, value),
                    "count": count,
                    "toggle_url": self.ds.absolute_url(self.request, self.ds.urls.path(path)),
                    "selected": selected,
                })
            results.append({
                "name": column,
                "type": self.type,
                "hideable": False,
                "toggle_url": self.ds.urls.path(path_with_removed_args(self.request, {"_facet_cs": column})),
                "results": shown,
                "truncated": len(values) > size,
            })
        return results, []

    async def _counts(self, db, columns) -> dict:
        out: dict[str, list] = {c: [] for c in columns}
        total = await _table_total(db, self.table)
        if total is not None and self.row_count == total:
            marks = ", ".join("?" for _ in columns)
            rows = (await db.execute(
                f"SELECT facet, value, count FROM excerpt_facet_counts WHERE facet IN ({marks})", columns)).rows
        else:
            sql = await _filtered_counts_sql(db, self.sql, columns) if not (
                sql := await _indexed_counts_sql(db, self.sql, columns)) else sql
            rows = (await self.ds.execute(self.database, sql, self.params, truncate=False,
                                          custom_time_limit=self.ds.setting("facet_time_limit_ms"))).rows
            rows = [(columns[f], value, n) for f, value, n in rows]
        for facet, value, count in rows:
            out[facet].append((value, count))
        return out


_FACET_SOURCE = re.compile(r"^select .+? from " + _T + r" where (?P<where>.+?)\s*$", re.S)


async def _indexed_counts_sql(db, sql: str, columns: list[str]) -> str | None:
    """Every facet of a page filtered only on facet columns, counted in ``excerpt_codes`` (narrow,
    indexed rows) in one query; None for any other page."""
    if not set(columns) <= set(prepare.EXCERPT_FACETS):
        return None
    if not (m := _FACET_SOURCE.match(sql)) or not (found := ExcerptFilter.parse(m["where"])):
        return None
    found = found.whole()  # a later page's facets count the whole filter, like its row count
    if not await db.table_exists(prepare.CODE_INDEX_TABLE):
        return None
    table, combos = prepare.CODE_INDEX_TABLE, prepare.CODE_COMBOS
    if (one := found.single()) and await db.table_exists(prepare.EXCERPT_CUBE):  # precomputed
        facet, _, value = one
        which = " ".join(f"WHEN '{c}' THEN {i}" for i, c in enumerate(columns))
        return (f"SELECT CASE facet {which} END, value, count FROM {prepare.EXCERPT_CUBE} "
                f"WHERE filter = '{facet}' AND filter_value = {value} AND facet IN ({', '.join(repr(c) for c in columns)})")
    few = len(found.arrays) <= 1 and await db.table_exists(combos)  # facet values summed over combinations
    scalar = [c for c in columns if c in prepare.SCALAR_FACETS]
    ctes, parts = {}, []
    if few:
        ctes["matching"] = (f"SELECT {', '.join(scalar + ['code_id', 'rq', 'rq_first', 'n'])} FROM {combos} "
                            f"WHERE {found.rows() if found.arrays else found.every_code()}"
                            + ("" if found.arrays else " AND first = 1"))
        if not found.arrays:  # every (excerpt, code) row of the passing excerpts, for the RQ and code facets
            ctes["every_code"] = f"SELECT code_id, rq, rq_first, n FROM {combos} WHERE {found.every_code()}"
    else:
        cols = ", ".join(["excerpt_id"] + scalar)
        ctes["passed"] = f"SELECT {cols}, 1 AS n FROM {table} WHERE {found.rows()}"
    cell = (len(found.arrays) == 1 and {c for c, _ in found.values} <= {"ics", "wave"}
            and await db.table_exists(prepare.CODE_PAIRS))  # one RQ or code in an ICS and/or wave
    if cell and {"rqs", "codes"} & set(columns):  # the codes of those excerpts, counted at publish time
        col, param = found.arrays[0]
        a = f"a_rq = :{param} AND a_first = 1" if col == "rqs" else f"a_code = :{param}"
        ctes["every_code"] = (f"SELECT b_code AS code_id, b_rq AS rq, b_first AS rq_first, n FROM {prepare.CODE_PAIRS} "
                              f"WHERE {' AND '.join([a] + found.scalars)}")
    elif found.arrays and {"rqs", "codes"} & set(columns):  # the codes of the passing excerpts, looked up once
        ctes["passed"] = ctes.get("passed") or f"SELECT excerpt_id FROM {table} WHERE {found.rows()}"
        ctes["every_code"] = (f"SELECT k.code_id, k.rq, k.rq_first, 1 AS n FROM passed "
                              f"CROSS JOIN {table} k ON k.excerpt_id = passed.excerpt_id")
    for i, column in enumerate(columns):
        if column in prepare.SCALAR_FACETS:
            rows = "matching" if few else "passed"
            parts.append(f"SELECT {i}, [{column}], sum(n) FROM {rows} WHERE [{column}] IS NOT NULL GROUP BY [{column}]")
        else:
            value, once = ("rq", "rq_first = 1 AND rq IS NOT NULL") if column == "rqs" else ("code_id", "1")
            parts.append(f"SELECT {i}, {value}, sum(n) FROM every_code WHERE {once} GROUP BY {value}")
    return ("WITH " + ", ".join(f"{name} AS MATERIALIZED ({body})" for name, body in ctes.items()) + " "
            + " UNION ALL ".join(parts))


async def _filtered_counts_sql(db, sql: str, columns: list[str]) -> str:
    """One query counting every facet over the page's filtered excerpts (``sql``), materialised once.

    The research questions and codes of those excerpts are read from ``excerpt_codes`` (an index
    lookup per excerpt), or else from the JSON lists."""
    index = await db.table_exists(prepare.CODE_INDEX_TABLE)
    parts = []
    for i, column in enumerate(columns):
        if column in prepare.ARRAY_FACETS and index:
            value, only = ("k.rq", "AND k.rq_first = 1 AND k.rq IS NOT NULL") if column == "rqs" else ("k.code_id", "")
            parts.append(f"SELECT {i} AS f, {value} AS value, count(*) AS n FROM filtered "
                         f"CROSS JOIN {prepare.CODE_INDEX_TABLE} k ON k.excerpt_id = filtered.excerpt_id {only} GROUP BY {value}")
        elif column in prepare.ARRAY_FACETS:
            parts.append(f"SELECT {i}, j.value, count(*) FROM filtered, json_each(filtered.c{i}) j GROUP BY j.value")
        else:
            parts.append(f"SELECT {i}, c{i}, count(*) FROM filtered WHERE c{i} IS NOT NULL GROUP BY c{i}")
    cols = ", ".join(["excerpt_id"] + [f"[{c}] AS c{i}" for i, c in enumerate(columns)
                                        if not (index and c in prepare.ARRAY_FACETS)])
    return f"WITH filtered AS MATERIALIZED (SELECT {cols} FROM ({sql})) " + " UNION ALL ".join(parts)


async def _table_total(db, table) -> int | None:
    """The row count of the whole excerpt table, as recorded when it was built."""
    if table != prepare.EXCERPT_TABLE or not await db.table_exists("excerpt_facet_counts"):
        return None
    row = (await db.execute("SELECT count FROM excerpt_facet_counts WHERE facet = '*'")).first()
    return row[0] if row else None


_LABEL_CACHE: dict = {}


async def _labels(db) -> dict:
    """Readable labels of facet values: waves, codes and research questions (cached per file)."""
    key = (db.path, getattr(db, "_key", None))
    if key not in _LABEL_CACHE:
        labels: dict[str, dict] = {}
        if await db.table_exists("waves"):
            labels["wave"] = {w: label for w, label in (await db.execute("SELECT wave, label FROM waves")).rows}
        if await db.table_exists("codes"):
            rows = (await db.execute("SELECT id, rq, parent_id, name FROM codes")).rows
            labels["codes"] = {r["id"]: r["name"] for r in rows}
            labels["rqs"] = {r["rq"]: r["name"] for r in rows if r["parent_id"] is None}
            labels["rq"] = labels["rqs"]
        if len(_LABEL_CACHE) > 16:
            _LABEL_CACHE.clear()
        _LABEL_CACHE[key] = labels
    return _LABEL_CACHE[key]


@hookimpl
def register_facet_classes():
    return [ExcerptFacet]


# --- search: prefixes and phrases, as the home page promises ------------------------------------

_FTS_BITS = re.compile(r'\s+|("[^"]*"\*?)')


def escape_fts(query: str) -> str:
    """A user's search as a safe FTS5 query: words, "quoted phrases" and prefixes (``delegat*``).

    Like Datasette's own ``escape_fts`` (every bit quoted, so FTS syntax cannot break the
    query), except that a trailing ``*`` stays a prefix search (``"delegat"*``).
    """
    query = query or ""
    if query.count('"') % 2:
        query += '"'
    out = []
    for bit in _FTS_BITS.split(query):
        if not bit or bit in ('""', '""*'):
            continue
        if bit.startswith('"'):
            out.append(bit)
            continue
        prefix = bit.endswith("*")
        word = bit.rstrip("*").replace('"', "")
        if not word:
            continue
        out.append(f'"{word}"' + ("*" if prefix else ""))
    return " ".join(out) or '""'  # nothing to look for: matches nothing (an empty MATCH is a syntax error)


def search_terms(query: str) -> list[str]:
    """The words and phrases of a search, for highlighting (``delegat*`` stays a prefix)."""
    return [b.strip('"') for b in escape_fts(query).replace('"*', '*"').split('" "')]


@hookimpl(trylast=True)  # pluggy calls trylast implementations last: after Datasette's own escape_fts
def prepare_connection(conn, database, datasette):
    # Replaces Datasette's escape_fts (same contract, plus prefixes) for the table pages'
    # search box and the search query; registered after Datasette's own.
    conn.create_function("escape_fts", 1, escape_fts, deterministic=True)


# --- pages: facet labels and order, 404s without tracebacks, technical columns ----------------


@hookimpl
def prepare_jinja2_environment(env, datasette):
    env.filters["cs_facets"] = ordered_facets
    env.filters["cs_facet_label"] = lambda name: FACET_LABELS.get(name, name.replace("_", " "))


def ordered_facets(facets: list) -> list:
    """Facet boxes in one fixed order on every page; waves in numeric order."""
    rank = {name: i for i, name in enumerate(FACET_ORDER)}
    out = []
    for facet in sorted(facets, key=lambda f: (rank.get(f["name"], len(rank)), f["name"])):
        if facet["name"] == "wave" and facet.get("type") == "column":
            facet = {**facet, "results": sorted(facet["results"], key=lambda r: (r["value"] is None, r["value"]))}
        out.append(facet)
    return out


@hookimpl(hookwrapper=True)
def handle_exception(datasette, request, exception):
    """A 4xx (a page that does not exist, a bad parameter) is answered quietly: Datasette's
    default handler would print a full traceback with local variables (~170 lines, through
    ``rich``) in the server's terminal for every mistyped URL. A pluggy hook wrapper, so the
    default handler is not called at all for these; real errors (5xx) are reported as before."""
    from datasette.utils.asgi import Base400

    outcome = yield
    if not (isinstance(exception, Base400) and _ours_any(datasette)):
        return

    async def inner():
        info = {"ok": False, "error": exception.args[0] if exception.args else "", "status": exception.status,
                "title": None}
        if request.path.split("?")[0].endswith(".json"):
            return Response.json(info, status=exception.status)
        template = datasette.jinja_env.select_template([f"{exception.status}.html", "error.html"])
        html = await template.render_async(dict(info, urls=datasette.urls, app_css_hash=datasette.app_css_hash(),
                                                menu_links=lambda: []))
        return Response.html(html, status=exception.status)

    outcome.force_result([inner])


def _ours_any(datasette) -> bool:
    return bool((datasette.plugin_config(PLUGIN_NAME) or {}).get("database"))


@hookimpl
def extra_js_urls(template, database, table, columns, view_name, request, datasette):
    return [{"url": f"/{site.STATIC_MOUNT}/casestudy.js", "module": True}]  # deferred: runs after the page


# Columns of the canned queries that are only there for the page to work (highlighting, links).
QUERY_TECHNICAL = ["offsets", "colour", "codings", "code_id", "code_a_id", "code_b_id", "coder", "coding_id"]


@hookimpl
def extra_body_script(template, database, table, columns, view_name, request, datasette):
    if not _ours(datasette, database):
        return ""
    technical = browse_metadata.TECHNICAL_COLUMNS.get(table) if table else QUERY_TECHNICAL
    return "window.CASESTUDY = " + json.dumps({"technical": technical or []}) + ";"
