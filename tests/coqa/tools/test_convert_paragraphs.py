"""python -m coqa.tools.convert --paragraphs FIRST:END keeps a slice of the paragraphs."""
from __future__ import annotations

import json

import pytest

from coqa.tools import convert


def squad(paragraphs):
    return {"data": [{"title": "t", "paragraphs": [
        {"id": f"P{i}", "context": f"第{i}段文字。", "qas": [
            {"id": f"P{i}_Q", "question": "哪一段？",
             "answers": [{"text": f"第{i}段", "answer_start": 0}]}]}
        for i in range(paragraphs)]}]}


@pytest.mark.parametrize("spec, ids", [("", ["P0", "P1", "P2", "P3"]), ("1:3", ["P1", "P2"]),
                                       ("2:", ["P2", "P3"]), (":1", ["P0"])])
def test_paragraph_slices(tmp_path, spec, ids):
    source = tmp_path / "squad.json"
    source.write_text(json.dumps(squad(4), ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "out.json"
    argv = ["--input", str(source), "--output", str(out), "--domain", "百科"]
    assert convert.main(argv + (["--paragraphs", spec] if spec else [])) == 0
    assert [d["id"] for d in json.loads(out.read_text(encoding="utf-8"))["data"]] == ids


@pytest.mark.parametrize("spec", ["3", "a:b", "-1:2", "1:2:3"])
def test_bad_slices_are_one_line(tmp_path, capsys, spec):
    source = tmp_path / "squad.json"
    source.write_text(json.dumps(squad(2)), encoding="utf-8")
    code = convert.main(["--input", str(source), "--output", str(tmp_path / "o.json"),
                         "--domain", "x", f"--paragraphs={spec}"])
    assert code == 2 and "--paragraphs" in capsys.readouterr().err
