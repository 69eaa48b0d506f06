"""Generated token ids back to answer text, for every tokenizer a seq2seq model can have.

WordPiece and SentencePiece tokens go through `coqa.data.text.detokenize` (its rules: the
SEP token ends the answer, other special tokens and UNK are dropped, no space between
Chinese characters). A byte-level BPE tokenizer (RoBERTa's, GPT-2's) spells each byte as
one printable character, so a Chinese character is two or three tokens' worth of such
characters ("张" is "å¼ł"): its tokens are joined, turned back into bytes and decoded as
UTF-8, after the same special tokens are dropped. Bytes that do not form a whole
character (an answer cut inside one) are left out, and whitespace between two Chinese
characters (or full-width punctuation marks), a "Ġ" piece the model chose there, is removed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, List, Sequence

from coqa.data.text import Pieces, detokenize, detokenize_segments

# Whitespace between two Chinese characters or full-width punctuation marks.
CJK = "\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
SPACE_BETWEEN_CJK = re.compile(rf"(?<=[{CJK}])\s+(?=[{CJK}])")


def byte_decoder() -> Dict[str, int]:
    """GPT-2's table from the printable character of each byte back to the byte."""
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
                 + list(range(ord("®"), ord("ÿ") + 1)))
    chars = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return {chr(char): byte for byte, char in zip(printable, chars)}


def is_byte_level(tokenizer) -> bool:
    """Whether a fast tokenizer's pieces are bytes spelled as characters (ByteLevel decoder)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    decoder = getattr(backend, "decoder", None)
    return type(decoder).__name__ == "ByteLevel"


@dataclass(frozen=True)
class AnswerText:
    """`text(ids)`: an answer's text; `segments(ids)`: a source's SEP-separated parts."""

    tokenizer: object
    pieces: Pieces
    byte_level: bool

    @classmethod
    def of(cls, tokenizer) -> "AnswerText":
        return cls(tokenizer, Pieces.of(tokenizer), is_byte_level(tokenizer))

    def text(self, ids: Sequence[int]) -> str:
        tokens = self.tokenizer.convert_ids_to_tokens(list(ids))
        if not self.byte_level:
            return detokenize(tokens, pieces=self.pieces)
        kept: List[str] = []
        for token in tokens:
            if token == self.pieces.end:
                break
            if token not in self.pieces.dropped and token != self.pieces.unk:
                kept.append(token)
        return _from_bytes("".join(kept))

    def segments(self, ids: Sequence[int]) -> List[str]:
        tokens = self.tokenizer.convert_ids_to_tokens(list(ids))
        if not self.byte_level:
            return detokenize_segments(tokens, self.pieces)
        segments: List[List[str]] = [[]]
        for token in tokens:
            if token == self.pieces.end:
                segments.append([])
            elif token not in self.pieces.dropped:
                segments[-1].append(token)
        return [_from_bytes("".join(s)) for s in segments if s]


_BYTES = byte_decoder()


def _from_bytes(spelled: str) -> str:
    data = bytes(_BYTES[char] for char in spelled if char in _BYTES)
    text = data.decode("utf-8", errors="ignore")
    return SPACE_BETWEEN_CJK.sub("", text).strip()
