"""The steps of run_coqa.py that are longer than a few lines: data files, features and
evaluation. Each takes small typed values, never `args`."""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch

from coqa.data.cache import choose_cache_dir
from coqa.data.outputs import OutputNames, predict_write_score
from coqa.data.errors import UsageError
from coqa.train.distributed import DistInfo, barrier
from coqa.train.devices import MAX_EVAL_BATCH, choose_batch_size, encoder_bytes_per_sequence
from coqa.extractive.inference import InferenceConfig, predict_logits
from coqa.extractive.features import FeatureConfig, FeatureSet, load_or_build_features
from coqa.extractive.model import ConvQAModel
from coqa.extractive.postprocess import PostprocessConfig, predict_answers
from coqa.data.readers import load_dialogues

logger = logging.getLogger(__name__)


def resolve_data_file(data_dir: Optional[str], name: Optional[str], flag: str) -> str:
    """data_dir/name (or name alone), checked to exist."""
    if not name:
        raise UsageError(f"{flag} is required for this mode")
    path = Path(data_dir) / name if data_dir else Path(name)
    if not path.is_file():
        raise UsageError(f"{flag} {path} does not exist")
    return str(path)


@dataclass(frozen=True)
class DataSettings:
    features: FeatureConfig
    cache_dir: str
    model_name: str        # part of the cache file name, as the old scripts had it
    overwrite_cache: bool
    threads: int
    skip_invalid: bool
    # The run's output folder: the cache goes to output_dir/cache when cache_dir is not
    # given and the data folder is read-only (`coqa.data.cache.choose_cache_dir`).
    output_dir: Optional[str] = None


def load_features(data_file: str, split: str, tokenizer, settings: DataSettings,
                  dist: Optional[DistInfo] = None) -> FeatureSet:
    """Read, validate and featurise one file (through the keyed cache).

    Under DDP the main rank builds (or loads) the cache first and the others wait, then
    load it, so features are built once and the cache file is written by one process
    (with --overwrite_cache too: the others read what the main rank has just rebuilt)."""
    if dist is not None and not dist.is_main:
        barrier(dist)
        settings = dataclasses.replace(settings, overwrite_cache=False)
    features = _read_and_featurise(data_file, split, tokenizer, settings)
    if dist is not None and dist.is_main:
        barrier(dist)
    return features


def _read_and_featurise(data_file: str, split: str, tokenizer, settings: DataSettings) -> FeatureSet:
    loaded = load_dialogues(data_file, skip_invalid=settings.skip_invalid)
    logger.info("Read %d dialogues, %d turns from %s (%d skipped)", len(loaded.dialogues),
                loaded.num_turns, data_file, len(loaded.skipped))
    cache_dir = choose_cache_dir(settings.cache_dir, data_file, settings.output_dir)
    prefix = f"{split}_{settings.model_name}_{settings.features.max_seq_length}"
    return load_or_build_features(data_file, loaded.dialogues, tokenizer, settings.features,
                                  cache_dir, prefix, settings.overwrite_cache, settings.threads)


def evaluation_targets(output_dir: Path, trained: bool, model_path: str, all_checkpoints: bool) -> List[str]:
    """The folders to evaluate: the trained model (or --model_name_or_path), plus every
    checkpoint-N with --eval_all_checkpoints."""
    targets = [str(output_dir) if trained else model_path]
    if all_checkpoints:
        found = sorted(output_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
        targets = [str(p) for p in found] + targets
    return targets


def predict_and_score(model: ConvQAModel, features: FeatureSet, data_file: str, out_dir: Path,
                      suffix: str, inference: InferenceConfig, post: PostprocessConfig,
                      device: torch.device, score: bool) -> Optional[Dict[str, Any]]:
    """Gold-history predictions_<suffix>.json and nbest_predictions_<suffix>.json; with
    `score`, also the per-domain results (`coqa.data.outputs.predict_write_score`)."""
    logger.info("***** Running evaluation %s *****", suffix)
    logger.info("  Num examples = %d", len(features))
    logger.info("  Batch size = %d", inference.batch_size)

    def answer(_history: str):
        start_logits, end_logits = predict_logits(model.to(device), features, inference, device)
        return predict_answers(start_logits, end_logits, features, post)

    return predict_write_score(answer, ("gold",), OutputNames.run_coqa(out_dir, suffix),
                               data_file, score)


def sized_for_device(inference: InferenceConfig, batch_flag_given: bool, model: ConvQAModel,
                     max_seq_length: int, device: torch.device) -> InferenceConfig:
    """`inference` with its batch chosen by free GPU memory when --per_gpu_eval_batch_size
    was left out on a CUDA device (`coqa.train.devices.choose_batch_size`)."""
    encoder = model.encoder.config
    per_sequence = encoder_bytes_per_sequence(max_seq_length, encoder.hidden_size,
                                              encoder.num_attention_heads)
    size = choose_batch_size(inference.batch_size, batch_flag_given, device, per_sequence,
                             MAX_EVAL_BATCH, "--per_gpu_eval_batch_size")
    return dataclasses.replace(inference, batch_size=size)


def during_training_evaluator(model: ConvQAModel, features: FeatureSet, data_file: str,
                              out_dir: Path, inference: InferenceConfig, post: PostprocessConfig,
                              device: torch.device):
    """The `evaluate_fn(step)` of `coqa.train.loop.train` for --evaluate_during_training:
    writes predictions_checkpoint-<step>.json and returns overall EM / F1."""
    def evaluate_at(step: int) -> Dict[str, float]:
        results = predict_and_score(model, features, data_file, out_dir, f"checkpoint-{step}",
                                    inference, post, device, score=True)
        return {"em": results["overall"]["em"], "f1": results["overall"]["f1"]}
    return evaluate_at
