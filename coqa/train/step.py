"""One optimizer step: forward / backward every micro-batch of a group (with FGM / PGD when
asked), clipping, the optimizer and scheduler steps. `OptimizerStep` is what the loop runs
and what the benchmarks time."""
from __future__ import annotations

import logging
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Mapping, Optional

import torch
import torch.distributed as torch_dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from coqa.train.adversarial import adversarial_backward, find_embedding
from coqa.data.errors import ConfigError
from coqa.train.config import TrainConfig
from coqa.train.dataset import TrainDataset
from coqa.train.distributed import DistInfo
from coqa.train.optim import build_optimizer, build_scheduler, log_head_parameters

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepOutput:
    loss: torch.Tensor     # mean loss of the step (on the device, not synchronised)
    sequences: int
    tokens: torch.Tensor   # real tokens of the step (on the device)
    learning_rate: float   # the rate this step used


def _to_device(batch: Mapping[str, torch.Tensor], device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v
            for k, v in batch.items()}


# The autocast dtype of each of coqa.train.config.PRECISIONS (None: fp32, no autocast);
# the extractive inference uses it too.
AUTOCAST_DTYPES: Mapping[str, Optional[torch.dtype]] = {
    "fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def autocast_dtype(precision: str, device: torch.device) -> Optional[torch.dtype]:
    """The autocast dtype of a precision on a device (None: fp32, no autocast)."""
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError("fp16 needs a CUDA device; use --precision bf16 or fp32 on this machine")
    if precision == "bf16" and device.type == "cpu":
        warn_if_slow_cpu_bf16()
    return AUTOCAST_DTYPES[precision]


_warned_slow_bf16 = False


def warn_if_slow_cpu_bf16() -> None:
    """Say once when this CPU has no native bf16 matrix multiply: torch then falls back to
    a slow kernel, and bf16 autocast is several times slower than fp32 (measured: forward
    3x, backward 11x on a BERT of hidden 384, docs/BENCHMARKS.md)."""
    global _warned_slow_bf16
    supported = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    if _warned_slow_bf16 or supported is None or supported():
        return
    _warned_slow_bf16 = True
    logger.warning("--bf16 on this CPU: it has no native bf16 matrix multiply, so bf16 is "
                   "several times slower than fp32 here; drop --bf16 to train in fp32")


def freeze_word_embeddings(model: nn.Module, name_fragment: str, log: bool = True) -> None:
    """Stop training the word-embedding matrix (and an output layer tied to it): on a
    large vocabulary (250k pieces: 96M of 118M parameters) it is most of the optimizer's
    work."""
    weight = find_embedding(model, name_fragment)
    weight.requires_grad_(False)
    if log:
        logger.info("Word embeddings frozen (--freeze_embeddings): %s parameters not trained "
                    "(and an output layer tied to them)", f"{weight.numel():,}")


class OptimizerStep:
    """The model, its wrappers (DDP, torch.compile), optimizer, scheduler and scaler, and
    the computation of one optimizer step over a group of micro-batches."""

    def __init__(self, model: nn.Module, dataset: TrainDataset, config: TrainConfig,
                 dist: DistInfo, total_steps: int):
        self.config, self.dist, self.dataset = config, dist, dataset
        self.autocast_dtype = autocast_dtype(config.precision, dist.device)
        model.to(dist.device)
        model.train()
        self.model = model  # the bare model: saved, probed by PGD
        self.embedding = (find_embedding(model, config.adversarial.embedding_name)
                          if config.adversarial.method else None)
        if config.freeze_word_embeddings:
            freeze_word_embeddings(model, config.adversarial.embedding_name, dist.is_main)
        self.optimizer = build_optimizer(model, config)
        if dist.is_main:
            log_head_parameters(model, config)
        self.scheduler = build_scheduler(self.optimizer, config.warmup_for(total_steps), total_steps)
        self.scaler = torch.amp.GradScaler("cuda") if config.precision == "fp16" else None
        self.ddp: Optional[DistributedDataParallel] = None
        net: nn.Module = model  # what the step calls: DDP and/or compiled wrapper
        if dist.distributed:
            device_ids = [dist.device.index] if dist.device.type == "cuda" else None
            self.ddp = DistributedDataParallel(
                model, device_ids=device_ids,
                find_unused_parameters=config.ddp_find_unused_parameters)
            net = self.ddp
        self.net = torch.compile(net) if config.torch_compile else net

    def __call__(self, group: list[list[int]]) -> StepOutput:
        """Forward/backward every micro-batch of `group` (lists of example indices), then
        one optimizer step."""
        device = self.dist.device
        batches = [self.dataset.batch(indices) for indices in group]  # CPU tensors
        scales, weights = self._gradient_scales(batches)
        loss_sum = torch.zeros((), device=device)
        tokens = torch.zeros((), device=device, dtype=torch.long)
        seqs = 0
        for i, (indices, batch) in enumerate(zip(group, batches)):
            batch = _to_device(batch, device)
            loss = self._micro_batch(batch, scales[i], sync=i == len(group) - 1).detach()
            loss_sum += loss * weights[i]
            seqs += len(indices)
            tokens += self.dataset.count_tokens(batch).to(device)
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        if self.config.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.max_grad_norm)
        lr = self.scheduler.get_last_lr()[0]
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return StepOutput(loss_sum / sum(weights), seqs, tokens, lr)

    def _gradient_scales(self, batches: list[dict]) -> tuple[list, list[float]]:
        """Factors for each micro-batch's mean loss, so that the step's gradient is that of
        the mean over the whole optimizer step, across micro-batches and processes.

        A micro-batch weighs 1, or `dataset.loss_weight(batch)`. DDP averages the
        processes' gradients, so the factor is weight * world_size / (sum of every
        process's weights); with equal weights every process has the same number of
        micro-batches and it is 1 / n. Under DDP the factors are float32 tensors on the
        device: the all-reduced sum is never read on the host (no sync a step)."""
        weights = [self.dataset.loss_weight(batch) for batch in batches]
        if any(w is None for w in weights):
            return [1.0 / len(batches)] * len(batches), [1.0] * len(batches)
        weights = [float(w) for w in weights]
        total = sum(weights)
        world = self.dist.world_size
        if self.dist.distributed:
            # torch.full launches a fill: no host-to-device copy to wait for.
            summed = torch.full((), total, dtype=torch.float64, device=self.dist.device)
            torch_dist.all_reduce(summed)
            # The same float64 arithmetic as below, rounded to float32 as a Python factor
            # of a float32 loss is.
            total = summed.clamp(min=1e-12)
            return [(w * world / total).float() for w in weights], weights
        return [w * world / max(total, 1e-12) for w in weights], weights

    def forward(self, module: nn.Module, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        dtype = self.autocast_dtype
        with torch.autocast(self.dist.device.type, dtype=dtype or torch.float32,
                            enabled=dtype is not None):
            return module(**batch)["loss"].float()

    def _backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def _no_sync(self, sync: bool):
        """DDP all-reduces gradients only on the last backward of an optimizer step."""
        return self.ddp.no_sync() if self.ddp is not None and not sync else nullcontext()

    def _micro_batch(self, batch: dict, scale: "float | torch.Tensor", sync: bool) -> torch.Tensor:
        """Clean forward/backward (plus the adversarial ones); gradients scaled by `scale`."""
        emb = self.embedding
        if emb is None:
            with self._no_sync(sync):
                loss = self.forward(self.net, batch)
                self._backward(loss * scale)
            return loss
        previous = emb.grad.detach().clone() if emb.grad is not None else None
        with self._no_sync(False):  # the adversarial backward below does the all-reduce
            loss = self.forward(self.net, batch)
            self._backward(loss * scale)
        if emb.grad is None:
            clean = torch.zeros_like(emb)
        else:
            clean = emb.grad.detach() if previous is None else emb.grad.detach() - previous

        def forward_backward() -> None:
            with self._no_sync(sync):
                self._backward(self.forward(self.net, batch) * scale)

        def probe() -> torch.Tensor:
            adv_loss = self.forward(self.model, batch)  # bare model: no DDP bookkeeping
            scaled = self.scaler.scale(adv_loss) if self.scaler is not None else adv_loss
            (grad,) = torch.autograd.grad(scaled, emb, allow_unused=True)
            return torch.zeros_like(emb) if grad is None else grad

        adversarial_backward(self.config.adversarial, emb, clean, forward_backward, probe)
        return loss
