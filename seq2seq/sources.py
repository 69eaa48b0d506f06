"""How seq2seq examples are built, before padding: sources and targets of the turns of
ConvQA_CN / CoQA dialogues, and of JSON lines (the layouts are in `seq2seq.examples`)."""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from coqa.data.dialogue import AnswerKind, Dialogue, Turn, TurnRecord
from coqa.data.query import HistoryConfig, QueryCuts, build_query
from coqa.data.jsonlines import read_json_lines
from coqa.data.readers import load_dialogues
from coqa.data.tokenizing import CHUNK_DIALOGUES, encode_batch, encode_ids
from coqa.data.windows import char_span_to_tokens, special_ids, window_starts
from seq2seq.config import SOURCE_SPECIAL_TOKENS, SourceConfig

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------
# Pieces of an example (pure functions on token ids)


def history_ids(turns: Sequence[Tuple[List[int], List[int]]], question: List[int],
                history_format: str, sep_id: int, limit: int) -> List[int]:
    """The history part of a source from the previous turns' (question, answer) token ids,
    oldest first, and the current question's; the last `limit` tokens are kept
    (`coqa.data.query.build_query` on a dialogue of these turns)."""
    config = HistoryConfig(len(turns), limit, history_format)
    questions = [q for q, _ in turns] + [question]
    answers = [a for _, a in turns] + [[]]
    return build_query(questions, answers, len(turns), config, sep_id).ids


def target_ids(answer: Sequence[int], max_target_seq_length: int, sep_id: int) -> List[int]:
    """Answer tokens cut to max_target_seq_length - 1, then [SEP]."""
    return list(answer[:max_target_seq_length - 1]) + [sep_id]


def passage_target(turn: Turn, passage: str, offsets: np.ndarray, first: int, last: int
                   ) -> Optional[Tuple[int, int]]:
    """(first, last) passage tokens (inclusive) whose pieces are the answer, when the
    answer is a passage span whose ends fall on piece boundaries; else None.

    The target of such a turn is the passage's own pieces, which the model can copy from
    its source. Tokenized on its own, the answer may become other pieces: a SentencePiece
    tokenizer (XLM-R, multilingual-e5) starts a text with a word-start piece, so
    "1984年" alone is `▁1984 年` but `1984 年` inside a passage, and "中华人民共和国" alone
    begins with a lone `▁`. For BERT's WordPiece on Chinese both are the same pieces.
    `offsets` (T, 2): the passage pieces' character ranges; first / last: the pieces
    covering the span's first and last character (`char_span_to_tokens`)."""
    if turn.kind is not AnswerKind.SPAN or turn.span is None or first > last:
        return None
    start, end = turn.span
    if passage[start:end] != turn.answer:
        return None
    if offsets[first, 0] != start or offsets[last, 1] != end:
        return None  # the answer begins or ends inside a piece
    return first, last


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


STAT_NAMES = ("turns", "passage_cut", "target_cut", "span_turns", "span_outside_window",
              "target_passage_pieces")


@dataclass
class Built:
    """Examples before padding, and counts for the log."""

    sources: List[List[int]]
    targets: List[Optional[List[int]]]
    records: List[Optional[TurnRecord]]
    stats: Dict[str, int]
    passages: List[str] = dataclasses.field(default_factory=list)
    query_cuts: QueryCuts = dataclasses.field(default_factory=QueryCuts)


