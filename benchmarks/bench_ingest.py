"""Ingest benchmark: a synthetic study of N words ingested into a fresh database.

    python benchmarks/bench_ingest.py                   # 250k and 1M words
    python benchmarks/bench_ingest.py --sizes 1000000   # one size

For each size it generates the study (benchmarks/generate_study.py), then, in a fresh
Python process each (so that peak memory is that run's own): ingests it, measuring wall
time, words/s, files/s, excerpts, peak RSS (``resource.getrusage().ru_maxrss``) and the
RSS growth over the process after imports; then tokenises the same excerpt texts with
``spacy.blank("en")`` for scale; and, in a second process, the ``tracemalloc`` peak of the
ingest alone (tracemalloc slows Python down, so its run is not the one timed). Ingest
streams when peak memory stays flat as the study grows.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))


def _rss_mb() -> float:
    # Linux reports ru_maxrss in KiB (macOS in bytes)
    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return value / (1024 * 1024) if sys.platform == "darwin" else value / 1024


def worker(folder: str, db_path: str, trace: bool) -> dict:
    """Ingest ``folder`` into ``db_path`` in this process; return the measurements."""
    import sqlite3
    import tracemalloc

    from casestudy import db as dblib
    from casestudy import ingest

    db = dblib.open_db(db_path)
    jobs = ingest.plan([folder])  # warm the imports used by planning (pandas) before measuring
    baseline = _rss_mb()
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    report = ingest.ingest_jobs(db, jobs)
    elapsed = time.perf_counter() - started
    result = {"seconds": elapsed, "excerpts": report.excerpts, "files": len(report.added),
              "rss_peak_mb": _rss_mb(), "rss_baseline_mb": baseline}
    if trace:
        result["tracemalloc_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        return result
    conn = sqlite3.connect(db_path)
    result["words"] = conn.execute("SELECT sum(words) FROM sources").fetchone()[0]
    texts = [row[0] for row in conn.execute("SELECT text FROM excerpts")]
    conn.close()
    import spacy

    nlp = spacy.blank("en")
    started = time.perf_counter()
    tokens = sum(len(doc) for doc in nlp.pipe(texts, batch_size=1000))
    result["spacy_seconds"] = time.perf_counter() - started
    result["spacy_tokens"] = tokens
    return result


def _run_worker(folder: Path, db_path: Path, trace: bool) -> dict:
    if db_path.exists():
        db_path.unlink()
    command = [sys.executable, __file__, "--worker", str(folder), str(db_path)] + (["--trace"] if trace else [])
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def bench(words: int, seed: int, workdir: Path) -> dict:
    from generate_study import generate

    folder = workdir / f"study-{words}"
    started = time.perf_counter()
    info = generate(folder, words, seed)
    generated = time.perf_counter() - started
    timed = _run_worker(folder, workdir / f"bench-{words}.db", trace=False)
    traced = _run_worker(folder, workdir / f"trace-{words}.db", trace=True)
    shutil.rmtree(folder)
    return {**timed, "tracemalloc_peak_mb": traced["tracemalloc_peak_mb"], "generated_seconds": generated,
            "generated_files": info["files"], "formats": info["formats"]}


def report(words: int, r: dict) -> str:
    return (
        f"{words:>9,} words target: {r['words']:,} words, {r['files']} files, {r['excerpts']:,} excerpts ingested in "
        f"{r['seconds']:.1f}s = {r['words'] / r['seconds']:,.0f} words/s, {r['files'] / r['seconds']:.1f} files/s\n"
        f"{'':>10} peak RSS {r['rss_peak_mb']:.0f} MB (after imports {r['rss_baseline_mb']:.0f} MB, "
        f"growth {r['rss_peak_mb'] - r['rss_baseline_mb']:.0f} MB); tracemalloc peak {r['tracemalloc_peak_mb']:.1f} MB\n"
        f"{'':>10} spaCy blank('en') tokenising the same {r['spacy_tokens']:,} tokens: {r['spacy_seconds']:.1f}s "
        f"(ingest takes {r['seconds'] / r['spacy_seconds']:.1f}x the tokeniser's time); "
        f"generating the study took {r['generated_seconds']:.1f}s ({r['formats']})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="250000,1000000", help="comma-separated word counts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker", nargs=2, metavar=("FOLDER", "DB"), help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(*args.worker, trace=args.trace)))
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    results = {}
    with tempfile.TemporaryDirectory(prefix="casestudy-bench-") as tmp:
        for words in sizes:
            results[words] = bench(words, args.seed, Path(tmp))
            print(report(words, results[words]), flush=True)
    if len(sizes) > 1:
        small, large = results[min(sizes)], results[max(sizes)]
        growth = (large["rss_peak_mb"] - large["rss_baseline_mb"]) - (small["rss_peak_mb"] - small["rss_baseline_mb"])
        print(f"Streaming check: {max(sizes) // min(sizes)}x the words -> tracemalloc peak "
              f"{small['tracemalloc_peak_mb']:.1f} -> {large['tracemalloc_peak_mb']:.1f} MB, RSS growth differs by {growth:+.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
