"""Extractive features build their query with coqa.data.query and say, once per file, how
many queries were cut to max_query_length (and how many inside the current question)."""
from __future__ import annotations

import logging

import numpy as np

from coqa.data.dialogue import AnswerKind, Dialogue, Turn
from coqa.extractive.features import FeatureConfig, build_features
from tests.coqa.extractive.test_features import LETTERS, make_tokenizer, query_tokens

LONG_QUESTION = LETTERS * 100 + "？"  # 2,001 characters, one token each


def dialogues():
    first = Dialogue("d1", "test", LETTERS, (
        Turn(1, "子丑？", "", ("甲",), AnswerKind.SPAN, (0, 1)),
        Turn(2, LONG_QUESTION, "", ("乙",), AnswerKind.SPAN, (1, 2)),
        Turn(3, "辰巳？", "", ("是的",), AnswerKind.YES, None)))
    second = Dialogue("d2", "test", LETTERS, (Turn(1, "午未？", "", ("丙",), AnswerKind.SPAN,
                                                   (2, 3)),))
    return [first, second]


def cut_lines(caplog):
    return [r for r in caplog.records if "queries cut" in r.getMessage()]


def test_long_question_is_counted_and_said_once(tmp_path, caplog):
    tok = make_tokenizer(tmp_path / "vocab", [LETTERS, "？是的"])
    config = FeatureConfig(max_seq_length=32, doc_stride=8, max_query_length=8, history_len=2)
    with caplog.at_level(logging.INFO, logger="coqa.extractive.features"):
        features = build_features(dialogues(), tok, config, show_progress=False)
    # Queries (max 8 tokens): d1 turn 1 子丑？ (3, whole); turn 2 子丑？甲 [SEP] + 2,001
    # question tokens (cut, inside the question); turn 3 ... 乙 [SEP] 辰巳？ (14, cut in the
    # history); d2 turn 1 午未？ (3, whole): 2 of 4 cut, 1 inside the question.
    lines = cut_lines(caplog)
    assert len(lines) == 1 and lines[0].levelno == logging.INFO
    assert lines[0].getMessage() == ("2 of 4 queries cut to max_query_length 8 tokens "
                                     "(1 of them cut inside the current question)")
    second = int(np.flatnonzero(features.example_index == 1)[0])
    assert query_tokens(features, tok, second) == list(LONG_QUESTION[-8:])  # its tail


def test_rounds_of_predicted_history_log_no_info_line(tmp_path, caplog):
    tok = make_tokenizer(tmp_path / "vocab", [LETTERS, "？是的"])
    config = FeatureConfig(max_seq_length=32, doc_stride=8, max_query_length=8, history_len=2)
    with caplog.at_level(logging.INFO, logger="coqa.extractive.features"):
        build_features(dialogues(), tok, config, show_progress=False, last_turn_only=True)
    assert cut_lines(caplog) == []


def test_config_hands_out_its_history_settings():
    history = FeatureConfig(max_query_length=16, history_len=3).history
    assert (history.history_len, history.max_query_length, history.history_format) == (3, 16, "sep")
