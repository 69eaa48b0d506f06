"""Text comparison: hand-computed EM / F1, and BERT basic tokenisation vs its references."""
from __future__ import annotations

import importlib
import random

import pytest

from evaluate.answer_kinds import NO_TEXT, UNKNOWN_TEXT, YES_TEXT, classify_special
from evaluate.text import basic_tokenize, exact_match, f1_score, f1_tokens, normalize_answer


def test_normalize_is_official_coqa():
    assert normalize_answer("The  Cat, a dog!") == "cat dog"
    assert normalize_answer("Theory of an apple") == "theory of apple"  # whole words only
    assert normalize_answer("平安夜。") == "平安夜。"  # only ASCII punctuation is removed
    # Punctuation goes before articles: "the-end" -> "theend" keeps its "the".
    assert normalize_answer("the-end") == "theend"


def test_chinese_with_punctuation():
    # gold tokens 平 安 夜 。 (4), pred 平 安 夜 (3): common 3, P = 1, R = 3/4,
    # F1 = 2 * 3/4 / (7/4) = 6/7. EM: "平安夜。" != "平安夜".
    assert f1_tokens("平安夜。") == ["平", "安", "夜", "。"]
    assert exact_match("平安夜。", "平安夜") == 0.0
    assert f1_score("平安夜。", "平安夜") == pytest.approx(6 / 7)
    # ASCII punctuation is dropped by normalisation, so "平安夜." equals "平安夜".
    assert exact_match("平安夜.", "平安夜") == 1.0
    assert f1_score("平安夜.", "平安夜") == 1.0


def test_drop_cjk_punct():
    assert exact_match("平安夜。", "平安夜", drop_cjk_punct=True) == 1.0
    assert f1_score("平安夜。", "平安夜", drop_cjk_punct=True) == 1.0
    # 「平安夜」，是的 -> 平 安 夜 是 的 (5) vs 平 安 夜 (3): P = 1, R = 3/5, F1 = 3/4.
    assert f1_tokens("「平安夜」，是的", drop_cjk_punct=True) == ["平", "安", "夜", "是", "的"]
    assert f1_score("「平安夜」，是的", "平安夜", drop_cjk_punct=True) == pytest.approx(3 / 4)
    # Without the flag: 8 gold tokens, F1 = 2 * (3/8) / (1 + 3/8) = 6/11.
    assert f1_score("「平安夜」，是的", "平安夜") == pytest.approx(6 / 11)


def test_mixed_chinese_english_digits():
    # gold: iphone 12 是 2020 年 发 布 的 (8 tokens); pred: 2020 年 发 布 (4):
    # P = 1, R = 1/2, F1 = 2/3.
    assert basic_tokenize("iPhone 12是2020年发布的") == ["iphone", "12", "是", "2020", "年",
                                                      "发", "布", "的"]
    assert f1_score("iPhone 12是2020年发布的", "2020年发布") == pytest.approx(2 / 3)
    # pred iphone 12 (2) vs gold (8): P = 1, R = 1/4, F1 = 2/5.
    assert f1_score("iPhone 12是2020年发布的", "IPHONE 12") == pytest.approx(2 / 5)
    assert exact_match("IPHONE 12", "iphone 12.") == 1.0
    # "12.5万" splits at "." (BERT punctuation), then normalise drops it: 12 5 万.
    assert f1_tokens("12.5万") == ["12", "5", "万"]


def test_english_words_split_at_apostrophes():
    # "the farmer's" -> the farmer ' s -> normalise -> farmer s; vs "the farmer" -> farmer:
    # P = 1, R = 1/2, F1 = 2/3. (The official CoQA script, which does not split at the
    # quote, compares "farmers" with "farmer" and gives 0; we follow the ConvQA_CN one.)
    assert f1_tokens("the farmer's") == ["farmer", "s"]
    assert f1_score("the farmer's", "the farmer") == pytest.approx(2 / 3)
    assert f1_score("orange with white tiger stripes", "orange and white") == pytest.approx(1 / 2)


def test_empty_answers():
    assert f1_score("", "") == 1.0
    assert f1_score("。", "无法作答") == 0.0
    assert f1_score("the", "a") == 1.0  # both normalise to nothing, as in the official script
    assert f1_score("", "平安夜") == 0.0


