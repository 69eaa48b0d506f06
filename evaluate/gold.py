"""Read a gold file, ConvQA_CN v3.0 or official CoQA v1.0 (told apart by their keys).

ConvQA_CN: `{"data": [{"Source", "Passage", "Questions", "Answers", "id"}]}`, one gold
answer per turn. CoQA: `{"data": [{"source", "story", "questions", "answers",
"additional_answers"}]}`, the main answer followed by one answer from each additional set,
as the official CoQA evaluator reads them. Every defect raises EvalInputError naming the
file and the dialogue (and turn).

The official evaluator keys golds by (id, turn_id) and never checks them, so some files
score silently wrong there: a repeated dialogue id lets its turns replace the earlier
dialogue's turns of the same number, and turn ids counted from 0 put every answer numbered
from 1 against the wrong turn. These are refused here unless `official_gold_checks` asks
for the official reading (repeats are then only warned about).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence, Tuple

from evaluate.answer_kinds import classify_special
from evaluate.errors import EvalInputError, as_dialogue_id, as_turn_id, read_json_file

CONVQA_CN = "convqa_cn"
COQA = "coqa"

TurnKey = Tuple[str, int]  # (dialogue id as str, turn_id)


@dataclass(frozen=True)
class GoldTurn:
    """One scored turn: its gold answers and what the breakdown groups it by."""

    dialogue_id: str
    turn_id: int
    source: str                # raw source name ("mctest", "儿童故事")
    answers: Tuple[str, ...]   # main gold first, then CoQA's additional answers
    question_type: str         # "none" when the format has none (CoQA)
    kind: str                  # span / free-form / yes / no / unknown

    @property
    def key(self) -> TurnKey:
        return self.dialogue_id, self.turn_id


@dataclass(frozen=True)
class GoldData:
    """A whole gold file: its format, its turns in file order, and non-fatal oddities."""

    path: str
    file_format: str           # CONVQA_CN or COQA
    turns: Tuple[GoldTurn, ...]
    warnings: Tuple[str, ...] = ()


def _field(obj: Any, key: str, where: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise EvalInputError(f'{where}: missing field "{key}"')
    return obj[key]


def _list_field(obj: Any, key: str, where: str) -> List[Any]:
    value = _field(obj, key, where)
    if not isinstance(value, list):
        raise EvalInputError(f'{where}: "{key}" is not a list')
    return value


def _text_field(obj: Any, key: str, where: str) -> str:
    value = _field(obj, key, where)
    if not isinstance(value, str):
        raise EvalInputError(f'{where}: "{key}" is not a string')
    return value


def answer_kind(main_answer: str, is_span: bool) -> str:
    """yes / no / unknown for the special answers, else span or free-form."""
    special = classify_special(main_answer)
    if special is not None:
        return special
    return "span" if is_span else "free-form"


def _convqa_turns(raw: Mapping[str, Any], dialogue_id: str, where: str,
                  mismatched: List[str]) -> List[GoldTurn]:
    """The turns of one ConvQA_CN dialogue: Questions[i] with Answers[i]."""
    source = _text_field(raw, "Source", where)
    questions = _list_field(raw, "Questions", where)
    answers = _list_field(raw, "Answers", where)
    if len(questions) != len(answers):
        raise EvalInputError(f"{where}: {len(questions)} Questions but {len(answers)} Answers")
    turns = []
    for index, (question, answer) in enumerate(zip(questions, answers)):
        turn_id = as_turn_id(_field(question, "turn_id", f"{where}: Questions[{index}]"), where)
        turn_where = f"{where}: turn {turn_id}"
        text = _text_field(answer, "input_text", turn_where)
        if as_turn_id(answer.get("turn_id", turn_id), turn_where) != turn_id:
            mismatched.append(turn_where)
        question_type = question.get("question_type")
        kind = answer_kind(text, answer.get("answer_type") == "extractive")
        turns.append(GoldTurn(dialogue_id, turn_id, source, (text,),
                              question_type if isinstance(question_type, str) else "none", kind))
    return turns


def _coqa_answer_sets(raw: Mapping[str, Any], where: str, count: int) -> List[List[Any]]:
    """[answers, *additional_answers.values()], each checked to hold one entry per turn."""
    additional = raw.get("additional_answers")
    additional = {} if additional is None else additional  # train files have none
    if not isinstance(additional, dict):
        raise EvalInputError(f'{where}: "additional_answers" is not an object')
    sets = [("answers", _list_field(raw, "answers", where))]
    sets += [(f'additional_answers["{k}"]', v) for k, v in additional.items()]
    for name, answers in sets:
        if not isinstance(answers, list):
            raise EvalInputError(f"{where}: {name} is not a list")
        if len(answers) != count:
            raise EvalInputError(f"{where}: {name} has {len(answers)} entries for "
                                 f"{count} questions")
    return [answers for _, answers in sets]


def _coqa_turns(raw: Mapping[str, Any], dialogue_id: str, where: str,
                mismatched: List[str]) -> List[GoldTurn]:
    """The turns of one CoQA dialogue: questions[i] with answers[i] and each additional[i]."""
    source = _text_field(raw, "source", where)
    story = _text_field(raw, "story", where)
    questions = _list_field(raw, "questions", where)
    answer_sets = _coqa_answer_sets(raw, where, len(questions))
    turns = []
    for index, question in enumerate(questions):
        turn_id = as_turn_id(_field(question, "turn_id", f"{where}: questions[{index}]"), where)
        turn_where = f"{where}: turn {turn_id}"
        golds = tuple(_text_field(answers[index], "input_text", turn_where)
                      for answers in answer_sets)
        if any(as_turn_id(answers[index].get("turn_id", turn_id), turn_where) != turn_id
               for answers in answer_sets):
            mismatched.append(turn_where)
        # CoQA has no answer_type: a main answer found verbatim in the story is a span.
        kind = answer_kind(golds[0], golds[0].strip() in story)
        turns.append(GoldTurn(dialogue_id, turn_id, source, golds, "none", kind))
    return turns


def repeated_turns_warning(path: str, repeated: Sequence[TurnKey], shown: int = 3) -> str:
    """One line: how many (id, turn_id) pairs came again, and the first few of them."""
    first = ", ".join(f"({dialogue_id}, {turn_id})" for dialogue_id, turn_id in repeated[:shown])
    more = ", ..." if len(repeated) > shown else ""
    return (f"{path}: {len(repeated)} repeated (id, turn_id) pair(s), first {first}{more}; "
            "the last of each is scored")


def _check_turn_id(turn: GoldTurn, seen: Dict[int, int], q_name: str, index: int,
                   where: str) -> None:
    """Refuse a turn_id below 1 or one this dialogue already had at `seen[turn_id]`."""
    turn_where = f"{where}: turn {turn.turn_id}"
    if turn.turn_id < 1:
        raise EvalInputError(f"{turn_where}: turn_id {turn.turn_id} in {q_name}[{index}]: turn "
                             f"ids count from 1{_OFFICIAL_HINT}")
    if turn.turn_id in seen:
        raise EvalInputError(f"{turn_where}: repeated turn_id {turn.turn_id} ({q_name}"
                             f"[{seen[turn.turn_id]}] and {q_name}[{index}]){_OFFICIAL_HINT}")
    seen[turn.turn_id] = index


def _dialogue_format(raw: Mapping[str, Any], where: str) -> str:
    """CONVQA_CN or COQA, from the dialogue's keys (capitalised in ConvQA_CN)."""
    if "Questions" in raw or "Passage" in raw:
        return CONVQA_CN
    if "questions" in raw or "story" in raw:
        return COQA
    raise EvalInputError(f'{where}: neither ConvQA_CN ("Passage", "Questions") '
                         f'nor CoQA ("story", "questions")')


