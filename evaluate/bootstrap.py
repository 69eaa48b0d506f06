"""Paired bootstrap over dialogues, for `python -m evaluate.compare` (numpy, imported lazily).

Decision rule: one resample draws as many dialogues as the group of turns has, uniformly
with replacement, and the same draw is used for every run (paired). A run's score on it is
the turn-weighted mean (sum of the drawn dialogues' turn scores / their number of turns),
as the tables compute it. The interval of a run is the central `confidence` share of its
resampled differences to the first run (percentile method, numpy's linear interpolation).
Dialogues, not turns, are drawn because the turns of one dialogue are not independent.

Groups of runs (a sweep: one run per seed), `seed_intervals`: each resample also draws, for
each group independently, as many of its seeds as it has, with replacement; the group's
score is the mean over the drawn seeds of their turn-weighted scores on the drawn
dialogues, and the interval is that of the group's score minus the first group's. A group
of one seed draws no seeds (no random numbers), so with one seed per group the intervals
are exactly `paired_intervals`' for the same generator seed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Optional, Sequence, Tuple


@dataclass(frozen=True)
class BootstrapConfig:
    """resamples: how many; seed: of numpy's default generator; confidence: interval
    width; chunk: resamples drawn at once (bounds memory, paces the progress bar)."""

    resamples: int = 1000
    seed: int = 0
    confidence: float = 0.95
    chunk: int = 250

    def __post_init__(self) -> None:
        if self.resamples < 1:
            raise ValueError(f"resamples must be at least 1, not {self.resamples}")
        if not 0.0 < self.confidence < 1.0:
            raise ValueError(f"confidence must be between 0 and 1, not {self.confidence}")
        if self.chunk < 1:
            raise ValueError(f"chunk must be at least 1, not {self.chunk}")


def resample_counts(rng, dialogues: int, resamples: int):
    """(resamples, dialogues) int array: how often each dialogue is drawn in each resample."""
    import numpy as np

    drawn = rng.integers(0, dialogues, size=(resamples, dialogues))
    offsets = np.arange(resamples)[:, None] * dialogues
    return np.bincount((drawn + offsets).ravel(),
                       minlength=resamples * dialogues).reshape(resamples, dialogues)


def resampled_means(sums, turns, counts):
    """(resamples, columns) turn-weighted means from per-dialogue score sums
    (dialogues, columns), turn counts (dialogues,) and draw counts (resamples, dialogues)."""
    return (counts @ sums) / (counts @ turns)[:, None]


def percentile_interval(diffs, confidence: float):
    """(low, high) arrays, one entry per column of `diffs` (resamples, columns)."""
    import numpy as np

    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(diffs, [tail, 100 - tail], axis=0)
    return low, high


def group_sums(scores, dialogue_of_turn, turn_index):
    """Per-dialogue sums over the turns `turn_index` of `scores` (runs, turns, metrics):
    (sums (dialogues, runs * metrics), turns (dialogues,)), only dialogues with such turns."""
    import numpy as np

    dialogues = dialogue_of_turn[turn_index]
    present, local = np.unique(dialogues, return_inverse=True)
    picked = scores[:, turn_index, :]                    # (runs, group turns, metrics)
    flat = picked.transpose(1, 0, 2).reshape(len(turn_index), -1)  # (group turns, runs*metrics)
    sums = np.zeros((len(present), flat.shape[1]))
    np.add.at(sums, local, flat)
    return sums, np.bincount(local, minlength=len(present)).astype(float)


def paired_intervals(scores, dialogue_of_turn, groups: Sequence[Tuple[str, Sequence[int]]],
                     config: BootstrapConfig,
                     advance: Optional[Callable[[int], None]] = None) -> Dict[str, Tuple]:
    """{group name: (low, high)} for each group with turns; low and high are
    (runs, metrics) arrays of interval ends of the difference to run 0 (row 0 is 0).

    `scores` is (runs, turns, metrics) per-turn scores, `dialogue_of_turn` the dialogue
    index of each turn, `groups` (name, turn indices) pairs. `advance(n)` is called as
    resamples are done (the progress bar). One generator seeded once serves every group.
    """
    import numpy as np

    rng = np.random.default_rng(config.seed)
    runs, _, metrics = scores.shape
    intervals: Dict[str, Tuple] = {}
    for name, turn_index in groups:
        if len(turn_index) == 0:
            continue
        sums, turns = group_sums(scores, dialogue_of_turn, np.asarray(turn_index))
        diffs = []
        for start in range(0, config.resamples, config.chunk):
            size = min(config.chunk, config.resamples - start)
            means = resampled_means(sums, turns, resample_counts(rng, len(turns), size))
            means = means.reshape(size, runs, metrics)
            diffs.append(means - means[:, :1, :])
            if advance is not None:
                advance(size)
        low, high = percentile_interval(np.concatenate(diffs).reshape(config.resamples, -1),
                                        config.confidence)
        intervals[name] = (low.reshape(runs, metrics), high.reshape(runs, metrics))
    return intervals


def seed_intervals(scores: Sequence, dialogue_of_turn, groups: Sequence[Tuple[str, Sequence[int]]],
                   config: BootstrapConfig,
                   advance: Optional[Callable[[int], None]] = None) -> Dict[str, Tuple]:
    """As `paired_intervals` for groups of runs: `scores` holds one (seeds, turns, metrics)
    array per run group, the first the baseline; low and high are (groups, metrics)
    interval ends of the difference of the seed means to group 0 (see the module
    docstring for the rule)."""
    import numpy as np

    rng = np.random.default_rng(config.seed)
    sizes = [len(group) for group in scores]
    stacked = np.concatenate(list(scores))              # (all seeds, turns, metrics)
    metrics = stacked.shape[2]
    starts = np.cumsum([0] + sizes[:-1])
    intervals: Dict[str, Tuple] = {}
    for name, turn_index in groups:
        if len(turn_index) == 0:
            continue
        sums, turns = group_sums(stacked, dialogue_of_turn, np.asarray(turn_index))
        diffs = []
        for start in range(0, config.resamples, config.chunk):
            size = min(config.chunk, config.resamples - start)
            means = resampled_means(sums, turns, resample_counts(rng, len(turns), size))
            means = means.reshape(size, len(stacked), metrics)  # (resamples, all seeds, metrics)
            stats = []
            for first, seeds in zip(starts, sizes):
                block = means[:, first:first + seeds, :]   # (resamples, seeds, metrics)
                if seeds > 1:
                    weights = resample_counts(rng, seeds, size)  # (resamples, seeds)
                    block = (weights[:, :, None] * block).sum(axis=1, keepdims=True) / seeds
                stats.append(block[:, 0, :])            # (resamples, metrics)
            stats = np.stack(stats, axis=1)             # (resamples, groups, metrics)
            diffs.append(stats - stats[:, :1, :])
            if advance is not None:
                advance(size)
        low, high = percentile_interval(np.concatenate(diffs).reshape(config.resamples, -1),
                                        config.confidence)
        intervals[name] = (low.reshape(len(sizes), metrics), high.reshape(len(sizes), metrics))
    return intervals
