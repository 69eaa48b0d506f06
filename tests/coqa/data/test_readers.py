"""The data layer: every answer kind in both formats, and one test per validation defect."""
from __future__ import annotations

import subprocess
import sys

import pytest

from coqa.data.dialogue import AnswerKind
from coqa.data.errors import DataError
from coqa.data.readers import COQA, CONVQA_CN, load_dialogues
from tests.conftest import PASSAGE, REPO, require_shared


def test_convqa_cn_every_answer_kind(convqa_data, write_json):
    loaded = load_dialogues(write_json(convqa_data))
    assert loaded.format == CONVQA_CN
    assert [d.id for d in loaded.dialogues] == ["1", "2"]
    dialogue = loaded.dialogues[0]
    assert dialogue.domain == "儿童故事" and dialogue.passage == PASSAGE
    kinds = [t.kind for t in dialogue.turns]
    assert kinds == [AnswerKind.SPAN, AnswerKind.SPAN, AnswerKind.FREE_FORM,
                     AnswerKind.YES, AnswerKind.NO, AnswerKind.UNKNOWN]
    # Extractive: [answer_start[0], answer_start[0] + len) with an exclusive end.
    assert dialogue.turns[0].span == (4, 6) and dialogue.span_text(dialogue.turns[0]) == "杭州"
    assert dialogue.span_text(dialogue.turns[1]) == "踢足球"
    assert dialogue.turns[1].span[0] == PASSAGE.find("踢足球")  # the first listed offset
    # Free-form "小明的同学。" (5 content chars): "的同学" scores 2*3/(3+5) = 0.75,
    # better than "他的同学" 2*3/(4+5) = 0.67 (小明 is not adjacent).
    assert dialogue.span_text(dialogue.turns[2]) == "的同学"
    assert all(t.span is None for t in dialogue.turns[3:])
    assert dialogue.turns[1].question_type == "coreference"


def test_yes_no_never_guessed_from_overlap(convqa_data, write_json):
    """The old scripts guessed yes from words like 是 / 有; only the exact strings count."""
    answer = convqa_data["data"][0]["Answers"][2]
    answer["input_text"] = "是小明的同学"
    turn = load_dialogues(write_json(convqa_data)).dialogues[0].turns[2]
    assert turn.kind == AnswerKind.FREE_FORM


def test_coqa_every_answer_kind():
    dev = load_dialogues(require_shared("data", "coqa_en", "coqa_dev_sample.json"))
    assert dev.format == COQA
    dialogue = dev.dialogues[0]
    assert dialogue.domain == "mctest" and len(dialogue.turns) == 12
    first = dialogue.turns[0]
    assert first.answers == ("white", "white", "white", "white")  # main + 3 additional
    assert first.kind == AnswerKind.SPAN and dialogue.span_text(first) == "white"
    assert first.rationale == (59, 93)
    assert sum(t.kind == AnswerKind.NO for t in dialogue.turns) == 3
    train = load_dialogues(require_shared("data", "coqa_en", "coqa_train_sample.json"))
    turns = train.dialogues[0].turns
    assert turns[13].kind == AnswerKind.UNKNOWN and turns[13].span is None
    kinds = [t.kind for t in turns]
    assert kinds.count(AnswerKind.SPAN) + kinds.count(AnswerKind.FREE_FORM) == 19
    for turn in turns:  # every labelled span lies inside its rationale
        if turn.span is not None and turn.rationale is not None:
            assert turn.rationale[0] <= turn.span[0] <= turn.span[1] <= turn.rationale[1]


def test_real_convqa_cn_sample():
    loaded = load_dialogues(require_shared("data", "convqa_cn", "readme_sample.json"))
    dialogue = loaded.dialogues[0]
    assert dialogue.id == "230" and len(dialogue.turns) == 9
    assert dialogue.span_text(dialogue.turns[5]) == "报佳音。"
    assert dialogue.span_text(dialogue.turns[1]) == "平安夜"  # free-form "平安夜。"


def _defect(data, mutate):
    mutate(data)
    return data


DEFECTS = {
    "no data list": (lambda d: d.pop("data"), 'no "data" list', None, None),
    "missing field": (lambda d: d["data"][0]["Answers"][1].pop("answer_type"),
                      'missing field "answer_type"', "1", 2),
    "missing passage": (lambda d: d["data"][1].pop("Passage"), "neither a ConvQA_CN", "2", None),
    "length mismatch": (lambda d: d["data"][0]["Answers"].pop(), "6 Questions but 5 Answers", "1", None),
    "turn id mismatch": (lambda d: d["data"][0]["Answers"][3].update(turn_id=9),
                         "question turn_id 4 but answer turn_id 9", "1", 4),
    "duplicate id": (lambda d: d["data"][1].update(id=1), "duplicate dialogue id", "1", None),
    "start outside": (lambda d: d["data"][0]["Answers"][0].update(answer_start=[999]),
                      "answer_start 999 is outside the passage", "1", 1),
    "start wrong text": (lambda d: d["data"][1]["Answers"][0].update(answer_start=[0]),
                         "answer_start 0 points at '小明', not at the answer '杭州'", "2", 1),
    "empty passage": (lambda d: d["data"][0].update(Passage="  "), "empty passage", "1", None),
    "empty question": (lambda d: d["data"][0]["Questions"][2].update(input_text=""),
                       "empty question", "1", 3),
}


@pytest.mark.parametrize("name", sorted(DEFECTS))
def test_each_defect_is_located(name, convqa_data, write_json):
    mutate, message, dialogue_id, turn = DEFECTS[name]
    path = write_json(_defect(convqa_data, mutate))
    with pytest.raises(DataError) as caught:
        load_dialogues(path)
    err = caught.value
    assert message in err.message and err.file == str(path)
    assert (err.dialogue_id, err.turn) == (dialogue_id, turn)


