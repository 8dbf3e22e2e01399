"""Publish: the consent-safe, pseudonymised database that every output reads.

``publish(working_db, out_path)`` writes a *separate* SQLite file holding only what the
consent rules allow, with every register name (and every name of the extra name lists)
replaced by its pseudonym. Datasette (``casestudy serve``) and every export read this
file and nothing else, so no permission setting or canned query can show what is not in
it. The working database, with its real names and raw text, is never served.

What goes in (SPEC rule 1 and 2):

* transcripts only of participants who consented to interview and have not withdrawn;
  their interviewer turns go in as context (``speaker_role = 'interviewer'``), never as
  evidence;
* for a participant who refused verbatim quotation, every turn of their interviews is
  counted (evidence rows, framework, participants) but its ``text`` is a fixed
  placeholder, :data:`WITHHELD_QUOTE`;
* all paragraphs of board papers, policies and observation notes;
* the routine indicators (aggregate, non-personal figures), their notes pseudonymised;
* no file paths, no names, no speaker labels, no withdrawn participant's ID.

As a last line of defence, the published text is scanned for every full name of the
register and the name lists, and for any run of words of a withdrawn, unconsented or
refused-quotation participant; an excerpt or memo that still holds one is withheld
(:data:`WITHHELD_LEAK`) and a full name found anywhere stops the build.

The file is built in a temporary file beside ``out_path`` and renamed over it in one
step, so a reader never sees half a database. Rows are streamed into it in batches as
they are made, table by table; a later table reads what it needs of an earlier one back
from the file, so memory holds only what is small per source or participant. ``ensure_published`` rebuilds only when
the working database's content fingerprint changed.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import sqlite3
import tempfile
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import sqlite_utils

from casestudy import __version__
from casestudy import db as dblib
from casestudy.consent import disclosure, pseudonyms
from casestudy.errors import CasestudyError

# Bump when the published tables or the rules that fill them change: forces a rebuild.
PUBLISH_FORMAT = 3  # 2: the routine `indicators` table; 3: disclosure control, anonymous withheld rows, unstemmed FTS

WITHHELD_QUOTE = "[withheld: participant did not consent to verbatim quotation]"
WITHHELD_CONTEXT = "[withheld: interviewer turn in an interview whose participant did not consent to verbatim quotation]"
WITHHELD_LEAK = "[withheld: contains words of a participant whose words may not be published]"

# Which participants' interviews may be published at all.
ALLOWED_PARTICIPANTS = f"""
SELECT p.id FROM participants p JOIN consents cs ON cs.participant_id = p.id
WHERE {dblib.interview_consented("cs")}
"""
# Which participants did not consent to verbatim quotation (no answer counts as no).
QUOTES_REFUSED = "SELECT participant_id FROM consents WHERE quotes = 0 OR quotes IS NULL"

# Tables of the working database whose content decides what is published.
_FINGERPRINT_TABLES = (
    "ics",
    "organisations",
    "collaboratives",
    "memberships",
    "participants",
    "consents",
    "codes",
    "codings",
    "memos",
    "pseudonyms",
    "codebooks",
    "schema_migrations",
    "indicators",
    "study",
    "waves",
)


def default_publish_path(working_db: "str | Path") -> Path:
    """Where the publish database of ``working_db`` goes by default: ``<stem>-publish.db`` beside it."""
    working = Path(working_db)
    return working.with_name(f"{working.stem}-publish.db")


# --- fingerprint ----------------------------------------------------------------------


def fingerprint(db: sqlite_utils.Database) -> str:
    """A content fingerprint of everything ``publish`` reads from the working database.

    Small tables are hashed row by row; the big text tables (sources, excerpts) by count,
    highest id, total text length and their SHA-256 columns; the audit log by its highest
    id. Any ingest, coding, review, consent change, name list or purge changes it.
    """
    digest = hashlib.sha256()
    digest.update(f"format {PUBLISH_FORMAT} casestudy {__version__}\n".encode())
    tables = set(db.table_names())
    for table in _FINGERPRINT_TABLES:
        if table not in tables:
            digest.update(f"{table}: absent\n".encode())
            continue
        digest.update(f"{table}\n".encode())
        for row in db.execute(f"SELECT * FROM [{table}] ORDER BY rowid"):
            digest.update(repr(row).encode())
    for table, columns in (
        ("sources", "id, sha256, kind, title, ics_id, collaborative_id, wave, date, participant_id, pages, words"),
        ("excerpts", "count(*), max(id), total(length(text)), total(length(display_text))"),
    ):
        if table not in tables:
            continue
        if table == "sources":
            for row in db.execute(f"SELECT {columns} FROM sources ORDER BY id"):
                digest.update(repr(row).encode())
        else:
            digest.update(repr(db.execute(f"SELECT {columns} FROM excerpts").fetchone()).encode())
    if "excerpts" in tables:
        for row in db.execute("SELECT id, source_id, seq, text_sha, is_interviewer, participant_id FROM excerpts ORDER BY id"):
            digest.update(repr(row).encode())
    if "audit_log" in tables:
        digest.update(repr(db.execute("SELECT count(*), max(id) FROM audit_log").fetchone()).encode())
    for rules in (disclosure.DEFAULT_RULES, disclosure_rules_path(db)):  # what disclosure control does
        if rules is not None and rules.is_file():
            digest.update(rules.read_bytes())
    return digest.hexdigest()


# --- leak guards ---------------------------------------------------------------------


def _fold(text: str) -> str:
    """Lower case, accents removed, every run of non-letters one space: for scanning."""
    text = unicodedata.normalize("NFKD", text or "")
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.replace("ø", "o").replace("Ø", "o").replace("ł", "l").replace("Ł", "l")
    return " " + " ".join(re.findall(r"[^\W_]+", text.casefold())) + " "


_SHINGLE = 12  # words in a row that count as "the same words"
_STOP = {
    "the", "a", "an", "and", "or", "but", "of", "to", "in", "on", "at", "for", "with", "by", "from", "as",
    "is", "are", "was", "were", "be", "been", "it", "its", "that", "this", "we", "i", "you", "they", "he",
    "she", "our", "my", "your", "their", "them", "us", "me", "so", "if", "not", "no", "do", "does", "did",
    "have", "has", "had", "there", "what", "which", "who", "when", "where", "how", "about", "into", "than",
    "then", "just", "like", "very", "really", "think", "know", "mean", "yes", "yeah", "well", "all", "one",
}


def _shingles(text: str) -> set[int]:
    """The runs of ``_SHINGLE`` words of ``text`` (at least 6 not stop words), each kept as its
    64-bit hash, not its words (a third of the memory). Runs are only compared, never shown,
    and a hash collision could only withhold more text, never publish any."""
    words = _fold(text).split()
    found = set()
    for i in range(len(words) - _SHINGLE + 1):
        gram = tuple(words[i : i + _SHINGLE])
        if sum(1 for w in gram if w not in _STOP) >= 6:
            found.add(hash(gram))
    return found


def _by_first_word(phrases) -> dict[str, list[tuple[str, ...]]]:
    index: dict[str, list[tuple[str, ...]]] = {}
    for phrase in phrases:
        if phrase:
            index.setdefault(phrase[0], []).append(phrase)
    return index


def _any_phrase(words: list[str], index: dict[str, list[tuple[str, ...]]], accept) -> bool:
    """Whether some phrase of ``index`` is written as consecutive ``words`` (and ``accept``
    takes its ``(start, end)``): one dict lookup a word, however many phrases."""
    for i, word in enumerate(words):
        for phrase in index.get(word, ()):
            end = i + len(phrase)
            if tuple(words[i:end]) == phrase and accept((i, end)):
                return True
    return False


def name_forms(names: list[str]) -> tuple[set[str], set[str], set[str]]:
    """How each name may be written in published text: (spaced, compact, capitalised).

    ``spaced``: folded full names, and surnames of several words or parts, padded with
    spaces (`` siobhan ni bhriain ``); ``compact``: the forms also looked for run together
    (``nibhriain``); ``capitalised``: names made only of English words, a leak only when
    every word is written with a capital.
    """
    spaced: set[str] = set()  # " siobhan ni bhriain ", " ni bhriain ", " pryce jones "
    compact: set[str] = set()  # "siobhannibhriain", "nibhriain", "prycejones": written run together
    capitalised: set[str] = set()  # names of English words only: a leak only with capitals
    for name in names:
        _, words = pseudonyms.split_name(name)
        folded = _fold(" ".join(words)).split()
        forms = []
        if len(folded) >= 2:
            forms.append(folded)
            _, surname = pseudonyms.split_surname(words)
            surname_folded = _fold(" ".join(surname)).split()
            if len(surname_folded) >= 2 and len("".join(surname_folded)) >= 5:
                forms.append(surname_folded)  # a surname of several words or parts, on its own
        for n, form in enumerate(forms):
            if pseudonyms.only_english_words(form):
                capitalised.add(" ".join(form))
                continue
            spaced.add(f" {' '.join(form)} ")
            # the same rule as the pseudonymiser's: a full name run together when long and
            # not an English word, a surname of several words (5 letters or more) always
            if (n == 1 and len("".join(form)) >= 5) or (n == 0 and pseudonyms.runs_together_safely(form)):
                compact.add("".join(form))
    spaced |= {
        f" {' '.join(_fold(n).split())} "
        for n in names
        if len(_fold(n).split()) >= 2 and not pseudonyms.only_english_words(pseudonyms.split_name(n)[1])
    }
    return spaced, compact, capitalised


class LeakGuard:
    """Finds forbidden words in text about to be published.

    ``names``: every full name of the register and the name lists (folded), and every
    surname of several words or parts, also looked for run together (``nibhriain``,
    ``gwenllianprycejones``); a name made only of English words (``Will Hope``) counts
    only when written with capitals, as in the pseudonymiser; ``shingles``:
    the hash of every 12-word run of the excerpts that may not be published verbatim (withdrawn,
    unconsented or refused-quotation participants).
    """

    def __init__(self, names: list[str], forbidden_texts: list[str]):
        spaced, compact, capitalised = name_forms(names)
        # names by their first word: a text is scanned once, word by word, whatever the number of names
        self.names = _by_first_word(tuple(n.split()) for n in spaced)
        self.compact = frozenset(compact)
        self.capitalised = _by_first_word(tuple(form.split()) for form in capitalised)
        self.shingles: set[int] = set()
        for text in forbidden_texts:
            self.shingles |= _shingles(text)

    def name_in(self, text: str) -> bool:
        """A full name, or a surname of several words, spaced or written run together
        (``siobhan.nibhriain@``, ``gwenllianprycejones``), in any case and accents or not."""
        folded = _fold(text)
        if _any_phrase(folded.split(), self.names, lambda found: True):
            return True
        if self.compact:
            runs = re.findall(r"[^\W\d_]+", folded)  # letter runs: "s.pryce-jones2@" is "s", "pryce", "jones"
            for i in range(len(runs)):
                if runs[i] in self.compact:
                    return True
                joined = runs[i]
                for j in range(i + 1, min(i + 4, len(runs))):
                    joined += runs[j]
                    if joined in self.compact:
                        return True
        if self.capitalised:  # a name of English words only: a leak when every word has a capital
            written = re.findall(r"[^\W_]+", pseudonyms.fold(text or ""))

            def capitals(found: tuple[int, int]) -> bool:
                letters = re.findall(r"[^\W\d_]+", " ".join(written[found[0] : found[1]]))
                return all(w[0].isupper() for w in letters)

            if _any_phrase([w.casefold() for w in written], self.capitalised, capitals):
                return True
        return False

    def words_in(self, text: str) -> bool:
        return bool(self.shingles) and not self.shingles.isdisjoint(_shingles(text))


# --- building ------------------------------------------------------------------------


def _open_working(working) -> tuple[sqlite_utils.Database, Path | None]:
    if isinstance(working, sqlite_utils.Database):
        return working, None
    path = Path(working)
    return dblib.open_db(path, create=False), path


def publish(working, out_path: "str | Path") -> dict:
    """Write the consent-safe, pseudonymised database to ``out_path``; return counts."""
    db, _ = _open_working(working)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=".tmp", dir=out_path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        tmp.unlink()
        counts = _build(db, tmp)
        counts["seconds"] = round(time.perf_counter() - started, 3)
        out = sqlite_utils.Database(tmp)
        out["publish_info"].upsert({"key": "counts", "value": json.dumps(counts, sort_keys=True)}, pk="key")
        out.conn.commit()
        from casestudy.consent.prepare import prepare_publish_db  # indexes, facet counts, co-occurrence

        prepare_publish_db(tmp, conn=out.conn)
        out.close()
        for suffix in ("-wal", "-shm", "-journal"):
            Path(f"{tmp}{suffix}").unlink(missing_ok=True)
        os.replace(tmp, out_path)
        for suffix in ("-wal", "-shm"):  # stale files of an older build must not be replayed
            Path(f"{out_path}{suffix}").unlink(missing_ok=True)
    except BaseException:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{tmp}{suffix}").unlink(missing_ok=True)
        raise
    _remember(db, out_path)
    return counts


def _working_path(db: sqlite_utils.Database) -> Path | None:
    for _, name, filename in db.execute("PRAGMA database_list").fetchall():
        if name == "main" and filename:
            return Path(filename)
    return None


def registry_path(db: sqlite_utils.Database) -> Path | None:
    """The list of publish databases built from this working database (``<db>.published``)."""
    working = _working_path(db)
    return working.with_name(working.name + ".published") if working else None


def publications(db: sqlite_utils.Database) -> list[Path]:
    """Publish databases built from this working database that still exist."""
    registry = registry_path(db)
    if registry is None or not registry.is_file():
        return []
    paths = [Path(line) for line in registry.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [p for p in dict.fromkeys(paths) if p.is_file()]


def _remember(db: sqlite_utils.Database, out_path: Path) -> None:
    registry = registry_path(db)
    if registry is None:
        return
    out = out_path.resolve()
    known = publications(db)
    if out not in known:
        known.append(out)
    try:
        registry.write_text("".join(f"{p}\n" for p in known), encoding="utf-8")
    except OSError:
        pass  # a read-only folder: the publish database itself was written


def refresh_publications(db: sqlite_utils.Database) -> list[Path]:
    """Rebuild every publish database built from ``db`` whose content is out of date.

    Called after a withdrawal so that it takes effect in Datasette and every export
    read from these files, not only in the working database's evidence view.
    """
    rebuilt = []
    current = fingerprint(db)
    for path in publications(db):
        if published_fingerprint(path) != current:
            publish(db, path)
            rebuilt.append(path)
    return rebuilt


def published_fingerprint(out_path: "str | Path") -> str | None:
    """The working-database fingerprint recorded in a publish database, if readable."""
    out_path = Path(out_path)
    if not out_path.is_file():
        return None
    try:
        conn = sqlite3.connect(f"file:{out_path}?mode=ro", uri=True)
        try:
            info = dict(conn.execute("SELECT key, value FROM publish_info").fetchall())
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    if info.get("format") != str(PUBLISH_FORMAT):
        return None
    return info.get("fingerprint")


def ensure_published(working_db_path: "str | Path", out_path: "str | Path") -> bool:
    """Rebuild ``out_path`` only if the working database changed since it was built.

    Returns True when it (re)built the file.
    """
    db, _ = _open_working(working_db_path)
    if published_fingerprint(out_path) == fingerprint(db):
        _remember(db, Path(out_path))
        return False
    publish(db, out_path)
    return True


_BATCH = 1000  # rows written with one executemany, and ids looked up with one query


class _Rows:
    """Rows of one published table, written ``_BATCH`` at a time with one ``executemany``."""

    def __init__(self, out: sqlite_utils.Database, table: str):
        self.out, self.table, self.pending, self.count = out, table, [], 0

    def add(self, row: dict) -> None:
        self.pending.append(row)
        self.count += 1
        if len(self.pending) >= _BATCH:
            self.flush()

    def flush(self) -> None:
        dblib.insert_rows(self.out, self.table, self.pending)
        self.pending = []


def _chunks(rows, size: "int | None" = None):
    """``rows`` (any iterable) in lists of ``size``: a cursor read a batch at a time."""
    rows = iter(rows)
    while chunk := list(itertools.islice(rows, size or _BATCH)):
        yield chunk


def _placeholders(values) -> str:
    """``?, ?, ?``: one parameter per value, for ``IN (...)``."""
    return ", ".join("?" * len(values))


@dataclass
class _Context:
    """What the tables of one build share: small per participant, per source or per code, never per excerpt.

    The excerpts themselves are written to ``out`` as they are made, and read back from it
    (with their replaced spans, kept in the TEMP table ``excerpt_spans``) by the tables
    that need them.
    """

    db: sqlite_utils.Database
    out: sqlite_utils.Database
    pseudonymise: pseudonyms.Pseudonymiser
    guard: LeakGuard
    rules: disclosure.Rules
    no_quotes: set[str]  # consented participants who refused verbatim quotation
    roles: dict[str, str]  # participant id -> role as registered (disclosure control reads it)
    sources: dict[int, dict]  # published source id -> its row (``owner``: the participant, withheld or not)
    excerpts_by_participant: dict[str, int] = field(default_factory=dict)
    participants: dict[str, dict] = field(default_factory=dict)  # published participant id -> row
    colours: dict[str, str] = field(default_factory=dict)  # code id -> colour
    counts: dict[str, int] = field(default_factory=dict)

    def clean(self, text: "str | None") -> tuple["str | None", list]:
        """``text`` pseudonymised, and the spans replaced (for mapping offsets)."""
        if text is None:
            return None, []
        return self.pseudonymise.apply(text)

    def count(self, key: str, n: int = 1) -> None:
        """Add ``n`` to one of the build's counts."""
        self.counts[key] = self.counts.get(key, 0) + n

    def check_names(self, table: str, row: dict, fields: tuple[str, ...]) -> None:
        """Stop the build when a full name survived pseudonymisation in one of ``fields``."""
        for f in fields:
            if row.get(f) and self.guard.name_in(row[f]):
                raise CasestudyError(
                    f"publish stopped: a name from the register or a name list survived pseudonymisation in "
                    f"{table} {row.get('id', row.get('coding_id'))} ({f}); nothing was written"
                )


