"""Shared by the training-loop tests: the toy model and dataset of ddp_worker.py, a
TrainConfig builder and weight snapshots."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

from coqa.train.checkpoints import STATE_FILES
from coqa.train.config import TrainConfig

REPO = Path(__file__).resolve().parents[3]
WORKER = Path(__file__).with_name("ddp_worker.py")


def _load_worker():
    spec = importlib.util.spec_from_file_location("coqa_test_ddp_worker", WORKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


worker = _load_worker()
ToyModel, ToyDataset = worker.ToyModel, worker.ToyDataset
save_state_dict, load_state_dict = worker.save_state_dict, worker.load_state_dict
CHECKPOINT_FILES = {"model.safetensors", *STATE_FILES}


def make_config(tmp_path, **overrides) -> TrainConfig:
    settings = dict(output_dir=str(tmp_path / "out"), per_device_batch_size=2,
                    gradient_accumulation_steps=1, learning_rate=1e-2, weight_decay=0.01,
                    max_grad_norm=-1, num_train_epochs=1, warmup_steps=2, logging_steps=0,
                    save_steps=0, seed=7)
    settings.update(overrides)
    return TrainConfig(**settings)


def toy_model(dropout: float = 0.0, seed: int = 0) -> ToyModel:
    torch.manual_seed(seed)
    return ToyModel(dropout=dropout)


def snapshot(model) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def no_save(model, directory):
    raise AssertionError("no checkpoint expected")
