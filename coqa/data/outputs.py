"""One "predict, write, score" path for both pipelines (it knows no model).

A pipeline hands over `answer(history)`: every turn's answer with gold or with predicted
history (`coqa.data.history.predict_turn_by_turn` builds the latter round by round), as
`[{"id", "turn_id", "answer"}]` plus its n-best lists. `predict_write_score` runs it for
each history asked for, writes the files named by `OutputNames`, scores them against the
gold file, and returns the first history's per-domain results with "history_source" and,
for two histories, the predicted-history ones under "predicted_history".

The file names are the old scripts': run_coqa.py's `predictions_<suffix>.json` /
`nbest_predictions_<suffix>.json` (`predictions_predicted_<suffix>.json` for predicted
history beside gold), and s2s-ft's `--output_file` (`<stem>_predicted<suffix>` beside it).
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from coqa.data.files import write_json

logger = logging.getLogger(__name__)

Predictions = List[Dict[str, Any]]        # [{"id", "turn_id", "answer"}]
Answered = Tuple[Predictions, Any]        # predictions and their n-best lists (None: none)
WritePredictions = Callable[[Path, Predictions], None]


@dataclass(frozen=True)
class OutputNames:
    """Where one evaluation writes its files, for each history."""

    predictions: Path                # gold history, or the only history asked for
    predicted: Path                  # predicted history when both are asked for
    nbest: Optional[Path] = None     # None: no n-best file
    predicted_nbest: Optional[Path] = None
    results: Optional[Path] = None   # None: the caller writes the results

    @classmethod
    def run_coqa(cls, out_dir: Path, suffix: str) -> "OutputNames":
        """predictions_<suffix>.json and nbest_predictions_<suffix>.json in `out_dir`."""
        return cls(predictions=out_dir / f"predictions_{suffix}.json",
                   predicted=out_dir / f"predictions_predicted_{suffix}.json",
                   nbest=out_dir / f"nbest_predictions_{suffix}.json",
                   predicted_nbest=out_dir / f"nbest_predictions_predicted_{suffix}.json")

    @classmethod
    def s2s_ft(cls, output_file: Path, split: str, nbest: bool, score: bool) -> "OutputNames":
        """--output_file, <stem>.nbest.json with --nbest, eval_results_<split>.json beside."""
        predicted = output_file.with_name(f"{output_file.stem}_predicted{output_file.suffix}")
        return cls(predictions=output_file, predicted=predicted,
                   nbest=output_file.with_suffix(".nbest.json") if nbest else None,
                   predicted_nbest=predicted.with_suffix(".nbest.json") if nbest else None,
                   results=output_file.with_name(f"eval_results_{split}.json") if score else None)

    def of(self, history: str, several: bool) -> Tuple[Path, Optional[Path]]:
        """The predictions and n-best files of `history` (`several`: gold and predicted)."""
        if history == "predicted" and several:
            return self.predicted, self.predicted_nbest
        return self.predictions, self.nbest


def predict_write_score(answer: Callable[[str], Answered], histories: Sequence[str],
                        names: OutputNames, gold_file: Optional[str], score: bool,
                        write_predictions: WritePredictions = write_json,
                        decoded_turns_only: bool = False) -> Optional[Dict[str, Any]]:
    """For each history: answer, write the predictions and n-best lists, and (`score`) score
    them against `gold_file`; `decoded_turns_only` scores the answered turns alone (a
    --subset run). Returns the results (see the module docstring) or None unscored."""
    results: Dict[str, Dict[str, Any]] = {}
    several = len(histories) > 1
    for history in histories:
        predictions, nbest = answer(history)
        pred_file, nbest_file = names.of(history, several)
        write_predictions(pred_file, predictions)
        if nbest_file is not None and nbest is not None:
            write_json(nbest_file, nbest)
        logger.info("Wrote %d predictions (%s history) to %s", len(predictions), history, pred_file)
        if score:
            scores = score_file(gold_file, pred_file, decoded_turns_only)
            results[history] = {**scores, "history_source": history}
            logger.info("Results (%s history):\n%s", history, _table(scores))
    if not results:
        return None
    first = results[histories[0]]
    if several:
        first["predicted_history"] = results["predicted"]
        logger.info("Gold against predicted history:\n%s", side_by_side(first, results["predicted"]))
    if names.results is not None:
        write_json(names.results, first)
    return first


def score_file(gold_file: str, pred_file: Path, decoded_turns_only: bool = False) -> Dict[str, Any]:
    """Per-domain EM / F1 of a written prediction file against the gold file, as
    `python -m evaluate` scores it (strict gold checks)."""
    from evaluate import read_gold, read_predictions, score

    gold = read_gold(gold_file)
    answers = read_predictions(pred_file)
    if decoded_turns_only:
        gold = dataclasses.replace(gold, turns=tuple(t for t in gold.turns if t.key in answers))
        logger.info("Scoring the %d answered turns only", len(gold.turns))
    return score(gold, answers)


def _table(scores: Dict[str, Any]) -> str:
    from evaluate.report import format_results

    return format_results(scores)


def side_by_side(gold: Dict[str, Any], predicted: Dict[str, Any]) -> str:
    """A markdown table: EM / F1 per domain with gold and with predicted history."""
    lines = ["| domain | turns | EM gold | EM predicted | F1 gold | F1 predicted |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, scores in gold.items():
        if isinstance(scores, dict) and "f1" in scores and name in predicted:
            other = predicted[name]
            lines.append(f"| {name} | {scores.get('turns', '')} | {scores['em']} | {other['em']} "
                         f"| {scores['f1']} | {other['f1']} |")
    return "\n".join(lines)
