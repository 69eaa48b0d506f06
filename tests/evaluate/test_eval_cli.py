"""`python -m evaluate` end to end: tables, the Results line, the JSON file, exit codes."""
from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from evaluate.report import display_width

REPO = Path(__file__).resolve().parents[2]

GOLD = {"data": [
    {"Source": "育儿知识", "Passage": "文", "id": 1,
     "Questions": [{"input_text": "问？", "turn_id": 1, "question_type": "factoid"},
                   {"input_text": "问？", "turn_id": 2, "question_type": "yesno"}],
     "Answers": [{"input_text": "六个月。", "turn_id": 1, "answer_type": "extractive"},
                 {"input_text": "是的", "turn_id": 2, "answer_type": "generative"}]},
    {"Source": "science fiction", "Passage": "文", "id": 2,
     "Questions": [{"input_text": "问？", "turn_id": 1, "question_type": "factoid"}],
     "Answers": [{"input_text": "火星", "turn_id": 1, "answer_type": "extractive"}]}]}
PREDS = [{"id": "1", "turn_id": 1, "answer": "六个月"}, {"id": 1, "turn_id": 2, "answer": "是的"},
         {"id": 2, "turn_id": 1, "answer": "火星"}]


def cli(*args):
    return subprocess.run([sys.executable, "-m", "evaluate", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, encoding="utf-8")


def write(tmp_path, name, content):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(json.dumps(content, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture
def files(tmp_path):
    return write(tmp_path, "gold.json", GOLD), write(tmp_path, "pred.json", PREDS)


def test_cli_table_results_line_and_json(tmp_path, files):
    out = tmp_path / "scores.json"
    result = cli("--data-file", files[0], "--pred-file", files[1], "--out-file", out)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    # 育儿知识: turn 1 六个月 vs 六个月。 EM 0, F1 6/7; turn 2 EM 1, F1 1 -> 50.0, 92.9.
    # Overall: EM 2/3, F1 (6/7 + 2) / 3 = 95.2.
    zero = {"em": 0.0, "f1": 0.0, "turns": 0}
    expected = {"儿童故事": zero, "热点新闻": zero, "历史": zero,
                "育儿知识": {"em": 50.0, "f1": 92.9, "turns": 2},
                "science fiction": {"em": 100.0, "f1": 100.0, "turns": 1},
                "in_domain": {"em": 50.0, "f1": 92.9, "turns": 2},
                "out_domain": {"em": 100.0, "f1": 100.0, "turns": 1},
                "overall": {"em": 66.7, "f1": 95.2, "turns": 3}}
    lines = result.stdout.splitlines()
    assert lines[-1] == f"Results: {expected!r}"
    saved = out.read_text(encoding="utf-8")
    assert "育儿知识" in saved  # ensure_ascii=False
    assert list(json.loads(saved).items()) == list(expected.items())
    assert lines[0] == "text comparison: convqa_cn (ConvQA_CN gold file)"
    # The table: header, 5 domains (every official one), a rule, 3 aggregates; every row
    # equally wide on screen.
    table = lines[1:11]
    assert table[0].split() == ["domain", "turns", "EM", "F1"]
    assert table[1].split() == ["儿童故事", "0", "0.0", "0.0"]
    assert table[4].split() == ["育儿知识", "2", "50.0", "92.9"]
    assert set(table[6]) == {"-"}
    assert len({display_width(line) for line in table}) == 1


def test_cli_breakdown_and_drop_cjk_punct(tmp_path, files):
    out = tmp_path / "scores.json"
    result = cli("--data-file", files[0], "--pred-file", files[1], "--out-file", out,
                 "--breakdown", "--drop-cjk-punct")
    assert result.returncode == 0, result.stderr
    saved = json.loads(out.read_text(encoding="utf-8"))
    assert saved["overall"] == {"em": 100.0, "f1": 100.0, "turns": 3}  # 。 ignored
    assert saved["breakdown"]["confusion"]["yes"]["yes"] == 1
    assert saved["breakdown"]["confusion"]["other"]["other"] == 2
    for title in ("question type", "gold answer kind", "turn position", "gold \\ predicted"):
        assert any(line.startswith(title) for line in result.stdout.splitlines()), title
    assert "breakdown" not in result.stdout.splitlines()[-1]  # Results line: domains only


def test_cli_domain_flags(tmp_path, files):
    out = tmp_path / "scores.json"
    result = cli("--data-file", files[0], "--pred-file", files[1], "--out-file", out,
                 "--in-domain", "science fiction, 历史", "--out-domain", "育儿知识")
    assert result.returncode == 0, result.stderr
    saved = json.loads(out.read_text(encoding="utf-8"))
    # 历史 is listed but no dialogue has it: a 0-turn row and a warning.
    assert list(saved)[:3] == ["science fiction", "历史", "育儿知识"]
    assert saved["历史"] == {"em": 0.0, "f1": 0.0, "turns": 0}
    assert saved["in_domain"]["turns"] == 1 and saved["out_domain"]["turns"] == 2
    assert result.stderr.splitlines() == [f"{files[0]}: no dialogue has the in-domain source "
                                          "'历史'; it is reported with 0 turns"]


def test_cli_missing_predictions_reported(tmp_path, files):
    result = cli("--data-file", files[0], "--pred-file", write(tmp_path, "p.json", PREDS[:1]))
    assert result.returncode == 0
    assert result.stderr.splitlines() == ["Missing prediction for 1 and turn_id: 2",
                                          "Missing prediction for 2 and turn_id: 1"]
    assert "'overall': {'em': 0.0, 'f1': 28.6, 'turns': 3}" in result.stdout  # (6/7) / 3


ONE_TURN = (b'{"data": [{"Source": "h", "Passage": "p", "id": 1, "Questions": [{"turn_id": 1}], '
            b'"Answers": [{"input_text": "a"}]}]}')
CONVQA_DIALOGUE = ('{"id": 9, "Source": "历史", "Passage": "p", "Questions": '
                   '[{"input_text": "q", "turn_id": 1}], "Answers": [%s]}')


@pytest.mark.parametrize("bad_file, gold, pred, message", [
    ("gold", b"\xff\xfe{}", b"[]", "not UTF-8"),
    ("gold", b"{", b"[]", "not JSON"),
    ("gold", b'{"version": 1}', b"[]", 'no "data" list'),
    ("gold", b'{"data": [{"id": 3, "Passage": "p", "Questions": [], "Answers": []}]}', b"[]",
     'dialogue 3: missing field "Source"'),
    ("gold", ('{"data": [' + CONVQA_DIALOGUE % '{"turn_id": 1}' + "]}").encode(), b"[]",
     'dialogue 9: turn 1: missing field "input_text"'),
    ("gold", ('{"data": [' + CONVQA_DIALOGUE % "" + "]}").encode(), b"[]",
     "dialogue 9: 1 Questions but 0 Answers"),
    ("gold", b'{"data": [{"id": "s", "source": "mctest", "story": "x", "questions": '
             b'[{"turn_id": 1}], "answers": []}]}', b"[]", "answers has 0 entries for 1"),
    ("pred", ONE_TURN, b'[{"id": 1, "answer": "x"}]',
     'prediction #0: missing field "turn_id"'),
    ("pred", ONE_TURN, b'[{"id": 1, "turn_id": 1, "answer": "x"}, {"id": 1}]',
     'prediction #1: missing field "turn_id"'),
    ("pred", ONE_TURN, b'[{"turn_id": 1, "answer": "x"}]',
     'prediction #0: missing field "id"'),
    ("pred", ONE_TURN, b'[{"id": 1, "turn_id": 1}]',
     'prediction #0: missing field "answer"'),
    ("pred", ONE_TURN, b'[{"id": 1, "turn_id": 1, "answer": null}]', "is not a string"),
    ("pred", ONE_TURN, b'[{"id": 1, "turn_id": "one", "answer": "x"}]', "not an integer"),
    ("pred", ONE_TURN, b'{"id": 1}', "not a JSON list"),
    ("pred", ONE_TURN, b"\x80", "not UTF-8"),
    ("pred", ONE_TURN, gzip.compress(b"[]", mtime=0),
     "gzip-compressed, not JSON: decompress it first (gunzip)"),
    ("gold", b'{"data": [{"id": "a1", "paragraphs": [{"context": "x", "qas": []}]}]}', b"[]",
     "data[0]: a SQuAD-style article (CMRC 2018, DRCD), not a dialogue: convert the file "
     "first (python -m coqa.tools.convert)"),
])
def test_cli_bad_input_one_line_exit_2(tmp_path, bad_file, gold, pred, message):
    paths = {"gold": write(tmp_path, "g.json", gold), "pred": write(tmp_path, "p.json", pred)}
    result = cli("--data-file", paths["gold"], "--pred-file", paths["pred"])
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {paths[bad_file]}: ") and message in lines[0], lines[0]
    assert result.stdout == ""


def test_cli_missing_files(tmp_path, files):
    result = cli("--data-file", tmp_path / "nope.json", "--pred-file", files[1])
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"error: {tmp_path / 'nope.json'}: no such file"]
    result = cli("--data-file", files[0], "--pred-file", tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"error: {tmp_path}: is a directory"]


COQA_GOLD = {"data": [{"source": "cnn", "id": "s1", "story": "the farmer's dog",
                       "questions": [{"input_text": "Whose?", "turn_id": 1}],
                       "answers": [{"input_text": "the farmer's", "turn_id": 1}]}]}


@pytest.mark.parametrize("flag, first_line, f1", [
    ((), "text comparison: coqa (CoQA v1.0 gold file)", 0.0),
    (("--text-comparison", "coqa"), "text comparison: coqa (as asked)", 0.0),
    (("--text-comparison", "convqa_cn"), "text comparison: convqa_cn (as asked)", 66.7),
])
def test_cli_text_comparison(tmp_path, flag, first_line, f1):
    # "the farmer" vs gold "the farmer's": official words farmer / farmers, F1 0; BERT
    # tokens farmer / farmer s: P 1, R 1/2, F1 2/3.
    out = tmp_path / "scores.json"
    result = cli("--data-file", write(tmp_path, "g.json", COQA_GOLD), "--pred-file",
                 write(tmp_path, "p.json", [{"id": "s1", "turn_id": 1, "answer": "the farmer"}]),
                 "--out-file", out, *flag)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == first_line
    saved = json.loads(out.read_text(encoding="utf-8"))
    assert saved["news"] == {"em": 0.0, "f1": f1, "turns": 1}
    assert list(saved)[:7] == ["children_stories", "literature", "mid-high_school", "news",
                               "wikipedia", "reddit", "science"]


def test_cli_unknown_text_comparison_exit_2(files):
    result = cli("--data-file", files[0], "--pred-file", files[1], "--text-comparison", "bert")
    assert result.returncode == 2 and "invalid choice: 'bert'" in result.stderr
