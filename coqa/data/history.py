"""Dialogue history for a turn: the one definition both pipelines use."""
from __future__ import annotations

from typing import List, Tuple

from coqa.data.dialogue import Dialogue


def dialogue_history(dialogue: Dialogue, turn_index: int, history_len: int) -> List[Tuple[str, str]]:
    """(question, main gold answer) of the `history_len` turns before `turns[turn_index]`,
    oldest first. `turn_index` is a position in `dialogue.turns`, not a turn_id."""
    if turn_index < 0 or turn_index >= len(dialogue.turns):
        raise IndexError(f"turn index {turn_index} outside dialogue {dialogue.id} "
                         f"({len(dialogue.turns)} turns)")
    return [(dialogue.turns[i].question, dialogue.turns[i].answer)
            for i in history_turn_range(turn_index, history_len)]


def history_turn_range(turn_index: int, history_len: int) -> range:
    """Positions of the `history_len` turns before position `turn_index` (fewer at the
    start of a dialogue), oldest first: the extractive features index their token lists
    with it, `dialogue_history` the turns."""
    return range(max(0, turn_index - max(0, history_len)), turn_index)
