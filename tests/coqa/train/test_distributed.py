"""The loop under DDP: one process without torchrun, two processes against one."""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys

import torch

from coqa.train.distributed import init_distributed
from tests.coqa.train.conftest import (REPO, WORKER, worker, ToyModel, load_state_dict,
                                       CHECKPOINT_FILES)


# ---------------------------------------------------------------- distributed

def test_init_distributed_without_torchrun_is_a_single_process(monkeypatch):
    for name in ("LOCAL_RANK", "RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    info = init_distributed(no_cuda=True)
    assert (info.rank, info.world_size, info.is_main, info.device.type) == (0, 1, True, "cpu")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ddp_two_processes_match_one_process_with_double_batch(tmp_path):
    # 16 examples = 2 epochs of 2 steps with per-process batch 2, accumulation 2, world 2.
    ddp_out, single_out = tmp_path / "ddp", tmp_path / "single"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
               "--master_port", str(_free_port()), str(WORKER), str(ddp_out),
               "--batch_size", "2", "--accumulation", "2", "--examples", "16"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(re.findall(r"Step: \d+\tLearning rate", done.stdout + done.stderr)) == 4
    worker.main([str(single_out), "--batch_size", "4", "--accumulation", "2", "--examples", "16"])
    assert json.loads((ddp_out / "result.json").read_text())["global_step"] == 4
    assert sorted(p.name for p in ddp_out.iterdir()) == [
        "checkpoint-2", "checkpoint-4", "model.safetensors", "result.json", "runs"]
    assert len(list((ddp_out / "runs").iterdir())) == 1
    for step in (2, 4):
        assert {p.name for p in (ddp_out / f"checkpoint-{step}").iterdir()} == CHECKPOINT_FILES
    rng = torch.load(ddp_out / "checkpoint-4" / "rng_state.pt", weights_only=True)
    assert rng["world_size"] == 2 and len(rng["ranks"]) == 2
    ddp_model, single_model = ToyModel(), ToyModel()
    load_state_dict(ddp_model, ddp_out)
    load_state_dict(single_model, single_out)
    for (name, a), b in zip(ddp_model.state_dict().items(), single_model.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), name
