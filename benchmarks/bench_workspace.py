"""How fast is the coding workspace on a big study?

Generates a study of N words (``generate_study.py``, default 1 M), ingests and codes it (cached
in the output folder), adds one 10,000-word interview, then runs a real ``casestudy workspace``
server (uvicorn, real HTTP) and times, as a logged-in researcher:

* the document page of the 10,000-word transcript (target < 300 ms),
* each accept, reject and add round trip (POST, decision written, excerpt re-rendered; target < 100 ms).

    .venv/bin/python benchmarks/bench_workspace.py [--words 1000000] [--out db/bench-workspace] [--rounds 30]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import generate_study  # noqa: E402
from workspace_server import Client, start, stop  # noqa: E402

from casestudy import db as dblib  # noqa: E402

LONG_WORDS = 10_000


def run(*args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "casestudy", *args], cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"casestudy {' '.join(args)} failed: {result.stderr.strip()}")


def build(out: Path, words: int) -> Path:
    """The working database of a generated study, ingested and coded (reused when present)."""
    db_path = out / "work.db"
    if db_path.exists():
        return db_path
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    generate_study.generate(out / "study", words=words, seed=1, plain=True)
    run("ingest", str(out / "study"), "--db", str(db_path), "--coder", "bench")
    add_long_transcript(out, db_path)
    run("code", "--db", str(db_path), "--coder", "bench")
    print(f"built {db_path} in {time.perf_counter() - started:.0f} s")
    return db_path


def add_long_transcript(out: Path, db_path: Path) -> None:
    """One 10,000-word interview of a consented participant, made of the study's own turns."""
    db = dblib.open_db(db_path)
    pid, source_id = db.execute(
        """SELECT s.participant_id, s.id FROM sources s JOIN consents c ON c.participant_id = s.participant_id
           WHERE s.kind = 'transcript' AND c.interview = 1 AND c.withdrawn_date IS NULL ORDER BY s.words DESC LIMIT 1"""
    ).fetchone()
    answers = [r[0] for r in db.execute(
        "SELECT text FROM excerpts WHERE is_interviewer = 0 AND participant_id = ? ORDER BY id", [pid])]
    questions = [r[0] for r in db.execute("SELECT text FROM excerpts WHERE is_interviewer = 1 LIMIT 200")]
    db.close()
    lines, count, rng = [], 0, random.Random(3)
    while count < LONG_WORDS:
        q, a = rng.choice(questions), rng.choice(answers)
        lines += [f"Interviewer: {q}", "", f"{pid}: {a}", ""]
        count += len(q.split()) + len(a.split())
    path = out / f"long-interview-{pid}.txt"
    path.write_text("\n".join(lines), encoding="utf-8")
    run("ingest", str(path), "--kind", "transcript", "--participant", pid, "--wave", "3", "--date", "2026-03-02",
        "--title", "Long interview (benchmark)", "--db", str(db_path), "--coder", "bench")


SERVER_PID = 0


def server_cpu_ms() -> float:
    """CPU time the server process has used so far (user + system), from /proc: a figure a
    busy shared machine distorts far less than wall time."""
    try:
        fields = Path(f"/proc/{SERVER_PID}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def timed(function, rounds: int) -> tuple[list[float], float]:
    times = []
    cpu = server_cpu_ms()
    for _ in range(rounds):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    return times, (server_cpu_ms() - cpu) / rounds


def report(label: str, measured: tuple[list[float], float], target: float) -> bool:
    times, cpu = measured
    median, worst = statistics.median(times), max(times)
    p90 = sorted(times)[int(0.9 * (len(times) - 1))]
    ok = p90 < target
    print(f"{label:<32} wall: median {median:6.1f} ms  p90 {p90:6.1f} ms  max {worst:6.1f} ms   "
          f"server CPU {cpu:5.1f} ms/request   target < {target:.0f} ms: {'ok' if ok else 'SLOW'}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=ROOT / "db" / "bench-workspace")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args(argv)
    db_path = build(args.out, args.words)
    db = dblib.open_db(db_path)
    total_words = db.execute("SELECT sum(words) FROM sources").fetchone()[0]
    source_id, words = db.execute(
        "SELECT id, words FROM sources WHERE title = 'Long interview (benchmark)'").fetchone()
    excerpts = db.execute("SELECT count(*) FROM excerpts").fetchone()[0]
    codings = db.execute("SELECT count(*) FROM codings").fetchone()[0]
    db.close()
    print(f"study: {total_words:,} words, {excerpts:,} excerpts, {codings:,} codings; transcript {source_id}: {words:,} words")
    global SERVER_PID
    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} cores, load average {load:.1f}" + (" (busy: wall times are inflated)" if load > os.cpu_count() else ""))
    process, base = start(db_path)
    SERVER_PID = process.pid
    try:
        client = Client(base, f"bench-{int(time.time())}")  # a new researcher each run: adds never collide
        page = client.get(f"/source/{source_id}")
        assert page.status_code == 200, page.text[:300]
        print(f"document page: {len(page.content) / 1024:.0f} KiB, {page.text.count('<article')} turns")
        ok = report("transcript page (10,000 words)", timed(lambda: client.get(f"/source/{source_id}"), args.rounds), 300)
        suggestions = [int(x) for x in re.findall(r'ws-suggested" data-coding="(\d+)"', page.text)]
        excerpt_ids = [int(x) for x in re.findall(r'id="e(\d+)" data-id="\d+" data-codable="1"', page.text)]
        need = 2 * args.rounds
        if len(suggestions) < need or len(excerpt_ids) < args.rounds:
            raise SystemExit(f"the transcript has {len(suggestions)} suggestions; need {need}")
        accept, reject = iter(suggestions[: args.rounds]), iter(suggestions[args.rounds: need])
        adds = iter(excerpt_ids[: args.rounds])

        def act(path, **data):
            response = client.act(path, **data)
            assert response.status_code == 200, response.text[:300]

        ok &= report("accept round trip", timed(lambda: act("/api/decide", coding_id=next(accept), decision="accept"), args.rounds), 100)
        ok &= report("reject round trip", timed(lambda: act("/api/decide", coding_id=next(reject), decision="reject"), args.rounds), 100)
        ok &= report("add (type-ahead) round trip", timed(
            lambda: act("/api/add", excerpt_id=next(adds), code_id="RQ6.workforce"), args.rounds), 100)
        ok &= report("undo round trip", timed(lambda: act("/api/undo"), min(args.rounds, 20)), 100)
        ok &= report("sources list", timed(lambda: client.get("/"), 10), 1000)
        ok &= report("agreement page", timed(lambda: client.get("/agreement"), 5), 1000)
    finally:
        stop(process)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
