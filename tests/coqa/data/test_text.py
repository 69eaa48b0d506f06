"""Decoder tokens back to answer text: no spaces between Chinese characters, a space only
between two words of a spaced script, checked by rule and on real answers."""
from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest
from transformers import BertTokenizerFast

from coqa.data.text import is_word_char
from coqa.data.readers import load_dialogues
from coqa.data.text import Pieces, detokenize, detokenize_segments, join_tokens, passage_spelling
from tests.conftest import SHARED, require_shared

REPO = Path(__file__).resolve().parents[3]


def real_tokenizer():
    path = SHARED / "models" / "bert-base-chinese"
    if not (path / "vocab.txt").is_file():
        pytest.skip(f"{path} not available")
    return BertTokenizerFast.from_pretrained(str(path))


def test_detokenize_rules():
    assert detokenize(["iphone", "12", "是", "2020", "年", "发", "布", "的", "。"]) == \
        "iphone 12是2020年发布的。"
    assert detokenize(["un", "##believ", "##able", "，", "好", "的", "！"]) == "unbelievable，好的！"
    assert detokenize(["[CLS]", "甲", "[PAD]", "乙", "[SEP]", "丙", "[PAD]"]) == "甲乙"
    assert detokenize(["a", "[UNK]", "b"]) == "a b"
    assert detokenize(["甲", "[UNK]", "乙"], unk_text="□") == "甲□乙"
    assert detokenize(["hello", ",", "world", "3", ".", "5", "%"]) == "hello,world 3.5%"
    assert detokenize([]) == ""
    assert detokenize_segments(["[CLS]", "甲", "乙", "[SEP]", "丙", "[SEP]"]) == ["甲乙", "丙"]


def test_detokenize_round_trip_with_the_real_tokenizer():
    tokenizer = real_tokenizer()
    assert detokenize(tokenizer.tokenize("iPhone 12是2020年发布的。")) == "iphone 12是2020年发布的。"
    generated = tokenizer.convert_ids_to_tokens(tokenizer("2.3公里，约5分钟")["input_ids"])
    assert detokenize(generated) == "2.3公里，约5分钟"  # [CLS] ... [SEP] from the tokenizer


def test_detokenize_sample_answers():
    tokenizer = real_tokenizer()
    sample = REPO / "data" / "sample" / "dev.json"
    answers = [a["input_text"] for d in json.loads(sample.read_text(encoding="utf-8"))["data"]
               for a in d["Answers"]]
    assert answers
    for answer in answers:
        # Characters outside the vocabulary come back as the unk text.
        expected = "".join(c if c.isspace() or tokenizer.tokenize(c) != ["[UNK]"] else "□"
                           for c in answer.lower())
        assert detokenize(tokenizer.tokenize(answer), unk_text="□") == expected, answer


def _squad_answers(path: Path):
    for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                yield from (answer["text"] for answer in qa["answers"])


def _expected_text(answer: str, tokenizer) -> str:
    """What a perfect decoder's text should be: lower-cased and accents stripped as the
    tokenizer does, unknown characters as □, runs of whitespace dropped except one space
    between two words of a spaced script."""
    chars = []
    for char in answer.lower():
        if not char.isspace() and tokenizer.tokenize(char) == ["[UNK]"]:
            char = "□"
        chars.append("".join(c for c in unicodedata.normalize("NFD", char)
                             if unicodedata.category(c) != "Mn"))
    text = ""
    for word in "".join(chars).split():
        if text and is_word_char(text[-1]) and is_word_char(word[0]):
            text += " "
        text += word
    return text


def test_detokenize_unseen_real_answers():
    """Every answer of CMRC 2018 trial, DRCD dev and the public ConvQA_CN dialogue (4,672
    distinct texts, Chinese with Latin words, numbers, units, punctuation) tokenized and
    detokenized comes back spaced as written. The only differences allowed are where
    the tokenizer maps a whole word with an unknown character to one [UNK]."""
    tokenizer = real_tokenizer()
    answers = set(_squad_answers(require_shared("data", "cmrc2018", "cmrc2018_trial.json")))
    answers |= set(_squad_answers(require_shared("data", "drcd", "DRCD_dev.json")))
    answers |= {answer for d in load_dialogues(
        require_shared("data", "convqa_cn", "readme_sample.json")).dialogues
        for turn in d.turns for answer in turn.answers}
    assert len(answers) > 4000
    mismatches = []
    for answer in answers:
        got = detokenize(tokenizer.tokenize(answer), unk_text="□")
        if got != _expected_text(answer, tokenizer):
            mismatches.append((answer, got))
    assert all("□" in got for _, got in mismatches), mismatches
    assert len(mismatches) <= 5, mismatches


def test_passage_spelling_restores_case_and_spacing():
    passage = "The firm was run by Henry A. Walsh,\nwho founded  New York Café in 1901。他叫小明。"
    assert passage_spelling("henry a.walsh", passage) == "Henry A. Walsh"
    assert passage_spelling("new york cafe", passage) == "New York Café"  # accent, 2 spaces
    assert passage_spelling("walsh,who", passage) == "Walsh, who"  # a line break: one space
    assert passage_spelling("小明", passage) == "小明"
    assert passage_spelling("boston", passage) == "boston"  # not in the passage: kept
    assert passage_spelling("", passage) == "" and passage_spelling("henry", "") == "henry"


def test_passage_spelling_of_decoded_tokens():
    tokens = ["henry", "a", ".", "walsh"]
    assert detokenize(tokens) == "henry a.walsh"
    assert passage_spelling(detokenize(tokens), "Mr. Henry A. Walsh said") == "Henry A. Walsh"


# ---- SentencePiece pieces (XLM-R style: "▁" starts a word) -----------------------------

XLMR = Pieces(end="</s>", unk="<unk>", dropped=frozenset({"<s>", "<pad>", "<mask>"}),
              metaspace=True)


def test_sentencepiece_pieces_join_without_spaces_in_chinese():
    assert join_tokens(["▁中华人民共和国", "成立", "于", "▁1949", "年"], metaspace=True) == \
        "中华人民共和国成立于1949年"
    assert join_tokens(["▁hello", ",", "▁world", "▁i", "Phone", "▁12"], metaspace=True) == \
        "hello,world iPhone 12"
    assert join_tokens(["▁", "北京"], metaspace=True) == "北京"  # a lone "▁" is dropped


def test_sentencepiece_special_tokens_end_and_drop():
    tokens = ["<s>", "▁北京", "<unk>", "大学", "</s>", "▁后面"]
    assert detokenize(tokens, pieces=XLMR) == "北京大学"
    assert detokenize(tokens, unk_text="?", pieces=XLMR) == "北京?大学"
    assert detokenize_segments(["▁问题", "</s>", "▁段落", "<pad>"], XLMR) == ["问题", "段落"]


def test_pieces_of_a_sentencepiece_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁a", -1.0),
             ("▁b", -1.0), ("▁", -2.0), ("a", -2.0), ("b", -2.0)]
    backend = Tokenizer(models.Unigram(vocab, unk_id=3))
    backend.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, cls_token="<s>", sep_token="</s>",
                                        pad_token="<pad>", unk_token="<unk>")
    pieces = Pieces.of(tokenizer)
    assert pieces == Pieces(end="</s>", unk="<unk>", dropped=frozenset({"<s>", "<pad>"}),
                            metaspace=True)


def test_pieces_of_a_wordpiece_tokenizer(tiny_bert):
    from coqa.data.folders import load_tokenizer

    assert Pieces.of(load_tokenizer(str(tiny_bert))) == Pieces()
