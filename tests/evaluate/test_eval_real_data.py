"""The evaluator on the real public samples in ../shared/data (skipped when absent)."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from evaluate import EvalConfig, evaluate_files, read_gold

SHARED = Path(__file__).resolve().parents[2].parent / "shared"


def shared_file(*parts: str) -> Path:
    path = SHARED.joinpath("data", *parts)
    if not path.is_file():
        pytest.skip(f"{path} not available")
    return path


def write_preds(tmp_path: Path, preds) -> Path:
    path = tmp_path / "pred.json"
    path.write_text(json.dumps(preds, ensure_ascii=False), encoding="utf-8")
    return path


def test_coqa_dev_main_answers_against_additional_answers(tmp_path):
    gold_file = shared_file("coqa_en", "coqa_dev_sample.json")
    dialogue = json.loads(gold_file.read_text(encoding="utf-8"))["data"][0]
    preds = [{"id": dialogue["id"], "turn_id": a["turn_id"], "answer": a["input_text"]}
             for a in dialogue["answers"]]
    warn = io.StringIO()
    results = evaluate_files(gold_file, write_preds(tmp_path, preds),
                             EvalConfig(breakdown=True), warn)
    # Predicting the main answer: leaving out any of the 3 additional answers keeps the
    # main one (score 1), so a turn scores (3 + m) / 4 with m its best score against the
    # additional answers. By hand, from the file:
    #   EM m = 1 on turns 1 2 3 6 7 9 11 12; 0 on 4 (with her mommy...), 5 (orange and
    #   white), 8 (the farmer vs the farmer's), 10 (a bucket of water vs a big ...).
    #   F1 m = 1 on those 8; turn 4 5/6, turn 5 1/2, turn 8 2/3, turn 10 6/7.
    # EM = (36 + 8) / 48 = 91.67; F1 = (36 + 8 + 5/6 + 1/2 + 2/3 + 6/7) / 48 = 97.62.
    expected = {"em": 91.7, "f1": 97.6, "turns": 12}
    assert results["children_stories"] == expected  # mctest -> its official display name
    assert list(results)[:4] == ["children_stories", "in_domain", "out_domain", "overall"]
    assert results["in_domain"] == expected and results["overall"] == expected
    assert results["out_domain"] == {"em": 0.0, "f1": 0.0, "turns": 0}
    assert results["breakdown"]["answer_kind"]["no"]["turns"] == 3  # turns 3, 6, 12
    assert results["breakdown"]["question_type"] == {"none": expected}
    assert warn.getvalue() == ""


def test_coqa_dev_display_name_overrides(tmp_path):
    gold_file = shared_file("coqa_en", "coqa_dev_sample.json")
    results = evaluate_files(gold_file, write_preds(tmp_path, []),
                             EvalConfig(in_domain=("wikipedia",),
                                        out_domain=("children_stories",)), io.StringIO())
    assert results["out_domain"]["turns"] == 12 and results["in_domain"]["turns"] == 0


def test_coqa_train_single_gold_and_unknown_turn(tmp_path):
    gold_file = shared_file("coqa_en", "coqa_train_sample.json")
    gold = read_gold(gold_file)
    assert gold.file_format == "coqa" and len(gold.turns) == 20
    assert all(len(turn.answers) == 1 for turn in gold.turns)  # no additional answers
    assert gold.turns[13].kind == "unknown"  # turn 14, the bad_turn "unknown"
    assert gold.turns[1].kind == "span"  # "research" occurs in the story
    assert gold.turns[0].kind == "free-form"  # "It was formally established in 1475" does not
    preds = [{"id": t.dialogue_id, "turn_id": t.turn_id, "answer": t.answers[0]}
             for t in gold.turns]
    results = evaluate_files(gold_file, write_preds(tmp_path, preds), None, io.StringIO())
    assert list(results) == ["wikipedia", "in_domain", "out_domain", "overall"]
    assert results["overall"] == {"em": 100.0, "f1": 100.0, "turns": 20}


def test_convqa_cn_readme_sample(tmp_path):
    gold_file = shared_file("convqa_cn", "readme_sample.json")
    dialogue = json.loads(gold_file.read_text(encoding="utf-8"))["data"][0]
    # The gold id is the int 230; the prediction files use the string "230".
    preds = [{"id": "230", "turn_id": a["turn_id"], "answer": a["input_text"]}
             for a in dialogue["Answers"]]
    preds[1]["answer"] = "平安夜"  # gold 平安夜。: EM 0, F1 6/7
    results = evaluate_files(gold_file, write_preds(tmp_path, preds),
                             EvalConfig(breakdown=True), io.StringIO())
    # EM 8/9 = 88.9; F1 (8 + 6/7) / 9 = 98.41.
    assert results["儿童故事"] == {"em": 88.9, "f1": 98.4, "turns": 9}
    extra = results["breakdown"]
    assert extra["question_type"]["factoid"]["turns"] == 8
    assert extra["question_type"]["why"] == {"em": 100.0, "f1": 100.0, "turns": 1}
    assert extra["answer_kind"]["span"]["turns"] == 1  # turn 6, 报佳音。
    assert extra["answer_kind"]["free-form"] == {"em": 87.5, "f1": 98.2, "turns": 8}
