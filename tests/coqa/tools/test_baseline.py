"""python -m coqa.tools.baseline: the unknown answer in the gold file's language, and the
prediction file written atomically (a folder in the way is one line, exit 2)."""
from __future__ import annotations

import json

from coqa.tools.baseline import main, predict
from tests.conftest import require_shared

CONVQA = {"data": [{"Source": "历史", "id": "c1", "Passage": "北京是首都。",
                    "Questions": [{"input_text": "首都？", "turn_id": 1}],
                    "Answers": [{"input_text": "北京", "turn_id": 1, "answer_type": "extractive",
                                 "answer_start": [0]}]}]}


def test_unknown_method_answers_in_the_files_language(tmp_path):
    english = require_shared("data", "coqa_en", "coqa_dev_sample.json")
    assert {p["answer"] for p in predict(str(english), method="unknown")} == {"unknown"}
    chinese = tmp_path / "cn.json"
    chinese.write_text(json.dumps(CONVQA, ensure_ascii=False), encoding="utf-8")
    assert [p["answer"] for p in predict(str(chinese), method="unknown")] == ["无法作答"]


def test_pred_file_folder_in_the_way_is_one_line(tmp_path, capsys):
    data = tmp_path / "cn.json"
    data.write_text(json.dumps(CONVQA, ensure_ascii=False), encoding="utf-8")
    target = tmp_path / "out" / "pred.json"
    target.mkdir(parents=True)
    assert main(["--data-file", str(data), "--pred-file", str(target)]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == \
        f"error: cannot write {target}: Is a directory"
    assert list(target.parent.iterdir()) == [target]
    good = tmp_path / "new" / "pred.json"
    assert main(["--data-file", str(data), "--pred-file", str(good)]) == 0
    assert json.loads(good.read_text(encoding="utf-8"))[0]["id"] == "c1"


def test_questions_without_answers_are_answered(tmp_path):
    """A file of new questions (no "Answers", as run_coqa.py --do_predict reads) needs no
    gold to be answered by a baseline."""
    questions = json.loads(json.dumps(CONVQA))
    del questions["data"][0]["Answers"]
    data = tmp_path / "new.json"
    data.write_text(json.dumps(questions, ensure_ascii=False), encoding="utf-8")
    assert predict(str(data)) == [{"id": "c1", "turn_id": 1, "answer": "北京是首都。"}]
