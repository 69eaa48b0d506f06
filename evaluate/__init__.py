"""Per-domain EM/F1 for CoQA-format data: `python -m evaluate` or `evaluate_files(...)`.

Works on any prediction file; imports nothing from the rest of the toolkit.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Dict, Mapping, TextIO

from evaluate.gold import EvalInputError, GoldTurn, read_gold, read_predictions
from evaluate.scoring import EvalConfig, aggregate, score_turns, turn_score

__all__ = ["EvalConfig", "EvalInputError", "evaluate_files", "score", "turn_score"]


def score(file_format: str, gold: list[GoldTurn], predictions: Mapping[tuple, str],
          config: EvalConfig = EvalConfig(), warn: TextIO = sys.stderr) -> Dict[str, object]:
    """Results dict for already-read gold turns and {(id, turn_id): answer} predictions."""
    gold_keys = {turn.key for turn in gold}
    extra = sum(1 for key in predictions if key not in gold_keys)
    if extra:
        warn.write(f"{extra} prediction(s) for turns not in the gold file were ignored\n")
    return aggregate(file_format, score_turns(gold, predictions, config, warn), config)


def evaluate_files(data_file: str | Path, pred_file: str | Path,
                   config: EvalConfig = EvalConfig(), warn: TextIO = sys.stderr) -> Dict[str, object]:
    """Score a prediction file (`[{"id", "turn_id", "answer"}]`) against a gold file."""
    file_format, gold = read_gold(data_file)
    return score(file_format, gold, read_predictions(pred_file), config, warn)
