"""A full disk, Ctrl-C and foreign checkpoints: one line (exit 130 for Ctrl-C), no
half-written folder."""
from __future__ import annotations

import errno
import random

import pytest

import run_coqa
from coqa.tools import validate
from coqa.train.step import OptimizerStep
from tests.misuse.conftest import SAMPLE, coqa_argv, copy, one_line, with_flags


def _disk_full_after(monkeypatch, count):
    """safetensors' writer raises ENOSPC from its `count`-th call on, as a full disk does."""
    import coqa.extractive.model as extractive_model

    real = extractive_model.save_file
    calls = []

    def writer(tensors, filename, *args, **kwargs):
        calls.append(filename)
        if len(calls) >= count:
            raise OSError(errno.ENOSPC, "No space left on device", filename)
        return real(tensors, filename, *args, **kwargs)
    monkeypatch.setattr(extractive_model, "save_file", writer)


@pytest.mark.parametrize("save", ["checkpoint", "final model"])
def test_disk_full_while_saving(save, model, cache, tmp_path, monkeypatch, capsys):
    _disk_full_after(monkeypatch, 1)
    out = tmp_path / "out"
    code = run_coqa.main(coqa_argv(model, out, cache, "--do_train", "--max_steps", "2",
                                   "--save_steps", "2" if save == "checkpoint" else "0"))
    where = out / "checkpoint-2" / "model.safetensors" if save == "checkpoint" \
        else out / "model.safetensors"
    one_line(capsys, code, str(where), "the disk is full")
    assert not [p.name for p in out.iterdir() if p.name.startswith(".tmp-")]


def test_ctrl_c_says_where_to_resume(model, cache, tmp_path, monkeypatch, capsys):
    real = OptimizerStep.__call__
    steps = []

    def step(self, group):
        steps.append(1)
        if len(steps) == 4:
            raise KeyboardInterrupt
        return real(self, group)
    monkeypatch.setattr(OptimizerStep, "__call__", step)
    out = tmp_path / "out"
    code = run_coqa.main(coqa_argv(model, out, cache, "--do_train", "--max_steps", "6",
                                   "--save_steps", "2"))
    one_line(capsys, code, "interrupted at step 3", "--resume_from_checkpoint",
             str(out / "checkpoint-2"), exit_code=130)


@pytest.mark.parametrize("other", ["other data", "a seq2seq run"])
def test_resume_from_another_runs_checkpoint(other, coqa_run, s2s_run, model, cache, tmp_path,
                                             capsys):
    if other == "other data":
        argv = coqa_argv(model, tmp_path / "out", cache, "--do_train", "--max_steps", "4",
                         "--save_steps", "2", "--resume_from_checkpoint",
                         str(coqa_run / "checkpoint-2"))
        argv[argv.index("--train_file") + 1] = "dev.json"
        words = ["num_examples was", "another run"]
    else:  # the seq2seq run's schedule flags, so that only the checkpoint's content differs
        argv = with_flags(coqa_argv(model, tmp_path / "out", cache, "--do_train"),
                          {"--max_steps": "4", "--learning_rate": "0.001",
                           "--per_gpu_train_batch_size": "4", "--warmup_steps": "0",
                           "--num_train_epochs": "0", "--save_steps": "2",
                           "--resume_from_checkpoint": str(s2s_run / "checkpoint-2")})
        words = ["another run"]
    one_line(capsys, run_coqa.main(argv), str(coqa_run if other == "other data" else s2s_run),
             *words)


def test_ctrl_c_outside_training_is_one_line(tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(validate, "load_dialogues", interrupted)
    one_line(capsys, validate.main([str(SAMPLE / "dev.json")]), "interrupted", exit_code=130)


def test_random_pytorch_model_bin_looking_like_a_pickle(model, cache, tmp_path, capsys):
    folder = copy(model, tmp_path / "model")
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"\x80" + random.Random(1).randbytes(4999))
    code = run_coqa.main(coqa_argv(folder, tmp_path / "out", cache, "--do_train",
                                   "--max_steps", "1"))
    one_line(capsys, code, str(folder))
