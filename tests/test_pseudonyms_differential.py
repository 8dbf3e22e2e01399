"""The pseudonymiser finds exactly what the one regular expression of every name found.

The package matches names through a token index on the folded text (its cost does not
grow with the number of names). ``pseudonyms_reference.py`` is the implementation it
replaced, kept here only as the oracle: one alternation of every variant of every name,
each letter an accent class, compiled per name list (seconds for a few hundred names).
Random name lists (particles, apostrophes, hyphens, accents composed and decomposed, names
that are English words, nicknames, shared first names and surnames, titles, ``Last,
First``) and random texts that write those names in many shapes (possessives, e-mail
addresses, run together, initials, any case, line breaks, accents dropped or added) must
give the same text and the same replaced spans from both.

Every test here (and in the word-path and stored-tables tests, which import :func:`scan_way`)
runs twice: with the words met in C (``casestudy/consent/_wordscan.c``, compiled by ``pip
install``; compiled here for the tests if the package was not) and in pure Python, the
fallback where no C compiler was at hand.
"""

from __future__ import annotations

import hashlib
import importlib.util
import random
import subprocess
import sys
import sysconfig
import unicodedata
from pathlib import Path

import pytest

import pseudonyms_reference as reference
from casestudy.consent import pseudonyms

@pytest.fixture(scope="session")
def wordscan(tmp_path_factory):
    """The compiled word scan: the installed one, else compiled here from its source."""
    if pseudonyms._wordscan is not None:
        return pseudonyms._wordscan
    source = Path(pseudonyms.__file__).with_name("_wordscan.c")
    target = tmp_path_factory.mktemp("wordscan") / f"_wordscan{sysconfig.get_config_var('EXT_SUFFIX')}"
    compiler = (sysconfig.get_config_var("CC") or "cc").split()
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    done = subprocess.run([*compiler, "-shared", "-fPIC", "-O2", f"-I{sysconfig.get_paths()['include']}",
                           f'-DWORDSCAN_SOURCE="{digest}"', str(source), "-o", str(target)], capture_output=True, text=True)
    if done.returncode:  # pragma: no cover - no C compiler or headers: only the Python way is tested
        pytest.skip(f"the C word scan cannot be compiled here: {done.stderr[-300:]}")
    spec = importlib.util.spec_from_file_location("casestudy.consent._wordscan", target)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules.setdefault("casestudy.consent._wordscan", module)
    return module


@pytest.fixture(autouse=True, params=["compiled", "python"])
def scan_way(request, monkeypatch):
    """Each test runs with the words met in C, and in pure Python (the fallback)."""
    if request.param == "compiled":
        monkeypatch.setattr(pseudonyms, "_wordscan", request.getfixturevalue("wordscan"))
        monkeypatch.setattr(pseudonyms._Index, "compiled", True)
    else:
        monkeypatch.setattr(pseudonyms._Index, "compiled", False)
    return request.param


FIRST = ["Helen", "Daniel", "Dan", "Amina", "Tom", "Thomas", "Grace", "Owen", "Margaret", "Siobhán", "Priya", "Ruth",
         "Will", "William", "May", "Hope", "Mark", "Rose", "Joy", "April", "June", "Łukasz", "Zoë", "Adébáyọ̀", "Aoife",
         "Gwenllian", "Jarosław", "Søren", "Björn", "Seán", "José", "Ægir", "Eilidh", "Chidi", "Mei", "Hiroshi", "Ann",
         "Mary-Ann", "Jean-Paul", "Sam", "Samantha", "Bill", "Frank", "Joe", "Jo", "Kate", "Catherine", "Abi"]
LAST = ["Marsh", "Okoro", "Shah", "Reed", "Treharne", "Hussain", "O'Neill", "O’Neill-Smith", "O'Shaughnessy", "D'Souza",
        "McDonald", "MacLeod", "Ní Bhriain", "Mac Giolla Phádraig", "van der Merwe", "de la Cruz", "bin Ismail",
        "Sørensen", "Wiśniewski", "Pryce-Jones", "Hollis-Smith", "Hall", "Young", "White", "Green", "Long", "Hope",
        "Day", "King", "May", "Price", "Will", "Okafor", "Nwosu", "Müller", "Strauß", "Achterberg", "Lee", "Leeds",
        "Dubois", "l'Estrange", "Ó Briain", "Fitzgerald", "Ap Rhys", "El Amrani", "da Silva", "dos Santos", "Kaur"]
