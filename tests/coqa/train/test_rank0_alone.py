"""Rank 0 working alone (evaluating, decoding, building the cache) under DDP: two CPU
processes (gloo) through rank0_worker.py, with a training group whose timeout (5 s) is
shorter than rank 0's work (8 s), as NCCL's 10 minutes are shorter than a full
evaluation."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from coqa.train.distributed import DEFAULT_TIMEOUT_S
from tests.coqa.train.conftest import REPO

RANK0_WORKER = Path(__file__).with_name("rank0_worker.py")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _torchrun(*worker_args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
               "--master_port", str(_free_port()), str(RANK0_WORKER), *worker_args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=240)


def test_evaluation_longer_than_the_collective_timeout_does_not_kill_the_job(tmp_path):
    done = _torchrun(str(tmp_path), "train_eval", "--collective_timeout", "5",
                     "--work_seconds", "8")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads((tmp_path / "result.json").read_text())
    # Evaluated during training at the checkpoint, then the final evaluation, each 8 s.
    assert result == {"global_step": 2, "evaluations": [2], "final": "done"}


def test_control_waiting_in_a_collective_of_the_training_group_dies(tmp_path):
    # What the code did before: the other rank waits in the training group, whose 5 s
    # timeout ends the job. Without this, the test above would prove nothing.
    done = _torchrun(str(tmp_path), "collective", "--collective_timeout", "5",
                     "--work_seconds", "8")
    assert done.returncode != 0
    assert "timed out" in (done.stdout + done.stderr).lower()


def _error_lines(done: subprocess.CompletedProcess) -> list:
    """The one-line errors the workers printed (torchrun's own summary follows them)."""
    return [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("error")]


def test_bad_input_found_by_rank_0_alone_stops_every_rank_in_one_line(tmp_path):
    done = _torchrun(str(tmp_path), "bad_input")
    assert done.returncode != 0
    # One line (rank 0's); the waiting rank exits 2 too, without a traceback of gloo's
    # "Connection closed by peer" (what it printed before).
    assert _error_lines(done) == ["error: bad.json: not JSON"], done.stderr[-3000:]
    assert "[rank1]" not in done.stderr and "RuntimeError" not in done.stderr
    assert "exitcode  : 2" in done.stderr and "exitcode  : 1" not in done.stderr


def test_waiting_longer_than_ddp_timeout_is_one_line_naming_the_flag(tmp_path):
    done = _torchrun(str(tmp_path), "slow", "--wait_timeout", "2", "--work_seconds", "6")
    assert done.returncode != 0
    assert _error_lines(done) == ["error: rank 1 waited --ddp_timeout 2 s for the other "
                                   "processes and gave up: raise --ddp_timeout (or look for a "
                                   "process that hangs)"], done.stderr[-3000:]


def test_ctrl_c_on_every_rank_says_where_to_resume_once(tmp_path):
    done = _torchrun(str(tmp_path), "interrupt")
    assert done.returncode != 0
    assert _error_lines(done) == [f"error: interrupted at step 2; to continue, rerun the same "
                                  f"command with --resume_from_checkpoint "
                                  f"{tmp_path / 'checkpoint-2'}"], done.stderr[-3000:]
    assert "exitcode  : 130" in done.stderr, done.stderr[-3000:]


def test_overwrite_cache_is_rebuilt_by_the_main_rank_only(tmp_path):
    from coqa.tools.tiny import dialogue_texts, write_tiny_bert

    tokenizer = write_tiny_bert(tmp_path / "tiny", dialogue_texts([str(REPO / "data/sample/train.json")]))
    out = tmp_path / "out"
    done = _torchrun(str(out), "cache", "--tokenizer", str(tokenizer))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rank0 = (out / "saves-0.txt").read_text().splitlines()
    rank1 = (out / "saves-1.txt").read_text().splitlines()
    # Rank 0 built the cache, then rebuilt it (--overwrite_cache); rank 1 read both times.
    assert [line.startswith("cached_train_") for line in rank0] == [True, False, True, False]
    assert [line.startswith("loaded") for line in rank1] == [True, True]
    assert rank0[1] == rank1[0] and rank0[3] == rank1[1]  # the same number of features
    assert len(list((out / "cache").glob("cached_train_*"))) == 1


def test_the_flag_default_is_the_library_default():
    from coqa.cli import OneLineParser, add_system_flags

    parser = OneLineParser()
    add_system_flags(parser)
    assert parser.parse_args([]).ddp_timeout == DEFAULT_TIMEOUT_S
    assert parser.parse_args(["--ddp_timeout", "60"]).ddp_timeout == 60
