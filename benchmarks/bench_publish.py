"""Time and memory of ``casestudy publish`` on a generated study.

    python benchmarks/bench_publish.py                          # 1M words
    python benchmarks/bench_publish.py --words 250000 --repeat 3

Generates a text-only study of N words (``benchmarks/generate_study.py``), ingests and codes
it with the CLI once (kept in ``--folder``, reused while its word count matches), then
publishes it in fresh Python processes, so each peak is that run's own: ``--repeat`` timed
runs (wall and CPU seconds, of which ``prepare_publish_db``; peak RSS) and one more under
tracemalloc (its peak: what Python itself held; tracemalloc slows the run, so it is not timed).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def worker(work: str, out: str, trace: bool) -> dict:
    """Publish ``work`` to ``out`` in this process; return the measurements."""
    from casestudy.consent import prepare, publish

    steps: dict = {}
    real = prepare.prepare_publish_db
    prepare.prepare_publish_db = lambda path, conn=None: real(path, conn=conn, timings=steps)
    if trace:
        import tracemalloc

        tracemalloc.start()
    started, cpu = time.perf_counter(), time.process_time()
    counts = publish.publish(work, out)
    result = {
        "wall": time.perf_counter() - started,
        "cpu": time.process_time() - cpu,
        "prepare": sum(w for w, _ in steps.values()),
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "load": os.getloadavg()[0],
        "counts": counts,
    }
    if trace:
        result["tracemalloc_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
    return result


def run_worker(work: Path, out: Path, trace: bool) -> dict:
    command = [sys.executable, __file__, "--worker", str(work), str(out)] + (["--trace"] if trace else [])
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if done.returncode:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def ensure_study(words: int, folder: Path) -> Path:
    """``folder/work.db``: the generated study of ``words`` words, ingested and coded (made once)."""
    from click.testing import CliRunner

    sys.path.insert(0, str(HERE))
    from generate_study import generate

    from casestudy.cli.main import cli

    work, stamp = folder / "work.db", folder / "words"
    if work.is_file() and stamp.is_file() and stamp.read_text() == str(words):
        return work
    if folder.exists():
        shutil.rmtree(folder)
    generate(folder / "study", words=words, plain=True)
    for args in (["ingest", str(folder / "study"), "--db", str(work)], ["code", "--db", str(work)]):
        result = CliRunner().invoke(cli, args, catch_exceptions=False)
        if result.exit_code:
            raise SystemExit(result.output)
    stamp.write_text(str(words))
    return work


def main(argv: "list[str] | None" = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--words", type=int, default=1_000_000, help="words of the generated study")
    parser.add_argument("--folder", type=Path, default=ROOT / "db" / "bench-publish-study",
                        help="where the study and its databases are kept")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs")
    parser.add_argument("--worker", nargs=2, metavar=("WORK", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--make-study", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(*args.worker, args.trace)))
        return 0
    if args.make_study:
        sys.path.insert(0, str(ROOT))
        ensure_study(args.words, args.folder)
        return 0
    # in its own process too: a child forked from a big parent would report the parent's peak RSS
    command = [sys.executable, __file__, "--make-study", "--words", str(args.words), "--folder", str(args.folder)]
    if subprocess.run(command, env={**os.environ, "PYTHONPATH": str(ROOT)}).returncode:
        return 1
    work = args.folder / "work.db"
    out = args.folder / "publish.db"
    for n in range(args.repeat):
        r = run_worker(work, out, trace=False)
        c = r["counts"]
        print(f"publish {n + 1}: {r['wall']:6.1f} s wall {r['cpu']:6.1f} s CPU (prepare_publish_db {r['prepare']:.1f} s wall), "
              f"peak RSS {r['rss_mb']:.0f} MB, load {r['load']:.1f}  [{c['excerpts']:,} excerpts, {c['evidence']:,} codings]")
    r = run_worker(work, out, trace=True)
    print(f"publish under tracemalloc: peak {r['tracemalloc_mb']:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
