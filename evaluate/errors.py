"""The one exception for unusable input files, and the JSON reading that raises it."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

_INTEGER = re.compile(r"\s*-?[0-9]+\s*")


class EvalInputError(Exception):
    """A gold or prediction file that cannot be scored.

    The message is one line that starts with the file name and says where the defect is
    (dialogue id, turn, list index), so the CLI can print it as is and exit 2.
    """


def read_json_file(path: str | Path) -> Any:
    """Parse a UTF-8 JSON file (a BOM is tolerated); every failure is an EvalInputError."""
    path = Path(path)
    try:
        # Opened, not stat-ed first, so pipes such as <(...) work too.
        raw = path.read_bytes()
    except FileNotFoundError:
        raise EvalInputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise EvalInputError(f"{path}: is a directory") from None
    except OSError as err:
        raise EvalInputError(f"{path}: cannot read ({err.strerror})") from None
    if raw[:2] == b"\x1f\x8b":
        raise EvalInputError(f"{path}: gzip-compressed, not JSON: decompress it first "
                             "(gunzip)")
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


def as_turn_id(value: Any, where: str) -> int:
    """A turn_id as int: an int or a string of digits (JSON files hold both)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value):
        return int(value)
    raise EvalInputError(f"{where}: turn_id {value!r} is not an integer")


def as_dialogue_id(value: Any, where: str) -> str:
    """A dialogue id as str, so that 230 and "230" match."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise EvalInputError(f"{where}: id {value!r} is neither a string nor an integer")
