"""What the training loop iterates: the dataset protocol, with its optional hooks declared
here with their defaults (the loop calls every hook; a dataset overrides what it needs)."""
from __future__ import annotations

from typing import Mapping, Optional

import torch


class TrainDataset:
    """`__len__` and `batch(indices) -> dict[str, Tensor]` (CPU tensors whose keys are the
    model's `forward` arguments) are required; the three hooks have defaults."""

    def __len__(self) -> int:
        raise NotImplementedError

    def batch(self, indices: list[int]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def set_epoch(self, epoch: int) -> None:
        """Called before every epoch (resumes included), for data that draws something per
        epoch (seq2seq's pseudo tokens). Default: nothing."""

    def loss_weight(self, batch: Mapping[str, torch.Tensor]) -> Optional[float]:
        """How much this micro-batch's mean loss weighs in the optimizer step (seq2seq: its
        target tokens, since its loss is a mean per token). Default None: micro-batches
        weigh alike."""
        return None

    def count_tokens(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Real (non-padding) tokens of a batch, for the Tokens/s figure. Default: every
        input id."""
        ids = batch.get("input_ids")
        return torch.tensor(0 if ids is None else ids.numel())
