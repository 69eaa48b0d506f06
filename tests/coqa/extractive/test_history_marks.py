"""History answer ids and marker insertion (coqa.extractive.history_marks), by hand, and the
features built with them: every expectation below is counted on the passage by hand."""
from __future__ import annotations

import json

import numpy as np
import pytest

from coqa.data.dialogue import AnswerKind, Dialogue, Turn
from coqa.data.errors import ConfigError, UsageError
from coqa.extractive.display import decode_feature
from coqa.extractive.features import FeatureConfig, build_features
from coqa.extractive.history_marks import (NO_OFFSET, PreviousAnswer, hae_ids, insert_markers,
                                           marked_text, marker_id_map, marker_tokens,
                                           previous_answers, with_history_spans)
from coqa.extractive.labels import CLS_SPAN_CLASS, NUM_SPECIAL
from coqa.extractive.loading import trained_feature_config
from tests.coqa.extractive.test_features import make_tokenizer

#          0123456789012345678
PASSAGE = "小明住在杭州。他喜欢踢足球，也喜欢画画。"
CHAR_OFFSETS = np.array([(i, i + 1) for i in range(len(PASSAGE))], dtype=np.int32)
MARKERS = {token: 100 + i for i, token in enumerate(marker_tokens(3))}
ID_TO_TOKEN = {i: token for token, i in MARKERS.items()}


def span_turn(turn_id, question, answer, kind=AnswerKind.SPAN):
    span = None
    if kind in (AnswerKind.SPAN, AnswerKind.FREE_FORM):
        start = PASSAGE.index(answer)
        span = (start, start + len(answer))
    return Turn(turn_id, question, "", (answer,), kind, span)


# Turn 4's history (history_len 3): turn 1 住在杭州 (3 turns ago), turn 2 是的 (no span),
# turn 3 杭州 (1 turn ago, inside turn 1's answer).
DIALOGUE = Dialogue("d1", "test", PASSAGE, (
    span_turn(1, "小明住在哪里？", "住在杭州"),
    span_turn(2, "是杭州吗？", "是的", AnswerKind.YES),
    span_turn(3, "哪个城市？", "杭州"),
    span_turn(4, "他喜欢什么？", "踢足球"),
))


def test_previous_answers_are_the_spans_of_the_history_turns_farthest_first():
    assert previous_answers(DIALOGUE.turns, 3, 3) == [PreviousAnswer(2, 6, 3), PreviousAnswer(4, 6, 1)]
    assert previous_answers(DIALOGUE.turns, 3, 1) == [PreviousAnswer(4, 6, 1)]
    assert previous_answers(DIALOGUE.turns, 1, 2) == [PreviousAnswer(2, 6, 1)]
    assert previous_answers(DIALOGUE.turns, 0, 2) == []


def test_hae_ids_by_hand_nearest_turn_wins():
    ids = hae_ids(CHAR_OFFSETS, previous_answers(DIALOGUE.turns, 3, 3))
    #        小 明 住 在 杭 州 。 ...
    expected = [0, 0, 3, 3, 1, 1] + [0] * (len(PASSAGE) - 6)
    assert ids.tolist() == expected and ids.dtype == np.int8
    # The nearest wins whichever order the answers come in.
    reordered = hae_ids(CHAR_OFFSETS, [PreviousAnswer(4, 6, 1), PreviousAnswer(2, 6, 3)])
    assert reordered.tolist() == expected
    # Multi-character tokens: a token covering any character of the span is marked.
    words = np.array([(0, 2), (2, 4), (4, 6), (6, 7)], dtype=np.int32)  # 小明 住在 杭州 。
    assert hae_ids(words, [PreviousAnswer(3, 5, 2)]).tolist() == [0, 2, 2, 0]
    # A span covering no token (past the end) marks nothing.
    assert hae_ids(words, [PreviousAnswer(7, 9, 1)]).tolist() == [0, 0, 0, 0]


def test_markers_by_hand_nested_and_mapping_back():
    ids = np.arange(len(PASSAGE), dtype=np.int32)
    marked = insert_markers(ids, CHAR_OFFSETS, previous_answers(DIALOGUE.turns, 3, 3), MARKERS)
    assert marked_text(PASSAGE, marked, ID_TO_TOKEN) == \
        "小明[A3]住在[A1]杭州[/A1][/A3]。他喜欢踢足球，也喜欢画画。"
    m = MARKERS
    assert marked.ids[:12].tolist() == [0, 1, m["[A3]"], 2, 3, m["[A1]"], 4, 5, m["[/A1]"],
                                        m["[/A3]"], 6, 7]
    is_marker = marked.offsets[:, 0] == NO_OFFSET
    assert np.flatnonzero(is_marker).tolist() == [2, 5, 8, 9]
    assert (marked.offsets[is_marker] == NO_OFFSET).all()
    # Every passage token is found again, with its own offsets, at `positions`.
    assert marked.positions.tolist()[:8] == [0, 1, 3, 4, 6, 7, 10, 11]
    np.testing.assert_array_equal(marked.ids[marked.positions], ids)
    np.testing.assert_array_equal(marked.offsets[marked.positions], CHAR_OFFSETS)


