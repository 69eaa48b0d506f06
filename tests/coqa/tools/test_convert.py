"""SQuAD-style to ConvQA_CN conversion, and a round trip over the real CMRC / DRCD answers."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from coqa.tools.convert import align_answer, convert_squad
from coqa.data.dialogue import AnswerKind
from coqa.data.readers import load_dialogues
from tests.conftest import REPO, require_shared


def test_align_answer_keeps_annotated_first():
    context = "北京是首都。北京很大。"
    assert align_answer(context, "北京", 6) == ([6, 0], False)
    assert align_answer(context, "北京", 7) == ([6, 0], True)   # one off: moved to nearest
    with pytest.raises(ValueError):
        align_answer(context, "上海", 0)


@pytest.mark.parametrize("parts, domain, moved, empty_questions", [
    (("data", "cmrc2018", "cmrc2018_trial.json"), "百科", 5, 2),
    (("data", "drcd", "DRCD_dev.json"), "百科繁体", 0, 0),
])
def test_round_trip_every_extractive_answer(parts, domain, moved, empty_questions, tmp_path):
    source = require_shared(*parts)
    converted, count = convert_squad(source, domain)
    assert count == moved  # CMRC trial TRIAL_210 has 5 offsets one character too high
    out = tmp_path / "converted.json"
    out.write_text(json.dumps(converted, ensure_ascii=False), encoding="utf-8")
    # CMRC trial has two empty questions: the reader reports them, never drops them silently.
    loaded = load_dialogues(out, skip_invalid=True)
    assert [s.reason for s in loaded.skipped] == ["empty question"] * empty_questions
    squad = json.loads(source.read_text(encoding="utf-8"))
    golds = [qa["answers"][0]["text"] for article in squad["data"]
             for paragraph in article["paragraphs"] for qa in paragraph["qas"]
             if qa["question"].strip()]
    turns = [(d, t) for d in loaded.dialogues for t in d.turns]
    assert len(turns) == len(golds)
    for (dialogue, turn), gold in zip(turns, golds):
        assert dialogue.domain == domain
        if turn.kind.is_special:  # a SQuAD answer may literally be 是的 / 不是
            continue
        assert turn.kind == AnswerKind.SPAN
        assert dialogue.span_text(turn) == gold == turn.answer


def test_cli_missing_answer_one_line(tmp_path):
    squad = {"data": [{"paragraphs": [{"id": "P1", "context": "今天天气很好。",
                                        "qas": [{"question": "谁？", "answers": [
                                            {"text": "小明", "answer_start": 0}]}]}]}]}
    source = tmp_path / "squad.json"
    source.write_text(json.dumps(squad, ensure_ascii=False), encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "coqa.tools.convert", "--input", str(source),
                             "--output", str(tmp_path / "out.json"), "--domain", "百科"],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "dialogue P1: turn 1: answer '小明' does not occur" in result.stderr
    assert not (tmp_path / "out.json").exists()
