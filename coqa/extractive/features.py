"""Feature building for the extractive model: dialogues to padded numpy arrays.

Every turn becomes one feature per passage window:

    [CLS] query [SEP] passage window [SEP] [PAD] ...
    token_type_ids: 0 for [CLS], the query and the first [SEP]; 1 for the window and the
    last [SEP]; 0 for padding.

The query is the dialogue history followed by the current question. Each question and
answer is tokenized on its own and the pieces are joined as

    q1 a1 [SEP] q2 a2 [SEP] q3          (history_len 2, current question q3)

so a previous turn is its question tokens directly followed by its gold answer tokens,
closed by a [SEP]. The joined query is then cut from the LEFT to `max_query_length`
tokens: the oldest history goes first and the tail of the current question is always kept.
This is the "sep" format of `coqa.data.query`, the builder the seq2seq sources share; how
many queries were cut (and how many inside the current question) is logged once per file.

With `history_encoding` "hae" or "markers" (`coqa.extractive.history_marks`) the query
is the current question alone and the previous answers are shown in the passage instead:
as history answer embedding ids (`history_answer_ids`, one per sequence position, 0
outside the passage) or as marker tokens inserted around them. Each turn then has its
own passage tokens; marker tokens have no offsets, so no answer starts or ends on one,
and the span labels point at the passage tokens wherever the markers moved them.

Passage windows start every `doc_stride` tokens (the step between window starts, not an
overlap) and are at most `max_seq_length - len(query) - 3` tokens long; the last window is
the first one that reaches the passage end.

Labels are class indices over [yes, no, unknown, sequence position 0, 1, ...]: 0 yes, 1 no,
2 unknown, and 3 + j for the token at position j of the input sequence. yes / no /
unknown turns get their class for both start and end in every window, except that a yes /
no turn with a rationale (CoQA) is unknown in the windows that miss the rationale
entirely, as in transformers-coqa: the window that holds the evidence says yes or no, the
others cannot know. ConvQA_CN has no rationales. A turn labelled with
a character span [start, end) gets the tokens that cover the span's first and last
character in a window that holds the whole span, and unknown in every other window; a
free-form turn with no span is unknown.
"""
from __future__ import annotations

import itertools
import logging
import math
import multiprocessing
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from tqdm.auto import tqdm

from coqa.data.errors import ConfigError
from coqa.data.cache import cache_key, cache_path, load_or_build, tokenizer_fingerprint
from coqa.data.dialogue import Dialogue, TurnRecord
from coqa.data.query import (QUERY_SPECIAL_TOKENS, HistoryConfig, QueryCuts, build_query,
                             check_window_room, min_window_length)
from coqa.data.tokenizing import CHUNK_DIALOGUES, encode_batch, encode_ids
from coqa.data.windows import char_span_to_tokens, special_ids, window_starts
from coqa.extractive.history_marks import (HISTORY_ENCODINGS, hae_ids, insert_markers,
                                           marker_id_map, previous_answers)
from coqa.extractive.labels import (CLS_SPAN_CLASS, NO_CLASS, NUM_SPECIAL,
                                    OUTSIDE_WINDOW_LABELS, SPECIAL_CLASS, UNKNOWN_CLASS,
                                    YES_CLASS)
from coqa.train.dataset import TrainDataset

logger = logging.getLogger(__name__)

# Bump when the layout of a feature changes (query format, label scheme...).
FEATURE_FORMAT = "cls-history-question-sep-window-sep/v2"  # v2: coqa.extractive classes

