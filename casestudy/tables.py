"""Reading tabular input (.csv and .xlsx) and the values in it, with pandas."""

from __future__ import annotations

import datetime as _dt
import re
import zipfile
from pathlib import Path

from casestudy.errors import CasestudyError

DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d %B %Y", "%d %b %Y", "%Y-%m-%d %H:%M:%S")


def normalise_header(header: object, aliases: dict[str, str] | None = None) -> str:
    """``" Participant ID "`` → ``participant_id``, then any alias applied."""
    key = re.sub(r"[^a-z0-9]+", "_", str(header).strip().lower()).strip("_")
    return (aliases or {}).get(key, key)


def read_table(path: Path, aliases: dict[str, str] | None = None) -> list[dict[str, str]]:
    """Rows of a .csv or .xlsx as dicts of clean strings, headers normalised."""
    import pandas as pd

    suffix = path.suffix.lower()
    if not path.exists():
        raise CasestudyError("no such file", path)
    if path.stat().st_size == 0:
        raise CasestudyError("file is empty", path)
    try:
        if suffix == ".csv":
            if b"\x00" in path.read_bytes()[:4096]:
                raise CasestudyError("not a valid .csv file (binary content)", path)
            try:
                frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", skipinitialspace=True)
            except UnicodeDecodeError:  # Excel on Windows saves "CSV" as Windows-1252
                frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="cp1252", skipinitialspace=True)
        elif suffix == ".xlsx":
            frame = pd.read_excel(path, dtype=object, engine="openpyxl").fillna("")
        else:
            raise CasestudyError(f"unsupported format {suffix or '(none)'} for a table (use .csv or .xlsx)", path)
    except CasestudyError:
        raise
    except pd.errors.EmptyDataError:
        raise CasestudyError("file is empty", path) from None
    except pd.errors.ParserError as exc:
        raise CasestudyError(f"not a valid CSV file ({str(exc).splitlines()[0]})", path) from None
    except (zipfile.BadZipFile, ValueError, KeyError, OSError, UnicodeDecodeError) as exc:
        raise CasestudyError(f"not a valid {suffix} file ({exc})", path) from None
    frame.columns = [normalise_header(c, aliases) for c in frame.columns]
    rows = [{k: _cell(v) for k, v in record.items()} for record in frame.to_dict(orient="records")]
    return [r for r in rows if any(r.values())]


def _cell(value: object) -> str:
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return " ".join(str(value).split())


def iso_date(value: str, what: str, path: "Path | str | None" = None) -> str:
    """A date in any common UK form as YYYY-MM-DD, or an error naming ``what``."""
    text = value.strip()
    for fmt in DATE_FORMATS:
        try:
            return _dt.datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    raise CasestudyError(f"{what} is not a date (YYYY-MM-DD): {value!r}", path)
