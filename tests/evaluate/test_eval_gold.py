"""Reading gold and prediction files: formats, answer kinds, defects."""
from __future__ import annotations

import json

import pytest

from evaluate import EvalInputError, read_gold, read_predictions


def coqa_dialogue(dialogue_id="c1", story="Cotton lived in a barn.", answers=("in a barn",),
                  additional=()):
    turns = range(1, len(answers) + 1)
    return {"source": "mctest", "id": dialogue_id, "story": story,
            "questions": [{"input_text": "q", "turn_id": t} for t in turns],
            "answers": [{"input_text": a, "turn_id": t} for t, a in zip(turns, answers)],
            "additional_answers": {str(k): [{"input_text": a, "turn_id": t}
                                            for t, a in zip(turns, extra)]
                                   for k, extra in enumerate(additional)}}


def convqa_dialogue(dialogue_id=1, answer_turn_id=1):
    return {"Source": "历史", "Passage": "p", "id": dialogue_id,
            "Questions": [{"input_text": "q", "turn_id": 1}],  # no question_type
            "Answers": [{"input_text": "唐朝", "turn_id": answer_turn_id,
                         "answer_type": "extractive"}]}


def write(tmp_path, obj, name="gold.json", bom=False):
    path = tmp_path / name
    text = json.dumps(obj, ensure_ascii=False)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def test_coqa_golds_and_kinds(tmp_path):
    dialogue = coqa_dialogue(answers=("in a barn", "a red house", " Yes. "),
                             additional=[("in a barn", "house", "yes"), ("barn", "red", "yes")])
    gold = read_gold(write(tmp_path, {"version": "1.0", "data": [dialogue]}))
    assert gold.file_format == "coqa" and gold.warnings == ()
    assert [t.answers for t in gold.turns] == [("in a barn", "in a barn", "barn"),
                                               ("a red house", "house", "red"),
                                               (" Yes. ", "yes", "yes")]
    # "in a barn" is in the story: span; "a red house" is not: free-form; " Yes. ": yes.
    assert [t.kind for t in gold.turns] == ["span", "free-form", "yes"]
    assert [t.question_type for t in gold.turns] == ["none"] * 3
    assert gold.turns[0].key == ("c1", 1)


def test_convqa_ids_bom_and_missing_question_type(tmp_path):
    gold = read_gold(write(tmp_path, {"data": [convqa_dialogue(230)]}, bom=True))
    assert gold.file_format == "convqa_cn"
    assert gold.turns[0].key == ("230", 1)
    assert (gold.turns[0].question_type, gold.turns[0].kind) == ("none", "span")


def test_answer_turn_id_mismatch_is_a_warning(tmp_path):
    gold = read_gold(write(tmp_path, {"data": [convqa_dialogue(1, answer_turn_id=2)]}))
    assert len(gold.turns) == 1
    assert len(gold.warnings) == 1 and "dialogue 1: turn 1" in gold.warnings[0]
    # "1" and 1 are the same turn: no warning.
    assert read_gold(write(tmp_path, {"data": [convqa_dialogue(1, "1")]})).warnings == ()


@pytest.mark.parametrize("data, message", [
    ([convqa_dialogue(1), coqa_dialogue("c1")], "dialogue c1: coqa dialogue in a convqa_cn file"),
    ([coqa_dialogue("c2", additional=[()])], 'additional_answers["0"] has 0 entries for 1'),
    ([{**coqa_dialogue("c3"), "additional_answers": {"0": "x"}}],
     'dialogue c3: additional_answers["0"] is not a list'),
    ([{**coqa_dialogue("c4"), "additional_answers": []}], '"additional_answers" is not an object'),
    ([{"id": 5, "text": "?"}], "dialogue 5: neither ConvQA_CN"),
    ([{"Source": "历史"}], 'data[0]: missing field "id"'),
    (["x"], "data[0]: not an object"),
    ([{**convqa_dialogue(6), "Questions": [{"turn_id": "第一"}]}], "turn_id '第一' is not an"),
    ([{**convqa_dialogue(7), "Answers": [{"input_text": 3}]}],
     'dialogue 7: turn 1: "input_text" is not a string'),
])
def test_gold_defects(tmp_path, data, message):
    path = write(tmp_path, {"data": data})
    with pytest.raises(EvalInputError) as err:
        read_gold(path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)
    assert "\n" not in str(err.value)


def test_predictions_ids_and_last_answer_wins(tmp_path):
    path = write(tmp_path, [{"id": 230, "turn_id": "2", "answer": "a"},
                            {"id": "230", "turn_id": 2, "answer": "b"},
                            {"id": "x", "turn_id": 1, "answer": ""}], "pred.json")
    assert read_predictions(path) == {("230", 2): "b", ("x", 1): ""}
