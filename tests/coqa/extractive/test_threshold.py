"""The no-answer threshold search: the sweep on hand-made differences, and on hand-made
logits through post-processing and the evaluator, with the best threshold worked out by
hand and checked by answering again with it."""
from __future__ import annotations

import json

import numpy as np
import pytest

from coqa.extractive.postprocess import PostprocessConfig, predict_answers
from coqa.extractive.threshold import best_threshold, threshold_search
from tests.coqa.extractive.test_postprocess import PASSAGE, cls, logits, metadata


@pytest.mark.parametrize("diffs, gains, expected", [
    ([1, 2], [1, 1], (2, 3.0)),          # best above every difference: one past the highest
    ([1, 2], [-1, -1], (0, 0.0)),        # best below every difference, and 0 lies there
    ([-3, -2], [-1, 0], (0, -4.0)),      # best below every difference: one below the lowest
    ([-2, 1, 4], [1, -1, 1], (1, 0.0)),  # a tie: the interval holding 0 wins
    ([-2, -1, 4], [1, -1, 1], (1, -1.5)),  # a tie, neither holds 0: (-2, -1) is nearer
    ([-6, -5, 1], [1, -1, 1], (1, 2.0)),   # a tie, neither holds 0: (1, inf) is nearer
    ([1, 1], [1, -1], (0, 0.0)),         # equal differences pass together
    ([0.5, 1.5, 3], [2, 1, -2], (3, 2.25)),  # a midpoint
])
def test_sweep_by_hand(diffs, gains, expected):
    total, point = best_threshold(np.array(diffs, float), np.array(gains, float), 0.0)
    assert (total, point) == expected


def test_sweep_matches_trying_every_threshold():
    rng = np.random.default_rng(1)
    for _ in range(20):
        diffs = rng.integers(-4, 5, size=12).astype(float)  # many ties
        gains = rng.integers(-2, 3, size=12).astype(float)
        total, point = best_threshold(diffs, gains, 3.0)
        assert total == 3.0 + gains[diffs <= point].sum()  # the point gives that total
        for threshold in np.arange(-5.5, 5.6, 0.5):  # no threshold does better
            assert 3.0 + gains[diffs <= threshold].sum() <= total


def gold_file(tmp_path, answers):
    """One ConvQA_CN dialogue over PASSAGE, turn i asking question i with answer i."""
    dialogue = {"Source": "儿童故事", "Passage": PASSAGE, "id": 7,
                "Questions": [{"input_text": f"问题{i}", "turn_id": i}
                              for i in range(1, len(answers) + 1)],
                "Answers": [{"input_text": a, "turn_id": i}
                            for i, a in enumerate(answers, start=1)]}
    path = tmp_path / "gold.json"
    path.write_text(json.dumps({"version": "3.0", "data": [dialogue]}, ensure_ascii=False),
                    encoding="utf-8")
    return str(path)


def test_best_threshold_by_hand(tmp_path):
    # Four turns, one feature each.       无法作答  best other          difference
    # turn 1, gold 无法作答:                  5     杭州 3               2
    # turn 2, gold 杭州:                      4     杭州 5              -1
    # turn 3, gold 小明住在杭州:               6     杭州 3 (F1 0.5)      3
    # turn 4, gold 无法作答:                 1.5    是的 2             -0.5
    # All 无法作答 (threshold below -1): F1 1 + 0 + 0 + 1 = 2. Raising the threshold past
    # a difference swaps that turn to its other answer: -1: +1 (3), -0.5: -1 (2),
    # 2: -1 (1), 3: +0.5 (1.5). Best: 3 / 4 turns between -1 and -0.5, midpoint -0.75;
    # EM likewise (turn 3 adds 0), best 3 / 4 at -0.75. The default 0 gives F1 2 / 4.
    features = metadata([(i, 0, 14) for i in range(4)], turns=[1, 2, 3, 4])
    start, end = logits(4)
    for row, unknown in enumerate((5.0, 4.0, 6.0, 1.5)):
        start[row, 2] = unknown
    for row, span in enumerate((3.0, 5.0, 3.0)):
        start[row, cls(4)], end[row, cls(5)] = span - 1.0, 1.0  # 杭州; other spans lower
        start[row, :2] = -5.0  # 是的 / 不是 below every span
    start[3, 0] = 2.0  # 是的 2 in turn 4; its spans score 0
    gold = gold_file(tmp_path, ["无法作答", "杭州", "小明住在杭州", "无法作答"])
    predictions, nbest = predict_answers(start, end, features, PostprocessConfig())
    assert [p["answer"] for p in predictions] == ["无法作答", "杭州", "无法作答", "是的"]
    best = threshold_search(gold, predictions, nbest)
    assert best == {"best_f1": 75.0, "best_f1_thresh": -0.75,
                    "best_exact": 75.0, "best_exact_thresh": -0.75}
    # Answering again with that threshold gives those scores.
    predictions, nbest = predict_answers(start, end, features,
                                         PostprocessConfig(null_score_diff_threshold=-0.75))
    assert [p["answer"] for p in predictions] == ["无法作答", "杭州", "无法作答", "无法作答"]
    from evaluate import evaluate_files
    path = tmp_path / "pred.json"
    path.write_text(json.dumps(predictions, ensure_ascii=False), encoding="utf-8")
    assert evaluate_files(gold, path)["overall"] == {"em": 75.0, "f1": 75.0, "turns": 4}
    # A gold turn without a prediction counts 0 in the denominator as in the evaluator.
    gold = gold_file(tmp_path, ["无法作答", "杭州", "小明住在杭州", "无法作答", "杭州"])
    assert threshold_search(gold, predictions, nbest)["best_f1"] == 60.0
