"""A small publish database that follows the publish contract, for the export tests.

It is built directly (not through ingest → code → publish) so the exports can be
tested on their own; tests that need the whole pipeline use the real commands.
The refused-quotation participant (P12) carries their real sentence in the fixture on
purpose, with ``quotable = 0``: the exports must withhold it even then.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

P12_CANARY = "We are the people who knock on doors in Tidewater when the buses stop running."
P09_CANARY = "The orange folder on my desk is where the merger plans went to die."
REGISTER_NAMES = ["Helen Marsh", "Bernadette Nwosu", "Janet Hollis", "Aisha Carver", "Kieran Doyle"]

CODES = [
    # id, rq, parent, name, description, inclusion, exclusion, example, colour, codable, sort
    ("RQ1", "RQ1", None, "RQ1 Purpose and aims", "Why provider collaboratives exist and what they aim to do.", "", "", "", "#1F77B4", 0, 1),
    ("RQ1.scale", "RQ1", "RQ1", "Scale and resilience", "Working at scale to make fragile services resilient.", "Mutual aid, shared rotas, scale.", "Finance-only savings (RQ6).", "We pooled the rotas.", "#4E9AD6", 1, 2),
    ("RQ1.variation", "RQ1", "RQ1", "Reducing unwarranted variation", "Levelling up access and outcomes across members.", "", "", "", "#7FB6E3", 1, 3),
    ("RQ2", "RQ2", None, "RQ2 Member organisations", "Which organisations are members, and on what terms.", "", "", "", "#FF7F0E", 0, 4),
    ("RQ2.vcse", "RQ2", "RQ2", "VCSE and local authority members", "Non-NHS members and associates.", "", "", "", "#FFA54F", 1, 5),
    ("RQ3", "RQ3", None, "RQ3 Governance and accountability", "Internal governance and external accountability.", "", "", "", "#2CA02C", 0, 6),
    ("RQ3.cic", "RQ3", "RQ3", "Committees in common and joint committees", "Decision-making forums across members.", "", "", "", "#5CC25C", 1, 7),
    ("RQ3.accountability", "RQ3", "RQ3", "Accountability to the ICB", "Reporting lines to the ICB and regulators.", "", "", "", "#8FD98F", 1, 8),
    ("RQ4", "RQ4", None, "RQ4 Contracts", "NHS contracts and how they are structured across members.", "", "", "", "#D62728", 0, 9),
    ("RQ4.lead", "RQ4", "RQ4", "Lead provider contracts", "One member holds the contract and sub-contracts.", "", "", "", "#E86A6B", 1, 10),
    ("RQ5", "RQ5", None, "RQ5 Plans with ICBs", "Coordination of long-term plans and strategies with ICBs.", "", "", "", "#9467BD", 0, 11),
    ("RQ5.joint", "RQ5", "RQ5", "Joint forward plans", "Alignment with the ICB's joint forward plan.", "", "", "", "#B394D6", 1, 12),
    ("RQ6", "RQ6", None, "RQ6 Quality, efficiency and sustainability", "Contribution to quality of care, efficiency and sustainability.", "", "", "", "#8C564B", 0, 13),
    ("RQ6.oap", "RQ6", "RQ6", "Out-of-area placements", "Bringing placements back into the area.", "", "", "", "#B07F74", 1, 14),
]

SOURCES = [
    # id, kind, format, title, ics, collaborative, wave, date, pages, participant
    (1, "transcript", "txt", "Interview P01, wave 1", "Ashmoor", None, 1, "2024-04-18", None, "P01"),
    (2, "transcript", "vtt", "Interview P02, wave 2", "Ashmoor", "Ashmoor Acute Alliance", 2, "2025-05-14", None, "P02"),
    (3, "transcript", "md", "Interview P10, wave 1", "Saltmarsh Coast", "Saltmarsh Coast Health Partnership", 1, "2024-09-12", None, "P10"),
    (4, "transcript", "vtt", "Interview P12, wave 1", "Saltmarsh Coast", "Saltmarsh Coast Health Partnership", 1, "2024-10-02", None, "P12"),
    (5, "transcript", "txt", "Interview P13, wave 2", "Saltmarsh Coast", "Saltmarsh Coast MHLDA Collaborative", 2, "2025-10-21", None, "P13"),
    (6, "board-paper", "pdf", "Kellbridge ICB Board: delegation of community budgets", "Kellbridge", None, 2, "2025-07-29", 4, None),
    (7, "transcript", "md", "Interview P05, wave 3", "Kellbridge", None, 3, "2026-06-09", None, "P05"),
]

PARTICIPANTS = [
    ("P01", "Director of Strategy", "ICB", "Ashmoor", "1"),
    ("P02", "Programme Director, Acute Alliance", "acute trust", "Ashmoor", "2"),
    ("P05", "Chief Finance Officer", "ICB", "Kellbridge", "3"),
    ("P10", "Managing Director, Health Partnership", "acute trust", "Saltmarsh Coast", "1"),
    ("P12", "Chief Officer", "VCSE", "Saltmarsh Coast", "1"),
    ("P13", "Head of Finance, MHLDA Collaborative", "mental health trust", "Saltmarsh Coast", "2"),
]

# source_id -> list of (speaker_role, participant, text, page, heading)
EXCERPTS = {
    1: [
        ("interviewer", None, "Thanks for making the time. What are the collaboratives for?", None, None),
        ("participant", "P01", "The honest answer is resilience: no single trust in Ashmoor can staff a stroke rota on its own, so we pooled the rotas and share the risk.", None, None),
        ("interviewer", None, "And who sits around the table?", None, None),
        ("participant", "P01", "The committees in common meet monthly; each board keeps its own statutory accountability, which is the awkward bit.", None, None),
    ],
    2: [
        ("interviewer", None, "How has governance changed since last year?", None, None),
        ("participant", "P02", "We moved from committees in common to a joint committee, and that changed who signs off the elective recovery plan.", None, None),
        ("participant", "P02", "Waiting times at Dunley were double ours; the alliance is really about reducing that variation for patients.", None, None),
    ],
    3: [
        ("interviewer", None, "Who are the members of the partnership?", None, None),
        ("participant", "P10", "Everyone is in: the council, the voluntary sector through Tidewater Voluntary Action, primary care and the independent sector.", None, None),
        ("participant", "P10", "Our plans have to line up with the ICB's joint forward plan or the money simply does not follow.", None, None),
    ],
    4: [
        ("interviewer", None, "What role does the voluntary sector play?", None, None),
        ("participant", "P12", P12_CANARY + " We are a full member of the partnership board.", None, None),
    ],
    5: [
        ("participant", "P13", "As lead provider we hold the contract and sub-contract Meridian for the secure beds.", None, None),
        ("participant", "P13", "We brought eleven out-of-area placements back into Saltmarsh this year, which is better care and cheaper.", None, None),
    ],
    6: [
        ("document", None, "The Board is asked to approve the delegation of the community services budget to the Kellbridge Community Provider Collaborative from April 2025.", 2, "Recommendation"),
        ("document", None, "The collaborative will report quarterly to the ICB's Strategic Commissioning Committee, which retains accountability for the delegated budget.", 3, "Accountability"),
    ],
    7: [
        ("participant", "P05", "Delegation only works if the ICB is clear about what it keeps; we retain the accountability even when the collaborative spends the money.", None, None),
    ],
}

# (source_id, excerpt index, code_id, coder, status, terms)
CODINGS = [
    (1, 1, "RQ1.scale", "auto:2024.1", "accepted", ["resilience", "pooled"]),
    (1, 3, "RQ3.cic", "auto:2024.1", "suggested", ["committees in common"]),
    (1, 3, "RQ3.accountability", "auto:2024.1", "accepted", ["accountability"]),
    (2, 1, "RQ3.cic", "auto:2024.1", "accepted", ["joint committee", "committees in common"]),
    (2, 2, "RQ1.variation", "auto:2024.1", "suggested", ["variation"]),
    (3, 1, "RQ2.vcse", "auto:2024.1", "accepted", ["voluntary sector", "council"]),
    (3, 2, "RQ5.joint", "auto:2024.1", "suggested", ["joint forward plan"]),
    (4, 1, "RQ2.vcse", "auto:2024.1", "accepted", ["full member"]),
    (4, 1, "RQ1.scale", "auto:2024.1", "suggested", ["partnership"]),
    (5, 0, "RQ4.lead", "auto:2024.1", "accepted", ["lead provider", "sub-contract"]),
    (5, 1, "RQ6.oap", "auto:2024.1", "suggested", ["out-of-area placements"]),
    (6, 0, "RQ4.lead", "auto:2024.1", "suggested", ["delegation"]),
    (6, 1, "RQ3.accountability", "auto:2024.1", "accepted", ["accountability"]),
    (7, 0, "RQ3.accountability", "auto:2024.1", "suggested", ["accountability"]),
    # two human coders on the same excerpts (for Cohen's kappa)
    (1, 1, "RQ1.scale", "alice", "accepted", []),
    (1, 1, "RQ1.scale", "bob", "accepted", []),
    (2, 2, "RQ1.variation", "alice", "accepted", []),
    (2, 2, "RQ1.scale", "bob", "accepted", []),
    (4, 1, "RQ1.scale", "alice", "accepted", []),
    (4, 1, "RQ1.scale", "bob", "accepted", []),
    (2, 1, "RQ3.cic", "alice", "accepted", []),
    (2, 1, "RQ3.cic", "bob", "accepted", []),
    # one rejected suggestion (must never appear)
    (3, 2, "RQ6.oap", "auto:2024.1", "rejected", ["placements"]),
]

MEMOS = [
    (1, None, "RQ3.accountability", None, "alice", "Accountability stays with statutory boards in every site so far; check wave 3."),
    (2, "5:1", None, 5, "bob", "Strong RQ6 example; ask P13 for the placement figures."),
]


def build_publish_db(path: Path) -> Path:
    """Write the fixture publish database at ``path`` and return ``path``."""
    path = Path(path)
    if path.exists():
        path.unlink()
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE codes (id TEXT PRIMARY KEY, rq TEXT, parent_id TEXT, name TEXT, description TEXT,
          inclusion TEXT, exclusion TEXT, example TEXT, colour TEXT, codable INTEGER, sort INTEGER);
        CREATE TABLE sources (id INTEGER PRIMARY KEY, kind TEXT, format TEXT, title TEXT, ics TEXT,
          collaborative TEXT, wave INTEGER, date TEXT, pages INTEGER, words INTEGER, participant_id TEXT, excerpts INTEGER);
        CREATE TABLE participants (id TEXT PRIMARY KEY, role TEXT, org_type TEXT, ics TEXT, waves TEXT, excerpts INTEGER);
        CREATE TABLE excerpts (id INTEGER PRIMARY KEY, source_id INTEGER, seq INTEGER, text TEXT, speaker_role TEXT,
          participant_id TEXT, turn INTEGER, page INTEGER, heading TEXT, start_time TEXT, char_start INTEGER,
          char_end INTEGER, quotable INTEGER);
        CREATE TABLE evidence (coding_id INTEGER PRIMARY KEY, excerpt_id INTEGER, text TEXT, rq TEXT, code TEXT,
          code_id TEXT, status TEXT, coder TEXT, terms TEXT, offsets TEXT, score REAL, source_id INTEGER,
          source_kind TEXT, source_title TEXT, ics TEXT, collaborative TEXT, wave INTEGER, date TEXT, page INTEGER,
          heading TEXT, turn INTEGER, speaker_role TEXT, participant_id TEXT, participant_role TEXT, org_type TEXT,
          quotable INTEGER, colour TEXT);
        CREATE TABLE framework (rq TEXT, code_id TEXT, code TEXT, ics TEXT, wave INTEGER, excerpts INTEGER,
          participants INTEGER, sources INTEGER);
        CREATE TABLE consent_summary (ics TEXT PRIMARY KEY, participants INTEGER, interview_consent INTEGER,
          quotation_refused INTEGER, withdrawn INTEGER);
        CREATE TABLE memos (id INTEGER PRIMARY KEY, excerpt_id INTEGER, code_id TEXT, source_id INTEGER,
          author TEXT, text TEXT, created_at TEXT);
        CREATE TABLE publish_info (key TEXT PRIMARY KEY, value TEXT);
        """
    )
    conn.executemany("INSERT INTO codes VALUES (?,?,?,?,?,?,?,?,?,?,?)", CODES)
    conn.executemany("INSERT INTO participants VALUES (?,?,?,?,?,0)", PARTICIPANTS)
    participants = {p[0]: p for p in PARTICIPANTS}
    codes = {c[0]: c for c in CODES}
    excerpt_ids: dict[tuple[int, int], int] = {}
    next_id = 1
    for sid, kind, fmt, title, ics, collab, wave, date, pages, pid in SOURCES:
        words = sum(len(t.split()) for _, _, t, _, _ in EXCERPTS[sid])
        conn.execute(
            "INSERT INTO sources VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (sid, kind, fmt, title, ics, collab, wave, date, pages, words, pid, len(EXCERPTS[sid])),
        )
        offset = 0
        for seq, (role, ppid, text, page, heading) in enumerate(EXCERPTS[sid]):
            quotable = 0 if ppid == "P12" else 1
            conn.execute(
                "INSERT INTO excerpts VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (next_id, sid, seq, text, role, ppid, seq + 1 if kind == "transcript" else None, page, heading,
                 None, offset, offset + len(text), quotable),
            )
            excerpt_ids[(sid, seq)] = next_id
            offset += len(text) + 2
            next_id += 1
    source_rows = {s[0]: s for s in SOURCES}
    for cid, (sid, idx, code_id, coder, status, terms) in enumerate(CODINGS, start=1):
        if status == "rejected":
            continue  # the publish database never carries rejected codings
        role, ppid, text, page, heading = EXCERPTS[sid][idx]
        src = source_rows[sid]
        offsets = []
        for term in terms:
            at = text.lower().find(term.lower())
            if at >= 0:
                offsets.append([at, at + len(term)])
        p = participants.get(ppid)
        code = codes[code_id]
        conn.execute(
            "INSERT INTO evidence VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (cid, excerpt_ids[(sid, idx)], text, code[1], code[3], code_id, status, coder, json.dumps(terms),
             json.dumps(offsets), 0.5 + 0.1 * len(terms), sid, src[1], src[3], src[4], src[5], src[6], src[7],
             page, heading, idx + 1 if src[1] == "transcript" else None, role, ppid, p[1] if p else None,
             p[2] if p else None, 0 if ppid == "P12" else 1, code[8]),
        )
    # agreement input as publish writes it (casestudy.coding.agreement): every human coder's
    # decisions, a marker row (code_id NULL) for each excerpt they rated
    conn.execute("""CREATE TABLE agreement_ratings (excerpt_id INTEGER, coder TEXT, automatic INTEGER, code_id TEXT,
                    value INTEGER, ics TEXT, wave INTEGER)""")
    for sid, idx, code_id, coder, status, _ in CODINGS:
        if coder.startswith("auto:"):
            continue
        src = source_rows[sid]
        key = (excerpt_ids[(sid, idx)], coder, 0)
        conn.execute("INSERT INTO agreement_ratings VALUES (?,?,?,?,?,?,?)", (*key, None, None, src[4], src[6]))
        conn.execute("INSERT INTO agreement_ratings VALUES (?,?,?,?,?,?,?)",
                     (*key, code_id, int(status == "accepted"), src[4], src[6]))
    # the suggestions' outcomes as publish writes them (casestudy.db's suggestion_outcomes view):
    # on each excerpt decided on with no automatic suggestion waiting, each RQ suggested or applied
    conn.execute("""CREATE TABLE suggestion_outcomes (excerpt_id INTEGER, rq TEXT, suggested INTEGER, applied INTEGER,
                    outcome TEXT, ics TEXT, wave INTEGER)""")
    by_excerpt: dict = {}
    for sid, idx, code_id, coder, status, _ in CODINGS:
        by_excerpt.setdefault((sid, idx), []).append((codes[code_id][1], coder.startswith("auto:"), status))
    for (sid, idx), rows in by_excerpt.items():
        if any(auto and status == "suggested" for _, auto, status in rows):
            continue
        src = source_rows[sid]
        for rq in sorted({rq for rq, auto, status in rows if auto or status == "accepted"}):
            suggested = any(auto for r, auto, _ in rows if r == rq)
            applied = any(status == "accepted" for r, _, status in rows if r == rq)
            outcome = "agreed" if suggested and applied else "false alarm" if suggested else "missed"
            conn.execute("INSERT INTO suggestion_outcomes VALUES (?,?,?,?,?,?,?)",
                         (excerpt_ids[(sid, idx)], rq, int(suggested), int(applied), outcome, src[4], src[6]))
    conn.execute(
        """INSERT INTO framework SELECT rq, code_id, code, ics, wave, count(DISTINCT excerpt_id),
             count(DISTINCT participant_id), count(DISTINCT source_id) FROM evidence GROUP BY rq, code_id, ics, wave"""
    )
    conn.executemany(
        "INSERT INTO consent_summary VALUES (?,?,?,?,?)",
        [("Ashmoor", 4, 4, 0, 0), ("Kellbridge", 6, 5, 0, 1), ("Saltmarsh Coast", 5, 5, 1, 0)],
    )
    for mid, _, code_id, source_id, author, text in MEMOS:
        excerpt_id = excerpt_ids[(5, 1)] if source_id else None
        conn.execute("INSERT INTO memos VALUES (?,?,?,?,?,?,?)", (mid, excerpt_id, code_id, source_id, author, text, "2025-11-01T10:00:00+00:00"))
    conn.executemany(
        "INSERT INTO publish_info VALUES (?,?)",
        [("codebook_versions", json.dumps(["2024.1"])), ("built_at", "2026-11-01T09:00:00+00:00"), ("format", "1")],
    )
    conn.commit()
    conn.close()
    # the study settings, as publish copies them (table study_settings): the sample study's corpus/study.yaml
    import sqlite_utils

    from casestudy import study

    out = sqlite_utils.Database(path)
    study.write_published(out, study.read_yaml(Path(__file__).resolve().parent.parent / "corpus" / "study.yaml"))
    out.close()
    return path
