"""Routine indicators: the study's small set of quantitative data (ingest kind ``indicators``).

A ``.csv`` or ``.xlsx`` table, one row per figure, with these columns (header names may
vary in case and spacing, see :func:`casestudy.tables.read_table`):

* required: ``ics``, ``indicator``, ``period`` (or ``quarter``), ``value``;
* optional: ``collaborative``, ``unit``, ``source``, ``notes``.

A period is a calendar quarter (``2024Q1``; also ``2024 Q1``, ``2024-Q1``, ``Q1 2024``),
a month (``2024-03``), a year (``2024``) or a date (``2024-03-31``). It is stored in that
canonical form with ``period_start`` (the ISO date it starts, for sorting) and its
``year``. The fieldwork ``wave`` is the study settings' wave whose year or dates contain
the period's start (``casestudy study add-wave``); figures outside every wave, or in a study
that declares no waves, are kept with no wave.

The whole file is checked before anything is written: a missing column, an empty or
non-numeric value, a period that is not one of the forms above, a figure given twice, or
a collaborative that belongs to another ICS refuses the file with one error naming the
file and the row. Files are identified by SHA-256 like every other source: an unchanged
file is left alone, a changed file replaces all its rows. Indicators are aggregate and
non-personal, so ``publish`` copies them as they are (without file paths).
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from pathlib import Path

import sqlite_utils

from casestudy.db import audit, now
from casestudy.errors import CasestudyError
from casestudy.tables import read_table

FORMATS = {".csv", ".xlsx"}
REQUIRED = ("ics", "indicator", "period", "value")
OPTIONAL = ("collaborative", "unit", "source", "notes")
ALIASES = {"quarter": "period"}

_QUARTER = [
    re.compile(r"(?P<year>\d{4})\s*[-/ ]?\s*Q(?P<q>[1-4])", re.I),  # 2024Q1, 2024 Q1, 2024-Q1
    re.compile(r"Q(?P<q>[1-4])\s*[-/ ]?\s*(?P<year>\d{4})", re.I),  # Q1 2024, Q1-2024
]
_MONTH = re.compile(r"(?P<year>\d{4})-(?P<month>\d{1,2})")
_YEAR = re.compile(r"(?P<year>\d{4})")
_DATE = re.compile(r"(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})")
_THOUSANDS = re.compile(r"[-+]?\d{1,3}(,\d{3})+(\.\d+)?")



def parse_period(text: str) -> dict:
    """``"2024 q1"`` → ``{"period": "2024Q1", "period_start": "2024-01-01", "year": 2024, "wave": 1}``.

    Raises ``ValueError`` for anything that is not a quarter, month, year or date.
    """
    text = " ".join(str(text).split())
    for pattern in _QUARTER:
        m = pattern.fullmatch(text)
        if m:
            year, quarter = int(m["year"]), int(m["q"])
            return _period(f"{year}Q{quarter}", _dt.date(year, 3 * quarter - 2, 1))
    m = _DATE.fullmatch(text)
    if m:
        day = _dt.date(int(m["year"]), int(m["month"]), int(m["day"]))  # ValueError for 2024-02-30
        return _period(day.isoformat(), day)
    m = _MONTH.fullmatch(text)
    if m:
        start = _dt.date(int(m["year"]), int(m["month"]), 1)
        return _period(f"{start.year}-{start.month:02d}", start)
    m = _YEAR.fullmatch(text)
    if m:
        return _period(m["year"], _dt.date(int(m["year"]), 1, 1))
    raise ValueError(text)


def _period(label: str, start: _dt.date) -> dict:
    if not 1900 <= start.year <= 2100:
        raise ValueError(label)
    return {"period": label, "period_start": start.isoformat(), "year": start.year, "wave": None}


def parse_value(text: str) -> float | int:
    """A number as written in a spreadsheet: ``2400``, ``5.6``, ``-3``, ``1,250`` (thousands)."""
    text = str(text).strip()
    if _THOUSANDS.fullmatch(text):
        text = text.replace(",", "")
    number = float(text)  # ValueError for anything else
    if math.isnan(number) or math.isinf(number):
        raise ValueError(text)
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def read_indicators(path: Path) -> list[dict]:
    """Every row of an indicators file, checked and normalised (nothing is written)."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise CasestudyError(f"unsupported format {path.suffix or '(none)'} for indicators (use .csv or .xlsx)", path)
    rows = read_table(path, ALIASES)
    if not rows:
        raise CasestudyError("holds no indicator rows (only a header, or nothing)", path)
    missing = [c for c in REQUIRED if c not in rows[0]]
    if missing:
        alias = " (or quarter)" if "period" in missing else ""
        raise CasestudyError(
            f"missing required column{'s' if len(missing) > 1 else ''}: {', '.join(missing)}{alias}; "
            f"an indicators file needs {', '.join(REQUIRED)}",
            path,
        )
    records, seen = [], {}
    for number, row in enumerate(rows, start=2):  # row 1 is the header
        where = f"{path} row {number}"
        for column in REQUIRED:
            if not row.get(column):
                hint = " (give a number, or leave the row out)" if column == "value" else ""
                raise CasestudyError(f"{column} is empty{hint}", where)
        try:
            period = parse_period(row["period"])
        except ValueError:
            raise CasestudyError(
                f"period {row['period']!r} is not a quarter (2024Q1), month (2024-03), year (2024) or date (2024-03-31)",
                where,
            ) from None
        try:
            value = parse_value(row["value"])
        except ValueError:
            raise CasestudyError(f"value {row['value']!r} is not a number", where) from None
        record = {
            "ics": row["ics"],
            "collaborative": row.get("collaborative") or None,
            "indicator": row["indicator"],
            **period,
            "value": value,
            **{c: row.get(c) or None for c in ("unit", "source", "notes")},
            "row": number,
        }
        key = (record["ics"].lower(), (record["collaborative"] or "").lower(), record["indicator"].lower(), record["period"])
        if key in seen:
            raise CasestudyError(
                f"{record['indicator']} for {record['collaborative'] or record['ics']} in {record['period']} "
                f"is already given in row {seen[key]}",
                where,
            )
        seen[key] = number
        records.append(record)
    return records


