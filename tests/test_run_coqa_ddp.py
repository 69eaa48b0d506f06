"""run_coqa.py under torchrun: 2 CPU processes (gloo) equal 1 process with the same
global batch, and only rank 0 writes."""
from __future__ import annotations

import socket
import subprocess
import sys

import torch
from safetensors.torch import load_file

import run_coqa
from tests.conftest import REPO


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_processes_match_one(tmp_path, tiny_bert_factory):
    model_dir = tiny_bert_factory((REPO / "data/sample/train.json",), dropout=0.0)  # deterministic
    common = ["--model_type", "bert", "--model_name_or_path", str(model_dir), "--do_train",
              "--data_dir", str(REPO / "data/sample"), "--train_file", "train.json",
              "--max_seq_length", "128", "--doc_stride", "32", "--max_steps", "3",
              "--save_steps", "2", "--learning_rate", "1e-3", "--warmup_steps", "0",
              "--cache_dir", str(tmp_path / "cache")]
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                          "--master_port", str(_free_port()), "run_coqa.py", *common,
                          "--output_dir", str(tmp_path / "ddp"), "--per_gpu_train_batch_size", "4"],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert ddp.returncode == 0, ddp.stderr[-2000:]
    # The one-process run in-process: what is tested is torchrun's, not a second torch start.
    assert run_coqa.main([*common, "--output_dir", str(tmp_path / "single"),
                          "--per_gpu_train_batch_size", "8"]) == 0
    a = load_file(str(tmp_path / "ddp" / "model.safetensors"))
    b = load_file(str(tmp_path / "single" / "model.safetensors"))
    assert a.keys() == b.keys()
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-5), name
    # Only rank 0 wrote: one checkpoint, one feature cache file, no leftovers.
    assert sorted(p.name for p in (tmp_path / "ddp").glob("checkpoint-*")) == ["checkpoint-2"]
    assert len(list((tmp_path / "cache").glob("cached_train_*.npz"))) == 1
    assert not list((tmp_path / "ddp").glob(".tmp*"))
