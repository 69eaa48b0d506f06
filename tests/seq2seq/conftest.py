"""Shared by the seq2seq example tests: tokenizers over hand-made vocabularies, one-dialogue
ConvQA_CN files, and the short (layout) and long (windows) dialogues."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import BertTokenizerFast

from tests.conftest import SHARED

FILLER = "子"
# Three marked places in a passage of 129 one-character tokens (several windows).
LONG_PASSAGE = FILLER * 40 + "甲乙丙" + FILLER * 40 + "丁戊己" + FILLER * 43


def make_tokenizer(folder: Path, texts, words=()):
    """A BERT tokenizer whose vocabulary is every character of `texts` plus `words`."""
    chars = sorted({c for text in texts for c in text if not c.isspace()})
    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars + list(words)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    return BertTokenizerFast.from_pretrained(str(folder))


def real_tokenizer():
    path = SHARED / "models" / "bert-base-chinese"
    if not (path / "vocab.txt").is_file():
        pytest.skip(f"{path} not available")
    return BertTokenizerFast.from_pretrained(str(path))


def convqa_file(folder: Path, passage: str, turns, name="data.json"):
    """A ConvQA_CN file of one dialogue; turns are (question, answer, answer_type, start)."""
    dialogue = {
        "Source": "测试", "Passage": passage, "id": "d1",
        "Questions": [{"input_text": q, "turn_id": i, "question_type": "factoid"}
                      for i, (q, _, _, _) in enumerate(turns, 1)],
        "Answers": [{"input_text": a, "turn_id": i, "answer_id": 1, "answer_type": kind,
                     "answer_start": [start]}
                    for i, (_, a, kind, start) in enumerate(turns, 1)],
    }
    path = folder / name
    path.write_text(json.dumps({"version": "test", "data": [dialogue]}, ensure_ascii=False),
                    encoding="utf-8")
    return path


def tokens(tokenizer, ids):
    return tokenizer.convert_ids_to_tokens(list(ids))


def split_source(tokenizer, ids):
    """(history tokens, window tokens) of `[CLS] history [SEP] window [SEP]`."""
    toks = tokens(tokenizer, ids)
    assert toks[0] == "[CLS]" and toks[-1] == "[SEP]"
    middle = len(toks) - 1 - toks[::-1].index("[SEP]", 1)  # the [SEP] before the window
    return toks[1:middle], toks[middle + 1:-1]


SHORT_PASSAGE = "天地玄黄宇宙洪荒日月盈昃"
LAYOUT_TURNS = [("甲乙？", "丙丁", "extractive", None), ("戊己？", "庚辛", "extractive", None),
                ("壬癸？", "天地", "extractive", 0)]


@pytest.fixture
def layout(tmp_path):
    turns = [(q, a, "generative" if start is None else kind, -3 if start is None else start)
             for q, a, kind, start in LAYOUT_TURNS]
    path = convqa_file(tmp_path, SHORT_PASSAGE, turns)
    tokenizer = make_tokenizer(tmp_path / "vocab", [SHORT_PASSAGE] + [t[0] + t[1] for t in turns])
    return path, tokenizer


@pytest.fixture
def long_dialogue(tmp_path):
    turns = [("丁戊？", "甲乙丙", "extractive", 40),        # answer far from the question's cue
             ("它呢？", "丁戊己。", "generative", -3),        # free-form: best-F1 span 丁戊己
             ("是吗？", "是的", "generative", -3)]
    path = convqa_file(tmp_path, LONG_PASSAGE, turns)
    tokenizer = make_tokenizer(tmp_path / "vocab",
                               [LONG_PASSAGE, "它呢是吗？。", "的", "不", "无法作答"])
    return path, tokenizer
