"""AdamW without decay on biases and norm weights (and, when asked, another learning rate
for the model's head), and linear warm-up then decay to 0."""
from __future__ import annotations

import logging
from typing import Callable, Optional

import torch
from torch import nn

from coqa.data.errors import ConfigError
from coqa.train.config import TrainConfig

logger = logging.getLogger(__name__)


def no_decay(name: str, param: nn.Parameter) -> bool:
    """Biases, norm weights and every 1-D parameter are not weight-decayed."""
    return "bias" in name or "norm" in name.lower() or param.ndim <= 1


def parameter_groups(model: nn.Module, weight_decay: float,
                     head_learning_rate: Optional[float] = None) -> list[dict]:
    """AdamW groups: weight-decayed or not and, with `head_learning_rate`, the model's head
    parameters (`model.head_parameter(name)`: what the pretrained encoder lacks) apart
    with that learning rate; empty groups are left out."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    is_head = (lambda name: False) if head_learning_rate is None else _head_test(model)
    groups = []
    for head in (False, True):
        for decayed in (True, False):
            params = [p for n, p in named
                      if is_head(n) == head and no_decay(n, p) != decayed]
            group = {"params": params, "weight_decay": weight_decay if decayed else 0.0}
            if head:
                group["lr"] = head_learning_rate
            if params or not head:
                groups.append(group)
    return groups


def _head_test(model: nn.Module) -> Callable[[str], bool]:
    test = getattr(model, "head_parameter", None)
    if test is None:
        raise ConfigError(f"{type(model).__name__} does not say which parameters are its head: "
                          "--head_learning_rate cannot be used with it")
    return test


def log_head_parameters(model: nn.Module, config: TrainConfig) -> None:
    """One line: how many parameters train at --head_learning_rate, and at what rate."""
    if config.head_learning_rate is None:
        return
    test = _head_test(model)
    head = [p for n, p in model.named_parameters() if p.requires_grad and test(n)]
    logger.info("Head parameters (%d tensors, %s values) at learning rate %g "
                "(--head_learning_rate), the rest at %g", len(head),
                f"{sum(p.numel() for p in head):,}", config.head_learning_rate,
                config.learning_rate)


def use_fused(groups: list[dict]) -> bool:
    """The fused (one kernel per step) AdamW when every trained parameter is a floating-point
    tensor on a CUDA device; the CPU keeps the default implementation (and its figures)."""
    params = [p for group in groups for p in group["params"]]
    return bool(params) and all(p.is_cuda and p.is_floating_point() for p in params)


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    groups = parameter_groups(model, config.weight_decay, config.head_learning_rate)
    return torch.optim.AdamW(groups, lr=config.learning_rate, eps=config.adam_epsilon,
                             fused=True if use_fused(groups) else None)


def linear_warmup_decay(warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    """LR factor: 0 → 1 over `warmup_steps`, then linearly down to 0 at `total_steps`."""
    def factor(step: int) -> float:
        if step < warmup_steps:
            return step / max(1, warmup_steps)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))
    return factor


def build_scheduler(optimizer: torch.optim.Optimizer, warmup_steps: int,
                    total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    factor = linear_warmup_decay(warmup_steps, total_steps)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def count_parameters(model: nn.Module) -> int:
    """Number of parameters, each shared tensor counted once."""
    return sum(p.numel() for p in model.parameters())
