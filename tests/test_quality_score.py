"""benchmarks/quality.py --score FILE: the default model and the patterns on a labelled file of
one's own (never trained on), and a one-line error for every bad file."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

import quality  # noqa: E402

OWN = """\
excerpts:
- id: a1
  kind: spoken
  rqs: [RQ4]
  text: >-
    The money still goes to each trust on its own block, and then we argue about who pays for
    the shared theatre lists. Nobody has signed anything that moves budget between us yet.
- id: a2
  kind: spoken
  rqs: [RQ2]
  text: >-
    The hospice and the community trust joined last spring; the GP federation sits in as an
    observer but hasn't got a vote, and the council said it would rather stay outside for now.
- id: a3
  kind: prose
  rqs: []
  text: >-
    The meeting closed at four. Refreshments were provided by the catering team and the next
    session will be held in the main hall.
- id: a4
  kind: prose
  rqs: [RQ5, RQ6]
  text: >-
    Waiting times for cataract surgery have fallen from forty weeks to eighteen since the
    collaborative took over the ICB's elective recovery plan for the three places.
"""


def _run(*args):
    return subprocess.run([sys.executable, str(REPO / "benchmarks" / "quality.py"), *args],
                          capture_output=True, text=True, timeout=300)


def test_score_file_reports_the_whole_file_and_each_kind(tmp_path):
    path = tmp_path / "own.yaml"
    path.write_text(OWN, encoding="utf-8")
    bench = quality.Bench()
    result = quality.score_file(bench, path)
    assert set(result) == {"own (all)", "own prose", "own spoken"}
    assert result["own (all)"]["combined"]["n"] == 4 and result["own spoken"]["model"]["n"] == 2
    items = quality.load_scored(path)
    # the patterns' figures are the codebook engine's on these excerpts, nothing else
    assert result["own (all)"]["patterns"]["macro_f1"] == quality.scores(items, bench.predict(None, items))["macro_f1"]
    assert result["own (all)"]["combined"]["label_rate"] == pytest.approx(4 / 3)
    # and the file was never trained on: no shipped excerpt carries its text
    shipped = {" ".join(i["text"].split()) for i in quality.labelled_sets_pool()}
    assert not shipped & {" ".join(i["text"].split()) for i in items}


def test_score_command_prints_the_table(tmp_path):
    path = tmp_path / "own.yaml"
    path.write_text(OWN, encoding="utf-8")
    done = _run("--score", str(path))
    assert done.returncode == 0, done.stderr
    assert "own (all)" in done.stdout and "combined" in done.stdout and "own spoken" in done.stdout


@pytest.mark.parametrize("content, problem", [
    (None, "cannot read it"),
    ("excerpts: [\n  - text: 'unclosed", "not valid YAML at line"),
    ("title: no excerpts here\n", "no 'excerpts' list"),
    ("excerpts:\n- id: b1\n  text: some words\n", "needs 'text' (a string) and 'rqs' (a list)"),
    ("excerpts:\n- id: b1\n  rqs: [RQ7]\n  text: some words\n", "unknown research questions ['RQ7']"),
])
def test_bad_files_get_one_line_naming_the_file(tmp_path, capsys, content, problem):
    path = tmp_path / "bad.yaml"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    assert quality.main(["--score", str(path)]) == 1  # in this process: an exception would fail the test
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and problem in lines[0], err
    assert not out


def test_a_bad_file_from_the_command_line_is_one_line_and_exit_1(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("title: no excerpts here\n", encoding="utf-8")
    done = _run("--score", str(path))
    assert done.returncode == 1 and "Traceback" not in done.stderr and not done.stdout
    assert done.stderr.strip() == f"Error: {path}: no 'excerpts' list"
