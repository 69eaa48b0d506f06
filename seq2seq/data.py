"""Source / target pairs for UniLM-style seq2seq fine-tuning, as padded numpy arrays.

Two input formats, told apart by their content (`detect_format`):

- ConvQA_CN v3.0 or CoQA JSON (an object with "data"), read by `coqa.readers.load_dialogues`.
  Every turn becomes one example:

      source: [CLS] history [SEP] passage window [SEP]
      target: answer [SEP]

  `history` depends on `SourceConfig.history_format` (with the default two previous turns):

      QAQAFQ          Q(t-2) A(t-2) Q(t-1) A(t-1) A(t-1) Q(t)
      sep             Q(t-2) A(t-2) [SEP] Q(t-1) A(t-1) [SEP] Q(t)
      question_only   Q(t)

  In QAQAFQ the previous answer is repeated where English CoQA puts the rationale (the
  "F"). Each question and answer is tokenized on its own, the pieces are joined, and the
  history keeps its LAST `history_tokens` tokens, so the current question survives.

  Passage windows start every `window_stride` tokens and hold the room that is left,
  `max_source_seq_length - len(history) - 3` tokens (the last window runs to the passage
  end). By default `history_tokens` is min(60, (max_source_seq_length - 3) // 2) and
  `window_stride` min(128, half the shortest window), so any source of at least 5 tokens
  works; 464 and 512 give the fixed 60 and 128 of before. One window per turn:
    * training: the window that covers the most of the gold span (the whole span when some
      window holds it; `Turn.span`, the best-F1 span for free-form answers);
    * otherwise (decoding, yes / no / unknown, no span): the window holding the most
      distinct tokens of (previous answer + question);
  ties go to the larger overlap, then to the earlier window.

  The target is `Turn.answer` (是的 / 不是 / 无法作答 for the special kinds) cut to
  `max_target_seq_length - 1` tokens, then [SEP]. Each example remembers its
  (dialogue id, turn_id, domain) so answers can be written as `[{id, turn_id, answer}]`.

- JSON lines as UniLM s2s-ft takes them: one object per line with "src" and, for training,
  "tgt"; each a string (tokenized here) or a list of WordPiece tokens. Source:
  [CLS] src [SEP] keeping the first max_source_seq_length - 2 tokens (any length from 3
  works); target as above. The ConvQA_CN fork's files also carry "id" ("dialogue#turn",
  which becomes the example's `TurnRecord`, so answers are written as
  `[{id, turn_id, answer}]`) and, for decoding, "passages" (the passage text).

`Seq2SeqData.passages[i]` is example i's passage text ("" when unknown), for
`seq2seq.text.passage_spelling` (run_seq2seq.py --do_rule).
"""
from __future__ import annotations

import dataclasses

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from coqa.cache import cache_key, cache_path, load_or_build, tokenizer_fingerprint
from coqa.dialogue import Dialogue
from coqa.errors import DataError
from coqa.features import char_span_to_tokens, window_starts
from coqa.history import dialogue_history
from coqa.readers import load_dialogues
from seq2seq.text import detokenize, detokenize_segments

logger = logging.getLogger(__name__)

# Bump when the layout of an example changes (source order, target, window rule...).
FORMAT_VERSION = "s2s-cls-history-sep-window-sep/answer-sep/v2-passages-line-ids"
HISTORY_FORMATS = ("QAQAFQ", "sep", "question_only")
COQA_FILE, JSON_LINES = "coqa", "jsonl"
# [CLS], the [SEP] after the history and the [SEP] after the window.
SOURCE_SPECIAL_TOKENS = 3
# Defaults of the history and window settings for long sources (the fixed values of v1).
HISTORY_TOKENS, WINDOW_STRIDE = 60, 128
# Dialogues per batched tokenizer call.
CHUNK_DIALOGUES = 256


