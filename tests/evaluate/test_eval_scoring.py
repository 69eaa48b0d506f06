"""Scoring and aggregation on hand-computed cases, through the importable API and the CLI."""
from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from evaluate import EvalConfig, evaluate_files, turn_score
from tests.conftest import REPO, require_shared


def convqa(dialogues):
    """dialogues: [(id, source, [(question_type, answer, answer_type)])]"""
    data = []
    for dialogue_id, source, turns in dialogues:
        data.append({"Source": source, "Passage": "文本", "id": dialogue_id,
                     "Questions": [{"input_text": "问？", "turn_id": i, "question_type": q}
                                   for i, (q, _, _) in enumerate(turns, 1)],
                     "Answers": [{"input_text": a, "turn_id": i, "answer_type": t,
                                  "answer_start": [-3]} for i, (_, a, t) in enumerate(turns, 1)]})
    return {"data": data}


def run(tmp_path, gold, preds, config=EvalConfig()):
    gold_file, pred_file = tmp_path / "gold.json", tmp_path / "pred.json"
    gold_file.write_text(json.dumps(gold, ensure_ascii=False), encoding="utf-8")
    pred_file.write_text(json.dumps(preds, ensure_ascii=False), encoding="utf-8")
    warn = io.StringIO()
    return evaluate_files(gold_file, pred_file, config, warn), warn.getvalue()


def test_leave_one_out_with_four_golds():
    # F1 of "red car" vs red / red car / blue car / green = 2/3, 1, 1/2, 0; EM 0, 1, 0, 0.
    # Leaving each gold out in turn: F1 max = 1, 2/3, 1, 1; EM max = 1, 0, 1, 1.
    em, f1 = turn_score(["red", "red car", "blue car", "green"], "red car")
    assert em == pytest.approx(3 / 4)
    assert f1 == pytest.approx((1 + 2 / 3 + 1 + 1) / 4)


def test_missing_prediction_scores_zero_and_counts(tmp_path):
    gold = convqa([(7, "历史", [("factoid", "唐朝", "extractive"), ("factoid", "长安", "extractive")])])
    results, warn = run(tmp_path, gold, [{"id": "7", "turn_id": 1, "answer": "唐朝"}])
    assert results["overall"] == {"em": 50.0, "f1": 50.0, "turns": 2}
    assert "Missing prediction for 7 and turn_id: 2" in warn


def test_string_and_int_ids_match(tmp_path):
    gold = convqa([("230", "历史", [("factoid", "唐朝", "extractive")]),
                   (5, "历史", [("factoid", "长安", "extractive")])])
    preds = [{"id": 230, "turn_id": 1, "answer": "唐朝"}, {"id": "5", "turn_id": "1", "answer": "长安"}]
    results, warn = run(tmp_path, gold, preds)
    assert results["overall"]["em"] == 100.0 and warn == ""


def test_domains_order_rounding_and_unknown_source(tmp_path):
    gold = convqa([(1, "科幻", [("factoid", "火星", "extractive")]),
                   (2, "历史", [("factoid", "唐朝", "extractive")] * 3),
                   (3, "儿童故事", [("factoid", "小兔", "extractive")])])
    preds = [{"id": 1, "turn_id": 1, "answer": "火星"}, {"id": 2, "turn_id": 1, "answer": "唐朝"},
             {"id": 2, "turn_id": 2, "answer": "宋朝"}, {"id": 2, "turn_id": 3, "answer": "x"},
             {"id": 3, "turn_id": 1, "answer": "小兔"}]
    results, _ = run(tmp_path, gold, preds)
    assert list(results) == ["儿童故事", "历史", "科幻", "in_domain", "out_domain", "overall"]
    # 历史: EM 1/3 = 33.3; F1 (1 + 1/2 + 0) / 3 = 50.0 (宋朝 vs 唐朝 shares 朝).
    assert results["历史"] == {"em": 33.3, "f1": 50.0, "turns": 3}
    assert results["科幻"] == {"em": 100.0, "f1": 100.0, "turns": 1}
    assert results["in_domain"] == {"em": 50.0, "f1": 62.5, "turns": 4}
    assert results["out_domain"] == {"em": 100.0, "f1": 100.0, "turns": 1}
    assert results["overall"] == {"em": 60.0, "f1": 70.0, "turns": 5}
    overridden, _ = run(tmp_path, gold, preds, EvalConfig(in_domain=("科幻",), out_domain=("历史",)))
    assert list(overridden)[:3] == ["科幻", "历史", "儿童故事"]
    assert overridden["in_domain"]["turns"] == 1 and overridden["out_domain"]["turns"] == 4


