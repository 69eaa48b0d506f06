"""Random state: seeding, and the python / numpy / torch generator states as plain data
(saved in checkpoints, put back around evaluations)."""
from __future__ import annotations

import random
from typing import Optional

import numpy as np
import torch
import torch.distributed as torch_dist

from coqa.train.distributed import DistInfo


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds every CUDA device too


def rng_state(device: torch.device) -> dict:
    """Python, numpy, torch CPU (and this device's CUDA) generator states, as plain data."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"python": random.getstate(), "cpu": torch.get_rng_state(),
             "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)),
                       "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)}}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    random.setstate(state["python"])
    np_state = state["numpy"]
    np.random.set_state((np_state["name"], np_state["keys"].numpy().astype(np.uint32),
                         np_state["pos"], np_state["has_gauss"], np_state["cached"]))
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def gather_rng_states(dist: DistInfo) -> Optional[list[dict]]:
    """Every rank's random state, on the main rank (None elsewhere): only rank 0 writes."""
    state = rng_state(dist.device)
    if not dist.distributed:
        return [state]
    gathered = [None] * dist.world_size if dist.is_main else None
    torch_dist.gather_object(state, gathered, dst=0)
    return gathered
