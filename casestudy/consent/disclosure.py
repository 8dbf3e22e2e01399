"""Disclosure control: find interviewees naming their own post, and generalise or flag it.

A quote published beside its attribution (role, organisation type, ICS) identifies its
speaker when it also names their job title and organisation. The rules are data, in
``disclosure.yaml`` (shipped beside this module; a study adds its own in a ``disclosure.yaml``
beside the working database), so a researcher can read and extend them. ``publish`` calls
:meth:`Rules.apply` on every published interview turn.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from casestudy.errors import CasestudyError

DEFAULT_RULES = Path(__file__).with_name("disclosure.yaml")
ACTIONS = ("generalise", "flag")
_WORD = r"(?:(?!I\b)[A-Z][\w'’&.-]*|\[[^\]]+\])"  # a capitalised word (not "I") or a pseudonym tag
_ORGANISATION = rf"{_WORD}(?:\s+(?:(?:and|of|for|the|&)\s+)*{_WORD})*"


@dataclass
class Rule:
    name: str
    pattern: str
    action: str
    replacement: str = "[own post withheld]"


@dataclass
class Finding:
    """One phrase a rule found: where (in the text as it was), the rule and what was done."""

    rule: str
    action: str
    start: int
    end: int
    phrase: str


class Rules:
    """The disclosure rules of a study: job titles and patterns, compiled per speaker role."""

    def __init__(self, titles: list[str], rules: list[Rule]):
        self.titles = titles
        self.rules = rules
        self._compiled: dict[str, list[tuple[Rule, re.Pattern]]] = {}

    @classmethod
    def load(cls, *paths: "str | Path | None") -> "Rules":
        """The default rules, plus those of every existing file in ``paths``."""
        titles: list[str] = []
        rules: list[Rule] = []
        for path in (DEFAULT_RULES, *paths):
            if path is None or not Path(path).is_file():
                continue
            more_titles, more_rules = _read(Path(path))
            titles += more_titles
            rules += more_rules
        return cls(titles, rules)

    def _for_role(self, role: str | None) -> list[tuple[Rule, re.Pattern]]:
        own = (role or "").split(",")[0].strip()
        if own not in self._compiled:
            titles = list(self.titles) + ([re.escape(own)] if own else [])
            title = "(?i:" + "|".join(f"(?:{t})" for t in sorted(titles, key=len, reverse=True)) + ")"
            self._compiled[own] = [
                (rule, re.compile(rule.pattern.replace("{title}", title).replace("{organisation}", _ORGANISATION)))
                for rule in self.rules
            ]
        return self._compiled[own]

    def apply(self, text: str, role: str | None = None) -> tuple[str, list[tuple[int, int, int, int]], list[Finding]]:
        """``text`` with every generalising rule applied; the replaced spans
        ``(old_start, old_end, new_start, new_end)`` (as ``pseudonyms.map_offset`` reads them);
        and what every rule found."""
        if not text or not self.rules:
            return text, [], []
        findings: list[Finding] = []
        for rule, pattern in self._for_role(role):
            for match in pattern.finditer(text):
                group = "post" if "post" in pattern.groupindex and match.group("post") else 0
                start, end = match.span(group)
                findings.append(Finding(rule.name, rule.action, start, end, match.group(0)))
        replace = sorted((f for f in findings if f.action == "generalise"), key=lambda f: (f.start, -f.end))
        # a flag inside a phrase that is generalised anyway has nothing left to check
        findings = [f for f in findings if f.action != "flag" or not any(
            g.start < f.end and f.start < g.end for g in replace)]
        out, spans, last, shift = [], [], 0, 0
        for finding in replace:
            if finding.start < last:
                continue  # inside a phrase already generalised
            rule = next(r for r in self.rules if r.name == finding.rule)
            out.append(text[last:finding.start])
            out.append(rule.replacement)
            new_start = finding.start + shift
            spans.append((finding.start, finding.end, new_start, new_start + len(rule.replacement)))
            shift += len(rule.replacement) - (finding.end - finding.start)
            last = finding.end
        out.append(text[last:])
        return "".join(out), spans, findings


def _read(path: Path) -> tuple[list[str], list[Rule]]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise CasestudyError(f"cannot read the disclosure rules: {str(exc).splitlines()[0]}", path) from None
    if not isinstance(data, dict):
        raise CasestudyError("the disclosure rules must be a mapping with 'titles' and 'rules'", path)
    titles = [str(t) for t in data.get("titles") or []]
    rules = []
    for i, entry in enumerate(data.get("rules") or [], 1):
        if not isinstance(entry, dict) or not entry.get("pattern") or not entry.get("name"):
            raise CasestudyError(f"rule {i} needs a name and a pattern", path)
        action = str(entry.get("action", "generalise"))
        if action not in ACTIONS:
            raise CasestudyError(f"rule {entry['name']!r}: action must be one of {', '.join(ACTIONS)}, not {action!r}", path)
        rule = Rule(str(entry["name"]), str(entry["pattern"]), action, str(entry.get("replacement") or "[own post withheld]"))
        try:
            re.compile(rule.pattern.replace("{title}", "x").replace("{organisation}", "y"))
        except re.error as exc:
            raise CasestudyError(f"rule {rule.name!r}: bad pattern: {exc}", path) from None
        rules.append(rule)
    for title in titles:
        try:
            re.compile(title)
        except re.error as exc:
            raise CasestudyError(f"title {title!r}: bad pattern: {exc}", path) from None
    return titles, rules


def map_offset(pos: int, chain: list[list[tuple[int, int, int, int]]], end: bool = False) -> int:
    """``pos`` mapped through several rounds of replacement (pseudonyms, then disclosure)."""
    from casestudy.consent.pseudonyms import map_offset as one

    for spans in chain:
        pos = one(pos, spans, end=end)
    return pos