def _build(db: sqlite_utils.Database, path: Path) -> dict:
    """Write the publish database to ``path``, table by table, rows streamed in batches.

    Tables are filled in the order the name check has always reported them (indicators,
    excerpts, sources, codes, participants, memos, evidence), each row checked as it is
    written; a build stopped half-way is deleted by ``publish``.
    """
    out = sqlite_utils.Database(path)
    try:
        ctx = _context(db, out)
        _write_info(ctx)
        _create_tables(out)
        _write_indicators(ctx)
        _write_excerpts(ctx)
        _write_sources(ctx)
        _write_codes(ctx)
        _write_participants(ctx)
        _write_memos(ctx)
        _write_evidence(ctx)
        _write_framework(ctx)
        _write_summaries(ctx)
        _write_agreement_ratings(ctx)
        _write_suggestion_outcomes(ctx)
        _finish(out)
    finally:
        out.close()
    c = ctx.counts
    return {
        "sources": len(ctx.sources),
        "excerpts": c.get("excerpts", 0),
        "evidence": c.get("evidence", 0),
        "participants": len(ctx.participants),
        "codes": c.get("codes", 0),
        "memos": c.get("memos", 0),
        "framework": c.get("framework", 0),
        "withheld_quotes": c.get("withheld_quotes", 0),
        "leaks_withheld": c.get("leaks_withheld", 0),
        "disclosures_generalised": c.get("disclosures_generalise", 0),
        "disclosures_flagged": c.get("disclosures_flag", 0),
        "indicators": c.get("indicators", 0),
    }


