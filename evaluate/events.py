"""Scalars from a run's TensorBoard event files (`runs/`), read with tensorboard's own
EventAccumulator (imported lazily: only `evaluate.compare` needs it).

The training loop (tensorboardX) logs `loss`, `lr`, `seq_per_sec`, `tokens_per_sec` and,
with --evaluate_during_training, `eval/em` and `eval/f1`; older scripts used other names,
so each curve has a few accepted tags. A resumed run writes a new event file that starts
at the resumed step: its points replace the older file's from that step on, as
TensorBoard's own purge of orphaned data does.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

Curve = List[Tuple[int, float]]  # (step, value), by step

CURVE_TAGS: Dict[str, Tuple[str, ...]] = {
    "loss": ("loss", "train/loss", "train_loss"),
    "learning rate": ("lr", "learning_rate", "train/lr", "train/learning_rate"),
    "dev F1": ("eval/f1", "eval_f1", "dev/f1", "f1"),
}
_STAMP = re.compile(r"tfevents\.(\d+)")


def event_files(runs_dir: Path) -> List[Path]:
    """Every event file under runs_dir (sub-folders too), oldest first by the time stamp
    in its name (the creation time tensorboardX writes there)."""
    files = [p for p in runs_dir.rglob("*") if p.is_file() and "tfevents" in p.name]

    def stamp(path: Path) -> Tuple[int, str]:
        match = _STAMP.search(path.name)
        return (int(match.group(1)) if match else 0, str(path))
    return sorted(files, key=stamp)


def _file_scalars(path: Path) -> Dict[str, Curve]:
    from tensorboard.backend.event_processing import event_accumulator

    accumulator = event_accumulator.EventAccumulator(
        str(path), size_guidance={event_accumulator.SCALARS: 0})  # 0: keep every point
    accumulator.Reload()
    return {tag: [(event.step, float(event.value)) for event in accumulator.Scalars(tag)]
            for tag in accumulator.Tags()[event_accumulator.SCALARS]}


def read_scalars(runs_dir: Path) -> Dict[str, Curve]:
    """{tag: [(step, value)]} merged over the event files of runs_dir; {} when there are
    none. Unreadable files raise OSError; a truncated one (kill -9) gives what it holds."""
    merged: Dict[str, Curve] = {}
    for path in event_files(runs_dir):
        for tag, points in _file_scalars(path).items():
            if not points:
                continue
            first = min(step for step, _ in points)
            kept = [point for point in merged.get(tag, []) if point[0] < first]
            merged[tag] = sorted(kept + points, key=lambda point: point[0])
    return merged


def pick_curves(scalars: Dict[str, Curve],
                wanted: Dict[str, Sequence[str]] = CURVE_TAGS) -> Dict[str, Curve]:
    """{curve name: points} for each curve whose first accepted tag is present."""
    picked = {}
    for name, tags in wanted.items():
        for tag in tags:
            if scalars.get(tag):
                picked[name] = scalars[tag]
                break
    return picked
