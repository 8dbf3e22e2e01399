"""A small study for the consent, pseudonym and publish tests, with names nobody tuned
the pseudonymiser to, and canary sentences that must never be published.

Participants (register names in brackets, never to be seen outside the raw tables):

* S01 (Siobhán O'Donnell-Price): consented; .docx transcript that names others in many forms.
* S02 (Kwame Mensah-Boateng): consented; Teams .vtt whose voice label is his full name.
* S03 (Ingrid Thorsdóttir): consented, withdraws in the tests; .txt with WITHDRAWN_CANARY.
* S04 (Rosalind Featherstonehaugh): refused verbatim quotation; .txt with REFUSED_CANARY.
* S05 (Benedict Achterberg): no interview consent; his transcript must be refused.
* S06 (Parveen Chaudhry): withdrew before her transcript was ingested; never stored.
"""

from __future__ import annotations

import sqlite3
import unicodedata
from pathlib import Path

import filemakers

WITHDRAWN_CANARY = "The lighthouse budget was quietly buried under the pier in March."
REFUSED_CANARY = "Our volunteers carry the whole valley on their backs every single winter."
EARLY_WITHDRAWN_CANARY = "Nobody ever reads the appendix about the ferry contract."
CANARIES = [WITHDRAWN_CANARY, REFUSED_CANARY, EARLY_WITHDRAWN_CANARY]
# words of the canaries that appear nowhere else in the study
CANARY_WORDS = ["lighthouse", "pier", "valley", "backs", "ferry"]

REGISTER = [
    ("S01", "Siobhán O'Donnell-Price", "Ashmoor", "NHS Ashmoor and Dunley ICB", "ICB", "Director of Place", "2024-03-01", "yes", "yes", "yes", ""),
    ("S02", "Kwame Mensah-Boateng", "Ashmoor", "Ashmoor University Hospitals", "acute trust", "Chief Operating Officer", "2024-03-02", "yes", "yes", "yes", ""),
    ("S03", "Ingrid Thorsdóttir", "Kellbridge", "Kellbridge Royal Infirmary", "acute trust", "Director of Finance", "2024-03-03", "yes", "yes", "yes", ""),
    ("S04", "Rosalind Featherstonehaugh", "Saltmarsh Coast", "Dale Voluntary Action", "VCSE", "Chief Officer", "2024-03-04", "yes", "yes", "no", ""),
    ("S05", "Benedict Achterberg", "Kellbridge", "NHS Kellbridge ICB", "ICB", "Head of Contracts", "2024-03-05", "no", "no", "yes", ""),
    ("S06", "Parveen Chaudhry", "Saltmarsh Coast", "Coastal Minds", "mental health trust", "Medical Director", "2024-03-06", "yes", "yes", "yes", "2024-05-01"),
]
STAFF = [("Cllr Hamish Drummond-Kerr", "[the council leader]"), ("Dr Yolanda Petrakis", "[the ICB medical director]")]
# every name a user must never see, and the distinctive words of them
NAMES = [r[1] for r in REGISTER] + [s[0] for s in STAFF]
NAME_WORDS = [
    "Siobhán", "Siobhan", "O'Donnell", "Donnell", "Kwame", "Mensah", "Boateng", "Ingrid", "Thorsdóttir", "Thorsdottir",
    "Rosalind", "Featherstonehaugh", "Benedict", "Achterberg", "Parveen", "Chaudhry", "Hamish", "Drummond", "Yolanda",
    "Petrakis",
]

