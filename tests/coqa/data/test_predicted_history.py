"""Predicted history: rounds across dialogues, the cut dialogues, the history-source rule,
and files of new questions (no Answers)."""
from __future__ import annotations

import json

import pytest

from coqa.data.dialogue import Dialogue, Turn, AnswerKind
from coqa.data.errors import UsageError
from coqa.data.history import (dialogue_history, predict_turn_by_turn, resolve_history_sources,
                               with_answers)
from coqa.data.readers import load_dialogues
from tests.conftest import REPO


def dialogue(dialogue_id: str, turns: int) -> Dialogue:
    return Dialogue(dialogue_id, "历史", "甲乙丙丁", tuple(
        Turn(i, f"{dialogue_id}问{i}", "", (f"{dialogue_id}答{i}",), AnswerKind.FREE_FORM, None)
        for i in range(1, turns + 1)))


def test_rounds_batch_across_dialogues_and_feed_back_the_answers():
    dialogues = [dialogue("a", 3), dialogue("b", 1), dialogue("c", 2)]
    calls = []

    def answer_round(cut):
        calls.append([(d.id, d.turns[-1].turn_id, [t.answer for t in d.turns[:-1]]) for d in cut])
        return [f"预{d.id}{d.turns[-1].turn_id}" for d in cut]

    answers = predict_turn_by_turn(dialogues, 2, answer_round, show_progress=False)
    assert calls == [  # one call per round, every dialogue that has that turn
        [("a", 1, []), ("b", 1, []), ("c", 1, [])],
        [("a", 2, ["预a1"]), ("c", 2, ["预c1"])],
        [("a", 3, ["预a1", "预a2"])],
    ]
    assert answers == {("a", 1): "预a1", ("a", 2): "预a2", ("a", 3): "预a3", ("b", 1): "预b1",
                       ("c", 1): "预c1", ("c", 2): "预c2"}


@pytest.mark.parametrize("history_len", [0, 1, 2, 5])
def test_with_gold_answers_the_cut_dialogue_has_the_gold_history(history_len):
    whole = dialogue("a", 4)
    gold = [t.answer for t in whole.turns]
    for index in range(4):
        cut = with_answers(whole, index, gold[:index], history_len)
        assert cut.turns[-1] == whole.turns[index]
        assert dialogue_history(cut, len(cut.turns) - 1, history_len) == \
            dialogue_history(whole, index, history_len)


def test_history_sources_rule():
    answered, new = [dialogue("a", 2)], [dialogue("a", 2), Dialogue("b", "历史", "甲", (
        Turn(1, "问", "", (), AnswerKind.UNKNOWN, None),))]
    assert resolve_history_sources(None, "f", answered, scoring=True) == ("gold",)
    assert resolve_history_sources("both", "f", answered, scoring=True) == ("gold", "predicted")
    assert resolve_history_sources(None, "f", new, scoring=False) == ("predicted",)
    for choice, scoring in ((None, True), ("gold", False), ("both", False)):
        with pytest.raises(UsageError, match="dialogue b has no answers"):
            resolve_history_sources(choice, "f", new, scoring)


def questions_only(path, source=REPO / "data" / "sample" / "dev.json"):
    data = json.loads(source.read_text(encoding="utf-8"))
    for raw in data["data"]:
        del raw["Answers"]
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_a_file_of_new_questions_reads_with_questions_only(tmp_path):
    path = questions_only(tmp_path / "new.json")
    with pytest.raises(Exception, match='missing field "Answers"'):
        load_dialogues(path)
    loaded = load_dialogues(path, questions_only=True)
    gold = load_dialogues(REPO / "data" / "sample" / "dev.json")
    assert [len(d.turns) for d in loaded.dialogues] == [len(d.turns) for d in gold.dialogues]
    assert not any(d.answered for d in loaded.dialogues)
    first, gold_first = loaded.dialogues[0].turns[0], gold.dialogues[0].turns[0]
    assert (first.turn_id, first.question, first.answers, first.answer) == \
        (gold_first.turn_id, gold_first.question, (), "")
    assert all(d.answered for d in load_dialogues(REPO / "data" / "sample" / "dev.json",
                                                  questions_only=True).dialogues)