def _context(db: sqlite_utils.Database, out: sqlite_utils.Database) -> _Context:
    """Who may be published, the pseudonymiser, the leak guard and the published sources."""
    allowed = {row[0] for row in db.execute(ALLOWED_PARTICIPANTS)}
    # Names of people who withdrew or never consented to interview become "[name]" when
    # others mention them: their IDs are not published anywhere.
    names = pseudonyms.names_from_db(db)
    for name, pid in db.execute("SELECT name, participant_id FROM pseudonyms WHERE participant_id IS NOT NULL"):
        if pid not in allowed and name in names:
            names[name] = pseudonyms.AMBIGUOUS
    out.execute("PRAGMA journal_mode = DELETE")
    # a temporary file, renamed into place only when complete: no disk sync per batch written (with
    # sqlite-utils committing every batch, they were half the time of a 1M-word publish); VACUUM syncs it
    out.execute("PRAGMA synchronous = OFF")
    ctx = _Context(
        db=db,
        out=out,
        pseudonymise=pseudonyms.build(names, pseudonyms.protected_words(db)),
        guard=_leak_guard(db),
        rules=disclosure.Rules.load(disclosure_rules_path(db)),
        no_quotes={row[0] for row in db.execute(QUOTES_REFUSED)} & allowed,
        roles=dict(db.execute("SELECT id, role FROM participants").fetchall()),
        sources=_published_sources(db, allowed),
    )
    _title_sources(ctx)
    return ctx