@dataclass(frozen=True)
class FeatureConfig:
    """Every setting that changes the features (all of it goes into the cache key)."""

    max_seq_length: int = 512   # tokens per feature, special tokens included
    doc_stride: int = 128       # step between the starts of two passage windows, in tokens
    max_query_length: int = 64  # history + question, keeping the tail
    history_len: int = 2        # previous turns (question + gold answer) in the query
    # The label of a window that misses the turn's span (or a yes / no turn's rationale):
    # "unknown" (无法作答, as the old scripts), or "cls" (the CLS token's span: "not in this
    # window", as Hugging Face's run_qa.py; 无法作答 is then learned from turns the
    # passage cannot answer only).
    outside_window: str = "unknown"
    # How the previous turns are shown (coqa.extractive.history_marks): "concat" (in the
    # query), "hae" (an embedding id of each passage token), "markers" (tokens inserted
    # in the passage). Models saved before the setting existed were "concat".
    history_encoding: str = "concat"

    def __post_init__(self):
        history = self.history  # checks max_query_length and history_len
        check_window_room(self.max_seq_length, history.max_query_length, self.doc_stride)
        if self.outside_window not in OUTSIDE_WINDOW_LABELS:
            raise ConfigError(f"outside_window must be one of {', '.join(OUTSIDE_WINDOW_LABELS)}, "
                              f"got {self.outside_window!r}")
        if self.history_encoding not in HISTORY_ENCODINGS:
            raise ConfigError(f"history_encoding must be one of {', '.join(HISTORY_ENCODINGS)}, "
                              f"got {self.history_encoding!r}")
        if self.history_encoding != "concat" and self.history_len < 1:
            raise ConfigError(f"--history_encoding {self.history_encoding} needs --history_len "
                              f"of at least 1 (got {self.history_len}): it shows the previous "
                              f"turns' answers in the passage, and there are none")

    @property
    def history(self) -> HistoryConfig:
        """What goes into a turn's query: `history_len` turns in the "sep" format, or the
        current question alone when the history is shown in the passage."""
        return HistoryConfig(self.history_len, self.max_query_length,
                             "sep" if self.history_encoding == "concat" else "question_only")

    @property
    def min_window_length(self) -> int:
        """Passage tokens per window when the query is as long as it may be."""
        return min_window_length(self.max_seq_length, self.max_query_length)

    def settings(self) -> Dict[str, Any]:
        """The settings for the cache key, with the feature format."""
        return {**asdict(self), "feature_format": FEATURE_FORMAT}


# The array fields of a FeatureSet, as stored in the feature cache.
ARRAY_FIELDS = ("input_ids", "token_type_ids", "attention_mask", "start_positions",
                "end_positions", "example_index", "token_offsets")