def _dialogue_chunk(dialogues: Sequence[Dialogue], tokenizer, config: SourceConfig,
                    training: bool, built: Built, last_turn_only: bool = False) -> None:
    """Append one example per turn of `dialogues` to `built` (one batched tokenizer call
    for the passages, one for the distinct questions and answers); with `last_turn_only`
    for the last turn of each dialogue only (predicted history, the earlier turns being
    its history)."""
    cls_id, sep_id, _ = special_ids(tokenizer)
    history_config = config.history
    passages = encode_batch(tokenizer, [d.passage for d in dialogues])
    texts = sorted({text for d in dialogues for t in d.turns for text in (t.question, t.answer)})
    ids_of = dict(zip(texts, encode_ids(tokenizer, texts)))
    for dialogue, encoding in zip(dialogues, passages):
        passage = np.asarray(encoding.ids, dtype=np.int64)
        offsets = np.asarray(encoding.offsets, dtype=np.int64).reshape(-1, 2)
        spans = np.array([t.span or (0, 0) for t in dialogue.turns], dtype=np.int64).reshape(-1, 2)
        first, last = char_span_to_tokens(offsets, spans[:, 0], spans[:, 1])
        questions = [ids_of[t.question] for t in dialogue.turns]
        answers = [ids_of[t.answer] for t in dialogue.turns]
        for index, turn in enumerate(dialogue.turns):
            if last_turn_only and index < len(dialogue.turns) - 1:
                continue
            query = build_query(questions, answers, index, history_config, sep_id)
            built.query_cuts.add(query)
            history = query.ids
            span_tokens = None
            if training and turn.span is not None and first[index] <= last[index]:
                span_tokens = int(first[index]), int(last[index])
            # The previous answer, if the history holds one, and the question.
            cue = (answers[index - 1] if index and config.history_len else []) + questions[index]
            window = config.max_source_seq_length - len(history) - SOURCE_SPECIAL_TOKENS
            start, length = choose_window(passage, window, config.doc_stride, cue, span_tokens)
            built.sources.append([cls_id] + history + [sep_id]
                                 + passage[start:start + length].tolist() + [sep_id])
            answer = ids_of[turn.answer]
            pieces = passage_target(turn, dialogue.passage, offsets, first[index], last[index])
            if pieces is not None:
                answer = passage[pieces[0]:pieces[1] + 1].tolist()
                built.stats["target_passage_pieces"] += answer != ids_of[turn.answer]
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


def dialogue_examples(path: str, tokenizer, config: SourceConfig, training: bool,
                       skip_invalid: bool) -> Built:
    config.check_dialogue_layout()
    # Without training, new dialogues (no Answers) are read too: their targets are empty.
    loaded = load_dialogues(path, skip_invalid, questions_only=not training)
    built = Built([], [], [], dict.fromkeys(STAT_NAMES, 0))
    for first in range(0, len(loaded.dialogues), CHUNK_DIALOGUES):
        _dialogue_chunk(loaded.dialogues[first:first + CHUNK_DIALOGUES], tokenizer, config,
                        training, built)
    stats = built.stats
    logger.info("%s: %d examples from %d dialogues (%s); %d turns whose passage is longer than "
                "their window; %d gold spans chose the window, %d of them not wholly inside it; "
                "%d targets cut to %d tokens; %d span answers whose pieces in the passage differ "
                "from their pieces alone are the passage's pieces", path, stats["turns"],
                len(loaded.dialogues), loaded.format, stats["passage_cut"], stats["span_turns"],
                stats["span_outside_window"], stats["target_cut"], config.max_target_seq_length,
                stats["target_passage_pieces"])
    logger.info("%s: %s", path, built.query_cuts.describe(config.max_query_length,
                                                          "max_query_length (--history_tokens)"))
    return built



def last_turn_examples(dialogues: Sequence[Dialogue], tokenizer, config: SourceConfig) -> Built:
    """Decoding examples of the last turn of each dialogue (`coqa.data.history.with_answers`
    dialogues: one round of predicted history)."""
    built = Built([], [], [], dict.fromkeys(STAT_NAMES, 0))
    for first in range(0, len(dialogues), CHUNK_DIALOGUES):
        _dialogue_chunk(dialogues[first:first + CHUNK_DIALOGUES], tokenizer, config, False,
                        built, last_turn_only=True)
    return built


def _to_ids(tokenizer, values: Sequence[str | List[str]]) -> List[List[int]]:
    """Token ids of strings (tokenized in one batch) and of token lists (looked up)."""
    strings = [i for i, value in enumerate(values) if isinstance(value, str)]
    encoded = encode_ids(tokenizer, [values[i] for i in strings])
    ids: List[List[int]] = [[] for _ in values]
    for i, value in zip(strings, encoded):
        ids[i] = list(value)
    for i, value in enumerate(values):
        if not isinstance(value, str):
            ids[i] = list(tokenizer.convert_tokens_to_ids(value))
    return ids


def line_examples(path: str, tokenizer, config: SourceConfig, training: bool,
                   skip_invalid: bool) -> Built:
    cls_id, sep_id, _ = special_ids(tokenizer)
    rows = read_json_lines(path, training, skip_invalid)
    sources = _to_ids(tokenizer, [row.src for row in rows])
    has_targets = bool(rows) and rows[0].tgt is not None
    targets = (_to_ids(tokenizer, [row.tgt for row in rows]) if has_targets
               else [None] * len(rows))
    keep = config.max_source_seq_length - 2
    built = Built([[cls_id] + ids[:keep] + [sep_id] for ids in sources],
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
