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
from typing import AbstractSet, Any, Dict, Mapping, Union

from coqa.data.errors import ConfigError, UsageError
from coqa.data.folders import check_weights_file, encoder_max_positions, require_folder
from coqa.data.trained import EXTRACTIVE, merge_settings, read_preprocessing, require_trained
from coqa.extractive.features import FeatureConfig
from coqa.extractive.history_marks import marker_tokens
from coqa.extractive.model import MODEL_CONFIG_NAME, ConvQAModel, ModelConfig

logger = logging.getLogger(__name__)

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
                "pytorch_model.bin.index.json")


# Feature settings as run_coqa.py's flags name them.
FEATURE_FLAGS = {"max_seq_length": "--max_seq_length", "doc_stride": "--doc_stride",
                 "max_query_length": "--max_query_length", "history_len": "--history_len",
                 "outside_window": "--outside_window", "history_encoding": "--history_encoding"}
# ModelConfig fields a flag sets; a saved model keeps its own.
MODEL_FLAGS = {"middle": "--middle", "exact_match": "--exact_match",
               "rtransformer_bidirectional": "--rtransformer_bidirectional"}


def feature_settings(features: FeatureConfig) -> Dict[str, Any]:
    """What `preprocessing_config.json` stores of the feature settings."""
    return dataclasses.asdict(features)


def trained_feature_config(path: str, given: Union[FeatureConfig, Mapping[str, Any]],
                           explicit: AbstractSet[str] = frozenset()) -> FeatureConfig:
    """The FeatureConfig the model in `path` was trained with, except the settings whose
    flag is in `explicit` (the flag wins, with one warning when it differs). `given` may
    be the flags' settings unchecked: only the merged settings have to work together."""
    require_folder(path, "model")
    require_trained(path, EXTRACTIVE)
    trained = read_preprocessing(path, EXTRACTIVE)
    known = {f.name for f in dataclasses.fields(FeatureConfig)}
    unknown = sorted(set(trained) - known)
    if unknown:
        raise UsageError(f"{path}: unknown feature settings {unknown} in its preprocessing config")
    # Models saved before --history_encoding existed showed the history in the query.
    trained = {"history_encoding": "concat", **trained}
    given = feature_settings(given) if isinstance(given, FeatureConfig) else dict(given)
    merged = merge_settings(trained, given, explicit, FEATURE_FLAGS, path)
    try:
        return FeatureConfig(**merged)
    except (ConfigError, TypeError) as err:
        raise UsageError(f"{path}: feature settings {merged} cannot work: {err}") from None


@dataclass(frozen=True)
class TrainedModel:
    """A model run_coqa.py saved, with the feature settings it was trained with."""

    model: ConvQAModel
    features: FeatureConfig


def load_trained_model(path: str, given: Union[FeatureConfig, Mapping[str, Any]] = FeatureConfig(),
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
    except ConfigError:  # the middle layer or heads cannot be built on this encoder
        raise
    except (OSError, ValueError, EOFError, pickle.UnpicklingError) as err:
        raise UsageError(f"cannot load the encoder in {path}: {err}".splitlines()[0]) from None


def prepare_history_encoding(tokenizer, model: ConvQAModel, features: FeatureConfig,
                             path: str) -> None:
    """Make `tokenizer` and `model` (from `path`) fit the features' history encoding:
    for "markers", add the marker tokens the tokenizer lacks as special tokens and grow
    the word embeddings to match (a model saved with markers has both already: nothing
    is added twice); for "hae", refuse a model without a history answer embedding for
    `history_len` turns."""
    if features.history_encoding == "hae":
        turns = model.config.history_answer_turns
        if turns < features.history_len:
            have = (f"a history answer embedding for {turns} turns" if turns
                    else "no history answer embedding")
            raise UsageError(f"--history_encoding hae with --history_len {features.history_len} "
                             f"needs a history answer embedding for that many turns, and the "
                             f"model in {path} has {have}: train it with these flags")
    elif features.history_encoding == "markers":
        add_marker_tokens(tokenizer, model, features.history_len)


def add_marker_tokens(tokenizer, model: ConvQAModel, history_len: int) -> None:
    """The markers of `history_len` turns in `tokenizer` (special tokens, never split) and
    a word embedding row for each; the new rows start as transformers initialises them
    (around the mean of the old ones)."""
    vocab = tokenizer.get_vocab()
    missing = [token for token in marker_tokens(history_len) if token not in vocab]
    if missing:
        current = [str(t) for t in getattr(tokenizer, "extra_special_tokens", None) or []]
        tokenizer.add_special_tokens({"extra_special_tokens": current + missing})
        vocab = tokenizer.get_vocab()
        if any(token not in vocab for token in missing):  # another transformers spelling
            tokenizer.add_tokens(missing, special_tokens=True)
        logger.info("Added the history marker tokens %s to the tokenizer", missing)
    rows = model.encoder.get_input_embeddings().num_embeddings
    if len(tokenizer) > rows:
        model.encoder.resize_token_embeddings(len(tokenizer))
        logger.info("Word embeddings grown from %d to %d rows for the marker tokens", rows,
                    len(tokenizer))