@dataclass
class FeatureSet(TrainDataset):
    """Features padded to max_seq_length, and what post-processing needs to map them back.

    Passages are stored once per dialogue in `passages`; `token_offsets[i, j]` is the
    character range [start, end) in the passage of the token at position j of feature i,
    or (-1, -1) for [CLS], the query, [SEP] and padding.
    """

    input_ids: np.ndarray        # (N, L) int32
    token_type_ids: np.ndarray   # (N, L) int8
    attention_mask: np.ndarray   # (N, L) int8
    start_positions: np.ndarray  # (N,) int64, class index (0 yes, 1 no, 2 unknown, 3 + j)
    end_positions: np.ndarray    # (N,) int64
    example_index: np.ndarray    # (N,) int32, index into examples
    token_offsets: np.ndarray    # (N, L, 2) int32
    examples: List[TurnRecord]
    passages: List[str]
    # (N, L) int8, history_encoding "hae" only: how many turns ago the passage token at
    # each position was an answer (0: never, and outside the passage).
    history_answer_ids: Optional[np.ndarray] = None

    def __len__(self) -> int:
        return len(self.input_ids)

    def passage(self, feature: int) -> str:
        """The passage of feature `feature`."""
        return self.passages[self.examples[self.example_index[feature]].passage_index]

    def count_tokens(self, batch: Dict[str, Any]):
        """Real tokens of a batch: its attention mask (for the Tokens/s figure)."""
        return batch["attention_mask"].sum()

    def to_arrays(self) -> Tuple[Dict[str, np.ndarray], Dict[str, Any]]:
        """(arrays, JSON-able metadata) for the feature cache; `from_arrays` inverts it."""
        arrays = {name: getattr(self, name) for name in ARRAY_FIELDS}
        if self.history_answer_ids is not None:
            arrays["history_answer_ids"] = self.history_answer_ids
        meta = {"examples": [[r.dialogue_id, r.turn_id, r.domain, r.passage_index]
                             for r in self.examples],
                "passages": list(self.passages)}
        return arrays, meta

    @classmethod
    def from_arrays(cls, arrays: Dict[str, np.ndarray], meta: Dict[str, Any]) -> "FeatureSet":
        """The FeatureSet `to_arrays` described; a missing array or key raises KeyError."""
        if len({len(arrays[name]) for name in ARRAY_FIELDS}) != 1:
            raise ValueError("the cached feature arrays differ in length")
        examples = [TurnRecord(*row) for row in meta["examples"]]
        hae = arrays["history_answer_ids"] if "history_answer_ids" in arrays else None
        if hae is not None and len(hae) != len(arrays["input_ids"]):
            raise ValueError("the cached feature arrays differ in length")
        return cls(**{name: arrays[name] for name in ARRAY_FIELDS}, examples=examples,
                   passages=list(meta["passages"]), history_answer_ids=hae)

    def batch(self, indices: Sequence[int] | np.ndarray, with_labels: bool = True):
        """A dict of int64 torch tensors for `model(**batch)`, cut to the longest real
        sequence among `indices` (dynamic padding)."""
        import torch  # only here: post-processing and feature building need no torch

        indices = np.asarray(indices, dtype=np.int64)
        mask = self.attention_mask[indices]
        length = int(mask.sum(axis=1).max()) if len(indices) else 0
        arrays = {"input_ids": self.input_ids[indices, :length],
                  "attention_mask": mask[:, :length],
                  "token_type_ids": self.token_type_ids[indices, :length]}
        if self.history_answer_ids is not None:
            arrays["history_answer_ids"] = self.history_answer_ids[indices, :length]
        if with_labels:
            arrays["start_positions"] = self.start_positions[indices]
            arrays["end_positions"] = self.end_positions[indices]
        return {name: torch.from_numpy(np.ascontiguousarray(array, dtype=np.int64))
                for name, array in arrays.items()}


def _flat(lists: Sequence[Sequence[Any]], width: int = 1) -> np.ndarray:
    """Nested lists of ints (or of `width`-tuples) as one int32 array, no padding."""
    items = itertools.chain.from_iterable(lists)
    if width > 1:
        items = itertools.chain.from_iterable(items)
    return np.fromiter(items, dtype=np.int32).reshape(-1, width) if width > 1 else \
        np.fromiter(items, dtype=np.int32)


def _starts(lengths: np.ndarray) -> np.ndarray:
    """Where each of consecutive pieces of `lengths` begins."""
    return np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)


@dataclass
class _Plan:
    """The features of a few dialogues before padding: ragged token arrays, one row per
    feature. Compact, so worker processes send little back."""

    first_example: int              # global index of the plan's first example
    examples: List[TurnRecord]
    passage_ids: np.ndarray         # (P,) int32, the passages' tokens one after another
    passage_offsets: np.ndarray     # (P, 2) int32
    passage_start: np.ndarray       # (S,) int64, where each passage's tokens begin
    passage_hae: Optional[np.ndarray]  # (P,) int8 history answer ids ("hae" only)
    query_ids: np.ndarray           # (Q,) int32, every turn's query one after another
    query_start: np.ndarray         # (T,) int64
    query_length: np.ndarray        # (T,) int64
    feature_example: np.ndarray     # (F,) int64, local example index
    feature_passage: np.ndarray     # (F,) int64, local passage index (into passage_start)
    window_start: np.ndarray        # (F,) int64, first passage token of the window
    window_length: np.ndarray       # (F,) int64
    start_positions: np.ndarray     # (F,) int64
    end_positions: np.ndarray       # (F,) int64
    stats: Dict[str, int]
    query_cuts: QueryCuts


YES_NO_CLASSES = (YES_CLASS, NO_CLASS)


def _token_ranges(offsets: np.ndarray, spans: Sequence[Optional[Tuple[int, int]]]
                  ) -> Tuple[List[int], List[int]]:
    """First and last passage token of each character span (None: an empty range)."""
    array = np.array([span if span is not None else (0, 0) for span in spans],
                     dtype=np.int64).reshape(-1, 2)
    first, last = char_span_to_tokens(offsets, array[:, 0], array[:, 1])
    return first.tolist(), last.tolist()


