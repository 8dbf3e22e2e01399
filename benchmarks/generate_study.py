"""A synthetic study of N words, for benchmarks: written file by file, never held in memory.

    python benchmarks/generate_study.py OUT_FOLDER [--words 1000000] [--seed 0]

or, from another benchmark::

    from benchmarks.generate_study import generate      # or sys.path + `import generate_study`
    info = generate(Path("/tmp/study"), words=250_000, seed=1)

The folder holds a consent register (``consent/register.csv``, names included), interview
transcripts as .txt, .vtt (Teams voices) and .docx, board papers as .docx and, for a small
share, PDF (with a running header and ``Page N of M`` footer), and a ``manifest.csv`` that
``casestudy ingest FOLDER`` reads. The text comes from NHS-manager sentence templates with
varied slots, so it reads (and codes) much like the sample corpus. Same seed, same files.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import time
from pathlib import Path

ICSS = {
    "Ashmoor": ["Ashmoor University Hospitals", "Dunley General", "Ashmoor and Dunley Partnership", "Brightwell Care",
                "NHS Ashmoor and Dunley ICB", "Ashmoor County Council"],
    "Kellbridge": ["Kellbridge Hospitals Group", "Kellbridge Community Health", "Fenmouth Mental Health Trust",
                   "NHS Kellbridge ICB", "Kellbridge GP Federation"],
    "Saltmarsh Coast": ["Saltmarsh Coast Partnership", "Port Ellis Hospital", "Saltmarsh Community Services",
                        "NHS Saltmarsh Coast ICB", "Coastal Hospice"],
}
COLLABORATIVES = {
    "Ashmoor": ["Ashmoor Acute Alliance", "Ashmoor MHLDA Collaborative"],
    "Kellbridge": ["Kellbridge Community Provider Leadership Board", "Kellbridge Hospitals Collaborative"],
    "Saltmarsh Coast": ["Saltmarsh Coast Partnership Collaborative"],
}
ORG_TYPES = ["ICB", "Acute trust", "Mental health trust", "Community trust", "Local authority", "Independent sector",
             "Primary care", "Voluntary sector"]
ROLES = ["Director of Strategy", "Chief Operating Officer", "Programme Director", "Finance Director", "Clinical Director",
         "Chief Executive", "Head of Transformation", "Company Secretary", "Medical Director", "Non-executive Director",
         "Director of Nursing", "Partnership Manager"]
FIRST = ["Helen", "Daniel", "Amina", "Tom", "Grace", "Owen", "Margaret", "Tariq", "Siobhan", "Priya", "Gareth", "Ruth",
         "Lucy", "Kwame", "Eleanor", "Martin", "Fatima", "Joanna", "Rhys", "Beatrice", "Samuel", "Imogen", "Declan", "Nadia"]
LAST = ["Marsh", "Okoro", "Shah", "Reed", "Lin", "Treharne", "Ellery", "Hussain", "Gallagher", "Patel", "Llewellyn",
        "Okafor", "Fenwick", "Mensah", "Whitcombe", "Doyle", "Rahman", "Kowalski", "Pryce", "Achebe", "Carver", "Nolan"]

TOPICS = ["elective recovery", "the joint forward plan", "urgent and emergency care", "out-of-area placements",
          "the stroke pathway", "community nursing", "the single waiting list", "workforce planning",
          "the delegation agreement", "the risk share", "the system financial plan", "discharge to assess",
          "specialised commissioning", "the outcomes framework", "estates and capital", "digital integration"]
GOVERNANCE = ["committees in common", "a joint committee", "the lead provider model", "the programme board",
              "the partnership agreement", "the collaboration agreement", "the scheme of delegation"]
MONEY = ["£{n}m", "about £{n} million", "a {p} per cent top-slice", "non-recurrent funding of £{n}m",
         "a gain share of {p} per cent"]
HEDGES = ["to be honest", "if I'm candid", "I think", "in practice", "frankly", "on paper at least", "so far",
          "as things stand", "if I'm fair to them", "broadly"]

ANSWER_TEMPLATES = [
    "{hedge_cap}, {collab} was set up to deal with {topic}, which no single trust can fix on its own.",
    "Governance runs through {gov}, so every decision on {topic} is {hedge} taken more than once.",
    "The money is the hard part: {money} sits with {org} and the rest stays in individual contracts.",
    "We report to the ICB every quarter on {topic}, but accountability still sits with each chief executive.",
    "{org} was reluctant at first, because joining meant giving up some control over {topic}.",
    "The board signed off {gov} in {month}, after {n} months of drafting and a lot of legal advice.",
    "Quality has improved on {topic}, {hedge}, though I would not claim the collaborative caused it.",
    "The ICB wants us to take on {topic} next year, and that will need {money} to move across.",
    "Members do not all have the same appetite for risk, which shows up whenever {topic} comes up.",
    "Our five-year plan and the ICB's joint forward plan now say the same thing about {topic}.",
    "The programme team is {n} posts, funded by {money}, and {hedge} it is stretched.",
    "When {org} missed its trajectory on {topic}, the conversation happened at {gov}, not in the contract meeting.",
    "Efficiency savings of {money} were booked against {topic}, of which perhaps half is recurrent.",
    "The clinical leads trust each other, {hedge}, and that matters more than {gov} on paper.",
    "I sit on the programme board for {collab}, so I see both the ambition and the paperwork.",
    "The local authority is an associate member, because councillors do not want to be bound by NHS decisions on {topic}.",
    "There is a question about whether {gov} is lawful for {topic}, and the lawyers are still looking at it.",
    "Patients probably do not notice the collaborative, {hedge}; they notice shorter waits for {topic}.",
    "The contract for {topic} is held by {org} as lead provider, with sub-contracts to the other members.",
    "We spent {month} arguing about the terms of reference rather than about {topic}, which tells you something.",
]
QUESTIONS = [
    "Could you describe your role and how it relates to {collab}?",
    "What is the collaborative for, from where you sit?",
    "How are decisions about {topic} taken at the moment?",
    "Who holds the collaborative to account, and how?",
    "Is any money moving through the collaborative for {topic}?",
    "How do your plans line up with the ICB's joint forward plan?",
    "What difference has it made to quality or to patients?",
    "What would you change about {gov} if you could?",
    "Which organisations are members, and why those?",
    "Is there anything we have not covered that you want to add?",
]
PAPER_SECTIONS = ["Chief Executive's report", "Provider collaboratives: update", "Finance report",
                  "Integrated performance report", "Quality and safety report", "Joint forward plan refresh",
                  "Risk register and board assurance framework", "Delegation of functions"]
PAPER_TEMPLATES = [
    "The Board received the report on {topic} and noted the progress made by {collab}.",
    "Members asked how {gov} would record decisions where the member boards disagree on {topic}.",
    "The Chief Finance Officer reported that {money} had been committed to {topic} in the year to {month}.",
    "{org} confirmed that the trajectory for {topic} would be met by the end of the financial year.",
    "The Board approved the recommendation that {topic} be delegated to {collab} under {gov}.",
    "A non-executive member asked what assurance the Board would receive on quality once {topic} was delegated.",
    "The risk relating to {topic} remains rated amber, with mitigations agreed through {gov}.",
    "The Board noted that {org} had joined {collab} as an associate member.",
]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "September", "October", "November"]


class Text:
    """Sentence factory: templates with varied slots, seeded."""

    def __init__(self, rng: random.Random, ics: str):
        self.rng = rng
        self.ics = ics

    def fill(self, template: str) -> str:
        r = self.rng
        hedge = r.choice(HEDGES)
        money = r.choice(MONEY).format(n=r.randint(2, 60), p=r.randint(1, 9))
        return template.format(
            hedge=hedge, hedge_cap=hedge[:1].upper() + hedge[1:], topic=r.choice(TOPICS), gov=r.choice(GOVERNANCE),
            money=money, org=r.choice(ICSS[self.ics]), collab=r.choice(COLLABORATIVES[self.ics]),
            month=r.choice(MONTHS), n=r.randint(2, 18),
        )

    def answer(self) -> str:
        return " ".join(self.fill(self.rng.choice(ANSWER_TEMPLATES)) for _ in range(self.rng.randint(2, 7)))

    def question(self) -> str:
        return self.fill(self.rng.choice(QUESTIONS))

    def paragraph(self) -> str:
        return " ".join(self.fill(self.rng.choice(PAPER_TEMPLATES)) for _ in range(self.rng.randint(2, 5)))


def _ts(seconds: float, vtt: bool = False) -> str:
    h, rem = divmod(int(seconds), 3600)
    m, s = divmod(rem, 60)
    return f"{h:02d}:{m:02d}:{s:02d}" + (f".{int(seconds * 1000) % 1000:03d}" if vtt else "")


def _turns(text: Text, label: str, target: int):
    """Yield (speaker, text) until about ``target`` words have been produced."""
    produced = 0
    while produced < target:
        question, answer = text.question(), text.answer()
        produced += len(question.split()) + len(answer.split())
        yield "Interviewer", question
        yield label, answer


def _write_txt(path: Path, turns) -> int:
    words, seconds = 0, 0.0
    with path.open("w", encoding="utf-8") as handle:
        handle.write("Interview transcript (synthetic)\n\n")
        for speaker, text in turns:
            handle.write(f"[{_ts(seconds)}] {speaker}: {text}\n\n")
            words += len(text.split())
            seconds += len(text.split()) / 2.5
    return words


def _write_vtt(path: Path, turns) -> int:
    words, seconds, cue = 0, 0.0, 0
    with path.open("w", encoding="utf-8") as handle:
        handle.write("WEBVTT\n\n")
        for speaker, text in turns:
            tokens = text.split()
            words += len(tokens)
            for start in range(0, len(tokens), 18):  # Teams cuts a long turn into several cues
                chunk = tokens[start:start + 18]
                cue += 1
                end = seconds + len(chunk) / 2.5
                handle.write(f"a1b2c3d4-{cue:08d}/{cue}-0\n{_ts(seconds, True)} --> {_ts(end, True)}\n"
                             f"<v {speaker}>{' '.join(chunk)}</v>\n\n")
                seconds = end + 0.2
    return words


def _write_docx_transcript(path: Path, turns) -> int:
    import docx

    document = docx.Document()
    document.add_heading("Interview transcript (synthetic)", level=1)
    words = 0
    for speaker, text in turns:
        document.add_paragraph(f"{speaker}: {text}")
        words += len(text.split())
    document.save(path)
    return words


def _paper_sections(text: Text, target: int):
    produced = 0
    while produced < target:
        section = text.rng.choice(PAPER_SECTIONS)
        paragraphs = [text.paragraph() for _ in range(text.rng.randint(2, 6))]
        produced += sum(len(p.split()) for p in paragraphs)
        yield section, paragraphs


def _write_docx_paper(path: Path, title: str, sections) -> int:
    import docx

    document = docx.Document()
    document.core_properties.title = title
    document.add_heading(title, level=0)
    words = 0
    for number, (section, paragraphs) in enumerate(sections, start=1):
        document.add_heading(f"{number}. {section}", level=1)
        for paragraph in paragraphs:
            document.add_paragraph(paragraph)
            words += len(paragraph.split())
    document.save(path)
    return words


def _write_md_paper(path: Path, title: str, sections) -> int:
    words = 0
    with path.open("w", encoding="utf-8") as handle:
        handle.write(f"# {title}\n\n")
        for number, (section, paragraphs) in enumerate(sections, start=1):
            handle.write(f"## {number}. {section}\n\n")
            for paragraph in paragraphs:
                handle.write(paragraph + "\n\n")
                words += len(paragraph.split())
    return words


def _write_pdf_paper(path: Path, title: str, sections) -> int:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate

    styles = getSampleStyleSheet()
    story, words = [Paragraph(title, styles["Title"])], 0
    for number, (section, paragraphs) in enumerate(sections, start=1):
        story.append(Paragraph(f"{number}. {section}", styles["Heading1"]))
        for paragraph in paragraphs:
            story.append(Paragraph(paragraph.replace("&", "&amp;"), styles["BodyText"]))
            words += len(paragraph.split())
    pages = {"n": 0}

    def decorate(canvas, doc):
        canvas.saveState()
        canvas.setFont("Helvetica", 8)
        canvas.drawString(60, A4[1] - 40, title)
        canvas.drawRightString(A4[0] - 60, 30, f"Page {doc.page}")
        canvas.restoreState()
        pages["n"] = doc.page

    SimpleDocTemplate(str(path), pagesize=A4, title=title).build(story, onFirstPage=decorate, onLaterPages=decorate)
    return words


# Names for studies with a large consent register and name list (benchmarks/bench_names.py,
# tests/test_pseudonyms_scale.py): the shapes the pseudonymiser must handle — particles,
# apostrophes, hyphens, accents, and names that are English words (Will, Grace, Marsh).
MANY_FIRST = [
    "Helen", "Daniel", "Amina", "Tom", "Grace", "Owen", "Margaret", "Tariq", "Siobhán", "Priya", "Gareth", "Ruth",
    "Lucy", "Kwame", "Eleanor", "Martin", "Fatima", "Joanna", "Rhys", "Beatrice", "Samuel", "Imogen", "Declan",
    "Nadia", "Will", "May", "Hope", "Mark", "Rose", "Joy", "Dawn", "Faith", "Bill", "Frank", "Carol", "Łukasz",
    "Zoë", "Chidi", "Adébáyọ̀", "Aoife", "Eilidh", "Gwenllian", "Jarosław", "Søren", "Björn", "Niamh", "Oluwaseun",
    "Mei", "Hiroshi", "Anjali", "Rohan", "Yusuf", "Leila", "Ibrahim", "Catherine", "William", "Elizabeth", "Robert",
    "Patricia", "Michael", "Susan", "James", "Deborah", "Richard", "Victoria", "Andrew", "Rebecca", "Jonathan",
    "Abigail", "Kieran", "Bernadette", "Graham", "Nathaniel", "Josephine", "Christopher", "Alexandra", "Stephen",
]
MANY_LAST = [
    "Marsh", "Okoro", "Shah", "Reed", "Lin", "Treharne", "Ellery", "Hussain", "Gallagher", "Patel", "Llewellyn",
    "Okafor", "Fenwick", "Mensah", "Whitcombe", "Doyle", "Rahman", "Kowalski", "Pryce-Jones", "Achebe", "Carver",
    "Nolan", "O'Neill", "O'Shaughnessy", "McDonald", "MacLeod", "Ní Bhriain", "Mac Giolla Phádraig", "van der Merwe",
    "de la Cruz", "bin Ismail", "Sørensen", "Nowak", "Wiśniewski", "Adeyemi", "Nwosu", "Hollis-Smith", "Hall",
    "Young", "White", "Green", "Brown", "Wood", "King", "Long", "Fisher", "Baker", "Hope", "Day", "Bell", "Moss",
    "Fox", "Rose", "Stone", "Price", "Lamb", "Hill", "Ward", "Hughes", "Evans", "Jenkins", "Morgan", "Thomas",
    "Edwards", "Roberts", "Lewis", "Davies", "Owen", "Parry", "Pritchard", "Vaughan", "Kaur", "Singh", "Begum",
    "Chowdhury", "Ahmed", "Iqbal", "Malik", "Nakamura", "Tanaka", "Chen", "Wong", "Nguyen", "Kim", "Park",
    "Petrov", "Ivanova", "Horvath", "Novak", "Kovacs", "Rossi", "Bianchi", "Moreau", "Lefebvre", "Dubois",
    "Schmidt", "Müller", "Fischer", "Weber", "Becker", "Hoffmann", "Lindqvist", "Johansson", "Eriksen", "Larsen",
    "Okonkwo", "Eze", "Balogun", "Adebayo", "Boateng", "Asante", "Mwangi", "Otieno", "Kamau", "Dlamini",
    "Fitzgerald", "Fitzpatrick", "Kennedy", "Quinn", "Byrne", "Walsh", "Murphy", "Kelly", "Ryan", "Brennan",
    "Campbell", "Stewart", "Robertson", "Fraser", "Munro", "Sinclair", "Gordon", "Graham", "Hamilton", "Wallace",
    "Ashworth", "Blackwood", "Cartwright", "Dunmore", "Eastwood", "Fairbairn", "Greenhalgh", "Hargreaves",
    "Ingleby", "Kettlewell", "Longbottom", "Merriweather", "Northcott", "Oddie", "Pickering", "Quarmby",
]
TITLES = ["", "", "", "Dr ", "Prof ", "Cllr ", "Mrs ", "Mr "]


def many_people(count: int, seed: int = 0, taken: "set[str] | None" = None) -> list[str]:
    """``count`` different full names (some with a title), none in ``taken``."""
    rng = random.Random(seed)
    seen = set(taken or ())
    names: list[str] = []
    while len(names) < count:
        name = f"{rng.choice(MANY_FIRST)} {rng.choice(MANY_LAST)}"
        if name in seen:
            continue
        seen.add(name)
        names.append(rng.choice(TITLES) + name)
    return names


def generate(folder: Path, words: int = 1_000_000, seed: int = 0, pdf_share: float = 0.02, plain: bool = False,
             participants: "int | None" = None) -> dict:
    """Write a synthetic study of about ``words`` words into ``folder``; return what was written.

    About 70% of the words are interview transcripts (.txt, .vtt, .docx in turn), the rest
    board papers (.docx, and ``pdf_share`` of all words as PDF). Files are written one at a
    time, so memory does not grow with ``words``. ``plain``: text formats only (transcripts
    as .txt and .vtt, board papers as Markdown), no .docx or PDF.
    """
    folder = Path(folder)
    rng = random.Random(seed)
    (folder / "consent").mkdir(parents=True, exist_ok=True)
    (folder / "transcripts").mkdir(exist_ok=True)
    (folder / "papers").mkdir(exist_ok=True)
    n_participants = participants or max(6, min(400, words // 12_000))
    participants = []
    with (folder / "consent" / "register.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["participant_id", "name", "ics", "organisation", "org_type", "role", "consent_date",
                         "consent_interview", "consent_recording", "consent_quotes", "withdrawn_date"])
        used = set()
        for number in range(1, n_participants + 1):
            ics = rng.choice(list(ICSS))
            name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
            while name in used:
                name = f"{rng.choice(FIRST)} {rng.choice(LAST)}-{rng.choice(LAST)}"
            used.add(name)
            pid = f"P{number:03d}"
            participants.append((pid, name, ics))
            writer.writerow([pid, name, ics, rng.choice(ICSS[ics]), rng.choice(ORG_TYPES), rng.choice(ROLES),
                             f"2024-0{rng.randint(1, 3)}-{rng.randint(10, 28)}", "yes", rng.choice(["yes", "no"]),
                             rng.choice(["yes", "yes", "no"]), ""])
    manifest_handle = (folder / "manifest.csv").open("w", newline="", encoding="utf-8")
    manifest = csv.writer(manifest_handle)
    manifest.writerow(["path", "kind", "ics", "collaborative", "wave", "date", "participant_id"])
    manifest.writerow(["consent/register.csv", "consent", "", "", "", "", ""])
    written = {"transcript": 0, "board-paper": 0}
    formats: dict[str, int] = {}
    total = files = 0
    transcript_words, pdf_words = int(words * 0.7), 0 if plain else int(words * pdf_share)
    try:
        while total < words:
            number = files + 1
            if written["transcript"] < transcript_words:
                pid, name, ics = participants[(number - 1) % len(participants)]
                wave = 1 + ((number - 1) // len(participants)) % 3
                fmt = ("txt", "vtt")[number % 2] if plain else ("txt", "vtt", "docx")[number % 3]
                label = name if number % 2 else pid  # register name or ID as the speaker label
                target = min(rng.randint(3_000, 9_000), max(800, words // 12))  # small studies: several files
                path = folder / "transcripts" / f"{2023 + wave}-{pid}-w{wave}-{number}.{fmt}"
                turns = _turns(Text(rng, ics), label, min(target, words - total + 50))
                writer_fn = {"txt": _write_txt, "vtt": _write_vtt, "docx": _write_docx_transcript}[fmt]
                count = writer_fn(path, turns)
                kind, date, collab, participant = "transcript", f"{2023 + wave}-0{rng.randint(4, 9)}-{rng.randint(10, 28)}", "", pid
            else:
                ics = rng.choice(list(ICSS))
                fmt = "pdf" if pdf_words and written.get("pdf", 0) < pdf_words else "md" if plain else "docx"
                target = rng.randint(2_000, 5_000) if fmt == "docx" else rng.randint(800, 1_500)
                title = f"{ics} board meeting in public {number}"
                path = folder / "papers" / f"board-{number}.{fmt}"
                sections = _paper_sections(Text(rng, ics), min(target, words - total + 50))
                count = {"pdf": _write_pdf_paper, "md": _write_md_paper, "docx": _write_docx_paper}[fmt](path, title, sections)
                kind, date, collab, participant = "board-paper", f"202{rng.randint(4, 6)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}", rng.choice(COLLABORATIVES[ics]), ""
                wave = ""
                if fmt == "pdf":
                    written["pdf"] = written.get("pdf", 0) + count
            manifest.writerow([path.relative_to(folder).as_posix(), kind, ics, collab, wave, date, participant])
            written[kind] += count
            formats[fmt] = formats.get(fmt, 0) + 1
            total += count
            files += 1
    finally:
        manifest_handle.close()
    return {"folder": str(folder), "words": total, "files": files, "participants": n_participants,
            "transcript_words": written["transcript"], "paper_words": written["board-paper"], "formats": formats}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--words", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pdf-share", type=float, default=0.02, help="share of the words written as PDF (0 for none)")
    parser.add_argument("--plain", action="store_true", help="text formats only: .txt/.vtt transcripts, .md papers")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    info = generate(args.folder, args.words, args.seed, args.pdf_share, args.plain)
    print(f"{info['words']:,} words in {info['files']} files ({info['formats']}) for {info['participants']} participants "
          f"-> {info['folder']} in {time.perf_counter() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