def test_basic_tokenize_cleaning_and_accents():
    assert basic_tokenize("Café\u00a0déjà-vu") == ["cafe", "deja", "-", "vu"]
    assert basic_tokenize("a\x00b\u200bc\ufffdd\te") == ["abcd", "e"]  # dropped, not spaces
    assert basic_tokenize("ｉＰｈｏｎｅ１２") == ["ｉｐｈｏｎｅ１２"]  # full-width stays one word
    assert basic_tokenize("「你好」，世界？") == ["「", "你", "好", "」", "，", "世", "界", "？"]


# Characters that exercise every branch: CJK (incl. an extension-B and a compatibility
# ideograph), kana and Hangul (not CJK for BERT), ASCII and CJK punctuation, accents
# composed and combining, full-width forms, control and format characters, odd spaces.
_ALPHABET = ("abcXYZ019 平安夜年\U00020000\uf900かナ한"
             "，。！？「」、；：（）!?.,'-\"$%&@[]{}~`^_"
             "éÉ\u0301ñÅ\u0308Ａ１ｚ\t\n\r\u3000\u00a0\u2028\u200b\x00\x07\ufffd\u00ad")

_CASES = ["Café déjà-vu, naïve", "「你好」，世界？", "Ｆｕｌｌ　ｗｉｄｔｈ", "e\u0301cole",
          "iPhone 12是2020年发布的", "The farmer's 12.5% (approx.)", "无法作答。", ""]


def _random_cases(alphabet: str, count: int = 800) -> list:
    rng = random.Random(1234)
    return [_CASES[i % len(_CASES)] + "".join(rng.choice(alphabet) for _ in range(25))
            for i in range(count)]


def _transformers_basic_tokenizer():
    """BERT's own Python BasicTokenizer, wherever this transformers version keeps it."""
    for name in ("transformers.models.bert.tokenization_bert",
                 "transformers.models.bert.tokenization_bert_legacy"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(module, "BasicTokenizer"):
            return module.BasicTokenizer(do_lower_case=True)
    pytest.skip("this transformers has no BasicTokenizer")


def test_basic_tokenize_equals_transformers_basic_tokenizer():
    reference = _transformers_basic_tokenizer()
    for case in _CASES + _random_cases(_ALPHABET):
        assert basic_tokenize(case) == reference.tokenize(case), repr(case)


def test_basic_tokenize_equals_tokenizers_bert_pipeline():
    normalizers = pytest.importorskip("tokenizers.normalizers")
    pre_tokenizers = pytest.importorskip("tokenizers.pre_tokenizers")
    normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                            strip_accents=True, lowercase=True)
    splitter = pre_tokenizers.BertPreTokenizer()
    # The Rust pipeline strips every combining mark (Mn, Mc, Me) and lower-cases per
    # character, where BERT drops only Mn; the alphabet has no Mc/Me marks and no Σ,
    # the only places the two differ.
    for case in _CASES + _random_cases(_ALPHABET):
        expected = [piece for piece, _ in
                    splitter.pre_tokenize_str(normalizer.normalize_str(case))]
        assert basic_tokenize(case) == expected, repr(case)


@pytest.mark.parametrize("text, kind", [
    (YES_TEXT, "yes"), (f" {NO_TEXT}\n", "no"), (UNKNOWN_TEXT, "unknown"),
    ("Yes.", "yes"), ("NO", "no"), ("unknown", "unknown"), (" Unknown. ", "unknown"),
    ("是", None), ("是的。", None), ("有", None), ("yes..", None), ("yes, it is", None),
    ("", None)])
def test_classify_special(text, kind):
    assert classify_special(text) == kind


def test_coqa_comparison_is_the_official_words():
    # Official: normalise, then split on whitespace. The quote is dropped, not split at,
    # accents stay, and a hyphenated word becomes one.
    assert f1_tokens("The farmer's café", comparison="coqa") == ["farmers", "café"]
    assert f1_tokens("The farmer's café") == ["farmer", "s", "cafe"]  # BERT tokens
    assert f1_tokens("don't stop on-line", comparison="coqa") == ["dont", "stop", "online"]
    # "don't stop" vs "dont stop": official 1; BERT don t stop vs dont stop: common stop,
    # P 1/2, R 1/3, F1 2/5.
    assert f1_score("don't stop", "dont stop", comparison="coqa") == 1.0
    assert f1_score("don't stop", "dont stop") == pytest.approx(2 / 5)
    assert f1_tokens("", comparison="coqa") == []
    # drop_cjk_punct applies to the official words too.
    assert f1_tokens("平安夜。", True, "coqa") == ["平安夜"]
