"""Best-F1 span search: hand-worked cases and equality with a brute-force reference."""
from __future__ import annotations

import random
import unicodedata
from collections import Counter

from coqa.data.spans import best_f1_span


def _content(text):
    return [c.lower() for c in text if not (c.isspace() or unicodedata.category(c)[0] == "P")]


def brute_force(passage, answer):
    """The slow double loop the fast search replaces."""
    gold = Counter(_content(answer))
    best, best_key = None, None
    for i in range(len(passage)):
        for j in range(i + 1, len(passage) + 1):
            span = Counter(_content(passage[i:j]))
            common = sum((span & gold).values())
            if common == 0:
                continue
            f1 = 2 * common / (sum(span.values()) + sum(gold.values()))
            key = (-f1, j - i, i)
            if best_key is None or key < best_key:
                best, best_key = (i, j), key
    return best


def test_hand_worked_cases():
    passage = "圣诞前夕(12月24日)也就是常说的「平安夜」，在这天晚上"
    # "12月24号。": content 1,2,月,2,4,号 (6 chars). "12月24" overlaps 5 of 5: 10/11 beats
    # "12月24日" (5 of 6: 10/12).
    assert best_f1_span(passage, "12月24号。") == (5, 10)
    # Punctuation is ignored, so 平安夜 ties with 「平安夜」 and the shortest wins.
    assert best_f1_span(passage, "平安夜。") == (19, 22)
    assert best_f1_span(passage, "xyz") is None
    assert best_f1_span(passage, "。") is None


def test_ties_shortest_then_earliest():
    assert best_f1_span("猫狗猫狗", "猫") == (0, 1)
    assert best_f1_span("ab ba", "ab") == (0, 2)


def test_window_and_case():
    passage = "The Cat sat. the cat ran."
    assert best_f1_span(passage, "the cat", 13, 25) == (13, 20)
    assert best_f1_span(passage, "THE CAT") == (0, 7)


def test_equals_brute_force_on_random_text():
    rng = random.Random(7)
    alphabet = "我你他的是了在有不人这中大为上个国们，。天明"
    for _ in range(200):
        passage = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 60)))
        answer = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8)))
        assert best_f1_span(passage, answer) == brute_force(passage, answer), (passage, answer)


def test_never_cuts_a_latin_word():
    # "cat" inside "cats": the span may not end mid-word, so the whole word is taken.
    assert best_f1_span("the cats sat", "cat") == (4, 8)
    assert best_f1_span("in 1475 it was", "147") == (3, 7)
