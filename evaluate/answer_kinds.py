"""The special answers: 是的 (yes), 不是 (no), 无法作答 (unknown).

Imported by other packages (readers, post-processing), so it stays tiny and dependency-free.
"""
from __future__ import annotations

from typing import Optional

YES_TEXT = "是的"
NO_TEXT = "不是"
UNKNOWN_TEXT = "无法作答"

_CHINESE = {YES_TEXT: "yes", NO_TEXT: "no", UNKNOWN_TEXT: "unknown"}
_ENGLISH = frozenset(("yes", "no", "unknown"))


def classify_special(text: str) -> Optional[str]:
    """"yes", "no" or "unknown" for a special answer, else None.

    Chinese: exactly 是的 / 不是 / 无法作答 after stripping surrounding whitespace.
    English (CoQA): yes / no / unknown in any case, with at most one final ".".
    Never guessed from overlap with 是 or 有: "是" or "是的。" are ordinary answers.
    """
    stripped = text.strip()
    if stripped in _CHINESE:
        return _CHINESE[stripped]
    word = (stripped[:-1] if stripped.endswith(".") else stripped).lower()
    return word if word in _ENGLISH else None
