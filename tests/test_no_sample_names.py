"""The package names no ICS, collaborative or organisation of the sample study: those live only
in the demo's own corpus (corpus/, outside the package) and its settings (corpus/study.yaml)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import casestudy

PACKAGE = Path(casestudy.__file__).resolve().parent
CORPUS = PACKAGE.parent / "corpus"


def sample_names() -> set[str]:
    names = {"Ashmoor", "Kellbridge", "Saltmarsh", "Dunley", "Tidewater"}
    with (CORPUS / "manifest.csv").open(encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            names.update(v for v in (row["ics"], row["collaborative"]) if v)
    with (CORPUS / "consent" / "consent-register.csv").open(encoding="utf-8-sig") as handle:
        names.update(row["organisation"] for row in csv.DictReader(handle) if row["organisation"])
    cast = (PACKAGE.parent / "scripts" / "corpus_src" / "CAST.md")
    if cast.is_file():
        in_table = False
        for line in cast.read_text(encoding="utf-8").splitlines():
            if line.startswith("## "):
                in_table = line.startswith("## Provider collaboratives")
            elif in_table and line.startswith("| ") and not line.startswith("| ICS") and not line.startswith("|---"):
                names.add(line.split("|")[2].strip())
    return {n for n in names if n}


def test_the_sample_study_has_names_to_look_for():
    names = sample_names()
    assert {"Ashmoor Acute Alliance", "Kellbridge Hospitals Group", "Saltmarsh Coast Health Partnership"} <= names


def test_no_sample_study_name_in_the_package():
    pattern = re.compile(r"\b(" + "|".join(re.escape(n) for n in sorted(sample_names(), key=len, reverse=True)) + r")\b", re.I)
    found = []
    for path in sorted(PACKAGE.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            match = pattern.search(line)
            if match:
                found.append(f"{path.relative_to(PACKAGE.parent)}:{number}: {match.group(0)}")
    assert not found, "sample-study names in the package:\n" + "\n".join(found)
