"""Logits to answer text for the extractive model (numpy only: no torch, no model).

The model scores, per feature, the classes [yes, no, unknown, sequence position 0, 1, ...]
for the start and the end (see coqa.features). An example (one turn) may have several
features, one per passage window. Its candidates are

- yes / no / unknown, scored start[k] + end[k]. Over several features each special score
  is the MAX over the features by default (`special_reduce="max"`): a yes / no decided
  in the window that holds the evidence should win. Note that windows not holding the
  gold span are trained as unknown, so "max" favours unknown on long passages;
  `special_reduce="min"` (as Hugging Face's SQuAD v2 post-processing does for its null
  score) is the alternative.
- passage spans: the `n_best_size` best start and end tokens among the window tokens of
  each feature, end >= start, at most `max_answer_length` tokens, scored start + end.

The best candidate wins. A span's text is the passage's characters from its first
token's start offset to its last token's end offset, so nothing is inserted between
Chinese characters.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Tuple

import numpy as np

from evaluate.answer_kinds import NO_TEXT, UNKNOWN_TEXT, YES_TEXT

NUM_SPECIAL = 3  # classes 0 yes, 1 no, 2 unknown; 3 + j is sequence position j
SPECIAL_CANDIDATES = (("yes", YES_TEXT), ("no", NO_TEXT), ("unknown", UNKNOWN_TEXT))
SPECIAL_REDUCE = ("max", "min")


@dataclass(frozen=True)
class PostprocessConfig:
    n_best_size: int = 20        # start / end tokens tried per feature; n-best list length
    max_answer_length: int = 30  # longest span answer, in tokens
    special_reduce: str = "max"  # how yes / no / unknown scores combine over features

    def __post_init__(self):
        if self.n_best_size < 1 or self.max_answer_length < 1:
            raise ValueError(f"n_best_size ({self.n_best_size}) and max_answer_length "
                             f"({self.max_answer_length}) must be at least 1")
        if self.special_reduce not in SPECIAL_REDUCE:
            raise ValueError(f"special_reduce must be one of {SPECIAL_REDUCE}, "
                             f"got {self.special_reduce!r}")


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores, best first."""
    if k >= len(scores):
        return np.argsort(-scores, kind="stable")
    top = np.argpartition(-scores, k - 1)[:k]
    return top[np.argsort(-scores[top], kind="stable")]


def span_candidates(start_logits: np.ndarray, end_logits: np.ndarray, offsets: np.ndarray,
                    config: PostprocessConfig) -> List[Tuple[float, int, int]]:
    """(score, start position, end position) of the n_best best valid spans of one feature.

    `start_logits` / `end_logits` (3 + L,) and `offsets` (L, 2); positions are sequence
    positions, only those with offset != -1 (window tokens) are candidates.
    """
    length = len(start_logits) - NUM_SPECIAL
    window = np.flatnonzero(offsets[:length, 0] >= 0)
    if len(window) == 0:
        return []
    k = min(config.n_best_size, len(window))
    starts = window[_top_k(start_logits[NUM_SPECIAL + window], k)]
    ends = window[_top_k(end_logits[NUM_SPECIAL + window], k)]
    scores = start_logits[NUM_SPECIAL + starts][:, None] + end_logits[NUM_SPECIAL + ends][None, :]
    span = ends[None, :] - starts[:, None]  # (k, k) tokens - 1
    valid = (span >= 0) & (span < config.max_answer_length)
    rows, cols = np.nonzero(valid)
    # Only the n_best best pairs of a feature can reach the example's n-best list.
    keep = _top_k(scores[rows, cols], min(config.n_best_size, len(rows)))
    rows, cols = rows[keep], cols[keep]
    return [(float(s), int(a), int(b))
            for s, a, b in zip(scores[rows, cols], starts[rows], ends[cols])]


