"""The one query builder of both pipelines (coqa.data.query): formats, the cut from the left,
the counts of cut queries and the window room check."""
from __future__ import annotations

import pytest

from coqa.data.errors import ConfigError
from coqa.data.query import (HistoryConfig, QueryCuts, build_query, check_window_room,
                             min_window_length)

SEP = 9
# Three turns: questions [1], [2], [3, 3]; answers [11], [12, 12], [13].
QUESTIONS = [[1], [2], [3, 3]]
ANSWERS = [[11], [12, 12], [13]]


def query(turn_index, history_len=2, limit=64, history_format="sep", answers=ANSWERS):
    config = HistoryConfig(history_len, limit, history_format)
    return build_query(QUESTIONS, answers, turn_index, config, SEP)


def test_formats_of_the_third_turn():
    assert query(2).ids == [1, 11, SEP, 2, 12, 12, SEP, 3, 3]
    assert query(2, history_format="QAQAFQ").ids == [1, 11, 2, 12, 12, 12, 12, 3, 3]
    assert query(2, history_format="question_only").ids == [3, 3]
    assert query(2, history_len=1).ids == [2, 12, 12, SEP, 3, 3]
    assert query(2, history_len=5).ids == query(2).ids  # only two turns before the third
    assert query(0).ids == [1] and query(0, history_format="QAQAFQ").ids == [1]


def test_answers_are_not_needed_without_history():
    assert query(2, history_len=0, answers=None).ids == [3, 3]
    assert query(1, history_format="question_only", answers=None).ids == [2]
    assert not HistoryConfig(0, 8).uses_answers
    assert not HistoryConfig(2, 8, "question_only").uses_answers


def test_cut_from_the_left_and_flagged():
    full = query(2)
    assert not full.cut and not full.question_cut
    cut = query(2, limit=4)
    assert cut.ids == [12, SEP, 3, 3] and cut.cut and not cut.question_cut
    inside = query(2, limit=1)  # the question alone (2 tokens) is longer than the limit
    assert inside.ids == [3] and inside.cut and inside.question_cut
    exact = query(2, limit=9)
    assert len(exact.ids) == 9 and not exact.cut


def test_inputs_are_not_modified():
    questions, answers = [list(q) for q in QUESTIONS], [list(a) for a in ANSWERS]
    for turn_index in range(3):
        build_query(questions, answers, turn_index, HistoryConfig(2, 64, "QAQAFQ"), SEP)
    assert questions == QUESTIONS and answers == ANSWERS


def test_counts_and_their_line():
    cuts = QueryCuts()
    for limit in (64, 4, 1):
        cuts.add(query(2, limit=limit))
    assert (cuts.queries, cuts.cut, cuts.question_cut) == (3, 2, 1)
    total = cuts + QueryCuts(3397, 10, 2)
    assert total.describe(64) == ("12 of 3,400 queries cut to max_query_length 64 tokens "
                                  "(3 of them cut inside the current question)")
    assert "--history_tokens 60 tokens" in total.describe(60, "--history_tokens")


@pytest.mark.parametrize("changes, words", [
    ({"history_format": "qa"}, "history_format must be one of"),
    ({"max_query_length": 0}, "max_query_length must be at least 1"),
    ({"history_len": -1}, "history_len must be at least 0"),
])
def test_history_config_errors(changes, words):
    with pytest.raises(ConfigError, match=words):
        HistoryConfig(**changes)


def test_window_room():
    assert min_window_length(64, 32) == 29
    assert check_window_room(64, 32, 29) == 29
    with pytest.raises(ConfigError, match="max_seq_length 64 leaves no room for the passage .* "
                                          "at least 65"):
        check_window_room(64, 61, 1)
    with pytest.raises(ConfigError, match=r"doc_stride 30 must be between 1 and .* 29 tokens"):
        check_window_room(64, 32, 30)
    with pytest.raises(ConfigError, match="--stride 0 must be"):
        check_window_room(64, 32, 0, ("length", "query", "--stride"))