def _published_sources(db: sqlite_utils.Database, allowed: set[str]) -> dict[int, dict]:
    """Documents, and transcripts of consented, non-withdrawn participants, by id (metadata only)."""
    sources = {}
    for row in db.query(
        """SELECT s.id, s.kind, s.format, s.title, i.name AS ics, col.name AS collaborative,
                  s.wave, s.date, s.pages, s.words, s.participant_id
           FROM sources s LEFT JOIN ics i ON i.id = s.ics_id
           LEFT JOIN collaboratives col ON col.id = s.collaborative_id
           ORDER BY s.id"""
    ):
        if row["kind"] == "transcript" and row["participant_id"] not in allowed:
            continue
        row["owner"] = row.pop("participant_id") if row["kind"] == "transcript" else None
        sources[row["id"]] = row
    return sources


def _leak_guard(db: sqlite_utils.Database) -> LeakGuard:
    """The guard over every name, and every word that may not be published (read as a stream)."""
    forbidden_texts = (
        text
        for (text,) in db.execute(
            f"""SELECT e.text FROM excerpts e JOIN sources s ON s.id = e.source_id
                WHERE e.is_interviewer = 0 AND (
                  (s.kind = 'transcript' AND (s.participant_id IS NULL OR s.participant_id NOT IN ({ALLOWED_PARTICIPANTS})))
                  OR (e.participant_id IS NOT NULL AND e.participant_id NOT IN ({ALLOWED_PARTICIPANTS}))
                  OR e.participant_id IN ({QUOTES_REFUSED}))"""
        )
    )
    return LeakGuard(list(pseudonyms.names_from_db(db)), forbidden_texts)


def _title_sources(ctx: _Context) -> None:
    """Each source's published title and participant: pseudonymised, and never linked to a
    participant who refused quotation (the consent page promises nobody's record is published)."""
    for s in ctx.sources.values():
        title = ctx.clean(s["title"])[0]
        if title and ctx.guard.name_in(title):
            title = f"{s['kind']} {s['id']}"
        s["participant_id"] = s["owner"]
        if s["owner"] in ctx.no_quotes:
            s["participant_id"] = None
            title = f"Interview (quotation withheld), wave {s['wave']}" if s["wave"] is not None else "Interview (quotation withheld)"
        s["published_title"] = title


def _write_info(ctx: _Context) -> None:
    """``publish_info`` (what was built from what; counts added by ``publish``) and the study settings."""
    db, out = ctx.db, ctx.out
    info = {
        "built_at": dblib.now(),
        "format": PUBLISH_FORMAT,
        "casestudy_version": __version__,
        "schema_version": dblib.schema_version(db),
        "codebook_versions": json.dumps(
            [r[0] for r in db.execute("SELECT version FROM codebooks ORDER BY loaded_at, version")]
            if "codebooks" in db.table_names()
            else []
        ),
        "fingerprint": fingerprint(db),
        "counts": None,
    }
    out["publish_info"].create({"key": str, "value": str}, pk="key")
    out["publish_info"].insert_all([{"key": k, "value": None if v is None else str(v)} for k, v in info.items()])
    from casestudy import study  # the study settings, for every page and export that describes the study

    study.write_published(out, study.load(db))


def _create_tables(out: sqlite_utils.Database) -> None:
    """Every published table, empty; and the TEMP tables a later step reads back."""
    out["sources"].create(_SOURCE_COLUMNS, pk="id")
    out["codes"].create(_CODE_COLUMNS, pk="id")
    out["participants"].create(_PARTICIPANT_COLUMNS, pk="id")
    out["excerpts"].create(_EXCERPT_COLUMNS, pk="id", foreign_keys=[("source_id", "sources", "id")])
    out["evidence"].create(
        _EVIDENCE_COLUMNS,
        pk="coding_id",
        foreign_keys=[("excerpt_id", "excerpts", "id"), ("source_id", "sources", "id"), ("code_id", "codes", "id")],
    )
    out["coding_details"].create(_CODING_DETAIL_COLUMNS, pk="coding_id")
    out["memos"].create(_MEMO_COLUMNS, pk="id")
    out["framework"].create(_FRAMEWORK_COLUMNS)
    out["consent_summary"].create(_CONSENT_SUMMARY_COLUMNS, pk="ics")
    out.execute(_INDICATORS_TABLE)
    out["review_summary"].create(_REVIEW_SUMMARY_COLUMNS)
    out["agreement_ratings"].create(_AGREEMENT_COLUMNS)
    out["suggestion_outcomes"].create(_OUTCOME_COLUMNS)
    out.create_view("coder_scorecard", CODER_SCORECARD_VIEW)
    out["disclosure"].create(_DISCLOSURE_COLUMNS)
    # the replaced spans of the excerpts whose text changed (none: offsets map to themselves)
    out.execute("CREATE TEMP TABLE excerpt_spans (excerpt_id INTEGER PRIMARY KEY, spans TEXT NOT NULL)")


