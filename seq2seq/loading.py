"""The one loader of a trained seq2seq model (decoding, predicted-history decoding, chat):
the model and the source settings it was trained with.

A folder run_seq2seq.py saved holds `seq2seq_config.json` and `preprocessing_config.json`
(`coqa.data.trained`): its source settings are used, and a flag given explicitly wins with
one warning. An s2s-ft `ckpt-N` folder (config.json and pytorch_model.bin, neither of our
config files) decodes as s2s-ft's checkpoints always did, with the settings of the flags
and defaults, said once in the log. Anything else is refused in one line: an extractive
model, a pretrained encoder or a `coqa.tools.tiny` folder (no trained seq2seq model).
"""
from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import AbstractSet, Optional

from coqa.data.errors import UsageError
from coqa.data.folders import VOCAB_FILES, load_tokenizer, require_folder
from coqa.data.trained import (EXTRACTIVE, SEQ2SEQ, folder_kind, merge_settings,
                               read_preprocessing, require_trained)
from seq2seq.config import SourceConfig
from seq2seq.model import Seq2SeqConfig, Seq2SeqModel
from seq2seq.steps import load_seq2seq_model

logger = logging.getLogger(__name__)

OURS, S2S_FT = "run_seq2seq.py", "s2s-ft"
S2S_FT_WEIGHTS = "pytorch_model.bin"
# Source settings as the decoding flags name them, for the "flag wins" warning.
SOURCE_FLAGS = {"history_len": "--history_turns", "max_query_length": "--history_tokens",
                "doc_stride": "--window_stride", "history_format": "--history_format",
                "max_source_seq_length": "--max_seq_length minus --max_tgt_length"}
# The decoding flags' dests (coqa.cli.explicit_dests) and the setting each one sets.
SETTING_OF_DEST = {"history_turns": "history_len", "history_tokens": "max_query_length",
                   "window_stride": "doc_stride", "history_format": "history_format",
                   "max_seq_length": "max_source_seq_length"}


def explicit_settings(explicit_dests: AbstractSet[str]) -> frozenset:
    """The source settings whose flag was given on the command line."""
    return frozenset(SETTING_OF_DEST[d] for d in explicit_dests if d in SETTING_OF_DEST)


def trained_kind(path: str) -> str:
    """OURS or S2S_FT for a folder holding a trained seq2seq model; one UsageError naming
    the folder otherwise. Reads no weights."""
    folder = require_folder(path, "model")
    kind = folder_kind(folder)
    if kind == SEQ2SEQ:
        return OURS
    if kind == EXTRACTIVE:
        require_trained(folder, SEQ2SEQ)  # refuses it, naming it an extractive model
    if (folder / S2S_FT_WEIGHTS).is_file() and (folder / "config.json").is_file():
        return S2S_FT
    raise UsageError(f"no trained seq2seq model in {path}: neither a folder run_seq2seq.py "
                     f"saved (seq2seq_config.json) nor an s2s-ft ckpt-N (config.json and "
                     f"{S2S_FT_WEIGHTS}); fine-tune it with run_seq2seq.py first")


def check_tokenizer_of(tokenizer, tokenizer_name: str, path: str) -> None:
    """Refuse `tokenizer` (from --tokenizer_name) when the model folder `path` holds a
    tokenizer of another vocabulary: the model's ids mean the saved tokenizer's tokens, so
    every source would be read, and every answer written, as other tokens. The same
    vocabulary (the old command lines name the pretrained model's tokenizer) is fine; a
    folder without a tokenizer (s2s-ft's ckpt-N) or with an unreadable one takes the flag."""
    folder = Path(path)
    if not any((folder / name).is_file() for name in VOCAB_FILES):
        return
    try:
        saved = load_tokenizer(path).get_vocab()
    except UsageError:
        return
    given = tokenizer.get_vocab()
    if given == saved:
        return
    moved = sorted(set(given.items()) ^ set(saved.items()), key=lambda item: item[1])[0][0]
    raise UsageError(f"--tokenizer_name {tokenizer_name}: its vocabulary ({len(given)} tokens) "
                     f"is not that of the tokenizer saved with the model in {path} "
                     f"({len(saved)} tokens; {moved!r} has another id or is missing), so the "
                     f"model's token ids would mean other tokens; leave --tokenizer_name out")


def trained_source_config(path: str, given: SourceConfig,
                          explicit: AbstractSet[str] = frozenset()) -> SourceConfig:
    """The source settings the model in `path` was trained with, except those named in
    `explicit` (setting names), which take `given`'s value, with a warning when different."""
    trained = read_preprocessing(path, SEQ2SEQ)
    known = {f.name for f in dataclasses.fields(SourceConfig)}
    unknown = sorted(set(trained) - known)
    if unknown:
        raise UsageError(f"{path}: unknown source settings {unknown} in its preprocessing config")
    merged = merge_settings(trained, dataclasses.asdict(given), explicit, SOURCE_FLAGS, path)
    try:
        return SourceConfig(**merged)
    except TypeError as err:  # a setting missing from the file
        raise UsageError(f"{path}: incomplete source settings in its preprocessing config "
                         f"({err})") from None


@dataclass(frozen=True)
class TrainedSeq2Seq:
    """A trained model with the source settings to build its inputs with."""

    model: Seq2SeqModel
    source: SourceConfig
    kind: str  # OURS or S2S_FT


def load_trained_seq2seq(path: str, given: SourceConfig,
                         explicit: AbstractSet[str] = frozenset(),
                         fallback: Optional[Seq2SeqConfig] = None,
                         config_file: Optional[str] = None) -> TrainedSeq2Seq:
    """The model in `path` and its source settings. `given`: the settings the flags (and
    defaults) describe; `explicit`: the setting names whose flag was given (they win over
    the trained ones). An s2s-ft checkpoint is read with `fallback` (its Seq2SeqConfig)
    and `given` whole."""
    kind = trained_kind(path)
    if kind == OURS:
        source = trained_source_config(path, given, explicit)
    else:
        source = given
        _warn_if_not_s2s_ft(path)
        logger.info("%s is an s2s-ft checkpoint (no seq2seq_config.json, no "
                    "preprocessing_config.json): its source settings come from the flags and "
                    "defaults: %s", path, dataclasses.asdict(source))
    model = load_seq2seq_model(path, fallback or Seq2SeqConfig(), trained=True,
                               config_file=config_file)
    logger.info("Source settings of %s: %s", path, dataclasses.asdict(source))
    return TrainedSeq2Seq(model, source, kind)


def _warn_if_not_s2s_ft(path: str) -> None:
    """s2s-ft writes its label_smoothing into config.json; a pretrained encoder saved as
    pytorch_model.bin lacks it and would decode without ever having been fine-tuned."""
    try:
        config = json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # the model loader names the broken file
    if isinstance(config, dict) and "label_smoothing" not in config:
        logger.warning("%s has no label_smoothing in its config.json, as s2s-ft's ckpt-N "
                       "folders have: if it is a pretrained encoder, not a fine-tuned "
                       "checkpoint, its answers mean nothing", path)
