"""Previous answers shown in the passage instead of in the query (numpy and python only).

`--history_encoding` chooses how the extractive model sees the dialogue history:

    concat   the previous `history_len` questions and answers joined before the question
             (`coqa.data.query`, the "sep" format); the passage as it is
    hae      the query is the current question only; each passage token that was the
             answer of one of the previous `history_len` turns gets the id of how many
             turns ago that was (1 = the turn just before), 0 otherwise. The model adds a
             learned embedding of the id to the word embedding, zero at the start (Qu et
             al., SIGIR 2019, "BERT with History Answer Embedding")
    markers  the query is the current question only (as in MarCQAp); marker tokens are
             inserted in the passage around each previous answer, `[A1]` ... `[/A1]` for
             the turn before, `[A2]` ... `[/A2]` for the one before it, ... (Gekhman et
             al., TACL 2023). The markers are special tokens added to the tokenizer

A previous answer is its character span [start, end) in the passage, `Turn.span`: with
gold history the span the turn is labelled with (ConvQA_CN: `answer_start` and the
answer's length; CoQA: the answer text found inside the `span_start` / `span_end`
rationale, else the best-F1 passage span inside it), with predicted history the span the
model answered. A turn without a span (是的, 不是, 无法作答, a free-form answer that
overlaps no passage character) marks nothing. Both encodings mark the same tokens: those
that cover the span's first to last character (`coqa.data.windows.char_span_to_tokens`,
the rule of the span labels), so a marker is only ever put between two tokens.

Overlapping answers: for hae the nearest turn wins (a token that answered both the last
turn and the one before gets 1). Markers keep every answer: at one token boundary the
closing markers come first, the nearest turn's first, then the opening markers, the
farthest turn's first, so two answers of the same tokens nest as
`[A2] [A1] ... [/A1] [/A2]`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from coqa.data.dialogue import Dialogue, Turn
from coqa.data.errors import ConfigError
from coqa.data.history import history_turn_range
from coqa.data.windows import char_span_to_tokens

HISTORY_ENCODINGS = ("concat", "hae", "markers")
# Marker tokens hold no passage character: their offsets are (NO_OFFSET, NO_OFFSET), as
# the query's and the special tokens' are, so no answer can start or end on one.
NO_OFFSET = -1


@dataclass(frozen=True)
class PreviousAnswer:
    """One previous answer in the passage: characters [start, end), `distance` turns ago."""

    start: int
    end: int
    distance: int  # 1: the turn just before the current one


def previous_answers(turns: Sequence[Turn], turn_index: int,
                     history_len: int) -> List[PreviousAnswer]:
    """The spans of the `history_len` turns before `turns[turn_index]` that have one,
    farthest first."""
    return [PreviousAnswer(turns[i].span[0], turns[i].span[1], turn_index - i)
            for i in history_turn_range(turn_index, history_len) if turns[i].span is not None]


def answer_tokens(offsets: np.ndarray, answers: Sequence[PreviousAnswer]
                  ) -> List[Tuple[int, int, int]]:
    """(first token, last token, distance) of each answer that covers a token, in the
    order of `answers`. `offsets` (T, 2): the passage tokens' character ranges."""
    if not answers:
        return []
    starts = np.array([a.start for a in answers], dtype=np.int64)
    ends = np.array([a.end for a in answers], dtype=np.int64)
    first, last = char_span_to_tokens(offsets, starts, ends)
    return [(int(f), int(l), a.distance) for f, l, a in zip(first, last, answers) if f <= l]


def hae_ids(offsets: np.ndarray, answers: Sequence[PreviousAnswer]) -> np.ndarray:
    """(T,) int8: for each passage token, the distance of the nearest previous answer that
    covers it, 0 for a token no previous answer covers."""
    ids = np.zeros(len(offsets), dtype=np.int8)
    # Farthest first, so that the nearest turn is written last and wins.
    for first, last, distance in sorted(answer_tokens(offsets, answers), key=lambda a: -a[2]):
        ids[first:last + 1] = distance
    return ids