def _window_label(special: Optional[int], evidence: Optional[Tuple[int, int]],
                  span_tokens: Optional[Tuple[int, int]], start: int, length: int, shift: int,
                  outside: int = UNKNOWN_CLASS) -> Tuple[Tuple[int, int], Optional[str]]:
    """(start label, end label) of the window of passage tokens [start, start + length),
    and the name of the stat it adds to when the window misses the turn's rationale or span.

    `special`: the turn's class if yes / no / unknown; `evidence`: a yes / no turn's
    rationale tokens (CoQA); `span_tokens`: a span turn's first and last token; passage
    token t of the window is class t + shift - start; `outside`: the class of a window
    that misses the span or the rationale (UNKNOWN_CLASS or CLS_SPAN_CLASS)."""
    if special is not None:
        if evidence is None or (start <= evidence[1] and evidence[0] < start + length):
            return (special, special), None
        return (outside, outside), "windows_without_rationale"
    if span_tokens is None:
        return (UNKNOWN_CLASS, UNKNOWN_CLASS), None
    if start <= span_tokens[0] and span_tokens[1] < start + length:
        return (span_tokens[0] + shift - start, span_tokens[1] + shift - start), None
    return (outside, outside), "windows_without_span"


@dataclass
class _Passage:
    """A passage's tokens as one turn's windows read them (the dialogue's own tokens for
    "concat", its own marks for "hae" and "markers")."""

    ids: np.ndarray                  # (M,) int32
    offsets: np.ndarray              # (M, 2) int32
    hae: Optional[np.ndarray]        # (M,) int8, "hae" only
    positions: Optional[np.ndarray]  # (T,) where the dialogue's token t is; None: t itself


def _turn_passage(tokens: _Passage, dialogue: Dialogue, turn_index: int, config: FeatureConfig,
                  marker_ids: Dict[str, int]) -> _Passage:
    """The passage of turn `turn_index` with the previous answers marked (history_marks)."""
    answers = previous_answers(dialogue.turns, turn_index, config.history_len)
    if config.history_encoding == "hae":
        return _Passage(tokens.ids, tokens.offsets, hae_ids(tokens.offsets, answers), None)
    marked = insert_markers(tokens.ids, tokens.offsets, answers, marker_ids)
    return _Passage(marked.ids, marked.offsets, None, marked.positions)


@dataclass
class _TurnLabels:
    """What labelling a turn's windows needs, in the dialogue's passage tokens."""

    first: List[int]             # first token of each turn's span
    last: List[int]
    rationale_first: List[int]
    rationale_last: List[int]


def _turn_rows(turn, turn_index: int, labels: _TurnLabels, passage: _Passage, query_length: int,
               config: FeatureConfig, stats: Dict[str, int]) -> List[Tuple[int, int, int, int]]:
    """(window start, window length, start label, end label) of each window of one turn."""
    where = (lambda t: t) if passage.positions is None else (lambda t: int(passage.positions[t]))
    window = config.max_seq_length - query_length - QUERY_SPECIAL_TOKENS
    special = SPECIAL_CLASS.get(turn.kind)
    span_tokens = None
    if special is None and turn.span is not None:
        stats["span_turns"] += 1
        if labels.first[turn_index] <= labels.last[turn_index]:
            span_tokens = where(labels.first[turn_index]), where(labels.last[turn_index])
        else:
            stats["unmappable_spans"] += 1
    # Class of passage token t in a window starting at `start`: t + shift - start.
    shift = NUM_SPECIAL + query_length + 2
    evidence = None  # a yes / no turn's rationale tokens (CoQA)
    if special in YES_NO_CLASSES and turn.rationale is not None \
            and labels.rationale_first[turn_index] <= labels.rationale_last[turn_index]:
        evidence = (where(labels.rationale_first[turn_index]),
                    where(labels.rationale_last[turn_index]))
    outside = CLS_SPAN_CLASS if config.outside_window == "cls" else UNKNOWN_CLASS
    num_tokens = len(passage.ids)
    rows = []
    for start in window_starts(num_tokens, window, config.doc_stride):
        length = min(window, num_tokens - start)
        label, missed = _window_label(special, evidence, span_tokens, start, length, shift,
                                      outside)
        if missed:
            stats[missed] += 1
        rows.append((start, length, *label))
    return rows


