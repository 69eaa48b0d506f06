"""Prediction with gold or predicted history, and the scores of both side by side.

With predicted history, turn t of every dialogue is featurised from the model's own
answers to turns < t (`coqa.data.history.predict_turn_by_turn`): round t builds the
features of turn t of all dialogues that have one, predicts them in batches, post-
processes them and appends the answers. Each answer's character span in the passage (from
its n-best entry's offsets; none for 是的, 不是, 无法作答) replaces the gold span of that
turn in the later turns' history, so `--history_encoding hae` / `markers` mark the model's
own answers. With answers (and spans) equal to the gold, the features are those of gold
history, row for row (tested).
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch

from coqa.data.dialogue import Dialogue
from coqa.data.history import predict_turn_by_turn
from coqa.data.outputs import OutputNames, predict_write_score
from coqa.extractive.features import FeatureConfig, FeatureSet, build_features
from coqa.extractive.inference import InferenceConfig, predict_logits
from coqa.extractive.history_marks import with_history_spans
from coqa.extractive.model import ConvQAModel
from coqa.extractive.postprocess import PostprocessConfig, answer_offsets, predict_answers
from coqa.extractive.threshold import threshold_search

logger = logging.getLogger(__name__)

Predictions = Tuple[List[Dict[str, Any]], Dict[str, List[Dict[str, Any]]]]


@dataclass(frozen=True)
class EvalInputs:
    """What evaluating one file needs, whatever the model folder."""

    data_file: str
    out_dir: Path
    dialogues: Sequence[Dialogue]
    gold_features: Optional[FeatureSet]  # None when gold history is not asked for
    tokenizer: Any
    features: FeatureConfig
    inference: InferenceConfig
    post: PostprocessConfig
    device: torch.device
    score: bool


def predicted_history_answers(model: ConvQAModel, dialogues: Sequence[Dialogue], tokenizer,
                              features: FeatureConfig, inference: InferenceConfig,
                              post: PostprocessConfig, device: torch.device,
                              show_progress: bool = True) -> Predictions:
    """Predictions and n-best lists of every turn, each turn's history being the model's
    answers to the turns before it; in dialogue and turn order."""
    model = model.to(device)
    quiet = dataclasses.replace(inference, show_progress=False)
    nbest: Dict[str, List[Dict[str, Any]]] = {}
    spans: Dict[Tuple[str, int], Optional[Tuple[int, int]]] = {}  # the answers' characters

    def answer_round(cut: List[Dialogue]) -> List[str]:
        cut = [with_history_spans(d, {t.turn_id: spans[(d.id, t.turn_id)] for t in d.turns[:-1]})
               for d in cut]
        round_features = build_features(cut, tokenizer, features, show_progress=False,
                                        last_turn_only=True)
        start, end = predict_logits(model, round_features, quiet, device)
        predictions, round_nbest = predict_answers(start, end, round_features, post)
        nbest.update(round_nbest)
        answer = {(p["id"], p["turn_id"]): p["answer"] for p in predictions}
        for key, text in answer.items():
            spans[key] = answer_offsets(round_nbest[f"{key[0]}_{key[1]}"], text)
        return [answer[(d.id, d.turns[-1].turn_id)] for d in cut]

    answers = predict_turn_by_turn(dialogues, features.history_len, answer_round, show_progress)
    predictions = [{"id": d.id, "turn_id": t.turn_id, "answer": answers[(d.id, t.turn_id)]}
                   for d in dialogues for t in d.turns]
    return predictions, {f"{p['id']}_{p['turn_id']}": nbest[f"{p['id']}_{p['turn_id']}"]
                         for p in predictions}


def _answers(model: ConvQAModel, source: str, inputs: EvalInputs) -> Predictions:
    if source == "predicted":
        return predicted_history_answers(model, inputs.dialogues, inputs.tokenizer,
                                         inputs.features, inputs.inference, inputs.post,
                                         inputs.device)
    start, end = predict_logits(model.to(inputs.device), inputs.gold_features,
                                inputs.inference, inputs.device)
    return predict_answers(start, end, inputs.gold_features, inputs.post)


def evaluate_histories(model: ConvQAModel, inputs: EvalInputs, sources: Sequence[str],
                       suffix: str) -> Optional[Dict[str, Any]]:
    """Predict with each history of `sources`, write predictions_<suffix>.json and
    nbest_predictions_<suffix>.json (predictions_predicted_<suffix>.json ... for the
    predicted history when both are asked for) and, with `inputs.score`, score them
    (`coqa.data.outputs.predict_write_score`) and add the no-answer threshold that would
    have been best (`coqa.extractive.threshold`: best_f1, best_f1_thresh, best_exact,
    best_exact_thresh) to each history's results."""
    logger.info("***** Running evaluation %s (%s history) *****", suffix, " and ".join(sources))
    answered: Dict[str, Predictions] = {}

    def answer(source: str) -> Predictions:
        answered[source] = _answers(model, source, inputs)
        return answered[source]

    results = predict_write_score(answer, sources, OutputNames.run_coqa(inputs.out_dir, suffix),
                                  inputs.data_file, inputs.score)
    if results is not None:
        for source in sources:
            # With predicted history the history stays the one this threshold produced.
            target = results if source == sources[0] else results["predicted_history"]
            best = threshold_search(inputs.data_file, *answered[source])
            target.update(best)
            logger.info("No-answer threshold (%s history): best F1 %.1f at %.4g (now %.4g), "
                        "best EM %.1f at %.4g", source, best["best_f1"], best["best_f1_thresh"],
                        inputs.post.null_score_diff_threshold, best["best_exact"],
                        best["best_exact_thresh"])
    return results