def ingest_file(db: sqlite_utils.Database, path: Path, digest: str, actor: str = "casestudy", registry=None) -> tuple[str, int]:
    """Store one indicators file; return ``('added'|'replaced'|'unchanged', rows written)``.

    Runs inside the caller's transaction (``Ingestor.run`` gives each file a savepoint).
    """
    from casestudy.consent.register import get_or_create

    path = Path(path)
    key = str(path)
    stored = db.execute("SELECT DISTINCT source_sha256 FROM indicators WHERE source_path = ?", [key]).fetchall()
    if stored and {r[0] for r in stored} == {digest}:
        return "unchanged", 0
    twin = db.execute("SELECT 1 FROM indicators WHERE source_sha256 = ? AND source_path != ? LIMIT 1", [digest, key]).fetchone()
    if twin and not stored:
        return "unchanged", 0  # the same file under another name is already stored
    records = read_indicators(path)
    if stored:
        db.execute("DELETE FROM indicators WHERE source_path = ?", [key])
    rows = []
    ingested_at = now()
    for record in records:
        where = f"{path} row {record['row']}"
        if registry is not None:  # checked against the study settings (SPEC rule 6); waves from their dates
            record["ics"] = registry.ics(record["ics"], where)
            if record["collaborative"]:
                record["collaborative"] = registry.collaborative(record["collaborative"], record["ics"], where)[0]
            record["wave"] = registry.wave_of_date(record["period_start"])
        ics_id = get_or_create(db, "ics", record["ics"])
        collaborative_id = None
        if record["collaborative"]:
            found = db.execute(
                "SELECT c.id, c.ics_id, i.name FROM collaboratives c LEFT JOIN ics i ON i.id = c.ics_id "
                "WHERE lower(c.name) = lower(?)",
                [record["collaborative"]],
            ).fetchone()
            if found and found[1] is not None and found[1] != ics_id:
                raise CasestudyError(
                    f"collaborative {record['collaborative']!r} belongs to ICS {found[2]!r}, not {record['ics']!r}", where
                )
            collaborative_id = found[0] if found else get_or_create(db, "collaboratives", record["collaborative"], ics_id=ics_id)
            if found and found[1] is None:
                db["collaboratives"].update(collaborative_id, {"ics_id": ics_id})
        clash = db.execute(
            """SELECT source_path, row FROM indicators WHERE ics_id = ? AND coalesce(collaborative_id, 0) = ?
               AND lower(indicator) = lower(?) AND period = ?""",
            [ics_id, collaborative_id or 0, record["indicator"], record["period"]],
        ).fetchone()
        if clash:
            raise CasestudyError(
                f"{record['indicator']} for {record['collaborative'] or record['ics']} in {record['period']} "
                f"is already stored from {Path(clash[0]).name} row {clash[1]}",
                where,
            )
        rows.append(
            {
                "ics_id": ics_id,
                "collaborative_id": collaborative_id,
                **{k: record[k] for k in ("indicator", "period", "period_start", "year", "wave", "value", "unit", "source", "notes", "row")},
                "source_path": key,
                "source_sha256": digest,
                "ingested_at": ingested_at,
            }
        )
    db["indicators"].insert_all(rows, batch_size=500)
    action = "indicators.replace" if stored else "indicators.add"
    audit(db, actor, action, "indicators", sha256=digest, rows=len(rows))  # no file name: names never go into the audit log
    return ("replaced" if stored else "added"), len(rows)
