"""Pipeline benchmark: ingest + code a generated study, against spaCy tokenising the same text.

    python benchmarks/bench_pipeline.py                    # 1M words: mixed formats, then text-only
    python benchmarks/bench_pipeline.py --words 250000     # smaller
    python benchmarks/bench_pipeline.py --no-trace         # skip the tracemalloc runs (they are slow)
    make benchmark

For each study (the *mixed* study of ``benchmarks/generate_study.py``: transcripts as
.txt/.vtt/.docx, board papers as .docx and 2 % of the words as PDF; and a *text-only*
study: transcripts as .txt/.vtt, board papers as .md) it generates the files on disk (file
by file, never held in memory), then in a fresh Python process (so peak memory is that
run's own):

1. ingests the study into a new database (``casestudy.ingest.files``), timing its parts: parsing
   files (per format), pseudonymising, and writing rows + the full-text index;
2. codes it with the shipped codebook (``casestudy.coding.engine.code_database``);
3. tokenises the very same excerpt texts with ``spacy.blank("en")`` through ``nlp.pipe``,
   reading them from the database the same way coding does (keyset pages of 1,000 rows):
   the baseline the issue asks for, "spaCy tokenising the same text alone".

It prints words/s per stage, the ratios (ingest + code) / tokenise and code / tokenise,
the peak RSS of the process, and (in a second process per study, because tracemalloc
slows Python down) the tracemalloc peak of ingest + code.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))


def peak_rss_mb() -> float:
    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return value / (1024 * 1024) if sys.platform == "darwin" else value / 1024


class Timers:
    """Wall time spent inside some library functions, by name (wrappers installed for the run)."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self.words: dict[str, int] = defaultdict(int)

    def wrap(self, owner, name: str, label):
        original = getattr(owner, name)

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[label(*args) if callable(label) else label] += time.perf_counter() - started

        setattr(owner, name, timed)


