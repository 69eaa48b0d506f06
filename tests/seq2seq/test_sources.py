"""How a turn becomes a source and a target (seq2seq.sources): history layouts, window choice,
target text, length checks."""
from __future__ import annotations

import numpy as np
import pytest

from seq2seq.config import SourceConfig
from seq2seq.examples import build_examples
from seq2seq.sources import choose_window, history_ids
from tests.seq2seq.conftest import (LONG_PASSAGE, SHORT_PASSAGE, convqa_file, make_tokenizer,
                                    split_source, tokens)


# ------------------------------------------------------------------ source layouts

def test_qaqafq_layout_of_turn_three(layout):
    path, tokenizer = layout
    data = build_examples(path, tokenizer, SourceConfig(), training=True)
    assert len(data) == 3
    history, window = split_source(tokenizer, data.source(2))
    assert history == list("甲乙？丙丁戊己？庚辛庚辛壬癸？")  # Q1 A1 Q2 A2 A2 Q3
    assert window == list(SHORT_PASSAGE)
    assert split_source(tokenizer, data.source(0))[0] == list("甲乙？")
    assert split_source(tokenizer, data.source(1))[0] == list("甲乙？丙丁丙丁戊己？")  # Q1 A1 A1 Q2


def test_history_keeps_its_last_tokens(layout):
    path, tokenizer = layout
    config = SourceConfig(max_source_seq_length=40, max_query_length=5, doc_stride=8)
    data = build_examples(path, tokenizer, config, training=False)
    history, window = split_source(tokenizer, data.source(2))
    assert history == list("庚辛壬癸？")
    assert window == list(SHORT_PASSAGE)


def test_sep_and_question_only_layouts(layout):
    path, tokenizer = layout
    data = build_examples(path, tokenizer, SourceConfig(history_format="sep"), training=True)
    toks = tokens(tokenizer, data.source(2))
    assert toks == (["[CLS]"] + list("甲乙？丙丁") + ["[SEP]"] + list("戊己？庚辛") + ["[SEP]"]
                    + list("壬癸？") + ["[SEP]"] + list(SHORT_PASSAGE) + ["[SEP]"])
    data = build_examples(path, tokenizer, SourceConfig(history_format="question_only"), True)
    assert split_source(tokenizer, data.source(2)) == (list("壬癸？"), list(SHORT_PASSAGE))


def test_history_ids_one_previous_turn_and_none():
    assert history_ids([([1], [2, 3])], [4], "QAQAFQ", 9, 60) == [1, 2, 3, 2, 3, 4]
    assert history_ids([], [4, 5], "QAQAFQ", 9, 60) == [4, 5]
    assert history_ids([([1], [2])], [4], "sep", 9, 60) == [1, 2, 9, 4]
    assert history_ids([([1], [2])], [4, 5, 6], "question_only", 9, 2) == [5, 6]


# ------------------------------------------------------------------ windows

def window_start(window_tokens):
    """Where a window of LONG_PASSAGE begins (the markers make every window unique)."""
    text = "".join(window_tokens)
    starts = [s for s in range(len(LONG_PASSAGE)) if LONG_PASSAGE.startswith(text, s)]
    assert len(starts) == 1, text
    return starts[0]


def first_start_holding(lo, hi, window, stride=8):
    """The earliest window start whose window holds tokens lo..hi (inclusive)."""
    return next(s for s in range(0, len(LONG_PASSAGE), stride) if s <= lo and hi < s + window)


def test_training_picks_the_window_with_the_answer(long_dialogue):
    path, tokenizer = long_dialogue
    config = SourceConfig(max_source_seq_length=32, max_query_length=8, doc_stride=8)
    data = build_examples(path, tokenizer, config, training=True)
    for index, (lo, hi) in ((0, (40, 42)), (1, (83, 85))):
        history, window = split_source(tokenizer, data.source(index))
        assert len(window) == 32 - len(history) - 3  # the window takes the room that is left
        # Turn 1's question names 丁戊, but training follows the gold span 甲乙丙.
        assert window_start(window) == first_start_holding(lo, hi, len(window))
    assert "".join(split_source(tokenizer, data.source(0))[1]).find("甲乙丙") >= 0


