"""How the automatic suggestions fared against the team's own decisions (`casestudy review
scorecard`): the benchmark's research-question measure (precision, recall, F1, macro-F1; see
benchmarks/quality.py) on the study's own excerpts, as the researchers reviewed them.

An excerpt counts once it is *reviewed*: a person decided on it (accepted, rejected or added a
code) and no automatic suggestion on it is still waiting. On such an excerpt a research
question is

* *suggested* when an automatic coder (``auto:…``, ``learned:…``) suggested any of its codes,
* *applied* when any of its codes is accepted (a suggestion accepted, or added by hand);

suggested and applied = agreed (true positive), suggested only = a false alarm, applied only =
missed. The figures are of the codings as they stand (the latest decisions of anyone); people
saw the suggestions when they decided, so recall counts only what they added by hand.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

import sqlite_utils

from casestudy.coding.codebook import RQS
from casestudy.db import CONSENTED_EXCERPT, EXCERPT_JOIN, SUGGESTION_KINDS, machine_coder, suggestion_kind


@dataclass
class RQScore:
    rq: str
    agreed: int = 0
    false_alarms: int = 0
    missed: int = 0

    @property
    def precision(self) -> float | None:
        suggested = self.agreed + self.false_alarms
        return self.agreed / suggested if suggested else None

    @property
    def recall(self) -> float | None:
        applied = self.agreed + self.missed
        return self.agreed / applied if applied else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None:
            return None
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class Scorecard:
    reviewed: int  # excerpts counted
    partly: int  # excerpts with decisions and suggestions still waiting (left out)
    by_rq: list[RQScore]
    by_kind: dict[str, Counter] = field(default_factory=dict)  # db.suggestion_kind → Counter(accepted=, rejected=)
    by_theme: dict[str, Counter] = field(default_factory=dict)  # code id → Counter(accepted=, rejected=)

    @property
    def macro_f1(self) -> float | None:
        """Mean F1 over the research questions that were suggested or applied at least once."""
        scores = [s.f1 for s in self.by_rq if s.agreed + s.false_alarms + s.missed]
        scores = [0.0 if f is None else f for f in scores]
        return sum(scores) / len(scores) if scores else None

    def worst_themes(self, least: int = 5, top: int = 5) -> list[tuple[str, int, int]]:
        """(code id, accepted, decided) of the themes accepted least often, of those decided at
        least ``least`` times: the codebook's patterns most worth a look."""
        rows = [(code, n["accepted"], n["accepted"] + n["rejected"]) for code, n in self.by_theme.items()
                if n["accepted"] + n["rejected"] >= least]
        return sorted(rows, key=lambda r: (r[1] / r[2], -r[2], r[0]))[:top]


def compute(db: sqlite_utils.Database) -> Scorecard:
    """The scorecard of the study's codings as they stand (consented evidence only), from the
    working database's ``suggestion_outcomes`` view (casestudy.db)."""
    consented = f"SELECT e.id FROM {EXCERPT_JOIN} WHERE {CONSENTED_EXCERPT}"
    scores = {rq: RQScore(rq) for rq in RQS}
    reviewed, partly = set(), set()
    for row in db.query(f"SELECT excerpt_id, rq, outcome, waiting FROM suggestion_outcomes WHERE excerpt_id IN ({consented})"):
        if row["waiting"]:
            partly.add(row["excerpt_id"])
            continue
        reviewed.add(row["excerpt_id"])
        add_outcome(scores[row["rq"]], row["outcome"])
    by_kind: dict[str, Counter] = {kind: Counter() for kind in SUGGESTION_KINDS}
    by_theme: dict[str, Counter] = defaultdict(Counter)
    for c in db.query(f"""SELECT c.code_id, c.coder, c.status, cd.rq FROM codings c JOIN codes cd ON cd.id = c.code_id
                          WHERE {machine_coder()} AND c.excerpt_id IN
                                (SELECT excerpt_id FROM suggestion_outcomes WHERE NOT waiting AND excerpt_id IN ({consented}))"""):
        by_kind[suggestion_kind(c)][c["status"]] += 1
        if c["code_id"] != c["rq"]:
            by_theme[c["code_id"]][c["status"]] += 1
    return Scorecard(len(reviewed), len(partly), [scores[rq] for rq in RQS], by_kind, dict(by_theme))


OUTCOMES = {"agreed": "agreed", "false alarm": "false_alarms", "missed": "missed"}  # suggestion_outcomes.outcome → RQScore


def add_outcome(score: RQScore, outcome: str, n: int = 1) -> None:
    """Count ``n`` excerpts of ``outcome`` (a ``suggestion_outcomes`` value) in ``score``."""
    setattr(score, OUTCOMES[outcome], getattr(score, OUTCOMES[outcome]) + n)
