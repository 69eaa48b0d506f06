"""Find the passage span that best matches a free-form answer (character-level F1).

Annotators of ConvQA_CN and CoQA often rewrite the answer ("12月24号。" for the passage's
"12月24日"), so an extractive model needs the passage span closest to it. We score every
candidate span with character-level F1, ignoring whitespace and punctuation, and break
ties by the shortest span, then the earliest. A Python double loop over a 2,000-character
passage is far too slow, so all candidates are scored at once with numpy prefix counts.
"""
from __future__ import annotations

import unicodedata
from typing import Optional, Tuple

import numpy as np

# Rows of the (starts x ends) score matrix computed at once; bounds memory on long passages.
_ROW_CHUNK = 256


def _is_content(char: str) -> bool:
    """Characters that count for F1: not whitespace, not punctuation."""
    return not (char.isspace() or unicodedata.category(char)[0] == "P")


def _is_word_char(char: str) -> bool:
    """Letters and digits of alphabetic scripts; a CJK character is a word by itself."""
    return char.isalnum() and ord(char) < 0x2E80


def _word_edges(window: str) -> tuple[np.ndarray, np.ndarray]:
    """Where a span may start / end without cutting a Latin word or number in two."""
    inside = np.fromiter((_is_word_char(c) for c in window), dtype=bool, count=len(window))
    joined = inside[:-1] & inside[1:]           # positions i, i+1 in the same word
    can_start = np.ones(len(window), dtype=bool)
    can_end = np.ones(len(window), dtype=bool)
    can_start[1:] &= ~joined
    can_end[:-1] &= ~joined
    return can_start, can_end


def _codes(text: str) -> np.ndarray:
    """Lower-cased code points, one per character of `text` (length preserved)."""
    lowered = text.lower()
    if len(lowered) != len(text):  # a few characters lower-case to two (İ); keep those as is
        lowered = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    return np.frombuffer(lowered.encode("utf-32-le"), dtype=np.uint32)


def best_f1_span(passage: str, answer: str, start: int = 0,
                 end: Optional[int] = None) -> Optional[Tuple[int, int]]:
    """The [start, end) range of `passage`, inside the window [start, end), whose
    characters have the best F1 against `answer`; None when nothing overlaps.

    Spans never start or end inside a Latin word or a number (CoQA answers are English);
    Chinese characters are words by themselves, so every one is a possible edge."""
    end = len(passage) if end is None else end
    window = passage[start:end]
    answer_chars = [c for c in answer if _is_content(c)]
    if not window or not answer_chars:
        return None
    answer_codes, answer_counts = np.unique(_codes("".join(answer_chars)), return_counts=True)
    codes = _codes(window)
    content = np.fromiter((_is_content(c) for c in window), dtype=bool, count=len(window))
    matching = content & np.isin(codes, answer_codes)
    if not matching.any():
        return None
    # Spans start at the first and end at the last character of a word that shares a
    # character with the answer (for Chinese: at a matching character).
    can_start, can_end = _word_edges(window)
    word_id = np.cumsum(can_start) - 1
    word_matches = np.bincount(word_id, weights=matching)[word_id] > 0
    starts_ok = can_start & content & word_matches
    ends_ok = can_end & content & word_matches
    # prefix[c][i] = occurrences of answer character c in window[:i]
    prefix = np.zeros((len(answer_codes), len(window) + 1), dtype=np.int32)
    prefix[:, 1:] = np.cumsum(codes[None, :] == answer_codes[:, None], axis=1)
    content_prefix = np.concatenate([[0], np.cumsum(content)])
    total = len(answer_chars)

    best = (-1.0, 0, 0)  # (f1, -length, -start) maximised; positions are window offsets
    start_positions, ends = np.flatnonzero(starts_ok), np.flatnonzero(ends_ok)
    for row in range(0, start_positions.size, _ROW_CHUNK):
        starts = start_positions[row:row + _ROW_CHUNK]
        counts = prefix[:, None, ends + 1] - prefix[:, starts, None]      # (chars, S, E)
        overlap = np.minimum(counts, answer_counts[:, None, None]).sum(axis=0)  # (S, E)
        span_len = content_prefix[ends + 1][None, :] - content_prefix[starts][:, None]
        f1 = np.where(ends[None, :] >= starts[:, None],
                      2.0 * overlap / np.maximum(span_len + total, 1), -1.0)  # (S, E)
        top = f1.max()
        if top < best[0]:
            continue
        rows, cols = np.nonzero(f1 == top)
        raw_len = ends[cols] - starts[rows] + 1
        pick = np.lexsort((starts[rows], raw_len))[0]  # shortest, then earliest
        candidate = (float(top), -int(raw_len[pick]), -int(starts[rows[pick]]))
        best = max(best, candidate)
    if best[0] <= 0:
        return None
    span_start = start - best[2]
    return span_start, span_start - best[1]
