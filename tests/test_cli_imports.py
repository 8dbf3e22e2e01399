"""`casestudy --help` and the everyday commands stay fast: the CLI imports no heavy library.

Each check runs in a fresh Python (the test process has long since imported everything)
and lists which heavy top-level packages the commands loaded. Timing is not asserted
here (the machine may be busy); benchmarks/bench_cli.py prints the wall times.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ["spacy", "thinc", "datasette", "docx", "pandas", "numpy", "sklearn", "pdfplumber", "pdfminer", "pypdfium2", "openpyxl", "fpdf"]

PROBE = """
import json, sys
from casestudy.cli.main import cli
for args in json.loads(sys.argv[1]):
    try:
        cli(args, standalone_mode=False)
    except SystemExit:
        pass
heavy = json.loads(sys.argv[2])
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules} & set(heavy))))
"""


def heavy_modules_after(*commands: list[str]) -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(list(commands)), json.dumps(HEAVY)],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_the_cli_loads_no_heavy_library():
    assert heavy_modules_after() == []


def test_help_and_version_load_no_heavy_library():
    assert heavy_modules_after(["--help"], ["--version"], ["review", "--help"], ["export", "--help"]) == []


def test_consent_status_and_review_queue_load_no_heavy_library(db_path):
    db = str(db_path)
    assert heavy_modules_after(["consent", "status", "--db", db], ["review", "queue", "--db", db]) == []


def test_the_probe_does_see_a_heavy_import(db_path):
    """The check can fail: a command that needs spaCy shows it."""
    assert "spacy" in heavy_modules_after(["code", "--db", str(db_path)])
