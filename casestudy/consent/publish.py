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
step, so a reader never sees half a database. ``ensure_published`` rebuilds only when
the working database's content fingerprint changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import tempfile
import time
import unicodedata
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


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = _fold(text).split()
    found = set()
    for i in range(len(words) - _SHINGLE + 1):
        gram = tuple(words[i : i + _SHINGLE])
        if sum(1 for w in gram if w not in _STOP) >= 6:
            found.add(gram)
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
    every 12-word run of the excerpts that may not be published verbatim (withdrawn,
    unconsented or refused-quotation participants).
    """

    def __init__(self, names: list[str], forbidden_texts: list[str]):
        spaced, compact, capitalised = name_forms(names)
        # names by their first word: a text is scanned once, word by word, whatever the number of names
        self.names = _by_first_word(tuple(n.split()) for n in spaced)
        self.compact = frozenset(compact)
        self.capitalised = _by_first_word(tuple(form.split()) for form in capitalised)
        self.shingles: set[tuple[str, ...]] = set()
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


def _build(db: sqlite_utils.Database, path: Path) -> dict:
    allowed = {row[0] for row in db.execute(ALLOWED_PARTICIPANTS)}
    # Names of people who withdrew or never consented to interview become "[name]" when
    # others mention them: their IDs are not published anywhere.
    names = pseudonyms.names_from_db(db)
    for name, pid in db.execute("SELECT name, participant_id FROM pseudonyms WHERE participant_id IS NOT NULL"):
        if pid not in allowed and name in names:
            names[name] = pseudonyms.AMBIGUOUS
    pseudonymise = pseudonyms.build(names, pseudonyms.protected_words(db))
    out = sqlite_utils.Database(path)
    out.execute("PRAGMA journal_mode = DELETE")
    # a temporary file, renamed into place only when complete: no disk sync per batch written (with
    # sqlite-utils committing every batch, they were half the time of a 1M-word publish); VACUUM syncs it
    out.execute("PRAGMA synchronous = OFF")
    no_quotes = {
        row[0]
        for row in db.execute(QUOTES_REFUSED)
    } & allowed

    # -- sources: documents, and transcripts of consented, non-withdrawn participants
    sources = []
    for row in db.query(
        """SELECT s.id, s.kind, s.format, s.title, i.name AS ics, col.name AS collaborative,
                  s.wave, s.date, s.pages, s.words, s.participant_id
           FROM sources s LEFT JOIN ics i ON i.id = s.ics_id
           LEFT JOIN collaboratives col ON col.id = s.collaborative_id
           ORDER BY s.id"""
    ):
        if row["kind"] == "transcript" and row["participant_id"] not in allowed:
            continue
        if row["kind"] != "transcript":
            row["participant_id"] = None
        sources.append(row)
    source_ids = {s["id"] for s in sources}
    source_by_id = {s["id"]: s for s in sources}

    # -- the leak guard: names, and the words that may not be published
    forbidden_texts = [
        text
        for (text,) in db.execute(
            f"""SELECT e.text FROM excerpts e JOIN sources s ON s.id = e.source_id
                WHERE e.is_interviewer = 0 AND (
                  (s.kind = 'transcript' AND (s.participant_id IS NULL OR s.participant_id NOT IN ({ALLOWED_PARTICIPANTS})))
                  OR (e.participant_id IS NOT NULL AND e.participant_id NOT IN ({ALLOWED_PARTICIPANTS}))
                  OR e.participant_id IN ({QUOTES_REFUSED}))"""
        )
    ]
    guard = LeakGuard(list(pseudonyms.names_from_db(db)), forbidden_texts)
    leaks_withheld = 0
    rules = disclosure.Rules.load(disclosure_rules_path(db))
    roles = dict(db.execute("SELECT id, role FROM participants").fetchall())
    disclosures: list[dict] = []

    def clean(text: str | None) -> tuple[str | None, list]:
        if text is None:
            return None, []
        new, spans = pseudonymise.apply(text)
        return new, spans

    # -- excerpts
    excerpts, spans_by_id = [], {}
    offsets_in_source: dict[int, int] = {}
    for row in db.query(
        "SELECT id, source_id, seq, text, speaker_role, participant_id, is_interviewer, turn, page, heading, start_time "
        "FROM excerpts ORDER BY source_id, seq"
    ):
        source = source_by_id.get(row["source_id"])
        if source is None:
            continue
        if source["kind"] == "transcript":
            owner = source["participant_id"]
            if row["is_interviewer"]:
                role, pid = "interviewer", None
            elif row["participant_id"] == owner:
                role, pid = "participant", owner
            else:
                continue  # a turn that belongs to nobody we may show
            quotable = 0 if owner in no_quotes else 1
        else:
            role, pid, quotable = row["speaker_role"], None, 1
            if row["is_interviewer"]:
                continue
        if quotable:
            text, spans = clean(row["text"])
            chain = [spans]
            if role == "participant":  # disclosure control: the speaker naming their own post
                text, more, found = rules.apply(text, clean(roles.get(pid))[0])
                chain.append(more)
                disclosures += [{"excerpt_id": row["id"], "rule": f.rule, "action": f.action} for f in found]
            spans = chain
            if guard.words_in(text):
                text, spans, quotable = WITHHELD_LEAK, None, 0
                leaks_withheld += 1
        else:
            text, spans = (WITHHELD_CONTEXT if role == "interviewer" else WITHHELD_QUOTE), None
        spans_by_id[row["id"]] = spans
        start = offsets_in_source.get(row["source_id"], 0)
        offsets_in_source[row["source_id"]] = start + len(text) + 2
        excerpts.append(
            {
                "id": row["id"],
                "source_id": row["source_id"],
                "seq": row["seq"],
                "text": text,
                "speaker_role": role,
                "participant_id": pid,
                "turn": row["turn"],
                "page": row["page"],
                "heading": clean(row["heading"])[0],
                "start_time": row["start_time"],
                "char_start": start,
                "char_end": start + len(text),
                "quotable": quotable,
            }
        )
    excerpt_by_id = {e["id"]: e for e in excerpts}

    # -- codes
    codes = [
        dict(row)
        for row in db.query(
            "SELECT id, rq, parent_id, name, description, inclusion, exclusion, example, colour, codable, sort, "
            "codebook_version FROM codes ORDER BY rq, sort, id"
        )
    ]
    for code in codes:
        for key in ("description", "inclusion", "exclusion", "example"):
            code[key] = clean(code[key])[0]
    colour = {c["id"]: c["colour"] for c in codes}

    # -- evidence: the working db's evidence view, restricted again to published excerpts
    evidence = []
    for row in db.query(
        # the raw terms, pseudonymised below with the publish names (the view's are the working db's)
        "SELECT ev.*, c.offsets AS raw_offsets, c.terms AS raw_terms FROM evidence ev JOIN codings c ON c.id = ev.coding_id "
        "ORDER BY ev.coding_id"
    ):
        excerpt = excerpt_by_id.get(row["excerpt_id"])
        if excerpt is None or excerpt["speaker_role"] == "interviewer":
            continue
        source = source_by_id[row["source_id"]]
        quotable = excerpt["quotable"]
        offsets = []
        spans = spans_by_id.get(row["excerpt_id"])
        if quotable and spans is not None:
            try:
                raw = json.loads(row["raw_offsets"] or "[]")
            except ValueError:
                raw = []
            for pair in raw:
                if isinstance(pair, (list, tuple)) and len(pair) == 2 and all(isinstance(v, int) for v in pair):
                    offsets.append(
                        [disclosure.map_offset(pair[0], spans), disclosure.map_offset(pair[1], spans, end=True)]
                    )
        # a coding of part of its excerpt (workspace span): the span in the published text, and its words
        span_start = span_end = quote = None
        if quotable and spans is not None and row.get("span_start") is not None and row.get("span_end") is not None:
            span_start = disclosure.map_offset(row["span_start"], spans)
            span_end = disclosure.map_offset(row["span_end"], spans, end=True)
            if 0 <= span_start < span_end <= len(excerpt["text"]):
                quote = excerpt["text"][span_start:span_end]
            else:
                span_start = span_end = None
        evidence.append(
            {
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
                "terms": pseudonyms.display_terms(row["raw_terms"] or "[]", pseudonymise) if quotable else "[]",
                "score": row["score"],
                "offsets": json.dumps(offsets),
                "colour": colour.get(row["code_id"]),
                "source_id": row["source_id"],
                "source_kind": source["kind"],
                "source_title": None,  # filled below, after titles are pseudonymised
                "ics": row["ics"],
                "collaborative": row["collaborative"],
                "wave": row["wave"],
                "date": row["date"],
                "page": row["page"],
                "heading": excerpt["heading"],
                "turn": row["turn"],
                "speaker_role": excerpt["speaker_role"],
                "participant_id": excerpt["participant_id"],
                "participant_role": None,
                "org_type": None,
                "quotable": quotable,
            }
        )

    # -- each published coding's dates, reviewer and span (offsets in the published text), for REFI-QDA exports
    published_codings = {ev["coding_id"]: ev for ev in evidence}
    coding_details = []
    for row in db.query("SELECT id AS coding_id, created_at, reviewed_by, reviewed_at, span_start, span_end FROM codings ORDER BY id"):
        ev = published_codings.get(row["coding_id"])
        if ev is None:
            continue
        spans = spans_by_id.get(ev["excerpt_id"])
        a, b = row.pop("span_start"), row.pop("span_end")
        if ev["quotable"] and spans is not None and isinstance(a, int) and isinstance(b, int) and a < b:
            row["span_start"], row["span_end"] = disclosure.map_offset(a, spans), disclosure.map_offset(b, spans, end=True)
        coding_details.append(row)

    # -- participants: consented, not withdrawn; no names
    participants = []
    excerpt_counts: dict[str, int] = {}
    for e in excerpts:
        if e["participant_id"]:
            excerpt_counts[e["participant_id"]] = excerpt_counts.get(e["participant_id"], 0) + 1
    waves: dict[str, set] = {}
    for s in sources:
        if s["participant_id"] and s["wave"] is not None:
            waves.setdefault(s["participant_id"], set()).add(s["wave"])
    for row in db.query(
        f"""SELECT p.id, p.role, p.org_type, i.name AS ics FROM participants p LEFT JOIN ics i ON i.id = p.ics_id
            WHERE p.id IN ({ALLOWED_PARTICIPANTS}) ORDER BY p.id"""
    ):
        participants.append(
            {
                "id": row["id"],
                "role": clean(row["role"])[0],
                "org_type": row["org_type"],
                "ics": row["ics"],
                "waves": ",".join(str(w) for w in sorted(waves.get(row["id"], ()))) or None,
                "excerpts": excerpt_counts.get(row["id"], 0),
            }
        )
    participant_by_id = {p["id"]: p for p in participants}
    for ev in evidence:
        p = participant_by_id.get(ev["participant_id"])
        if p:
            ev["participant_role"], ev["org_type"] = p["role"], p["org_type"]

    # -- sources: pseudonymised titles, published text, excerpt counts
    per_source: dict[int, list[str]] = {}
    for e in excerpts:
        per_source.setdefault(e["source_id"], []).append(e["text"])
    published_sources = []
    for s in sources:
        title = clean(s["title"])[0]
        if title and guard.name_in(title):
            title = f"{s['kind']} {s['id']}"
        published_sources.append(
            {
                "id": s["id"],
                "kind": s["kind"],
                "format": s["format"],
                "title": title,
                "ics": s["ics"],
                "collaborative": s["collaborative"],
                "wave": s["wave"],
                "date": s["date"],
                "pages": s["pages"],
                "words": s["words"],
                "participant_id": s["participant_id"],
                "excerpts": len(per_source.get(s["id"], [])),
                "text": "\n\n".join(per_source.get(s["id"], [])),
            }
        )
    title_by_id = {s["id"]: s["title"] for s in published_sources}
    for ev in evidence:
        ev["source_title"] = title_by_id.get(ev["source_id"])

    # -- memos: only on published excerpts / codes / sources; never on withheld text
    memos = []
    published_codes = {c["id"] for c in codes}
    for row in db.query("SELECT id, excerpt_id, code_id, source_id, author, text, created_at FROM memos ORDER BY id"):
        if row["excerpt_id"] is not None:
            excerpt = excerpt_by_id.get(row["excerpt_id"])
            if excerpt is None or not excerpt["quotable"]:
                continue
        if row["source_id"] is not None:
            source = source_by_id.get(row["source_id"])
            if source is None or (source["participant_id"] in no_quotes):
                continue
        if row["code_id"] is not None and row["code_id"] not in published_codes:
            continue
        text = clean(row["text"])[0]
        if guard.words_in(text):
            leaks_withheld += 1
            continue
        memos.append({**dict(row), "text": text})

    # -- framework: counts per (rq, code, ics, wave)
    framework: dict[tuple, dict] = {}
    for ev in evidence:
        key = (ev["rq"], ev["code_id"], ev["code"], ev["ics"], ev["wave"])
        cell = framework.setdefault(key, {"excerpts": set(), "participants": set(), "sources": set(), "accepted": set()})
        cell["excerpts"].add(ev["excerpt_id"])
        if ev["participant_id"]:
            cell["participants"].add(ev["participant_id"])
        cell["sources"].add(ev["source_id"])
        if ev["status"] == "accepted":
            cell["accepted"].add(ev["excerpt_id"])
    framework_rows = [
        {
            "rq": rq,
            "code_id": code_id,
            "code": code,
            "ics": ics,
            "wave": wave,
            "excerpts": len(c["excerpts"]),
            "participants": len(c["participants"]),
            "sources": len(c["sources"]),
            "accepted": len(c["accepted"]),
        }
        for (rq, code_id, code, ics, wave), c in sorted(framework.items(), key=lambda kv: tuple(str(x) for x in kv[0]))
    ]

    # -- withheld quotations: counted (above) but never linked to who refused (the consent
    #    page promises that nobody's consent record is published): no participant ID, role or
    #    organisation type on their rows, no ID in their interviews' titles, and not listed
    for ev in evidence:
        if ev["participant_id"] in no_quotes:
            ev["participant_id"] = ev["participant_role"] = ev["org_type"] = None
    for e in excerpts:
        if e["participant_id"] in no_quotes:
            e["participant_id"] = None
    for s in published_sources:
        if s["participant_id"] in no_quotes:
            s["participant_id"] = None
            s["title"] = f"Interview (quotation withheld), wave {s['wave']}" if s["wave"] is not None else "Interview (quotation withheld)"
    title_by_id = {s["id"]: s["title"] for s in published_sources}
    for ev in evidence:
        ev["source_title"] = title_by_id.get(ev["source_id"])
    participants = [p for p in participants if p["id"] not in no_quotes]

    # -- consent summary: counts only
    consent_rows = [
        dict(row)
        for row in db.query(
            """SELECT coalesce(i.name, '(no ICS)') AS ics, count(*) AS participants,
                      sum(CASE WHEN cs.interview = 1 THEN 1 ELSE 0 END) AS interview_consent,
                      sum(CASE WHEN cs.quotes = 0 OR cs.quotes IS NULL THEN 1 ELSE 0 END) AS quotation_refused,
                      sum(CASE WHEN cs.withdrawn_date IS NOT NULL THEN 1 ELSE 0 END) AS withdrawn
               FROM participants p LEFT JOIN consents cs ON cs.participant_id = p.id
               LEFT JOIN ics i ON i.id = p.ics_id GROUP BY 1 ORDER BY 1"""
        )
    ]

    # -- routine indicators: aggregate, non-personal figures, published as they are (no file paths);
    #    free text (source, notes) is pseudonymised and checked like everything else
    indicator_rows = []
    if "indicators" in db.table_names():
        for row in db.query(
            """SELECT n.id, i.name AS ics, col.name AS collaborative, n.indicator, n.period, n.period_start, n.year,
                      n.wave, n.value, n.unit, n.source, n.notes
               FROM indicators n JOIN ics i ON i.id = n.ics_id LEFT JOIN collaboratives col ON col.id = n.collaborative_id
               ORDER BY n.indicator, i.name, col.name, n.period_start, n.id"""
        ):
            row["source"], row["notes"] = clean(row["source"])[0], clean(row["notes"])[0]
            indicator_rows.append(row)

    # -- the final check: no full name anywhere in what we are about to write
    for table, rows, fields in (
        ("indicators", indicator_rows, ("collaborative", "indicator", "unit", "source", "notes")),
        ("excerpts", excerpts, ("text", "heading")),
        ("sources", published_sources, ("title", "text")),
        ("codes", codes, ("name", "description", "inclusion", "exclusion", "example")),
        ("participants", participants, ("role",)),
        ("memos", memos, ("text",)),
        ("evidence", evidence, ("terms",)),
    ):
        for r in rows:
            for f in fields:
                if r.get(f) and guard.name_in(r[f]):
                    raise CasestudyError(
                        f"publish stopped: a name from the register or a name list survived pseudonymisation in "
                        f"{table} {r.get('id', r.get('coding_id'))} ({f}); nothing was written"
                    )

    # -- write
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
    out["sources"].create(_SOURCE_COLUMNS, pk="id")
    out["sources"].insert_all(published_sources)
    out["codes"].create(_CODE_COLUMNS, pk="id")
    out["codes"].insert_all(codes)
    out["participants"].create(_PARTICIPANT_COLUMNS, pk="id")
    out["participants"].insert_all(participants)
    out["excerpts"].create(_EXCERPT_COLUMNS, pk="id", foreign_keys=[("source_id", "sources", "id")])
    out["excerpts"].insert_all(excerpts, batch_size=500)
    out["evidence"].create(
        _EVIDENCE_COLUMNS,
        pk="coding_id",
        foreign_keys=[("excerpt_id", "excerpts", "id"), ("source_id", "sources", "id"), ("code_id", "codes", "id")],
    )
    out["evidence"].insert_all(evidence, batch_size=500)
    out["coding_details"].create(_CODING_DETAIL_COLUMNS, pk="coding_id")
    out["coding_details"].insert_all(coding_details, batch_size=500)
    out["memos"].create(_MEMO_COLUMNS, pk="id")
    out["memos"].insert_all(memos)
    out["framework"].create(_FRAMEWORK_COLUMNS)
    out["framework"].insert_all(framework_rows)
    out["consent_summary"].create(_CONSENT_SUMMARY_COLUMNS, pk="ics")
    out["consent_summary"].insert_all(consent_rows)
    out.execute(_INDICATORS_TABLE)
    out["indicators"].insert_all(indicator_rows, batch_size=500)
    out["review_summary"].create(_REVIEW_SUMMARY_COLUMNS)
    out["review_summary"].insert_all(dict(row) for row in db.query(REVIEW_SUMMARY))
    # every human decision as agreement input (casestudy.coding.agreement), on published excerpts only
    out["agreement_ratings"].create(_AGREEMENT_COLUMNS)
    if "agreement_ratings" in db.view_names():
        published_ids = {e["id"] for e in excerpts if e["speaker_role"] != "interviewer"}
        where = {e["id"]: source_by_id[e["source_id"]] for e in excerpts if e["id"] in published_ids}
        out["agreement_ratings"].insert_all(
            ({**dict(r), "ics": where[r["excerpt_id"]]["ics"], "wave": where[r["excerpt_id"]]["wave"]}
             for r in db.query("SELECT excerpt_id, coder, automatic, code_id, value FROM agreement_ratings")
             if r["excerpt_id"] in where),
            batch_size=1000,
        )
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
    out["disclosure"].create(_DISCLOSURE_COLUMNS)
    out["disclosure"].insert_all(disclosures)
    # no stemming, so that a prefix ("delegat*") finds what it says (see consent/prepare.py)
    out["evidence"].enable_fts(["text", "code", "source_title"], tokenize=FTS_TOKENIZE)
    out["excerpts"].enable_fts(["text"], tokenize=FTS_TOKENIZE)
    out["sources"].enable_fts(["title"], tokenize=FTS_TOKENIZE)
    out.conn.commit()
    out.execute("PRAGMA synchronous = FULL")
    out.execute("VACUUM")
    out.close()
    return {
        "sources": len(published_sources),
        "excerpts": len(excerpts),
        "evidence": len(evidence),
        "participants": len(participants),
        "codes": len(codes),
        "memos": len(memos),
        "framework": len(framework_rows),
        "withheld_quotes": sum(1 for e in excerpts if not e["quotable"]),
        "leaks_withheld": leaks_withheld,
        "disclosures_generalised": sum(1 for d in disclosures if d["action"] == "generalise"),
        "disclosures_flagged": sum(1 for d in disclosures if d["action"] == "flag"),
        "indicators": len(indicator_rows),
    }


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
