"""Turn ids out of order (or counting from 0) are refused: history is built in file order,
so such a file would give turns the wrong history. Both layouts, --skip-invalid too."""
from __future__ import annotations

import pytest

from coqa.data.errors import DataError
from coqa.data.readers import load_dialogues
from coqa.tools import validate


def _renumber(dialogue, turn_ids, keys=("Questions", "Answers")):
    for key in keys:
        for item, turn_id in zip(dialogue[key], turn_ids):
            item["turn_id"] = turn_id


def coqa_data(turn_ids):
    """A hand-made CoQA v1.0 file of one dialogue with one additional answer per turn."""
    story = "Tom lives in Paris. He has a red bike and rides it every day."
    golds = [("Paris", 13, 18), ("a red bike", 27, 37), ("every day", 48, 61)]
    return {"version": "1.0", "data": [{
        "source": "wikipedia", "id": "x1", "story": story,
        "questions": [{"input_text": f"q{i}?", "turn_id": t} for i, t in enumerate(turn_ids)],
        "answers": [{"input_text": text, "turn_id": t, "span_start": s, "span_end": e,
                     "span_text": story[s:e]} for t, (text, s, e) in zip(turn_ids, golds)],
        "additional_answers": {"0": [{"input_text": f"extra {text}", "turn_id": t}
                                     for t, (text, _, _) in zip(turn_ids, golds)]}}]}


def test_convqa_cn_out_of_order_names_file_dialogue_and_turn(convqa_data, write_json):
    _renumber(convqa_data["data"][0], [2, 1, 3, 4, 5, 6])
    path = write_json(convqa_data)
    with pytest.raises(DataError) as caught:
        load_dialogues(path)
    err = caught.value
    assert (err.file, err.dialogue_id, err.turn) == (str(path), "1", 1)
    assert "turn_id 1 in Questions[1] comes after turn_id 2" in err.message
    assert err.one_line().startswith(f"{path}: dialogue 1: turn 1: ")


def test_convqa_cn_out_of_order_skipped_and_reported(convqa_data, write_json, caplog):
    _renumber(convqa_data["data"][1], [1, 2, 4, 3, 5, 6])
    loaded = load_dialogues(write_json(convqa_data), skip_invalid=True)
    assert [d.id for d in loaded.dialogues] == ["1"]
    assert [(s.dialogue_id, s.turn) for s in loaded.skipped] == [("2", None)]
    reason = loaded.skipped[0].reason
    assert "turn_id 3 in Questions[3] comes after turn_id 4" in reason and "6 turns" in reason
    assert "dialogue 2: turn_id 3" in caplog.text  # reported, never silent


def test_gaps_between_increasing_turn_ids_are_fine(convqa_data, write_json):
    _renumber(convqa_data["data"][0], [1, 2, 3, 5, 8, 9])
    loaded = load_dialogues(write_json(convqa_data))
    assert [t.turn_id for t in loaded.dialogues[0].turns] == [1, 2, 3, 5, 8, 9]


def test_zero_based_turn_ids_are_refused(convqa_data, write_json):
    _renumber(convqa_data["data"][0], [0, 1, 2, 3, 4, 5])
    with pytest.raises(DataError, match="turn_id 0 in Questions.0.: turn ids count from 1") as err:
        load_dialogues(write_json(convqa_data))
    assert (err.value.dialogue_id, err.value.turn) == ("1", 0)


def test_questions_only_out_of_order(convqa_data, write_json):
    dialogue = convqa_data["data"][0]
    del dialogue["Answers"]
    _renumber(dialogue, [1, 3, 2, 4, 5, 6], keys=("Questions",))
    path = write_json(convqa_data)
    with pytest.raises(DataError) as caught:
        load_dialogues(path, questions_only=True)
    assert (caught.value.dialogue_id, caught.value.turn) == ("1", 2)
    assert "comes after turn_id 3" in caught.value.message
    loaded = load_dialogues(path, skip_invalid=True, questions_only=True)
    assert [d.id for d in loaded.dialogues] == ["2"] and len(loaded.skipped) == 1


def test_coqa_out_of_order(write_json):
    path = write_json(coqa_data([1, 3, 2]))
    with pytest.raises(DataError) as caught:
        load_dialogues(path)
    err = caught.value
    assert (err.file, err.dialogue_id, err.turn) == (str(path), "x1", 2)
    assert "turn_id 2 in questions[2] comes after turn_id 3" in err.message
    loaded = load_dialogues(path, skip_invalid=True)
    assert loaded.dialogues == [] and [(s.dialogue_id, s.turn) for s in loaded.skipped] == [
        ("x1", None)]


def test_coqa_additional_answers_follow_the_question_order(write_json):
    """With a gap in the turn ids, turn 4 is the third question: its additional answer is
    the third one, not the first."""
    dialogue = load_dialogues(write_json(coqa_data([1, 2, 4]))).dialogues[0]
    assert [t.answers for t in dialogue.turns] == [
        ("Paris", "extra Paris"), ("a red bike", "extra a red bike"),
        ("every day", "extra every day")]


def test_validate_out_of_order_one_line_exit_2(convqa_data, write_json, capsys):
    _renumber(convqa_data["data"][0], [2, 1, 3, 4, 5, 6])
    path = write_json(convqa_data)
    assert validate.main([str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{path}: dialogue 1: turn 1: turn_id 1" in err[0]
    assert validate.main(["--skip-invalid", str(path)]) == 0
    assert "skipped 1" in capsys.readouterr().out
