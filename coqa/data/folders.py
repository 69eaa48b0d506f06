"""Local model and tokenizer folders, with one-line errors: both pipelines load their
tokenizer and read their encoder's positions here. Nothing is ever fetched from a hub."""
from __future__ import annotations

import json
import logging
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Tuple

from coqa.data.errors import UsageError

logger = logging.getLogger(__name__)

# Text any working tokenizer turns into at least one token, if only an unknown one.
TOKENIZER_PROBE = "问答 QA 2020"
VOCAB_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "sentencepiece.bpe.model", "spm.model")


def require_folder(path: str, what: str) -> Path:
    folder = Path(path)
    if not folder.is_dir():
        raise UsageError(f"{what} folder {path} does not exist (models load from local "
                         f"folders only)")
    return folder


def load_tokenizer(path: str, do_lower_case: Optional[bool] = None):
    """A fast tokenizer (character offsets are required) from a local folder."""
    from transformers import AutoTokenizer, BertTokenizerFast

    folder = require_folder(path, "tokenizer")
    if not any((folder / name).is_file() for name in VOCAB_FILES):
        raise UsageError(f"tokenizer folder {path} has no vocabulary "
                         f"(none of {', '.join(VOCAB_FILES)})")
    extra = {} if do_lower_case is None else {"do_lower_case": do_lower_case}
    if do_lower_case and _saved_lower_case(folder) is False:
        logger.warning("--do_lower_case: lower-casing the text although the tokenizer in %s "
                       "was saved with do_lower_case false (a model trained there saw cased "
                       "text)", folder)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True, **extra)
    except (OSError, ValueError) as err:
        if not _is_bare_wordpiece_folder(folder):
            # transformers' message spans several lines: one line, none of it cut.
            reason = " ".join(line.strip() for line in str(err).splitlines()) or type(err).__name__
            raise UsageError(f"cannot load a tokenizer from {path}: {reason}") from None
        # A folder holding only vocab.txt (as s2s-ft's --tokenizer_name folders often do)
        # tells AutoTokenizer nothing of its class: a vocab.txt is BERT's WordPiece list.
        tokenizer = BertTokenizerFast.from_pretrained(str(folder), local_files_only=True, **extra)
    if not tokenizer.is_fast:
        raise UsageError(f"tokenizer in {path} is not a fast tokenizer (offsets are needed)")
    missing = [name for name in ("cls_token", "sep_token", "pad_token")
               if getattr(tokenizer, name) is None or getattr(tokenizer, name + "_id") is None]
    if missing:
        raise UsageError(f"tokenizer in {path} has no {' / '.join(m[:-6].upper() for m in missing)} "
                         f"token: both pipelines lay inputs out as CLS query SEP passage SEP PAD...")
    # Special tokens are added on top of the vocabulary file: look at the file's own tokens.
    vocab = tokenizer.backend_tokenizer.get_vocab(with_added_tokens=False)
    if not vocab or (tokenizer.unk_token is not None and tokenizer.unk_token not in vocab):
        names = [n for n in VOCAB_FILES if (folder / n).is_file()]
        raise UsageError(f"tokenizer vocabulary {folder / names[0]} is empty or has no "
                         f"{tokenizer.unk_token} token")
    # A BPE model without vocabulary or unknown token drops every character it does not
    # know (transformers 5 builds one from misspelt file arguments): every passage would
    # become an empty window and every turn be trained as unknown.
    if not tokenizer(TOKENIZER_PROBE, add_special_tokens=False)["input_ids"]:
        # A roberta config.json beside a bare vocab.txt (Chinese RoBERTa-wwm) makes
        # transformers build a RoBERTa BPE tokenizer without vocabulary.
        hint = (f"{type(tokenizer).__name__} found only vocab.txt: add tokenizer_config.json "
                f'with "tokenizer_class": "BertTokenizer"'
                if (folder / "vocab.txt").is_file() and not (folder / "tokenizer_config.json").is_file()
                else "is its vocabulary or merges file missing?")
        raise UsageError(f"tokenizer in {path} turns text ({TOKENIZER_PROBE!r}) into no tokens "
                         f"at all: {hint}")
    return tokenizer


def _saved_lower_case(folder: Path) -> Optional[bool]:
    """The do_lower_case a tokenizer folder was saved with, None if it does not say."""
    try:
        saved = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = saved.get("do_lower_case") if isinstance(saved, dict) else None
    return value if isinstance(value, bool) else None


def _is_bare_wordpiece_folder(folder: Path) -> bool:
    """vocab.txt and nothing saying which tokenizer it belongs to."""
    return (folder / "vocab.txt").is_file() and not any(
        (folder / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json",
                                               "config.json"))


