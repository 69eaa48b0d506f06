"""Text comparison: hand-computed EM / F1, and BERT basic tokenisation vs the reference."""
from __future__ import annotations

import random

import pytest

from evaluate.answer_kinds import classify_special
from evaluate.text import basic_tokenize, exact_match, f1_score, normalize_answer


def test_normalize_official_coqa():
    assert normalize_answer("The  Cat, a dog!") == "cat dog"
    assert normalize_answer("平安夜。") == "平安夜。"  # only ASCII punctuation is dropped


def test_chinese_with_punctuation():
    # gold tokens 平 安 夜 。 (4), pred 平 安 夜 (3): P = 1, R = 3/4, F1 = 6/7.
    assert exact_match("平安夜。", "平安夜") == 0.0
    assert f1_score("平安夜。", "平安夜") == pytest.approx(6 / 7)
    assert exact_match("平安夜。", "平安夜", drop_cjk_punct=True) == 1.0
    assert f1_score("平安夜。", "平安夜", drop_cjk_punct=True) == 1.0


def test_mixed_chinese_english_digits():
    # gold: iphone 12 是 2020 年 发 布 的 (8 tokens); pred: 2020 年 发 布 (4): F1 = 2/3.
    assert basic_tokenize("iPhone 12是2020年发布的") == ["iphone", "12", "是", "2020", "年",
                                                      "发", "布", "的"]
    assert f1_score("iPhone 12是2020年发布的", "2020年发布") == pytest.approx(2 / 3)
    assert exact_match("IPHONE 12", "iphone 12.") == 1.0


def test_empty_answers():
    assert f1_score("", "") == 1.0
    assert f1_score("。", "无法作答") == 0.0
    assert f1_score("the", "a") == 1.0  # both normalise to nothing, as in the official script


def test_basic_tokenize_equals_bert_reference():
    legacy = pytest.importorskip("transformers.models.bert.tokenization_bert_legacy")
    reference = legacy.BasicTokenizer(do_lower_case=True)
    rng = random.Random(0)
    alphabet = "abcXYZ 平安，。！？!?.,'-é\u0301\t\u3000Ａ한3\u200b\x00「」"
    cases = ["Café déjà-vu, naïve", "「你好」，世界？", "Ｆｕｌｌ　ｗｉｄｔｈ", "e\u0301cole"]
    cases += ["".join(rng.choice(alphabet) for _ in range(30)) for _ in range(1000)]
    for case in cases:
        assert basic_tokenize(case) == reference.tokenize(case), case


@pytest.mark.parametrize("text, kind", [("是的", "yes"), (" 不是 ", "no"), ("无法作答", "unknown"),
                                        ("Yes.", "yes"), ("NO", "no"), ("unknown", "unknown"),
                                        ("是", None), ("是的。", None), ("yes..", None)])
def test_classify_special(text, kind):
    assert classify_special(text) == kind