@dataclass(frozen=True)
class SourceConfig:
    """Every setting that shapes the examples (all of it goes into the cache key).
    `history_tokens` and `window_stride` None mean the defaults that scale with the
    source length (module docstring); they are resolved here, once."""

    max_source_seq_length: int = 464  # source tokens, [CLS] and both [SEP]s included
    max_target_seq_length: int = 48   # target tokens, the final [SEP] included
    history_format: str = "QAQAFQ"    # one of HISTORY_FORMATS
    history_tokens: Optional[int] = None  # history + question keeps its last this many tokens
    window_stride: Optional[int] = None   # step between the starts of two passage windows
    history_turns: int = 2            # previous turns in the history

    def __post_init__(self):
        if self.history_format not in HISTORY_FORMATS:
            raise ValueError(f"history_format must be one of {', '.join(HISTORY_FORMATS)}, "
                             f"got {self.history_format!r}")
        if self.max_source_seq_length < 3:
            raise ValueError(f"max_source_seq_length must be at least 3 ([CLS], a source token "
                             f"and [SEP]), got {self.max_source_seq_length}")
        if self.history_tokens is None:
            room = (self.max_source_seq_length - SOURCE_SPECIAL_TOKENS) // 2
            object.__setattr__(self, "history_tokens", max(1, min(HISTORY_TOKENS, room)))
        if self.window_stride is None:
            half = self.min_window_length // 2
            object.__setattr__(self, "window_stride", max(1, min(WINDOW_STRIDE, half)))
        if self.history_tokens < 1:
            raise ValueError(f"history_tokens must be at least 1, got {self.history_tokens}")
        if self.window_stride < 1:
            raise ValueError(f"window_stride must be at least 1, got {self.window_stride}")
        if self.history_turns < 0:
            raise ValueError(f"history_turns must be at least 0, got {self.history_turns}")
        if self.max_target_seq_length < 2:
            raise ValueError(f"max_target_seq_length must be at least 2 (one answer token and "
                             f"[SEP]), got {self.max_target_seq_length}")

    def check_dialogue_layout(self) -> None:
        """What [CLS] history [SEP] window [SEP] needs (dialogue files only; JSON lines
        have no history and no windows): room for a window, a stride that skips nothing."""
        if self.min_window_length < 1:
            raise ValueError(
                f"max_source_seq_length {self.max_source_seq_length} leaves no room for the "
                f"passage after a history of up to {self.history_tokens} tokens "
                f"(history_tokens), [CLS] and two [SEP]s; it must be at least "
                f"{self.history_tokens + SOURCE_SPECIAL_TOKENS + 1}")
        if self.window_stride > self.min_window_length:
            raise ValueError(
                f"window_stride {self.window_stride} exceeds the shortest passage window, "
                f"{self.min_window_length} tokens (max_source_seq_length - history_tokens - 3), "
                f"so passage tokens would be skipped")

    @property
    def min_window_length(self) -> int:
        """Passage tokens per window when the history is as long as it may be."""
        return self.max_source_seq_length - self.history_tokens - SOURCE_SPECIAL_TOKENS

    def settings(self) -> Dict[str, Any]:
        """The settings for the cache key, with the format version."""
        return {**asdict(self), "format_version": FORMAT_VERSION}


@dataclass(frozen=True)
class TurnRecord:
    """Where an example came from: a ConvQA_CN / CoQA turn, or a JSON line's "id"."""

    dialogue_id: str
    turn_id: int
    domain: str


