"""The pseudonymiser's fast way through a text gives what its general way gives.

Where every letter of a text folds to an ASCII letter and no combining accent stands in it
(most texts, accented names included), :class:`pseudonyms._Index` matches through a
words-only copy: the words are split and met with the possible first words in C, and only
where one stands are the following words read. Every other text takes the general way
(a letter run split of the folded copy). The two must find the same names, with the same
spans, on random name lists and texts written every way the rules cover.
"""

from __future__ import annotations

import random
import unicodedata

import pytest

from casestudy.consent import pseudonyms
from test_pseudonyms_differential import make_names, make_text, scan_way, shapes, wordscan  # noqa: F401 - fixtures: each test in C and in Python

ODD = [
    "", " ", "I", "A. Shah", "I. Lin", "Dr", "Dr.", "dr", "Mrs", "@", "a@b", "—", "“”", "\u00a0", "\ue000", "\x01",
    "Dr  Okoro", "DR. OKORO", "i said", "I said a thing", "x\u0301", "Jose\u0301ph", "Ægir", "Strauß", "αβγ Marsh",
    "Marsh\u200bland", "Okoro’s", "O’Neill-\nSmith", "ONEILL", "o neill", "h.marsh@nhs.net", "H.Marsh", "  Hope  ",
]


def both_ways(index: pseudonyms._Index, text: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(pseudonyms._Index, "by_words", False)
    general = index.matches(text)
    monkeypatch.setattr(pseudonyms._Index, "by_words", True)
    return index.matches(text), general


@pytest.mark.parametrize("seed", range(3))
def test_fast_way_finds_what_the_general_way_finds(seed, monkeypatch):
    rng = random.Random(100 + seed)
    names = make_names(rng, 120)
    matcher = pseudonyms.build(names, {"Ashmoor", "Kellbridge"})
    assert not matcher.index.heads  # no name written with a leading apostrophe: the fast way is open
    people = list(names)
    texts = [make_text(rng, people) for _ in range(400)]
    texts += [shape for person in people[:30] for shape in shapes(person, rng)]
    texts += ODD + [f"{a} {b}" for a in ODD[:12] for b in shapes(rng.choice(people), rng)[:8]]
    texts += [unicodedata.normalize("NFD", t) for t in texts[:50]]
    fast_way = 0
    for text in texts:
        fast, general = both_ways(matcher.index, text, monkeypatch)
        assert fast == general, text
        fast_way += pseudonyms._ascii_words(text) or pseudonyms._UNFOLDED not in text.translate(pseudonyms._WORD_FOLD_TABLE)
    assert fast_way > len(texts) * 0.6  # most texts went the fast way: the comparison is not empty
    # and the pseudonymised texts: the same through both ways
    monkeypatch.setattr(pseudonyms._Index, "by_words", False)
    general = [matcher.apply(text) for text in texts]
    monkeypatch.setattr(pseudonyms._Index, "by_words", True)
    assert [matcher.apply(text) for text in texts] == general


def test_words_only_copy_keeps_every_position():
    """Same length as the text; a letter folds to its ASCII letter, anything else is a space,
    and a letter with no ASCII letter (or an accent mark) sends the text the general way."""
    table = pseudonyms._WORD_FOLD_TABLE
    text = "Siobhán Ní Bhriain’s £4m – “Søren”"
    folded = text.translate(table)
    assert len(folded) == len(text) and folded == "siobhan ni bhriain s  4m    soren "
    assert pseudonyms._UNFOLDED in "Ægir".translate(table)  # Æ: two letters, no one ASCII letter
    assert pseudonyms._UNFOLDED in "Jose\u0301".translate(table)  # a combining accent
    assert pseudonyms._UNFOLDED in "αβγ".translate(table)


def test_text_with_only_common_punctuation_beyond_ascii_goes_the_fast_way(monkeypatch):
    """Curly quotes, dashes, £, … and no-break spaces are not letters: such a text is matched
    through the words-only copy at once, and finds what the general way finds."""
    for ch in pseudonyms._NOT_WORD:
        assert not ch.isalnum() and not pseudonyms._NON_ASCII_LETTER.search(ch) and not pseudonyms._MARK.search(ch), ch
    matcher = pseudonyms.build({"Helen Marsh": "[P01]", "Dr Ruth Okafor": "[P02]", "Siobhán O'Neill": "[P03]"}, set())
    texts = ["“Marsh’s plan” – said Dr\u00a0Okafor… £4m", "O’Neill—Marsh • Okafor’s « view »", "Siobhan O’Neill’s 10×"]
    for text in texts:
        assert pseudonyms._ascii_words(text)
        fast, general = both_ways(matcher.index, text, monkeypatch)
        assert fast == general and fast, text
    assert not pseudonyms._ascii_words("Siobhán’s")  # an accented letter: the words-only copy folds it
    assert not pseudonyms._ascii_words("Jose\u0301’s")  # an accent mark: the general way


def test_a_word_judged_once_is_judged_again_in_each_place():
    """What a match written some way is (a name, not one, or it depends on the words around
    it) is kept by written form; the words around it are still read every time."""
    import pseudonyms_reference as reference

    names = {"May Okafor": "[P01]", "Will Nwosu": "[P02]", "April Hope": "[P03]", "Grace Marsh": "[P04]"}
    matcher = pseudonyms.build(names, set())
    oracle = reference.build(names, set())
    texts = ["May said so.", "We met May.", "in May 2025", "since May", "May 3 was late", "last May, May agreed",
             "Will agreed. Will wrote.", "we will see", "Grace said", "grace and favour", "April Hope", "april hope",
             "in April", "April said", "3 April", "Hope is here. I spoke to Hope.", "may.okafor@nhs.net"]
    for text in texts + texts[::-1] + texts:
        assert matcher.apply(text) == oracle.apply(text), text
