"""Checkpoints and resume of the shared training loop, on the toy model."""
from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import torch

from coqa.data.errors import Interrupted, UsageError
from coqa.train.loop import train
from tests.coqa.train.conftest import (ToyDataset, save_state_dict, load_state_dict,
                                       CHECKPOINT_FILES, make_config, toy_model, snapshot,
                                       same_weights, no_save)


# ---------------------------------------------------------------- checkpoints and resume

class Interrupt(Exception):
    pass


def test_resume_mid_epoch_gives_identical_weights(tmp_path):
    # 18 examples, batch 2 → 9 micro-batches; accumulation 2 → 5 steps per epoch (last
    # group short); 2 epochs → 10 steps. Dropout is on, so the random state must replay.
    dataset = ToyDataset(18)
    settings = dict(gradient_accumulation_steps=2, num_train_epochs=2, max_grad_norm=1.0)
    full = toy_model(dropout=0.3)
    expected = train(full, dataset, make_config(tmp_path / "full", **settings), no_save)

    interrupted = toy_model(dropout=0.3)

    def evaluate_then_die(step):
        torch.rand(5)          # evaluation may use the random state and eval mode...
        interrupted.eval()     # ...the loop puts both back
        if step == 7:
            raise Interrupt

    out = tmp_path / "interrupted"
    with pytest.raises(Interrupt):
        train(interrupted, dataset, make_config(out, save_steps=1, **settings),
              save_state_dict, evaluate_fn=evaluate_then_die)
    for step, (epoch, in_epoch) in {3: (0, 3), 5: (1, 0), 6: (1, 1)}.items():
        checkpoint = out / "out" / f"checkpoint-{step}"
        state = json.loads((checkpoint / "trainer_state.json").read_text())
        assert (state["global_step"], state["epoch"], state["steps_in_epoch"]) == (
            step, epoch, in_epoch)
        resumed = toy_model(dropout=0.3, seed=123)  # different init, different RNG
        load_state_dict(resumed, checkpoint)
        config = make_config(tmp_path / f"resumed-{step}", resume_from_checkpoint=str(checkpoint),
                             **settings)
        result = train(resumed, dataset, config, no_save)
        assert result.global_step == 10
        assert result.average_loss == pytest.approx(expected.average_loss, rel=1e-6)
        assert same_weights(snapshot(resumed), snapshot(full)), f"resumed from step {step}"


def test_resume_refuses_a_different_batch_size(tmp_path):
    out = tmp_path / "a"
    train(toy_model(), ToyDataset(8), make_config(out, save_steps=2), save_state_dict)
    config = make_config(tmp_path / "b", per_device_batch_size=4,
                         resume_from_checkpoint=str(out / "out" / "checkpoint-2"))
    with pytest.raises(ValueError, match="global batch size"):
        train(toy_model(), ToyDataset(8), config, save_state_dict)


def test_checkpoint_is_complete_or_absent(tmp_path):
    out = Path(make_config(tmp_path).output_dir)
    (out / "checkpoint-2").mkdir(parents=True)
    (out / "checkpoint-2" / "stale.txt").write_text("from an older run")
    train(toy_model(), ToyDataset(8), make_config(tmp_path, save_steps=2), save_state_dict)
    for step in (2, 4):
        assert {p.name for p in (out / f"checkpoint-{step}").iterdir()} == CHECKPOINT_FILES
    assert not [p for p in out.iterdir() if p.name.startswith(".")]

    def broken_save(model, directory):
        save_state_dict(model, directory)
        raise OSError("disk full")

    with pytest.raises(UsageError, match="checkpoint-2: disk full"):  # one line, folder named
        train(toy_model(), ToyDataset(8), make_config(tmp_path / "broken", save_steps=2),
              broken_save)
    broken = tmp_path / "broken" / "out"
    assert not (broken / "checkpoint-2").exists()
    assert all(p.name.startswith(".tmp-checkpoint-2-") or p.name == "runs"
               for p in broken.iterdir())


def test_next_run_cleans_up_after_a_kill_inside_a_save(tmp_path):
    out = Path(make_config(tmp_path).output_dir)
    for name in (".tmp-checkpoint-4-111", ".old-checkpoint-2-111", ".old-checkpoint-6-111",
                 "checkpoint-2", ".tmp-final-x1y2"):
        (out / name).mkdir(parents=True)
        (out / name / "model.safetensors").write_bytes(name.encode())
    # Killed between the two renames of a replacement: checkpoint-6 only exists as .old.
    train(toy_model(), ToyDataset(8), make_config(tmp_path), save_state_dict)
    assert sorted(p.name for p in out.iterdir() if p.name != "runs") == [
        "checkpoint-2", "checkpoint-6"]
    assert (out / "checkpoint-6" / "model.safetensors").read_bytes() == b".old-checkpoint-6-111"


class TerminatedDataset(ToyDataset):
    """Sends this process SIGTERM while the loop fetches its `at`-th batch."""

    def __init__(self, size: int, at: int):
        super().__init__(size)
        self.calls, self.at = 0, at

    def batch(self, indices):
        self.calls += 1
        if self.calls == self.at:
            os.kill(os.getpid(), signal.SIGTERM)
        return super().batch(indices)


def test_sigterm_ends_training_as_ctrl_c_does(tmp_path):
    """A pre-empted job says where to resume from (Python's default is to die at once)."""
    before = signal.getsignal(signal.SIGTERM)
    config = make_config(tmp_path, save_steps=2)
    with pytest.raises(Interrupted, match=r"at step 4; .*--resume_from_checkpoint .*checkpoint-4"):
        train(toy_model(), TerminatedDataset(16, at=5), config, save_state_dict)
    assert signal.getsignal(signal.SIGTERM) is before  # put back after training
    assert not list(Path(config.output_dir).glob(".tmp-*"))


class EpochDataset(ToyDataset):
    """Records the epochs the loop announces with `set_epoch`."""

    def __init__(self, size: int):
        super().__init__(size)
        self.epochs: list[int] = []

    def set_epoch(self, epoch: int) -> None:
        self.epochs.append(epoch)


def test_set_epoch_before_every_epoch_and_on_resume(tmp_path):
    dataset = EpochDataset(8)  # batch 2: 4 steps an epoch
    train(toy_model(), dataset, make_config(tmp_path, num_train_epochs=3, save_steps=6),
          save_state_dict)
    assert dataset.epochs == [0, 1, 2]
    resumed = EpochDataset(8)
    checkpoint = Path(make_config(tmp_path).output_dir) / "checkpoint-6"  # epoch 1, step 2
    train(toy_model(), resumed, make_config(tmp_path / "resumed", num_train_epochs=3,
                                            resume_from_checkpoint=str(checkpoint)), no_save)
    assert resumed.epochs == [1, 2]
