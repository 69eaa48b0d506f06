"""AdamW without decay on biases and norm weights, and linear warm-up then decay to 0."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from coqa.train.config import TrainConfig


def no_decay(name: str, param: nn.Parameter) -> bool:
    """Biases, norm weights and every 1-D parameter are not weight-decayed."""
    return "bias" in name or "norm" in name.lower() or param.ndim <= 1


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    return [
        {"params": [p for n, p in named if not no_decay(n, p)], "weight_decay": weight_decay},
        {"params": [p for n, p in named if no_decay(n, p)], "weight_decay": 0.0},
    ]


def use_fused(groups: list[dict]) -> bool:
    """The fused (one kernel per step) AdamW when every trained parameter is a floating-point
    tensor on a CUDA device; the CPU keeps the default implementation (and its figures)."""
    params = [p for group in groups for p in group["params"]]
    return bool(params) and all(p.is_cuda and p.is_floating_point() for p in params)


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    groups = parameter_groups(model, config.weight_decay)
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
