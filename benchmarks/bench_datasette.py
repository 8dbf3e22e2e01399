"""How fast is Datasette on a big publish database?

Builds (once, cached in the output folder as ``<out>.raw``) a publish-shaped database with 1 M
evidence rows (synthetic: three ICSs, three waves, 6 RQs × 8 themes, ~330 k excerpts), copies it
and prepares the copy exactly as ``casestudy publish`` does
(``casestudy.consent.prepare.prepare_publish_db``, timed step by step), then times the evidence
pages (unfiltered, filtered the ways the team filters them, searched) and each canned query
through Datasette's own ASGI client: the median of ``--repeat`` visits of a fresh server.
Targets: every page < 500 ms; prepare_publish_db about linear in the rows
(``--scale 250000,500000`` also prepares smaller copies and prints seconds per 100 k rows).

It prints figures, not pass/fail: the machine's load average is printed with them.

    .venv/bin/python benchmarks/bench_datasette.py [--rows 1000000] [--out db/bench-publish.db] [--rebuild]
        [--scale 250000,500000] [--repeat 3] [--study-words 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import random
import sqlite3
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from publish_fixture import create_schema  # noqa: E402  (the publish contract's shape)

from casestudy.browse import serve  # noqa: E402

ICS = {
    "Ashmoor": ["Ashmoor Acute Alliance", "Ashmoor MHLDA Collaborative"],
    "Kellbridge": ["Kellbridge Hospitals Group", "Kellbridge Community Provider Collaborative"],
    "Saltmarsh Coast": ["Saltmarsh Coast Health Partnership", "Saltmarsh Coast MHLDA Collaborative"],
}
KINDS = ["transcript", "transcript", "transcript", "board-paper", "policy", "observation"]
ORG_TYPES = ["ICB", "acute trust", "mental health trust", "community trust", "local authority", "VCSE", "primary care", "independent sector"]
WORDS = (
    "collaborative board trust members governance accountability contract lead provider delegated budget "
    "committee common joint waiting lists quality efficiency sustainability scale resilience variation "
    "clinical pathway workforce plan strategy system partnership community acute mental health council "
    "voluntary sector savings outcomes placements procurement risk assurance decision"
).split()
COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]


def build(path: Path, rows: int, seed: int = 7) -> None:
    rnd = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    create_schema(conn)
    codes = []
    for r in range(1, 7):
        codes.append((f"RQ{r}", f"RQ{r}", None, f"RQ{r} research question {r}", COLOURS[r - 1], r * 100))
        for t in range(1, 9):
            codes.append((f"RQ{r}.{t}", f"RQ{r}", f"RQ{r}", f"Theme {r}.{t}", COLOURS[r - 1], r * 100 + t))
    conn.executemany(
        "INSERT INTO codes VALUES (?,?,?,?,'','','','',?,1,?)",
        [(c[0], c[1], c[2], c[3], c[4], c[5]) for c in codes],
    )
    themes = [c for c in codes if c[2]]
    n_sources = max(10, rows // 330)
    sources = []
    for sid in range(1, n_sources + 1):
        ics = rnd.choice(list(ICS))
        wave = rnd.randint(1, 3)
        kind = rnd.choice(KINDS)
        pid = f"P{rnd.randint(1, 60):02d}" if kind == "transcript" else None
        date = f"{2023 + wave}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}"
        sources.append((sid, kind, "txt", f"{kind} {sid}", ics, rnd.choice(ICS[ics]), wave, date, 5, 4000, pid, 0))
    conn.executemany("INSERT INTO sources VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", sources)
    participants = {}
    for s in sources:
        if s[10]:
            participants.setdefault(s[10], (s[10], "Director", rnd.choice(ORG_TYPES), s[4], "1,2,3", 0))
    conn.executemany("INSERT INTO participants VALUES (?,?,?,?,?,?)", participants.values())

    def evidence_rows():
        coding_id = 0
        excerpt_id = 0
        while coding_id < rows:
            s = sources[rnd.randrange(n_sources)]
            excerpt_id += 1
            words = [rnd.choice(WORDS) for _ in range(rnd.randint(12, 40))]
            text = " ".join(words)
            participant = participants.get(s[10]) if s[10] else None
            for code in rnd.sample(themes, rnd.choice((1, 2, 3, 3, 4, 5))):
                coding_id += 1
                if coding_id > rows:
                    return
                term = rnd.choice(words)
                start = text.index(term)
                yield (
                    coding_id, excerpt_id, text, code[1], code[3], code[0],
                    "suggested" if rnd.random() < 0.8 else "accepted", "auto:bench",
                    json.dumps([term]), json.dumps([[start, start + len(term)]]), round(rnd.random(), 3),
                    s[0], s[1], s[3], s[4], s[5], s[6], s[7], None, None, excerpt_id % 40,
                    "participant" if participant else None, s[10],
                    participant[1] if participant else None, participant[2] if participant else None, 1, code[4],
                )

    conn.executemany(f"INSERT INTO evidence VALUES ({','.join('?' * 27)})", evidence_rows())
    conn.execute(
        """INSERT INTO excerpts (id, source_id, seq, text, speaker_role, participant_id, turn, quotable)
           SELECT excerpt_id, source_id, excerpt_id, text, speaker_role, participant_id, turn, 1
           FROM evidence GROUP BY excerpt_id"""
    )
    conn.execute(
        """INSERT INTO framework SELECT rq, code_id, code, ics, wave, count(DISTINCT excerpt_id),
           count(DISTINCT participant_id), count(DISTINCT source_id) FROM evidence GROUP BY code_id, ics, wave"""
    )
    conn.executemany("INSERT INTO consent_summary VALUES (?,?)", [("participants", len(participants)), ("withdrawn", 1)])
    conn.execute("INSERT INTO publish_info VALUES ('built_at', 'bench')")
    conn.execute("INSERT INTO evidence_fts(evidence_fts) VALUES ('rebuild')")
    conn.execute("INSERT INTO excerpts_fts(excerpts_fts) VALUES ('rebuild')")
    conn.commit()
    conn.close()


EXCERPT_PAGES = [
    ("excerpt evidence, every facet", ""),
    ("excerpt evidence, wave=2", "wave=2"),
    ("excerpt evidence, ics=Kellbridge", "ics=Kellbridge"),
    ("excerpt evidence, status=suggested", "status=suggested"),
    ("excerpt evidence, source_kind=policy", "source_kind=policy"),
    ("excerpt evidence, one RQ", "rqs__arraycontains=RQ3"),
    ("excerpt evidence, one code", "codes__arraycontains=RQ3.2"),
    ("excerpt evidence, a matrix cell (RQ, ICS, wave)", "rqs__arraycontains=RQ3&ics=Kellbridge&wave=2"),
    ("excerpt evidence, a code in an ICS and wave", "codes__arraycontains=RQ3.2&ics=Kellbridge&wave=2"),
    ("excerpt evidence, two codes (co-occurrence)", "codes__arraycontains=RQ3.2&codes__arraycontains=RQ4.1&ics=Kellbridge&wave=2"),
    ("excerpt evidence, wave=1 & status=suggested", "wave=1&status=suggested"),
    ("excerpt evidence, one RQ & status=accepted", "rqs__arraycontains=RQ3&status=accepted"),
    ("excerpt evidence, national (ics is null) & wave=2", "ics__isnull=1&wave=2"),
    ("excerpt evidence, one RQ, a later page", "rqs__arraycontains=RQ3&_next=2000%2C2000"),  # as its "next" link
    ("excerpt evidence, prefix search", "_search=delegat*"),
    ("excerpt evidence, phrase + ics", "_search=%22lead+provider%22&ics=Kellbridge"),
]


async def measure(path: Path, repeat: int) -> list[tuple[str, float, int]]:
    ds = serve.build_datasette(path)
    await ds.invoke_startup()
    name = serve.DB_NAME
    base = f"/{name}"
    pages = [("evidence page, every facet", f"{base}/evidence"),
             ("evidence, rq=RQ3 & ics=Kellbridge", f"{base}/evidence?rq=RQ3&ics=Kellbridge"),
             ("evidence, wave=2", f"{base}/evidence?wave=2"),
             ("evidence, code='Theme 3.2'", f"{base}/evidence?code=Theme+3.2"),
             ("evidence, search phrase \"lead provider\"", f"{base}/evidence?_search=%22lead+provider%22"),
             ("evidence, search phrase + ics=Kellbridge", f"{base}/evidence?_search=%22lead+provider%22&ics=Kellbridge")]
    pages += [(label, f"{base}/excerpt_evidence" + (f"?{query}" if query else "")) for label, query in EXCERPT_PAGES]
    samples = serve.CANNED_EXAMPLES
    for query in serve.canned_queries(path):
        args = samples.get(query, "")
        pages.append((f"canned query {query}", f"{base}/{query}{'?' + args if args else ''}"))
    await ds.client.get(f"{base}/excerpt_evidence?_size=1")  # Datasette's start-up work (table counts) is not a page
    results = []
    for label, url in pages:
        times = []
        status = 0
        for _ in range(repeat):
            start = time.perf_counter()
            response = await ds.client.get(url)
            times.append((time.perf_counter() - start) * 1000)
            status = response.status_code
        results.append((label + f"  [{url}]", statistics.median(times), status))
    return results


def prepare_copy(raw: Path, out: Path) -> tuple[float, float, dict]:
    """Copy the unprepared database to ``out`` and prepare it as publish does: (wall s, CPU s, by step)."""
    for suffix in ("", "-journal", "-wal", "-shm"):
        Path(f"{out}{suffix}").unlink(missing_ok=True)
    shutil.copy(raw, out)
    steps: dict[str, tuple[float, float]] = {}
    start, cpu = time.perf_counter(), time.process_time()
    serve.prepare_publish_db(out, timings=steps)
    return time.perf_counter() - start, time.process_time() - cpu, steps


def raw_database(out: Path, rows: int, rebuild: bool) -> Path:
    """The unprepared benchmark database of ``rows`` evidence rows (built once, then reused)."""
    raw = out.with_name(f"{out.stem}-{rows}.raw.db")
    if rebuild or not raw.exists():
        start = time.perf_counter()
        build(raw, rows)
        print(f"built {rows:,} evidence rows in {time.perf_counter() - start:.1f} s: {raw}")
    return raw


def publish_study(words: int, folder: Path) -> None:
    """Generate a study of ``words`` words (benchmarks/generate_study.py, text formats), ingest and code it
    with the CLI, then time ``casestudy publish``: building the consent-safe file, and preparing it."""
    from click.testing import CliRunner

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from generate_study import generate

    from casestudy.cli.main import cli
    from casestudy.consent import prepare, publish

    if folder.exists():
        shutil.rmtree(folder)
    generate(folder / "study", words=words, plain=True)
    work = folder / "work.db"
    for args in (["ingest", str(folder / "study"), "--db", str(work)], ["code", "--db", str(work)]):
        result = CliRunner().invoke(cli, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
    steps: dict = {}
    real = prepare.prepare_publish_db
    publish_prepare = lambda path, conn=None: real(path, conn=conn, timings=steps)  # noqa: E731
    prepare.prepare_publish_db = publish_prepare
    try:
        start, cpu = time.perf_counter(), time.process_time()
        counts = publish.publish(work, folder / "publish.db")
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    finally:
        prepare.prepare_publish_db = real
    prepared = sum(w for w, _ in steps.values())
    print(f"publish, {words:,}-word study ({counts['excerpts']:,} excerpts, {counts['evidence']:,} codings): "
          f"{wall:.1f} s wall, {cpu:.1f} s CPU, of which prepare_publish_db {prepared:.1f} s  [{load()}]")
    for step, (w, c) in sorted(steps.items(), key=lambda kv: -kv[1][1])[:6]:
        print(f"    {w:7.1f} s wall {c:7.1f} s CPU  {step}")


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" on {os.cpu_count()} CPUs"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="evidence rows of the synthetic publish database (0: none)")
    parser.add_argument("--out", type=Path, default=ROOT / "db" / "bench-publish.db")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scale", default="", help="also prepare these smaller sizes (comma-separated row counts)")
    parser.add_argument("--study-words", type=int, default=0,
                        help="also generate a study of this many words, ingest, code and time its publish")
    args = parser.parse_args(argv)
    print(load())
    if args.study_words:
        publish_study(args.study_words, args.out.with_name(f"{args.out.stem}-study"))
    if not args.rows:  # --rows 0: the study's publish only
        return 0
    sizes = sorted({int(n) for n in args.scale.split(",") if n.strip()} | {args.rows})
    per_rows = {}
    for rows in sizes:
        raw = raw_database(args.out, rows, args.rebuild)
        target = args.out if rows == args.rows else args.out.with_name(f"{args.out.stem}-{rows}.db")
        seconds, cpu, steps = prepare_copy(raw, target)
        per_rows[rows] = cpu
        print(f"prepare_publish_db, {rows:,} rows: {seconds:.1f} s wall, {cpu:.1f} s CPU "
              f"({cpu / rows * 100_000:.2f} CPU s per 100k rows)  [{load()}]")
        for step, (wall, step_cpu) in sorted(steps.items(), key=lambda kv: -kv[1][1]):
            print(f"    {wall:7.1f} s wall {step_cpu:7.1f} s CPU  {step}")
        if target != args.out:
            target.unlink(missing_ok=True)
    if len(per_rows) > 1:
        small, big = min(per_rows), max(per_rows)
        print(f"prepare CPU time ratio {big:,} / {small:,} rows: {per_rows[big] / per_rows[small]:.2f} "
              f"(linear: {big / small:.2f})")
    results = asyncio.run(measure(args.out, args.repeat))
    worst = 0.0
    for label, ms, status in results:
        flag = "" if ms < 500 and status == 200 else "  <-- over target" if status == 200 else f"  <-- HTTP {status}"
        print(f"{ms:8.1f} ms  {ms / 500:5.2f}× target  {label}{flag}")
        worst = max(worst, ms)
    print(f"slowest: {worst:.1f} ms (target < 500 ms, median of {args.repeat}; {load()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
