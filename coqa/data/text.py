"""WordPiece or SentencePiece tokens back to text, Chinese-correctly (both pipelines).

`join_tokens` glues the pieces of a word (WordPiece: a `##` piece continues the word;
SentencePiece, as XLM-R's: a `▁` piece starts a new one, see `Pieces`), puts a space only
between two words of a spaced script (Latin letters, digits...) and never one between
Chinese characters or next to punctuation (Chinese or not). `detokenize` adds what
decoder output needs on top: the special tokens, whatever the tokenizer calls them
(`Pieces.of(tokenizer)`; BERT's by default).

- The SEP token (`[SEP]`, `</s>`) ends the answer: it is the decoder's end-of-sequence
  token, so it and everything after it are left out.
- CLS, PAD and MASK tokens are dropped.
- The UNK token becomes `unk_text` ("" by default): the character it stood for is
  unknowable, and an empty string costs less F1 than five characters of "[UNK]".

The BERT tokenizer lower-cases Latin letters and drops the spaces inside a word's pieces,
so "iPhone 12是2020年发布的。" comes back as "iphone 12是2020年发布的。", and "hello, world"
as "hello,world" (no space next to punctuation).

`passage_spelling` (run_seq2seq.py --do_rule, the old decoder's "rule") gives an answer
that occurs in its passage the passage's own spelling: the answer and the passage are
compared without whitespace, lower-cased and without accents (what the tokenizer loses),
and the first match is returned as the passage writes it, its whitespace runs shown as one
space: "henry a.walsh" becomes "Henry A. Walsh". An answer not in the passage is kept.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import List, Sequence, Tuple


END_TOKEN = "[SEP]"
UNK_TOKEN = "[UNK]"
DROPPED_TOKENS = frozenset({"[CLS]", "[PAD]", "[MASK]"})
METASPACE = "\u2581"  # "▁", SentencePiece's mark of a word start


@dataclass(frozen=True)
class Pieces:
    """A tokenizer's special tokens and how its pieces mark words: WordPiece (`##`
    continues a word) or SentencePiece (`metaspace`: `▁` starts one)."""

    end: str = END_TOKEN
    unk: str = UNK_TOKEN
    dropped: frozenset = DROPPED_TOKENS
    metaspace: bool = False

    @classmethod
    def of(cls, tokenizer) -> "Pieces":
        """The pieces of `tokenizer` (any fast tokenizer; special tokens it lacks are None)."""
        dropped = {getattr(tokenizer, name, None)
                   for name in ("cls_token", "pad_token", "mask_token", "bos_token")}
        probe = tokenizer.convert_ids_to_tokens(tokenizer.encode("a b", add_special_tokens=False))
        return cls(end=tokenizer.sep_token or END_TOKEN, unk=tokenizer.unk_token or UNK_TOKEN,
                   dropped=frozenset(t for t in dropped if t),
                   metaspace=any(t.startswith(METASPACE) for t in probe))


BERT_PIECES = Pieces()


def is_byte_level(tokenizer) -> bool:
    """Whether a fast tokenizer's pieces are bytes spelled as characters (a ByteLevel
    decoder: RoBERTa's and GPT-2's BPE, where "张" is "å¼ł")."""
    decoder = getattr(getattr(tokenizer, "backend_tokenizer", None), "decoder", None)
    return type(decoder).__name__ == "ByteLevel"


def is_word_char(char: str) -> bool:
    """Letters and digits of scripts written with spaces (not CJK ideographs)."""
    return char.isalnum() and unicodedata.east_asian_width(char) not in ("W", "F")


def join_tokens(tokens: Sequence[str], metaspace: bool = False) -> str:
    """Readable text from WordPiece (or, `metaspace`, SentencePiece) tokens: the pieces of
    a word glued, a space only between two words of a spaced script, never between
    Chinese characters."""
    text = ""
    for token in tokens:
        if metaspace:
            starts_word, piece = token.startswith(METASPACE), token.lstrip(METASPACE)
        else:
            starts_word, piece = not token.startswith("##"), token[2:] if token.startswith("##") else token
        if not piece:  # a lone "▁"
            continue
        if starts_word and text and is_word_char(text[-1]) and is_word_char(piece[0]):
            text += " "
        text += piece
    return text


def detokenize(tokens: Sequence[str], unk_text: str = "", pieces: Pieces = BERT_PIECES) -> str:
    """Answer text from generated tokens (see the module docstring for the rules)."""
    kept: List[str] = []
    for token in tokens:
        if token == pieces.end:
            break
        if token in pieces.dropped:
            continue
        if token == pieces.unk:
            if unk_text:
                kept.append(unk_text)
            continue
        kept.append(token)
    return join_tokens(kept, pieces.metaspace)


def detokenize_segments(tokens: Sequence[str], pieces: Pieces = BERT_PIECES) -> List[str]:
    """The text of each SEP-separated segment (for logging a whole source sequence); the
    UNK token is shown as itself here, since a reader wants to see it."""
    segments: List[List[str]] = [[]]
    for token in tokens:
        if token == pieces.end:
            segments.append([])
        elif token not in pieces.dropped:
            segments[-1].append(token)
    if not segments[-1]:
        segments.pop()
    return [join_tokens(segment, pieces.metaspace) for segment in segments]


def _folded(text: str) -> Tuple[str, List[int]]:
    """`text` without whitespace, NFKC-folded (a SentencePiece tokenizer gives "?" for
    "？"), lower-cased, accents removed; and for each character of the result the index of
    the character of `text` it came from."""
    chars: List[str] = []
    origin: List[int] = []
    for index, char in enumerate(text):
        if char.isspace():
            continue
        folded = unicodedata.normalize("NFKC", char).lower()
        for piece in unicodedata.normalize("NFD", folded):
            if unicodedata.category(piece) != "Mn" and not piece.isspace():
                chars.append(piece)
                origin.append(index)
    return "".join(chars), origin


def passage_spelling(answer: str, passage: str) -> str:
    """The passage's own spelling of `answer` when it occurs there (module docstring)."""
    folded_answer, _ = _folded(answer)
    if not folded_answer or not passage:
        return answer
    folded_passage, origin = _folded(passage)
    start = folded_passage.find(folded_answer)
    if start < 0:
        return answer
    found = passage[origin[start]:origin[start + len(folded_answer) - 1] + 1]
    return " ".join(found.split())
