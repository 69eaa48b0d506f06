"""Read a prediction file: a JSON list of `{"id", "turn_id", "answer"}`."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Tuple

from evaluate.errors import EvalInputError, as_dialogue_id, as_turn_id, read_json_file
from evaluate.gold import TurnKey, repeated_turns_warning


class Predictions(Dict[TurnKey, str]):
    """{(id, turn_id): answer}, plus the file's non-fatal oddities in `warnings`
    (written by `score`, as the gold file's are)."""

    warnings: Tuple[str, ...] = ()


def read_predictions(path: str | Path) -> Predictions:
    """{(id as str, turn_id as int): answer}; ids given as int or str match either way.

    A repeated (id, turn_id) keeps its last answer, as in the official evaluator; how
    many came again, and the first of them, is reported in `warnings`.
    """
    entries = read_json_file(path)
    if not isinstance(entries, list):
        raise EvalInputError(f'{path}: not a JSON list of {{"id", "turn_id", "answer"}}')
    predictions = Predictions()
    repeated: List[TurnKey] = []
    for index, entry in enumerate(entries):
        where = f"{path}: prediction #{index}"
        if not isinstance(entry, dict):
            raise EvalInputError(f"{where}: not an object")
        for key in ("id", "turn_id", "answer"):
            if key not in entry:
                raise EvalInputError(f'{where}: missing field "{key}"')
        answer = entry["answer"]
        if not isinstance(answer, str):
            # null or a number here is a bug in the writer, not an answer to score.
            raise EvalInputError(f"{where}: answer {answer!r} is not a string")
        key = (as_dialogue_id(entry["id"], where), as_turn_id(entry["turn_id"], where))
        if key in predictions:
            repeated.append(key)
        predictions[key] = answer
    if repeated:
        predictions.warnings = (repeated_turns_warning(str(path), repeated),)
    return predictions


def find_prediction_file(folder: Path) -> Path:
    """The final predictions of a run's output folder: predictions_.json, else its only
    predictions_*.json that is not a checkpoint's (predictions_checkpoint-*)."""
    if (folder / "predictions_.json").is_file():
        return folder / "predictions_.json"
    final = [p for p in sorted(folder.glob("predictions_*.json"))
             if not p.name.startswith("predictions_checkpoint-")]
    if len(final) == 1:
        return final[0]
    found = ", ".join(p.name for p in final) or "no predictions_*.json"
    raise EvalInputError(f"{folder}: cannot tell which prediction file to score ({found}); "
                         "pass the file itself")
