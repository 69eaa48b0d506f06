"""Batched tokenizing of both pipelines: text to token ids and character offsets, no
special tokens, straight from the fast tokenizer's Rust backend."""
from __future__ import annotations

from typing import List, Sequence

# Dialogues per batched tokenizer call (the extractive side's progress-bar step too).
CHUNK_DIALOGUES = 256


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
