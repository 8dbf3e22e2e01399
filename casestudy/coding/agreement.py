"""Agreement between coders, computed from every human decision (accept, reject, add, remove).

The input is the ``agreement_ratings`` view of the working database (``casestudy.db``), or
the table of the same name that ``publish`` copies for the excerpts it publishes; both the
workspace's agreement page and the Word report's appendix call :func:`compute` on it, so the
two show the same figures.

What is compared
  A *unit* is one (excerpt, theme). A coder has a value for a unit when they *rated* the
  excerpt (made any decision on it, or finished it in a double-coding sample): 1 when their
  latest decision applies the theme (accepted a suggestion, added it, or coded a span of the
  excerpt with it), 0 when it does not (rejected, removed, or never applied on an excerpt
  they rated), and *missing* when a suggestion of that theme was shown to them and they have
  not decided it yet. A span coding counts for its excerpt. Automatic coders
  (``auto:<codebook version>``, ``learned:<model version>``) have 1 for each suggestion they
  made and 0 otherwise, on the excerpts a person rated.

Per theme: the units of that theme; per RQ: the units of all its themes pooled. Cohen's kappa
for each pair of human coders over the units both have a value for; Krippendorff's alpha
(nominal, the ``krippendorff`` package) across all human coders over the units with at least
two values; percentage agreement = the share of those units on which every value is the same.
The automatic coders are compared with each person separately (kappa and agreement), never
counted in alpha.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Iterable

from casestudy.db import is_machine_coder


@dataclass
class Ratings:
    """coder -> excerpt -> code -> 1, 0 or None (missing); a code not listed on a rated excerpt is 0."""

    by_coder: dict[str, dict[int, dict[str, int | None]]] = field(default_factory=dict)
    automatic: set[str] = field(default_factory=set)

    @property
    def humans(self) -> list[str]:
        return sorted(c for c in self.by_coder if c not in self.automatic)

    @property
    def machines(self) -> list[str]:
        return sorted(c for c in self.by_coder if c in self.automatic)

    def value(self, coder: str, excerpt_id: int, code_id: str) -> int | None:
        """1 or 0, or None when the coder has no value for this unit."""
        rated = self.by_coder.get(coder, {}).get(excerpt_id)
        if rated is None:
            return None
        return rated.get(code_id, 0)


def ratings_from_rows(rows: Iterable, excerpts: "set[int] | None" = None) -> Ratings:
    """Ratings from ``agreement_ratings`` rows (excerpt_id, coder, automatic, code_id, value),
    as dicts or tuples in that order; ``excerpts`` keeps only those excerpts."""
    out = Ratings()
    for row in rows:
        if isinstance(row, dict):
            excerpt_id, coder, automatic, code_id, value = (
                row["excerpt_id"], row["coder"], row["automatic"], row["code_id"], row["value"])
        else:
            excerpt_id, coder, automatic, code_id, value = row[:5]
        if excerpts is not None and excerpt_id not in excerpts:
            continue
        if automatic or is_machine_coder(coder):
            out.automatic.add(coder)
        rated = out.by_coder.setdefault(coder, {}).setdefault(excerpt_id, {})
        if code_id is not None:
            rated[code_id] = None if value is None else int(value)
    return out


# --- the statistics -------------------------------------------------------------------


def cohen_kappa(a: list[int], b: list[int]) -> float | None:
    """Cohen's kappa of two raters' nominal values; None when chance agreement is total
    (both raters used a single, identical value: kappa is undefined)."""
    n = len(a)
    if n == 0 or n != len(b):
        return None
    observed = sum(x == y for x, y in zip(a, b)) / n
    categories = set(a) | set(b)
    expected = sum((a.count(c) / n) * (b.count(c) / n) for c in categories)
    if expected >= 1:
        return None
    return (observed - expected) / (1 - expected)


def krippendorff_alpha(matrix: list[list[float]]) -> float | None:
    """Krippendorff's alpha (nominal) of a coders x units matrix (NaN = no value), from the
    maintained ``krippendorff`` package; None when it is undefined (one value in the data)."""
    values = {v for row in matrix for v in row if not math.isnan(v)}
    if len(values) < 2 or len(matrix) < 2:
        return None
    import krippendorff
    import numpy

    # undefined: no unit rated by two coders (the package raises), or every such unit given one
    # value (0/0: numpy would warn on stderr)
    with numpy.errstate(divide="ignore", invalid="ignore"):
        try:
            result = float(krippendorff.alpha(reliability_data=numpy.array(matrix, dtype=float),
                                              level_of_measurement="nominal"))
        except ValueError:
            return None
    return None if math.isnan(result) else result


@dataclass
class Pair:
    a: str
    b: str
    units: int
    agreement: float | None  # share of units with the same value
    kappa: float | None


@dataclass
class Row:
    scope: str  # "theme" or "rq"
    rq: str
    code_id: str | None  # the theme (None for a whole RQ)
    name: str
    units: int  # units with values from at least two people
    excerpts: int
    agreement: float | None
    alpha: float | None
    pairs: list[Pair]
    machine_pairs: list[Pair]


@dataclass
class Disagreement:
    excerpt_id: int
    code_id: str
    rq: str
    applied: list[str]
    not_applied: list[str]


@dataclass
class Agreement:
    coders: list[str]
    machines: list[str]
    rows: list[Row]
    disagreements: list[Disagreement]

    def by_scope(self, scope: str) -> list[Row]:
        return [r for r in self.rows if r.scope == scope]


def _pair(ratings: Ratings, a: str, b: str, units: list[tuple[int, str]]) -> Pair:
    xa, xb = [], []
    for excerpt_id, code_id in units:
        va, vb = ratings.value(a, excerpt_id, code_id), ratings.value(b, excerpt_id, code_id)
        if va is not None and vb is not None:
            xa.append(va)
            xb.append(vb)
    agreement = sum(x == y for x, y in zip(xa, xb)) / len(xa) if xa else None
    return Pair(a, b, len(xa), agreement, cohen_kappa(xa, xb))


def _rq_value(ratings: Ratings, coder: str, excerpt_id: int, ids: list[str]) -> int | None:
    """Whether ``coder`` applied the research question (any of ``ids``: its themes and itself) to the excerpt."""
    rated = ratings.by_coder.get(coder, {}).get(excerpt_id)
    if rated is None:
        return None
    return int(any(rated.get(i) == 1 for i in ids))


def _machine_pairs_by_rq(ratings: Ratings, ids: list[str], excerpts: list[int]) -> list[Pair]:
    """People against automatic coders at the level of the research question (a learned model
    judges RQs, the codebook themes): a unit is one excerpt, 1 when any theme of the RQ applies."""
    out = []
    for h in ratings.humans:
        for m in ratings.machines:
            xa, xb = [], []
            for e in excerpts:
                va, vb = _rq_value(ratings, h, e, ids), _rq_value(ratings, m, e, ids)
                if va is not None and vb is not None:
                    xa.append(va)
                    xb.append(vb)
            if xa:
                out.append(Pair(h, m, len(xa), sum(x == y for x, y in zip(xa, xb)) / len(xa), cohen_kappa(xa, xb)))
    return out


def _row(ratings: Ratings, scope: str, rq: str, code_id: str | None, name: str, theme_ids: list[str],
         shared: list[int], with_machines: list[int], rq_code: str | None = None) -> Row:
    humans = ratings.humans
    units = [(e, t) for e in shared for t in theme_ids]
    matrix = [[math.nan] * len(units) for _ in humans]
    agreeing = counted = 0
    for j, (excerpt_id, theme) in enumerate(units):
        values = []
        for i, coder in enumerate(humans):
            v = ratings.value(coder, excerpt_id, theme)
            if v is not None:
                matrix[i][j] = float(v)
                values.append(v)
        if len(values) >= 2:
            counted += 1
            agreeing += len(set(values)) == 1
    pairs = [p for a, b in itertools.combinations(humans, 2) if (p := _pair(ratings, a, b, units)).units]
    if scope == "rq":
        machine_pairs = _machine_pairs_by_rq(ratings, theme_ids + ([rq_code] if rq_code else []), with_machines)
    else:  # a theme: only the automatic coders that suggest themes
        machine_units = [(e, t) for e in with_machines for t in theme_ids]
        suggests = {m for m in ratings.machines
                    if any(t in codes for codes in ratings.by_coder[m].values() for t in theme_ids)}
        machine_pairs = [
            p for h in humans for m in sorted(suggests) if (p := _pair(ratings, h, m, machine_units)).units
        ]
    return Row(scope, rq, code_id, name, counted, len({e for e, _ in units}), agreeing / counted if counted else None,
               krippendorff_alpha(matrix) if counted else None, pairs, machine_pairs)


def compute(ratings: Ratings, themes: Iterable[dict], rq_codes: "dict[str, str] | None" = None) -> Agreement:
    """The agreement table: one row per RQ and per theme (``themes``: dicts with id, rq, name,
    in codebook order), and the disagreements between people, unit by unit. ``rq_codes`` (RQ ->
    its top-level code id) lets an automatic coder that judges whole RQs be compared per RQ."""
    rq_codes = rq_codes or {}
    themes = list(themes)
    humans = ratings.humans
    rated_by: dict[int, int] = {}
    for coder in humans:
        for excerpt_id in ratings.by_coder[coder]:
            rated_by[excerpt_id] = rated_by.get(excerpt_id, 0) + 1
    shared = sorted(e for e, n in rated_by.items() if n >= 2)
    rated = sorted(rated_by)
    rows: list[Row] = []
    for rq in sorted({t["rq"] for t in themes}):
        ids = [t["id"] for t in themes if t["rq"] == rq]
        rows.append(_row(ratings, "rq", rq, None, rq, ids, shared, rated, rq_codes.get(rq)))
        for theme in (t for t in themes if t["rq"] == rq):
            rows.append(_row(ratings, "theme", rq, theme["id"], theme.get("name") or theme["id"], [theme["id"]], shared, rated))
    disagreements = []
    for excerpt_id in shared:
        for theme in themes:
            values = {c: ratings.value(c, excerpt_id, theme["id"]) for c in humans}
            values = {c: v for c, v in values.items() if v is not None}
            if len(values) >= 2 and len(set(values.values())) > 1:
                disagreements.append(Disagreement(
                    excerpt_id, theme["id"], theme["rq"],
                    sorted(c for c, v in values.items() if v), sorted(c for c, v in values.items() if not v)))
    return Agreement(humans, ratings.machines, rows, disagreements)


def from_working_db(db, excerpts_sql: str | None = None) -> Agreement:
    """The agreement table of a working database, over the excerpts consent allows."""
    from casestudy.db import CONSENTED_EXCERPT, EXCERPT_JOIN

    allowed = excerpts_sql or f"SELECT e.id FROM {EXCERPT_JOIN} WHERE {CONSENTED_EXCERPT}"
    rows = db.execute(
        f"SELECT excerpt_id, coder, automatic, code_id, value FROM agreement_ratings WHERE excerpt_id IN ({allowed})"
    ).fetchall()
    themes = [dict(zip(("id", "rq", "name"), r)) for r in db.execute(
        "SELECT id, rq, name FROM codes WHERE codable = 1 ORDER BY rq, sort, id")]
    rq_codes = {rq: cid for cid, rq in db.execute("SELECT id, rq FROM codes WHERE codable = 0")}
    return compute(ratings_from_rows(rows), themes, rq_codes)


def fmt(value: float | None, percent: bool = False) -> str:
    """A figure for a table: two decimals, a whole percentage, or an en dash when undefined."""
    if value is None:
        return "–"
    value = round(value, 2) or 0.0  # never "-0.00"
    return f"{100 * value:.0f}%" if percent else f"{value:.2f}"