@pytest.mark.parametrize("name", sorted(DEFECTS))
def test_each_defect_cli_one_line_exit_2(name, convqa_data, write_json):
    mutate, message, dialogue_id, turn = DEFECTS[name]
    path = write_json(_defect(convqa_data, mutate))
    result = subprocess.run([sys.executable, "-m", "coqa.tools.validate", str(path)], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert str(path) in lines[0] and message in lines[0]
    if dialogue_id is not None:
        assert f"dialogue {dialogue_id}" in lines[0]
    if turn is not None:
        assert f"turn {turn}" in lines[0]


@pytest.mark.parametrize("raw, message", [(b"\xff\xfe{\"data\": []}", "not UTF-8"),
                                          ("{\"data\": [", "not JSON")])
def test_unreadable_file_cli(raw, message, write_json):
    path = write_json(raw)
    result = subprocess.run([sys.executable, "-m", "coqa.tools.validate", str(path)], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr and str(path) in result.stderr


def test_skip_invalid_counts_every_skipped_turn(convqa_data, write_json):
    convqa_data["data"][0]["Answers"][0]["answer_start"] = [999]   # one bad turn
    convqa_data["data"][1]["Passage"] = ""                          # a whole bad dialogue
    loaded = load_dialogues(write_json(convqa_data), skip_invalid=True)
    assert [d.id for d in loaded.dialogues] == ["1"]
    assert [t.turn_id for t in loaded.dialogues[0].turns] == [2, 3, 4, 5, 6]
    assert [(s.dialogue_id, s.turn) for s in loaded.skipped] == [("1", 1), ("2", None)]
    assert "6 turns" in loaded.skipped[1].reason


def test_skip_invalid_cli_reports(convqa_data, write_json):
    convqa_data["data"][0]["Questions"][0]["input_text"] = ""
    path = write_json(convqa_data)
    result = subprocess.run([sys.executable, "-m", "coqa.tools.validate", "--skip-invalid", str(path)],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0
    assert "skipped 1" in result.stdout and "11 turns" in result.stdout
    assert "turn 1: empty question" in result.stderr


def test_coqa_hand_made_every_kind(write_json):
    story = "Tom lives in Paris. He has a red bike and rides it every day."
    answers = [("Paris", 13, 18), ("Yes.", 20, 42), ("no", 20, 42), ("unknown", -1, -1),
               ("a red one", 27, 37), ("every day", 48, 61)]
    data = {"version": "1.0", "data": [{
        "source": "wikipedia", "id": "x1", "story": story,
        "questions": [{"input_text": f"q{i}?", "turn_id": i} for i in range(1, 7)],
        "answers": [{"input_text": text, "turn_id": i, "span_start": s, "span_end": e,
                     "span_text": story[s:e] if s >= 0 else "unknown"}
                    for i, (text, s, e) in enumerate(answers, 1)]}]}
    dialogue = load_dialogues(write_json(data)).dialogues[0]
    kinds = [t.kind for t in dialogue.turns]
    assert kinds == [AnswerKind.SPAN, AnswerKind.YES, AnswerKind.NO, AnswerKind.UNKNOWN,
                     AnswerKind.FREE_FORM, AnswerKind.SPAN]
    assert dialogue.span_text(dialogue.turns[0]) == "Paris"
    # "a red one" is not in the rationale "a red bike": best character F1 inside it.
    assert dialogue.span_text(dialogue.turns[4]) == "a red"
    assert dialogue.span_text(dialogue.turns[5]) == "every day"


def test_repeated_turn_id_names_dialogue_and_turn(convqa_data, write_json):
    dialogue = convqa_data["data"][1]
    dialogue["Questions"][3]["turn_id"] = dialogue["Answers"][3]["turn_id"] = 3
    path = write_json(convqa_data)
    with pytest.raises(DataError) as err:
        load_dialogues(path)
    assert err.value.dialogue_id == "2" and err.value.turn == 3
    assert "repeated turn_id 3" in str(err.value) and str(path) in str(err.value)
    loaded = load_dialogues(path, skip_invalid=True)  # the whole dialogue is skipped, reported
    assert [d.id for d in loaded.dialogues] == ["1"] and len(loaded.skipped) == 1


def test_repeated_turn_id_in_questions_only_dialogue(convqa_data, write_json):
    dialogue = convqa_data["data"][0]
    del dialogue["Answers"]
    dialogue["Questions"][1]["turn_id"] = 1
    with pytest.raises(DataError, match="repeated turn_id 1"):
        load_dialogues(write_json(convqa_data), questions_only=True)


@pytest.mark.parametrize("bad_id", [[1, 2], {"a": 1}, 1.5])
def test_dialogue_id_of_another_type(bad_id, convqa_data, write_json):
    convqa_data["data"][0]["id"] = bad_id
    with pytest.raises(DataError, match=f'field "id" has type {type(bad_id).__name__}'):
        load_dialogues(write_json(convqa_data))


def test_empty_data_list_is_an_error(write_json):
    path = write_json({"version": "t", "data": []})
    with pytest.raises(DataError, match='"data" is empty') as err:
        load_dialogues(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("name,message", [("missing.json", "no such file"),
                                          (".", "is a folder, not a file")])
def test_a_path_that_is_no_file_says_which(tmp_path, name, message):
    from coqa.data.jsonlines import detect_format

    for read in (load_dialogues, detect_format):
        with pytest.raises(DataError, match=message):
            read(tmp_path / name)