def _write_indicators(ctx: _Context) -> None:
    """Routine indicators: aggregate, non-personal figures, published as they are (no file
    paths); free text (source, notes) pseudonymised and checked like everything else."""
    if "indicators" not in ctx.db.table_names():
        return
    rows = _Rows(ctx.out, "indicators")
    for row in ctx.db.query(
        """SELECT n.id, i.name AS ics, col.name AS collaborative, n.indicator, n.period, n.period_start, n.year,
                  n.wave, n.value, n.unit, n.source, n.notes
           FROM indicators n JOIN ics i ON i.id = n.ics_id LEFT JOIN collaboratives col ON col.id = n.collaborative_id
           ORDER BY n.indicator, i.name, col.name, n.period_start, n.id"""
    ):
        row["source"], row["notes"] = ctx.clean(row["source"])[0], ctx.clean(row["notes"])[0]
        ctx.check_names("indicators", row, ("collaborative", "indicator", "unit", "source", "notes"))
        rows.add(row)
    rows.flush()
    ctx.counts["indicators"] = rows.count


def _write_excerpts(ctx: _Context) -> None:
    """Every excerpt that may be published, as it is made: pseudonymised, disclosure-controlled
    and checked for names and forbidden words; what disclosure control found; the spans replaced."""
    excerpts, findings, spans_rows = _Rows(ctx.out, "excerpts"), _Rows(ctx.out, "disclosure"), _Rows(ctx.out, "excerpt_spans")
    offsets_in_source: dict[int, int] = {}
    for row in ctx.db.query(
        "SELECT id, source_id, seq, text, speaker_role, participant_id, is_interviewer, turn, page, heading, start_time "
        "FROM excerpts ORDER BY source_id, seq"
    ):
        source = ctx.sources.get(row["source_id"])
        if source is None:
            continue
        who = _speaker(ctx, source, row)
        if who is None:
            continue
        role, pid, quotable = who
        text, spans, quotable = _published_text(ctx, row, role, pid, quotable, findings)
        if quotable and any(spans):
            spans_rows.add({"excerpt_id": row["id"], "spans": json.dumps(spans)})
        start = offsets_in_source.get(row["source_id"], 0)
        offsets_in_source[row["source_id"]] = start + len(text) + 2
        excerpt = {
            "id": row["id"],
            "source_id": row["source_id"],
            "seq": row["seq"],
            "text": text,
            "speaker_role": role,
            "participant_id": pid,
            "turn": row["turn"],
            "page": row["page"],
            "heading": ctx.clean(row["heading"])[0],
            "start_time": row["start_time"],
            "char_start": start,
            "char_end": start + len(text),
            "quotable": quotable,
        }
        ctx.check_names("excerpts", excerpt, ("text", "heading"))
        if pid:
            ctx.excerpts_by_participant[pid] = ctx.excerpts_by_participant.get(pid, 0) + 1
        if pid in ctx.no_quotes:  # counted above, never linked to who refused
            excerpt["participant_id"] = None
        if not quotable:
            ctx.count("withheld_quotes")
        excerpts.add(excerpt)
    for rows in (excerpts, findings, spans_rows):
        rows.flush()
    ctx.counts["excerpts"] = excerpts.count


def _speaker(ctx: _Context, source: dict, row: dict) -> "tuple[str, str | None, int] | None":
    """(speaker role, participant id, quotable) of an excerpt; None for a turn nobody may see."""
    if source["kind"] == "transcript":
        owner = source["owner"]
        if row["is_interviewer"]:
            role, pid = "interviewer", None
        elif row["participant_id"] == owner:
            role, pid = "participant", owner
        else:
            return None  # a turn that belongs to nobody we may show
        return role, pid, 0 if owner in ctx.no_quotes else 1
    if row["is_interviewer"]:
        return None
    return row["speaker_role"], None, 1


def _published_text(ctx: _Context, row: dict, role: str, pid, quotable: int, findings: _Rows) -> tuple[str, list, int]:
    """(text, chain of replaced spans, quotable) of one excerpt: pseudonymised and, for a
    participant's own words, disclosure-controlled; withheld when it holds forbidden words."""
    if not quotable:
        return (WITHHELD_CONTEXT if role == "interviewer" else WITHHELD_QUOTE), [], 0
    text, spans = ctx.clean(row["text"])
    chain = [spans]
    if role == "participant":  # disclosure control: the speaker naming their own post
        text, more, found = ctx.rules.apply(text, ctx.clean(ctx.roles.get(pid))[0])
        chain.append(more)
        for f in found:
            findings.add({"excerpt_id": row["id"], "rule": f.rule, "action": f.action})
            ctx.count(f"disclosures_{f.action}")
    if ctx.guard.words_in(text):
        ctx.count("leaks_withheld")
        return WITHHELD_LEAK, [], 0
    return text, chain, 1


def _write_sources(ctx: _Context) -> None:
    """Published sources: titles, metadata, excerpt counts and the published text (read back
    from the excerpts written, one source at a time)."""
    rows = _Rows(ctx.out, "sources")
    texts = itertools.groupby(
        ctx.out.execute("SELECT source_id, text FROM excerpts ORDER BY source_id, seq"), key=lambda r: r[0]
    )
    following = next(texts, None)
    for s in ctx.sources.values():  # in id order, as the excerpts
        parts = []
        if following is not None and following[0] == s["id"]:
            parts = [text for _, text in following[1]]
            following = next(texts, None)
        row = {
            "id": s["id"],
            "kind": s["kind"],
            "format": s["format"],
            "title": s["published_title"],
            "ics": s["ics"],
            "collaborative": s["collaborative"],
            "wave": s["wave"],
            "date": s["date"],
            "pages": s["pages"],
            "words": s["words"],
            "participant_id": s["participant_id"],
            "excerpts": len(parts),
            "text": "\n\n".join(parts),
        }
        ctx.check_names("sources", row, ("title", "text"))
        rows.add(row)
    rows.flush()


def _write_codes(ctx: _Context) -> None:
    """The codebook, its free text pseudonymised."""
    rows = _Rows(ctx.out, "codes")
    for code in ctx.db.query(
        "SELECT id, rq, parent_id, name, description, inclusion, exclusion, example, colour, codable, sort, "
        "codebook_version FROM codes ORDER BY rq, sort, id"
    ):
        for key in ("description", "inclusion", "exclusion", "example"):
            code[key] = ctx.clean(code[key])[0]
        ctx.check_names("codes", code, ("name", "description", "inclusion", "exclusion", "example"))
        ctx.colours[code["id"]] = code["colour"]
        rows.add(code)
    rows.flush()
    ctx.counts["codes"] = rows.count