TITLES = ["", "", "", "", "Dr ", "Prof ", "Mrs ", "Mr. ", "Cllr ", "Sir "]
FILLER = ("the board will hope to agree the plan in May and we may grace the committee with a long report on the white "
          "paper , the green plan ; the young people's service , the king's fund and the hall at the day centre – "
          "“after a fair debate” £4m 2025/26 since June , on Monday ; I said . He said : a reed bed and marsh land "
          "by the price of it , will said , mark my words . rose by 3 % ( see annex ) and long-term the Ashmoor ICB "
          "in April 2025 next May and the Okoro-led work , marsh-land").split()


def make_names(rng: random.Random, count: int) -> dict[str, str]:
    names: dict[str, str] = {}
    while len(names) < count:
        first, last = rng.choice(FIRST), rng.choice(LAST)
        name = f"{first} {last}"
        shape = rng.random()
        if shape < 0.1:
            name = f"{last}, {first}"  # the register writes it "Last, First"
        elif shape < 0.15:
            name = first if rng.random() < 0.5 else last  # a one-word name
        elif shape < 0.2:
            name = unicodedata.normalize("NFD", name)
        elif shape < 0.25:
            name = f"{first} {rng.choice(FIRST)} {last}"  # a middle name
        name = rng.choice(TITLES) + name
        names.setdefault(name, f"[P{len(names) + 1:03d}]")
    return names


def case(rng: random.Random, text: str) -> str:
    return rng.choice([text, text, text, text.upper(), text.lower(), text.title()])


def shapes(name: str, rng: random.Random) -> list[str]:
    """Ways a text may write ``name``."""
    _, words = pseudonyms.split_name(name)
    plain = " ".join(words)
    first, last = words[0], words[-1]
    _, surname_words = pseudonyms.split_surname(words) if len(words) > 1 else ([], words)
    surname = " ".join(surname_words)
    folded_first, folded_surname = pseudonyms.fold(first).lower(), pseudonyms.fold(surname).lower()
    return [
        plain, f"Dr {surname}", f"Dr.{surname}", f"Mrs. {last}", f"{surname}, {first}", f"{first[0]}. {surname}",
        f"{first[0]} {surname}", f"{surname}'s", f"{surname}’s", f"{first}’s", plain.upper(), plain.lower(), first,
        last, surname, plain.replace(" ", "\n", 1), plain.replace(" ", "  "), pseudonyms.fold(plain),
        unicodedata.normalize("NFD", plain), f"{folded_first}.{folded_surname.replace(' ', '')}@nhs.net",
        f"{folded_first[0]}.{folded_surname.replace(' ', '-')}@nhs.net", f"{folded_surname.replace(' ', '')}.{folded_first}@x.org",
        f"{folded_first}{folded_surname.replace(' ', '')}", plain.replace(" ", ""), surname.replace(" ", ""),
        surname.replace("'", "").replace("’", ""), surname.replace("'", " "), surname.replace("-", "-\n"),
        surname.replace("-", " – "), f"{surname}2", f"{first} {surname}-led", f"({plain})", f"“{first}”",
        f"in {first}", f"{first} 2025", f"{last} {rng.randint(1, 30)}th", f"_{surname}_", case(rng, plain),
    ]


def make_text(rng: random.Random, names: list[str]) -> str:
    words = [case(rng, w) if rng.random() < 0.1 else w for w in rng.sample(FILLER, rng.randint(4, 14))]
    for _ in range(rng.randint(0, 4)):
        words.insert(rng.randrange(len(words) + 1), rng.choice(shapes(rng.choice(names), rng)))
    joiner = rng.choice([" ", " ", " ", "\n", "  "])
    return joiner.join(words)


@pytest.mark.parametrize("seed", range(4))
def test_same_output_as_the_one_alternation(seed):
    rng = random.Random(seed)
    names = make_names(rng, 60)
    protected = {"Ashmoor", "Kellbridge"}
    fast = pseudonyms.build(names, protected)
    slow = reference.build(names, protected)
    slow.anchors = None  # the whole alternation on every text: no shortcut in the oracle
    people = list(names)
    texts = [make_text(rng, people) for _ in range(400)]
    texts += [shape for person in people[:20] for shape in shapes(person, rng)]
    differ = [text for text in texts if fast.apply(text) != slow.apply(text)]
    assert not differ, f"{len(differ)} of {len(texts)} texts differ, e.g. {differ[:3]!r}"


