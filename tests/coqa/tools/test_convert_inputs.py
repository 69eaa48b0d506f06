"""python -m coqa.tools.convert on SQuAD-style inputs beyond CMRC / DRCD: SQuAD v2
unanswerable questions, offsets given as strings, and defects that must be one line (exit
2) instead of a traceback or a converted file the reader refuses."""
from __future__ import annotations

import json

import pytest

from coqa.data.readers import load_dialogues
from coqa.tools.convert import main

CONTEXT = "北京是中国的首都。上海是最大的城市。"


def squad(*paragraphs):
    return {"version": "v2.0", "data": [{"title": "t", "paragraphs": list(paragraphs)}]}


def qa(qid, question, text=None, start=None, **extra):
    answers = [] if text is None else [{"text": text, "answer_start": start}]
    return {"id": qid, "question": question, "answers": answers, **extra}


def convert(tmp_path, obj, capsys):
    source, out = tmp_path / "in.json", tmp_path / "sub" / "out.json"
    source.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    code = main(["--input", str(source), "--output", str(out), "--domain", "百科"])
    return code, out, capsys.readouterr()


def test_squad_v2_impossible_question_becomes_unknown(tmp_path, capsys):
    obj = squad({"id": "p1", "context": CONTEXT, "qas": [
        qa("q1", "中国的首都是哪里？", "北京", 0, is_impossible=False),
        qa("q2", "日本的首都是哪里？", is_impossible=True,
           plausible_answers=[{"text": "北京", "answer_start": 0}]),
        qa("q3", "最大的城市？", "上海", "9")]})  # an offset given as a string
    code, out, output = convert(tmp_path, obj, capsys)
    assert code == 0, output.err
    assert "moved" not in output.err  # "9" is offset 9, not a moved one
    answers = json.loads(out.read_text(encoding="utf-8"))["data"][0]["Answers"]
    assert answers[1] == {"input_text": "无法作答", "turn_id": 2, "answer_id": 1,
                          "answer_type": "generative", "answer_start": [-3]}
    assert answers[2]["answer_start"] == [9]
    turns = load_dialogues(out).dialogues[0].turns
    assert [t.kind.value for t in turns] == ["span", "unknown", "span"]


@pytest.mark.parametrize("obj, message", [
    (squad({"id": "p1", "context": CONTEXT, "qas": [qa("q1", "问？", "", 0)]}),
     "dialogue p1: turn 1: empty answer text '' (q1)"),
    (squad({"id": "p1", "context": CONTEXT, "qas": [qa("q1", "问？", " ", 2)]}),
     "dialogue p1: turn 1: empty answer text ' ' (q1)"),
    (squad("not a paragraph"), "dialogue 0-0: paragraph is not an object"),
    ({"data": [{"paragraphs": [{"id": "p1", "context": CONTEXT, "qas": [qa("a", "问", "北京", 0)]}]},
               {"paragraphs": [{"id": "p1", "context": CONTEXT, "qas": [qa("b", "问", "上海", 9)]}]}]},
     "dialogue p1: paragraph id repeated (article #0 paragraph #0 and article #1 paragraph #0)"),
])
def test_bad_paragraphs_are_one_line(tmp_path, capsys, obj, message):
    code, out, output = convert(tmp_path, obj, capsys)
    assert code == 2
    assert output.err.strip().splitlines()[-1].startswith(f"error: {tmp_path / 'in.json'}: ")
    assert message in output.err
    assert not out.exists()


def test_output_folder_is_one_line_and_nothing_half_written(tmp_path, capsys):
    target = tmp_path / "sub" / "out.json"
    target.mkdir(parents=True)  # a folder where the file should go
    obj = squad({"id": "p1", "context": CONTEXT, "qas": [qa("q1", "问？", "北京", 0)]})
    code, _, output = convert(tmp_path, obj, capsys)
    assert code == 2
    assert output.err.strip().splitlines()[-1] == f"error: cannot write {target}: Is a directory"
    assert list(target.parent.iterdir()) == [target]  # no temporary file left behind
