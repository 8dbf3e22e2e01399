"""casestudy.ingest.textshape: table rows, agenda lines and researcher memos told from prose."""

from __future__ import annotations

import pytest

from casestudy.ingest.textshape import (
    has_observer_memo,
    is_quotable_prose,
    looks_like_agenda_line,
    looks_like_particulars,
    looks_like_table,
    number_runs,
    strip_observer_memos,
)

PROSE = [
    "We pooled the rotas in 2024 and by the spring the waits had come down, which nobody expected.",
    "Honestly, the money is the easy part; it is who signs the decision that keeps me up at night.",
    "The Board is asked to approve the delegation of the community budget from April 2025.",
    "Between 2023 and 2025 we brought 39 people back into local care, and 17 are still out of area.",
    "There were 12, 14 and then 16 referrals a week.",
    "Under the section 75 agreement the council puts in £38.4m and the trusts match it.",
    "[P04] said the committee meets monthly, and [the ICB chair] attends twice a year.",
    "Item by item, the agenda felt like a list of things nobody could change.",
    "",
]

TABLES = [
    "Service | Arrangement | 2024/25 | 2025/26",  # header row with pipes
    "Adult secure beds | Lead-provider contract | £47.6m | £50.2m",
    "Overspend above £2.0m | Subject to review",  # one pipe, no sentence
    "Referrals\tSeen\tWaiting",  # tab-separated
    "Outpatient waiting list 51,200 48,900 45,000",  # label and a run of three figures
    "Long waits 3 0",  # short label with two figures
    "Bed days lost 1,200 900 Improving Ambulance handovers 40% 55% Worsening",  # two flattened rows
    "2024/25 £12.1m 8% 2025/26",  # mostly figures
]

AGENDA = [
    "1. Welcome, apologies and declarations of interest",
    "7. Finance report, month 6",
    "Item 4: any other business",
    "Agenda item 3 – Chair's report",
    "11:32 Close.",
    "16:05 Summary of actions by the chair. Next meeting in May.",
    "Apologies for absence",
    "Date of next meeting",
    "- Director of Finance, host trust",
    "• Chief Executive, community trust (chairing)",
]

NOT_AGENDA = [
    "1. The Board is asked to note the position of the two collaboratives.",
    "10:07 Declarations. A medical director declares sessions at the other trust for the eye clinic, and the chair notes it without comment.",
    "14:20 The GP federation lead says practices are absorbing the frailty caseload without any change to the sub-contract value, and asks for a review before the winter.",
    "We went through the agenda item by item and nobody challenged the finance report at all.",
]


@pytest.mark.parametrize("text", PROSE)
def test_prose_is_neither_table_nor_agenda(text):
    assert not looks_like_table(text)
    assert not looks_like_agenda_line(text)


@pytest.mark.parametrize("text", TABLES)
def test_table_rows(text):
    assert looks_like_table(text)
    assert not is_quotable_prose(text)


@pytest.mark.parametrize("text", AGENDA)
def test_agenda_lines(text):
    assert looks_like_agenda_line(text)
    assert not is_quotable_prose(text)


@pytest.mark.parametrize("text", NOT_AGENDA)
def test_numbered_or_timed_sentences_are_not_agenda_lines(text):
    assert not looks_like_agenda_line(text)


PARTICULARS = [
    "Venue: Board Room, ICB headquarters, Ashmoor.",
    "Date: 14 May 2024",
    "Present: the chairs of the four trusts and the ICB's director of strategy",
    "In attendance – Company Secretary (minutes)",
    "Apologies: Director of People and Culture; Chief Digital Officer.",
    "Version 1.2 · approved by the partnership board · review date: March 2027",
    "Approved by | ICB Board (meeting in public), 27 March 2025",
    "Report author: Head of Corporate Governance",
]
NOT_PARTICULARS = [
    "The date was set for the joint committee to take over elective care.",
    "Present arrangements give the ICB the final say. The collaborative can only recommend.",
    "Date: the committee agreed that decisions on elective care would be taken jointly from April, and that each board would delegate the matters listed.",
    "Versions of the terms of reference were circulated to every board.",
    "Time-limited funding for the collaborative ends in March.",
    "Present-day pressures on the acute trusts leave no room for it.",
    "Version 2 of the plan was agreed by all four boards.",
    "Recommendation | The Board is asked to approve the delegation of the community budget from April.",
    "Meeting the four-hour standard has taken all three trusts working as one.",
    "Owners of the pathway are the three clinical directors, who report to the joint committee.",
] + PROSE


@pytest.mark.parametrize("text", PARTICULARS)
def test_particulars_lines(text):
    assert looks_like_particulars(text) and looks_like_agenda_line(text)


@pytest.mark.parametrize("text", NOT_PARTICULARS)
def test_sentences_are_not_particulars(text):
    assert not looks_like_particulars(text)


def test_number_runs():
    assert number_runs("Waits 4,100 5,260 and then 3 more") == [2, 1]
    assert number_runs("no figures here") == []
    assert number_runs("£47.6m 12% (3) 2024/25") == [4]


def test_memos_are_stripped_and_insertions_kept():
    note = ("10:40 The council director responds that the council has matched the NHS contribution. "
            "[RQ4: money is visible to partners for the first time; ask for the figures.] The chair moves on.")
    stripped = strip_observer_memos(note)
    assert "[RQ4" not in stripped and "ask for the figures" not in stripped
    assert stripped.endswith("matched the NHS contribution. The chair moves on.")
    assert has_observer_memo(note) and not has_observer_memo(stripped)
    # a memo without an RQ label: a sentence of the observer's own
    assert strip_observer_memos("The room goes quiet. [Tense moment. Nobody looks at the ICB.]") == "The room goes quiet."
    assert strip_observer_memos("Chair thanks members [Interesting: the ICB sits apart].") == "Chair thanks members."
    # pseudonym tags, withheld placeholders and short editorial insertions stay as they are
    for kept in ("[P04] presents the report.", "[the trust director of finance] presents the month 6 position.",
                 "It was [inaudible] at that point.", "[withheld: participant did not consent to verbatim quotation]"):
        assert strip_observer_memos(kept) == kept
        assert not has_observer_memo(kept)
    assert strip_observer_memos("") == ""


def test_a_memo_alone_is_not_quotable():
    assert not is_quotable_prose("[RQ3: accountability runs in several directions at once.]")
    assert is_quotable_prose("The chair explains the governance again. [RQ3: a sign the model is hard to follow.]")
