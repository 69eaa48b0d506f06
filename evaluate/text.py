"""Answer comparison: the ConvQA_CN one (default for Chinese) and the official CoQA one.

ConvQA_CN comparison, bit for bit as the evaluator behind the published numbers: EM
compares `normalize_answer` strings (official CoQA normalisation: lower-case, drop ASCII
punctuation, drop the articles a/an/the, collapse whitespace). F1 first runs BERT's basic
tokenisation (every CJK character and every punctuation character its own token), joins
the tokens with spaces and normalises again, so Chinese is scored character by character
and Chinese punctuation (。，？) stays a token.

CoQA comparison, as the official `evaluate-v1.0.py`: the same EM, and F1 over the words
of `normalize_answer` split on whitespace. The two differ on English: BERT tokens split
"don't" into don ' t and strip accents; the official words are "dont" and "café".

Standard library only.
"""
from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from functools import lru_cache
from typing import List, Sequence

CONVQA_CN_COMPARISON = "convqa_cn"
COQA_COMPARISON = "coqa"
TEXT_COMPARISONS = (CONVQA_CN_COMPARISON, COQA_COMPARISON)

_ASCII_PUNCT = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)

# Character classes of the character-level pass of BERT's basic tokeniser.
_DROP, _SPACE, _CJK, _OTHER = 0, 1, 2, 3


def normalize_answer(text: str) -> str:
    """Official CoQA `normalize_answer`: lower → drop ASCII punctuation → articles → spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _ASCII_PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _is_cjk(code: int) -> bool:
    """BERT's `_is_chinese_char`: the CJK Unified Ideographs blocks (not kana, not Hangul)."""
    return (0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF
            or 0x20000 <= code <= 0x2A6DF or 0x2A700 <= code <= 0x2B73F
            or 0x2B740 <= code <= 0x2B81F or 0x2B820 <= code <= 0x2CEAF
            or 0xF900 <= code <= 0xFAFF or 0x2F800 <= code <= 0x2FA1F)


@lru_cache(maxsize=1 << 16)
def _char_class(char: str) -> int:
    """Class of one input character: dropped, whitespace, CJK (own token) or other."""
    if char in " \t\n\r":
        return _SPACE
    category = unicodedata.category(char)
    if category == "Zs":
        return _SPACE
    # BERT's _clean_text: NUL, U+FFFD and control characters (category C*) vanish.
    if char == "\x00" or char == "\ufffd" or category[0] == "C":
        return _DROP
    return _CJK if _is_cjk(ord(char)) else _OTHER


@lru_cache(maxsize=1 << 16)
def _is_punctuation(char: str) -> bool:
    """BERT's punctuation: every non-alphanumeric printable ASCII character, plus Unicode P*."""
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char)[0] == "P"


def _strip_accents(word: str) -> str:
    """Decompose (NFD) and drop the non-spacing marks (category Mn), as BERT does."""
    return "".join(ch for ch in unicodedata.normalize("NFD", word)
                   if unicodedata.category(ch) != "Mn")


def _split_punctuation(word: str) -> List[str]:
    """Split a word so that every punctuation character is a token of its own."""
    pieces: List[str] = []
    start = 0
    for index, char in enumerate(word):
        if _is_punctuation(char):
            if start < index:
                pieces.append(word[start:index])
            pieces.append(char)
            start = index + 1
    if start < len(word):
        pieces.append(word[start:])
    return pieces


def basic_tokenize(text: str) -> List[str]:
    """BERT's BasicTokenizer with do_lower_case=True.

    Clean the text (drop control characters, map whitespace to ' '), put spaces around
    every CJK character, split on whitespace, lower-case and strip accents each word,
    then split punctuation off. No NFC step: the evaluator behind the published numbers
    predates it, and after NFD accent stripping it makes no difference to the tokens.
    """
    chars: List[str] = []
    for char in text:
        kind = _char_class(char)
        if kind == _OTHER:
            chars.append(char)
        elif kind == _CJK:
            chars.append(f" {char} ")
        elif kind == _SPACE:
            chars.append(" ")
    tokens: List[str] = []
    for word in "".join(chars).split():
        word = word.lower()
        if not word.isascii():  # ASCII has no accents to strip; skip the NFD round trip.
            word = _strip_accents(word)
        tokens.extend(_split_punctuation(word))
    return tokens


def _is_cjk_punct(char: str) -> bool:
    """Non-ASCII punctuation (。，？「」…): what --drop-cjk-punct removes."""
    return not char.isascii() and unicodedata.category(char)[0] == "P"


def em_string(text: str, drop_cjk_punct: bool = False) -> str:
    """The string EM compares: `normalize_answer`, optionally without non-ASCII punctuation."""
    if drop_cjk_punct:
        text = "".join(ch for ch in text if not _is_cjk_punct(ch))
    return normalize_answer(text)


def contains_cjk(text: str) -> bool:
    """True when `text` holds a CJK ideograph (what BERT scores character by character)."""
    return any(_is_cjk(ord(char)) for char in text)


def f1_tokens(text: str, drop_cjk_punct: bool = False,
              comparison: str = CONVQA_CN_COMPARISON) -> List[str]:
    """The tokens F1 counts. ConvQA_CN: normalize(' '.join(basic_tokenize(text))).split();
    CoQA: normalize(text).split(), the official script's words."""
    if comparison == COQA_COMPARISON:
        return em_string(text, drop_cjk_punct).split()
    tokens = normalize_answer(" ".join(basic_tokenize(text))).split()
    if drop_cjk_punct:
        # Punctuation is always a one-character token after basic_tokenize.
        tokens = [tok for tok in tokens if not (len(tok) == 1 and _is_cjk_punct(tok))]
    return tokens


def f1_from_tokens(gold_toks: Sequence[str], pred_toks: Sequence[str]) -> float:
    """Official CoQA F1 on token lists; when either list is empty, 1.0 only if both are."""
    if not gold_toks or not pred_toks:
        return float(list(gold_toks) == list(pred_toks))
    common = sum((Counter(gold_toks) & Counter(pred_toks)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred_toks), common / len(gold_toks)
    return 2 * precision * recall / (precision + recall)


def exact_match(gold: str, pred: str, drop_cjk_punct: bool = False) -> float:
    """1.0 when the normalised strings are equal, else 0.0."""
    return float(em_string(gold, drop_cjk_punct) == em_string(pred, drop_cjk_punct))


def f1_score(gold: str, pred: str, drop_cjk_punct: bool = False,
             comparison: str = CONVQA_CN_COMPARISON) -> float:
    """Official CoQA F1 over `f1_tokens` (ConvQA_CN comparison: Chinese per character)."""
    return f1_from_tokens(f1_tokens(gold, drop_cjk_punct, comparison),
                          f1_tokens(pred, drop_cjk_punct, comparison))
