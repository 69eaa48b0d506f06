"""JSON lines as UniLM s2s-ft takes them: one object per line with "src" and, for
training, "tgt"; each a string or a list of WordPiece tokens. The ConvQA_CN fork's files
also carry "id" ("dialogue#turn", which becomes the line's `TurnRecord`) and "passages"
(the passage text). `detect_format` tells such a file from a ConvQA_CN / CoQA document."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Sequence

from coqa.data.dialogue import TurnRecord
from coqa.data.errors import DataError

logger = logging.getLogger(__name__)

COQA_FILE, JSON_LINES = "coqa", "jsonl"


class _LineError(Exception):
    """A defect in one JSON line; becomes a DataError naming the file and line."""


def _text_or_tokens(value: Any, name: str) -> str | List[str]:
    if isinstance(value, str):
        if not value.strip():
            raise _LineError(f'empty "{name}"')
        return value
    if isinstance(value, list) and all(isinstance(token, str) for token in value):
        if not value:
            raise _LineError(f'empty "{name}"')
        return value
    raise _LineError(f'"{name}" must be a string or a list of token strings, '
                     f"not {type(value).__name__}")


@dataclass(frozen=True)
class JsonLine:
    number: int
    src: Any                         # a string or a list of tokens
    tgt: Any                         # the same, or None
    record: Optional[TurnRecord]     # from "id" = "dialogue#turn"
    passage: str                     # "passages", or ""


def _line_record(value: Any) -> Optional[TurnRecord]:
    """The TurnRecord of an "id" "dialogue#turn" (the ConvQA_CN fork's), else None."""
    if value is None:
        return None
    dialogue, sep, turn = str(value).rpartition("#")
    if not sep or not dialogue or not turn.strip().lstrip("-").isdigit():
        raise _LineError(f'"id" {value!r} is not of the form "dialogue#turn"')
    return TurnRecord(dialogue, int(turn), "")


def _parse_line(line: str, need_target: bool, number: int = 0) -> JsonLine:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as err:
        raise _LineError(f"not JSON ({err.msg} at column {err.colno})") from None
    if not isinstance(obj, dict):
        raise _LineError(f"not a JSON object but a {type(obj).__name__}")
    if "src" not in obj:
        raise _LineError('missing field "src"')
    src = _text_or_tokens(obj["src"], "src")
    passage = obj.get("passages") or ""
    if not isinstance(passage, str):
        raise _LineError(f'"passages" must be a string, not {type(passage).__name__}')
    record = _line_record(obj.get("id"))
    if obj.get("tgt") is None:
        if need_target:
            raise _LineError('missing field "tgt" (training needs targets)')
        return JsonLine(number, src, None, record, passage)
    return JsonLine(number, src, _text_or_tokens(obj["tgt"], "tgt"), record, passage)


def read_json_lines(path: str, training: bool, skip_invalid: bool = False) -> List[JsonLine]:
    """Every non-blank line. A defective line raises a DataError naming the file and line,
    or is logged and left out with `skip_invalid`."""
    rows: List[JsonLine] = []
    skipped = 0
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
                if line.strip():
                    rows.append(_parse_line(line, training, number))
            except (UnicodeDecodeError, _LineError) as err:
                message = "not UTF-8" if isinstance(err, UnicodeDecodeError) else str(err)
                error = DataError(f"line {number}: {message}", file=path)
                if not skip_invalid:
                    raise error from None
                logger.warning("Skipped %s", error.one_line())
                skipped += 1
    _all_or_none(path, rows, lambda row: row.tgt is not None, '"tgt"')
    _all_or_none(path, rows, lambda row: row.record is not None, '"id"')
    if skipped:
        logger.warning("Skipped %d invalid line(s) in %s; kept %d", skipped, path, len(rows))
    return rows


def _all_or_none(path: str, rows: Sequence[JsonLine], has, what: str) -> None:
    with_it = [row.number for row in rows if has(row)]
    if with_it and len(with_it) < len(rows):
        lacking = next(row.number for row in rows if not has(row))
        raise DataError(f"line {lacking}: no {what} but line {with_it[0]} has one; give "
                        f"every line one or none", file=path)


def detect_format(path: str | Path) -> str:
    """COQA_FILE for a JSON document (ConvQA_CN / CoQA), JSON_LINES for one object a line.

    The first non-blank line decides: a whole JSON object without "data" means JSON lines,
    one with "data" a one-line document. When it is not a whole object, the file is a
    document, unless the second line is an object with "src" (JSON lines whose first line
    is broken, so the error names that line).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("is a folder, not a file" if path.is_dir() else "no such file",
                        file=str(path))
    lines: List[str] = []
    with open(path, "rb") as handle:
        for raw in handle:
            line = raw.decode("utf-8-sig", errors="replace").strip()
            if line:
                lines.append(line)
            if len(lines) == 2:
                break
    if not lines:
        raise DataError("empty file", file=str(path))
    first = _json_or_none(lines[0])
    if isinstance(first, dict):
        return COQA_FILE if "data" in first else JSON_LINES
    second = _json_or_none(lines[1]) if len(lines) > 1 else None
    return JSON_LINES if isinstance(second, dict) and "src" in second else COQA_FILE


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None
