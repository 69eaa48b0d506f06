"""The shared training loop, on a tiny toy model (tests/coqa/train/ddp_worker.py), on CPU:
optimizer and schedule, accumulation and clipping, logging."""
from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
import torch
from torch.utils.data import DistributedSampler

from coqa.train.config import AdversarialConfig
from coqa.train.config import TrainConfig
from coqa.train.optim import linear_warmup_decay, parameter_groups
from coqa.train.order import steps_per_epoch
from coqa.train.loop import train
from tests.coqa.train.conftest import (ToyModel, ToyDataset, make_config, toy_model, snapshot,
                                       same_weights, no_save)


# ---------------------------------------------------------------- optimizer and schedule

def test_lr_schedule_warmup_then_linear_decay():
    factor = linear_warmup_decay(warmup_steps=4, total_steps=10)
    steps = [0, 1, 2, 4, 5, 7, 10, 12]
    assert [factor(s) for s in steps] == [0.0, 0.25, 0.5, 1.0, 5 / 6, 0.5, 0.0, 0.0]
    # The old log: 3e-5, 2000 warm-up steps, 5070 steps; step 50 used the factor of step 49.
    old = linear_warmup_decay(2000, 5070)
    assert 3e-5 * old(49) == pytest.approx(7.35e-07)
    assert 3e-5 * old(2049) == pytest.approx(2.9521172638436482e-05)


def test_no_weight_decay_on_biases_and_norms():
    model = ToyModel()
    model.register_parameter("scale", torch.nn.Parameter(torch.ones(3)))  # 1-D, no "norm"
    decay, no_decay = parameter_groups(model, weight_decay=0.1)
    names = {id(p): n for n, p in model.named_parameters()}
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert {names[id(p)] for p in decay["params"]} == {"word_embeddings.weight", "head.weight"}
    assert {names[id(p)] for p in no_decay["params"]} == {
        "layer_norm.weight", "layer_norm.bias", "head.bias", "scale"}


def test_config_validation():
    with pytest.raises(ValueError):
        TrainConfig(output_dir="x", precision="fp8")
    with pytest.raises(ValueError):
        AdversarialConfig(method="free")
    assert AdversarialConfig(method="pgd", pgd_steps=4).forward_passes == 5
    assert AdversarialConfig(method="fgm").forward_passes == 2


# ---------------------------------------------------------------- accumulation and clipping

def reference_training(model, dataset, config, epochs):
    """What the loop should do, written out by hand: the last short group of an epoch is
    stepped with its own scale, and the next epoch starts from clean gradients."""
    decay = [model.word_embeddings.weight, model.head.weight]
    rest = [model.layer_norm.weight, model.layer_norm.bias, model.head.bias]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                   {"params": rest, "weight_decay": 0.0}],
                                  lr=config.learning_rate, eps=config.adam_epsilon)
    total, warmup = 3 * epochs, config.warmup_steps
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: s / warmup if s < warmup else (total - s) / (total - warmup))
    b, accumulation = config.per_device_batch_size, config.gradient_accumulation_steps
    for epoch in range(epochs):
        sampler = DistributedSampler(range(len(dataset)), num_replicas=1, rank=0,
                                     shuffle=True, seed=config.seed)
        sampler.set_epoch(epoch)
        order = list(sampler)
        batches = [order[i:i + b] for i in range(0, len(order), b)]
        for start in range(0, len(batches), accumulation):
            group = batches[start:start + accumulation]
            for indices in group:
                (model(**dataset.batch(indices))["loss"] / len(group)).backward()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()


def test_accumulation_steps_the_short_last_group_and_matches_a_hand_rolled_loop(tmp_path):
    dataset = ToyDataset(20)  # batch 2 → 10 micro-batches; accumulation 4 → groups 4, 4, 2
    config = make_config(tmp_path, gradient_accumulation_steps=4, num_train_epochs=2)
    assert steps_per_epoch(20, 2, 1, 4) == 3
    model = toy_model()
    result = train(model, dataset, config, no_save)
    assert result.global_step == 6
    reference = toy_model()
    reference_training(reference, dataset, config, epochs=2)
    assert same_weights(snapshot(model), snapshot(reference))


def _train_weights(tmp_path, name, **overrides):
    model = toy_model()
    config = make_config(tmp_path / name, num_train_epochs=2, **overrides)
    train(model, ToyDataset(12, label_scale=100.0), config, no_save)
    return snapshot(model)


def test_clipping_only_when_max_grad_norm_is_positive(tmp_path, monkeypatch):
    calls = []
    clip = torch.nn.utils.clip_grad_norm_
    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_",
                        lambda params, max_norm: calls.append(max_norm) or clip(params, max_norm))
    off = _train_weights(tmp_path, "off", max_grad_norm=-1)
    zero = _train_weights(tmp_path, "zero", max_grad_norm=0)
    assert calls == []
    on = _train_weights(tmp_path, "on", max_grad_norm=1.0)
    assert calls == [1.0] * 12
    assert same_weights(off, zero)
    assert not same_weights(off, on)


