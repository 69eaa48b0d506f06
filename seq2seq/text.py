"""Generated WordPiece tokens back to answer text, Chinese-correctly.

`coqa.feature_display.join_tokens` already glues `##` pieces, puts a space only between two words
of a spaced script (Latin letters, digits...) and never one between Chinese characters or
next to punctuation (Chinese or not). `detokenize` adds what decoder output needs on top:
the special tokens.

- `[SEP]` ends the answer: it is the decoder's end-of-sequence token, so it and everything
  after it are left out.
- `[CLS]`, `[PAD]` and `[MASK]` are dropped.
- `[UNK]` becomes `unk_text` ("" by default): the character it stood for is unknowable, and
  an empty string costs less F1 than five characters of "[UNK]".

The BERT tokenizer lower-cases Latin letters and drops the spaces inside a word's pieces,
so "iPhone 12是2020年发布的。" comes back as "iphone 12是2020年发布的。", and "hello, world"
as "hello,world" (no space next to punctuation).
"""
from __future__ import annotations

from typing import List, Sequence

from coqa.feature_display import join_tokens

END_TOKEN = "[SEP]"
UNK_TOKEN = "[UNK]"
DROPPED_TOKENS = frozenset({"[CLS]", "[PAD]", "[MASK]"})


def detokenize(tokens: Sequence[str], unk_text: str = "") -> str:
    """Answer text from generated WordPiece tokens (see the module docstring for the rules)."""
    kept: List[str] = []
    for token in tokens:
        if token == END_TOKEN:
            break
        if token in DROPPED_TOKENS:
            continue
        if token == UNK_TOKEN:
            if unk_text:
                kept.append(unk_text)
            continue
        kept.append(token)
    return join_tokens(kept)


def detokenize_segments(tokens: Sequence[str]) -> List[str]:
    """The text of each `[SEP]`-separated segment (for logging a whole source sequence);
    `[UNK]` is shown as itself here, since a reader wants to see it."""
    segments: List[List[str]] = [[]]
    for token in tokens:
        if token == END_TOKEN:
            segments.append([])
        elif token not in DROPPED_TOKENS:
            segments[-1].append(token)
    if not segments[-1]:
        segments.pop()
    return [join_tokens(segment) for segment in segments]
