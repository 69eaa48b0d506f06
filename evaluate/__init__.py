"""Per-domain EM/F1 of conversational QA predictions (ConvQA_CN v3.0 or CoQA v1.0 gold).

    python -m evaluate --data-file GOLD --pred-file PRED [--out-file OUT] [--breakdown]
    evaluate.evaluate_files(GOLD, PRED, evaluate.EvalConfig(breakdown=True))
    python -m evaluate.compare GOLD RUN_DIR_OR_PRED_FILE... [--out DIR]

Official CoQA algorithm (leave-one-out over multiple golds, turn-weighted domain means,
every listed domain reported). Text comparison: the official CoQA words for English CoQA
v1.0 files, the ConvQA_CN one (Chinese scored character by character) otherwise. The core
modules are standard library only: they score any prediction file without the rest of the
toolkit; evaluate.compare and its helpers import numpy, matplotlib and tensorboard lazily.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional, TextIO

from evaluate.answer_kinds import NO_TEXT, UNKNOWN_TEXT, YES_TEXT, classify_special
from evaluate.errors import EvalInputError
from evaluate.gold import GoldData, GoldTurn, read_gold
from evaluate.predictions import Predictions, read_predictions
from evaluate.scoring import EvalConfig, ScoredTurn, score, score_with_turns, turn_score
from evaluate.text import basic_tokenize, exact_match, f1_score, normalize_answer

__all__ = [
    "EvalConfig", "EvalInputError", "GoldData", "GoldTurn", "NO_TEXT", "Predictions",
    "ScoredTurn", "UNKNOWN_TEXT", "YES_TEXT", "basic_tokenize", "classify_special",
    "evaluate_files", "exact_match", "f1_score", "normalize_answer", "read_gold",
    "read_predictions", "score", "score_with_turns", "turn_score",
]


def evaluate_files(data_file: str | Path, pred_file: str | Path,
                   config: Optional[EvalConfig] = None,
                   warn: Optional[TextIO] = None,
                   official_gold_checks: bool = False) -> Dict[str, object]:
    """Score a prediction file (`[{"id", "turn_id", "answer"}]`) against a gold file.

    Raises EvalInputError (message: one line naming the file) for unusable input, by
    default also for duplicate dialogue ids and zero-based turn ids (`official_gold_checks`:
    warn and score them as the official CoQA script does, see `read_gold`); warnings such
    as missing predictions go to `warn` (default: sys.stderr).
    """
    gold = read_gold(data_file, official_gold_checks=official_gold_checks)
    return score(gold, read_predictions(pred_file), config, warn)
