"""Source / target pairs for UniLM-style seq2seq fine-tuning, as padded numpy arrays.

Two input formats, told apart by their content (`detect_format`):

- ConvQA_CN v3.0 or CoQA JSON (an object with "data"), read by `coqa.data.readers.load_dialogues`.
  Every turn becomes one example:

      source: [CLS] history [SEP] passage window [SEP]
      target: answer [SEP]

  `history` depends on `SourceConfig.history_format` (with the default two previous turns):

      QAQAFQ          Q(t-2) A(t-2) Q(t-1) A(t-1) A(t-1) Q(t)
      sep             Q(t-2) A(t-2) [SEP] Q(t-1) A(t-1) [SEP] Q(t)
      question_only   Q(t)

  In QAQAFQ the previous answer is repeated where English CoQA puts the rationale (the
  "F"). Each question and answer is tokenized on its own, the pieces are joined, and the
  history keeps its LAST `max_query_length` tokens, so the current question survives.

  Passage windows start every `doc_stride` tokens and hold the room that is left,
  `max_source_seq_length - len(history) - 3` tokens (the last window runs to the passage
  end). By default `max_query_length` is min(60, (max_source_seq_length - 3) // 2) and
  `doc_stride` min(128, half the shortest window), so any source of at least 5 tokens
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
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from coqa.data.cache import cache_key, cache_path, load_or_build, tokenizer_fingerprint
from coqa.data.dialogue import TurnRecord
from coqa.data.jsonlines import COQA_FILE, detect_format
from coqa.data.tokenizing import warn_if_mostly_unknown
from coqa.data.windows import special_ids
from coqa.train.dataset import TrainDataset
from seq2seq.answer_text import AnswerText
from seq2seq.config import SourceConfig
from seq2seq.sources import Built, dialogue_examples, line_examples

logger = logging.getLogger(__name__)


# The array fields of a Seq2SeqData, as stored in the feature cache.
ARRAY_FIELDS = ("source_ids", "source_length", "target_ids", "target_length")


@dataclass
class Seq2SeqData(TrainDataset):
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

    def to_arrays(self) -> Tuple[Dict[str, np.ndarray], Dict[str, Any]]:
        """(arrays, JSON-able metadata) for the feature cache; `from_arrays` inverts it."""
        arrays = {name: getattr(self, name) for name in ARRAY_FIELDS}
        records = [None if r is None else [r.dialogue_id, r.turn_id, r.domain, r.passage_index]
                   for r in self.records]
        meta = {"records": records, "pad_id": int(self.pad_id),
                "has_targets": bool(self.has_targets), "file_format": self.file_format,
                "passages": list(self.passages)}
        return arrays, meta

    @classmethod
    def from_arrays(cls, arrays: Dict[str, np.ndarray], meta: Dict[str, Any]) -> "Seq2SeqData":
        """The Seq2SeqData `to_arrays` described; a missing array or key raises KeyError."""
        if len({len(arrays[name]) for name in ARRAY_FIELDS} | {len(meta["records"])}) != 1:
            raise ValueError("the cached example arrays differ in length")
        records = [None if row is None else TurnRecord(*row) for row in meta["records"]]
        return cls(**{name: arrays[name] for name in ARRAY_FIELDS}, records=records,
                   pad_id=meta["pad_id"], has_targets=meta["has_targets"],
                   file_format=meta["file_format"], passages=list(meta["passages"]))

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

    @staticmethod
    def count_tokens(batch: Dict[str, Any]):
        """Real tokens of a batch: source and target masks (for the Tokens/s figure)."""
        return batch["source_mask"].sum() + batch["target_mask"].sum()

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


def build_examples(path: str | Path, tokenizer, config: SourceConfig, training: bool,
                   skip_invalid: bool = False) -> Seq2SeqData:
    """Examples of a ConvQA_CN / CoQA file or a JSON-lines file (detected from content).

    `training` picks the window holding the gold span (dialogue files) and makes "tgt"
    required (JSON lines)."""
    path = str(path)
    file_format = detect_format(path)
    make = dialogue_examples if file_format == COQA_FILE else line_examples
    built = make(path, tokenizer, config, training, skip_invalid)
    return _pack(built, special_ids(tokenizer)[2], file_format)


def pack_examples(built: Built, tokenizer, file_format: str = COQA_FILE) -> Seq2SeqData:
    """Padded examples of `built` (from `seq2seq.sources`)."""
    return _pack(built, special_ids(tokenizer)[2], file_format)


def _padded(rows: Sequence[Sequence[int]], pad_id: int) -> Tuple[np.ndarray, np.ndarray]:
    lengths = np.array([len(row) for row in rows], dtype=np.int32)
    ids = np.full((len(rows), int(lengths.max()) if len(rows) else 0), pad_id, dtype=np.int32)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = row
    return ids, lengths


def _pack(built: Built, pad_id: int, file_format: str) -> Seq2SeqData:
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
                                                        skip_invalid),
                         Seq2SeqData.from_arrays, overwrite_cache)
    logger.info("%d examples (%s) from %s", len(data), data.file_format, cached)
    return data


def describe_example(data: Seq2SeqData, index: int, tokenizer) -> Tuple[List[str], str]:
    """(source segments, target) of one example as text: does the label say what we think?"""
    text = AnswerText.of(tokenizer)
    return text.segments(data.source(index)), text.text(data.target(index))


def log_examples(data: Seq2SeqData, tokenizer, count: int = 3) -> None:
    """Log the first `count` examples decoded, and warn when the tokenizer reads much of
    the data as UNK (`warn_if_mostly_unknown`)."""
    real = np.arange(data.source_ids.shape[1])[None, :] < data.source_length[:, None]
    warn_if_mostly_unknown(data.source_ids, real, tokenizer, "source")
    for index in range(min(count, len(data))):
        source, target = describe_example(data, index, tokenizer)
        record = data.records[index]
        where = f"dialogue {record.dialogue_id} turn {record.turn_id}" if record else "JSON lines"
        logger.info("Example %d (%s): source %s | target %r", index, where,
                    " [SEP] ".join(repr(s) for s in source), target)
