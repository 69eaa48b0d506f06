"""Answer comparison, bit for bit as the ConvQA_CN evaluator behind the published numbers.

EM compares `normalize_answer` strings (official CoQA normalisation: lower-case, drop ASCII
punctuation, drop the articles a/an/the, collapse whitespace). F1 first runs BERT's basic
tokenisation (every CJK character and every punctuation character its own token), joins
the tokens with spaces and normalises again, so Chinese is scored character by character
and Chinese punctuation stays a token; on English CoQA this is the official word-level F1.
"""
from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from functools import lru_cache
from typing import List

_ASCII_PUNCT = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(text: str) -> str:
    """Official CoQA normalisation: lower → drop ASCII punctuation → articles → whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _ASCII_PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _is_cjk(code: int) -> bool:
    """BERT's definition of a CJK character (the CJK Unified Ideographs blocks)."""
    return (0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0x20000 <= code <= 0x2A6DF
            or 0x2A700 <= code <= 0x2B73F or 0x2B740 <= code <= 0x2B81F
            or 0x2B820 <= code <= 0x2CEAF or 0xF900 <= code <= 0xFAFF
            or 0x2F800 <= code <= 0x2FA1F)


def _is_punctuation(char: str) -> bool:
    """BERT's punctuation: all non-alphanumeric ASCII, plus Unicode category P*."""
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


@lru_cache(maxsize=1 << 16)
def _char_class(char: str) -> int:
    """0 drop, 1 whitespace, 2 CJK or punctuation (own token), 3 ordinary."""
    code = ord(char)
    if char in " \t\n\r" or unicodedata.category(char) == "Zs":
        return 1
    if code == 0 or code == 0xFFFD or unicodedata.category(char).startswith("C"):
        return 0
    if _is_cjk(code) or _is_punctuation(char):
        return 2
    return 3


def _strip_accents(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFD", text)
                   if unicodedata.category(ch) != "Mn")


def basic_tokenize(text: str) -> List[str]:
    """BERT BasicTokenizer with do_lower_case=True (clean, split CJK, lower, strip accents,
    split punctuation)."""
    pieces: List[str] = []
    for word in "".join(ch if _char_class(ch) != 1 else " " for ch in text
                        if _char_class(ch) != 0).split():
        if not word.isascii():
            word = _strip_accents(word.lower())
        else:
            word = word.lower()
        current = ""
        for ch in word:
            if _char_class(ch) == 2:  # CJK or punctuation: a token by itself
                if current:
                    pieces.append(current)
                    current = ""
                pieces.append(ch)
            else:
                current += ch
        if current:
            pieces.append(current)
    return pieces


def _drop_cjk_punct(tokens: List[str]) -> List[str]:
    return [tok for tok in tokens
            if not (len(tok) == 1 and not tok.isascii() and unicodedata.category(tok)[0] == "P")]


def _strip_cjk_punct_text(text: str) -> str:
    return "".join(ch for ch in text if ch.isascii() or unicodedata.category(ch)[0] != "P")


def f1_tokens(text: str, drop_cjk_punct: bool = False) -> List[str]:
    tokens = normalize_answer(" ".join(basic_tokenize(text))).split()
    return _drop_cjk_punct(tokens) if drop_cjk_punct else tokens


def exact_match(gold: str, pred: str, drop_cjk_punct: bool = False) -> float:
    if drop_cjk_punct:
        gold, pred = _strip_cjk_punct_text(gold), _strip_cjk_punct_text(pred)
    return float(normalize_answer(gold) == normalize_answer(pred))


def f1_score(gold: str, pred: str, drop_cjk_punct: bool = False) -> float:
    """Official CoQA F1 over `f1_tokens`; two empty token lists score 1."""
    gold_toks = f1_tokens(gold, drop_cjk_punct)
    pred_toks = f1_tokens(pred, drop_cjk_punct)
    if not gold_toks or not pred_toks:
        return float(gold_toks == pred_toks)
    common = sum((Counter(gold_toks) & Counter(pred_toks)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred_toks), common / len(gold_toks)
    return 2 * precision * recall / (precision + recall)
