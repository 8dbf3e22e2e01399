"""Disclosure control: speakers naming their own post are generalised or flagged before publication,
by rules a researcher can read and extend (casestudy/consent/disclosure.yaml + db/disclosure.yaml)."""

from __future__ import annotations

import sqlite3

import pytest
from click.testing import CliRunner

import consent_study as cs
from casestudy.cli.main import cli
from casestudy.consent import disclosure, publish
from casestudy.errors import CasestudyError


@pytest.fixture(scope="module")
def rules():
    return disclosure.Rules.load()


@pytest.mark.parametrize("text, role, expected", [
    ("Same title. I'm still Programme Director for the Acute Alliance, still hosted by the trust.",
     "Programme Director, Acute Alliance", "Same title. I'm still [own post withheld], still hosted by the trust."),
    ("Yes. I'm Director of Strategy at the ICB, so I see both sides.", None, "Yes. I'm [own post withheld], so I see both sides."),
    ("I'm still Chief Executive of Brightwell Care and always will be.", None, "I'm still [own post withheld] and always will be."),
    ("In my role as Chair of the Partnership Board I asked.", None, "In my role as [own post withheld] I asked."),
    ("I am the Senior Responsible Owner for Elective Recovery here.", "Senior Responsible Owner", "I am the [own post withheld] here."),
])
def test_own_post_is_generalised(rules, text, role, expected):
    new, spans, found = rules.apply(text, role)
    assert new == expected
    assert found and all(f.action == "generalise" for f in found)
    start, end, new_start, new_end = spans[0]
    assert new[new_start:new_end] == "[own post withheld]"
    assert disclosure.map_offset(end + 1, [[], spans]) == new_end + 1  # offsets after the phrase move with it


@pytest.mark.parametrize("text", [
    "I'm the chair.",  # a post without an organisation does not identify
    "I'm not sure the Chief Executive of the ICB agrees.",  # someone else's post
    "We asked the Director of Finance at Ashmoor.",
    "I'm worried about the board of Ashmoor.",
])
def test_ordinary_speech_is_left_alone(rules, text):
    new, spans, found = rules.apply(text, "Chief Executive")
    assert new == text and spans == [] and [f for f in found if f.action == "generalise"] == []


def test_as_title_of_is_flagged_not_changed(rules):
    text = "Speaking as Chief Executive of Brightwell Care, I had to say no."
    new, spans, found = rules.apply(text)
    assert new == text and spans == []
    assert [(f.action, f.phrase) for f in found] == [("flag", "as Chief Executive of Brightwell Care")]


def test_a_study_adds_rules_beside_its_working_database(withdrawn_study, tmp_path):
    (withdrawn_study.parent / "disclosure.yaml").write_text(
        "titles: []\nrules:\n  - name: the word 'budget'\n    pattern: '\\b(?P<post>[Bb]udgets?)\\b'\n"
        "    action: generalise\n    replacement: '[money]'\n", encoding="utf-8")
    out = tmp_path / "pub.db"
    publish.publish(withdrawn_study, out)
    conn = sqlite3.connect(out)
    try:
        found = conn.execute("SELECT count(*) FROM disclosure WHERE rule = 'the word ''budget'''").fetchone()[0]
        participant = conn.execute("SELECT count(*) FROM excerpts WHERE speaker_role = 'participant' "
                                   "AND text LIKE '%[money]%'").fetchone()[0]
        documents = conn.execute("SELECT count(*) FROM excerpts WHERE speaker_role IS NOT 'participant' "
                                 "AND text LIKE '%[money]%'").fetchone()[0]
        left = conn.execute("SELECT count(*) FROM excerpts WHERE speaker_role = 'participant' AND quotable = 1 "
                            "AND (text LIKE '% budget %' OR text LIKE '% budgets %')").fetchone()[0]
    finally:
        conn.close()
    assert found >= participant > 0 and documents == 0 and left == 0


def test_a_bad_rules_file_is_one_line_and_changes_nothing(withdrawn_study, tmp_path):
    rules_file = withdrawn_study.parent / "disclosure.yaml"
    out = tmp_path / "pub.db"
    for content, problem in (("rules: [", "cannot read the disclosure rules"),
                             ("rules:\n  - name: x\n    pattern: '(unclosed'\n", "bad pattern"),
                             ("rules:\n  - name: x\n    pattern: 'y'\n    action: erase\n", "action must be one of")):
        rules_file.write_text(content, encoding="utf-8")
        with pytest.raises(CasestudyError, match=problem):
            disclosure.Rules.load(rules_file)
        result = CliRunner().invoke(cli, ["publish", str(out), "--db", str(withdrawn_study)])
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1 and str(rules_file) in result.output and problem in result.output
        assert not out.exists()


@pytest.fixture
def withdrawn_study(tmp_path):
    return cs.build(tmp_path / "study-db")
