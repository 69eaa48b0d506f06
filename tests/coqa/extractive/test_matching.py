"""Exact-match flags on hand-made id sequences (coqa.extractive.matching)."""
from __future__ import annotations

import torch

from coqa.extractive.matching import HISTORY_MATCH, NO_MATCH, QUESTION_MATCH, exact_match_flags

CLS, SEP, PAD = 101, 102, 0


def _flags(ids, types):
    mask = [1 if i != PAD else 0 for i in ids]
    return exact_match_flags(torch.tensor([ids]), torch.tensor([types]),
                             torch.tensor([mask]))[0].tolist()


def test_current_question_history_and_window_by_hand():
    # [CLS] 7 8 [SEP] 5 9 [SEP] | 5 8 6 7 [SEP] [PAD]: history turn (7 8), current question
    # (5 9), window (5 8 6 7).
    ids = [CLS, 7, 8, SEP, 5, 9, SEP, 5, 8, 6, 7, SEP, PAD]
    types = [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0]
    n, q, h = NO_MATCH, QUESTION_MATCH, HISTORY_MATCH
    assert _flags(ids, types) == [n, h, h, n, q, n, n, q, h, n, h, n, n]


def test_window_token_in_question_and_history_is_a_question_match():
    ids = [CLS, 5, SEP, 5, SEP, 5, 6, SEP]
    types = [0, 0, 0, 0, 0, 1, 1, 1]
    n, q, h = NO_MATCH, QUESTION_MATCH, HISTORY_MATCH
    assert _flags(ids, types) == [n, h, n, q, n, q, n, n]


def test_no_history_and_special_ids_never_match():
    # The window's own [SEP] and the query's [SEP] share an id: neither is a match, and
    # a window token equal to [CLS]'s id is not matched to position 0.
    ids = [CLS, 4, 4, SEP, 4, CLS, SEP]
    types = [0, 0, 0, 0, 1, 1, 1]
    assert _flags(ids, types) == [0, QUESTION_MATCH, QUESTION_MATCH, 0, QUESTION_MATCH, 0, 0]
