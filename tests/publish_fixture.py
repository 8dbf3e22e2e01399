"""A tiny publish database that follows the publish contract, for the Datasette tests.

Used only while (and where) the real pipeline ``ingest → code → publish`` is not
available: the serve tests prefer the real ``casestudy.consent.publish.publish`` when it exists.
``create_schema`` is also used by ``benchmarks/bench_datasette.py`` to build the 1 M-row
publish-shaped database.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

SCHEMA = """
CREATE TABLE evidence (
  coding_id INTEGER PRIMARY KEY, excerpt_id INTEGER, text TEXT, rq TEXT, code TEXT, code_id TEXT,
  status TEXT, coder TEXT, terms TEXT, offsets TEXT, score REAL, source_id INTEGER,
  source_kind TEXT, source_title TEXT, ics TEXT, collaborative TEXT, wave INTEGER, date TEXT,
  page INTEGER, heading TEXT, turn INTEGER, speaker_role TEXT, participant_id TEXT,
  participant_role TEXT, org_type TEXT, quotable INTEGER, colour TEXT
);
CREATE VIRTUAL TABLE evidence_fts USING fts5(text, code, source_title, content=evidence, content_rowid=coding_id, tokenize='porter');
CREATE TABLE excerpts (
  id INTEGER PRIMARY KEY, source_id INTEGER, seq INTEGER, text TEXT, speaker_role TEXT,
  participant_id TEXT, turn INTEGER, page INTEGER, heading TEXT, start_time TEXT,
  char_start INTEGER, char_end INTEGER, quotable INTEGER
);
CREATE VIRTUAL TABLE excerpts_fts USING fts5(text, content=excerpts, content_rowid=id, tokenize='porter');
CREATE TABLE sources (
  id INTEGER PRIMARY KEY, kind TEXT, format TEXT, title TEXT, ics TEXT, collaborative TEXT,
  wave INTEGER, date TEXT, pages INTEGER, words INTEGER, participant_id TEXT, excerpts INTEGER
);
CREATE TABLE codes (
  id TEXT PRIMARY KEY, rq TEXT, parent_id TEXT, name TEXT, description TEXT, inclusion TEXT,
  exclusion TEXT, example TEXT, colour TEXT, codable INTEGER, sort INTEGER
);
CREATE TABLE participants (
  id TEXT PRIMARY KEY, role TEXT, org_type TEXT, ics TEXT, waves TEXT, excerpts INTEGER
);
CREATE TABLE framework (
  rq TEXT, code_id TEXT, code TEXT, ics TEXT, wave INTEGER, excerpts INTEGER,
  participants INTEGER, sources INTEGER
);
CREATE TABLE consent_summary (measure TEXT, value INTEGER);
CREATE TABLE memos (
  id INTEGER PRIMARY KEY, excerpt_id INTEGER, code_id TEXT, source_id INTEGER, author TEXT,
  text TEXT, created_at TEXT
);
CREATE TABLE publish_info (key TEXT PRIMARY KEY, value TEXT);
"""

CODES = [
    # id, rq, parent, name, colour, sort
    ("RQ1", "RQ1", None, "RQ1 Purpose and aims", "#1f77b4", 10),
    ("RQ1.scale", "RQ1", "RQ1", "Scale and resilience", "#4c9bd6", 11),
    ("RQ1.variation", "RQ1", "RQ1", "Reducing unwarranted variation", "#8cc1e8", 12),
    ("RQ2", "RQ2", None, "RQ2 Member organisations", "#ff7f0e", 20),
    ("RQ2.vcse", "RQ2", "RQ2", "VCSE and local authority members", "#ffa85a", 21),
    ("RQ3", "RQ3", None, "RQ3 Governance and accountability", "#2ca02c", 30),
    ("RQ3.cic", "RQ3", "RQ3", "Committees in common", "#66c266", 31),
    ("RQ3.joint", "RQ3", "RQ3", "Joint committee", "#9bd99b", 32),
    ("RQ4", "RQ4", None, "RQ4 Contracts", "#d62728", 40),
    ("RQ4.lead", "RQ4", "RQ4", "Lead provider contract", "#e86a6b", 41),
    ("RQ5", "RQ5", None, "RQ5 ICB plans", "#9467bd", 50),
    ("RQ5.delegation", "RQ5", "RQ5", "Delegated budgets", "#b89ad6", 51),
    ("RQ6", "RQ6", None, "RQ6 Quality, efficiency, sustainability", "#8c564b", 60),
    ("RQ6.waits", "RQ6", "RQ6", "Waiting lists", "#b98a80", 61),
]

SOURCES = [
    # id, kind, format, title, ics, collaborative, wave, date, participant
    (1, "transcript", "txt", "Interview P02, wave 1", "Ashmoor", "Ashmoor Acute Alliance", 1, "2024-05-02", "P02"),
    (2, "board-paper", "pdf", "Kellbridge ICB board, July 2025", "Kellbridge", None, 2, "2025-07-29", None),
    (3, "transcript", "md", "Interview P12, wave 1", "Saltmarsh Coast", "Saltmarsh Coast Health Partnership", 1, "2024-08-01", "P12"),
    (4, "observation", "md", "Saltmarsh partnership board, March 2026", "Saltmarsh Coast", "Saltmarsh Coast Health Partnership", 3, "2026-03-10", None),
]

# (source_id, seq, speaker_role, participant, text, quotable, [(code_id, [terms], status)])
EXCERPTS = [
    (1, 1, "interviewer", None, "Could you tell me what the alliance is for?", 1, []),
    (1, 2, "participant", "P02",
     "The alliance exists to give us scale and resilience; we meet as committees in common every month.", 1,
     [("RQ1.scale", ["scale and resilience"], "accepted"), ("RQ3.cic", ["committees in common"], "suggested")]),
    (1, 3, "interviewer", None, "And how are decisions made?", 1, []),
    (1, 4, "participant", "P02",
     "Each trust board still signs off; the committees in common cannot bind a member on its own.", 1,
     [("RQ3.cic", ["committees in common"], "suggested")]),
    (2, 1, None, None,
     "The board approved the lead provider contract for community services and the delegated budgets from April.", 1,
     [("RQ4.lead", ["lead provider contract"], "accepted"), ("RQ5.delegation", ["delegated budgets"], "suggested")]),
    (2, 2, None, None,
     "Waiting lists for community paediatrics fell by a fifth after the joint committee took over.", 1,
     [("RQ6.waits", ["waiting lists"], "suggested"), ("RQ3.joint", ["joint committee"], "suggested")]),
    (3, 1, "interviewer", None, "What does the voluntary sector bring?", 1, []),
    (3, 2, "participant", "P12", "[withheld: participant did not consent to verbatim quotation]", 0,
     [("RQ2.vcse", [], "suggested")]),
    (4, 1, None, None,
     "Members discussed reducing unwarranted variation and the sustainability of the joint committee.", 1,
     [("RQ1.variation", ["unwarranted variation"], "suggested"), ("RQ3.joint", ["joint committee"], "accepted")]),
]

PARTICIPANTS = [
    ("P02", "Programme Director, Acute Alliance", "acute trust", "Ashmoor", "1", 2),
    ("P12", "Chief Officer", "VCSE", "Saltmarsh Coast", "1", 1),
]


def create_schema(conn: sqlite3.Connection) -> None:
    conn.executescript(SCHEMA)


def _offsets(text: str, terms: list[str]) -> list[list[int]]:
    spans = []
    for term in terms:
        start = text.lower().find(term.lower())
        if start >= 0:
            spans.append([start, start + len(term)])
    return spans


def make_publish_db(path: "str | Path") -> Path:
    """Write the tiny fixture publish database to ``path`` and return the path."""
    path = Path(path)
    conn = sqlite3.connect(path)
    create_schema(conn)
    codes = {c[0]: c for c in CODES}
    conn.executemany(
        "INSERT INTO codes VALUES (?,?,?,?,?,?,?,?,?,1,?)",
        [(c[0], c[1], c[2], c[3], f"About {c[3].lower()}.", "", "", "", c[4], c[5]) for c in CODES],
    )
    src = {s[0]: s for s in SOURCES}
    counts: dict[int, int] = {}
    excerpt_id = coding_id = 0
    evidence = []
    excerpts = []
    for source_id, seq, role, participant, text, quotable, codings in EXCERPTS:
        excerpt_id += 1
        counts[source_id] = counts.get(source_id, 0) + 1
        turn = seq if role else None
        excerpts.append((excerpt_id, source_id, seq, text, role, participant, turn, 1 if role is None else None,
                         None, None, 0, len(text), quotable))
        s = src[source_id]
        for code_id, terms, status in codings:
            coding_id += 1
            c = codes[code_id]
            p = next((x for x in PARTICIPANTS if x[0] == participant), None)
            evidence.append((
                coding_id, excerpt_id, text, c[1], c[3], code_id, status, "auto:test-1" if status == "suggested" else "alice",
                json.dumps(terms), json.dumps(_offsets(text, terms) if quotable else []), 0.5 + 0.1 * len(terms),
                source_id, s[1], s[3], s[4], s[5], s[6], s[7], 1 if role is None else None, None, turn, role,
                participant, p[1] if p else None, p[2] if p else None, quotable, c[4],
            ))
    conn.executemany(f"INSERT INTO excerpts VALUES ({','.join('?' * 13)})", excerpts)
    conn.executemany(f"INSERT INTO evidence VALUES ({','.join('?' * 27)})", evidence)
    conn.executemany(
        "INSERT INTO sources VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        [(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], 1, 300, s[8], counts.get(s[0], 0)) for s in SOURCES],
    )
    conn.executemany("INSERT INTO participants VALUES (?,?,?,?,?,?)", PARTICIPANTS)
    conn.execute(
        """INSERT INTO framework SELECT rq, code_id, code, ics, wave, count(DISTINCT excerpt_id),
           count(DISTINCT participant_id), count(DISTINCT source_id) FROM evidence GROUP BY code_id, ics, wave"""
    )
    conn.executemany(
        "INSERT INTO consent_summary VALUES (?,?)",
        [("participants", 15), ("withdrawn", 1), ("no interview consent", 1), ("no verbatim quotes", 1)],
    )
    conn.execute("INSERT INTO memos VALUES (1, 2, 'RQ3.cic', 1, 'alice', 'Committees in common recur in wave 1.', '2025-01-01T00:00:00+00:00')")
    conn.executemany("INSERT INTO publish_info VALUES (?,?)", [("built_at", "2025-01-01T00:00:00+00:00"), ("schema", "fixture")])
    conn.execute("INSERT INTO evidence_fts(evidence_fts) VALUES ('rebuild')")
    conn.execute("INSERT INTO excerpts_fts(excerpts_fts) VALUES ('rebuild')")
    conn.commit()
    conn.close()
    return path