def test_decoding_picks_the_window_sharing_most_tokens(long_dialogue):
    path, tokenizer = long_dialogue
    config = SourceConfig(max_source_seq_length=32, max_query_length=8, doc_stride=8)
    data = build_examples(path, tokenizer, config, training=False)
    # Turn 1: the question's 丁戊 (no previous answer). Turn 2: the previous answer 甲乙丙.
    # Turn 3: previous answer 丁戊己 + question (special answers always use overlap).
    for index, (lo, hi) in ((0, (83, 84)), (1, (40, 42)), (2, (83, 85))):
        window = split_source(tokenizer, data.source(index))[1]
        assert window_start(window) == first_start_holding(lo, hi, len(window))
    training = build_examples(path, tokenizer, config, training=True)
    assert training.source(2) == data.source(2)


def test_choose_window_rules():
    passage = np.array([0] * 10 + [5, 6] + [0] * 10 + [7] + [0] * 10)  # 33 tokens
    assert choose_window(passage, 8, 4, [5, 6]) == (4, 8)  # earliest of the best
    assert choose_window(passage, 8, 4, [7]) == (16, 8)
    assert choose_window(passage, 8, 4, [7], span_tokens=(10, 11)) == (4, 8)
    # A span longer than any window: the window covering most of it.
    assert choose_window(passage, 8, 4, [], span_tokens=(6, 30)) == (8, 8)
    assert choose_window(passage, 100, 4, [9]) == (0, 33)
    assert choose_window(passage, 8, 4, [9]) == (0, 8)  # no overlap anywhere: the first


# ------------------------------------------------------------------ targets

def test_special_kinds_become_their_text(tmp_path):
    turns = [("甲？", "是的", "generative", -3), ("乙？", "不是", "generative", -3),
             ("丙？", "无法作答", "generative", -3)]
    path = convqa_file(tmp_path, SHORT_PASSAGE, turns)
    tokenizer = make_tokenizer(tmp_path / "vocab", [SHORT_PASSAGE, "甲乙丙？是的不无法作答"])
    data = build_examples(path, tokenizer, SourceConfig(), training=True)
    assert [tokens(tokenizer, data.target(i)) for i in range(3)] == [
        ["是", "的", "[SEP]"], ["不", "是", "[SEP]"], ["无", "法", "作", "答", "[SEP]"]]


def test_target_cut_then_sep(layout, tmp_path):
    path, tokenizer = layout
    data = build_examples(path, tokenizer, SourceConfig(max_target_seq_length=2), True)
    assert tokens(tokenizer, data.target(0)) == ["丙", "[SEP]"]
    data = build_examples(path, tokenizer, SourceConfig(max_target_seq_length=3), True)
    assert tokens(tokenizer, data.target(0)) == ["丙", "丁", "[SEP]"]
    assert data.records[2].dialogue_id == "d1" and data.records[2].turn_id == 3
    assert data.records[2].domain == "测试"
    answers = ["a", "b", "c"]
    assert data.prediction_records(answers)[1] == {"id": "d1", "turn_id": 2, "answer": "b"}


# ------------------------------------------------------------------ lengths

@pytest.mark.parametrize("changes, words", [
    ({"max_source_seq_length": 2}, "at least 3"),
    ({"max_target_seq_length": 1}, "max_target_seq_length must be at least 2"),
    ({"history_format": "qa"}, "history_format must be one of"),
    ({"doc_stride": 0}, r"doc_stride \(--window_stride\) must be at least 1"),
    ({"max_query_length": 0}, r"max_query_length \(--history_tokens\) must be at least 1"),
])
def test_impossible_lengths_raise(changes, words):
    with pytest.raises(ValueError, match=words):
        SourceConfig(**changes)


