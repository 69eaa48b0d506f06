"""Reading a seq2seq checkpoint's weights: model.safetensors, or a legacy pytorch_model.bin
whose old key names (`LayerNorm.gamma/beta`, no `bert.` prefix, a `module.` prefix) are
translated, as are s2s-ft's (`cls.predictions.decoder_weight`, its name for the output
weight tied to the word embeddings; the label-smoothing buffer
`crit_mask_lm_smoothed.one_hot` is dropped); then a strict, shape-checked load.

A RoBERTa or XLM-R folder (config.json's model_type `roberta` / `xlm-roberta`: the same
Transformer as BERT) is read as a BERT one (`bert_config_of`, `from_roberta`): `roberta.`
becomes `bert.`, `lm_head.*` the masked-LM head's names, and the position table loses its
first padding_idx + 1 rows, which RoBERTa never uses (its positions count from
padding_idx + 1, BERT's from 0). The fine-tuned model is saved as a BERT folder."""
from __future__ import annotations

import logging
import pickle
from pathlib import Path
from typing import Dict

import torch
from safetensors.torch import load_file
from transformers import BertConfig, BertForMaskedLM

from coqa.data.folders import first_shape_mismatch, position_offset

logger = logging.getLogger(__name__)

WEIGHTS_NAME = "model.safetensors"
LEGACY_WEIGHTS_NAME = "pytorch_model.bin"
ENCODER_CONFIG_NAME = "config.json"
# Output-layer tensors tied to another tensor: not stored, filled in on loading.
TIED_KEYS = {"cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
             "cls.predictions.decoder.bias": "cls.predictions.bias"}
# Names other code bases gave to tensors of this model: s2s-ft's BertForSequenceToSequence
# keeps the tied output weight as a parameter of the prediction head.
RENAMED_KEYS = {"cls.predictions.decoder_weight": "cls.predictions.decoder.weight"}
# Keys of pre-training checkpoints that this model has no use for.
IGNORED_PREFIXES = ("bert.pooler.", "cls.seq_relationship.", "crit_mask_lm")
IGNORED_KEYS = frozenset({"bert.embeddings.position_ids", "bert.embeddings.token_type_ids"})
# Encoder families read as BERT, and their key names under BertForMaskedLM's.
ROBERTA_MODEL_TYPES = ("roberta", "xlm-roberta")
ROBERTA_PREFIXES = (("roberta.", "bert."), ("lm_head.dense.", "cls.predictions.transform.dense."),
                    ("lm_head.layer_norm.", "cls.predictions.transform.LayerNorm."),
                    ("lm_head.decoder.", "cls.predictions.decoder."),
                    ("lm_head.bias", "cls.predictions.bias"))
POSITION_TABLE = "bert.embeddings.position_embeddings.weight"


def read_state_dict(directory: Path) -> Dict[str, torch.Tensor]:
    """The tensors of model.safetensors, else of pytorch_model.bin (tensors only)."""
    if (directory / WEIGHTS_NAME).is_file():
        return load_file(str(directory / WEIGHTS_NAME))
    if (directory / LEGACY_WEIGHTS_NAME).is_file():
        try:
            return torch.load(directory / LEGACY_WEIGHTS_NAME, map_location="cpu",
                              weights_only=True)
        except (pickle.UnpicklingError, EOFError, RuntimeError) as err:
            raise ValueError(f"{directory / LEGACY_WEIGHTS_NAME} is not a readable PyTorch "
                             f"weights file ({type(err).__name__})") from None
    raise FileNotFoundError(f"{directory}: no {WEIGHTS_NAME} or {LEGACY_WEIGHTS_NAME}")


def normalize_key(key: str) -> str:
    """A key of an old checkpoint under the name BertForMaskedLM uses today."""
    if key.startswith("module."):
        key = key[len("module."):]
    key = key.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta",
                                                                      "LayerNorm.bias")
    if key.startswith(("embeddings.", "encoder.", "pooler.")):
        key = "bert." + key
    return RENAMED_KEYS.get(key, key)


def normalize_state_dict(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Today's key names, without the keys this model has no use for."""
    result = {}
    for key, tensor in state.items():
        name = normalize_key(key)
        if name in IGNORED_KEYS or name.startswith(IGNORED_PREFIXES):
            continue
        if name in result:
            raise ValueError(f"two checkpoint keys map to {name!r}")
        result[name] = tensor
    return result


HEAD_PREFIX = "cls.predictions."


def bert_config_of(config: dict) -> BertConfig:
    """The BertConfig of an encoder's config.json (BERT, RoBERTa or XLM-R), its position
    table without the rows a RoBERTa never uses."""
    values = dict(config)
    offset = position_offset(values)
    if offset:
        for key in ("model_type", "architectures", "auto_map"):
            values.pop(key, None)
        values["max_position_embeddings"] = int(values.get("max_position_embeddings", 514)) - offset
        if values["max_position_embeddings"] < 1:
            raise ValueError(f"max_position_embeddings {config.get('max_position_embeddings')} "
                             f"leaves no position after padding_idx {offset - 1}")
    return BertConfig.from_dict(values)


def from_roberta(state: Dict[str, torch.Tensor], offset: int) -> Dict[str, torch.Tensor]:
    """A RoBERTa / XLM-R state dict (RobertaModel, RobertaForMaskedLM or the XLM-R twins)
    under BERT's names (then `normalize_state_dict`), the unused position rows dropped."""
    result = {}
    for key, tensor in state.items():
        for old, new in ROBERTA_PREFIXES:
            if key.startswith(old):
                key = new + key[len(old):]
                break
        result[key] = tensor
    for key in (POSITION_TABLE, POSITION_TABLE[len("bert."):]):
        if key in result:
            result[key] = result[key][offset:]
    return result


def load_checked(mlm: BertForMaskedLM, state: Dict[str, torch.Tensor], directory: Path,
                 new_head: bool = False) -> None:
    """Load `state` strictly; a tied output tensor may be absent or equal to its source.
    Raises a ValueError naming the folder and the first key missing, unexpected or of
    another shape. With `new_head`, a checkpoint without any masked-LM head tensor (an
    encoder-only checkpoint, e.g. a retrieval model) keeps the freshly initialised head of
    `mlm`, its output weight tied to the word embeddings; said in one log line."""
    state = dict(state)
    if new_head and not any(key.startswith(HEAD_PREFIX) for key in state):
        fresh = {k: v for k, v in mlm.state_dict().items()
                 if k.startswith(HEAD_PREFIX) and k not in TIED_KEYS}
        state.update(fresh)
        logger.warning("%s has no masked-LM head: a new one is created (transform initialised "
                       "at random, output layer tied to the word embeddings, bias 0); it is "
                       "learned during fine-tuning", directory)
    for key, source in TIED_KEYS.items():
        if key in state and source not in state:
            state[source] = state[key]
        if key in state and not torch.equal(state.pop(key), state[source]):
            raise ValueError(f"{directory}: checkpoint key {key!r} differs from {source!r}; "
                             "untied output layers are not supported")
    expected = {k: v for k, v in mlm.state_dict().items() if k not in TIED_KEYS}
    mismatch = first_shape_mismatch(expected, state)
    if mismatch is not None:
        raise ValueError(f"{directory}: checkpoint does not match its {ENCODER_CONFIG_NAME}; "
                         f"first mismatching {mismatch}")
    for key, source in TIED_KEYS.items():
        state[key] = state[source]
    mlm.load_state_dict(state, strict=True)

