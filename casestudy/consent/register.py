"""Consent: the register of participants and what each agreed to (SPEC rules 1 and 2).

A consent file (.csv or .xlsx) fills ``ics``, ``organisations``, ``participants``,
``consents`` and the participants' ``pseudonyms``. Every change is written to
``audit_log``; names never are.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import sqlite_utils

from casestudy.consent import pseudonyms
from casestudy.db import audit, execute_many, fetch_rows, insert_row, insert_rows, now
from casestudy.errors import CasestudyError
from casestudy.tables import iso_date, read_table

REQUIRED_COLUMNS = [
    "participant_id",
    "ics",
    "organisation",
    "org_type",
    "role",
    "consent_date",
    "consent_interview",
    "consent_recording",
    "consent_quotes",
    "withdrawn_date",
]
OPTIONAL_COLUMNS = ["name", "consent_form_version", "consent_archive"]

COLUMN_ALIASES = {
    "id": "participant_id",
    "participant": "participant_id",
    "pid": "participant_id",
    "organization": "organisation",
    "org": "organisation",
    "organisation_type": "org_type",
    "organization_type": "org_type",
    "type": "org_type",
    "job_title": "role",
    "withdrawn": "withdrawn_date",
    "withdrawal_date": "withdrawn_date",
    "date_withdrawn": "withdrawn_date",
    "form_version": "consent_form_version",
    "version": "consent_form_version",
    "consent_quote": "consent_quotes",
    "consent_quotation": "consent_quotes",
    "consent_verbatim_quotes": "consent_quotes",
    "consent_archiving": "consent_archive",
    "full_name": "name",
    "participant_name": "name",
}

YES = {"yes", "y", "true", "1", "x", "✓", "agreed", "agree"}
NO = {"no", "n", "false", "0", "", "✗", "declined", "refused"}


def parse_flag(value: str, column: str, row: int, path: Path) -> int:
    text = value.strip().lower()
    if text in YES:
        return 1
    if text in NO:
        return 0
    raise CasestudyError(f"row {row}: {column} must be yes or no, got {value!r}", path)


def parse_date(value: str, column: str, row: int, path: Path, required: bool = False) -> str | None:
    if not value.strip():
        if required:
            raise CasestudyError(f"row {row}: {column} is empty", path)
        return None
    return iso_date(value, f"row {row}: {column}", path)


def read_register(path: Path) -> list[dict]:
    """Validate a consent register and return one clean record per participant."""
    rows = read_table(path, COLUMN_ALIASES)
    if not rows:
        raise CasestudyError("no participants found (the consent file has a header but no rows)", path)
    missing = [c for c in REQUIRED_COLUMNS if c not in rows[0]]
    if missing:
        raise CasestudyError(f"missing required column(s): {', '.join(missing)}", path)
    records, seen = [], set()
    for number, row in enumerate(rows, start=2):  # row 1 is the header
        pid = row["participant_id"].strip()
        if not pid:
            raise CasestudyError(f"row {number}: participant_id is empty", path)
        if pid in seen:
            raise CasestudyError(f"row {number}: participant {pid} appears twice", path)
        seen.add(pid)
        if not row["ics"].strip():
            raise CasestudyError(f"row {number}: ics is empty", path)
        records.append(
            {
                "participant_id": pid,
                "name": row.get("name", "").strip() or None,
                "ics": row["ics"].strip(),
                "organisation": row["organisation"].strip() or None,
                "org_type": row["org_type"].strip() or None,
                "role": row["role"].strip() or None,
                "form_version": row.get("consent_form_version", "").strip() or None,
                "consent_date": parse_date(row["consent_date"], "consent_date", number, path, required=True),
                "interview": parse_flag(row["consent_interview"], "consent_interview", number, path),
                "recording": parse_flag(row["consent_recording"], "consent_recording", number, path),
                "quotes": parse_flag(row["consent_quotes"], "consent_quotes", number, path),
                "archive": parse_flag(row.get("consent_archive", "yes") or "no", "consent_archive", number, path)
                if "consent_archive" in row
                else None,
                "withdrawn_date": parse_date(row["withdrawn_date"], "withdrawn_date", number, path),
            }
        )
    return records


def get_or_create(db: sqlite_utils.Database, table: str, name: str, **extra) -> int:
    """The id of the row named ``name`` (case-insensitive), creating it if needed."""
    found = fetch_rows(db, f"SELECT * FROM [{table}] WHERE lower(name) = lower(?)", [name])
    if found:
        row = found[0]
        updates = {k: v for k, v in extra.items() if v is not None and row[k] != v}
        if updates:
            db.execute(f"UPDATE [{table}] SET {', '.join(f'[{k}] = ?' for k in updates)} WHERE id = ?",
                       [*updates.values(), row["id"]])
        return row["id"]
    return insert_row(db, table, {"name": name, **extra})


def import_register(db: sqlite_utils.Database, path: Path, actor: str, check_ics=None) -> dict:
    """Upsert every participant and consent in a register file; return counts.

    ``check_ics(name, where)`` (``casestudy.study.Registry.ics``) checks each ICS against the
    study settings and returns its declared spelling, or refuses it."""
    records = read_register(path)
    if check_ics is not None:
        for number, record in enumerate(records, start=2):
            if record["ics"]:
                record["ics"] = check_ics(record["ics"], f"{path} row {number}")
    added = changed = 0
    kept_withdrawals: list[str] = []
    names: dict[str, str] = {}
    ids: dict[str, str] = {}
    # read once, written once below (a register lists each participant once: read_register)
    stored_participants = {row["id"]: row for row in fetch_rows(db, "SELECT * FROM participants")}
    stored_consents = {row["participant_id"]: row for row in fetch_rows(db, "SELECT * FROM consents")}
    participants: list[dict] = []
    new_consents: list[dict] = []
    changed_consents: list[dict] = []
    for record in records:
        ics_id = get_or_create(db, "ics", record["ics"])
        org_id = (
            get_or_create(db, "organisations", record["organisation"], org_type=record["org_type"], ics_id=ics_id)
            if record["organisation"]
            else None
        )
        pid = record["participant_id"]
        participant = {
            "id": pid,
            "name": record["name"],
            "role": record["role"],
            "organisation_id": org_id,
            "org_type": record["org_type"],
            "ics_id": ics_id,
        }
        consent = {
            "participant_id": pid,
            "form_version": record["form_version"],
            "consent_date": record["consent_date"],
            "interview": record["interview"],
            "recording": record["recording"],
            "quotes": record["quotes"],
            "archive": record["archive"],
            "withdrawn_date": record["withdrawn_date"],
        }
        before = stored_consents.get(pid)
        if before is not None and before["withdrawn_date"] and not consent["withdrawn_date"]:
            # A withdrawal is final: an older register without it must not bring them back.
            consent["withdrawn_date"] = before["withdrawn_date"]
            kept_withdrawals.append(pid)
        old = stored_participants.get(pid)
        changed_fields = sorted(k for k, v in participant.items() if old.get(k) != v) if old is not None else []
        if old is None or changed_fields:  # an unchanged participant is not written again
            participants.append(participant)
        if changed_fields:
            audit(
                db,
                actor,
                "participant.change",
                pid,
                fields=changed_fields,  # which fields; the values of ``name`` are never logged
                **{k: participant[k] for k in changed_fields if k != "name"},
            )
        if before is None:
            new_consents.append({**consent, "source_path": str(path), "updated_at": now()})
            audit(db, actor, "consent.add", pid, **_public(consent))
            added += 1
        elif _public(before) != _public(consent):
            changed_consents.append({**consent, "source_path": str(path), "updated_at": now()})
            audit(db, actor, "consent.change", pid, before=_public(before), after=_public(consent))
            changed += 1
        if record["name"]:
            names[record["name"]] = f"[{pid}]"
            ids[record["name"]] = pid
    _upsert_participants(db, participants)
    insert_rows(db, "consents", new_consents)
    _update_consents(db, changed_consents)
    if pseudonyms.set_names(db, names, origin=f"consent register {path.name}", participant_ids=ids):
        pseudonyms.refresh_display_text(db)
    return {"participants": len(records), "added": added, "changed": changed, "kept_withdrawals": kept_withdrawals}


def _upsert_participants(db: sqlite_utils.Database, rows: list[dict]) -> None:
    """Add or update participants (by id) in one prepared statement."""
    if rows:
        columns = list(rows[0])
        execute_many(
            db,
            f"INSERT INTO participants ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
            f"ON CONFLICT(id) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in columns if c != 'id')}",
            [tuple(row[c] for c in columns) for row in rows],
        )


def _update_consents(db: sqlite_utils.Database, rows: list[dict]) -> None:
    """Update consent records (by participant_id) in one prepared statement."""
    if rows:
        columns = [c for c in rows[0] if c != "participant_id"]
        execute_many(
            db,
            f"UPDATE consents SET {', '.join(f'{c} = ?' for c in columns)} WHERE participant_id = ?",
            [(*(row[c] for c in columns), row["participant_id"]) for row in rows],
        )


def _current(db: sqlite_utils.Database, pid: str) -> dict | None:
    found = fetch_rows(db, "SELECT * FROM consents WHERE participant_id = ?", [pid])
    return found[0] if found else None


def registered_consent(db: sqlite_utils.Database, pid: str) -> dict:
    """The consent record of ``pid``, or an error saying they are not in the register."""
    consent = _current(db, pid) if pid else None
    if consent is None:
        raise CasestudyError(f"no participant {pid!r} in the consent register (see `casestudy consent status`)")
    return consent


def _public(consent: dict) -> dict:
    keys = ("form_version", "consent_date", "interview", "recording", "quotes", "archive", "withdrawn_date")
    return {k: consent.get(k) for k in keys}


def check_interview_consent(db: sqlite_utils.Database, pid: str, path: Path) -> dict:
    """Refuse a transcript whose participant has no consent covering interviews (rule 1)."""
    consent = _current(db, pid)
    if consent is None:
        raise CasestudyError(f"participant {pid} has no consent record; ingest the consent register first", path)
    if not consent["interview"]:
        raise CasestudyError(f"participant {pid} did not consent to interview; transcript refused", path)
    if consent["withdrawn_date"]:
        raise WithdrawnParticipant(
            f"participant {pid} withdrew on {consent['withdrawn_date']}; transcript not stored", path
        )
    return consent


class WithdrawnParticipant(CasestudyError):
    """A transcript of a participant who has withdrawn: never stored.

    Ingest skips such a file with a warning instead of failing a whole folder."""


def withdraw(db: sqlite_utils.Database, pid: str, date: str | None, actor: str) -> dict:
    """Record a withdrawal; the participant leaves the evidence view at once.

    The date defaults to today; it may not be in the future nor before the consent date.
    Withdrawing again with another date corrects the date (both are audited).
    """
    pid = (pid or "").strip()
    consent = registered_consent(db, pid)
    today = _dt.date.today().isoformat()
    if not date and consent["withdrawn_date"]:
        return consent  # already withdrawn: keep the recorded date
    when = iso_date(date, "--date") if date else today
    if when > today:
        raise CasestudyError(f"--date {when} is in the future; record a withdrawal when it happens")
    if consent["consent_date"] and when < consent["consent_date"]:
        raise CasestudyError(f"--date {when} is before {pid}'s consent date {consent['consent_date']}")
    if consent["withdrawn_date"] == when:
        return consent
    db["consents"].update(pid, {"withdrawn_date": when, "updated_at": now()})
    audit(db, actor, "consent.withdraw", pid, withdrawn_date=when, previous=consent["withdrawn_date"])
    return db["consents"].get(pid)


def purge_plan(db: sqlite_utils.Database, pid: str) -> dict:
    """What ``purge`` would delete for ``pid``: counts, and the source ids and files."""
    sources = [
        dict(row)
        for row in db.query("SELECT id, path, sha256 FROM sources WHERE participant_id = ? ORDER BY id", [pid])
    ]
    source_ids = [s["id"] for s in sources]
    excerpt_sql, params = _excerpts_of(pid, source_ids)
    excerpts = db.execute(f"SELECT count(*) FROM excerpts WHERE id IN ({excerpt_sql})", params).fetchone()[0]
    codings = db.execute(f"SELECT count(*) FROM codings WHERE excerpt_id IN ({excerpt_sql})", params).fetchone()[0]
    memo_where, memo_params = _memos_of(excerpt_sql, params, source_ids)
    memos = db.execute(f"SELECT count(*) FROM memos WHERE {memo_where}", memo_params).fetchone()[0]
    return {"sources": sources, "excerpts": excerpts, "codings": codings, "memos": memos}


def _excerpts_of(pid: str, source_ids: list[int]) -> tuple[str, list]:
    marks = ",".join("?" * len(source_ids)) or "NULL"
    return f"SELECT id FROM excerpts WHERE participant_id = ? OR source_id IN ({marks})", [pid, *source_ids]


def _memos_of(excerpt_sql: str, params: list, source_ids: list[int]) -> tuple[str, list]:
    marks = ",".join("?" * len(source_ids)) or "NULL"
    return f"excerpt_id IN ({excerpt_sql}) OR source_id IN ({marks})", [*params, *source_ids]


def purge(db: sqlite_utils.Database, pid: str, actor: str) -> dict:
    """Erase a withdrawn participant's words from the working database.

    Deletes their transcripts (``sources`` rows with the full text), every excerpt of those
    transcripts and every excerpt attributed to them, the codings and memos on them, and
    memos on their sources; rebuilds the full-text index so no token survives in its
    shadow tables. Keeps the consent record (the withdrawal must stay on record), the
    name in ``pseudonyms`` (so other people's mentions of them stay pseudonymised) and an
    audit record of what was deleted (ids, counts and file hashes; never text or names).

    Run inside a transaction; call :func:`compact` after it commits so deleted text does
    not remain in the file's free pages or write-ahead log.
    """
    consent = registered_consent(db, pid)
    if not consent["withdrawn_date"]:
        raise CasestudyError(f"participant {pid} has not withdrawn; withdraw first (purge erases a withdrawn participant's data)")
    db.execute("PRAGMA secure_delete = ON")
    plan = purge_plan(db, pid)
    source_ids = [s["id"] for s in plan["sources"]]
    excerpt_sql, params = _excerpts_of(pid, source_ids)
    memo_where, memo_params = _memos_of(excerpt_sql, params, source_ids)
    db.execute(f"DELETE FROM memos WHERE {memo_where}", memo_params)
    db.execute(f"DELETE FROM codings WHERE excerpt_id IN ({excerpt_sql})", params)
    tables = set(db.table_names())
    for table in ("coded_excerpts",):  # bookkeeping tables other modules keep per excerpt
        if table in tables:
            db.execute(f"DELETE FROM [{table}] WHERE excerpt_id IN ({excerpt_sql})", params)
    ids = [row[0] for row in db.execute(excerpt_sql, params)]
    if ids:
        db.execute(f"DELETE FROM excerpts WHERE id IN ({','.join('?' * len(ids))})", ids)
    if source_ids:
        db.execute(f"DELETE FROM sources WHERE id IN ({','.join('?' * len(source_ids))})", source_ids)
    # FTS5 keeps deleted tokens in old segments until they are merged: rebuild the index.
    for fts in [t for t in db.table_names() if t.endswith("_fts") and not t.startswith("sqlite_")]:
        db.execute(f"INSERT INTO [{fts}]([{fts}]) VALUES ('rebuild')")
    counts = {
        "sources": len(source_ids),
        "excerpts": plan["excerpts"],
        "codings": plan["codings"],
        "memos": plan["memos"],
    }
    audit(
        db,
        actor,
        "consent.purge",
        pid,
        source_ids=source_ids,
        sha256=[s["sha256"] for s in plan["sources"]],
        **counts,
    )
    return {**counts, "files": [s["path"] for s in plan["sources"]]}


def compact(db: sqlite_utils.Database) -> None:
    """VACUUM and truncate the write-ahead log: deleted text leaves the database files."""
    db.execute("PRAGMA secure_delete = ON")
    db.execute("VACUUM")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def status(db: sqlite_utils.Database) -> list[dict]:
    """Who consented to what, whether withdrawn, and how many excerpts each has."""
    sql = """
    SELECT p.id AS participant, p.role, p.org_type, i.name AS ics,
           c.form_version, c.consent_date, c.interview, c.recording, c.quotes, c.archive,
           c.withdrawn_date,
           (SELECT count(*) FROM excerpts e WHERE e.participant_id = p.id AND e.is_interviewer = 0) AS excerpts
    FROM participants p
    LEFT JOIN consents c ON c.participant_id = p.id
    LEFT JOIN ics i ON i.id = p.ics_id
    ORDER BY p.id
    """
    return [dict(row) for row in db.query(sql)]