# Appended to the refusals below, so that the way out is on the same line.
_OFFICIAL_HINT = ("; python -m evaluate --official-gold-checks scores it as the official "
                  "CoQA script does")


def read_gold(path: str | Path, official_gold_checks: bool = False) -> GoldData:
    """Every gold turn of a ConvQA_CN v3.0 or CoQA v1.0 file, in file order.

    By default a dialogue id that came before, a turn_id repeated within a dialogue and a
    turn_id below 1 (a zero-based file) raise EvalInputError naming the dialogue. With
    `official_gold_checks` they are read as the official evaluator's dict reads them: a
    repeated (id, turn_id) keeps its first position and its last content, reported in
    `warnings`; turn ids from 0 are scored as they are.
    """
    top = read_json_file(path)
    if not isinstance(top, dict) or not isinstance(top.get("data"), list):
        raise EvalInputError(f'{path}: no "data" list at the top level')
    if not top["data"]:
        raise EvalInputError(f'{path}: "data" is empty: no dialogues to score')
    turns: Dict[TurnKey, GoldTurn] = {}
    mismatched: List[str] = []  # turns whose answer turn_id differs from the question's
    duplicates: List[TurnKey] = []
    first_index: Dict[str, int] = {}  # dialogue id -> its first position in "data"
    file_format = ""
    for index, raw in enumerate(top["data"]):
        where = f"{path}: data[{index}]"
        if not isinstance(raw, dict):
            raise EvalInputError(f"{where}: not an object")
        if "paragraphs" in raw and not {"Passage", "Questions", "story", "questions"} & set(raw):
            raise EvalInputError(f"{where}: a SQuAD-style article (CMRC 2018, DRCD), not a "
                                 "dialogue: convert the file first (python -m "
                                 "coqa.tools.convert)")
        dialogue_id = as_dialogue_id(_field(raw, "id", where), where)
        where = f"{path}: dialogue {dialogue_id}"
        if dialogue_id in first_index and not official_gold_checks:
            raise EvalInputError(f"{where}: duplicate dialogue id (also data["
                                 f"{first_index[dialogue_id]}]): its turns would replace the "
                                 f"earlier ones{_OFFICIAL_HINT}")
        first_index.setdefault(dialogue_id, index)
        this_format = _dialogue_format(raw, where)
        if file_format and this_format != file_format:
            raise EvalInputError(f"{where}: {this_format} dialogue in a {file_format} file")
        file_format = this_format
        read_turns = _convqa_turns if this_format == CONVQA_CN else _coqa_turns
        q_name = "Questions" if this_format == CONVQA_CN else "questions"
        seen: Dict[int, int] = {}  # turn_id -> its index in this dialogue's questions
        for position, turn in enumerate(read_turns(raw, dialogue_id, where, mismatched)):
            if not official_gold_checks:
                _check_turn_id(turn, seen, q_name, position, where)
            if turn.key in turns:
                duplicates.append(turn.key)
            turns[turn.key] = turn
    warnings: List[str] = []
    if mismatched:
        # Paired by position, as the official evaluator does (it warns the same way).
        warnings.append(f"{mismatched[0]}: an answer's turn_id differs from the question's; "
                        f"paired by position ({len(mismatched)} such turn(s) in the file)")
    if duplicates:
        warnings.append(repeated_turns_warning(str(path), duplicates))
    if not turns:
        raise EvalInputError(f"{path}: no turns to score in {len(top['data'])} dialogue(s)")
    return GoldData(str(path), file_format or CONVQA_CN, tuple(turns.values()), tuple(warnings))