@dataclass
class Seq2SeqData:
    """Examples right-padded with `pad_id` to the longest source / target in the file.

    `records[i]` is None for examples read from JSON lines. Without targets (JSON lines
    with no "tgt") `target_ids` has zero columns and `has_targets` is False.
    """

    source_ids: np.ndarray       # (N, S) int32
    source_length: np.ndarray    # (N,) int32, real tokens of each source
    target_ids: np.ndarray       # (N, T) int32
    target_length: np.ndarray    # (N,) int32, real tokens of each target (0: none)
    records: List[Optional[TurnRecord]]
    pad_id: int
    has_targets: bool
    file_format: str             # COQA_FILE or JSON_LINES
    passages: List[str] = dataclasses.field(default_factory=list)  # per example, "" unknown

    def __len__(self) -> int:
        return len(self.source_ids)

    def source(self, index: int) -> List[int]:
        """Token ids of one source, without padding."""
        return self.source_ids[index, :self.source_length[index]].tolist()

    def target(self, index: int) -> List[int]:
        """Token ids of one target, [SEP] included ([] without targets)."""
        return self.target_ids[index, :self.target_length[index]].tolist()

    def batch(self, indices: Sequence[int] | np.ndarray) -> Dict[str, Any]:
        """int64 torch tensors for `model(**batch)`, right-padded to the batch's longest
        source and target: source_ids, source_mask (B, S) and, with targets,
        target_ids, target_mask (B, T); masks are 1 on real tokens."""
        import torch  # only here: building and caching examples needs no torch

        indices = np.asarray(indices, dtype=np.int64)
        parts = [("source", self.source_ids, self.source_length)]
        if self.has_targets:
            parts.append(("target", self.target_ids, self.target_length))
        arrays: Dict[str, np.ndarray] = {}
        for name, ids, lengths in parts:
            length = lengths[indices]                                   # (B,)
            width = int(length.max()) if len(indices) else 0
            arrays[f"{name}_ids"] = ids[indices, :width]                # (B, width)
            arrays[f"{name}_mask"] = np.arange(width)[None, :] < length[:, None]
        return {name: torch.from_numpy(np.ascontiguousarray(array, dtype=np.int64))
                for name, array in arrays.items()}

    @staticmethod
    def loss_weight(batch: Dict[str, Any]) -> float:
        """The batch's real target tokens: its loss is a mean per target token, so the
        training loop weighs micro-batches (and processes) by this to average over the
        whole optimizer step."""
        return float(batch["target_mask"].sum())

    def subset(self, count: int) -> "Seq2SeqData":
        """The first `count` examples (decode_seq2seq.py's --subset)."""
        return dataclasses.replace(
            self, source_ids=self.source_ids[:count], source_length=self.source_length[:count],
            target_ids=self.target_ids[:count], target_length=self.target_length[:count],
            records=self.records[:count], passages=self.passages[:count])

    @property
    def has_turn_ids(self) -> bool:
        """Whether every example knows its dialogue id and turn_id."""
        return all(record is not None for record in self.records)

    def prediction_records(self, answers: Sequence[str]) -> List[Dict[str, Any]]:
        """`[{"id", "turn_id", "answer"}]`, one per example, for the evaluation script."""
        if len(answers) != len(self):
            raise ValueError(f"{len(answers)} answers for {len(self)} examples")
        if not self.has_turn_ids:
            raise ValueError("examples from JSON lines without \"id\" carry no dialogue id / "
                             "turn_id")
        return [{"id": record.dialogue_id, "turn_id": record.turn_id, "answer": answer}
                for record, answer in zip(self.records, answers)]


# ---------------------------------------------------------------------------------------
# Pieces of an example (pure functions on token ids)


def history_ids(turns: Sequence[Tuple[List[int], List[int]]], question: List[int],
                history_format: str, sep_id: int, limit: int) -> List[int]:
    """The history part of a source from the previous turns' (question, answer) token ids,
    oldest first, and the current question's; the last `limit` tokens are kept."""
    ids: List[int] = []
    if history_format == "QAQAFQ":
        for q, a in turns:
            ids += q + a
        if turns:
            ids += turns[-1][1]  # the previous answer again, where CoQA has the rationale
    elif history_format == "sep":
        for q, a in turns:
            ids += q + a + [sep_id]
    elif history_format != "question_only":
        raise ValueError(f"unknown history_format {history_format!r}")
    ids += question
    return ids[max(0, len(ids) - limit):]


def target_ids(answer: Sequence[int], max_target_seq_length: int, sep_id: int) -> List[int]:
    """Answer tokens cut to max_target_seq_length - 1, then [SEP]."""
    return list(answer[:max_target_seq_length - 1]) + [sep_id]


