"""Passage windows over token ids, the shared geometry of both pipelines: where windows
start, which tokens a character span covers, and the special-token ids they need."""
from __future__ import annotations

import math
from typing import Tuple

import numpy as np

from coqa.data.errors import ConfigError


def window_starts(num_tokens: int, window: int, stride: int) -> range:
    """Starts of the windows over `num_tokens` passage tokens: 0, stride, 2 * stride, ...
    up to the first window that reaches the end (one window for a short passage)."""
    extra = max(0, num_tokens - window)
    return range(0, math.ceil(extra / stride) * stride + 1, stride)


def char_span_to_tokens(offsets: np.ndarray, starts: np.ndarray, ends: np.ndarray
                        ) -> Tuple[np.ndarray, np.ndarray]:
    """Token indices covering the first and last character of each span [start, end).

    `offsets` (T, 2) are the passage tokens' character ranges, in order. A character
    inside a token maps to that token; a span that covers no token (only whitespace)
    gets a first token after its last, which callers treat as unlabelled.
    """
    # First token ending after the span's first character; last token starting before its end.
    first = np.searchsorted(offsets[:, 1], starts, side="right")
    last = np.searchsorted(offsets[:, 0], ends, side="left") - 1
    return first, last


def special_ids(tokenizer) -> Tuple[int, int, int]:
    """(CLS, SEP, PAD) ids of a tokenizer; both pipelines need all three."""
    ids = (tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id)
    if None in ids:
        raise ConfigError(f"tokenizer {type(tokenizer).__name__} lacks a [CLS], [SEP] or [PAD] "
                          f"token (ids {ids})")
    return ids
