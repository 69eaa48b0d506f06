"""Data order: every epoch, every process, draws its indices from a `DistributedSampler`
(seed + epoch), so the order is a pure function of (seed, epoch), and a DDP run with batch
b per process sees the same examples per optimizer step as one process with batch world·b."""
from __future__ import annotations

import math

from torch.utils.data import DistributedSampler

from coqa.train.config import TrainConfig
from coqa.train.distributed import DistInfo


def epoch_batches(num_examples: int, batch_size: int, dist: DistInfo, seed: int,
                  epoch: int) -> list[list[int]]:
    """This rank's micro-batches of example indices for one epoch (no RNG consumed)."""
    sampler = DistributedSampler(range(num_examples), num_replicas=dist.world_size,
                                 rank=dist.rank, shuffle=True, seed=seed, drop_last=False)
    sampler.set_epoch(epoch)
    order = list(sampler)
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def accumulation_groups(batches: list[list[int]], accumulation: int) -> list[list[list[int]]]:
    """Micro-batches grouped per optimizer step; the last group may be shorter."""
    return [batches[i:i + accumulation] for i in range(0, len(batches), accumulation)]


def steps_per_epoch(num_examples: int, batch_size: int, world_size: int, accumulation: int) -> int:
    batches = math.ceil(math.ceil(num_examples / world_size) / batch_size)
    return math.ceil(batches / accumulation)


def total_steps(config: TrainConfig, per_epoch: int) -> int:
    if config.max_steps > 0:
        return config.max_steps
    return max(1, math.ceil(per_epoch * config.num_train_epochs))
