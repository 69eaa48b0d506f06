"""Helpers of the run_seq2seq.py training tests (DDP, resume, kill and resume): a tiny
UniLM folder, a small JSON-lines training file and the flags of a short CPU run."""
from __future__ import annotations

import json
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import torch
from safetensors.torch import load_file

from coqa.data.readers import load_dialogues
from tests.conftest import REPO, write_tiny_model

SAMPLE_TRAIN = REPO / "data" / "sample" / "train.json"
NOT_HAN = re.compile(r"[^\u4e00-\u9fff]")


def tiny_unilm(folder: Path, dropout: float) -> Path:
    """A random 2-layer BERT (hidden 32) covering the sample's characters, with `dropout`."""
    return write_tiny_model(folder, (SAMPLE_TRAIN,), dropout=dropout)


def write_lines(path: Path, count: int, target_chars: Optional[int] = None) -> Path:
    """`count` lines {"src": question + start of the passage, "tgt": answer} from the sample
    dialogues. With `target_chars` every target is that many Chinese characters, one
    token each, so every example has the same number of target tokens."""
    lines = []
    for dialogue in load_dialogues(SAMPLE_TRAIN).dialogues:
        for turn in dialogue.turns:
            target = turn.answer
            if target_chars is not None:
                target = NOT_HAN.sub("", turn.answer + dialogue.passage)[:target_chars]
            lines.append({"src": turn.question + dialogue.passage[:60], "tgt": target})
    assert len(lines) >= count
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n"
                            for line in lines[:count]), encoding="utf-8")
    return path


def run_flags(model: Path, train_file: Path, output_dir: Path, cache_dir: Path, batch: int,
              steps: int, save_steps: int) -> list[str]:
    """A short CPU run: 256 source and 16 target tokens, a high learning rate."""
    return ["--train_file", str(train_file), "--model_name_or_path", str(model),
            "--output_dir", str(output_dir), "--cached_train_features_file", str(cache_dir),
            "--max_source_seq_length", "256", "--max_target_seq_length", "16",
            "--per_gpu_train_batch_size", str(batch), "--num_training_steps", str(steps),
            "--save_steps", str(save_steps), "--logging_steps", "1", "--learning_rate", "1e-3",
            "--no_cuda"]


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


@contextmanager
def one_thread() -> Iterator[dict]:
    """One intra-op thread here, and the environment that gives a subprocess one: every
    run then sums floats in the same order (runs are compared bit for bit), and no idle
    OpenMP thread spins on a busy machine (a tiny model gains nothing from a second)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield {**os.environ, "OMP_NUM_THREADS": "1"}
    finally:
        torch.set_num_threads(threads)
