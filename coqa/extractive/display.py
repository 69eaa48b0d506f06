"""Extractive features made readable: the decoded training
features that run_coqa.py logs before training (does the label say what we think?)."""
from __future__ import annotations

import logging
from typing import Tuple

import numpy as np

from coqa.data.text import Pieces, is_byte_level, join_tokens
from coqa.data.tokenizing import warn_if_mostly_unknown
from coqa.extractive.features import FeatureSet
from coqa.extractive.labels import CLASS_TEXT, CLS_SPAN_CLASS, NUM_SPECIAL

logger = logging.getLogger(__name__)


def decode_feature(features: FeatureSet, index: int, tokenizer) -> Tuple[str, str, str]:
    """(query, passage window, labelled answer) of one feature, for logging."""
    # [CLS] query [SEP] are the type-0 positions before the first type-1 one.
    body = int(np.argmax(features.token_type_ids[index] == 1))
    query_tokens = tokenizer.convert_ids_to_tokens(features.input_ids[index, 1:body - 1].tolist())
    if is_byte_level(tokenizer):  # RoBERTa's BPE spells each byte as a character: "张" is "å¼ł"
        query_text = tokenizer.convert_tokens_to_string(query_tokens)
    else:
        query_text = join_tokens(query_tokens, Pieces.of(tokenizer).metaspace)
    passage = features.passage(index)
    offsets = features.token_offsets[index]
    window_text = _window_text(features, index, tokenizer)
    start, end = int(features.start_positions[index]), int(features.end_positions[index])
    if start < NUM_SPECIAL:
        label_text = CLASS_TEXT[start]
    elif start == CLS_SPAN_CLASS:
        label_text = "(not in this window)"
    else:
        label_text = passage[offsets[start - NUM_SPECIAL, 0]:offsets[end - NUM_SPECIAL, 1]]
    return query_text, window_text, label_text


def _window_text(features: FeatureSet, index: int, tokenizer) -> str:
    """The window's passage characters, with any history marker token (no offsets, inside
    segment 1 before the final [SEP]) shown where it stands."""
    offsets = features.token_offsets[index]
    window = np.flatnonzero(features.token_type_ids[index] == 1)[:-1]
    passage, pieces, position = features.passage(index), [], None
    for at in window.tolist():
        start, end = int(offsets[at, 0]), int(offsets[at, 1])
        if start < 0:
            pieces.append(tokenizer.convert_ids_to_tokens(int(features.input_ids[index, at])))
            continue
        pieces.append(passage[start if position is None else position:end])
        position = end
    return "".join(pieces)


def log_features(features: FeatureSet, tokenizer, count: int = 3) -> None:
    """Log the first `count` features decoded: does the label say what we think? Warn
    when the tokenizer reads much of the passages as UNK (`warn_if_mostly_unknown`)."""
    passage = (features.token_offsets[..., 0] >= 0) & (features.attention_mask == 1)  # (N, L)
    warn_if_mostly_unknown(features.input_ids, passage, tokenizer, "passage")
    for index in range(min(count, len(features))):
        record = features.examples[features.example_index[index]]
        query, window, label = decode_feature(features, index, tokenizer)
        logger.info("Feature %d (dialogue %s, turn %d): query %r | window %r | label %r",
                    index, record.dialogue_id, record.turn_id, query, window, label)