def choose_window(passage_ids: np.ndarray, window: int, stride: int, cue_ids: Sequence[int],
                  span_tokens: Optional[Tuple[int, int]] = None) -> Tuple[int, int]:
    """(start, length) of the passage window for one turn.

    Windows start every `stride` tokens and hold up to `window` tokens. The chosen one
    covers the most tokens of `span_tokens` (inclusive first and last token, training
    only), then holds the most distinct `cue_ids` (previous answer + question), then
    comes first.
    """
    num_tokens = len(passage_ids)
    cue = np.unique(np.asarray(list(cue_ids), dtype=np.int64))
    hits = np.flatnonzero(np.isin(passage_ids, cue))  # positions of cue tokens
    hit_ids = passage_ids[hits]
    candidates = []
    for start in window_starts(num_tokens, window, stride):
        end = min(start + window, num_tokens)  # exclusive
        covered = 0
        if span_tokens is not None:
            covered = max(0, min(span_tokens[1] + 1, end) - max(span_tokens[0], start))
        inside = (hits >= start) & (hits < end)
        # max() keeps the first of equal keys, so -start is not needed for the tie.
        candidates.append(((covered, len(np.unique(hit_ids[inside]))), (start, end - start)))
    return max(candidates, key=lambda candidate: candidate[0])[1]


# ---------------------------------------------------------------------------------------
# ConvQA_CN / CoQA files


@dataclass
class _Built:
    """Examples before padding, and counts for the log."""

    sources: List[List[int]]
    targets: List[Optional[List[int]]]
    records: List[Optional[TurnRecord]]
    stats: Dict[str, int]
    passages: List[str] = dataclasses.field(default_factory=list)


def _special_ids(tokenizer) -> Tuple[int, int, int]:
    ids = (tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id)
    if None in ids:
        raise ValueError(f"tokenizer {type(tokenizer).__name__} lacks a [CLS], [SEP] or [PAD] "
                         f"token (ids {ids})")
    return ids


def _tokenize(tokenizer, texts: Sequence[str], **kwargs) -> Dict[str, Any]:
    if not texts:
        return {"input_ids": [], "offset_mapping": []}
    return tokenizer(list(texts), add_special_tokens=False, return_attention_mask=False,
                     return_token_type_ids=False, **kwargs)


def _dialogue_chunk(dialogues: Sequence[Dialogue], tokenizer, config: SourceConfig,
                    training: bool, built: _Built) -> None:
    """Append one example per turn of `dialogues` to `built` (one batched tokenizer call
    for the passages, one for the distinct questions and answers)."""
    cls_id, sep_id, _ = _special_ids(tokenizer)
    passages = _tokenize(tokenizer, [d.passage for d in dialogues], return_offsets_mapping=True)
    texts = sorted({text for d in dialogues for t in d.turns for text in (t.question, t.answer)})
    ids_of = dict(zip(texts, _tokenize(tokenizer, texts)["input_ids"]))
    for dialogue, passage, offsets in zip(dialogues, passages["input_ids"],
                                          passages["offset_mapping"]):
        passage = np.asarray(passage, dtype=np.int64)
        spans = np.array([t.span or (0, 0) for t in dialogue.turns], dtype=np.int64).reshape(-1, 2)
        first, last = char_span_to_tokens(np.asarray(offsets, dtype=np.int64).reshape(-1, 2),
                                          spans[:, 0], spans[:, 1])
        for index, turn in enumerate(dialogue.turns):
            previous = [(ids_of[q], ids_of[a])
                        for q, a in dialogue_history(dialogue, index, config.history_turns)]
            question = ids_of[turn.question]
            history = history_ids(previous, question, config.history_format, sep_id,
                                  config.history_tokens)
            span_tokens = None
            if training and turn.span is not None and first[index] <= last[index]:
                span_tokens = int(first[index]), int(last[index])
            cue = (previous[-1][1] if previous else []) + question
            window = config.max_source_seq_length - len(history) - SOURCE_SPECIAL_TOKENS
            start, length = choose_window(passage, window, config.window_stride, cue, span_tokens)
            built.sources.append([cls_id] + history + [sep_id]
                                 + passage[start:start + length].tolist() + [sep_id])
            answer = ids_of[turn.answer]
            built.targets.append(target_ids(answer, config.max_target_seq_length, sep_id))
            built.records.append(TurnRecord(dialogue.id, turn.turn_id, dialogue.domain))
            built.passages.append(dialogue.passage)
            _count(built.stats, span_tokens, start, length, len(passage) > length,
                   len(answer) >= config.max_target_seq_length)


