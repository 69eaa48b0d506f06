"""Process-group set-up for `torchrun` (and the old `--local_rank` launcher).

A single-process run and a DDP run go through the same code: `init_distributed` returns a
`DistInfo` that says who we are; only the main rank (rank 0) writes files and logs at INFO.

Rank 0 also works alone at times: it builds the feature cache, evaluates during training,
runs the final evaluation and decodes. The other ranks must not wait for it inside a
collective of the training group, whose timeout (NCCL's default: 10 minutes) would kill
the job. They wait in `barrier` instead, a barrier of a second, CPU-only (gloo) group whose
timeout is `--ddp_timeout` (default 3 hours); `main_rank_alone` wraps such work. The
training group gets the same timeout, so a slow all-reduce is not fatal either.

When a rank stops while the others wait for it (bad input found by rank 0 alone, a failed
write), it says why in its own line; the waiting ranks then exit with code 2 too, without
a traceback of gloo's "Connection closed by peer" each (`barrier`).
"""
from __future__ import annotations

import gc
import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable, Iterator, Optional, TypeVar

import torch
import torch.distributed as torch_dist

from coqa.data.errors import ConfigError, Interrupted

# How long a rank waits for the others, in a collective or while rank 0 works alone
# (--ddp_timeout): a full ConvQA_CN evaluation or decoding on one GPU, with room to spare.
DEFAULT_TIMEOUT_S = 3 * 3600
T = TypeVar("T")
_WAIT_GROUP = None  # the gloo group of `barrier`, set by init_distributed
_WAIT_TIMEOUT_S = DEFAULT_TIMEOUT_S  # its timeout (--ddp_timeout)

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


def init_distributed(no_cuda: bool = False, local_rank: int = -1,
                     timeout_s: float = DEFAULT_TIMEOUT_S,
                     collective_timeout_s: Optional[float] = None) -> DistInfo:
    """Read LOCAL_RANK / RANK / WORLD_SIZE (set by torchrun) and join the process group.

    `local_rank` is the value of an old-style `--local_rank` flag; the LOCAL_RANK
    environment variable wins when both are present. Backend: nccl on CUDA, gloo on CPU.
    Without any of these, returns a single-process `DistInfo` (CUDA if available).
    `timeout_s` (--ddp_timeout): how long `barrier` waits for rank 0 working alone, and
    the training group's timeout unless `collective_timeout_s` says otherwise (tests make
    that one short to show that waiting for rank 0 does not depend on it).
    """
    global _WAIT_GROUP, _WAIT_TIMEOUT_S
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
        if timeout_s <= 0 or (collective_timeout_s is not None and collective_timeout_s <= 0):
            raise ConfigError(f"--ddp_timeout must be a positive number of seconds, got "
                              f"{timeout_s}")
        collective = timeout_s if collective_timeout_s is None else collective_timeout_s
        torch_dist.init_process_group(backend="nccl" if use_cuda else "gloo",
                                      timeout=timedelta(seconds=collective))
        # Waiting ranks sit in this group's barrier: on the CPU, outside NCCL (no GPU
        # spinning, no NCCL watchdog), for up to timeout_s.
        _WAIT_GROUP = torch_dist.new_group(backend="gloo", timeout=timedelta(seconds=timeout_s))
        _WAIT_TIMEOUT_S = timeout_s
    return DistInfo(rank=rank, local_rank=local_rank, world_size=world_size, device=device,
                    is_main=rank == 0)


def log_level(info: DistInfo) -> int:
    """INFO on the main rank, WARNING elsewhere (pass to `coqa.cli.setup_logging`)."""
    return logging.INFO if info.is_main else logging.WARNING


def barrier(info: DistInfo) -> None:
    """Wait for every rank, for up to --ddp_timeout (outside the training group, see the
    module docstring); a no-op in a single-process run.

    A rank that stopped meanwhile (its error already printed) makes the waiting ones stop
    too: exit code 2 and no line of their own on the other ranks, one line on the main
    rank (the rank that stopped is named in torchrun's summary). Waiting longer than
    --ddp_timeout is one line naming the flag."""
    if info.distributed and torch_dist.is_initialized():
        _wait(info.rank)


def _wait(rank: int) -> None:
    try:
        if _WAIT_GROUP is not None:
            torch_dist.barrier(group=_WAIT_GROUP)
        else:  # a process group that someone else set up
            torch_dist.barrier()
    except RuntimeError as err:  # gloo: a peer's connection closed, or the timeout
        if "timed out" in str(err).lower() or "timeout" in str(err).lower():
            raise ConfigError(f"rank {rank} waited --ddp_timeout {_WAIT_TIMEOUT_S:g} s "
                              f"for the other processes and gave up: raise --ddp_timeout "
                              f"(or look for a process that hangs)") from None
        if rank != 0:
            raise SystemExit(2) from None
        raise ConfigError("another process of this job stopped while rank 0 waited for it "
                          "(its own error says why; torchrun's summary names its rank)") from None


def main_rank_alone(info: DistInfo, work: Callable[[], T]) -> Optional[T]:
    """Run `work` on the main rank only while the other ranks wait in `barrier`; every
    rank returns once the main rank is done (the others get None). For evaluation and
    decoding, which would otherwise leave the other ranks inside a collective."""
    result = work() if info.is_main else None
    barrier(info)
    return result


@contextmanager
def interruption_said_once(info: DistInfo) -> Iterator[None]:
    """Around training: Ctrl-C reaches every rank (torchrun passes it on), and each would
    print the same line saying where to resume; only the main rank says it, the others
    exit with the same code (130) in silence."""
    try:
        yield
    except Interrupted:
        if info.is_main:
            raise
        raise SystemExit(Interrupted.exit_code) from None


def cleanup_distributed() -> None:
    """Leave the process group (call once at the end of a DDP run, on every rank).

    A DistributedDataParallel wrapper still alive (its reducer sits in a reference cycle)
    when the process group goes away, or at exit, sometimes aborts the process with
    "terminate called without an active exception" (seen with torch 2.13, gloo): collect
    it first, then wait for every rank (rank 0 may still be writing files).
    """
    global _WAIT_GROUP
    if torch_dist.is_initialized():
        gc.collect()
        _wait(torch_dist.get_rank())
        torch_dist.destroy_process_group()
        _WAIT_GROUP = None
