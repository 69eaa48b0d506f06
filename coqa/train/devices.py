"""What depends on the GPU the run finds: evaluation and decoding batch sizes chosen by free
memory when no flag sets them, and a hint when GPUs are left idle.

The old flags' defaults (--per_gpu_eval_batch_size 8, --batch_size 4) were sized for a
CPU; a command line that gives them keeps them. Left out on a CUDA device, the batch is
the number of items that fit in `MEMORY_SHARE` of the free memory by a deliberately
generous per-item estimate (every activation of one layer alive at once, attention
scores materialised, fp32), capped: a larger batch only adds padding and latency.
"""
from __future__ import annotations

import logging
import os
from typing import Mapping, Optional

import torch

logger = logging.getLogger(__name__)

MEMORY_SHARE = 0.5        # of the free memory, for the batch's activations (and caches)
MAX_EVAL_BATCH = 256      # sequences per extractive evaluation batch
MAX_DECODE_BATCH = 128    # sources per decoding batch
BYTES = 4                 # per activation element: fp32, the largest a run may use


def encoder_bytes_per_sequence(seq_len: int, hidden: int, heads: int) -> int:
    """A forward pass without gradients of one sequence through a BERT-style layer: the
    hidden states and their copies (8 x seq x hidden), the FFN's intermediate (2 x seq x
    4 hidden) and the attention scores and probabilities (2 x heads x seq^2)."""
    elements = seq_len * hidden * 8 + seq_len * 4 * hidden * 2 + 2 * heads * seq_len ** 2
    return elements * BYTES


def decoder_bytes_per_source(source_len: int, target_len: int, hidden: int, heads: int,
                             layers: int, beam: int) -> int:
    """Cached beam decoding of one source: every layer's keys and values for each beam
    (2 x layers x (source + target) x hidden), plus the source's forward pass."""
    cache = 2 * layers * (source_len + target_len) * hidden * beam * BYTES
    return cache + encoder_bytes_per_sequence(source_len, hidden, heads)


def batch_for_memory(free_bytes: int, bytes_per_item: int, cap: int,
                     share: float = MEMORY_SHARE) -> int:
    """The items that fit in `share` of `free_bytes`, between 1 and `cap`."""
    return max(1, min(cap, int(free_bytes * share) // max(1, bytes_per_item)))


def choose_batch_size(given: int, explicit: bool, device: torch.device, bytes_per_item: int,
                      cap: int, flag: str) -> int:
    """`given` (the flag's value) unless the flag was left out on a CUDA device; then the
    batch by free memory, said in one log line."""
    if explicit or device.type != "cuda":
        return given
    free, _total = torch.cuda.mem_get_info(device)
    chosen = batch_for_memory(free, bytes_per_item, cap)
    logger.info("%s not given: batch %d chosen by memory (%.1f GiB free on %s, ~%.0f MiB per "
                "item, at most %d; give %s to set it)", flag, chosen, free / 2 ** 30, device,
                bytes_per_item / 2 ** 20, cap, flag)
    return chosen


def idle_gpus_hint(visible_gpus: int, environ: Mapping[str, str], script: str) -> Optional[str]:
    """One line when more than one GPU is visible and the process was not started by a
    launcher (torchrun sets LOCAL_RANK / WORLD_SIZE): only one of them will be used."""
    if visible_gpus <= 1 or "LOCAL_RANK" in environ or "WORLD_SIZE" in environ:
        return None
    return (f"{visible_gpus} GPUs are visible but this process uses one; to use all of them: "
            f"torchrun --nproc_per_node {visible_gpus} {script} ...")


def log_idle_gpus_hint(device: torch.device, script: str) -> None:
    """Log `idle_gpus_hint` on a CUDA device (called once, at start)."""
    if device.type == "cuda":
        hint = idle_gpus_hint(torch.cuda.device_count(), os.environ, script)
        if hint:
            logger.warning(hint)
