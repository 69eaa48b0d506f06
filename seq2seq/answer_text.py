"""Generated token ids back to answer text, for every tokenizer a seq2seq model can have.

WordPiece and SentencePiece tokens go through `coqa.data.text.detokenize` (its rules: the
SEP token ends the answer, other special tokens and UNK are dropped, no space between
Chinese characters). A byte-level BPE tokenizer (RoBERTa's, GPT-2's) spells each byte as
one printable character, so a Chinese character is two or three tokens' worth of such
characters ("张" is "å¼ł"): its tokens are joined, turned back into bytes and decoded as
UTF-8, after the same special tokens are dropped. Bytes that do not form a whole
character (an answer cut inside one) are left out, and whitespace between two Chinese
characters (or full-width punctuation marks), a "Ġ" piece the model chose there, is removed.

`in_passage` is --do_rule's answer: the passage's own spelling of the answer
(`coqa.data.text.passage_spelling`), and first the characters behind its UNK tokens. A
vocabulary without "兰" reads "兰州" as [UNK] 州 and the answer text drops the [UNK] ("州"),
but the passage shows what it stood for: the answer's text between its UNK tokens is
looked for in the passage, each UNK matching what one UNK token covers (a run of Latin
letters and digits, or one other character) and the tokenizer reads as UNK, and the
first match is the answer.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, List, Sequence

from coqa.data.text import Pieces, detokenize, detokenize_segments, is_byte_level, passage_spelling

# Whitespace between two Chinese characters or full-width punctuation marks.
CJK = "\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
SPACE_BETWEEN_CJK = re.compile(rf"(?<=[{CJK}])\s+(?=[{CJK}])")
# What one UNK token stands for: a word of Latin letters and digits, or one other character.
UNK_MATCH = r"(?:[0-9A-Za-z\u00c0-\u024f]+|[^\s0-9A-Za-z\u00c0-\u024f])"


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

    def in_passage(self, ids: Sequence[int], passage: str) -> str:
        """The answer as its passage spells it, with the characters behind its UNK tokens
        (module docstring); the answer's own text when it is not in the passage."""
        parts = self._parts_around_unk(ids)
        if len(parts) > 1 and "".join(parts):
            pattern = f"({UNK_MATCH})".join(r"\s*".join(map(re.escape, part.replace(" ", "")))
                                            for part in parts)
            for found in re.finditer(pattern, passage, flags=re.IGNORECASE):
                if all(map(self._is_unknown, found.groups())):
                    return " ".join(found.group(0).split())
        return passage_spelling(self.text(ids), passage)

    def _is_unknown(self, text: str) -> bool:
        """Whether the tokenizer reads `text` as UNK tokens only (what an UNK stood for)."""
        tokens = self.tokenizer.tokenize(text)
        return bool(tokens) and all(t == self.pieces.unk or not t.strip("\u2581")
                                    for t in tokens) and self.pieces.unk in tokens

    def _parts_around_unk(self, ids: Sequence[int]) -> List[str]:
        """The answer's text before, between and after its UNK tokens."""
        parts, current = [], []
        for token_id in ids:
            if token_id == self.tokenizer.unk_token_id:
                parts.append(current)
                current = []
            else:
                current.append(token_id)
            if token_id == self.tokenizer.sep_token_id:
                break
        return [self.text(part) for part in parts + [current]]

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
