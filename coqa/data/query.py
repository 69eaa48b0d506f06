"""The query of a turn, the one builder both pipelines use: the dialogue history and the
current question as token ids, cut from the left, and the room it leaves for the passage.

Both pipelines lay a feature out as `[CLS] query [SEP] passage window [SEP]`. The query
joins the previous turns' questions and gold answers, oldest first, and the current
question, in one of three formats (previous turns q1 a1, q2 a2, current question q3):

    sep            q1 a1 [SEP] q2 a2 [SEP] q3    (the extractive model's; a seq2seq choice)
    QAQAFQ         q1 a1 q2 a2 a2 q3             (the previous answer again, where CoQA has
                                                  the rationale; the seq2seq default)
    question_only  q3

It is then cut from the LEFT to `max_query_length` tokens: the oldest history goes
first and the tail of the current question is always kept. A question longer than
`max_query_length` on its own loses its beginning, which is worth knowing: `QueryCuts`
counts both cases for one log line per file.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from coqa.data.errors import ConfigError
from coqa.data.history import history_turn_range

HISTORY_FORMATS = ("QAQAFQ", "sep", "question_only")
# [CLS], the [SEP] after the query and the [SEP] after the window, in both pipelines.
QUERY_SPECIAL_TOKENS = 3


@dataclass(frozen=True)
class HistoryConfig:
    """What goes into a turn's query (both pipelines' configs hand one out as `.history`)."""

    history_len: int = 2           # previous turns (question + gold answer) in the query
    max_query_length: int = 64     # history + question keeps its last this many tokens
    history_format: str = "sep"    # one of HISTORY_FORMATS

    def __post_init__(self):
        if self.history_format not in HISTORY_FORMATS:
            raise ConfigError(f"history_format must be one of {', '.join(HISTORY_FORMATS)}, "
                              f"got {self.history_format!r}")
        if self.max_query_length < 1:
            raise ConfigError(f"max_query_length must be at least 1, got {self.max_query_length}")
        if self.history_len < 0:
            raise ConfigError(f"history_len must be at least 0, got {self.history_len}")

    @property
    def uses_answers(self) -> bool:
        """Whether the query holds any previous answer (if not, answers need no tokens)."""
        return self.history_len > 0 and self.history_format != "question_only"


@dataclass(frozen=True)
class Query:
    """A turn's query, and whether cutting it to max_query_length lost tokens."""

    ids: List[int]
    cut: bool            # history + question was longer than max_query_length
    question_cut: bool   # the current question alone was longer: it lost its beginning


def build_query(questions: Sequence[Sequence[int]], answers: Optional[Sequence[Sequence[int]]],
                turn_index: int, config: HistoryConfig, sep_id: int) -> Query:
    """The query of turn `turn_index` of a dialogue, from the token ids of its turns'
    questions and gold (or predicted) answers, in turn order. `answers` may be None when
    `config.uses_answers` is false."""
    question = questions[turn_index]
    ids: List[int] = []
    if config.uses_answers:
        history = history_turn_range(turn_index, config.history_len)
        for i in history:
            ids += questions[i]
            ids += answers[i]
            if config.history_format == "sep":
                ids.append(sep_id)
        if config.history_format == "QAQAFQ" and history:
            ids += answers[history[-1]]
    ids += question
    limit = config.max_query_length
    cut = len(ids) > limit
    return Query(ids[-limit:] if cut else ids, cut, len(question) > limit)


@dataclass
class QueryCuts:
    """How many queries were built and how many of them were cut (one log line per file)."""

    queries: int = 0
    cut: int = 0
    question_cut: int = 0

    def add(self, query: Query) -> None:
        self.queries += 1
        self.cut += query.cut
        self.question_cut += query.question_cut

    def __add__(self, other: "QueryCuts") -> "QueryCuts":
        return QueryCuts(self.queries + other.queries, self.cut + other.cut,
                         self.question_cut + other.question_cut)

    def describe(self, max_query_length: int, name: str = "max_query_length") -> str:
        """`12 of 3,400 queries cut to max_query_length 64 tokens (3 of them cut inside the
        current question)`; `name` is the setting as the user knows it."""
        return (f"{self.cut:,} of {self.queries:,} queries cut to {name} {max_query_length} "
                f"tokens ({self.question_cut:,} of them cut inside the current question)")


# ---------------------------------------------------------------------------------------
# Room for the passage


def min_window_length(max_length: int, max_query_length: int) -> int:
    """Passage tokens per window when the query is as long as it may be."""
    return max_length - max_query_length - QUERY_SPECIAL_TOKENS


def check_window_room(max_length: int, max_query_length: int, doc_stride: int,
                      names: Tuple[str, str, str] = ("max_seq_length", "max_query_length",
                                                     "doc_stride")) -> int:
    """The shortest window (`min_window_length`), after checking that a query of
    `max_query_length` tokens leaves room for the passage in `max_length` tokens and that
    windows starting every `doc_stride` tokens skip no passage token. `names`: how the
    user knows the three settings (flags), for the ConfigError."""
    length_name, query_name, stride_name = names
    room = min_window_length(max_length, max_query_length)
    if room < 1:
        raise ConfigError(
            f"{length_name} {max_length} leaves no room for the passage after a query of up "
            f"to {max_query_length} tokens ({query_name}), [CLS] and two [SEP]s; it must be "
            f"at least {max_query_length + QUERY_SPECIAL_TOKENS + 1}, or lower {query_name}")
    if not 1 <= doc_stride <= room:
        raise ConfigError(
            f"{stride_name} {doc_stride} must be between 1 and the shortest passage window, "
            f"{room} tokens ({length_name} - {query_name} - {QUERY_SPECIAL_TOKENS}), or "
            f"passage tokens would be skipped")
    return room