def _write_participants(ctx: _Context) -> None:
    """Consented, non-withdrawn participants who did not refuse quotation: no names."""
    waves: dict[str, set] = {}
    for s in ctx.sources.values():
        if s["owner"] and s["wave"] is not None:
            waves.setdefault(s["owner"], set()).add(s["wave"])
    rows = _Rows(ctx.out, "participants")
    for row in ctx.db.query(
        f"""SELECT p.id, p.role, p.org_type, i.name AS ics FROM participants p LEFT JOIN ics i ON i.id = p.ics_id
            WHERE p.id IN ({ALLOWED_PARTICIPANTS}) ORDER BY p.id"""
    ):
        if row["id"] in ctx.no_quotes:
            continue
        participant = {
            "id": row["id"],
            "role": ctx.clean(row["role"])[0],
            "org_type": row["org_type"],
            "ics": row["ics"],
            "waves": ",".join(str(w) for w in sorted(waves.get(row["id"], ()))) or None,
            "excerpts": ctx.excerpts_by_participant.get(row["id"], 0),
        }
        ctx.check_names("participants", participant, ("role",))
        ctx.participants[row["id"]] = participant
        rows.add(participant)
    rows.flush()


def _published_excerpts(ctx: _Context, ids) -> dict[int, dict]:
    """Published excerpts among ``ids`` (read back from the publish db): text, role, quotable,
    and the chain of spans that maps raw offsets into the published text."""
    ids = list(set(ids))
    found = {}
    for chunk in _chunks(ids):
        for eid, source_id, text, role, pid, heading, quotable, spans in ctx.out.execute(
            "SELECT e.id, e.source_id, e.text, e.speaker_role, e.participant_id, e.heading, e.quotable, sp.spans "
            f"FROM excerpts e LEFT JOIN temp.excerpt_spans sp ON sp.excerpt_id = e.id WHERE e.id IN ({_placeholders(chunk)})",
            chunk,
        ):
            found[eid] = {
                "source_id": source_id, "text": text, "speaker_role": role, "participant_id": pid, "heading": heading,
                "quotable": quotable, "spans": json.loads(spans) if spans else [],
            }
    return found


def _write_memos(ctx: _Context) -> None:
    """Memos on published excerpts, codes and sources only; never on withheld text."""
    rows = _Rows(ctx.out, "memos")
    for chunk in _chunks(ctx.db.query("SELECT id, excerpt_id, code_id, source_id, author, text, created_at FROM memos ORDER BY id")):
        excerpts = _published_excerpts(ctx, [m["excerpt_id"] for m in chunk if m["excerpt_id"] is not None])
        for memo in chunk:
            if memo["excerpt_id"] is not None:
                excerpt = excerpts.get(memo["excerpt_id"])
                if excerpt is None or not excerpt["quotable"]:
                    continue
            if memo["source_id"] is not None:
                source = ctx.sources.get(memo["source_id"])
                if source is None or source["owner"] in ctx.no_quotes:
                    continue
            if memo["code_id"] is not None and memo["code_id"] not in ctx.colours:
                continue
            memo["text"] = ctx.clean(memo["text"])[0]
            if ctx.guard.words_in(memo["text"]):
                ctx.count("leaks_withheld")
                continue
            ctx.check_names("memos", memo, ("text",))
            rows.add(memo)
    rows.flush()
    ctx.counts["memos"] = rows.count


def _write_evidence(ctx: _Context) -> None:
    """One row per published coding (the working db's evidence view, restricted again to the
    published excerpts), and its dates, reviewer and span for REFI-QDA (``coding_details``)."""
    evidence, details = _Rows(ctx.out, "evidence"), _Rows(ctx.out, "coding_details")
    codings = ctx.db.query(
        # the raw terms, pseudonymised with the publish names (the view's are the working db's)
        "SELECT ev.*, c.offsets AS raw_offsets, c.terms AS raw_terms, c.created_at AS detail_created_at, "
        "c.reviewed_by AS detail_reviewed_by, c.reviewed_at AS detail_reviewed_at, c.span_start AS detail_span_start, "
        "c.span_end AS detail_span_end FROM evidence ev JOIN codings c ON c.id = ev.coding_id ORDER BY ev.coding_id"
    )
    for chunk in _chunks(codings):
        excerpts = _published_excerpts(ctx, [row["excerpt_id"] for row in chunk])
        for row in chunk:
            excerpt = excerpts.get(row["excerpt_id"])
            if excerpt is None or excerpt["speaker_role"] == "interviewer":
                continue
            ev = _evidence_row(ctx, row, excerpt)
            ctx.check_names("evidence", ev, ("terms",))
            evidence.add(ev)
            details.add(_coding_detail_row(row, excerpt))
    evidence.flush()
    details.flush()
    ctx.counts["evidence"] = evidence.count


def _mapped_offsets(raw: "str | None", spans: list) -> list[list[int]]:
    """The matched terms' raw offsets (JSON pairs) in the published text."""
    try:
        pairs = json.loads(raw or "[]")
    except ValueError:
        pairs = []
    return [
        [disclosure.map_offset(pair[0], spans), disclosure.map_offset(pair[1], spans, end=True)]
        for pair in pairs
        if isinstance(pair, (list, tuple)) and len(pair) == 2 and all(isinstance(v, int) for v in pair)
    ]


