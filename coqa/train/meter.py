"""The step lines: loss, learning rate, sequences and tokens per second, as the old logs
printed them plus throughput, also sent to TensorBoard."""
from __future__ import annotations

import logging
import time
from typing import Optional

import torch
import torch.distributed as torch_dist

from coqa.train.distributed import DistInfo

logger = logging.getLogger("coqa.train.loop")


class Meter:
    """Loss / sequence / token sums kept on the device (no host sync per step),
    reduced across ranks only when read."""

    def __init__(self, device: torch.device):
        self._pending = torch.zeros(3, dtype=torch.float64, device=device)
        self.loss = self.seqs = self.tokens = 0.0   # window since the last step line
        self.steps = 0
        self.start = time.perf_counter()

    def add(self, loss: torch.Tensor, seqs: int, tokens: torch.Tensor) -> None:
        self._pending[0] += loss.double()
        self._pending[1] += seqs
        self._pending[2] += tokens.double()
        self.steps += 1

    def flush(self, dist: DistInfo) -> float:
        """Move the device sums into the window (collective in DDP); return the loss sum."""
        pending = self._pending.clone()
        if dist.distributed:
            torch_dist.all_reduce(pending)
        loss, seqs, tokens = pending.tolist()
        loss /= dist.world_size  # mean over ranks of each step's loss
        self._pending.zero_()
        self.loss += loss
        self.seqs += seqs
        self.tokens += tokens
        return loss

    def reset_window(self) -> None:
        self.loss = self.seqs = self.tokens = 0.0
        self.steps = 0
        self.start = time.perf_counter()

    def log_line(self, step: int, lr: float, device: torch.device,
                 writer: Optional[object]) -> None:
        """`Step: N\tLearning rate: X\tLoss: Y\t` as in the old logs, plus throughput (main
        rank; the window must have been flushed)."""
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        scalars = {"lr": lr, "loss": self.loss / max(1, self.steps),
                   "seq_per_sec": self.seqs / elapsed, "tokens_per_sec": self.tokens / elapsed}
        line = (f"Step: {step}\tLearning rate: {lr:.10g}\tLoss: {scalars['loss']:.4f}\t"
                f"Seq/s: {scalars['seq_per_sec']:.1f}\tTokens/s: {scalars['tokens_per_sec']:.0f}")
        if device.type == "cuda":
            scalars["peak_mem_gb"] = torch.cuda.max_memory_allocated(device) / 2**30
            line += f"\tPeak mem: {scalars['peak_mem_gb']:.1f} GB"
        logger.info(line)
        if writer is None:  # no tensorboardX (a bare GPU machine): the log line only
            return
        for name, value in scalars.items():
            writer.add_scalar(name, value, step)
