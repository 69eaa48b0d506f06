"""Fixed-width tables for the terminal. East Asian wide characters count two columns, so
Chinese domain names line up with the numbers."""
from __future__ import annotations

import unicodedata
from typing import List, Mapping

AGGREGATES = ("in_domain", "out_domain", "overall")


def display_width(text: str) -> int:
    """Terminal columns taken by `text` (wide and full-width characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - display_width(text))


def score_table(title: str, rows: Mapping[str, Mapping[str, object]]) -> List[str]:
    """`title  turns  EM  F1`, one line per row; a rule before in_domain/out_domain/overall."""
    width = max([display_width(title)] + [display_width(name) for name in rows]) + 2
    header = f"{_pad(title, width)}{'turns':>8}{'EM':>7}{'F1':>7}"
    lines = [header]
    for name, scores in rows.items():
        if name == AGGREGATES[0] and len(lines) > 1:
            lines.append("-" * len(header))
        lines.append(f"{_pad(name, width)}{scores['turns']:>8}{scores['em']:>7.1f}"
                     f"{scores['f1']:>7.1f}")
    return lines


def confusion_table(confusion: Mapping[str, Mapping[str, int]]) -> List[str]:
    """Gold kind per row, predicted kind per column, turn counts in the cells."""
    corner = "gold \\ predicted"
    labels = list(confusion)
    width = max(len(corner), *(len(label) for label in labels)) + 2
    cell = max(9, *(len(label) + 2 for label in labels))
    lines = [corner.ljust(width) + "".join(label.rjust(cell) for label in labels)]
    for gold in labels:
        lines.append(gold.ljust(width) + "".join(str(confusion[gold][p]).rjust(cell)
                                                 for p in labels))
    return lines


def format_results(results: Mapping[str, object]) -> str:
    """The per-domain table, then the breakdown tables when the results have them."""
    domains = {k: v for k, v in results.items() if k != "breakdown"}
    lines = score_table("domain", domains)  # type: ignore[arg-type]
    extra = results.get("breakdown")
    if isinstance(extra, dict):
        for key, title in (("question_type", "question type"),
                           ("answer_kind", "gold answer kind"),
                           ("turn_position", "turn position")):
            lines += [""] + score_table(title, extra[key])
        lines += [""] + confusion_table(extra["confusion"])
    return "\n".join(lines)