def _count(stats: Dict[str, int], span_tokens: Optional[Tuple[int, int]], start: int,
           length: int, several_windows: bool, target_cut: bool) -> None:
    stats["turns"] += 1
    stats["passage_cut"] += several_windows
    stats["target_cut"] += target_cut
    if span_tokens is not None:
        stats["span_turns"] += 1
        stats["span_outside_window"] += not (start <= span_tokens[0] and
                                             span_tokens[1] < start + length)


def _dialogue_examples(path: str, tokenizer, config: SourceConfig, training: bool,
                       skip_invalid: bool) -> _Built:
    config.check_dialogue_layout()
    loaded = load_dialogues(path, skip_invalid)
    built = _Built([], [], [], dict.fromkeys(
        ("turns", "passage_cut", "target_cut", "span_turns", "span_outside_window"), 0))
    for first in range(0, len(loaded.dialogues), CHUNK_DIALOGUES):
        _dialogue_chunk(loaded.dialogues[first:first + CHUNK_DIALOGUES], tokenizer, config,
                        training, built)
    stats = built.stats
    logger.info("%s: %d examples from %d dialogues (%s); %d turns whose passage is longer than "
                "their window; %d gold spans chose the window, %d of them not wholly inside it; "
                "%d targets cut to %d tokens", path, stats["turns"], len(loaded.dialogues),
                loaded.format, stats["passage_cut"], stats["span_turns"],
                stats["span_outside_window"], stats["target_cut"], config.max_target_seq_length)
    return built


# ---------------------------------------------------------------------------------------
# JSON lines (UniLM s2s-ft)


class _LineError(Exception):
    """A defect in one JSON line; becomes a DataError naming the file and line."""


def _text_or_tokens(value: Any, name: str) -> str | List[str]:
    if isinstance(value, str):
        if not value.strip():
            raise _LineError(f'empty "{name}"')
        return value
    if isinstance(value, list) and all(isinstance(token, str) for token in value):
        if not value:
            raise _LineError(f'empty "{name}"')
        return value
    raise _LineError(f'"{name}" must be a string or a list of token strings, '
                     f"not {type(value).__name__}")


@dataclass(frozen=True)
class _Line:
    number: int
    src: Any                         # a string or a list of tokens
    tgt: Any                         # the same, or None
    record: Optional[TurnRecord]     # from "id" = "dialogue#turn"
    passage: str                     # "passages", or ""


def _line_record(value: Any) -> Optional[TurnRecord]:
    """The TurnRecord of an "id" "dialogue#turn" (the ConvQA_CN fork's), else None."""
    if value is None:
        return None
    dialogue, sep, turn = str(value).rpartition("#")
    if not sep or not dialogue or not turn.strip().lstrip("-").isdigit():
        raise _LineError(f'"id" {value!r} is not of the form "dialogue#turn"')
    return TurnRecord(dialogue, int(turn), "")


def _parse_line(line: str, need_target: bool, number: int = 0) -> _Line:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as err:
        raise _LineError(f"not JSON ({err.msg} at column {err.colno})") from None
    if not isinstance(obj, dict):
        raise _LineError(f"not a JSON object but a {type(obj).__name__}")
    if "src" not in obj:
        raise _LineError('missing field "src"')
    src = _text_or_tokens(obj["src"], "src")
    passage = obj.get("passages") or ""
    if not isinstance(passage, str):
        raise _LineError(f'"passages" must be a string, not {type(passage).__name__}')
    record = _line_record(obj.get("id"))
    if obj.get("tgt") is None:
        if need_target:
            raise _LineError('missing field "tgt" (training needs targets)')
        return _Line(number, src, None, record, passage)
    return _Line(number, src, _text_or_tokens(obj["tgt"], "tgt"), record, passage)


