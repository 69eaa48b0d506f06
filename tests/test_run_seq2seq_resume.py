"""run_seq2seq.py resumes exactly: from a checkpoint of an uninterrupted run, and after the
training process was killed (SIGKILL) part-way."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

import run_seq2seq
from coqa.train.checkpoints import STATE_FILES
from tests.conftest import REPO
from tests.seq2seq_runs import one_thread, run_flags, tiny_unilm, weights, write_lines

# 12 examples in batches of 4: 3 steps an epoch, so the runs below cross epochs.
EXAMPLES, BATCH = 12, 4
CHECKPOINT_FILES = {*STATE_FILES, "model.safetensors", "config.json", "seq2seq_config.json",
                    "tokenizer.json", "args.json"}


@pytest.fixture(autouse=True)
def env():
    """One thread in-process; the environment that gives the killed subprocess one."""
    with one_thread() as environment:
        yield environment


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A tiny model with dropout on (so the random state must be restored too), the
    training lines (answers of every length) and a feature cache."""
    root = tmp_path_factory.mktemp("s2s-resume")
    return (tiny_unilm(root / "tiny", dropout=0.1), write_lines(root / "train.jsonl", EXAMPLES),
            root / "cache")


def train(inputs, output_dir, steps, save_steps, *extra):
    model, train_file, cache = inputs
    argv = run_flags(model, train_file, output_dir, cache, BATCH, steps, save_steps)
    assert run_seq2seq.main([*argv, *extra]) == 0


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_resume_from_checkpoint_reproduces_the_uninterrupted_run(inputs, tmp_path):
    train(inputs, tmp_path / "A", 7, 2)
    checkpoint = tmp_path / "A" / "checkpoint-4"
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    assert (state["epoch"], state["steps_in_epoch"]) == (1, 1)  # mid second epoch
    train(inputs, tmp_path / "C", 7, 2, "--resume_from_checkpoint", str(checkpoint))
    # Same weights bit for bit: same data order, the same pseudo tokens (keyed by seed,
    # epoch and example) and the same dropout masks (random state from the checkpoint).
    assert_same_weights(weights(tmp_path / "A"), weights(tmp_path / "C"))
    assert not torch.equal(weights(checkpoint)["cls.predictions.bias"],
                           weights(tmp_path / "C")["cls.predictions.bias"])  # C did train
    assert sorted(p.name for p in (tmp_path / "C").glob("checkpoint-*")) == ["checkpoint-6"]


def test_killed_run_leaves_complete_checkpoints_and_resumes(inputs, env, tmp_path):
    steps = 40
    model, train_file, cache = inputs
    out = tmp_path / "killed"
    argv = run_flags(model, train_file, out, cache, BATCH, steps, save_steps=1)
    log = tmp_path / "killed.log"
    with open(log, "wb") as stderr:
        process = subprocess.Popen([sys.executable, "run_seq2seq.py", *argv], cwd=REPO, env=env,
                                   stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        deadline = time.monotonic() + 120
        while not (out / "checkpoint-3").exists() and process.poll() is None:
            assert time.monotonic() < deadline, "no checkpoint-3 after 120 s"
            time.sleep(0.005)
    finally:
        process.kill()  # SIGKILL, wherever it is: a step, a save, a rename
        process.wait()
    assert process.returncode == -signal.SIGKILL, log.read_text(errors="replace")[-3000:]
    assert not (out / "model.safetensors").exists()
    checkpoints = sorted(out.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    for checkpoint in checkpoints:
        assert CHECKPOINT_FILES <= {p.name for p in checkpoint.iterdir()}, checkpoint.name
    latest = checkpoints[-1]
    # What a kill inside a save leaves (the kill above mostly lands in a step).
    stray = out / f".tmp-checkpoint-{steps - 1}-{os.getpid()}"
    stray.mkdir()
    (stray / "optimizer.pt").write_bytes(b"half")

    train(inputs, out, steps, 1, "--resume_from_checkpoint", str(latest))
    train(inputs, tmp_path / "uninterrupted", steps, steps)
    assert_same_weights(weights(out), weights(tmp_path / "uninterrupted"))
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]
    assert (out / f"checkpoint-{steps}").is_dir()