def _plan_chunk(first_dialogue: int, first_example: int, dialogues: Sequence[Dialogue],
                tokenizer, config: FeatureConfig, last_turn_only: bool = False) -> _Plan:
    """Tokenize a few dialogues (one batched call for the passages with offsets, one for
    every question and answer), cut the windows and label them; with `last_turn_only`
    only each dialogue's last turn becomes an example (the others are its history)."""
    encoded = encode_batch(tokenizer, [d.passage for d in dialogues])
    history = config.history
    with_answers = history.uses_answers
    texts = [text for d in dialogues for t in d.turns
             for text in ((t.question, t.answer) if with_answers else (t.question,))]
    text_ids = encode_ids(tokenizer, texts)
    per_turn = 2 if with_answers else 1
    sep_id = special_ids(tokenizer)[1]
    marker_ids = marker_id_map(tokenizer, config.history_len) \
        if config.history_encoding == "markers" else {}

    stats = {"turns": 0, "span_turns": 0, "unmappable_spans": 0, "windows_without_span": 0,
             "windows_without_rationale": 0}
    examples: List[TurnRecord] = []
    queries: List[List[int]] = []
    passages: List[_Passage] = []
    query_cuts = QueryCuts()
    # Per feature: local example, local passage, window start, window length, start label,
    # end label.
    rows: List[Tuple[int, int, int, int, int, int]] = []
    position = 0  # into text_ids
    for local, dialogue in enumerate(dialogues):
        tokens = _Passage(np.asarray(encoded[local].ids, dtype=np.int32),
                          np.asarray(encoded[local].offsets, dtype=np.int32).reshape(-1, 2),
                          None, None)
        if config.history_encoding == "concat":
            passages.append(tokens)
        labels = _TurnLabels(*_token_ranges(tokens.offsets, [t.span for t in dialogue.turns]),
                             *_token_ranges(tokens.offsets, [t.rationale for t in dialogue.turns]))
        end = position + len(dialogue.turns) * per_turn
        questions = text_ids[position:end:per_turn]
        answers = text_ids[position + 1:end:per_turn] if with_answers else None
        for turn_index, turn in enumerate(dialogue.turns):
            if last_turn_only and turn_index < len(dialogue.turns) - 1:
                continue
            example = len(examples)
            examples.append(TurnRecord(dialogue.id, turn.turn_id, dialogue.domain,
                                       first_dialogue + local))
            built = build_query(questions, answers, turn_index, history, sep_id)
            query_cuts.add(built)
            queries.append(built.ids)
            if config.history_encoding != "concat":
                passages.append(_turn_passage(tokens, dialogue, turn_index, config, marker_ids))
            rows += [(example, len(passages) - 1, *row) for row in _turn_rows(
                turn, turn_index, labels, passages[-1], len(built.ids), config, stats)]
        stats["turns"] += 1 if last_turn_only else len(dialogue.turns)
        position = end

    table = np.array(rows, dtype=np.int64).reshape(-1, 6)
    query_length = np.array([len(q) for q in queries], dtype=np.int64)
    passage_hae = np.concatenate([p.hae for p in passages]).astype(np.int8) \
        if config.history_encoding == "hae" and passages else None
    return _Plan(first_example, examples, _concat([p.ids for p in passages], (0,)),
                 _concat([p.offsets for p in passages], (0, 2)),
                 _starts(np.array([len(p.ids) for p in passages], dtype=np.int64)), passage_hae,
                 _flat(queries), _starts(query_length), query_length, *table.T, stats,
                 query_cuts)


