"""Shared test helpers: tiny hand-made dialogues and the path to ../shared."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

PASSAGE = "小明住在杭州。他喜欢踢足球，每个周末都去公园踢足球。小红是他的同学，她喜欢画画。"


def convqa_dialogue(dialogue_id=1, source="儿童故事", passage=PASSAGE):
    """A valid ConvQA_CN v3.0 dialogue with one turn of every answer kind."""
    turns = [
        ("小明住在哪里？", "factoid", "杭州", "extractive", [passage.find("杭州")]),
        ("他喜欢什么运动？", "coreference", "踢足球", "extractive",
         [i for i in range(len(passage)) if passage.startswith("踢足球", i)]),
        ("小红是谁？", "factoid", "小明的同学。", "generative", [-3]),
        ("她喜欢画画吗？", "yesno", "是的", "generative", [-3]),
        ("她住在杭州吗？", "yesno", "不是", "generative", [-3]),
        ("她几岁了？", "factoid", "无法作答", "generative", [-3]),
    ]
    return {
        "Source": source, "Passage": passage,
        "Questions": [{"input_text": q, "turn_id": i, "question_type": t}
                      for i, (q, t, _, _, _) in enumerate(turns, 1)],
        "Answers": [{"input_text": a, "turn_id": i, "answer_id": 1, "answer_type": kind,
                     "answer_start": starts}
                    for i, (_, _, a, kind, starts) in enumerate(turns, 1)],
        "id": dialogue_id,
    }


@pytest.fixture
def convqa_data():
    """A fresh, mutable ConvQA_CN top-level object with two dialogues."""
    return {"version": "test", "data": [convqa_dialogue(1), convqa_dialogue(2, "历史")]}


@pytest.fixture
def write_json(tmp_path):
    """Write an object (or raw bytes / text) to a file under tmp_path; return its path."""
    def write(obj, name="data.json"):
        path = tmp_path / name
        if isinstance(obj, bytes):
            path.write_bytes(obj)
        elif isinstance(obj, str):
            path.write_text(obj, encoding="utf-8")
        else:
            path.write_text(json.dumps(copy.deepcopy(obj), ensure_ascii=False), encoding="utf-8")
        return path
    return write


def require_shared(*parts: str) -> Path:
    """Path under ../shared, or skip the test cleanly when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not available")
    return path