def _evidence_row(ctx: _Context, row: dict, excerpt: dict) -> dict:
    """A published coding: the excerpt's published text, mapped offsets and span, pseudonymised terms."""
    quotable, spans = excerpt["quotable"], excerpt["spans"]
    # a coding of part of its excerpt (workspace span): the span in the published text, and its words
    span_start = span_end = quote = None
    if quotable and row.get("span_start") is not None and row.get("span_end") is not None:
        span_start = disclosure.map_offset(row["span_start"], spans)
        span_end = disclosure.map_offset(row["span_end"], spans, end=True)
        if 0 <= span_start < span_end <= len(excerpt["text"]):
            quote = excerpt["text"][span_start:span_end]
        else:
            span_start = span_end = None
    source = ctx.sources[row["source_id"]]
    participant = ctx.participants.get(excerpt["participant_id"]) or {}
    return {
        "coding_id": row["coding_id"],
        "excerpt_id": row["excerpt_id"],
        "text": excerpt["text"],
        "decided_by": row.get("decided_by"),
        "span_start": span_start,
        "span_end": span_end,
        "quote": quote,
        "rq": row["rq"],
        "code": row["code"],
        "code_id": row["code_id"],
        "status": row["status"],
        "coder": row["coder"],
        "terms": pseudonyms.display_terms(row["raw_terms"] or "[]", ctx.pseudonymise) if quotable else "[]",
        "score": row["score"],
        "offsets": json.dumps(_mapped_offsets(row["raw_offsets"], spans) if quotable else []),
        "colour": ctx.colours.get(row["code_id"]),
        "source_id": row["source_id"],
        "source_kind": source["kind"],
        "source_title": source["published_title"],
        "ics": row["ics"],
        "collaborative": row["collaborative"],
        "wave": row["wave"],
        "date": row["date"],
        "page": row["page"],
        "heading": excerpt["heading"],
        "turn": row["turn"],
        "speaker_role": excerpt["speaker_role"],
        "participant_id": excerpt["participant_id"],
        "participant_role": participant.get("role"),
        "org_type": participant.get("org_type"),
        "quotable": quotable,
    }


def _coding_detail_row(row: dict, excerpt: dict) -> dict:
    """A published coding's dates, reviewer and span (offsets in the published text)."""
    a, b = row["detail_span_start"], row["detail_span_end"]
    span = [None, None]
    if excerpt["quotable"] and isinstance(a, int) and isinstance(b, int) and a < b:
        spans = excerpt["spans"]
        span = [disclosure.map_offset(a, spans), disclosure.map_offset(b, spans, end=True)]
    return {
        "coding_id": row["coding_id"],
        "created_at": row["detail_created_at"],
        "reviewed_by": row["detail_reviewed_by"],
        "reviewed_at": row["detail_reviewed_at"],
        "span_start": span[0],
        "span_end": span[1],
    }


def _write_framework(ctx: _Context) -> None:
    """Counts per (rq, code, ics, wave), over the evidence written; participants who refused
    quotation are counted (their rows carry no ID: their sources' owners, in a TEMP table, do)."""
    ctx.out.execute("CREATE TEMP TABLE source_owner (source_id INTEGER PRIMARY KEY, participant_id TEXT)")
    dblib.insert_rows(ctx.out, "source_owner", [{"source_id": s["id"], "participant_id": s["owner"]} for s in ctx.sources.values()])
    cells = ctx.out.execute(
        """SELECT ev.rq, ev.code_id, ev.code, ev.ics, ev.wave, count(DISTINCT ev.excerpt_id),
                  count(DISTINCT nullif(o.participant_id, '')), count(DISTINCT ev.source_id),
                  count(DISTINCT CASE WHEN ev.status = 'accepted' THEN ev.excerpt_id END)
           FROM evidence ev LEFT JOIN temp.source_owner o ON o.source_id = ev.source_id
           GROUP BY ev.rq, ev.code_id, ev.code, ev.ics, ev.wave"""
    ).fetchall()
    rows = _Rows(ctx.out, "framework")
    for cell in sorted(cells, key=lambda c: tuple(str(x) for x in c[:5])):
        rows.add(dict(zip(_FRAMEWORK_COLUMNS, cell)))
    rows.flush()
    ctx.counts["framework"] = rows.count


def _write_summaries(ctx: _Context) -> None:
    """Consent summary (counts only, per ICS) and how the automatic suggestions were reviewed."""
    db = ctx.db
    consent = _Rows(ctx.out, "consent_summary")
    for row in db.query(
        """SELECT coalesce(i.name, '(no ICS)') AS ics, count(*) AS participants,
                  sum(CASE WHEN cs.interview = 1 THEN 1 ELSE 0 END) AS interview_consent,
                  sum(CASE WHEN cs.quotes = 0 OR cs.quotes IS NULL THEN 1 ELSE 0 END) AS quotation_refused,
                  sum(CASE WHEN cs.withdrawn_date IS NOT NULL THEN 1 ELSE 0 END) AS withdrawn
           FROM participants p LEFT JOIN consents cs ON cs.participant_id = p.id
           LEFT JOIN ics i ON i.id = p.ics_id GROUP BY 1 ORDER BY 1"""
    ):
        consent.add(row)
    consent.flush()
    review = _Rows(ctx.out, "review_summary")
    for row in db.query(REVIEW_SUMMARY):
        review.add(row)
    review.flush()


def _write_agreement_ratings(ctx: _Context) -> None:
    """Every human decision as agreement input (casestudy.coding.agreement), on published excerpts only."""
    _copy_per_excerpt(ctx, "agreement_ratings", "SELECT excerpt_id, coder, automatic, code_id, value FROM agreement_ratings")


def _write_suggestion_outcomes(ctx: _Context) -> None:
    """How the automatic suggestions fared on each published excerpt reviewed in full (the
    coder's scorecard: ``coder_scorecard`` sums it per research question)."""
    _copy_per_excerpt(ctx, "suggestion_outcomes",
                      "SELECT excerpt_id, rq, suggested, applied, outcome FROM suggestion_outcomes WHERE NOT waiting")


def _copy_per_excerpt(ctx: _Context, view: str, sql: str) -> None:
    """Rows of a working-database view, each about one excerpt, copied with the excerpt's ICS and
    wave for the excerpts that are published (never an interviewer turn)."""
    if view not in ctx.db.view_names():
        return
    rows = _Rows(ctx.out, view)
    for chunk in _chunks(ctx.db.query(sql)):
        excerpts = _published_excerpts(ctx, [r["excerpt_id"] for r in chunk])
        for r in chunk:
            excerpt = excerpts.get(r["excerpt_id"])
            if excerpt is None or excerpt["speaker_role"] == "interviewer":
                continue
            source = ctx.sources[excerpt["source_id"]]
            rows.add({**r, "ics": source["ics"], "wave": source["wave"]})
    rows.flush()


