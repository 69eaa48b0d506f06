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
from pathlib import Path


from coqa.data.errors import UsageError
from coqa.data.folders import check_weights_file, encoder_max_positions, require_folder
from coqa.extractive.model import MODEL_CONFIG_NAME, ConvQAModel, ModelConfig

logger = logging.getLogger(__name__)

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
                "pytorch_model.bin.index.json")


def load_model(path: str, config: ModelConfig, config_path: str = "") -> ConvQAModel:
    """A saved ConvQAModel, or a new one around a pretrained encoder."""
    folder = require_folder(path, "model")
    for name in WEIGHT_FILES[:2]:
        if (folder / name).is_file():
            check_weights_file(folder / name)
    if (folder / MODEL_CONFIG_NAME).is_file():
        try:
            model = ConvQAModel.load(folder)
        except (ValueError, FileNotFoundError) as err:
            raise UsageError(str(err).splitlines()[0]) from None
        if model.config.middle != config.middle:
            logger.warning("Checkpoint %s has middle=%s; --middle %s is ignored",
                           path, model.config.middle, config.middle)
        return model
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
