"""Per-domain EM/F1 of conversational QA predictions (ConvQA_CN v3.0 or CoQA v1.0 gold).

    python -m evaluate --data-file GOLD --pred-file PRED [--out-file OUT] [--breakdown]
    evaluate.evaluate_files(GOLD, PRED, evaluate.EvalConfig(breakdown=True))

Official CoQA algorithm (leave-one-out over multiple golds, turn-weighted domain means),
with the ConvQA_CN text comparison (Chinese scored character by character). Standard
library only: it scores any prediction file without the rest of the toolkit.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional, TextIO

from evaluate.answer_kinds import NO_TEXT, UNKNOWN_TEXT, YES_TEXT, classify_special
from evaluate.errors import EvalInputError
from evaluate.gold import GoldData, GoldTurn, read_gold
from evaluate.predictions import read_predictions
from evaluate.scoring import EvalConfig, score, turn_score
from evaluate.text import basic_tokenize, exact_match, f1_score, normalize_answer

__all__ = [
    "EvalConfig", "EvalInputError", "GoldData", "GoldTurn", "NO_TEXT", "UNKNOWN_TEXT",
    "YES_TEXT", "basic_tokenize", "classify_special", "evaluate_files", "exact_match",
    "f1_score", "normalize_answer", "read_gold", "read_predictions", "score", "turn_score",
]


def evaluate_files(data_file: str | Path, pred_file: str | Path,
                   config: Optional[EvalConfig] = None,
                   warn: Optional[TextIO] = None) -> Dict[str, object]:
    """Score a prediction file (`[{"id", "turn_id", "answer"}]`) against a gold file.

    Raises EvalInputError (message: one line naming the file) for unusable input;
    warnings such as missing predictions go to `warn` (default: sys.stderr).
    """
    gold = read_gold(data_file)
    return score(gold, read_predictions(pred_file), config, warn)
