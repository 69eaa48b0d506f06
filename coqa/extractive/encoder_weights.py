"""A pretrained encoder from a local folder, with what its checkpoint lacked or held
beyond it said in one line each, in place of transformers' load-report table."""
from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, List

from transformers import AutoModel, PreTrainedModel
from transformers.utils import logging as hf_logging

logger = logging.getLogger(__name__)
SHOWN_KEYS = 3


@contextmanager
def transformers_quiet() -> Iterator[None]:
    """transformers' own warnings and progress bars off for the block (errors still raise)."""
    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def _keys(keys: List[str]) -> str:
    shown = ", ".join(sorted(keys)[:SHOWN_KEYS])
    return shown + (", ..." if len(keys) > SHOWN_KEYS else "")


def describe_loading(path: Path, info: Dict[str, list]) -> None:
    """Log what `from_pretrained(..., output_loading_info=True)` found: checkpoint tensors
    not used (a pretraining head: info), a pooler initialised at random (info), any other
    encoder tensor initialised at random (a warning: that encoder is not what was trained)."""
    unused = list(info.get("unexpected_keys", []))
    missing = list(info.get("missing_keys", []))
    pooler = [key for key in missing if key.startswith("pooler.")]
    encoder = [key for key in missing if not key.startswith("pooler.")]
    if unused:
        logger.info("%s: %d checkpoint tensors not used by the encoder (%s: e.g. a pretraining "
                    "head)", path, len(unused), _keys(unused))
    if pooler:
        logger.info("%s: the checkpoint has no pooler; it is initialised at random", path)
    if encoder:
        logger.warning("%s: %d encoder tensors missing from the checkpoint, initialised at "
                       "random (%s): this is not the encoder that was pretrained", path,
                       len(encoder), _keys(encoder))


def load_pretrained_encoder(path: Path, attn_implementation: str) -> PreTrainedModel:
    """AutoModel weights from the local folder `path` (nothing is fetched)."""
    with transformers_quiet():
        encoder, info = AutoModel.from_pretrained(path, attn_implementation=attn_implementation,
                                                  local_files_only=True,
                                                  output_loading_info=True)
    describe_loading(path, info)
    return encoder
