"""Load tokenizers and models from local folders only, with one-line errors.

A model folder is either a pretrained encoder (config.json + weights + vocab, e.g. a
local copy of bert-base-chinese) or a folder this toolkit saved (it also holds
`convqa_config.json`). Nothing is ever fetched from a hub.
"""
from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Optional

from coqa.cli import UsageError
from coqa.model import MODEL_CONFIG_NAME, ConvQAModel, ModelConfig

logger = logging.getLogger(__name__)

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
                "pytorch_model.bin.index.json")
VOCAB_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "sentencepiece.bpe.model", "spm.model")


def _folder(path: str, what: str) -> Path:
    folder = Path(path)
    if not folder.is_dir():
        raise UsageError(f"{what} folder {path} does not exist (models load from local "
                         f"folders only)")
    return folder


def load_tokenizer(path: str, do_lower_case: Optional[bool] = None):
    """A fast tokenizer (character offsets are required) from a local folder."""
    from transformers import AutoTokenizer

    folder = _folder(path, "tokenizer")
    if not any((folder / name).is_file() for name in VOCAB_FILES):
        raise UsageError(f"tokenizer folder {path} has no vocabulary "
                         f"(none of {', '.join(VOCAB_FILES)})")
    extra = {} if do_lower_case is None else {"do_lower_case": do_lower_case}
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True, **extra)
    except (OSError, ValueError) as err:
        raise UsageError(f"cannot load a tokenizer from {path}: {err}".splitlines()[0]) from None
    if not tokenizer.is_fast:
        raise UsageError(f"tokenizer in {path} is not a fast tokenizer (offsets are needed)")
    return tokenizer


def encoder_max_positions(path: str, what: str = "model") -> int:
    """max_position_embeddings of the config.json in `path` (a `what` folder, for messages)."""
    config_file = _folder(path, what) / "config.json"
    if not config_file.is_file():
        raise UsageError(f"{what} folder {path} has no config.json")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UsageError(f"{config_file} is not valid JSON: {err}") from None
    return int(config.get("max_position_embeddings", 512))


def load_model(path: str, config: ModelConfig, config_path: str = "") -> ConvQAModel:
    """A saved ConvQAModel, or a new one around a pretrained encoder."""
    folder = _folder(path, "model")
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
    except (OSError, ValueError) as err:
        raise UsageError(f"cannot load the encoder in {path}: {err}".splitlines()[0]) from None