def worker(folder: str, db_path: str, trace: bool) -> dict:
    """Ingest + code + tokenise in this process; return the measurements."""
    import sqlite3
    import tracemalloc

    import spacy

    from casestudy.coding import codebook as codebook_lib
    from casestudy.coding import engine as coding
    from casestudy.coding import learned
    from casestudy.ingest import files as ingest
    from casestudy.consent import pseudonyms
    from casestudy.ingest import readers
    from casestudy import db as dblib

    timers = Timers()
    if not trace:
        fmt = lambda path, *rest: "parse ." + Path(path).suffix.lower().lstrip(".")  # noqa: E731
        timers.wrap(readers, "read_transcript", fmt)
        timers.wrap(readers, "read_document", fmt)
        timers.wrap(pseudonyms.Pseudonymiser, "apply", "pseudonymise")
        timers.wrap(ingest.Ingestor, "_insert_excerpts", "insert (incl. pseudonymise)")
        timers.wrap(coding.Engine, "match_doc", "match")
        timers.wrap(learned, "default_model", "learned model")

    db = dblib.open_db(db_path)
    jobs = ingest.plan([folder])
    book = codebook_lib.load()
    engine = coding.engine_for(book)  # built once per codebook, as `casestudy code` does
    engine.match("warm up the tokenizer and matchers")
    baseline_rss = peak_rss_mb()
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    report = ingest.ingest_jobs(db, jobs, actor="bench")
    t_ingest = time.perf_counter() - started
    started = time.perf_counter()
    result = coding.code_database(db, book, actor="bench")
    t_code = time.perf_counter() - started
    out = {"t_ingest": t_ingest, "t_code": t_code, "files": len(report.added), "excerpts": report.excerpts,
           "suggestions": result.suggestions, "coded_excerpts": result.excerpts}
    if trace:
        out["tracemalloc_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        return out
    db.close()

    conn = sqlite3.connect(db_path)
    out["words"] = conn.execute("SELECT sum(words) FROM sources").fetchone()[0]
    out["words_by_format"] = dict(conn.execute("SELECT format, sum(words) FROM sources GROUP BY format").fetchall())
    out["files_by_format"] = dict(conn.execute("SELECT format, count(*) FROM sources GROUP BY format").fetchall())
    out["coded_words"] = conn.execute(
        f"SELECT sum(length(e.text) - length(replace(e.text, ' ', '')) + 1) {coding.CODABLE_FROM}"
    ).fetchone()[0]

    def texts():  # the same keyset paging as coding.code_database
        last = 0
        while True:
            rows = conn.execute("SELECT id, text FROM excerpts WHERE id > ? ORDER BY id LIMIT ?", [last, coding.CHUNK]).fetchall()
            if not rows:
                return
            yield from (text for _, text in rows)
            last = rows[-1][0]

    nlp = spacy.blank("en")
    started = time.perf_counter()
    out["tokens"] = sum(len(doc) for doc in nlp.pipe(texts(), batch_size=coding.BATCH))
    out["t_tokenise"] = time.perf_counter() - started
    conn.close()
    out["rss_peak_mb"], out["rss_baseline_mb"] = peak_rss_mb(), baseline_rss
    seconds = dict(timers.seconds)
    seconds["write rows + FTS"] = seconds.pop("insert (incl. pseudonymise)", 0.0) - seconds.get("pseudonymise", 0.0)
    out["stage_seconds"] = seconds
    return out


def run_worker(folder: Path, db_path: Path, trace: bool) -> dict:
    for suffix in ("", "-wal", "-shm"):
        Path(str(db_path) + suffix).unlink(missing_ok=True)
    command = [sys.executable, __file__, "--worker", str(folder), str(db_path)] + (["--trace"] if trace else [])
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def rate(words: float, seconds: float) -> str:
    return f"{words / seconds:>12,.0f} words/s" if seconds > 0 else f"{'-':>12} words/s"


def print_report(name: str, info: dict, r: dict) -> None:
    w, tok = r["words"], r["t_tokenise"]
    both = r["t_ingest"] + r["t_code"]
    print(f"\n== {name}: {w:,} words in {r['files']} files ({info['formats']}), {r['excerpts']:,} excerpts, "
          f"{r['coded_excerpts']:,} coded ({r['coded_words']:,} words of evidence), {r['suggestions']:,} suggestions")
    print(f"  generate (not timed below) {info['seconds']:7.2f} s")
    print(f"  ingest                     {r['t_ingest']:7.2f} s {rate(w, r['t_ingest'])}")
    stages = r["stage_seconds"]
    parse_total = sum(v for k, v in stages.items() if k.startswith("parse "))
    print(f"    parse files              {parse_total:7.2f} s {rate(w, parse_total)}")
    for key in sorted(k for k in stages if k.startswith("parse ")):
        fmt = key.split(".", 1)[1]
        words = r["words_by_format"].get(fmt, 0)
        print(f"      .{fmt:<5} {r['files_by_format'].get(fmt, 0):>4} files {words:>9,} words {stages[key]:7.2f} s {rate(words, stages[key])}")
    print(f"    pseudonymise             {stages.get('pseudonymise', 0):7.2f} s {rate(w, stages.get('pseudonymise', 0))}")
    print(f"    write rows + FTS index   {stages.get('write rows + FTS', 0):7.2f} s {rate(w, stages.get('write rows + FTS', 0))}")
    rest = r["t_ingest"] - parse_total - stages.get("pseudonymise", 0) - stages.get("write rows + FTS", 0)
    print(f"    other (hashing, consent, metadata, commit) {rest:5.2f} s")
    print(f"  code                       {r['t_code']:7.2f} s {rate(w, r['t_code'])}")
    match = stages.get("match", 0)
    print(f"    matchers + scoring       {match:7.2f} s  (PhraseMatcher, token Matchers around anchors, Python scoring per hit)")
    model = stages.get("learned model", 0)
    print(f"    learned model            {model:7.2f} s  (the default model: trained, or read from the model cache "
          f"when it was trained before on this machine; CASESTUDY_MODEL_CACHE=off always trains)")
    print(f"    the rest                 {r['t_code'] - match - model:7.2f} s  (tokenizer.pipe, the learned model's "
          f"features and probabilities, paging excerpts, JSON + INSERT of suggestions)")
    print(f"  tokenise only              {tok:7.2f} s {rate(w, tok)}  (spacy.blank('en'), nlp.pipe over the same "
          f"{r['excerpts']:,} excerpt texts read from SQLite, {r['tokens']:,} tokens)")
    print(f"  ratio (ingest + code) / tokenise = {both / tok:.1f}   code / tokenise = {r['t_code'] / tok:.1f}   "
          f"ingest / tokenise = {r['t_ingest'] / tok:.1f}   (target: (ingest + code) / tokenise <= 2)")
    trace = f"; tracemalloc peak of ingest + code {r['tracemalloc_peak_mb']:.1f} MB" if "tracemalloc_peak_mb" in r else ""
    print(f"  memory: peak RSS {r['rss_peak_mb']:.0f} MB (after imports and codebook {r['rss_baseline_mb']:.0f} MB, "
          f"growth {r['rss_peak_mb'] - r['rss_baseline_mb']:.0f} MB){trace}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--words", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--studies", default="mixed,text", help="comma-separated: mixed, text")
    parser.add_argument("--no-trace", action="store_true", help="skip the tracemalloc runs")
    parser.add_argument("--json", type=Path, help="also write the measurements to this file")
    parser.add_argument("--worker", nargs=2, metavar=("FOLDER", "DB"), help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(*args.worker, trace=args.trace)))
        return 0
    from generate_study import generate

    results = {}
    with tempfile.TemporaryDirectory(prefix="casestudy-bench-") as tmp:
        for study in args.studies.split(","):
            folder = Path(tmp) / study
            started = time.perf_counter()
            info = generate(folder, args.words, args.seed, plain=study == "text")
            info["seconds"] = time.perf_counter() - started
            r = run_worker(folder, Path(tmp) / f"{study}.db", trace=False)
            if not args.no_trace:
                r["tracemalloc_peak_mb"] = run_worker(folder, Path(tmp) / f"{study}-trace.db", trace=True)["tracemalloc_peak_mb"]
            results[study] = {"study": info, **r}
            print_report({"mixed": "Mixed formats (.txt/.vtt/.docx transcripts, .docx + PDF papers)",
                          "text": "Text only (.txt/.vtt transcripts, .md papers)"}[study], info, r)
            sys.stdout.flush()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