S01_TURNS = [
    ("Interviewer", "Could you start by describing your role, and who you work with most?"),
    ("S01", "I lead on place for the ICB. Day to day I work with Kwame at the hospital and with Mensah-Boateng's "
            "deputy on elective recovery, and with Rosalind from the voluntary sector."),
    ("Interviewer", "How is the collaborative governed at the moment?"),
    ("S01", "Through committees in common. Cllr Drummond-Kerr chairs the scrutiny side and Dr Petrakis "
            "leads on clinical governance; Hamish is sceptical about the delegation timetable."),
    ("Interviewer", "Is any money moving through the collaborative yet?"),
    ("S01", "Very little. Ms Thorsdottir in Kellbridge tried to model a shared budget, and THORSDÓTTIR's "
            "spreadsheet is still the best thing we have. Write to rosalind.featherstonehaugh@dalevs.org.uk for the VCSE view."),
    ("Interviewer", "Who else should we talk to?"),
    ("S01", "Featherstonehaugh, Rosalind is how she signs the minutes. And Parveen Chaudhry at Coastal "
            "Minds, although I gather she has stepped back. Benedict knows the contracts better than anyone."),
]
S02_TURNS = [
    ("Interviewer", "How would you describe the purpose of the alliance?"),
    ("Kwame Mensah-Boateng", "The alliance exists so that no single trust carries elective recovery alone, "
                             "which Siobhan O’Donnell-Price has said more bluntly than I would."),
    ("Interviewer", "And accountability?"),
    ("Kwame Mensah-Boateng", "Accountability still sits with each board; the joint committee can agree but not bind."),
]
S03_TURNS = [
    ("Interviewer", "What happened to the plans for a shared finance function?"),
    ("S03", f"{WITHDRAWN_CANARY} Nobody wanted to own the deficit, and the ICB could not make them."),
    ("Interviewer", "Did the collaborative change anything for patients?"),
    ("S03", "The stroke pathway improved, but I would not claim the collaborative did that."),
]
S04_TURNS = [
    ("Interviewer", "What does the voluntary sector bring to the partnership?"),
    ("S04", f"Reach, mostly. {REFUSED_CANARY} Nobody pays for the time we spend in their meetings."),
    ("Interviewer", "Are you a full member?"),
    ("S04", "On paper we are one of six members, with one seat on the board and no budget of our own."),
]
S05_TURNS = [("Interviewer", "Tell me about the contracts."), ("S05", "The lead provider contract runs to 2027.")]
S06_TURNS = [("Interviewer", "Tell me about the merger."), ("S06", f"{EARLY_WITHDRAWN_CANARY} It was agreed anyway.")]

BOARD_PARAGRAPHS = [
    "Cllr Hamish Drummond-Kerr welcomed members. Apologies were received from Dr Yolanda Petrakis.",
    "The Board received the report on the Acute Alliance committees in common and the delegation framework.",
    "Dr. Petrakis reported improved stroke outcomes across both acute trusts in the alliance.",
]


def make_consent_study(folder: Path, *, with_no_consent: bool = False) -> Path:
    """Write the study (register, names list, transcripts, a board paper, manifest) into ``folder``."""
    import docx

    folder.mkdir(parents=True, exist_ok=True)
    filemakers.write_consent_csv(
        folder / "consent" / "register.csv",
        rows=REGISTER,
        header=[
            "participant_id", "name", "ics", "organisation", "org_type", "role", "consent_date",
            "consent_interview", "consent_recording", "consent_quotes", "withdrawn_date",
        ],
    )
    names = folder / "names.csv"
    names.write_text("name,pseudonym\n" + "".join(f"{n},{p}\n" for n, p in STAFF), encoding="utf-8")
    filemakers.write_docx_transcript(folder / "t" / "s01.docx", S01_TURNS)
    filemakers.write_vtt_teams(folder / "t" / "s02.vtt", S02_TURNS)
    filemakers.write_txt_transcript(folder / "t" / "s03.txt", S03_TURNS)
    filemakers.write_txt_transcript(folder / "t" / "s04.txt", S04_TURNS, style="none")
    filemakers.write_txt_transcript(folder / "t" / "s06.txt", S06_TURNS)
    document = docx.Document()
    document.add_heading("Board meeting in public chaired by Cllr Hamish Drummond-Kerr", level=0)
    for text in BOARD_PARAGRAPHS:
        document.add_paragraph(text)
    (folder / "papers").mkdir(exist_ok=True)
    document.save(folder / "papers" / "board.docx")
    rows = [
        {"path": "consent/register.csv", "kind": "consent"},
        {"path": "names.csv", "kind": "names"},
        {"path": "t/s01.docx", "kind": "transcript", "ics": "Ashmoor", "wave": "1", "date": "2024-04-01", "participant_id": "S01"},
        {"path": "t/s02.vtt", "kind": "transcript", "ics": "Ashmoor", "wave": "1", "date": "2024-04-02", "participant_id": "S02"},
        {"path": "t/s03.txt", "kind": "transcript", "ics": "Kellbridge", "wave": "1", "date": "2024-04-03", "participant_id": "S03"},
        {"path": "t/s04.txt", "kind": "transcript", "ics": "Saltmarsh Coast", "wave": "2", "date": "2025-04-04", "participant_id": "S04"},
        {"path": "t/s06.txt", "kind": "transcript", "ics": "Saltmarsh Coast", "wave": "1", "date": "2024-04-06", "participant_id": "S06"},
        {"path": "papers/board.docx", "kind": "board-paper", "ics": "Ashmoor", "wave": "1", "date": "2024-05-01"},
    ]
    if with_no_consent:
        filemakers.write_txt_transcript(folder / "t" / "s05.txt", S05_TURNS)
        rows.append({"path": "t/s05.txt", "kind": "transcript", "ics": "Kellbridge", "wave": "1", "participant_id": "S05"})
    filemakers.write_manifest(folder, rows)
    return folder


