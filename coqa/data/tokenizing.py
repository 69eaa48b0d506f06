"""Batched tokenizing of both pipelines: text to token ids and character offsets, no
special tokens, straight from the fast tokenizer's Rust backend."""
from __future__ import annotations

import logging
from typing import List, Sequence

import numpy as np

logger = logging.getLogger(__name__)

# Dialogues per batched tokenizer call (the extractive side's progress-bar step too).
CHUNK_DIALOGUES = 256
# Above this share of UNK tokens the tokenizer is said not to cover the data.
UNK_WARNING_SHARE = 0.2


def encode_batch(tokenizer, texts: Sequence[str]) -> list:
    """`tokenizers.Encoding`s of `texts` (`.ids`, `.offsets`) without special tokens,
    truncation or padding: what `tokenizer(texts, add_special_tokens=False,
    return_offsets_mapping=True)` computes, from the Rust backend directly, without
    transformers' conversion of every encoding into Python dicts (a quarter of the
    preprocessing time)."""
    if not texts:
        return []
    backend = tokenizer.backend_tokenizer
    # transformers sets these on the shared backend before each of its own calls too.
    backend.no_truncation()
    backend.no_padding()
    return backend.encode_batch(list(texts), add_special_tokens=False)


def encode_ids(tokenizer, texts: Sequence[str]) -> List[List[int]]:
    """Token ids of each text, as `encode_batch`."""
    return [encoding.ids for encoding in encode_batch(tokenizer, texts)]


def warn_if_mostly_unknown(ids: np.ndarray, counted: np.ndarray, tokenizer, what: str) -> float:
    """Warn, in one line, when over `UNK_WARNING_SHARE` of the `counted` tokens of `ids`
    (same shapes) are UNK: a tokenizer built without its vocabulary (transformers 5's
    BertTokenizerFast(vocab_file=...)) or another language's. Offsets still give labels,
    so training would go on silently. Returns the share."""
    total = int(counted.sum())
    unk_id = tokenizer.unk_token_id
    share = float(((ids == unk_id) & counted).sum()) / total if total and unk_id is not None else 0.0
    if share > UNK_WARNING_SHARE:
        logger.warning("%.0f%% of the %s tokens are %s: the tokenizer (%d tokens) does not "
                       "cover this data; is it the model's own, built with its vocabulary?",
                       100 * share, what, tokenizer.unk_token, len(tokenizer))
    return share
