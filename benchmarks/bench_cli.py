"""Wall time of everyday CLI commands, each in a fresh process as a user runs them.

    python benchmarks/bench_cli.py                 # builds the sample study once (casestudy demo), then times
    python benchmarks/bench_cli.py --db FILE       # time against an existing working database
    python benchmarks/bench_cli.py --runs 10

Prints the best and median wall time of ``casestudy --help``, ``--version``,
``consent status`` and ``review queue`` (the target is under 0.5 s each: importing the
CLI must not import spaCy, Datasette, python-docx, pandas or sklearn; see
tests/test_cli_imports.py), plus the bare Python start-up for reference. CPU time (user + system) is printed too: on a
busy machine the wall time includes waiting for a core, the CPU time does not.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = 0.5


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wall_times(argv: list[str], runs: int, env: dict) -> tuple[list[float], list[float]]:
    """Wall and CPU (user + system) seconds of each run: CPU time stays honest on a busy machine."""
    walls, cpus = [], []
    for _ in range(runs):
        started, cpu = time.perf_counter(), child_cpu()
        subprocess.run(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        walls.append(time.perf_counter() - started)
        cpus.append(child_cpu() - cpu)
    return walls, cpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, help="A working database (default: build the sample study in a temporary folder).")
    parser.add_argument("--runs", type=int, default=7, help="Runs per command (default 7).")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: compiled modules cached (here, in a temporary folder)
    casestudy = [sys.executable, "-m", "casestudy"]
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        db = args.db
        if db is None:
            db = Path(tmp) / "casestudy.db"
            started = time.perf_counter()
            subprocess.run([*casestudy, "demo", "--db", str(db)], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, check=True)
            print(f"(sample study built in {time.perf_counter() - started:.1f} s)")
        commands = {
            "python -c pass (start-up)": [sys.executable, "-c", "pass"],
            "casestudy --help": [*casestudy, "--help"],
            "casestudy --version": [*casestudy, "--version"],
            "casestudy consent status": [*casestudy, "consent", "status", "--db", str(db)],
            "casestudy review queue": [*casestudy, "review", "queue", "--db", str(db)],
        }
        wall_times([*casestudy, "review", "queue", "--db", str(db)], 1, env)  # warm-up: compiles and caches the modules
        print(f"{'command':<30} {'wall best':>9} {'median':>7} {'CPU best':>9}   ({args.runs} runs, load average {os.getloadavg()[0]:.2f})")
        for label, argv in commands.items():
            walls, cpus = wall_times(argv, args.runs, env)
            best, median = min(walls), statistics.median(walls)
            verdict = "" if label.startswith("python") else ("  ok" if best < TARGET else f"  over {TARGET} s")
            print(f"{label:<30} {best:>8.3f}s {median:>6.3f}s {min(cpus):>8.3f}s{verdict}")


if __name__ == "__main__":
    main()