def test_no_full_name_of_a_large_list_is_left():
    """1,500 names, each written plainly in a sentence: every one is replaced by the
    pseudonym of someone of that name (the list holds some people twice, with and without
    a title or accents), or by [name] where a word is shared."""
    rng = random.Random(99)
    names = make_names(rng, 1_500)
    fast = pseudonyms.build(names)
    same_name: dict[str, set[str]] = {}
    for name, pseudonym in names.items():
        same_name.setdefault(pseudonyms.key("".join(pseudonyms.split_name(name)[1])), set()).add(pseudonym)
    for name in names:
        _, words = pseudonyms.split_name(name)
        text = f"I spoke to {' '.join(words)} about the plan."
        allowed = same_name[pseudonyms.key("".join(words))] | {pseudonyms.AMBIGUOUS}
        assert fast(text) in {f"I spoke to {p} about the plan." for p in allowed}, (name, fast(text))


def test_building_does_not_compile_per_name():
    """3,000 names build in well under a second per thousand names (the alternation took
    ~10 ms a name to build and seconds to compile)."""
    import time

    names = make_names(random.Random(5), 3_000)
    started = time.process_time()
    fast = pseudonyms.build(names)
    elapsed = time.process_time() - started
    assert fast("Helen Marsh said so") != "Helen Marsh said so" or "Helen Marsh" not in names
    assert elapsed < 6, elapsed


@pytest.mark.parametrize("first", ["Helen", "Grace", "Catherine", "May"])
def test_a_name_with_l_apostrophe_is_not_taken_for_english_words(first):
    """``Helen l'Estrange``: every letter run is an English word ("helen", "l",
    "estrange"), and the lower case "l" made the name look like words written in lower
    case, so it was left in the text (found by the large-list test above)."""
    p = pseudonyms.build({f"{first} l'Estrange": "[P01]"})
    assert p(f"I spoke to {first} l'Estrange about it.") == "I spoke to [P01] about it."
    assert p(f"I spoke to {first} L’Estrange about it.") == "I spoke to [P01] about it."


class OldLeakGuardNames:
    """The publish guard's name check before it indexed names by their first word (one
    substring test and one regex per name): the oracle for ``LeakGuard.name_in``'s matching.
    The forms of each name come from ``publish.name_forms``, which that change did not touch."""

    def __init__(self, names: list[str]):
        import re

        from casestudy.consent.publish import _fold, name_forms

        self.re, self.fold = re, _fold
        spaced, compact, capitalised = name_forms(names)  # the forms are shared; the matching is the old one
        self.names = sorted(spaced)
        self.compact = frozenset(compact)
        self.capitalised = [re.compile(r"(?<![^\W_])" + r"[\W_]+".join(re.escape(w) for w in form.split()) + r"(?![^\W_])",
                                       re.IGNORECASE) for form in sorted(capitalised)]

    def name_in(self, text: str) -> bool:
        re, folded = self.re, self.fold(text)
        if any(name in folded for name in self.names):
            return True
        runs = re.findall(r"[^\W\d_]+", folded)
        for i in range(len(runs)):
            joined = runs[i]
            if joined in self.compact:
                return True
            for j in range(i + 1, min(i + 4, len(runs))):
                joined += runs[j]
                if joined in self.compact:
                    return True
        kept_case = pseudonyms.fold(text or "")
        for pattern in self.capitalised:
            for match in pattern.finditer(kept_case):
                if all(w[0].isupper() for w in re.findall(r"[^\W\d_]+", match.group(0))):
                    return True
        return False


@pytest.mark.parametrize("seed", range(3))
def test_publish_guard_finds_the_same_names(seed):
    from casestudy.consent.publish import LeakGuard

    rng = random.Random(100 + seed)
    names = list(make_names(rng, 300))
    new, old = LeakGuard(names, []), OldLeakGuardNames(names)
    texts = [make_text(rng, names) for _ in range(600)]
    assert any(old.name_in(t) for t in texts) and not all(old.name_in(t) for t in texts)
    differ = [t for t in texts if new.name_in(t) != old.name_in(t)]
    assert not differ, differ[:3]


def test_names_written_with_a_leading_apostrophe_or_hyphen():
    """A word of a name that starts with an apostrophe (``'t Hooft``): the alternation
    could start the match before the first letter; the index does the same."""
    names = {"'t Hooft": "[P01]", "Gerard 't Hooft": "[P02]", "Anna ’s-Gravesande": "[P03]", "Helen Marsh": "[P04]"}
    fast, slow = pseudonyms.build(names), reference.build(names)
    slow.anchors = None
    rng = random.Random(3)
    texts = ["'t Hooft said", "Gerard 't Hooft said", "as ’t Hooft wrote", "('t Hooft)", "t Hooft", "Anna 's-Gravesande",
             "’s-Gravesande's paper", "Helen Marsh and 't Hooft", "Dr 't Hooft", "it 't  Hooft"]
    texts += [make_text(rng, list(names)) for _ in range(200)]
    for text in texts:
        assert fast.apply(text) == slow.apply(text), text