def read_json_lines(path: str, training: bool, skip_invalid: bool = False) -> List[_Line]:
    """Every non-blank line. A defective line raises a DataError naming the file and line,
    or is logged and left out with `skip_invalid`."""
    rows: List[_Line] = []
    skipped = 0
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
                if line.strip():
                    rows.append(_parse_line(line, training, number))
            except (UnicodeDecodeError, _LineError) as err:
                message = "not UTF-8" if isinstance(err, UnicodeDecodeError) else str(err)
                error = DataError(f"line {number}: {message}", file=path)
                if not skip_invalid:
                    raise error from None
                logger.warning("Skipped %s", error.one_line())
                skipped += 1
    _all_or_none(path, rows, lambda row: row.tgt is not None, '"tgt"')
    _all_or_none(path, rows, lambda row: row.record is not None, '"id"')
    if skipped:
        logger.warning("Skipped %d invalid line(s) in %s; kept %d", skipped, path, len(rows))
    return rows


def _all_or_none(path: str, rows: Sequence[_Line], has, what: str) -> None:
    with_it = [row.number for row in rows if has(row)]
    if with_it and len(with_it) < len(rows):
        lacking = next(row.number for row in rows if not has(row))
        raise DataError(f"line {lacking}: no {what} but line {with_it[0]} has one; give "
                        f"every line one or none", file=path)


def _to_ids(tokenizer, values: Sequence[str | List[str]]) -> List[List[int]]:
    """Token ids of strings (tokenized in one batch) and of token lists (looked up)."""
    strings = [i for i, value in enumerate(values) if isinstance(value, str)]
    encoded = _tokenize(tokenizer, [values[i] for i in strings])["input_ids"]
    ids: List[List[int]] = [[] for _ in values]
    for i, value in zip(strings, encoded):
        ids[i] = list(value)
    for i, value in enumerate(values):
        if not isinstance(value, str):
            ids[i] = list(tokenizer.convert_tokens_to_ids(value))
    return ids


def _line_examples(path: str, tokenizer, config: SourceConfig, training: bool,
                   skip_invalid: bool) -> _Built:
    cls_id, sep_id, _ = _special_ids(tokenizer)
    rows = read_json_lines(path, training, skip_invalid)
    sources = _to_ids(tokenizer, [row.src for row in rows])
    has_targets = bool(rows) and rows[0].tgt is not None
    targets = (_to_ids(tokenizer, [row.tgt for row in rows]) if has_targets
               else [None] * len(rows))
    keep = config.max_source_seq_length - 2
    built = _Built([[cls_id] + ids[:keep] + [sep_id] for ids in sources],
                   [None if t is None else target_ids(t, config.max_target_seq_length, sep_id)
                    for t in targets],
                   [row.record for row in rows],
                   {"source_cut": sum(len(ids) > keep for ids in sources),
                    "target_cut": sum(t is not None and len(t) >= config.max_target_seq_length
                                      for t in targets)},
                   [row.passage for row in rows])
    logger.info("%s: %d examples from JSON lines (%s targets); %d sources cut to %d tokens, "
                "%d targets cut to %d", path, len(rows), "with" if has_targets else "without",
                built.stats["source_cut"], config.max_source_seq_length,
                built.stats["target_cut"], config.max_target_seq_length)
    return built


# ---------------------------------------------------------------------------------------
# Entry points


