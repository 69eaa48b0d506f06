"""GPU slots for `python -m coqa.tools.sweep --gpus`: which devices each running seed gets.

`--gpus 0,1,2,3` is four slots of one GPU each; `--gpus 0,1:2,3` is two slots of two GPUs
each (slots apart by `:`, the GPUs of a slot by `,`). A seed that starts takes the first
slot no running seed holds and gives it back when it ends; its commands see the slot as
CUDA_VISIBLE_DEVICES (so torch numbers the slot's GPUs from 0) and `{gpu}` in the command
as the same text. Only the sweep's main thread takes and gives back slots, so no lock.
"""
from __future__ import annotations

import re
from typing import Dict, List, Optional, Sequence, Tuple

from coqa.data.errors import UsageError

# A CUDA index, or a device's UUID as nvidia-smi -L prints it (GPU-..., MIG-...).
GPU_ID = re.compile(r"\d+|(GPU|MIG)-[0-9A-Za-z/-]+")


def parse_gpus(text: str) -> Tuple[str, ...]:
    """The slots of a `--gpus` value, each as its CUDA_VISIBLE_DEVICES text; a malformed
    value or a GPU named twice is a UsageError."""
    parts = text.split(":") if ":" in text else text.split(",")
    slots: List[str] = []
    seen: List[str] = []
    for part in parts:
        ids = part.split(",")
        for gpu in ids:
            if not GPU_ID.fullmatch(gpu):
                raise UsageError(f"--gpus {text}: {gpu!r} is not a GPU id (give CUDA indices, "
                                 "e.g. --gpus 0,1,2,3, or slots of several: --gpus 0,1:2,3)")
            if gpu in seen:
                raise UsageError(f"--gpus {text}: GPU {gpu} is given twice")
            seen.append(gpu)
        slots.append(",".join(ids))
    return tuple(slots)


def resolve_parallel(parallel: Optional[int], slots: Sequence[str]) -> int:
    """How many seeds run at once: --parallel as given, else one per slot (1 without
    --gpus); more than there are slots is a UsageError."""
    if parallel is None:
        return len(slots) or 1
    if parallel < 1:
        raise UsageError(f"--parallel must be 1 or more (got {parallel})")
    if slots and parallel > len(slots):
        raise UsageError(f"--parallel {parallel} is more than the {len(slots)} GPU slot"
                         f"{'s' if len(slots) > 1 else ''} of --gpus ({' '.join(slots)}): "
                         f"two runs would share a GPU; give --parallel {len(slots)} or more GPUs")
    return parallel


def check_gpu_placeholder(command: Sequence[str], slots: Sequence[str]) -> None:
    """`{gpu}` in a command means something only with --gpus."""
    if not slots and any("{gpu}" in token for token in command):
        raise UsageError("the command uses {gpu}: give --gpus (e.g. --gpus 0,1) so that each "
                         "run has its GPUs")


def gpu_label(slot: str) -> str:
    """`GPU 2` or `GPUs 0,1`, for the line that says a seed started."""
    return f"GPU{'s' if ',' in slot else ''} {slot}"


class GpuSlots:
    """The slots of --gpus and the seed that holds each; without --gpus (no slots) a seed
    gets None, and its runs the environment's CUDA_VISIBLE_DEVICES."""

    def __init__(self, slots: Sequence[str]):
        self.slots = tuple(slots)
        self.holder: Dict[int, str] = {}  # seed -> its slot, while it runs

    def take(self, seed: int) -> Optional[str]:
        """The first free slot, now held by `seed`; the sweep runs no more seeds at once
        than there are slots."""
        if not self.slots:
            return None
        held = set(self.holder.values())
        slot = next(slot for slot in self.slots if slot not in held)
        self.holder[seed] = slot
        return slot

    def give_back(self, seed: int) -> Optional[str]:
        """Free the slot of `seed`, which has ended; that slot (None without --gpus)."""
        return self.holder.pop(seed, None)
