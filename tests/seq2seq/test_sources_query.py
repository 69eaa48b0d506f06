"""Seq2seq sources build their history with coqa.data.query (the extractive builder) and say,
once per file, how many were cut to max_query_length (--history_tokens)."""
from __future__ import annotations

import dataclasses
import logging

from coqa.data.query import HistoryConfig
from seq2seq.config import SourceConfig
from seq2seq.examples import build_examples
from tests.seq2seq.conftest import SHORT_PASSAGE, convqa_file, make_tokenizer, split_source

LONG_QUESTION = SHORT_PASSAGE * 170 + "？"  # 2,041 characters, one token each


def test_long_question_is_counted_and_said_once(tmp_path, caplog):
    turns = [("甲乙？", "丙丁", "generative", -3), (LONG_QUESTION, "戊己", "generative", -3),
             ("壬癸？", "天地", "extractive", 0)]
    path = convqa_file(tmp_path, SHORT_PASSAGE, turns)
    tokenizer = make_tokenizer(tmp_path / "vocab", [SHORT_PASSAGE, "甲乙丙丁戊己壬癸？"])
    config = SourceConfig(max_source_seq_length=40, max_query_length=8, doc_stride=8)
    with caplog.at_level(logging.INFO, logger="seq2seq.sources"):
        data = build_examples(path, tokenizer, config, training=False)
    # QAQAFQ, at most 8 tokens: turn 1 甲乙？ (3, whole); turn 2 甲乙？丙丁丙丁 + 2,041
    # question tokens (cut, inside the question); turn 3 甲乙？丙丁 + the long question +
    # 戊己戊己壬癸？ (cut in the history): 2 of 3 cut, 1 inside the question.
    lines = [r.getMessage() for r in caplog.records if "queries cut" in r.getMessage()]
    assert lines == [f"{path}: 2 of 3 queries cut to max_query_length (--history_tokens) 8 "
                     f"tokens (1 of them cut inside the current question)"]
    assert split_source(tokenizer, data.source(1))[0] == list(LONG_QUESTION[-8:])
    # The long question's last token, then the previous answer twice and the question.
    assert split_source(tokenizer, data.source(2))[0] == list("？戊己戊己壬癸？")


def test_config_hands_out_its_history_settings_and_stays_a_plain_dataclass():
    config = SourceConfig(max_source_seq_length=40, history_format="sep", history_len=1)
    assert config.history == HistoryConfig(1, config.max_query_length, "sep")
    assert SourceConfig(**dataclasses.asdict(config)) == config
    assert [f.name for f in dataclasses.fields(SourceConfig)] == [
        "max_source_seq_length", "max_target_seq_length", "history_format", "max_query_length",
        "doc_stride", "history_len"]
