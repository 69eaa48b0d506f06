"""Read ConvQA_CN v3.0 and official CoQA v1.0 JSON into `Dialogue`s, validating as we go.

Every defect raises a `DataError` naming the file, dialogue id and turn. With
`skip_invalid=True` a defective turn (or a whole defective dialogue) is left out instead
and recorded in `LoadedData.skipped`, so nothing is ever dropped silently.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from coqa.data.dialogue import AnswerKind, Dialogue, Turn, special_kind
from coqa.data.errors import DataError, SkippedTurn
from coqa.data.spans import best_f1_span

logger = logging.getLogger(__name__)

CONVQA_CN = "convqa_cn"
COQA = "coqa"


@dataclass
class LoadedData:
    """Dialogues read from one file, and every turn that was skipped (with the reason)."""

    path: str
    format: str
    dialogues: List[Dialogue]
    skipped: List[SkippedTurn] = field(default_factory=list)

    @property
    def num_turns(self) -> int:
        return sum(len(d.turns) for d in self.dialogues)


class _TurnError(Exception):
    """A defect inside one turn; turned into a DataError or a SkippedTurn by the caller."""

    def __init__(self, turn: Optional[int], message: str):
        super().__init__(message)
        self.turn = turn
        self.message = message


def read_json(path: str | Path) -> Any:
    """Parse a UTF-8 JSON file; defects raise a one-line DataError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise DataError("is a folder, not a file" if path.is_dir() else "no such file",
                        file=str(path))
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataError(f"not UTF-8 (byte 0x{raw[err.start]:02x} at offset {err.start})",
                        file=str(path)) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(f"not JSON ({err.msg} at line {err.lineno} column {err.colno})",
                        file=str(path)) from None


def load_dialogues(path: str | Path, skip_invalid: bool = False,
                   questions_only: bool = False) -> LoadedData:
    """Read a ConvQA_CN v3.0 or CoQA v1.0 file (detected per dialogue).

    With `questions_only`, a dialogue without "Answers" ("answers") is read from its
    questions alone: new dialogues to answer, each turn with `answers == ()`."""
    path = str(path)
    top = read_json(path)
    if not isinstance(top, dict) or not isinstance(top.get("data"), list):
        raise DataError('no "data" list at the top level', file=path)
    if not top["data"]:
        raise DataError('"data" is empty: no dialogues', file=path)
    loaded = LoadedData(path=path, format="", dialogues=[])
    seen_ids: Dict[str, int] = {}
    for index, raw in enumerate(top["data"]):
        dialogue_id = _dialogue_id(raw, index)
        try:
            if dialogue_id in seen_ids:
                raise _TurnError(None, f"duplicate dialogue id (also dialogue #{seen_ids[dialogue_id]})")
            seen_ids[dialogue_id] = index
            file_format, dialogue, bad_turns = _parse_dialogue(raw, dialogue_id, questions_only)
        except _TurnError as err:
            if not skip_invalid:
                raise DataError(err.message, path, dialogue_id, err.turn) from None
            count = _count_questions(raw)
            loaded.skipped.append(SkippedTurn(path, dialogue_id, None,
                                              f"{err.message} (whole dialogue, {count} turns)"))
            continue
        if bad_turns and not skip_invalid:
            first = bad_turns[0]
            raise DataError(first.message, path, dialogue_id, first.turn)
        loaded.skipped.extend(SkippedTurn(path, dialogue_id, e.turn, e.message) for e in bad_turns)
        loaded.format = loaded.format or file_format
        loaded.dialogues.append(dialogue)
    _report_skipped(loaded)
    return loaded


def _report_skipped(loaded: LoadedData) -> None:
    if not loaded.skipped:
        return
    for skipped in loaded.skipped:
        logger.warning("Skipped %s", skipped.one_line())
    logger.warning("Skipped %d invalid turn(s) / dialogue(s) in %s; kept %d turns in %d dialogues",
                   len(loaded.skipped), loaded.path, loaded.num_turns, len(loaded.dialogues))