@pytest.mark.parametrize("changes, words", [
    ({"max_source_seq_length": 63, "max_query_length": 60}, "no room for the passage"),
    ({"max_source_seq_length": 4}, "at least 5"),
    ({"doc_stride": 402}, "window_stride 402"),
])
def test_impossible_dialogue_layouts_raise(changes, words):
    config = SourceConfig(**changes)  # fine for JSON lines, which have no windows
    with pytest.raises(ValueError, match=words):
        config.check_dialogue_layout()


@pytest.mark.parametrize("length, history, stride", [
    # history min(60, (length - 3) // 2); stride min(128, (length - history - 3) // 2)
    (464, 60, 128), (512, 60, 128), (191, 60, 64), (128, 60, 32), (40, 18, 9), (5, 1, 1),
    (3, 1, 1),
])
def test_history_and_stride_defaults_scale_with_the_source(length, history, stride):
    config = SourceConfig(max_source_seq_length=length)
    assert (config.max_query_length, config.doc_stride) == (history, stride)
    if length >= 5:
        config.check_dialogue_layout()


def test_short_sources_build_from_a_dialogue_file(layout):
    path, tokenizer = layout
    for length in (5, 12, 40):
        data = build_examples(path, tokenizer, SourceConfig(max_source_seq_length=length), True)
        assert int(data.source_length.max()) <= length
        source = tokens(tokenizer, data.source(0))
        assert source[0] == "[CLS]" and source[-1] == "[SEP]" and source.count("[SEP]") == 2


def sentencepiece_tokenizer(folder):
    """An XLM-R-style tokenizer (Unigram pieces, Metaspace word starts) over a few pieces:
    "1984" and "中华" exist both as word starts and as pieces inside a text."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    pieces = ["<s>", "<pad>", "</s>", "<unk>", "<mask>", "▁", "▁1984", "1984", "▁中华", "中华",
              "他", "▁他", "生", "于", "年", "出生", "。", "在", "何", "时", "？", "▁何"]
    backend = Tokenizer(models.Unigram([(p, -1.0 if len(p) > 1 else -2.0) for p in pieces],
                                       unk_id=3))
    backend.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, cls_token="<s>",
                                        sep_token="</s>", pad_token="<pad>", unk_token="<unk>",
                                        mask_token="<mask>")
    tokenizer.save_pretrained(str(folder))
    return tokenizer


def test_span_answers_are_the_passage_pieces_with_a_sentencepiece_tokenizer(tmp_path):
    """Alone, "1984年" is `▁1984 年`; in the passage it is `1984 年`: the target is the
    passage's pieces, which the source holds. An answer that begins inside a piece
    ("生于" in `出生 于`) and a free-form answer keep their own pieces."""
    passage = "他出生于1984年。中华"
    turns = [("何时？", "1984年", "extractive", 4), ("何时？", "生于", "extractive", 2),
             ("何时？", "中华", "extractive", 10), ("何时？", "1984年在", "generative", -3)]
    path = convqa_file(tmp_path, passage, turns)
    tokenizer = sentencepiece_tokenizer(tmp_path / "sp")
    assert tokenizer.tokenize("1984年") == ["▁1984", "年"]
    data = build_examples(path, tokenizer, SourceConfig(max_source_seq_length=40), True)
    targets = [tokens(tokenizer, data.target(i)) for i in range(4)]
    assert targets == [["1984", "年", "</s>"], ["▁", "生", "于", "</s>"], ["中华", "</s>"],
                       ["▁1984", "年", "在", "</s>"]]
    source = tokens(tokenizer, data.source(0))
    assert source[-8:] == ["▁他", "出生", "于", "1984", "年", "。", "中华", "</s>"]


def test_span_targets_with_wordpiece_are_the_answer_pieces(layout):
    """With BERT's WordPiece, Chinese pieces are the same alone and in the passage."""
    path, tokenizer = layout
    data = build_examples(path, tokenizer, SourceConfig(), training=True)
    assert tokens(tokenizer, data.target(2)) == ["天", "地", "[SEP]"]