def concat_logits(batches: List[np.ndarray], fill: float = -1e4) -> np.ndarray:
    """One (N, 3 + L') array from dynamically padded batches (b_i, 3 + l_i), each padded
    on the right with `fill` to the widest; positions past a feature's end are never
    candidates, so the fill value only has to be a number."""
    width = max((batch.shape[1] for batch in batches), default=NUM_SPECIAL)
    out = np.full((sum(len(batch) for batch in batches), width), fill, dtype=np.float32)
    row = 0
    for batch in batches:
        out[row:row + len(batch), :batch.shape[1]] = batch
        row += len(batch)
    return out


def predict_answers(start_logits: np.ndarray, end_logits: np.ndarray, features: Any,
                    config: PostprocessConfig = PostprocessConfig()
                    ) -> Tuple[List[Dict[str, Any]], Dict[str, List[Dict[str, Any]]]]:
    """Predictions in the evaluator's format and the n-best lists.

    `start_logits` / `end_logits` (N, 3 + L') with L' <= L, for the N features of
    `features` (a coqa.features.FeatureSet, or anything with its `example_index` (N,),
    `token_offsets` (N, L, 2), `examples` and `passages`). Positions past a feature's real
    length are ignored, so logits of dynamically padded batches may be padded with any value.

    Returns `[{"id": dialogue id, "turn_id": int, "answer": str}]` in example order (only
    examples that have features) and `{"<id>_<turn_id>": [{"text", "score", "kind"}]}`,
    best first, at most n_best_size entries, each distinct answer once.
    """
    start_logits = np.asarray(start_logits, dtype=np.float64)
    end_logits = np.asarray(end_logits, dtype=np.float64)
    example_index = np.asarray(features.example_index)
    offsets = np.asarray(features.token_offsets)
    count = len(example_index)
    if start_logits.shape != end_logits.shape or start_logits.ndim != 2 \
            or len(start_logits) != count:
        raise ValueError(f"start logits {start_logits.shape} and end logits {end_logits.shape} "
                         f"must both be (features={count}, 3 + sequence length)")
    if start_logits.shape[1] - NUM_SPECIAL > offsets.shape[1]:
        raise ValueError(f"logits cover {start_logits.shape[1] - NUM_SPECIAL} positions but "
                         f"the features have only {offsets.shape[1]}")
    reduce = np.maximum if config.special_reduce == "max" else np.minimum

    predictions: List[Dict[str, Any]] = []
    nbest: Dict[str, List[Dict[str, Any]]] = {}
    # Features of one example are contiguous; stable sort keeps them in order regardless.
    order = np.argsort(example_index, kind="stable")
    bounds = np.flatnonzero(np.diff(example_index[order])) + 1
    for group in np.split(order, bounds) if count else []:
        record = features.examples[int(example_index[group[0]])]
        passage = features.passages[record.passage_index]
        special = None
        spans: Dict[Tuple[int, int], float] = {}  # (char start, char end) -> best score
        for feature in group:
            scores = start_logits[feature, :NUM_SPECIAL] + end_logits[feature, :NUM_SPECIAL]
            special = scores if special is None else reduce(special, scores)
            feature_offsets = offsets[feature]
            for score, first, last in span_candidates(start_logits[feature], end_logits[feature],
                                                      feature_offsets, config):
                chars = int(feature_offsets[first, 0]), int(feature_offsets[last, 1])
                if score > spans.get(chars, -np.inf):
                    spans[chars] = score
        candidates = [(float(score), kind, text)
                      for score, (kind, text) in zip(special, SPECIAL_CANDIDATES)]
        candidates += [(score, "span", passage[a:b]) for (a, b), score in spans.items()]
        candidates.sort(key=lambda c: -c[0])  # stable: ties keep yes, no, unknown, spans order
        best, seen = [], set()
        for score, kind, text in candidates:
            if (kind, text) in seen:
                continue
            seen.add((kind, text))
            best.append({"text": text, "score": score, "kind": kind})
            if len(best) == config.n_best_size:
                break
        predictions.append({"id": str(record.dialogue_id), "turn_id": int(record.turn_id),
                            "answer": best[0]["text"]})
        nbest[f"{record.dialogue_id}_{record.turn_id}"] = best
    return predictions, nbest
