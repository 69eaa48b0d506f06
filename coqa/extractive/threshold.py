"""The no-answer threshold that would have been best on a scored file (numpy only), as
SQuAD v2's official script reports it (`best_f1`, `best_f1_thresh`, `best_exact`,
`best_exact_thresh`).

Post-processing answers 无法作答 when its score minus the best other candidate's (the turn's
`null_score_diff`) is above `null_score_diff_threshold` (coqa.extractive.postprocess). So
each turn has two possible answers, and every threshold gives each turn one of them:
无法作答 below its difference, the best other answer from its difference up. The
evaluator scores both answers of every turn once (`evaluate.score_with_turns`: the metric
is not reimplemented here); the search sorts the differences once and sweeps them,
adding each turn's change of score as the threshold passes it (one cumulative sum).

Every threshold strictly between two neighbouring differences gives the same answers. The
reported threshold is a point inside the best such interval (best score; on a tie, the
interval nearest 0): 0 when the interval holds it, else its midpoint, or one past its
end for the intervals below the lowest and above the highest difference. Choosing a point
inside, never a difference itself, makes the score reproducible: passing the threshold
back with --null_score_diff_threshold gives exactly that score on that file.
"""
from __future__ import annotations

import io
from typing import Any, Dict, Mapping, Sequence, Tuple

import numpy as np

from coqa.extractive.postprocess import null_score_diff

Nbest = Mapping[str, Sequence[Dict[str, Any]]]


def best_threshold(diffs: np.ndarray, gains: np.ndarray, base: float) -> Tuple[float, float]:
    """(best total score, its threshold) for turns with score differences `diffs` (N,),
    where a turn adds `gains[i]` (its score with the best other answer minus its score
    with 无法作答) to the total `base` (every turn answered 无法作答) once the threshold is
    at or above `diffs[i]`. Sorts once; O(N log N)."""
    diffs = np.asarray(diffs, dtype=np.float64)
    gains = np.asarray(gains, dtype=np.float64)
    if len(diffs) == 0:
        return float(base), 0.0
    order = np.argsort(diffs, kind="stable")
    sorted_diffs = diffs[order]
    totals = base + np.cumsum(gains[order])  # (N,) total once the threshold passes turn k
    # One state per distinct difference: the threshold just above it, all equal ones passed.
    last = np.flatnonzero(np.append(sorted_diffs[1:] != sorted_diffs[:-1], True))
    scores = np.concatenate([[base], totals[last]])  # (G + 1,): below every difference first
    low = np.concatenate([[-np.inf], sorted_diffs[last]])
    high = np.append(sorted_diffs[last], np.inf)
    # Distance of each open interval (low, high) to 0; 0 when it holds 0.
    distance = np.where(low >= 0, low, np.where(high <= 0, -high, 0.0))
    # Best score, then nearest to 0, then the lowest threshold.
    pick = np.lexsort((np.arange(len(scores)), distance, -scores))[0]
    lo, hi = low[pick], high[pick]
    if lo < 0 < hi:
        point = 0.0
    elif np.isinf(lo):
        point = hi - 1.0
    elif np.isinf(hi):
        point = lo + 1.0
    else:
        point = (lo + hi) / 2
    return float(scores[pick]), float(point)


Key = Tuple[str, int]


def turn_differences(predictions: Sequence[Dict[str, Any]], nbest: Nbest
                     ) -> Tuple[np.ndarray, Dict[Key, str], Dict[Key, str]]:
    """Per predicted turn, in the order of {(id, turn_id): answer} with 无法作答 and with the
    best other answer (from the n-best lists): the score differences (N,)."""
    unknown: Dict[Key, str] = {}
    other: Dict[Key, str] = {}
    diffs: Dict[Key, float] = {}
    for prediction in predictions:  # a repeated turn keeps its last, as the evaluator
        key = (str(prediction["id"]), int(prediction["turn_id"]))
        diffs[key], unknown_entry, other_entry = null_score_diff(
            nbest[f"{prediction['id']}_{prediction['turn_id']}"])
        unknown[key], other[key] = unknown_entry["text"], other_entry["text"]
    return np.array([diffs[key] for key in unknown], dtype=np.float64), unknown, other


def threshold_search(gold_file: str, predictions: Sequence[Dict[str, Any]],
                     nbest: Nbest) -> Dict[str, float]:
    """`best_f1`, `best_f1_thresh`, `best_exact`, `best_exact_thresh` of the predictions
    against the gold file: overall scores (x 100, rounded as the evaluator's tables) over
    every gold turn, a turn without a prediction scoring 0 as in the evaluator."""
    from evaluate import read_gold, score_with_turns

    gold = read_gold(gold_file)
    diffs, unknown, other = turn_differences(predictions, nbest)
    quiet = io.StringIO()  # the evaluation proper has reported the file's oddities
    _, with_unknown = score_with_turns(gold, unknown, warn=quiet, list_missing=False)
    _, with_other = score_with_turns(gold, other, warn=quiet, list_missing=False)
    row = {turn.key: i for i, turn in enumerate(gold.turns)}
    index = np.array([row.get(key, -1) for key in unknown], dtype=np.int64)
    found = index >= 0  # predictions for turns not in the gold file count for nothing
    results: Dict[str, float] = {}
    for name, field in (("f1", "f1"), ("exact", "em")):
        null_scores = np.array([getattr(t, field) for t in with_unknown])  # (turns,)
        other_scores = np.array([getattr(t, field) for t in with_other])
        gains = other_scores[index[found]] - null_scores[index[found]]
        # Turns without a prediction score 0 with either answer (missing in both).
        base = float(null_scores.sum())
        total, point = best_threshold(diffs[found], gains, base)
        results[f"best_{name}"] = round(total / max(1, len(gold.turns)) * 100, 1)
        results[f"best_{name}_thresh"] = point
    return results
