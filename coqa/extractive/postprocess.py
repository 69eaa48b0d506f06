"""Logits to answer text for the extractive model (numpy only: no torch, no model).

The model scores, per feature, the classes [yes, no, unknown, sequence position 0, 1, ...]
for the start and the end (see coqa.extractive.features). An example (one turn) may have several
features, one per passage window. The decision rule, as the old transformers-coqa
`coqa_metrics.py` made it:

- yes / no / unknown are scored start[k] + end[k]. Over the features of a turn, yes and no
  take their MAXIMUM (the window holding the evidence decides) and unknown its MINIMUM
  (`null_score_reduce="min"`): every window that lacks the answer span is trained as
  unknown, so on a passage of several windows only the window holding the span says "not
  unknown", and the maximum would answer 无法作答 for nearly every long passage.
  `null_score_reduce="max"` is the alternative.
- passage spans: the `n_best_size` best start and end tokens among the window tokens of
  each feature, end >= start, at most `max_answer_length` tokens, scored start + end. With
  `max_context_only` (off by default: it cost 0.4-1.4 F1 in every run measured, see
  docs/MODEL.md) a span may start only at a token of the window in
  which that token has the most context, min(tokens left, tokens right) + 0.01 * window
  length, the first such window on a tie (the old `token_is_max_context`); this is
  computed once for the whole feature set.

The best candidate wins, with one setting, `null_score_diff_threshold` (as in Hugging Face's
run_qa.py, 0 by default): 无法作答 wins when its score minus the best other candidate's
score is above the threshold, and the best other candidate otherwise. Ties keep the
order of the default: 是的 and 不是 before 无法作答, 无法作答 before a span (with the
threshold 0 the rule is exactly "the best candidate wins"). A positive threshold answers
无法作答 less often, a negative one more often; `--do_eval` reports the threshold that
would have been best on the dev file (coqa.extractive.threshold).

Each turn's n-best list holds the n_best_size best candidates in that decision order, then
any of 是的 / 不是 / 无法作答 and the best candidate other than 无法作答 that fell outside
them, in the same order: so every list has the three class scores (chat's probabilities)
and the unknown-minus-best-other difference (`null_score_diff`, the threshold search).

A span's text is the passage's characters from its first
token's start offset to its last token's end offset, so nothing is inserted between
Chinese characters; its n-best entry also holds that character range as `offsets`
[start, end) (predicted history marks it in the passage, coqa.extractive.history_marks).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from coqa.data.errors import ConfigError
from coqa.extractive.labels import CLASS_TEXT, NUM_SPECIAL, SPECIAL_NAMES

SPECIAL_CANDIDATES = tuple(zip(SPECIAL_NAMES, (CLASS_TEXT[c] for c in range(NUM_SPECIAL))))
NULL_SCORE_REDUCE = ("min", "max")


@dataclass(frozen=True)
class PostprocessConfig:
    n_best_size: int = 20          # start / end tokens tried per feature; n-best list length
    max_answer_length: int = 30    # longest span answer, in tokens
    null_score_reduce: str = "min"  # how the unknown score combines over a turn's features
    max_context_only: bool = False  # spans start only where their token has most context
    # 无法作答 wins when its score minus the best other candidate's is above this.
    null_score_diff_threshold: float = 0.0

    def __post_init__(self):
        if self.n_best_size < 1 or self.max_answer_length < 1:
            raise ConfigError(f"n_best_size ({self.n_best_size}) and max_answer_length "
                             f"({self.max_answer_length}) must be at least 1")
        if self.null_score_reduce not in NULL_SCORE_REDUCE:
            raise ConfigError(f"null_score_reduce must be one of {', '.join(NULL_SCORE_REDUCE)}, "
                             f"got {self.null_score_reduce!r}")
        if not np.isfinite(self.null_score_diff_threshold):
            raise ConfigError(f"null_score_diff_threshold must be a finite number, "
                             f"got {self.null_score_diff_threshold!r}")


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores, best first."""
    if k >= len(scores):
        return np.argsort(-scores, kind="stable")
    top = np.argpartition(-scores, k - 1)[:k]
    return top[np.argsort(-scores[top], kind="stable")]


