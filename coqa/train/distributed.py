"""Process-group set-up for `torchrun` (and the old `--local_rank` launcher).

A single-process run and a DDP run go through the same code: `init_distributed` returns a
`DistInfo` that says who we are; only the main rank (rank 0) writes files and logs at INFO.
"""
from __future__ import annotations

import gc
import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as torch_dist


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: its rank, the local GPU index, the world size, its device."""

    rank: int
    local_rank: int   # -1 when not launched by torchrun / torch.distributed.launch
    world_size: int
    device: torch.device
    is_main: bool

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def single_process(device: torch.device | str = "cpu") -> DistInfo:
    """The `DistInfo` of a plain, non-distributed run on `device`."""
    return DistInfo(rank=0, local_rank=-1, world_size=1, device=torch.device(device), is_main=True)


def init_distributed(no_cuda: bool = False, local_rank: int = -1) -> DistInfo:
    """Read LOCAL_RANK / RANK / WORLD_SIZE (set by torchrun) and join the process group.

    `local_rank` is the value of an old-style `--local_rank` flag; the LOCAL_RANK
    environment variable wins when both are present. Backend: nccl on CUDA, gloo on CPU.
    Without any of these, returns a single-process `DistInfo` (CUDA if available).
    """
    if "LOCAL_RANK" in os.environ:
        local_rank = int(os.environ["LOCAL_RANK"])
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    use_cuda = torch.cuda.is_available() and not no_cuda
    if local_rank == -1 and world_size == 1:
        return single_process("cuda" if use_cuda else "cpu")
    rank = int(os.environ.get("RANK", max(local_rank, 0)))
    if use_cuda:
        torch.cuda.set_device(max(local_rank, 0))
        device = torch.device("cuda", max(local_rank, 0))
    else:
        device = torch.device("cpu")
    if world_size > 1 and not torch_dist.is_initialized():
        torch_dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return DistInfo(rank=rank, local_rank=local_rank, world_size=world_size, device=device,
                    is_main=rank == 0)


def log_level(info: DistInfo) -> int:
    """INFO on the main rank, WARNING elsewhere (pass to `coqa.cli.setup_logging`)."""
    return logging.INFO if info.is_main else logging.WARNING


def barrier(info: DistInfo) -> None:
    """Wait for every rank; a no-op in a single-process run."""
    if info.distributed and torch_dist.is_initialized():
        torch_dist.barrier()


def cleanup_distributed() -> None:
    """Leave the process group (call once at the end of a DDP run, on every rank).

    A DistributedDataParallel wrapper still alive (its reducer sits in a reference cycle)
    when the process group goes away, or at exit, sometimes aborts the process with
    "terminate called without an active exception" (seen with torch 2.13, gloo): collect
    it first, then wait for every rank (rank 0 may still be writing files).
    """
    if torch_dist.is_initialized():
        gc.collect()
        torch_dist.barrier()
        torch_dist.destroy_process_group()
