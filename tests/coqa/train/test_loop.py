"""The shared training loop, on a tiny toy model (tests/coqa/train/ddp_worker.py), on CPU."""
from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import DistributedSampler

from coqa.data.errors import UsageError
from coqa.train.checkpoints import STATE_FILES
from coqa.train.adversarial import FGM, PGD, adversarial_backward
from coqa.train.config import AdversarialConfig
from coqa.train.distributed import init_distributed
from coqa.train.config import TrainConfig
from coqa.train.optim import linear_warmup_decay, parameter_groups
from coqa.train.order import steps_per_epoch
from coqa.train.loop import train

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
                 "checkpoint-2"):
        (out / name).mkdir(parents=True)
        (out / name / "model.safetensors").write_bytes(name.encode())
    # Killed between the two renames of a replacement: checkpoint-6 only exists as .old.
    train(toy_model(), ToyDataset(8), make_config(tmp_path), save_state_dict)
    assert sorted(p.name for p in out.iterdir() if p.name != "runs") == [
        "checkpoint-2", "checkpoint-6"]
    assert (out / "checkpoint-6" / "model.safetensors").read_bytes() == b".old-checkpoint-6-111"


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


# ---------------------------------------------------------------- adversarial training

def test_fgm_moves_by_epsilon_and_restores_exactly():
    embedding = torch.nn.Parameter(torch.randn(5, 3))
    before = embedding.detach().clone()
    fgm = FGM(embedding, epsilon=0.5)
    fgm.attack(torch.randn(5, 3))
    assert torch.linalg.vector_norm(embedding - before).item() == pytest.approx(0.5, rel=1e-5)
    fgm.restore()
    assert torch.equal(embedding, before)
    pgd = PGD(embedding, epsilon=0.5, alpha=0.3)
    for _ in range(4):
        pgd.attack(torch.randn(5, 3))
    assert torch.linalg.vector_norm(embedding - before).item() <= 0.5 + 1e-6
    pgd.restore()
    assert torch.equal(embedding, before)


def test_fgm_gradient_is_clean_plus_perturbed():
    model = toy_model()
    batch = ToyDataset(4).batch([0, 1, 2, 3])
    emb = model.word_embeddings.weight
    model(**batch)["loss"].backward()
    clean = {n: p.grad.clone() for n, p in model.named_parameters()}
    expected_emb = emb.detach() + 0.5 * clean["word_embeddings.weight"] / clean[
        "word_embeddings.weight"].norm()
    reference = toy_model()
    with torch.no_grad():
        reference.word_embeddings.weight.copy_(expected_emb)
    reference(**batch)["loss"].backward()
    adversarial_backward(AdversarialConfig(method="fgm", epsilon=0.5), emb, emb.grad.clone(),
                         lambda: model(**batch)["loss"].backward(), probe=None)
    for name, param in model.named_parameters():
        expected = clean[name] + dict(reference.named_parameters())[name].grad
        assert torch.allclose(param.grad, expected, atol=1e-6), name
    assert torch.equal(emb, toy_model().word_embeddings.weight)


class CountingToy(ToyModel):
    calls = 0

    def forward(self, **batch):
        CountingToy.calls += 1
        return super().forward(**batch)


@pytest.mark.parametrize("method, passes", [("fgm", 2), ("pgd", 4)])
def test_adversarial_training_changes_the_result_and_restores_the_embedding(
        tmp_path, method, passes):
    dataset = ToyDataset(8)
    adversarial = AdversarialConfig(method=method, epsilon=1.0, pgd_steps=3, pgd_alpha=0.3)
    torch.manual_seed(0)
    frozen = CountingToy(dropout=0.1)
    before = snapshot(frozen)
    CountingToy.calls = 0
    train(frozen, dataset, make_config(tmp_path / "zero", learning_rate=0.0,
                                       adversarial=adversarial), no_save)
    assert CountingToy.calls == passes * 4  # 4 micro-batches
    assert same_weights(snapshot(frozen), before)  # perturbation undone every time
    plain, attacked = toy_model(dropout=0.1), toy_model(dropout=0.1)
    train(plain, dataset, make_config(tmp_path / "plain"), no_save)
    train(attacked, dataset, make_config(tmp_path / "adv", adversarial=adversarial), no_save)
    assert not same_weights(snapshot(plain), snapshot(attacked))


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
