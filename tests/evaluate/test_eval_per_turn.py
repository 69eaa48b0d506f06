"""`python -m evaluate --per-turn-out`: one record per gold turn, JSON lines or CSV."""
from __future__ import annotations

import csv
import json

import pytest

from tests.evaluate.test_eval_cli import GOLD, cli, write

PREDS = [{"id": "1", "turn_id": 1, "answer": "六个月"}, {"id": 1, "turn_id": 2, "answer": "不是"}]
# 育儿知识 turn 1: 六个月 vs 六个月。: EM 0, F1 6/7. Turn 2: 不是 vs 是的: tokens 不 是 / 是 的,
# common 1, P = R = 1/2, F1 1/2; EM 0. Dialogue 2 turn 1: missing, 0 and 0.
EXPECTED = [
    {"dialogue": "1", "turn": 1, "domain": "育儿知识", "question_type": "factoid",
     "gold_kind": "span", "gold_answers": ["六个月。"], "prediction": "六个月",
     "missing": False, "em": 0.0, "f1": pytest.approx(6 / 7)},
    {"dialogue": "1", "turn": 2, "domain": "育儿知识", "question_type": "yesno",
     "gold_kind": "yes", "gold_answers": ["是的"], "prediction": "不是", "missing": False,
     "em": 0.0, "f1": 0.5},
    {"dialogue": "2", "turn": 1, "domain": "science fiction", "question_type": "factoid",
     "gold_kind": "span", "gold_answers": ["火星"], "prediction": None, "missing": True,
     "em": 0.0, "f1": 0.0},
]


def run(tmp_path, name):
    out = tmp_path / name
    result = cli("--data-file", write(tmp_path, "g.json", GOLD),
                 "--pred-file", write(tmp_path, "p.json", PREDS), "--per-turn-out", out)
    assert result.returncode == 0, result.stderr
    return out


def test_json_lines(tmp_path):
    lines = run(tmp_path, "turns.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == EXPECTED
    assert "育儿知识" in lines[0]  # written as UTF-8, not escaped


def test_csv(tmp_path):
    with open(run(tmp_path, "turns.CSV"), encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == list(EXPECTED[0])
    assert [(r["dialogue"], r["turn"], r["domain"], r["gold_kind"], r["prediction"],
             r["missing"]) for r in rows] == [("1", "1", "育儿知识", "span", "六个月", "False"),
                                              ("1", "2", "育儿知识", "yes", "不是", "False"),
                                              ("2", "1", "science fiction", "span", "", "True")]
    assert json.loads(rows[0]["gold_answers"]) == ["六个月。"]
    assert float(rows[0]["f1"]) == pytest.approx(6 / 7) and float(rows[1]["f1"]) == 0.5


@pytest.mark.parametrize("name, message", [
    ("turns.txt", "per-turn file must end in .jsonl or .csv"),
    ("missing/turns.csv", "does not exist"),
    ("folder.csv", "is a directory")])
def test_bad_per_turn_path_fails_before_scoring(tmp_path, name, message):
    (tmp_path / "folder.csv").mkdir()
    result = cli("--data-file", write(tmp_path, "g.json", GOLD),
                 "--pred-file", write(tmp_path, "p.json", PREDS),
                 "--per-turn-out", tmp_path / name)
    assert result.returncode == 2 and result.stdout == ""  # nothing scored, nothing printed
    assert result.stderr.splitlines() == [f"error: {tmp_path / name}: " + (
        message if "exist" not in message else f"folder {tmp_path / 'missing'} {message}")]