def build(tmp_path: Path, *, code: bool = True) -> Path:
    """Ingest the study into ``tmp_path/work.db`` and code every evidence excerpt; return the db path."""
    from casestudy import db as dblib
    from casestudy.ingest import files as ingest

    study = make_consent_study(tmp_path / "study")
    path = tmp_path / "work.db"
    db = dblib.open_db(path)
    ingest.ingest(db, [study], actor="test")
    if code:
        code_everything(db)
    db.close()
    return path


def code_everything(db) -> None:
    """Run the real coder (errors propagate: a broken coder must fail these tests), then
    give every excerpt (interviewer turns included, so the rules are tested on them too) a
    suggested RQ1 coding whose offsets cover the whole raw text."""
    import json

    from casestudy.coding import engine as coding

    coding.code_database(db, actor="test")
    with db.atomic():
        db["codes"].insert({"id": "T.RQ1", "rq": "RQ1", "name": "RQ1 test", "colour": "#123456", "codable": 1, "sort": 0}, pk="id", ignore=True)
        for excerpt_id, text in db.execute("SELECT id, text FROM excerpts").fetchall():
            db["codings"].insert(
                {
                    "excerpt_id": excerpt_id,
                    "code_id": "T.RQ1",
                    "coder": "test",
                    "status": "suggested",
                    "terms": json.dumps(text.split()[:2]),
                    "offsets": json.dumps([[0, len(text)]]),
                },
                ignore=True,
            )
        db["memos"].insert_all(
            [
                {"excerpt_id": eid, "author": "test", "text": f"memo quoting: {text}"}
                for eid, text in db.execute("SELECT id, text FROM excerpts WHERE is_interviewer = 0").fetchall()
            ]
        )


def fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if not unicodedata.combining(c)).casefold()


def forbidden_found(text: str, names: bool = True) -> list[str]:
    """Which canaries or register/staff name words occur in ``text`` (accent- and case-blind)."""
    folded = fold(text)
    found = [c for c in CANARIES if fold(c)[:40] in folded]
    found += [w for w in CANARY_WORDS if f" {w} " in f" {' '.join(''.join(ch if ch.isalnum() else ' ' for ch in folded).split())} "]
    if names:
        for word in NAME_WORDS:
            w = fold(word).replace("'", "")
            if w in folded.replace("'", "").replace("’", ""):
                found.append(word)
    return found


def scan_sqlite(path: Path, names: bool = True) -> dict[str, list[str]]:
    """Every table (FTS shadow tables included) and every cell, and the FTS vocabularies:
    {where: [forbidden things found]}."""
    problems: dict[str, list[str]] = {}
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")]
        for table in tables:
            try:
                rows = conn.execute(f"SELECT * FROM [{table}]").fetchall()
            except sqlite3.Error:
                continue
            for row in rows:
                for cell in row:
                    text = cell.decode("utf-8", "ignore") if isinstance(cell, bytes) else str(cell)
                    found = forbidden_found(text, names)
                    if found:
                        problems.setdefault(table, []).extend(found)
        for (fts,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE '%USING fts5%'").fetchall():
            conn.execute(f"CREATE VIRTUAL TABLE temp.[v_{fts}] USING fts5vocab(main, [{fts}], 'row')")
            terms = " ".join(r[0] for r in conn.execute(f"SELECT term FROM temp.[v_{fts}]"))
            found = forbidden_found(f" {terms} ", names)
            if found:
                problems.setdefault(f"{fts} (index terms)", []).extend(found)
    finally:
        conn.close()
    raw = b""
    for suffix in ("", "-wal", "-journal"):
        p = Path(f"{path}{suffix}")
        if p.is_file():
            raw += p.read_bytes()
    lowered = raw.lower()
    for needle in CANARIES + (NAME_WORDS if names else []):
        for form in {needle, fold(needle)}:
            if form.lower().encode("utf-8") in lowered and len(form) > 5:
                problems.setdefault("file bytes", []).append(needle)
    return problems
