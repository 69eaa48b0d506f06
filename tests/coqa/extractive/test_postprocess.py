"""Post-processing on hand-made logits: expected answers worked out by hand."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from coqa.extractive.labels import FILL_LOGIT
from coqa.extractive.postprocess import (PostprocessConfig, max_context_mask, null_score_diff,
                                         predict_answers)

#          0 1 2 3 4 5 6 7 8 9 10 11 12 13
PASSAGE = "小明住在杭州。他喜欢踢足球。"
LENGTH = 24  # sequence positions per feature
BODY = 4     # [CLS] q q [SEP]: window tokens start at position 4


def metadata(windows, turns=None, dialogue_id=7):
    """Features whose window tokens are passage characters: (example, first char, count)."""
    offsets = np.full((len(windows), LENGTH, 2), -1, dtype=np.int32)
    for row, (_, first, count) in enumerate(windows):
        offsets[row, BODY:BODY + count, 0] = np.arange(first, first + count)
        offsets[row, BODY:BODY + count, 1] = np.arange(first + 1, first + count + 1)
    count = max(example for example, _, _ in windows) + 1
    examples = [SimpleNamespace(dialogue_id=dialogue_id, turn_id=(turns or range(1, 99))[i],
                                passage_index=0) for i in range(count)]
    return SimpleNamespace(example_index=np.array([w[0] for w in windows], dtype=np.int32),
                           token_offsets=offsets, examples=examples, passages=[PASSAGE])


def logits(rows, width=3 + LENGTH):
    return np.zeros((rows, width)), np.zeros((rows, width))


def cls(window_char, first_char=0):
    """Class index of the token of passage character `window_char` in a window starting at
    `first_char`: 3 special classes, then sequence positions."""
    return 3 + BODY + window_char - first_char


def answers(start, end, features, **config):
    predictions, nbest = predict_answers(start, end, features, PostprocessConfig(**config))
    return [p["answer"] for p in predictions], nbest


def test_span_answer_has_no_spaces():
    features = metadata([(0, 0, 14)])
    start, end = logits(1)
    start[0, cls(2)] = 5.0  # 住
    end[0, cls(5)] = 4.0    # 州
    predictions, nbest = predict_answers(start, end, features, PostprocessConfig())
    assert predictions == [{"id": "7", "turn_id": 1, "answer": "住在杭州"}]
    assert nbest["7_1"][0] == {"text": "住在杭州", "score": 9.0, "kind": "span",
                                 "offsets": [2, 6]}
    scores = [entry["score"] for entry in nbest["7_1"]]
    assert scores == sorted(scores, reverse=True) and len(scores) == 20
    assert len({(e["kind"], e["text"]) for e in nbest["7_1"]}) == 20


@pytest.mark.parametrize("special, text", [(0, "是的"), (1, "不是"), (2, "无法作答")])
def test_special_answers(special, text):
    features = metadata([(0, 0, 14)])
    start, end = logits(1)
    start[0, cls(4)] = end[0, cls(5)] = 3.0  # span 杭州 scores 6
    start[0, special] = end[0, special] = 3.5  # special scores 7
    got, nbest = answers(start, end, features)
    assert got == [text]
    assert nbest["7_1"][0]["kind"] == ["yes", "no", "unknown"][special]
    assert nbest["7_1"][1] == {"text": "杭州", "score": 6.0, "kind": "span",
                                 "offsets": [4, 6]}


def test_max_answer_length_respected():
    features = metadata([(0, 0, 14)])
    start, end = logits(1)
    start[0, cls(0)] = 10.0  # 小 ... 球 would be 13 tokens
    start[0, cls(10)] = 4.0  # 踢
    end[0, cls(12)] = 10.0   # 球
    assert answers(start, end, features, max_answer_length=5)[0] == ["踢足球"]      # 4 + 10
    assert answers(start, end, features, max_answer_length=13)[0] == ["小明住在杭州。他喜欢踢足球"]
    assert answers(start, end, features, max_answer_length=3)[0] == ["踢足球"]      # exactly 3
    # Two tokens at most: 踢足球 is out; the best is start 小 with an end in 小明.
    assert answers(start, end, features, max_answer_length=2)[0] in (["小"], ["小明"])


def test_end_before_start_rejected():
    features = metadata([(0, 0, 14)])
    start, end = logits(1)
    start[0, cls(5)] = 10.0  # 州
    end[0, cls(2)] = 10.0    # 住: before the start
    end[0, cls(6)] = 3.0     # 。
    got, nbest = answers(start, end, features)
    assert got == ["州。"] and nbest["7_1"][0]["score"] == 13.0


def test_only_window_tokens_are_candidates():
    features = metadata([(0, 0, 6)])  # window 小明住在杭州; positions 10.. are padding
    start, end = logits(1)
    start[0, 3 + 1] = end[0, 3 + 2] = 50.0          # query positions
    start[0, 3 + 20] = end[0, 3 + 21] = 50.0        # padding
    start[0, cls(4)] = end[0, cls(5)] = 1.0
    assert answers(start, end, features)[0] == ["杭州"]


def test_best_across_two_features_of_one_example():
    # Window 0: characters 0-7 小明住在杭州。他; window 1: characters 6-13 。他喜欢踢足球。
    features = metadata([(0, 0, 8), (0, 6, 8)])
    start, end = logits(2)
    start[0, cls(0)] = end[0, cls(1)] = 3.0              # 小明, 6
    start[1, cls(10, 6)] = end[1, cls(12, 6)] = 4.5      # 踢足球, 9
    start[0, 0] = end[0, 0] = 4.0                        # yes 8 in window 0
    start[1, 0] = end[1, 0] = 0.5                        # yes 1 in window 1
    got, nbest = answers(start, end, features)
    assert got == ["踢足球"]
    assert [(e["text"], e["score"]) for e in nbest["7_1"][:3]] == [
        ("踢足球", 9.0), ("是的", 8.0), ("小明", 6.0)]
    start[0, 0] = end[0, 0] = 5.0  # yes 10 in window 0: the max over the features wins
    assert answers(start, end, features)[0] == ["是的"]
    # yes / no take the maximum whatever null_score_reduce says.
    assert answers(start, end, features, null_score_reduce="max")[0] == ["是的"]


def test_unknown_takes_the_minimum_over_three_windows():
    # Windows: 0 = chars 0-5 小明住在杭州, 1 = chars 4-9 杭州。他喜欢, 2 = chars 8-13 喜欢踢足球。
    # The gold span 踢足球 (chars 10-12) lies in window 2 only; windows 0 and 1 lack it and
    # say unknown, as they were trained to.
    features = metadata([(0, 0, 6), (0, 4, 6), (0, 8, 6)])
    start, end = logits(3)
    for row, unknown in enumerate((4.0, 4.0, 1.0)):  # unknown scores 8, 8, 2
        start[row, 2] = end[row, 2] = unknown
    for row, yes in enumerate((2.0, 2.5, 1.0)):      # yes scores 4, 5, 2: max 5
        start[row, 0] = end[row, 0] = yes
    start[2, cls(10, 8)] = end[2, cls(12, 8)] = 3.0   # 踢足球 scores 6
    # min: unknown = min(8, 8, 2) = 2, so 踢足球 6 > 是的 5 > 无法作答 2.
    got, nbest = answers(start, end, features)
    assert got == ["踢足球"]
    assert [(e["text"], e["score"]) for e in nbest["7_1"][:2]] == [("踢足球", 6.0), ("是的", 5.0)]
    assert {"text": "无法作答", "score": 2.0, "kind": "unknown"} in nbest["7_1"]
    # max: unknown = 8 beats every other candidate.
    got, nbest = answers(start, end, features, null_score_reduce="max")
    assert got == ["无法作答"] and nbest["7_1"][0]["score"] == 8.0


def test_max_context_mask_by_hand():
    # Window 0 = chars 0-5, window 1 = chars 3-8, 6 tokens each (tie weight 0.06 both).
    # char 3: window 0 rank 3, min(3, 2) = 2; window 1 rank 0, min(0, 5) = 0 -> window 0
    # char 4: window 0 rank 4, min(4, 1) = 1; window 1 rank 1, min(1, 4) = 1 -> tie: window 0
    # char 5: window 0 rank 5, min(5, 0) = 0; window 1 rank 2, min(2, 3) = 2 -> window 1
    features = metadata([(0, 0, 6), (0, 3, 6)])
    mask = max_context_mask(features.example_index, features.token_offsets)
    assert mask[0].tolist() == [False] * BODY + [True] * 5 + [False] * (LENGTH - BODY - 5)
    assert mask[1].tolist() == [False] * (BODY + 2) + [True] * 4 + [False] * (LENGTH - BODY - 6)
    # A longer window wins a tie of context: window 1 now 8 tokens (chars 3-10), char 4 has
    # min(1, 6) = 1 + 0.08 there against 1 + 0.06 in window 0.
    features = metadata([(0, 0, 6), (0, 3, 8)])
    mask = max_context_mask(features.example_index, features.token_offsets)
    assert mask[0, BODY:BODY + 6].tolist() == [True] * 4 + [False] * 2
    # Windows of different turns never compete, even over the same characters.
    features = metadata([(0, 0, 6), (1, 3, 6)])
    mask = max_context_mask(features.example_index, features.token_offsets)
    assert mask[0].sum() == 6 and mask[1].sum() == 6


def test_span_starts_only_where_its_token_has_most_context():
    # Window 0 = chars 0-7 小明住在杭州。他, window 1 = chars 6-13 。他喜欢踢足球。
    # 他 (char 7) is the last token of window 0 (context 0) and the second of window 1
    # (context min(1, 6) = 1): a span starting at 他 may come from window 1 only.
    features = metadata([(0, 0, 8), (0, 6, 8)])
    start, end = logits(2)
    start[0, cls(7)] = end[0, cls(7)] = 5.0          # 他 in window 0: 10
    start[1, cls(8, 6)] = end[1, cls(9, 6)] = 3.0    # 喜欢 in window 1: 6
    assert answers(start, end, features, max_context_only=True)[0] == ["喜欢"]
    assert answers(start, end, features)[0] == ["他"]  # the rule is off by default


def test_same_span_in_two_windows_listed_once():
    features = metadata([(0, 0, 8), (0, 6, 8)])
    start, end = logits(2)
    start[0, cls(6)] = end[0, cls(7)] = 2.0        # 。他 in window 0, 4
    start[1, cls(6, 6)] = end[1, cls(7, 6)] = 3.0  # 。他 in window 1, 6
    _, nbest = answers(start, end, features)
    assert nbest["7_1"][0] == {"text": "。他", "score": 6.0, "kind": "span",
                                 "offsets": [6, 8]}
    assert [e["text"] for e in nbest["7_1"]].count("。他") == 1
    # 。 (char 6) has more context in window 0 (min(6, 1) = 1) than in window 1 (0).
    _, nbest = answers(start, end, features, max_context_only=True)
    assert nbest["7_1"][0] == {"text": "。他", "score": 4.0, "kind": "span",
                                 "offsets": [6, 8]}


def test_examples_in_order_and_dynamic_padding():
    # Example 0 has one feature, example 1 two; logits cut to 3 + 18 positions.
    features = metadata([(0, 0, 14), (1, 0, 8), (1, 6, 8)], turns=[3, 4], dialogue_id="a-1")
    start, end = logits(3, width=3 + 18)
    start[0, cls(4)] = end[0, cls(5)] = 1.0
    start[2, 1] = end[2, 1] = 1.0
    predictions, nbest = predict_answers(start, end, features, PostprocessConfig(n_best_size=3))
    assert predictions == [{"id": "a-1", "turn_id": 3, "answer": "杭州"},
                           {"id": "a-1", "turn_id": 4, "answer": "不是"}]
    assert set(nbest) == {"a-1_3", "a-1_4"}
    # The 3 best, then the class answers beyond them (the 3 best of turn 4 are all three).
    assert [e["kind"] for e in nbest["a-1_3"]] == ["span"] * 3 + ["yes", "no", "unknown"]
    assert [e["kind"] for e in nbest["a-1_4"]] == ["no", "yes", "unknown"]
    # A batch cut to 3 + 12 positions, padded back as inference joins batches: the same answers.
    joined = [np.concatenate([x[:1], np.pad(x[1:, :3 + 12], ((0, 0), (0, 6)),
                                            constant_values=FILL_LOGIT)]) for x in (start, end)]
    assert predict_answers(*joined, features, PostprocessConfig(n_best_size=3))[0] == predictions
    with pytest.raises(ValueError, match="positions"):
        predict_answers(*logits(3, width=3 + LENGTH + 1), features, PostprocessConfig())
    with pytest.raises(ValueError, match="features=3"):
        predict_answers(*logits(2), features, PostprocessConfig())


def test_null_score_diff_threshold_moves_the_unknown_decision():
    # 无法作答 6, 杭州 5 (4 + 1), 是的 4, 不是 0: the difference is 6 - 5 = 1.
    features = metadata([(0, 0, 14)])
    start, end = logits(1)
    start[0, 2] = end[0, 2] = 3.0
    start[0, 0] = end[0, 0] = 2.0
    start[0, cls(4)], end[0, cls(5)] = 4.0, 1.0
    assert answers(start, end, features)[0] == ["无法作答"]
    assert answers(start, end, features, null_score_diff_threshold=0.99)[0] == ["无法作答"]
    got, nbest = answers(start, end, features, null_score_diff_threshold=1.01)
    assert got == ["杭州"]
    # The list is in decision order; scores stay the model's.
    assert [(e["text"], e["score"]) for e in nbest["7_1"][:3]] == [
        ("杭州", 5.0), ("无法作答", 6.0), ("是的", 4.0)]
    assert null_score_diff(nbest["7_1"])[0] == 1.0
    assert null_score_diff(nbest["7_1"])[2]["text"] == "杭州"
    # A negative threshold answers 无法作答 more often: 无法作答 6 - 8 = -2 against 是的 8.
    start[0, 0] = end[0, 0] = 4.0
    assert answers(start, end, features)[0] == ["是的"]
    assert answers(start, end, features, null_score_diff_threshold=-1.99)[0] == ["是的"]
    assert answers(start, end, features, null_score_diff_threshold=-2.01)[0] == ["无法作答"]
    # On a tie, 是的 / 不是 beat 无法作答 and 无法作答 beats a span, as with no threshold.
    assert answers(start, end, features, null_score_diff_threshold=-2.0)[0] == ["是的"]
    start[0, 0] = end[0, 0] = 0.0
    assert answers(start, end, features, null_score_diff_threshold=1.0)[0] == ["无法作答"]


def test_threshold_zero_is_the_best_candidate_wins():
    # Random logits with many exact ties (integers): with the default threshold the answer
    # is the best score, a tie going to 是的, 不是, 无法作答, then a span.
    rank = {"yes": 0, "no": 1, "unknown": 2, "span": 3}
    rng = np.random.default_rng(0)
    features = metadata([(0, 0, 8), (0, 6, 8), (1, 0, 14)])
    for _ in range(50):
        start, end = (rng.integers(-3, 4, size=(3, 3 + LENGTH)).astype(float) for _ in range(2))
        _, nbest = predict_answers(start, end, features, PostprocessConfig(n_best_size=4))
        for entries in nbest.values():
            scores = [e["score"] for e in entries]
            assert scores == sorted(scores, reverse=True)
            assert min((-e["score"], rank[e["kind"]]) for e in entries) == \
                (-entries[0]["score"], rank[entries[0]["kind"]])
            assert {e["kind"] for e in entries} >= {"yes", "no", "unknown"}
            assert len(entries) <= 4 + 3


def test_the_best_other_answer_is_kept_with_one_best():
    features = metadata([(0, 0, 14)])
    start, end = logits(1)
    start[0, 2] = end[0, 2] = 3.0                # 无法作答 6
    start[0, cls(4)] = end[0, cls(5)] = 2.0      # 杭州 4
    _, nbest = answers(start, end, features, n_best_size=1)
    assert [e["text"] for e in nbest["7_1"]] == ["无法作答", "杭州", "是的", "不是"]
    assert null_score_diff(nbest["7_1"])[0] == 2.0


def test_config_checked_and_no_torch():
    with pytest.raises(ValueError):
        PostprocessConfig(null_score_diff_threshold=float("nan"))
    with pytest.raises(ValueError):
        PostprocessConfig(null_score_reduce="mean")
    with pytest.raises(ValueError):
        PostprocessConfig(n_best_size=0)
    import coqa.extractive.postprocess as module
    assert "torch" not in module.__dict__ and "import torch" not in open(module.__file__).read()