def detect_format(path: str | Path) -> str:
    """COQA_FILE for a JSON document (ConvQA_CN / CoQA), JSON_LINES for one object a line.

    The first non-blank line decides: a whole JSON object without "data" means JSON lines,
    one with "data" a one-line document. When it is not a whole object, the file is a
    document, unless the second line is an object with "src" (JSON lines whose first line
    is broken, so the error names that line).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("no such file", file=str(path))
    lines: List[str] = []
    with open(path, "rb") as handle:
        for raw in handle:
            line = raw.decode("utf-8-sig", errors="replace").strip()
            if line:
                lines.append(line)
            if len(lines) == 2:
                break
    if not lines:
        raise DataError("empty file", file=str(path))
    first = _json_or_none(lines[0])
    if isinstance(first, dict):
        return COQA_FILE if "data" in first else JSON_LINES
    second = _json_or_none(lines[1]) if len(lines) > 1 else None
    return JSON_LINES if isinstance(second, dict) and "src" in second else COQA_FILE


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def build_examples(path: str | Path, tokenizer, config: SourceConfig, training: bool,
                   skip_invalid: bool = False) -> Seq2SeqData:
    """Examples of a ConvQA_CN / CoQA file or a JSON-lines file (detected from content).

    `training` picks the window holding the gold span (dialogue files) and makes "tgt"
    required (JSON lines)."""
    path = str(path)
    file_format = detect_format(path)
    make = _dialogue_examples if file_format == COQA_FILE else _line_examples
    built = make(path, tokenizer, config, training, skip_invalid)
    return _pack(built, _special_ids(tokenizer)[2], file_format)


def _padded(rows: Sequence[Sequence[int]], pad_id: int) -> Tuple[np.ndarray, np.ndarray]:
    lengths = np.array([len(row) for row in rows], dtype=np.int32)
    ids = np.full((len(rows), int(lengths.max()) if len(rows) else 0), pad_id, dtype=np.int32)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = row
    return ids, lengths


def _pack(built: _Built, pad_id: int, file_format: str) -> Seq2SeqData:
    has_targets = bool(built.targets) and all(t is not None for t in built.targets)
    source_ids, source_length = _padded(built.sources, pad_id)
    target_ids_, target_length = _padded(built.targets if has_targets
                                         else [[] for _ in built.targets], pad_id)
    return Seq2SeqData(source_ids, source_length, target_ids_, target_length, built.records,
                       pad_id, has_targets, file_format, built.passages)


def examples_cache_path(path: str | Path, tokenizer, config: SourceConfig, training: bool,
                        cache_dir: str | Path, prefix: str, skip_invalid: bool = False) -> Path:
    """Where the examples of `path` under these settings are cached: the key holds every
    SourceConfig field, the format version, the training flag, skip_invalid, the data
    file's hash and the tokenizer's fingerprint."""
    settings = {**config.settings(), "training": training, "skip_invalid": skip_invalid}
    key = cache_key(settings, path, tokenizer_fingerprint(tokenizer))
    return cache_path(cache_dir, prefix, key)


def load_or_build_examples(path: str | Path, tokenizer, config: SourceConfig, training: bool,
                           cache_dir: str | Path, prefix: str = "seq2seq",
                           skip_invalid: bool = False, overwrite_cache: bool = False
                           ) -> Seq2SeqData:
    """`build_examples` through the keyed feature cache in `cache_dir`."""
    cached = examples_cache_path(path, tokenizer, config, training, cache_dir, prefix,
                                 skip_invalid)
    logger.info("Seq2seq examples for %s (training=%s) with %s: cache file %s", path, training,
                config.settings(), cached)
    data = load_or_build(cached, lambda: build_examples(path, tokenizer, config, training,
                                                        skip_invalid), overwrite_cache)
    logger.info("%d examples (%s) from %s", len(data), data.file_format, cached)
    return data


def describe_example(data: Seq2SeqData, index: int, tokenizer) -> Tuple[List[str], str]:
    """(source segments, target) of one example as text: does the label say what we think?"""
    source = detokenize_segments(tokenizer.convert_ids_to_tokens(data.source(index)))
    target = detokenize(tokenizer.convert_ids_to_tokens(data.target(index)))
    return source, target


def log_examples(data: Seq2SeqData, tokenizer, count: int = 3) -> None:
    """Log the first `count` examples decoded."""
    for index in range(min(count, len(data))):
        source, target = describe_example(data, index, tokenizer)
        record = data.records[index]
        where = f"dialogue {record.dialogue_id} turn {record.turn_id}" if record else "JSON lines"
        logger.info("Example %d (%s): source %s | target %r", index, where,
                    " [SEP] ".join(repr(s) for s in source), target)