def test_breakdown_and_confusion(tmp_path):
    gold = convqa([(1, "历史", [("yesno", "是的", "generative"), ("yesno", "不是", "generative"),
                                ("factoid", "无法作答", "generative"), ("factoid", "唐朝", "extractive"),
                                ("why", "因为下雨了", "generative")])])
    preds = [{"id": 1, "turn_id": 1, "answer": "是的"}, {"id": 1, "turn_id": 2, "answer": "是的"},
             {"id": 1, "turn_id": 3, "answer": "唐朝"}, {"id": 1, "turn_id": 4, "answer": "唐朝"},
             {"id": 1, "turn_id": 5, "answer": "无法作答"}]
    results, _ = run(tmp_path, gold, preds, EvalConfig(breakdown=True))
    extra = results["breakdown"]
    assert extra["answer_kind"]["yes"] == {"em": 100.0, "f1": 100.0, "turns": 1}
    assert extra["answer_kind"]["no"]["em"] == 0.0
    assert list(extra["answer_kind"]) == ["span", "free-form", "yes", "no", "unknown"]
    # 不是 vs 是的 share the token 是: F1 1/2, so yesno F1 = (1 + 1/2) / 2.
    assert extra["question_type"]["yesno"] == {"em": 50.0, "f1": 75.0, "turns": 2}
    assert extra["turn_position"] == {"1": {"em": 100.0, "f1": 100.0, "turns": 1},
                                      "2": {"em": 0.0, "f1": 50.0, "turns": 1},
                                      "3-4": {"em": 50.0, "f1": 50.0, "turns": 2},
                                      "5+": {"em": 0.0, "f1": 0.0, "turns": 1}}
    confusion = extra["confusion"]
    assert confusion["yes"]["yes"] == 1 and confusion["no"]["yes"] == 1
    assert confusion["unknown"]["other"] == 1 and confusion["other"]["unknown"] == 1
    assert confusion["other"]["other"] == 1


def test_official_coqa_domains_and_additional_answers(tmp_path):
    gold_file = require_shared("data", "coqa_en", "coqa_dev_sample.json")
    gold = json.loads(gold_file.read_text(encoding="utf-8"))
    preds = [{"id": d["id"], "turn_id": a["turn_id"], "answer": a["input_text"]}
             for d in gold["data"] for a in d["answers"]]
    pred_file = tmp_path / "pred.json"
    pred_file.write_text(json.dumps(preds), encoding="utf-8")
    results = evaluate_files(gold_file, pred_file, EvalConfig(breakdown=True), io.StringIO())
    assert list(results)[:4] == ["children_stories", "in_domain", "out_domain", "overall"]
    assert results["children_stories"]["turns"] == 12
    assert 80.0 < results["overall"]["f1"] <= 100.0  # leave-one-out against 3 other golds
    assert results["breakdown"]["answer_kind"]["no"]["turns"] == 3


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "evaluate", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True)


def test_cli_writes_json_and_table(tmp_path):
    gold = convqa([(1, "育儿知识", [("factoid", "六个月", "extractive")])])
    (tmp_path / "g.json").write_text(json.dumps(gold, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "p.json").write_text(json.dumps([{"id": 1, "turn_id": 1, "answer": "六个月"}],
                                                ensure_ascii=False), encoding="utf-8")
    result = _cli("--data-file", tmp_path / "g.json", "--pred-file", tmp_path / "p.json",
                  "--out-file", tmp_path / "out.json")
    assert result.returncode == 0
    assert "育儿知识" in result.stdout and "Results: {'育儿知识'" in result.stdout
    saved = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert saved["overall"] == {"em": 100.0, "f1": 100.0, "turns": 1}


@pytest.mark.parametrize("gold, pred, message", [
    (b"\xff\xfe", b"[]", "not UTF-8"),
    (b"{", b"[]", "not JSON"),
    (b'{"version": 1}', b"[]", 'no "data" list'),
    (b'{"data": [{"id": 1, "Source": "x", "Passage": "p", "Questions": [], "Answers": [1]}]}',
     b"[]", "not lists of equal length"),
    (b'{"data": []}', b'[{"id": 1, "answer": "x"}]', 'prediction #0: missing field "turn_id"'),
    (b'{"data": []}', b'{"id": 1}', "must be a JSON list"),
])
def test_cli_bad_input_one_line_exit_2(tmp_path, gold, pred, message):
    (tmp_path / "g.json").write_bytes(gold)
    (tmp_path / "p.json").write_bytes(pred)
    result = _cli("--data-file", tmp_path / "g.json", "--pred-file", tmp_path / "p.json")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and str(tmp_path) in lines[0]


def test_cli_missing_gold_file(tmp_path):
    result = _cli("--data-file", tmp_path / "nope.json", "--pred-file", tmp_path / "p.json")
    assert result.returncode == 2 and "nope.json: no such file" in result.stderr