# ---------------------------------------------------------------- logging

STEP_LINE = re.compile(
    r"^Step: (\d+)\tLearning rate: (\S+)\tLoss: (\S+)\tSeq/s: \S+\tTokens/s: \S+$")


def test_step_lines_every_logging_steps_and_tensorboard(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="coqa.train.loop")
    config = make_config(tmp_path, num_train_epochs=2, logging_steps=2, warmup_steps=3)
    assert not Path(config.output_dir).exists()  # nothing happens before training starts
    result = train(toy_model(), ToyDataset(8), config, no_save)  # 4 steps per epoch → 8
    messages = [r.getMessage() for r in caplog.records if r.name == "coqa.train.loop"]
    assert "***** Running training *****" in messages
    assert "  Total optimization steps = 8" in messages
    assert "  Total train batch size (w. parallel, distributed & accumulation) = 2" in messages
    lines = [STEP_LINE.match(m) for m in messages if m.startswith("Step: ")]
    assert all(lines) and [int(m.group(1)) for m in lines] == [2, 4, 6, 8]
    factor = linear_warmup_decay(3, 8)
    for match in lines:  # the learning rate the logged step used
        assert float(match.group(2)) == pytest.approx(1e-2 * factor(int(match.group(1)) - 1))
    mean_logged = sum(float(m.group(3)) for m in lines) / len(lines)
    assert mean_logged == pytest.approx(result.average_loss, abs=1e-4)
    assert list((Path(config.output_dir) / "runs").glob("events.out.tfevents*"))


def test_bf16_runs_and_fp16_needs_cuda(tmp_path):
    result = train(toy_model(), ToyDataset(8), make_config(tmp_path, precision="bf16"), no_save)
    assert result.global_step == 4 and result.average_loss == result.average_loss  # not NaN
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="fp16"):
            train(toy_model(), ToyDataset(8), make_config(tmp_path, precision="fp16"), no_save)


def test_frozen_word_embeddings_are_not_trained_and_the_rest_is():
    """--freeze_embeddings: the word-embedding matrix keeps its values; the other weights
    move; the optimizer holds no state for the frozen matrix."""
    from coqa.train.step import freeze_word_embeddings

    model = torch.nn.Module()
    model.word_embeddings = torch.nn.Embedding(10, 4)
    model.head = torch.nn.Linear(4, 1)
    before = model.word_embeddings.weight.detach().clone()
    freeze_word_embeddings(model, "word_embeddings", log=False)
    assert not model.word_embeddings.weight.requires_grad
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.1)
    loss = model.head(model.word_embeddings(torch.tensor([1, 2]))).sum()
    loss.backward()
    optimizer.step()
    assert torch.equal(model.word_embeddings.weight, before)
    assert model.word_embeddings.weight.grad is None
    assert sum(p.numel() for group in optimizer.param_groups for p in group["params"]) == 5


def test_frozen_embeddings_and_adversarial_training_cannot_be_combined(tmp_path):
    from coqa.data.errors import ConfigError
    from coqa.train.config import AdversarialConfig, TrainConfig

    with pytest.raises(ConfigError, match="frozen word embeddings"):
        TrainConfig(output_dir=str(tmp_path), freeze_word_embeddings=True,
                    adversarial=AdversarialConfig(method="fgm"))


def test_slow_cpu_bf16_is_said_once(monkeypatch, caplog):
    """On a CPU without native bf16 matmuls, --bf16 is slower than fp32: one warning."""
    import coqa.train.step as step_module

    monkeypatch.setattr(step_module, "_warned_slow_bf16", False)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False,
                        raising=False)
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            assert step_module.autocast_dtype("bf16", torch.device("cpu")) == torch.bfloat16
    assert len([r for r in caplog.records if "no native bf16" in r.getMessage()]) == 1


def test_training_goes_on_without_tensorboardx(tmp_path, monkeypatch, caplog):
    """A bare machine without tensorboardX: one warning, no runs/ events, training done,
    step lines and evaluation results still logged."""
    import builtins

    real_import = builtins.__import__

    def no_tensorboardx(name, *args, **kwargs):
        if name == "tensorboardX":
            raise ImportError("No module named 'tensorboardX'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboardx)
    config = make_config(tmp_path, max_steps=2, save_steps=1, logging_steps=1)
    with caplog.at_level(logging.INFO):
        result = train(toy_model(), ToyDataset(8), config, lambda model, directory: None,
                       evaluate_fn=lambda step: {"f1": 10.0 * step})
    assert result.global_step == 2
    messages = [r.getMessage() for r in caplog.records]
    assert any("tensorboardX is not installed" in m for m in messages)
    assert len([m for m in messages if m.startswith("Step: ")]) == 2
    assert "  eval f1 = 20.0" in messages
    assert not (tmp_path / "out" / "runs").exists()
