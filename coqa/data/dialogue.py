"""The in-memory model every pipeline reads: `Dialogue` and `Turn`, whatever the file format."""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Optional, Tuple

from evaluate.answer_kinds import NO_TEXT, UNKNOWN_TEXT, YES_TEXT, classify_special


class AnswerKind(str, Enum):
    """What the gold answer is; the extractive model has one head per special kind."""

    SPAN = "span"            # the answer text is a passage span
    FREE_FORM = "free-form"  # rewritten by the annotator; labelled with its best-F1 span
    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"

    @property
    def is_special(self) -> bool:
        return self in (AnswerKind.YES, AnswerKind.NO, AnswerKind.UNKNOWN)


SPECIAL_TEXT = {AnswerKind.YES: YES_TEXT, AnswerKind.NO: NO_TEXT, AnswerKind.UNKNOWN: UNKNOWN_TEXT}


def special_kind(text: str) -> Optional[AnswerKind]:
    """yes / no / unknown for 是的 / 不是 / 无法作答 (or English yes/no/unknown), else None."""
    kind = classify_special(text)
    return AnswerKind(kind) if kind is not None else None


@dataclass(frozen=True)
class Turn:
    """One question and its gold answer(s).

    `span` is the character range [start, end) in the passage that labels the answer:
    the answer itself for SPAN, the best-F1 passage span for FREE_FORM (None when no
    passage character overlaps the answer), None for the special kinds.
    """

    turn_id: int
    question: str
    question_type: str
    answers: Tuple[str, ...]  # answers[0] is the main gold answer; () for a new question
    kind: AnswerKind
    span: Optional[Tuple[int, int]]
    rationale: Optional[Tuple[int, int]] = None  # CoQA only

    @property
    def answer(self) -> str:
        """The main gold answer; "" for a question read without answers (questions_only)."""
        return self.answers[0] if self.answers else ""


@dataclass(frozen=True)
class Dialogue:
    """One passage and its chain of turns; `domain` is the file's Source / source."""

    id: str
    domain: str
    passage: str
    turns: Tuple[Turn, ...]

    @property
    def answered(self) -> bool:
        """Whether every turn has a gold answer (False for a file of new questions)."""
        return all(turn.answers for turn in self.turns)

    def span_text(self, turn: Turn) -> Optional[str]:
        """The passage text a turn is labelled with, or None."""
        if turn.span is None:
            return None
        return self.passage[turn.span[0]:turn.span[1]]


@dataclass(frozen=True)
class TurnRecord:
    """Where an example came from: a ConvQA_CN / CoQA turn, or a JSON line's "id". The
    extractive features also keep `passage_index`, their passage in `FeatureSet.passages`."""

    dialogue_id: str
    turn_id: int
    domain: str
    passage_index: int = -1
