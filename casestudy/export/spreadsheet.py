"""`casestudy export csv`: one row per coding with every evidence column (pandas).

For R, Python and Excel users. Reads the publish database only; rows of participants
who did not consent to verbatim quotation carry the placeholder text, never the words.
``--format xlsx`` writes an Excel workbook (sheet "evidence", plus "codes" and
"sources") instead of UTF-8 CSV.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from casestudy.export import common

# The publish contract's evidence columns, in this order; any extra columns follow.
COLUMNS = [
    "coding_id", "excerpt_id", "rq", "code_id", "code", "status", "coder", "text", "terms", "offsets", "score",
    "source_id", "source_kind", "source_title", "ics", "collaborative", "wave", "date", "page", "heading", "turn",
    "speaker_role", "participant_id", "participant_role", "org_type", "quotable", "colour",
]
FORMATS = ("csv", "xlsx")


@dataclass
class CsvSummary:
    path: Path
    rows: int
    format: str


def export_csv(working_db, out, fmt: str | None = None, rqs=(), ics=(), waves=(), status: str = "all",
               publish_db=None) -> CsvSummary:
    import pandas as pd

    out = Path(out)
    fmt = (fmt or (out.suffix.lower().lstrip(".") if out.suffix.lower() in (".csv", ".xlsx") else "csv")).lower()
    if fmt not in FORMATS:
        from casestudy.errors import CasestudyError

        raise CasestudyError(f"unknown format {fmt!r} (use csv or xlsx)", out)
    out = common.check_output(out, (f".{fmt}",))
    for rq in rqs:
        common.normalise_rq(rq)
    path = common.resolve_publish_db(working_db, publish_db)
    conn = common.open_publish(path)
    try:
        filters = common.make_filters(conn, rqs, ics, waves, status)
        data = common.evidence(conn, filters)
        available = common.columns(conn, "evidence")
        cols = [c for c in COLUMNS if c in available] + [c for c in available if c not in COLUMNS]
        frame = pd.DataFrame(data, columns=cols)
        for column in ("wave", "page", "turn", "quotable", "excerpt_id", "coding_id", "source_id"):
            if column in frame:
                frame[column] = frame[column].astype("Int64")
        if fmt == "csv":
            common.write_atomically(out, lambda tmp: frame.to_csv(tmp, index=False, encoding="utf-8"))
        else:
            codes = pd.read_sql_query("SELECT * FROM codes ORDER BY sort, id", conn)
            sources_cols = [c for c in common.columns(conn, "sources") if c != "text"]
            sources = pd.read_sql_query(f"SELECT {', '.join(sources_cols)} FROM sources ORDER BY id", conn)

            def write(tmp: Path) -> None:
                with pd.ExcelWriter(tmp, engine="openpyxl") as book:
                    frame.to_excel(book, sheet_name="evidence", index=False)
                    codes.to_excel(book, sheet_name="codes", index=False)
                    sources.to_excel(book, sheet_name="sources", index=False)

            common.write_atomically(out, write)
        return CsvSummary(out, len(frame), fmt)
    finally:
        conn.close()