def max_context_mask(example_index: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """(N, L) bool: True where the window token at that position has, among all the windows
    of its turn, the most context: min(window tokens left of it, right of it) + 0.01 *
    window length; on a tie the first window. A passage token is known by its character
    range, which is the same in every window that holds it (passages up to 2 million
    characters)."""
    valid = offsets[:, :, 0] >= 0  # (N, L)
    rank = np.cumsum(valid, axis=1) - 1  # (N, L) position inside the window
    length = valid.sum(axis=1, keepdims=True)  # (N, 1)
    # 100 * (context + 0.01 * length), exactly, in integers.
    score = np.minimum(rank, length - 1 - rank) * 100 + length  # (N, L)
    feature, position = np.nonzero(valid)
    chars = offsets[feature, position].astype(np.int64)  # (T, 2)
    # One int64 per token (example, char start, char end), one per candidate window
    # (best score first, then the first feature); the first row of each token wins.
    token = (np.asarray(example_index, dtype=np.int64)[feature] << 42) | (chars[:, 0] << 21) \
        | chars[:, 1]
    preference = ((1 << 30) - score[feature, position].astype(np.int64)) << 32 | feature
    order = np.lexsort((preference, token))
    sorted_token = token[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = sorted_token[1:] != sorted_token[:-1]
    mask = np.zeros(valid.shape, dtype=bool)
    mask[feature[order[first]], position[order[first]]] = True
    return mask


def span_candidates(start_logits: np.ndarray, end_logits: np.ndarray, offsets: np.ndarray,
                    config: PostprocessConfig, may_start: np.ndarray | None = None
                    ) -> List[Tuple[float, int, int]]:
    """(score, start position, end position) of the n_best best valid spans of one feature.

    `start_logits` / `end_logits` (3 + L,) and `offsets` (L, 2); positions are sequence
    positions, only those with offset != -1 (window tokens) are candidates, and a span
    starts only where `may_start` (L,) is True when it is given.
    """
    length = len(start_logits) - NUM_SPECIAL
    window = np.flatnonzero(offsets[:length, 0] >= 0)
    allowed = window if may_start is None else window[may_start[window]]
    if len(allowed) == 0:
        return []
    starts = allowed[_top_k(start_logits[NUM_SPECIAL + allowed],
                            min(config.n_best_size, len(allowed)))]
    ends = window[_top_k(end_logits[NUM_SPECIAL + window], min(config.n_best_size, len(window)))]
    scores = start_logits[NUM_SPECIAL + starts][:, None] + end_logits[NUM_SPECIAL + ends][None, :]
    span = ends[None, :] - starts[:, None]  # (k, k) tokens - 1
    valid = (span >= 0) & (span < config.max_answer_length)
    rows, cols = np.nonzero(valid)
    # Only the n_best best pairs of a feature can reach the example's n-best list.
    keep = _top_k(scores[rows, cols], min(config.n_best_size, len(rows)))
    rows, cols = rows[keep], cols[keep]
    return [(float(s), int(a), int(b))
            for s, a, b in zip(scores[rows, cols], starts[rows], ends[cols])]


def predict_answers(start_logits: np.ndarray, end_logits: np.ndarray, features: Any,
                    config: PostprocessConfig = PostprocessConfig()
                    ) -> Tuple[List[Dict[str, Any]], Dict[str, List[Dict[str, Any]]]]:
    """Predictions in the evaluator's format and the n-best lists.

    `start_logits` / `end_logits` (N, 3 + L') with L' <= L, for the N features of
    `features` (a coqa.extractive.features.FeatureSet, or anything with its `example_index` (N,),
    `token_offsets` (N, L, 2), `examples` and `passages`). Positions past a feature's real
    length are ignored, so logits of dynamically padded batches may be padded with any value.

    Returns `[{"id": dialogue id, "turn_id": int, "answer": str}]` in example order (only
    examples that have features) and `{"<id>_<turn_id>": [{"text", "score", "kind"}]}`
    (span entries also hold `"offsets": [start, end]`, their characters in the passage),
    in decision order (the answer first), each distinct answer once: the n_best_size best,
    then the class answers and the best other answer that fell outside them (module
    docstring).
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
    # yes and no: maximum over the windows; unknown: per null_score_reduce.
    reduce_unknown = np.maximum if config.null_score_reduce == "max" else np.minimum
    may_start = max_context_mask(example_index, offsets) if config.max_context_only and count \
        else None

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
            if special is None:
                special = scores
            else:
                special = np.concatenate([np.maximum(special[:2], scores[:2]),
                                          reduce_unknown(special[2:], scores[2:])])
            feature_offsets = offsets[feature]
            for score, first, last in span_candidates(
                    start_logits[feature], end_logits[feature], feature_offsets, config,
                    None if may_start is None else may_start[feature]):
                chars = int(feature_offsets[first, 0]), int(feature_offsets[last, 1])
                if score > spans.get(chars, -np.inf):
                    spans[chars] = score
        candidates = [(float(score), kind, text, None)
                      for score, (kind, text) in zip(special, SPECIAL_CANDIDATES)]
        candidates += [(score, "span", passage[a:b], (a, b)) for (a, b), score in spans.items()]
        best = _nbest(candidates, config)
        predictions.append({"id": str(record.dialogue_id), "turn_id": int(record.turn_id),
                            "answer": best[0]["text"]})
        nbest[f"{record.dialogue_id}_{record.turn_id}"] = best
    return predictions, nbest


def _nbest(candidates: List[Tuple[float, str, str, Optional[Tuple[int, int]]]],
           config: PostprocessConfig) -> List[Dict[str, Any]]:
    """One turn's n-best list (see `predict_answers`) from its (score, kind, text,
    character range or None) candidates, the class answers first in class order and then
    the spans; the same text at two places keeps the better scored one."""
    # The decision order: by score, 无法作答's lowered by the threshold; the stable sort
    # keeps yes, no, unknown, spans on a tie, so the threshold 0 is "the best wins".
    threshold = config.null_score_diff_threshold
    candidates = sorted(candidates, key=lambda c: -(c[0] - threshold if c[1] == "unknown"
                                                     else c[0]))
    best: List[Dict[str, Any]] = []
    seen, classes, have_other = set(), 0, False
    for score, kind, text, chars in candidates:
        if (kind, text) in seen:
            continue
        # Always kept: the class answers, and the first answer other than 无法作答.
        needed = kind != "span" or not have_other
        if len(best) < config.n_best_size or needed:
            seen.add((kind, text))
            entry = {"text": text, "score": score, "kind": kind}
            if chars is not None:
                entry["offsets"] = [int(chars[0]), int(chars[1])]
            best.append(entry)
            classes += kind != "span"
            have_other = have_other or kind != "unknown"
        if len(best) >= config.n_best_size and have_other and classes == NUM_SPECIAL:
            break
    return best


def null_score_diff(nbest: Sequence[Dict[str, Any]]) -> Tuple[float, Dict[str, Any], Dict[str, Any]]:
    """(score of 无法作答 minus the best other candidate's, the 无法作答 entry, the best
    other entry) of one turn's n-best list as `predict_answers` writes it. The turn's
    answer is 无法作答 exactly when the difference is above the threshold (or equal to it
    and the best other candidate is a span)."""
    unknown = next(entry for entry in nbest if entry["kind"] == "unknown")
    other = next(entry for entry in nbest if entry["kind"] != "unknown")
    return unknown["score"] - other["score"], unknown, other


def answer_offsets(nbest: Sequence[Dict[str, Any]], answer: str) -> Optional[Tuple[int, int]]:
    """The character range [start, end) of `answer` in the passage: that of the first
    span entry of its n-best list with this text; None for 是的, 不是, 无法作答 and any
    answer the list does not hold as a span."""
    for entry in nbest:
        if entry["kind"] == "span" and entry["text"] == answer and "offsets" in entry:
            return int(entry["offsets"][0]), int(entry["offsets"][1])
    return None