def test_markers_of_the_same_span_nest_and_answers_keep_their_characters():
    answers = [PreviousAnswer(10, 13, 2), PreviousAnswer(10, 13, 1)]  # 踢足球 twice
    marked = insert_markers(np.arange(len(PASSAGE)), CHAR_OFFSETS, answers, MARKERS)
    text = marked_text(PASSAGE, marked, ID_TO_TOKEN)
    assert text == "小明住在杭州。他喜欢[A2][A1]踢足球[/A1][/A2]，也喜欢画画。"
    # No marker inside an answer: the tokens between a pair are the answer's own.
    for distance in (1, 2):
        open_at = int(np.flatnonzero(marked.ids == MARKERS[f"[A{distance}]"])[0])
        close_at = int(np.flatnonzero(marked.ids == MARKERS[f"[/A{distance}]"])[0])
        inside = marked.offsets[open_at + 1:close_at]
        inside = inside[inside[:, 0] != NO_OFFSET]
        assert PASSAGE[inside[0, 0]:inside[-1, 1]] == "踢足球"
    # No previous answer: the passage unchanged.
    plain = insert_markers(np.arange(5), CHAR_OFFSETS[:5], [], MARKERS)
    assert plain.ids.tolist() == [0, 1, 2, 3, 4] and plain.positions.tolist() == [0, 1, 2, 3, 4]


def test_with_history_spans_replaces_only_the_listed_turns():
    changed = with_history_spans(DIALOGUE, {1: (10, 13), 3: None})
    assert [t.span for t in changed.turns] == [(10, 13), None, None, DIALOGUE.turns[3].span]
    assert [t.answers for t in changed.turns] == [t.answers for t in DIALOGUE.turns]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    tok = make_tokenizer(tmp_path_factory.mktemp("vocab"),
                         [PASSAGE] + [t.question + t.answer for t in DIALOGUE.turns])
    tok.add_special_tokens({"extra_special_tokens": marker_tokens(3)})
    return tok


def config(encoding, **overrides):
    values = dict(max_seq_length=24, doc_stride=4, max_query_length=8, history_len=3,
                  history_encoding=encoding, outside_window="cls")
    return FeatureConfig(**{**values, **overrides})


def test_markers_features_labels_round_trip_and_query_is_the_question(tokenizer):
    features = build_features([DIALOGUE], tokenizer, config("markers"), show_progress=False)
    markers = marker_id_map(tokenizer, 3)
    for row in range(len(features)):
        record = features.examples[features.example_index[row]]
        turn = DIALOGUE.turns[record.turn_id - 1]
        body = int(np.argmax(features.token_type_ids[row] == 1))
        query = tokenizer.decode(features.input_ids[row, 1:body - 1]).replace(" ", "")
        assert query == turn.question
        offsets = features.token_offsets[row]
        start, end = int(features.start_positions[row]), int(features.end_positions[row])
        if start > CLS_SPAN_CLASS:  # the window holds the span
            assert offsets[start - NUM_SPECIAL, 0] != NO_OFFSET
            assert PASSAGE[offsets[start - NUM_SPECIAL, 0]:offsets[end - NUM_SPECIAL, 1]] == turn.answer
        # Marker positions have no offsets; every other window token maps to its character.
        window = np.flatnonzero(features.token_type_ids[row] == 1)[:-1]
        is_marker = np.isin(features.input_ids[row, window], list(markers.values()))
        assert (offsets[window[is_marker], 0] == NO_OFFSET).all()
        for position in window[~is_marker]:
            char = PASSAGE[offsets[position, 0]:offsets[position, 1]]
            assert tokenizer.convert_ids_to_tokens(int(features.input_ids[row, position])) == char
    # Turn 4's last window shows turn 1's and turn 3's answers marked.
    last = int(np.flatnonzero(features.example_index == 3)[0])
    tokens = tokenizer.convert_ids_to_tokens(features.input_ids[last].tolist())
    text = "".join(tokens)
    assert "[A3]住在[A1]杭州[/A1][/A3]" in text and "[A2]" not in text
    # The logged feature shows the marks in the window (run_coqa.py logs a few).
    query, window, label = decode_feature(features, last, tokenizer)
    assert query == "他喜欢什么？" and window.startswith("小明[A3]住在[A1]杭州[/A1][/A3]。")