def marker_tokens(history_len: int) -> List[str]:
    """The marker tokens of `history_len` turns: [A1], [/A1], [A2], [/A2], ..."""
    return [token for distance in range(1, history_len + 1)
            for token in (f"[A{distance}]", f"[/A{distance}]")]


@dataclass(frozen=True)
class MarkedPassage:
    """A passage's tokens with the markers inserted."""

    ids: np.ndarray        # (M,) int32
    offsets: np.ndarray    # (M, 2) int32, (NO_OFFSET, NO_OFFSET) for a marker
    positions: np.ndarray  # (T,) int64: where the passage's token t is in `ids`


def insert_markers(ids: np.ndarray, offsets: np.ndarray, answers: Sequence[PreviousAnswer],
                   marker_ids: Mapping[str, int]) -> MarkedPassage:
    """The passage tokens `ids` (T,) with character ranges `offsets` (T, 2) and the
    markers of `answers` inserted (order: module docstring). `marker_ids`: token -> id
    for every token of `marker_tokens`."""
    # (boundary: the marker goes before this token, order at the boundary, marker id)
    inserts = []
    for first, last, distance in answer_tokens(offsets, answers):
        inserts.append((first, (1, -distance), marker_ids[f"[A{distance}]"]))
        inserts.append((last + 1, (0, distance), marker_ids[f"[/A{distance}]"]))
    inserts.sort(key=lambda item: (item[0], item[1]))
    boundaries = np.array([b for b, _, _ in inserts], dtype=np.int64)
    values = np.array([v for _, _, v in inserts], dtype=np.int32)
    ids = np.asarray(ids, dtype=np.int32)
    offsets = np.asarray(offsets, dtype=np.int32).reshape(-1, 2)
    # np.insert keeps the given order of values inserted before the same index.
    marked_ids = np.insert(ids, boundaries, values)
    marked_offsets = np.insert(offsets, boundaries, NO_OFFSET, axis=0)
    positions = np.arange(len(ids), dtype=np.int64) + \
        np.searchsorted(boundaries, np.arange(len(ids)), side="right")
    return MarkedPassage(marked_ids, marked_offsets, positions)


def marked_text(passage: str, marked: MarkedPassage, id_to_token: Mapping[int, str]) -> str:
    """The passage as the markers model reads it: the passage's own characters, with the
    marker tokens at their places (for logs and tests)."""
    pieces, position = [], 0
    for token_id, (start, end) in zip(marked.ids.tolist(), marked.offsets.tolist()):
        if start == NO_OFFSET:
            pieces.append(id_to_token[token_id])
            continue
        if end > position:
            pieces.append(passage[position:end])
            position = end
    return "".join(pieces) + passage[position:]


def with_history_spans(dialogue: Dialogue, spans: Mapping[int, Optional[Tuple[int, int]]]
                       ) -> Dialogue:
    """`dialogue` whose turns listed in `spans` (turn_id -> character span or None) mark
    that span instead of their gold one: predicted history, where the previous answers
    are the model's own."""
    turns = tuple(_with_span(t, spans[t.turn_id]) if t.turn_id in spans else t
                  for t in dialogue.turns)
    return Dialogue(dialogue.id, dialogue.domain, dialogue.passage, turns)


def _with_span(turn: Turn, span: Optional[Tuple[int, int]]) -> Turn:
    return Turn(turn.turn_id, turn.question, turn.question_type, turn.answers, turn.kind,
                None if span is None else (int(span[0]), int(span[1])), turn.rationale)


def marker_id_map(tokenizer, history_len: int) -> Dict[str, int]:
    """token -> id of each marker of `history_len` turns in `tokenizer` (which must hold
    them: `coqa.extractive.loading.prepare_history_encoding` adds them)."""
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in marker_tokens(history_len)}
    missing = [token for token, i in ids.items() if i is None or i == tokenizer.unk_token_id]
    if missing:
        raise ConfigError(f"the tokenizer lacks the history marker tokens {missing} "
                          f"(--history_encoding markers adds them when the model is loaded)")
    return ids
