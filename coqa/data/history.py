"""Dialogue history for a turn: the one definition both pipelines use."""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from tqdm.auto import tqdm

from coqa.data.dialogue import Dialogue
from coqa.data.errors import UsageError


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


# ---------------------------------------------------------------------------------------
# Predicted history: each turn sees the model's own earlier answers

HISTORY_SOURCES = ("gold", "predicted")
HISTORY_CHOICES = HISTORY_SOURCES + ("both",)  # --history_source


def resolve_history_sources(choice: Optional[str], file: str, dialogues: Sequence[Dialogue],
                            scoring: bool) -> Tuple[str, ...]:
    """The histories to predict with, in order, from --history_source (None: gold, or
    predicted for a file of new questions). A file without answers allows neither gold
    history nor scoring."""
    unanswered = next((d.id for d in dialogues if not d.answered), None)
    if unanswered is not None and (scoring or choice in ("gold", "both")):
        need = "scoring (--do_eval)" if scoring else f"--history_source {choice}"
        raise UsageError(f"{file}: dialogue {unanswered} has no answers, which {need} needs; "
                         f"predict it with predicted history (the default for such files)")
    if choice is None:
        return ("predicted",) if unanswered is not None else ("gold",)
    return HISTORY_SOURCES if choice == "both" else (choice,)


def with_answers(dialogue: Dialogue, turn_index: int, answers: Sequence[str],
                 history_len: int) -> Dialogue:
    """`dialogue` cut to turn `turn_index` and the `history_len` turns before it, those
    turns answered with `answers` (one per earlier turn, oldest first) instead of the
    gold. The cut dialogue's last turn is turn `turn_index`, so its history range is
    the same as in the whole dialogue."""
    kept = history_turn_range(turn_index, history_len)
    turns = tuple(replace(dialogue.turns[i], answers=(answers[i],)) for i in kept)
    return replace(dialogue, turns=turns + (dialogue.turns[turn_index],))


def predict_turn_by_turn(dialogues: Sequence[Dialogue], history_len: int,
                         answer_round: Callable[[List[Dialogue]], List[str]],
                         show_progress: bool = True) -> Dict[Tuple[str, int], str]:
    """Answers of every turn of every dialogue, each turn's history being the answers
    `answer_round` gave to the turns before it.

    Round t collects turn t of every dialogue that has one (as `with_answers`
    dialogues whose last turn is the one to answer) and hands them to `answer_round`
    in one call, which returns one answer per dialogue, in order: batching runs across
    dialogues, and a dialogue never waits for another one's later turns."""
    predicted: Dict[str, List[str]] = {d.id: [] for d in dialogues}
    rounds = max((len(d.turns) for d in dialogues), default=0)
    for turn_index in tqdm(range(rounds), desc="Predicted history (turns)", unit="turn",
                           disable=not show_progress):
        active = [d for d in dialogues if turn_index < len(d.turns)]
        cut = [with_answers(d, turn_index, predicted[d.id], history_len) for d in active]
        answers = answer_round(cut)
        if len(answers) != len(cut):
            raise ValueError(f"{len(answers)} answers for {len(cut)} turns in round {turn_index}")
        for dialogue, answer in zip(active, answers):
            predicted[dialogue.id].append(answer)
    return {(d.id, turn.turn_id): answer for d in dialogues
            for turn, answer in zip(d.turns, predicted[d.id])}