def _dialogue_id(raw: Any, index: int) -> str:
    """The dialogue's id as a string; `#index` when the id itself is missing."""
    if isinstance(raw, dict) and isinstance(raw.get("id"), (int, str)) and str(raw["id"]).strip():
        return str(raw["id"])
    return f"#{index}"


def _count_questions(raw: Any) -> int:
    if isinstance(raw, dict):
        for key in ("Questions", "questions"):
            if isinstance(raw.get(key), list):
                return len(raw[key])
    return 0


def _require(obj: Any, key: str, kind: type | Tuple[type, ...], where: str,
             turn: Optional[int] = None) -> Any:
    """obj[key] if present and of the right type, else a located error."""
    if not isinstance(obj, dict) or key not in obj:
        raise _TurnError(turn, f'missing field "{key}" in {where}')
    value = obj[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise _TurnError(turn, f'field "{key}" in {where} has type {type(value).__name__}')
    return value


def _parse_dialogue(raw: Any, dialogue_id: str, questions_only: bool = False
                    ) -> Tuple[str, Dialogue, List[_TurnError]]:
    if not isinstance(raw, dict):
        raise _TurnError(None, "dialogue is not a JSON object")
    if isinstance(raw.get("id"), bool) or "id" not in raw:
        raise _TurnError(None, 'missing field "id"')
    if not isinstance(raw["id"], (int, str)):
        raise _TurnError(None, f'field "id" has type {type(raw["id"]).__name__} '
                               f'(a string or an integer)')
    if questions_only and not ({"Answers", "answers"} & set(raw)):
        return _parse_questions(raw, dialogue_id)
    if "Passage" in raw:
        return (CONVQA_CN,) + _parse_convqa_cn(raw, dialogue_id)
    if "story" in raw:
        return (COQA,) + _parse_coqa(raw, dialogue_id)
    raise _TurnError(None, 'neither a ConvQA_CN dialogue ("Passage") nor a CoQA one ("story")')


def _parse_questions(raw: Dict[str, Any], dialogue_id: str
                     ) -> Tuple[str, Dialogue, List[_TurnError]]:
    """A dialogue of new questions (no answers), ConvQA_CN or CoQA field names."""
    convqa = "Passage" in raw
    if not convqa and "story" not in raw:
        raise _TurnError(None, 'neither a ConvQA_CN dialogue ("Passage") nor a CoQA one ("story")')
    names = ("Passage", "Source", "Questions") if convqa else ("story", "source", "questions")
    passage = _require(raw, names[0], str, "dialogue")
    if not passage.strip():
        raise _TurnError(None, f"empty {names[0].lower()}")
    source = _require(raw, names[1], str, "dialogue")
    turns = []
    for position, question in enumerate(_require(raw, names[2], list, "dialogue")):
        turn_id = _require(question, "turn_id", int, f"{names[2]}[{position}]", position + 1)
        if any(t.turn_id == turn_id for t in turns):
            raise _TurnError(turn_id, f"repeated turn_id {turn_id} in {names[2]}")
        _check_turn_order(turn_id, turns[-1].turn_id if turns else None, names[2], position)
        turns.append(Turn(turn_id, _question_text(question, turn_id),
                          str(question.get("question_type", "")), (), AnswerKind.UNKNOWN, None))
    return CONVQA_CN if convqa else COQA, Dialogue(dialogue_id, source, passage, tuple(turns)), []


def _paired_turns(questions: Sequence[Any], answers: Sequence[Any], q_name: str, a_name: str):
    """Yield (turn_id, question, answer) after checking lengths and matching turn_ids."""
    if len(questions) != len(answers):
        raise _TurnError(None, f"{len(questions)} {q_name} but {len(answers)} {a_name}")
    seen: Dict[int, int] = {}
    previous: Optional[int] = None
    for position, (question, answer) in enumerate(zip(questions, answers), start=1):
        turn_id = _require(question, "turn_id", int, f"{q_name}[{position - 1}]", position)
        if turn_id in seen:
            raise _TurnError(turn_id, f"repeated turn_id {turn_id} ({q_name}[{seen[turn_id]}] "
                                      f"and {q_name}[{position - 1}])")
        _check_turn_order(turn_id, previous, q_name, position - 1)
        seen[turn_id] = position - 1
        previous = turn_id
        answer_turn = _require(answer, "turn_id", int, f"{a_name}[{position - 1}]", turn_id)
        if answer_turn != turn_id:
            raise _TurnError(turn_id, f"question turn_id {turn_id} but answer turn_id {answer_turn}")
        yield turn_id, question, answer


def _check_turn_order(turn_id: int, previous: Optional[int], q_name: str, index: int) -> None:
    """Turn ids count from 1 and increase, since history is built in file order: a file
    whose turns are out of order would give each turn the wrong history."""
    if turn_id < 1:
        raise _TurnError(turn_id, f"turn_id {turn_id} in {q_name}[{index}]: turn ids count from 1")
    if previous is not None and turn_id < previous:
        raise _TurnError(turn_id, f"turn_id {turn_id} in {q_name}[{index}] comes after turn_id "
                                  f"{previous}: turns must be in increasing turn_id order")


def _question_text(question: Dict[str, Any], turn_id: int) -> str:
    text = _require(question, "input_text", str, "question", turn_id)
    if not text.strip():
        raise _TurnError(turn_id, "empty question")
    return text


def _answer_text(answer: Dict[str, Any], turn_id: int) -> str:
    text = _require(answer, "input_text", str, "answer", turn_id)
    if not text.strip():
        raise _TurnError(turn_id, "empty answer")
    return text


def _collect_turns(pairs, parse_turn) -> Tuple[List[Turn], List[_TurnError]]:
    """Parse each (turn_id, question, answer); keep turn-level defects apart.

    Pairing defects (different lengths, mismatched turn_ids) spoil the whole dialogue
    and propagate; a defect inside one turn only spoils that turn.
    """
    turns, bad = [], []
    for turn_id, question, answer in pairs:
        try:
            turns.append(parse_turn(turn_id, question, answer))
        except _TurnError as err:
            bad.append(err)
    return turns, bad


def _parse_convqa_cn(raw: Dict[str, Any], dialogue_id: str) -> Tuple[Dialogue, List[_TurnError]]:
    passage = _require(raw, "Passage", str, "dialogue")
    if not passage.strip():
        raise _TurnError(None, "empty passage")
    source = _require(raw, "Source", str, "dialogue")
    questions = _require(raw, "Questions", list, "dialogue")
    answers = _require(raw, "Answers", list, "dialogue")
    pairs = list(_paired_turns(questions, answers, "Questions", "Answers"))

    def parse_turn(turn_id: int, question: Dict[str, Any], answer: Dict[str, Any]) -> Turn:
        text = _answer_text(answer, turn_id)
        answer_type = _require(answer, "answer_type", str, "answer", turn_id)
        starts = _require(answer, "answer_start", list, "answer", turn_id)
        kind, span = _convqa_cn_label(passage, text, answer_type, starts, turn_id)
        question_type = question.get("question_type", "")
        return Turn(turn_id, _question_text(question, turn_id), str(question_type),
                    (text,), kind, span)

    turns, bad = _collect_turns(pairs, parse_turn)
    return Dialogue(dialogue_id, source, passage, tuple(turns)), bad


def _convqa_cn_label(passage: str, text: str, answer_type: str, starts: List[Any],
                     turn_id: int) -> Tuple[AnswerKind, Optional[Tuple[int, int]]]:
    """Answer kind and character span of a ConvQA_CN answer.

    Extractive spans are [answer_start[0], answer_start[0] + len(answer)): an exclusive end,
    checked against the passage. yes / no / unknown come only from the exact answer strings.
    """
    kind = special_kind(text)
    if kind is not None:
        return kind, None
    if answer_type == "generative":
        return AnswerKind.FREE_FORM, best_f1_span(passage, text)
    if answer_type != "extractive":
        raise _TurnError(turn_id, f'unknown answer_type "{answer_type}" (extractive or generative)')
    if not starts:
        raise _TurnError(turn_id, "extractive answer with an empty answer_start list")
    for start in starts:
        if not isinstance(start, int) or isinstance(start, bool):
            raise _TurnError(turn_id, f"answer_start {start!r} is not an integer")
        if start < 0 or start + len(text) > len(passage):
            raise _TurnError(turn_id, f"answer_start {start} is outside the passage "
                                      f"(length {len(passage)}, answer length {len(text)})")
        found = passage[start:start + len(text)]
        if found != text:
            raise _TurnError(turn_id, f"answer_start {start} points at {found!r}, "
                                      f"not at the answer {text!r}")
    return AnswerKind.SPAN, (starts[0], starts[0] + len(text))


def _parse_coqa(raw: Dict[str, Any], dialogue_id: str) -> Tuple[Dialogue, List[_TurnError]]:
    story = _require(raw, "story", str, "dialogue")
    if not story.strip():
        raise _TurnError(None, "empty story")
    source = _require(raw, "source", str, "dialogue")
    questions = _require(raw, "questions", list, "dialogue")
    answers = _require(raw, "answers", list, "dialogue")
    extra = raw.get("additional_answers") or {}
    if not isinstance(extra, dict):
        raise _TurnError(None, 'field "additional_answers" is not an object')
    for name, extra_answers in extra.items():
        if not isinstance(extra_answers, list) or len(extra_answers) != len(questions):
            raise _TurnError(None, f"additional_answers[{name}] does not have one answer per question")
    pairs = list(_paired_turns(questions, answers, "questions", "answers"))
    # additional_answers are in question order: a turn's position, not its turn_id.
    position_of = {turn_id: position for position, (turn_id, _, _) in enumerate(pairs)}

    def parse_turn(turn_id: int, question: Dict[str, Any], answer: Dict[str, Any]) -> Turn:
        text = _answer_text(answer, turn_id)
        rationale = _coqa_rationale(story, answer, turn_id)
        index = position_of[turn_id]
        golds = (text,) + tuple(_require(extra[k][index], "input_text", str,
                                         f"additional_answers[{k}]", turn_id) for k in extra)
        kind, span = _coqa_label(story, text, rationale)
        return Turn(turn_id, _question_text(question, turn_id), "", golds, kind, span, rationale)

    turns, bad = _collect_turns(pairs, parse_turn)
    return Dialogue(dialogue_id, source, story, tuple(turns)), bad


def _coqa_rationale(story: str, answer: Dict[str, Any], turn_id: int) -> Optional[Tuple[int, int]]:
    start = _require(answer, "span_start", int, "answer", turn_id)
    end = _require(answer, "span_end", int, "answer", turn_id)
    if start < 0:  # unknown / bad turns carry -1
        return None
    if not start <= end <= len(story):
        raise _TurnError(turn_id, f"span_start {start} / span_end {end} outside the story "
                                  f"(length {len(story)})")
    span_text = answer.get("span_text")
    if isinstance(span_text, str) and story[start:end] != span_text:
        raise _TurnError(turn_id, f"span {start}:{end} is {story[start:end]!r}, "
                                  f"not span_text {span_text!r}")
    return start, end


def _coqa_label(story: str, text: str, rationale: Optional[Tuple[int, int]]
                ) -> Tuple[AnswerKind, Optional[Tuple[int, int]]]:
    """CoQA answers are free text: label them with a span inside the rationale."""
    kind = special_kind(text)
    if kind is not None:
        return kind, None
    lo, hi = rationale if rationale is not None else (0, len(story))
    needle = text.strip().rstrip(".").strip() or text
    for haystack, target in ((story[lo:hi], needle), (story[lo:hi].lower(), needle.lower())):
        found = haystack.find(target)
        if found >= 0 and len(haystack) == hi - lo:
            return AnswerKind.SPAN, (lo + found, lo + found + len(target))
    return AnswerKind.FREE_FORM, best_f1_span(story, text, lo, hi)