def _concat(arrays: Sequence[np.ndarray], empty_shape: Tuple[int, ...]) -> np.ndarray:
    """int32 arrays one after another (an empty one of `empty_shape` for none)."""
    if not arrays:
        return np.zeros(empty_shape, dtype=np.int32)
    return np.concatenate(arrays).astype(np.int32, copy=False)


def _pad_into(features: FeatureSet, first_row: int, plan: _Plan, cls_id: int, sep_id: int
              ) -> None:
    """Write the plan's features, padded, into rows first_row... of `features`."""
    count = len(plan.feature_example)
    rows = slice(first_row, first_row + count)
    query_length = plan.query_length[plan.feature_example]  # (F,)
    body = 2 + query_length                                 # (F,) first window position
    last = body + plan.window_length                        # (F,) final [SEP] position
    columns = np.arange(features.input_ids.shape[1])[None, :]
    in_sequence = columns <= last[:, None]                  # (F, L)
    features.attention_mask[rows] = in_sequence
    features.token_type_ids[rows] = in_sequence & (columns >= body[:, None])
    ids = features.input_ids[rows]  # views: writing them fills `features`
    offsets = features.token_offsets[rows]
    hae = None if plan.passage_hae is None else features.history_answer_ids[rows]
    ids[:, 0] = cls_id
    ids[np.arange(count), 1 + query_length] = sep_id
    ids[np.arange(count), last] = sep_id
    # Slice copies (memcpy) per feature beat one big fancy-indexed scatter several times over.
    query_from = plan.query_start[plan.feature_example].tolist()
    window_from = (plan.passage_start[plan.feature_passage] + plan.window_start).tolist()
    for row, (q, w, q_from, w_from) in enumerate(zip(
            query_length.tolist(), plan.window_length.tolist(), query_from, window_from)):
        ids[row, 1:1 + q] = plan.query_ids[q_from:q_from + q]
        ids[row, 2 + q:2 + q + w] = plan.passage_ids[w_from:w_from + w]
        offsets[row, 2 + q:2 + q + w] = plan.passage_offsets[w_from:w_from + w]
        if hae is not None:
            hae[row, 2 + q:2 + q + w] = plan.passage_hae[w_from:w_from + w]
    features.example_index[rows] = plan.feature_example + plan.first_example
    features.start_positions[rows] = plan.start_positions
    features.end_positions[rows] = plan.end_positions


# Set in each worker process by _init_worker, so the tokenizer is sent once per process.
_WORKER: Dict[str, Any] = {}


def _init_worker(tokenizer, config: FeatureConfig) -> None:
    # One process per --threads; the Rust tokenizer's own thread pool would oversubscribe.
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    _WORKER["tokenizer"] = tokenizer
    _WORKER["config"] = config


def _plan_in_worker(job: Tuple[int, int, Sequence[Dialogue], bool]) -> _Plan:
    first_dialogue, first_example, dialogues, last_turn_only = job
    return _plan_chunk(first_dialogue, first_example, dialogues, _WORKER["tokenizer"],
                       _WORKER["config"], last_turn_only)


