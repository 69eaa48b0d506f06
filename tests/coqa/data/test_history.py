from coqa.data.readers import load_dialogues
from coqa.data.history import dialogue_history


def test_history_previous_turns_oldest_first(convqa_data, write_json):
    dialogue = load_dialogues(write_json(convqa_data)).dialogues[0]
    assert dialogue_history(dialogue, 0, 2) == []
    assert dialogue_history(dialogue, 1, 2) == [("小明住在哪里？", "杭州")]
    assert dialogue_history(dialogue, 3, 2) == [("他喜欢什么运动？", "踢足球"),
                                                ("小红是谁？", "小明的同学。")]
    assert dialogue_history(dialogue, 5, 0) == []
    assert len(dialogue_history(dialogue, 5, 10)) == 5
