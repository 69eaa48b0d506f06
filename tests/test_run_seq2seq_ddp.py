"""run_seq2seq.py under torchrun: 2 CPU processes (gloo) equal 1 process with the same
global batch, and only rank 0 writes; gradient accumulation equals one big batch."""
from __future__ import annotations

import socket
import subprocess
import sys

import torch

import run_seq2seq
from coqa.train.checkpoints import STATE_FILES
from tests.conftest import REPO
from tests.seq2seq_runs import one_thread, run_flags, tiny_unilm, weights, write_lines


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_processes_match_one(tmp_path):
    # Dropout 0: dropout masks come from each rank's own random state. Pseudo tokens are
    # drawn per example from (seed, epoch, index), so they need no such care. Targets have
    # every length (1-40 tokens): the loop weighs each process's mean loss by its target
    # tokens, so two half batches give the gradient of the whole batch's mean. (s2s-ft
    # averaged the two means: 3.4e-3 apart after 3 steps here, far over the tolerance.)
    model = tiny_unilm(tmp_path / "tiny", dropout=0.0)
    train_file = write_lines(tmp_path / "train.jsonl", 32)
    cache = tmp_path / "cache"

    def flags(output_dir, batch):
        return run_flags(model, train_file, output_dir, cache, batch, steps=3, save_steps=2)

    with one_thread() as env:  # torchrun gives each worker one thread too
        ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node",
                              "2", "--master_port", str(_free_port()), "run_seq2seq.py",
                              *flags(tmp_path / "ddp", 4)],
                             cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        assert ddp.returncode == 0, ddp.stderr[-3000:]
        assert run_seq2seq.main(flags(tmp_path / "single", 8)) == 0

    a, b = weights(tmp_path / "ddp"), weights(tmp_path / "single")
    start = weights(model)
    assert a.keys() == b.keys()
    # Float32 sums in another order (half batches, gloo's all-reduce) differ by < 1e-6
    # after 3 steps here; one step of Adam at lr 1e-3 moves weights by up to 1e-3, so a
    # wrong split or a missing all-reduce is 100 times over the tolerance.
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-5, rtol=0), name
    assert max((a[name] - start[name]).abs().max().item() for name in start) > 5e-4
    # Only rank 0 wrote: one checkpoint, one cache file, one TensorBoard log, no leftovers.
    out = tmp_path / "ddp"
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2"]
    assert set(STATE_FILES) <= {p.name for p in (out / "checkpoint-2").iterdir()}
    assert len(torch.load(out / "checkpoint-2" / "rng_state.pt")["ranks"]) == 2
    assert len(list(cache.iterdir())) == 1
    assert len(list((out / "runs").iterdir())) == 1
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]


def test_accumulation_matches_one_batch(tmp_path):
    # Two micro-batches of 4 with different numbers of target tokens, accumulated, equal
    # one batch of 8: each micro-batch's mean loss is weighed by its target tokens.
    model = tiny_unilm(tmp_path / "tiny", dropout=0.0)
    train_file = write_lines(tmp_path / "train.jsonl", 32)
    cache = tmp_path / "cache"
    with one_thread():
        accumulated = run_flags(model, train_file, tmp_path / "acc", cache, 4, steps=3,
                                save_steps=0) + ["--gradient_accumulation_steps", "2"]
        assert run_seq2seq.main(accumulated) == 0
        assert run_seq2seq.main(run_flags(model, train_file, tmp_path / "one", cache, 8,
                                          steps=3, save_steps=0)) == 0
    a, b = weights(tmp_path / "acc"), weights(tmp_path / "one")
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-5, rtol=0), name