def build_features(dialogues: Sequence[Dialogue], tokenizer, config: FeatureConfig,
                   threads: int = 1, show_progress: bool = True,
                   last_turn_only: bool = False) -> FeatureSet:
    """Features for every turn of `dialogues`, in dialogue and turn order; with
    `last_turn_only`, for the last turn of each dialogue only (predicted history: the
    dialogues come from `coqa.data.history.with_answers`).

    Dialogues are tokenized in chunks; with `threads > 1` the chunks are planned in a pool
    of spawned processes. Padding happens here, once, so the result is identical whatever
    the number of threads.
    """
    dialogues = list(dialogues)
    threads = max(1, int(threads))
    size = CHUNK_DIALOGUES if threads == 1 else \
        max(1, min(CHUNK_DIALOGUES, math.ceil(len(dialogues) / (4 * threads))))
    jobs, first_example = [], 0
    for first in range(0, len(dialogues), size):
        chunk = dialogues[first:first + size]
        jobs.append((first, first_example, chunk, last_turn_only))
        first_example += len(chunk) if last_turn_only else sum(len(d.turns) for d in chunk)

    plans: List[_Plan] = []
    with tqdm(total=len(dialogues), unit="dialogue", desc="Building features",
              disable=not show_progress) as progress:
        if threads == 1 or len(jobs) <= 1:
            results = (_plan_chunk(*job[:3], tokenizer, config, job[3]) for job in jobs)
            for job, plan in zip(jobs, results):
                plans.append(plan)
                progress.update(len(job[2]))
        else:
            context = multiprocessing.get_context("spawn")  # fork would copy the Rust thread pool
            with context.Pool(min(threads, len(jobs)), initializer=_init_worker,
                              initargs=(tokenizer, config)) as pool:
                for job, plan in zip(jobs, pool.imap(_plan_in_worker, jobs)):
                    plans.append(plan)
                    progress.update(len(job[2]))

    cls_id, sep_id, pad_id = special_ids(tokenizer)
    features = _empty_feature_set(sum(len(p.feature_example) for p in plans),
                                  config.max_seq_length, pad_id,
                                  config.history_encoding == "hae")
    features.passages = [d.passage for d in dialogues]
    row = 0
    for plan in plans:
        _pad_into(features, row, plan, cls_id, sep_id)
        features.examples.extend(plan.examples)
        row += len(plan.feature_example)
    totals = {name: sum(p.stats[name] for p in plans) for name in plans[0].stats} if plans else {}
    outside = "unknown" if config.outside_window == "unknown" else "with the CLS span"
    logger.info("Built %d features for %d turns of %d dialogues (%d turns labelled with a span, "
                "%d of them covering no token; %d windows without the whole span labelled "
                "%s; %d yes/no windows missing the rationale labelled %s)",
                len(features), totals.get("turns", 0), len(dialogues),
                totals.get("span_turns", 0), totals.get("unmappable_spans", 0),
                totals.get("windows_without_span", 0), outside,
                totals.get("windows_without_rationale", 0), outside)
    # Predicted history and chat build one turn per dialogue per round: their line is DEBUG.
    cuts = sum((plan.query_cuts for plan in plans), QueryCuts())
    logger.log(logging.DEBUG if last_turn_only else logging.INFO, "%s",
               cuts.describe(config.max_query_length))
    return features


def _empty_feature_set(count: int, length: int, pad_id: int, hae: bool = False) -> FeatureSet:
    return FeatureSet(input_ids=np.full((count, length), pad_id, np.int32),
                      token_type_ids=np.zeros((count, length), np.int8),
                      attention_mask=np.zeros((count, length), np.int8),
                      start_positions=np.zeros(count, np.int64),
                      end_positions=np.zeros(count, np.int64),
                      example_index=np.zeros(count, np.int32),
                      token_offsets=np.full((count, length, 2), -1, np.int32),
                      examples=[], passages=[],
                      history_answer_ids=np.zeros((count, length), np.int8) if hae else None)


def features_cache_path(data_file: str | Path, tokenizer, config: FeatureConfig,
                        cache_dir: str | Path, prefix: str) -> Path:
    """Where the features of `data_file` under these settings are cached."""
    key = cache_key(config.settings(), data_file, tokenizer_fingerprint(tokenizer))
    return cache_path(cache_dir, prefix, key)


def load_or_build_features(data_file: str | Path, dialogues: Sequence[Dialogue], tokenizer,
                           config: FeatureConfig, cache_dir: str | Path, prefix: str,
                           overwrite_cache: bool = False, threads: int = 1,
                           show_progress: bool = True) -> FeatureSet:
    """Cached features of `dialogues` (read from `data_file`), keyed by every setting,
    the data file's hash and the tokenizer's fingerprint."""
    path = features_cache_path(data_file, tokenizer, config, cache_dir, prefix)
    logger.info("Features for %s with %s: cache file %s", data_file, config.settings(), path)
    features = load_or_build(path, lambda: build_features(dialogues, tokenizer, config, threads,
                                                          show_progress),
                             FeatureSet.from_arrays, overwrite_cache)
    logger.info("%d features for %d turns from %s", len(features), len(features.examples), path)
    return features
