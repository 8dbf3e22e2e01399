"""The compiled word scan (``casestudy/consent/_wordscan.c``) and its pure-Python fallback.

Its output is tested against the Python way and the reference alternation by every test of
``test_pseudonyms_differential.py``, ``test_pseudonyms_word_path.py`` and
``test_pseudonyms_stored.py`` (each runs both ways). These tests check what is its own: it
decides most places itself, hands back what it cannot (a letter beyond ASCII that folds, an
accent mark), refuses a copy that is not a words-only one, and is not needed at all.
"""

from __future__ import annotations

import pytest

from casestudy.consent import pseudonyms
from test_pseudonyms_differential import wordscan  # noqa: F401 - fixture: the compiled scan

NAMES = {"Helen Marsh": "[P01]", "Dr Ruth Okafor": "[P02]", "Siobhán Ní Bhriain": "[P03]", "Will Hope": "[P04]",
         "Gwenllian Pryce-Jones": "[P05]"}
TEXTS = [
    "As Helen Marsh said, Dr Okafor and Ms Ni Bhriain agreed; we will hope to meet Will Hope in May.",
    "An e-mail from g.pryce-jones@nhs.net to h.marsh@nhs.net about Okafor’s “plan” – £4m",
    "MARSH, Helen chaired it; H. Marsh and Siobhan NiBhriain wrote to Dr. Okafor.",
    "Nothing here names anyone at all, not even a marsh or a hope.",
]


@pytest.fixture
def loaded(monkeypatch, wordscan):  # noqa: F811
    """A matcher loaded from its stored tables, with the compiled scan."""
    monkeypatch.setattr(pseudonyms, "_wordscan", wordscan)
    monkeypatch.setattr(pseudonyms._Index, "compiled", True)
    return pseudonyms.loads(pseudonyms.dumps(pseudonyms.build(NAMES, {"Ashmoor"})))


def python_way(monkeypatch, text: str) -> tuple:
    monkeypatch.setattr(pseudonyms._Index, "compiled", False)
    try:
        return pseudonyms.loads(pseudonyms.dumps(pseudonyms.build(NAMES, {"Ashmoor"}))).apply(text)
    finally:
        monkeypatch.setattr(pseudonyms._Index, "compiled", True)


def test_loaded_tables_are_matched_in_c_without_handing_back(loaded, monkeypatch):
    """Loaded tables give the scan every variant at once: plain names, titles, initials,
    e-mail forms and run-together surnames are decided in C, with the Python way's result."""
    scanner = loaded.index.scanner()
    for text in TEXTS:
        places, handed = scanner.scan(text, None, "@" in text)
        assert not handed, text
        assert loaded.apply(text) == python_way(monkeypatch, text), text
    assert loaded("As Helen Marsh said") == "As [P01] said"
    assert loaded("Dr Okafor’s plan") == "[P02]’s plan"


def test_a_built_matcher_gives_the_scan_its_variants_as_it_meets_them(monkeypatch, wordscan):  # noqa: F811
    monkeypatch.setattr(pseudonyms, "_wordscan", wordscan)
    monkeypatch.setattr(pseudonyms._Index, "compiled", True)
    matcher = pseudonyms.build(NAMES, {"Ashmoor"})
    scanner = matcher.index.scanner()
    text = TEXTS[0]
    first = scanner.scan(text, None, False)
    assert first[1]  # not given yet: handed back to Python, which gives them
    assert matcher.apply(text) == python_way(monkeypatch, text)
    places, handed = scanner.scan(text, None, False)
    assert not handed and places == matcher.index.matches(text)


def test_what_the_scan_leaves_to_python(loaded):
    """Accented Latin letters fold to their ASCII letter in C, and punctuation beyond ASCII to
    a space; a letter with no ASCII letter, a letter beyond Latin, or an accent mark, and
    Python folds the text (and the scan reads that copy, or Python matches it)."""
    scanner = loaded.index.scanner()
    assert scanner.scan("Siobhán Ní Bhriain said", None, False) == ([(0, 18, None)], 0)
    assert scanner.scan("“Marsh” – £4m…", None, False) is not None
    for text in ("Ægir Marsh", "Jose\u0301 Marsh", "Ελένη Marsh", "Marsh Ṁarsh"):
        assert scanner.scan(text, None, False) is None, text
    text = "Ṡiobhán Ní Bhriain said"  # a letter beyond the C table: Python folds it, C reads the copy
    folded = text.translate(pseudonyms._WORD_FOLD_TABLE)
    assert scanner.scan(text, folded, False) == ([(0, 18, None)], 0)
    assert loaded(text) == "[P03] said"
    # not a words-only copy (or not the text's length): refused, and Python matches
    assert scanner.scan("Helen Marsh", "helen-marsh", False) is None
    assert scanner.scan("Helen Marsh", "helen", False) is None


