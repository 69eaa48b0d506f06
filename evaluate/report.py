"""Fixed-width tables for the terminal (CJK names count two columns)."""
from __future__ import annotations

import unicodedata
from typing import Dict, List, Mapping


def display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - display_width(text))


def score_table(title: str, rows: Mapping[str, Mapping[str, float]]) -> List[str]:
    """`title  turns  EM  F1` then one line per row."""
    width = max([display_width(title)] + [display_width(k) for k in rows]) + 2
    lines = [f"{_pad(title, width)}{'turns':>7}{'EM':>7}{'F1':>7}"]
    for name, score in rows.items():
        lines.append(f"{_pad(name, width)}{score['turns']:>7}{score['em']:>7.1f}{score['f1']:>7.1f}")
    return lines


def format_results(results: Mapping[str, object]) -> str:
    """The per-domain table, and the breakdown tables when present."""
    domains = {k: v for k, v in results.items() if k != "breakdown"}
    lines = score_table("domain", domains)  # type: ignore[arg-type]
    extra = results.get("breakdown")
    if isinstance(extra, dict):
        for key, title in (("question_type", "question type"), ("answer_kind", "gold answer kind"),
                           ("turn_position", "turn position")):
            lines += [""] + score_table(title, extra[key])
        lines += [""] + confusion_table(extra["confusion"])
    return "\n".join(lines)


def confusion_table(confusion: Dict[str, Dict[str, int]]) -> List[str]:
    labels = list(confusion)
    lines = ["gold \\ predicted" + "".join(f"{label:>9}" for label in labels)]
    for gold in labels:
        lines.append(f"{gold:<16}" + "".join(f"{confusion[gold][p]:>9}" for p in labels))
    return lines
