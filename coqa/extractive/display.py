"""Extractive features made readable: the decoded training
features that run_coqa.py logs before training (does the label say what we think?)."""
from __future__ import annotations

import logging
from typing import Tuple

import numpy as np

from coqa.data.text import Pieces, join_tokens
from coqa.extractive.features import FeatureSet
from coqa.extractive.labels import CLASS_TEXT, CLS_SPAN_CLASS, NUM_SPECIAL

logger = logging.getLogger(__name__)


def decode_feature(features: FeatureSet, index: int, tokenizer) -> Tuple[str, str, str]:
    """(query, passage window, labelled answer) of one feature, for logging."""
    # [CLS] query [SEP] are the type-0 positions before the first type-1 one.
    body = int(np.argmax(features.token_type_ids[index] == 1))
    query_ids = features.input_ids[index, 1:body - 1].tolist()
    query_text = join_tokens(tokenizer.convert_ids_to_tokens(query_ids),
                             Pieces.of(tokenizer).metaspace)
    passage = features.passage(index)
    offsets = features.token_offsets[index]
    window = np.flatnonzero(offsets[:, 0] >= 0)
    window_text = passage[offsets[window[0], 0]:offsets[window[-1], 1]] if len(window) else ""
    start, end = int(features.start_positions[index]), int(features.end_positions[index])
    if start < NUM_SPECIAL:
        label_text = CLASS_TEXT[start]
    elif start == CLS_SPAN_CLASS:
        label_text = "(not in this window)"
    else:
        label_text = passage[offsets[start - NUM_SPECIAL, 0]:offsets[end - NUM_SPECIAL, 1]]
    return query_text, window_text, label_text


def log_features(features: FeatureSet, tokenizer, count: int = 3) -> None:
    """Log the first `count` features decoded: does the label say what we think?"""
    for index in range(min(count, len(features))):
        record = features.examples[features.example_index[index]]
        query, window, label = decode_feature(features, index, tokenizer)
        logger.info("Feature %d (dialogue %s, turn %d): query %r | window %r | label %r",
                    index, record.dialogue_id, record.turn_id, query, window, label)