def test_markers_span_labels_survive_every_window(tokenizer):
    """Turn 4's span (踢足球) after three markers: labelled in each window that holds it."""
    features = build_features([DIALOGUE], tokenizer, config("markers"), show_progress=False)
    rows = np.flatnonzero(features.example_index == 3)
    labelled = [r for r in rows if features.start_positions[r] > CLS_SPAN_CLASS]
    assert len(labelled) >= 2
    for row in labelled:
        offsets = features.token_offsets[row]
        a = offsets[features.start_positions[row] - NUM_SPECIAL, 0]
        b = offsets[features.end_positions[row] - NUM_SPECIAL, 1]
        assert PASSAGE[a:b] == "踢足球"


def test_hae_features_put_the_ids_at_the_window_positions(tokenizer):
    features = build_features([DIALOGUE], tokenizer, config("hae"), show_progress=False)
    assert features.history_answer_ids is not None
    assert features.history_answer_ids.shape == features.input_ids.shape
    for row in range(len(features)):
        turn_index = int(features.example_index[row])
        offsets = features.token_offsets[row]
        expected = np.zeros(len(offsets), dtype=np.int8)
        window = offsets[:, 0] != NO_OFFSET
        per_char = hae_ids(CHAR_OFFSETS, previous_answers(DIALOGUE.turns, turn_index, 3))
        expected[window] = per_char[offsets[window, 0]]
        np.testing.assert_array_equal(features.history_answer_ids[row], expected)
    # Turn 4: 住在 3 turns ago, 杭州 the turn before.
    row = int(np.flatnonzero(features.example_index == 3)[0])
    marked = {tokenizer.convert_ids_to_tokens(int(features.input_ids[row, p])):
              int(features.history_answer_ids[row, p])
              for p in np.flatnonzero(features.history_answer_ids[row])}
    assert marked == {"住": 3, "在": 3, "杭": 1, "州": 1}
    batch = features.batch([row])
    assert batch["history_answer_ids"].shape == batch["input_ids"].shape
    # concat features have no such array, and no such batch key.
    plain = build_features([DIALOGUE], tokenizer, config("concat"), show_progress=False)
    assert plain.history_answer_ids is None and "history_answer_ids" not in plain.batch([0])


@pytest.mark.parametrize("encoding", ["hae", "markers"])
def test_history_encoding_needs_history(encoding):
    with pytest.raises(ConfigError, match=f"--history_encoding {encoding} needs --history_len"):
        config(encoding, history_len=0)
    with pytest.raises(ConfigError, match="history_encoding must be one of"):
        config("both")


def test_marker_ids_missing_from_the_tokenizer_are_refused(tmp_path):
    bare = make_tokenizer(tmp_path / "bare", [PASSAGE])
    with pytest.raises(ConfigError, match=r"lacks the history marker tokens \['\[A1\]'"):
        marker_id_map(bare, 1)


def test_a_model_saved_before_the_setting_reads_as_concat(tmp_path, caplog):
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / "convqa_config.json").write_text("{}", encoding="utf-8")
    settings = {"max_seq_length": 64, "doc_stride": 16, "max_query_length": 16,
                "history_len": 2, "outside_window": "cls"}
    (folder / "preprocessing_config.json").write_text(json.dumps(
        {"format": 1, "pipeline": "extractive", "settings": settings}), encoding="utf-8")
    assert trained_feature_config(str(folder), FeatureConfig()).history_encoding == "concat"
    # An explicit flag wins, with the warning naming the trained value.
    given = FeatureConfig(history_encoding="markers")
    merged = trained_feature_config(str(folder), given, frozenset({"history_encoding"}))
    assert merged.history_encoding == "markers"
    assert "--history_encoding markers given, but the model in" in caplog.text
    assert "was trained with concat" in caplog.text
    _make_hae(folder)
    with pytest.raises(UsageError, match="cannot work"):
        trained_feature_config(str(folder), FeatureConfig(history_len=0), frozenset({"history_len"}))


def _make_hae(folder):
    """The saved model of `folder` made a hae one."""
    stored = json.loads((folder / "preprocessing_config.json").read_text(encoding="utf-8"))
    stored["settings"]["history_encoding"] = "hae"
    (folder / "preprocessing_config.json").write_text(json.dumps(stored), encoding="utf-8")
