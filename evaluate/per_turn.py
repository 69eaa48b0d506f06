"""Per-turn export: one record per gold turn, as JSON lines (.jsonl) or CSV (.csv).

Fields: dialogue, turn, domain (the name the tables use), question_type, gold_kind,
gold_answers (main first; a JSON array in CSV), prediction (null in JSON lines and an
empty cell in CSV when missing), missing, em and f1 (this turn's, between 0 and 1; the
tables show their turn-weighted means x 100).
"""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import IO, Dict, Iterable, List

from evaluate.errors import EvalInputError
from evaluate.files import write_atomically
from evaluate.gold import COQA
from evaluate.scoring import COQA_DOMAIN_NAMES, ScoredTurn

PER_TURN_FIELDS = ("dialogue", "turn", "domain", "question_type", "gold_kind", "gold_answers",
                   "prediction", "missing", "em", "f1")
_FORMATS = {".jsonl": "jsonl", ".csv": "csv"}


def per_turn_format(path: str | Path) -> str:
    """"jsonl" or "csv" from the file name; anything else is an EvalInputError. Also
    refuses a folder or a missing parent folder, so that no scoring work is lost."""
    path = Path(path)
    kind = _FORMATS.get(path.suffix.lower())
    if kind is None:
        raise EvalInputError(f"{path}: per-turn file must end in .jsonl or .csv")
    check_writable(path)
    return kind


def check_writable(path: str | Path) -> None:
    """EvalInputError unless `path` can be created as a file (checked before scoring)."""
    path = Path(path)
    if path.is_dir():
        raise EvalInputError(f"{path}: is a directory")
    if not path.parent.is_dir():
        missing = "does not exist" if not path.parent.exists() else "is not a folder"
        raise EvalInputError(f"{path}: folder {path.parent} {missing}")


def per_turn_records(scored: Iterable[ScoredTurn], file_format: str) -> List[Dict[str, object]]:
    """One dict per scored turn, keys PER_TURN_FIELDS, in gold file order."""
    names = COQA_DOMAIN_NAMES if file_format == COQA else {}
    return [{"dialogue": item.turn.dialogue_id, "turn": item.turn.turn_id,
             "domain": names.get(item.turn.source, item.turn.source),
             "question_type": item.turn.question_type, "gold_kind": item.turn.kind,
             "gold_answers": list(item.turn.answers), "prediction": item.prediction,
             "missing": item.prediction is None, "em": item.em, "f1": item.f1}
            for item in scored]


def write_per_turn(path: str | Path, records: Iterable[Dict[str, object]]) -> None:
    """Write the records as JSON lines or CSV, by the file's extension (UTF-8), atomically."""
    kind = per_turn_format(path)

    def write(out: IO[str]) -> None:
        if kind == "jsonl":
            for record in records:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
            return
        writer = csv.DictWriter(out, fieldnames=PER_TURN_FIELDS)
        writer.writeheader()
        for record in records:
            writer.writerow({**record, "prediction": record["prediction"] or "",
                             "gold_answers": json.dumps(record["gold_answers"],
                                                        ensure_ascii=False)})
    write_atomically(path, write, newline="")
