"""How often ingest and code talk to SQLite: statements sent, by the function that sent them.

    python benchmarks/sql_calls.py                  # a generated 1M-word study (mixed formats)
    python benchmarks/sql_calls.py --words 250000
    python benchmarks/sql_calls.py --folder STUDY   # an existing study folder (with manifest.csv)

Runs ``ingest`` and then ``code`` (the shipped codebook) on a new database under cProfile,
in this process, and prints for each stage its seconds (profiled, so slower than
``bench_pipeline.py``), the number of ``execute`` and ``executemany`` calls on sqlite3
connections and cursors, the functions that made the most of them, and how many times
the pseudonym matcher was built. Few statements per row written is the aim: one prepared
``executemany`` per batch, not one ``execute`` per row.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

SQL_CALLS = ("execute", "executemany", "executescript")


def sql_calls(stats: pstats.Stats) -> tuple[dict[str, int], dict[str, int], float]:
    """(calls per sqlite3 method, calls per calling function, seconds inside them) from a profile."""
    per_method: dict[str, int] = {}
    per_caller: dict[str, int] = {}
    seconds = 0.0
    for (filename, _line, name), (_cc, calls, tt, _ct, callers) in stats.stats.items():
        if filename != "~" or not any(f"method '{m}' of 'sqlite3." in name for m in SQL_CALLS):
            continue
        method = name.split("'")[1]
        per_method[method] = per_method.get(method, 0) + calls
        seconds += tt
        for (c_file, c_line, c_name), counts in callers.items():
            where = f"{Path(c_file).parent.name}/{Path(c_file).name}:{c_line} {c_name}"
            per_caller[f"{method} <- {where}"] = per_caller.get(f"{method} <- {where}", 0) + counts[1]
    return per_method, per_caller, seconds


def function_calls(stats: pstats.Stats, suffix: str, name: str) -> int:
    return sum(v[1] for (f, _l, n), v in stats.stats.items() if f.endswith(suffix) and n == name)


def profile_stage(label: str, run) -> None:
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    result = run()
    profiler.disable()
    seconds = time.perf_counter() - started
    stats = pstats.Stats(profiler)
    per_method, per_caller, in_sqlite = sql_calls(stats)
    builds = function_calls(stats, "consent/pseudonyms.py", "build")
    print(f"\n== {label}: {seconds:.2f} s under cProfile; {result}")
    print("   SQLite calls: " + ", ".join(f"{m} {n:,}" for m, n in sorted(per_method.items())) +
          f" (total {sum(per_method.values()):,}, {in_sqlite:.2f} s inside them); pseudonyms.build called {builds}x")
    for where, n in sorted(per_caller.items(), key=lambda kv: -kv[1])[:12]:
        print(f"   {n:>8,}  {where}")


def main(argv: "list[str] | None" = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--words", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--folder", type=Path, help="an existing study folder instead of a generated one")
    args = parser.parse_args(argv)

    from casestudy import db as dblib
    from casestudy.coding import codebook as codebook_lib
    from casestudy.coding import engine as coding
    from casestudy.ingest import files as ingest

    with tempfile.TemporaryDirectory(prefix="casestudy-sqlcalls-") as tmp:
        folder = args.folder
        if folder is None:
            from generate_study import generate

            folder = Path(tmp) / "study"
            info = generate(folder, args.words, args.seed)
            print(f"generated {info.get('words', args.words):,} words in {folder}")
        db = dblib.open_db(Path(tmp) / "study.db")
        jobs = ingest.plan([folder])
        book = codebook_lib.load()
        coding.engine_for(book).match("warm up the tokenizer and matchers")
        profile_stage("ingest", lambda: ingest.ingest_jobs(db, jobs, actor="bench").summary())
        profile_stage("code", lambda: f"{coding.code_database(db, book, actor='bench').suggestions:,} suggestions")
        db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