def check_weights_file(path: Path) -> None:
    """Refuse, in one line naming the file, a weights or state file that is empty, truncated
    or not what its name says, before a library fails on it with a traceback. Cheap: only
    headers are read (safetensors: the header's offsets must cover the file exactly;
    torch.save files: a complete zip archive, or the legacy pickle format)."""
    size = path.stat().st_size
    if size == 0:
        raise UsageError(f"{path} is empty (0 bytes)")
    with open(path, "rb") as handle:
        head = handle.read(8)
        if path.suffix == ".safetensors":
            length = struct.unpack("<Q", head)[0] if len(head) == 8 else -1
            try:
                header = json.loads(handle.read(length)) if 0 < length <= size - 8 else None
                end = max((int(v["data_offsets"][1]) for k, v in header.items()
                           if k != "__metadata__"), default=0)
            except (ValueError, TypeError, KeyError, IndexError, AttributeError):
                header = None
            if header is None or 8 + length + end != size:
                raise UsageError(f"{path} is truncated or not a safetensors file")
            return
    if not zipfile.is_zipfile(path) and head[:1] != b"\x80":  # legacy files are pickles
        raise UsageError(f"{path} is truncated or not a PyTorch file")


def read_model_config(path: str, what: str = "model",
                      config_file: Optional[str] = None) -> Tuple[Path, dict]:
    """(the file, its JSON object): the config.json in `path` (a `what` folder, for
    messages), or `config_file`; missing or unreadable is one UsageError naming it."""
    config_path = Path(config_file) if config_file else require_folder(path, what) / "config.json"
    if not config_path.is_file():
        raise UsageError(f"{what} folder {path} has no config.json" if not config_file
                         else f"{config_file} does not exist")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UsageError(f"{config_path} is not valid JSON: {err}") from None
    if not isinstance(config, dict):
        raise UsageError(f"{config_path} is not a model config (not a JSON object)")
    return config_path, config


# Encoders whose position ids start after the padding id (RoBERTa's padding_idx + 1), so
# a table of max_position_embeddings rows holds that many fewer tokens: 514 rows, 512.
OFFSET_POSITION_MODEL_TYPES = ("roberta", "xlm-roberta", "camembert")


def position_offset(config: Mapping[str, Any]) -> int:
    """Rows of an encoder's position table before its position 0 (config.json's values):
    pad_token_id + 1 for RoBERTa-style encoders (OFFSET_POSITION_MODEL_TYPES), 0 for BERT."""
    if config.get("model_type") in OFFSET_POSITION_MODEL_TYPES:
        return int(config.get("pad_token_id", 1)) + 1
    return 0


def encoder_max_positions(path: str, what: str = "model",
                          config_file: Optional[str] = None) -> int:
    """How many tokens a sequence may have for the encoder whose config.json is in `path`
    (a `what` folder, for messages), or is `config_file`: max_position_embeddings, less
    the rows before position 0 (`position_offset`)."""
    config = read_model_config(path, what, config_file)[1]
    return int(config.get("max_position_embeddings", 512)) - position_offset(config)


# Encoder families whose folders the pipelines load (config.json's model_type).
EXTRACTIVE_MODEL_TYPES = ("bert", "roberta", "xlm-roberta", "electra", "ernie", "megatron-bert")
SEQ2SEQ_MODEL_TYPES = ("bert", "unilm")


@dataclass(frozen=True)
class ModelFolder:
    """A model folder's config.json, checked to describe an encoder the pipeline loads."""

    config_path: Path
    vocab_size: Optional[int]

    def check_tokenizer(self, tokenizer) -> None:
        """Refuse a tokenizer with more tokens than the embedding has rows (another
        model's tokenizer: ids past the table would index nothing)."""
        if self.vocab_size is not None and len(tokenizer) > self.vocab_size:
            raise UsageError(f"the tokenizer has {len(tokenizer)} tokens but {self.config_path} "
                             f"gives the embedding {self.vocab_size} rows: ids from "
                             f"{self.vocab_size} up would index nothing (is the tokenizer "
                             f"another model's?)")


def check_model_folder(path: str, model_types: Sequence[str],
                       config_file: Optional[str] = None) -> ModelFolder:
    """Refuse, in one line naming the file, a config.json that is missing, unreadable or
    names an encoder family the pipeline cannot load (before anything reads it)."""
    config_path, config = read_model_config(path, "model", config_file)
    model_type = config.get("model_type")
    if model_type is not None and model_type not in model_types:
        raise UsageError(f"{config_path} describes a {model_type!r} model (architectures "
                         f"{config.get('architectures')}); this pipeline loads "
                         f"{', '.join(model_types)} encoders only")
    rows = config.get("vocab_size")
    return ModelFolder(config_path, rows if isinstance(rows, int) else None)


def first_shape_mismatch(expected: Mapping[str, Any],
                         found: Mapping[str, Any]) -> Optional[str]:
    """`key 'k': checkpoint shape [2, 3], model missing` for the first key (in sorted order)
    whose tensor is missing from one side or of another shape; None when all match."""
    def text(shape: Optional[tuple]) -> str:
        return "missing" if shape is None else f"shape {list(shape)}"

    for key in sorted(expected.keys() | found.keys()):
        want = tuple(expected[key].shape) if key in expected else None
        have = tuple(found[key].shape) if key in found else None
        if want != have:
            return f"key {key!r}: checkpoint {text(have)}, model {text(want)}"
    return None
