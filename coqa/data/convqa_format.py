"""Helpers for writing ConvQA_CN v3.0 files (converter, sample builder, synthetic data)."""
from __future__ import annotations

from collections import Counter
from typing import Any, Dict, List

from evaluate.answer_kinds import classify_special


def occurrences(text: str, needle: str) -> List[int]:
    """Every offset where `needle` occurs in `text`, ascending, overlapping ones included."""
    found, start = [], text.find(needle)
    while start >= 0:
        found.append(start)
        start = text.find(needle, start + 1)
    return found


def percent(count: int, total: int) -> float:
    return 100.0 * count / total if total else 0.0


QUESTION_CLASSES = ("coreference", "omitting", "factual", "yesno", "why")


def question_statistics(counts: Dict[str, int]) -> Dict[str, Any]:
    """The corpus's `question_statistics` from its counts (`question_count` and
    `<class>_count` for each of QUESTION_CLASSES): the counts, then each class's ratio in %."""
    total = counts["question_count"]
    ratios = {f"{name}_ratio": percent(counts[f"{name}_count"], total)
              for name in QUESTION_CLASSES}
    return {**counts, **ratios}


def answer_statistics(answers: List[Dict[str, Any]]) -> Dict[str, Any]:
    """The corpus's `answer_statistics`: span = extractive, nospan = generative (the
    special answers included), yesno = 是的 + 不是, cannotanswer = 无法作答; ratios in %."""
    kinds = Counter(classify_special(a["input_text"]) for a in answers)
    total = len(answers)
    counts = {"answer_count": total,
              "span_count": sum(a["answer_type"] == "extractive" for a in answers),
              "nospan_count": sum(a["answer_type"] == "generative" for a in answers),
              "yesno_count": kinds["yes"] + kinds["no"],
              "cannotanswer_count": kinds["unknown"]}
    ratios = {f"{name}_ratio": percent(counts[f"{name}_count"], total)
              for name in ("span", "nospan", "yesno", "cannotanswer")}
    return {**counts, **ratios}
