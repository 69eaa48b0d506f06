"""Batched inference over a FeatureSet: logits stay on the device until the end.

Features are visited longest-first, so each batch holds features of similar length and is
cut to its longest real one (`FeatureSet.batch`): little padding, and most batches none at
all. A batch without padding goes to the model without an attention mask, so that SDPA
may pick its flash-attention kernel. Every batch's logits are written into one
preallocated device tensor at the features' own rows, and the whole tensor crosses to the
CPU once. On a GPU the batches are copied from pinned memory without waiting, so the host
prepares the next batch while the device computes. No per-feature Python objects in the
hot loop.
"""
from __future__ import annotations

import logging
import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Tuple

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from coqa.data.errors import ConfigError
from coqa.extractive.features import FeatureSet
from coqa.extractive.labels import FILL_LOGIT, NUM_SPECIAL
from coqa.train.config import PRECISIONS
from coqa.train.step import AUTOCAST_DTYPES, autocast_dtype

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class InferenceConfig:
    batch_size: int = 8
    precision: str = "fp32"  # one of coqa.train.config.PRECISIONS
    show_progress: bool = True

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ConfigError(f"the evaluation batch size (--per_gpu_eval_batch_size) must be "
                              f"at least 1, got {self.batch_size}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"the inference precision must be one of {', '.join(PRECISIONS)}, "
                              f"got {self.precision!r}")


def _autocast(precision: str, device: torch.device):
    dtype = autocast_dtype(precision, device) if precision != "fp16" else AUTOCAST_DTYPES[precision]
    if dtype is None:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def _to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A CPU tensor on `device`; to a GPU through pinned memory, without waiting (a copy
    from pageable memory would block the host until the device has caught up)."""
    if device.type != "cuda":
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)


@torch.inference_mode()
def predict_logits(model: nn.Module, features: FeatureSet, config: InferenceConfig,
                   device: torch.device) -> Tuple[np.ndarray, np.ndarray]:
    """start_logits, end_logits as float32 numpy arrays of shape (N, 3 + max_seq_length),
    in the features' order. Columns past a feature's batch length hold FILL_LOGIT."""
    model.eval()
    num, width = len(features), NUM_SPECIAL + features.input_ids.shape[1]
    start_all = torch.full((num, width), FILL_LOGIT, dtype=torch.float32, device=device)
    end_all = torch.full((num, width), FILL_LOGIT, dtype=torch.float32, device=device)
    lengths = features.attention_mask.sum(axis=1)  # (N,) real tokens
    order = np.argsort(-lengths, kind="stable")
    order_on_device = _to_device(torch.from_numpy(order), device)  # each batch's rows: a slice
    began = time.perf_counter()
    batches = range(0, num, config.batch_size)
    for first in tqdm(batches, desc="Evaluating", disable=not config.show_progress):
        rows = order[first:first + config.batch_size]
        batch = features.batch(rows, with_labels=False)  # cut to the longest real feature
        if lengths[rows].min() == batch["input_ids"].shape[1]:
            del batch["attention_mask"]  # no padding: no mask, flash attention allowed
        batch = {name: _to_device(tensor, device) for name, tensor in batch.items()}
        with _autocast(config.precision, device):
            output = model(**batch)
        index = order_on_device[first:first + config.batch_size]
        cols = output["start_logits"].shape[1]
        start_all[index, :cols] = output["start_logits"].float()
        end_all[index, :cols] = output["end_logits"].float()
    start_np, end_np = start_all.cpu().numpy(), end_all.cpu().numpy()
    seconds = time.perf_counter() - began
    logger.info("  Evaluation done in total %f secs (%f sec per example, %.1f seq/s)",
                seconds, seconds / max(1, num), num / max(seconds, 1e-9))
    return start_np, end_np