def test_every_character_folds_as_the_python_way_folds_it(loaded, monkeypatch):
    """Each character up to U+02FF (and a few beyond), inside, before and after names: the
    same matches with the fold in C as with Python's."""
    texts = []
    for code in list(range(0x0, 0x300)) + [0x1E00, 0x1EA0, 0x2019, 0x20AC, 0xE000, 0xFB01]:
        ch = chr(code)
        texts += [f"Helen{ch}Marsh and {ch}Okafor{ch}", f"{ch}Dr {ch} Okafor met Marsh{ch}s team", f"H{ch}Marsh"]
    python = [python_way(monkeypatch, text) for text in texts]
    assert [loaded.apply(text) for text in texts] == python


def test_without_the_compiled_scan_the_python_way_gives_the_same(monkeypatch, loaded):
    expected = [loaded.apply(text) for text in TEXTS]
    monkeypatch.setattr(pseudonyms, "_wordscan", None)  # not compiled (no C compiler when installed)
    matcher = pseudonyms.loads(pseudonyms.dumps(pseudonyms.build(NAMES, {"Ashmoor"})))
    assert matcher.index.scanner() is None
    assert [matcher.apply(text) for text in TEXTS] == expected


def test_replaced_in_c_once_judged_and_where_the_words_around_do_not_decide(loaded, monkeypatch):
    """The first time a written form is met Python judges it; after that C replaces it. A
    capitalised common word ("Will" of Will Hope alone is never a name; "May" would depend on
    the words around it) and an e-mail form are still replaced exactly as Python does."""
    scanner = loaded.index.scanner()
    text = "As Helen Marsh said to Dr Okafor, Marsh agreed."
    first = scanner.apply(text, None, False, loaded._judged)
    assert first[0].__class__ is list  # not judged yet: Python finishes
    expected = python_way(monkeypatch, text)
    assert loaded.apply(text) == expected == ("As [P01] said to [P02], [P01] agreed.", [(3, 14, 3, 8), (23, 32, 17, 22),
                                                                                     (34, 39, 24, 29)])
    assert scanner.apply(text, None, False, loaded._judged) == expected  # judged: all in C
    for text in ("Hope, Will and May: will hope.", "Mail hope@x.org and g.pryce-jones@nhs.net now", "Will Hope met May Hope"):
        assert loaded.apply(text) == python_way(monkeypatch, text), text
        assert loaded.apply(text) == python_way(monkeypatch, text), text  # the second time, judged


def test_packed_variants_read_back_exactly_as_stored(wordscan, monkeypatch):  # noqa: F811
    """The variants the stored tables pack for C (``_pack``) are, read back from the scan
    (what the Python way uses once the scan holds them), exactly the marshalled ones."""
    import marshal
    import random

    from test_pseudonyms_differential import make_names

    monkeypatch.setattr(pseudonyms, "_wordscan", wordscan)
    monkeypatch.setattr(pseudonyms._Index, "compiled", True)
    names = {**NAMES, **make_names(random.Random(7), 200)}
    loaded = pseudonyms.loads(pseudonyms.dumps(pseudonyms.build(names, {"Ashmoor"})))
    scanner = loaded.index.scanner()
    stored = marshal.loads(loaded.index._letters_blob)
    assert len(stored) > 500
    for letters, variants in stored.items():
        if letters.isascii():
            assert scanner.stored(letters) == variants, letters
        else:
            assert loaded.index._other[letters] == variants
    assert scanner.stored("nosuchletters") is None
    assert isinstance(loaded.index.by_letters, pseudonyms._PackedLetters)


def test_a_build_of_another_source_is_left_unused(wordscan):
    """The compiled scan carries the SHA-256 of the C source it was built from; a build of an
    older (or unknown) source is not used, so it cannot disagree with the Python way."""
    from types import SimpleNamespace

    assert pseudonyms.compiled_is_current(wordscan)
    assert len(wordscan.SOURCE) == 64
    assert not pseudonyms.compiled_is_current(SimpleNamespace(SOURCE="0" * 64))
    assert not pseudonyms.compiled_is_current(SimpleNamespace(SOURCE=""))  # compiled without setup.py's digest
    assert not pseudonyms.compiled_is_current(SimpleNamespace())