def _finish(out: sqlite_utils.Database) -> None:
    """Indexes, full-text search, then VACUUM (which also syncs the file to disk)."""
    for table, columns in (
        ("evidence", ["rq"]),
        ("evidence", ["code_id"]),
        ("evidence", ["ics", "wave"]),
        ("evidence", ["participant_id"]),
        ("evidence", ["excerpt_id"]),
        ("excerpts", ["source_id", "seq"]),
        ("excerpts", ["participant_id"]),
        ("framework", ["rq", "ics", "wave"]),
        ("indicators", ["indicator", "ics", "period_start"]),
        ("indicators", ["ics", "wave"]),
    ):
        out[table].create_index(columns)
    # no stemming, so that a prefix ("delegat*") finds what it says (see consent/prepare.py)
    out["evidence"].enable_fts(["text", "code", "source_title"], tokenize=FTS_TOKENIZE)
    out["excerpts"].enable_fts(["text"], tokenize=FTS_TOKENIZE)
    out["sources"].enable_fts(["title"], tokenize=FTS_TOKENIZE)
    out.conn.commit()
    out.execute("DROP TABLE temp.excerpt_spans")
    out.execute("DROP TABLE IF EXISTS temp.source_owner")
    out.execute("PRAGMA synchronous = FULL")
    out.execute("VACUUM")


_SOURCE_COLUMNS = {
    "id": int,
    "kind": str,
    "format": str,
    "title": str,
    "ics": str,
    "collaborative": str,
    "wave": int,
    "date": str,
    "pages": int,
    "words": int,
    "participant_id": str,
    "excerpts": int,
    "text": str,
}
_CODE_COLUMNS = {
    "id": str,
    "rq": str,
    "parent_id": str,
    "name": str,
    "description": str,
    "inclusion": str,
    "exclusion": str,
    "example": str,
    "colour": str,
    "codable": int,
    "sort": int,
    "codebook_version": str,
}
_PARTICIPANT_COLUMNS = {"id": str, "role": str, "org_type": str, "ics": str, "waves": str, "excerpts": int}
_EXCERPT_COLUMNS = {
    "id": int,
    "source_id": int,
    "seq": int,
    "text": str,
    "speaker_role": str,
    "participant_id": str,
    "turn": int,
    "page": int,
    "heading": str,
    "start_time": str,
    "char_start": int,
    "char_end": int,
    "quotable": int,
}
_EVIDENCE_COLUMNS = {
    "coding_id": int,
    "excerpt_id": int,
    "text": str,
    "decided_by": str,  # who accepted the suggestion or added the coding (NULL: not decided yet)
    "span_start": int,  # a coding of part of the excerpt: offsets in ``text`` (NULL = the whole excerpt)
    "span_end": int,
    "quote": str,  # the words of that span
    "rq": str,
    "code": str,
    "code_id": str,
    "status": str,
    "coder": str,
    "terms": str,
    "score": float,
    "offsets": str,
    "colour": str,
    "source_id": int,
    "source_kind": str,
    "source_title": str,
    "ics": str,
    "collaborative": str,
    "wave": int,
    "date": str,
    "page": int,
    "heading": str,
    "turn": int,
    "speaker_role": str,
    "participant_id": str,
    "participant_role": str,
    "org_type": str,
    "quotable": int,
}
_CODING_DETAIL_COLUMNS = {"coding_id": int, "created_at": str, "reviewed_by": str, "reviewed_at": str, "span_start": int, "span_end": int}
_MEMO_COLUMNS = {"id": int, "excerpt_id": int, "code_id": str, "source_id": int, "author": str, "text": str, "created_at": str}
_FRAMEWORK_COLUMNS = {
    "rq": str,
    "code_id": str,
    "code": str,
    "ics": str,
    "wave": int,
    "excerpts": int,
    "participants": int,
    "sources": int,
    "accepted": int,
}
# NUMERIC keeps whole numbers whole (2400, not 2400.0) and decimals as they are.
_INDICATORS_TABLE = """CREATE TABLE indicators (
  id INTEGER PRIMARY KEY, ics TEXT, collaborative TEXT, indicator TEXT, period TEXT, period_start TEXT,
  year INTEGER, wave INTEGER, value NUMERIC, unit TEXT, source TEXT, notes TEXT
)"""
# How the automatic suggestions were reviewed (counts only, rejected ones included, which
# the evidence table leaves out), over the excerpts consent allows: for coder agreement.
REVIEW_SUMMARY = f"""
SELECT cd.rq AS rq, i.name AS ics, s.wave AS wave, c.status AS status, count(*) AS n
FROM {dblib.CODING_JOIN}
{dblib.PLACE_JOIN}
WHERE {dblib.machine_coder()} AND {dblib.CONSENTED_EXCERPT}
GROUP BY cd.rq, i.name, s.wave, c.status
"""
_REVIEW_SUMMARY_COLUMNS = {"rq": str, "ics": str, "wave": int, "status": str, "n": int}
_AGREEMENT_COLUMNS = {"excerpt_id": int, "coder": str, "automatic": int, "code_id": str, "value": int, "ics": str, "wave": int}
_OUTCOME_COLUMNS = {"excerpt_id": int, "rq": str, "suggested": int, "applied": int, "outcome": str, "ics": str, "wave": int}
# The coder's scorecard per research question (as `casestudy review scorecard` computes it from
# the working database): precision = suggested and kept, recall = applied and suggested.
CODER_SCORECARD_VIEW = """
SELECT rq, count(DISTINCT excerpt_id) AS excerpts,
       sum(outcome = 'agreed') AS agreed, sum(outcome = 'false alarm') AS false_alarms, sum(outcome = 'missed') AS missed,
       round(1.0 * sum(outcome = 'agreed') / nullif(sum(suggested), 0), 2) AS precision,
       round(1.0 * sum(outcome = 'agreed') / nullif(sum(applied), 0), 2) AS recall,
       CASE WHEN sum(suggested) > 0 AND sum(applied) > 0
            THEN round(2.0 * sum(outcome = 'agreed') / (sum(suggested) + sum(applied)), 2) END AS f1
FROM suggestion_outcomes GROUP BY rq ORDER BY rq
"""

# What disclosure control found in published interview turns (which rule, what it did):
# never the phrase itself when it was generalised.
_DISCLOSURE_COLUMNS = {"excerpt_id": int, "rule": str, "action": str}
FTS_TOKENIZE = "unicode61 remove_diacritics 2"


def disclosure_rules_path(db: sqlite_utils.Database) -> "Path | None":
    """A study's own disclosure rules: ``disclosure.yaml`` beside the working database."""
    working = _working_path(db)
    return working.with_name("disclosure.yaml") if working else None


_CONSENT_SUMMARY_COLUMNS = {
    "ics": str,
    "participants": int,
    "interview_consent": int,
    "quotation_refused": int,
    "withdrawn": int,
}


def read_counts(out_path: "str | Path") -> dict:
    """The counts recorded in a publish database's ``publish_info``."""
    try:
        conn = sqlite3.connect(f"file:{Path(out_path)}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT value FROM publish_info WHERE key = 'counts'").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return {}
    return json.loads(row[0]) if row and row[0] else {}
