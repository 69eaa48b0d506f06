"""Read gold files (ConvQA_CN v3.0 or official CoQA v1.0) and prediction files.

Standard library only: the evaluator must score any prediction file without the rest
of the toolkit. Every defect raises `EvalInputError` naming the file (and dialogue, turn).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Tuple

from evaluate.answer_kinds import classify_special

CONVQA_CN = "convqa_cn"
COQA = "coqa"

TurnKey = Tuple[str, int]


class EvalInputError(Exception):
    """A gold or prediction file that cannot be scored; the message is one line."""


@dataclass(frozen=True)
class GoldTurn:
    dialogue_id: str
    turn_id: int
    source: str
    answers: Tuple[str, ...]   # main gold first
    question_type: str         # "none" when the format has none (CoQA)
    kind: str                  # span / free-form / yes / no / unknown

    @property
    def key(self) -> TurnKey:
        return self.dialogue_id, self.turn_id


def read_json_file(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise EvalInputError(f"{path}: no such file")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise EvalInputError(f"{path}: not UTF-8 (byte 0x{raw[err.start]:02x} at offset "
                             f"{err.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise EvalInputError(f"{path}: not JSON ({err.msg} at line {err.lineno} column "
                             f"{err.colno})") from None


def _field(obj: Any, key: str, where: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise EvalInputError(f'{where}: missing field "{key}"')
    return obj[key]


def _gold_kind(main: str, extractive: bool) -> str:
    special = classify_special(main)
    if special is not None:
        return special
    return "span" if extractive else "free-form"


def _convqa_turns(raw: Dict[str, Any], where: str) -> List[GoldTurn]:
    dialogue_id, source = str(raw["id"]), str(_field(raw, "Source", where))
    questions = _field(raw, "Questions", where)
    answers = _field(raw, "Answers", where)
    if not isinstance(questions, list) or not isinstance(answers, list) \
            or len(questions) != len(answers):
        raise EvalInputError(f"{where}: Questions and Answers are not lists of equal length")
    turns = []
    for question, answer in zip(questions, answers):
        turn_id = _field(question, "turn_id", where)
        turn_where = f"{where}: turn {turn_id}"
        text = str(_field(answer, "input_text", turn_where))
        kind = _gold_kind(text, answer.get("answer_type") == "extractive")
        turns.append(GoldTurn(dialogue_id, int(turn_id), source, (text,),
                              str(question.get("question_type") or "none"), kind))
    return turns


def _coqa_turns(raw: Dict[str, Any], where: str) -> List[GoldTurn]:
    dialogue_id, source = str(raw["id"]), str(_field(raw, "source", where))
    story = str(_field(raw, "story", where))
    questions = _field(raw, "questions", where)
    answer_sets = [_field(raw, "answers", where)] + list((raw.get("additional_answers") or {}).values())
    if not isinstance(questions, list) or any(not isinstance(s, list) or len(s) != len(questions)
                                              for s in answer_sets):
        raise EvalInputError(f"{where}: answers do not have one entry per question")
    turns = []
    for index, question in enumerate(questions):
        turn_id = _field(question, "turn_id", where)
        golds = tuple(str(_field(s[index], "input_text", f"{where}: turn {turn_id}"))
                      for s in answer_sets)
        kind = _gold_kind(golds[0], golds[0].strip() in story)
        turns.append(GoldTurn(dialogue_id, int(turn_id), source, golds, "none", kind))
    return turns


def read_gold(path: str | Path) -> Tuple[str, List[GoldTurn]]:
    """(format, turns in file order) of a gold file."""
    top = read_json_file(path)
    if not isinstance(top, dict) or not isinstance(top.get("data"), list):
        raise EvalInputError(f'{path}: no "data" list at the top level')
    turns: List[GoldTurn] = []
    file_format = ""
    for index, raw in enumerate(top["data"]):
        where = f"{path}: dialogue {raw.get('id', '#' + str(index)) if isinstance(raw, dict) else '#' + str(index)}"
        _field(raw, "id", where)
        if "Passage" in raw:
            file_format = file_format or CONVQA_CN
            turns.extend(_convqa_turns(raw, where))
        elif "story" in raw:
            file_format = file_format or COQA
            turns.extend(_coqa_turns(raw, where))
        else:
            raise EvalInputError(f'{where}: neither ConvQA_CN ("Passage") nor CoQA ("story")')
    return file_format or CONVQA_CN, turns


def read_predictions(path: str | Path) -> Dict[TurnKey, str]:
    """{(dialogue id as str, turn_id): answer}; ids given as int or str match either way."""
    entries = read_json_file(path)
    if not isinstance(entries, list):
        raise EvalInputError(f"{path}: predictions must be a JSON list of "
                             '{"id", "turn_id", "answer"}')
    predictions: Dict[TurnKey, str] = {}
    for index, entry in enumerate(entries):
        for key in ("id", "turn_id", "answer"):
            if not isinstance(entry, dict) or key not in entry:
                raise EvalInputError(f'{path}: prediction #{index}: missing field "{key}"')
        try:
            turn_id = int(entry["turn_id"])
        except (TypeError, ValueError):
            raise EvalInputError(f"{path}: prediction #{index}: turn_id "
                                 f"{entry['turn_id']!r} is not an integer") from None
        predictions[(str(entry["id"]), turn_id)] = str(entry["answer"])
    return predictions
