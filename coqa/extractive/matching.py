"""Exact-match flags: which tokens of a feature also occur in the other segment.

DrQA's exact-match feature, computed from token ids only (the model never sees text). A
feature is laid out `[CLS] q1 a1 [SEP] q2 a2 [SEP] q3 [SEP] window [SEP]` (segment 0 up to
the first `[SEP]` after the current question q3, segment 1 after it), and each real token
gets one flag:

    NO_MATCH (0)        special tokens, padding, and tokens found nowhere else
    QUESTION_MATCH (1)  a window token whose id occurs in the current question, or a token of
                        the current question whose id occurs in the window
    HISTORY_MATCH (2)   a window token found only in the earlier turns of the query, or a
                        token of an earlier turn whose id occurs in the window

The model adds a learned embedding of the flag to each token's word embedding. Telling a
yes question from a no question means checking the question's value against the passage;
an encoder trained from scratch does not learn that comparison from a few thousand yes/no
turns, while with the flag it is one lookup (docs/MODEL.md, "Yes / no").
"""
from __future__ import annotations

import torch

NO_MATCH, QUESTION_MATCH, HISTORY_MATCH = 0, 1, 2
NUM_MATCH_KINDS = 3


def exact_match_flags(input_ids: torch.Tensor, token_type_ids: torch.Tensor,
                      attention_mask: torch.Tensor) -> torch.Tensor:
    """(batch, seq_len) int64 flags as in the module docstring.

    Special tokens are recognised by the layout, not by id: position 0 ([CLS]), the last
    token of segment 0 ([SEP] before the window) and every other token with that id
    (the separators between turns), and the last real token of segment 1."""
    real = attention_mask.bool()  # (batch, seq_len)
    query = real & (token_type_ids == 0)
    window = real & (token_type_ids == 1)
    positions = torch.arange(input_ids.shape[1], device=input_ids.device)
    last_query = (query * positions).argmax(dim=1, keepdim=True)  # (batch, 1)
    last_real = (real * positions).argmax(dim=1, keepdim=True)  # (batch, 1)
    sep_id = input_ids.gather(1, last_query)  # (batch, 1)
    separator = query & (input_ids == sep_id)  # (batch, seq_len)
    query = query & ~separator & (positions != 0)
    window = window & (positions != last_real)
    # Separators at or after a query token: exactly 1 for the current question.
    separators_after = separator.flip(-1).cumsum(-1).flip(-1)  # (batch, seq_len)
    current = query & (separators_after == 1)
    history = query & ~current

    same = input_ids[:, :, None] == input_ids[:, None, :]  # (batch, seq_len, seq_len)
    in_current = (same & current[:, None, :]).any(-1)  # (batch, seq_len)
    in_history = (same & history[:, None, :]).any(-1)
    in_window = (same & window[:, None, :]).any(-1)

    # masked_fill, not flags[mask] = ...: a boolean index waits for the device on a GPU.
    flags = torch.zeros_like(input_ids)
    flags = flags.masked_fill(window & in_history, HISTORY_MATCH)
    flags = flags.masked_fill(window & in_current, QUESTION_MATCH)
    flags = flags.masked_fill(history & in_window, HISTORY_MATCH)
    return flags.masked_fill(current & in_window, QUESTION_MATCH)
