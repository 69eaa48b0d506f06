"""The special answers: 是的 (yes), 不是 (no), 无法作答 (unknown). Dependency-free."""
from __future__ import annotations

from typing import Optional

YES_TEXT = "是的"
NO_TEXT = "不是"
UNKNOWN_TEXT = "无法作答"

_EXACT = {YES_TEXT: "yes", NO_TEXT: "no", UNKNOWN_TEXT: "unknown"}
_ENGLISH = {"yes", "no", "unknown"}


def classify_special(text: str) -> Optional[str]:
    """"yes" / "no" / "unknown" for the exact special strings (English: case-insensitive,
    one final "." allowed), else None. Never guessed from overlap with 是 or 有."""
    stripped = text.strip()
    if stripped in _EXACT:
        return _EXACT[stripped]
    word = stripped[:-1] if stripped.endswith(".") else stripped
    word = word.lower()
    return word if word in _ENGLISH else None
