"""Load tokenizers and models from local folders only, with one-line errors.

A model folder is either a pretrained encoder (config.json + weights + vocab, e.g. a
local copy of bert-base-chinese) or a folder this toolkit saved (it also holds
`convqa_config.json`). Nothing is ever fetched from a hub.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import AbstractSet, Any, Dict

from coqa.data.errors import ConfigError, UsageError
from coqa.data.folders import check_weights_file, encoder_max_positions, require_folder
from coqa.data.trained import EXTRACTIVE, merge_settings, read_preprocessing, require_trained
from coqa.extractive.features import FeatureConfig
from coqa.extractive.model import MODEL_CONFIG_NAME, ConvQAModel, ModelConfig

logger = logging.getLogger(__name__)

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
                "pytorch_model.bin.index.json")


# Feature settings as run_coqa.py's flags name them.
FEATURE_FLAGS = {"max_seq_length": "--max_seq_length", "doc_stride": "--doc_stride",
                 "max_query_length": "--max_query_length", "history_len": "--history_len",
                 "outside_window": "--outside_window"}
# ModelConfig fields a flag sets; a saved model keeps its own.
MODEL_FLAGS = {"middle": "--middle", "exact_match": "--exact_match",
               "rtransformer_bidirectional": "--rtransformer_bidirectional"}


def feature_settings(features: FeatureConfig) -> Dict[str, Any]:
    """What `preprocessing_config.json` stores of the feature settings."""
    return dataclasses.asdict(features)


def trained_feature_config(path: str, given: FeatureConfig,
                           explicit: AbstractSet[str] = frozenset()) -> FeatureConfig:
    """The FeatureConfig the model in `path` was trained with, except the settings whose
    flag is in `explicit` (the flag wins, with one warning when it differs)."""
    require_folder(path, "model")
    require_trained(path, EXTRACTIVE)
    trained = read_preprocessing(path, EXTRACTIVE)
    known = {f.name for f in dataclasses.fields(FeatureConfig)}
    unknown = sorted(set(trained) - known)
    if unknown:
        raise UsageError(f"{path}: unknown feature settings {unknown} in its preprocessing config")
    merged = merge_settings(trained, feature_settings(given), explicit, FEATURE_FLAGS, path)
    try:
        return FeatureConfig(**merged)
    except (ConfigError, TypeError) as err:
        raise UsageError(f"{path}: feature settings {merged} cannot work: {err}") from None


@dataclass(frozen=True)
class TrainedModel:
    """A model run_coqa.py saved, with the feature settings it was trained with."""

    model: ConvQAModel
    features: FeatureConfig


def load_trained_model(path: str, given: FeatureConfig = FeatureConfig(),
                       explicit: AbstractSet[str] = frozenset(),
                       model_flags: Dict[str, Any] | None = None) -> TrainedModel:
    """The one loader of a trained extractive model (evaluation, prediction, chat): refuses
    a folder without trained heads, reads the feature settings saved with the model
    (flags in `explicit` win, with a warning), and says once which model flags in
    `explicit` the saved model overrides."""
    features = trained_feature_config(path, given, explicit)
    model = _load_saved(require_folder(path, "model"))
    _warn_ignored_model_flags(path, model.config, model_flags or {}, explicit)
    return TrainedModel(model, features)


def _load_saved(folder: Path) -> ConvQAModel:
    for name in WEIGHT_FILES[:2]:
        if (folder / name).is_file():
            check_weights_file(folder / name)
    try:
        return ConvQAModel.load(folder)
    except (ValueError, FileNotFoundError) as err:
        raise UsageError(str(err).splitlines()[0]) from None


def _warn_ignored_model_flags(path: str, saved: ModelConfig, given: Dict[str, Any],
                              explicit: AbstractSet[str]) -> None:
    for name, flag in MODEL_FLAGS.items():
        if name in explicit and name in given and given[name] != getattr(saved, name):
            logger.warning("%s %s is ignored: the model in %s was trained with %s=%s",
                           flag, given[name], path, name, getattr(saved, name))


def load_model(path: str, config: ModelConfig, config_path: str = "",
               explicit: AbstractSet[str] = frozenset()) -> ConvQAModel:
    """The model training starts from: a saved ConvQAModel (its own config wins over the
    model flags, said once for each flag given in `explicit`), or a new one around a
    pretrained encoder."""
    folder = require_folder(path, "model")
    if (folder / MODEL_CONFIG_NAME).is_file():
        model = _load_saved(folder)
        _warn_ignored_model_flags(path, model.config, dataclasses.asdict(config), explicit)
        return model
    for name in WEIGHT_FILES[:2]:
        if (folder / name).is_file():
            check_weights_file(folder / name)
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        raise UsageError(f"model folder {path} has no weights (none of {', '.join(WEIGHT_FILES)})")
    encoder_max_positions(config_path or path, "config" if config_path else "model")
    # The heads use the backbone's own dropout rate, so a folder with dropout 0 gives a
    # fully deterministic model (DDP equality tests rely on it).
    encoder_config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if "hidden_dropout_prob" in encoder_config:
        config = dataclasses.replace(config, head_dropout=float(encoder_config["hidden_dropout_prob"]))
    try:
        return ConvQAModel.from_pretrained_encoder(str(folder), config)
    except (OSError, ValueError, EOFError, pickle.UnpicklingError) as err:
        raise UsageError(f"cannot load the encoder in {path}: {err}".splitlines()[0]) from None
