"""The training loop shared by run_coqa.py (extractive) and run_seq2seq.py (UniLM).

Generic over the model and the data:
  * the model is any `nn.Module` whose `forward(**batch)` returns a dict with a scalar
    `"loss"` (the mean over the micro-batch);
  * the data is any object with `__len__` and `batch(indices) -> dict[str, Tensor]`
    (CPU tensors; the loop moves them to the device). The loop picks the indices itself,
    and calls the data's `set_epoch(epoch)`, if it has one, before every epoch (resumes
    included), for data that draws something per epoch (seq2seq's pseudo tokens). Data
    with a `loss_weight(batch)` method (seq2seq: the batch's target tokens) has each
    micro-batch's mean loss weighed by it, so that a step's gradient is that of the mean
    over all its micro-batches on all processes; otherwise micro-batches weigh alike.

What it does: AdamW (no decay on biases and norm weights), linear warm-up then linear decay
to 0, gradient accumulation (a short last group of an epoch is stepped, never carried
over), clipping, bf16/fp16 autocast, optional torch.compile, optional FGM/PGD, DDP under
torchrun, the old log lines plus throughput, TensorBoard, atomic checkpoints, exact resume.

Data order: every epoch, every process, draws its indices from a `DistributedSampler`
(seed + epoch), so the order is a pure function of (seed, epoch), and a DDP run with batch
b per process sees the same examples per optimizer step as one process with batch world·b.

The caller provides:
  * `save_model(model, directory)`: write the bare model (not DDP, not compiled) its own
    way (safetensors, configs, tokenizer, args.json) into `directory`. Checkpoints are
    written to a temporary folder and renamed, so `directory` is never the final name.
  * optionally `evaluate_fn(global_step) -> dict | None`, run on the main rank after each
    checkpoint; returned numbers are logged and sent to TensorBoard. The random state is
    put back afterwards and the model set back to train mode, so evaluating during
    training does not change what training does.
  * for resuming: load the model weights from the checkpoint folder (the way `save_model`
    wrote them) BEFORE calling `train`, and set `TrainConfig.resume_from_checkpoint` to
    that folder; the loop restores the optimizer, scheduler, scaler, random states, step
    counter and position inside the epoch.
  * the final save of the model after `train` returns.
"""
from __future__ import annotations

import json
import logging
import math
import os
import random
import shutil
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Optional, Protocol

import numpy as np
import torch
import torch.distributed as torch_dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler
from tqdm.auto import tqdm

from coqa.adversarial import AdversarialConfig, adversarial_backward, find_embedding
from coqa.distributed import DistInfo, single_process

logger = logging.getLogger(__name__)

PRECISIONS = ("fp32", "bf16", "fp16")
CHECKPOINT_PREFIX = "checkpoint-"
STATE_FILES = ("optimizer.pt", "scheduler.pt", "rng_state.pt", "trainer_state.json")
TRAINER_STATE_VERSION = 1


class TrainDataset(Protocol):
    def __len__(self) -> int: ...

    def batch(self, indices: list[int]) -> dict[str, torch.Tensor]: ...


SaveModel = Callable[[nn.Module, Path], None]
EvaluateFn = Callable[[int], Optional[Mapping[str, float]]]


@dataclass(frozen=True)
class TrainConfig:
    """Everything the loop needs to know; built once from the command line."""

    output_dir: str
    per_device_batch_size: int = 8
    gradient_accumulation_steps: int = 1
    learning_rate: float = 5e-5
    weight_decay: float = 0.0
    adam_epsilon: float = 1e-8
    max_grad_norm: float = 1.0        # <= 0: no clipping
    num_train_epochs: float = 3.0
    max_steps: int = -1               # > 0: overrides num_train_epochs
    warmup_steps: int = 0
    logging_steps: int = 50           # <= 0: no step lines
    save_steps: int = 1000            # <= 0: no checkpoints during training
    seed: int = 42
    precision: str = "fp32"           # fp32 | bf16 | fp16 (fp16 needs CUDA)
    torch_compile: bool = False
    resume_from_checkpoint: Optional[str] = None
    ddp_find_unused_parameters: bool = False
    adversarial: AdversarialConfig = field(default_factory=AdversarialConfig)

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.per_device_batch_size < 1 or self.gradient_accumulation_steps < 1:
            raise ValueError("batch size and gradient accumulation steps must be at least 1")
        if self.max_steps <= 0 and self.num_train_epochs <= 0:
            raise ValueError("give num_train_epochs > 0 or max_steps > 0")


@dataclass(frozen=True)
class TrainResult:
    global_step: int
    average_loss: float   # mean optimizer-step loss over the whole run (resumes included)
    seconds: float        # wall time of this call


# ---------------------------------------------------------------- optimizer and schedule

def no_decay(name: str, param: nn.Parameter) -> bool:
    """Biases, norm weights and every 1-D parameter are not weight-decayed."""
    return "bias" in name or "norm" in name.lower() or param.ndim <= 1


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    return [
        {"params": [p for n, p in named if not no_decay(n, p)], "weight_decay": weight_decay},
        {"params": [p for n, p in named if no_decay(n, p)], "weight_decay": 0.0},
    ]


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    return torch.optim.AdamW(parameter_groups(model, config.weight_decay),
                             lr=config.learning_rate, eps=config.adam_epsilon)


def linear_warmup_decay(warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    """LR factor: 0 → 1 over `warmup_steps`, then linearly down to 0 at `total_steps`."""
    def factor(step: int) -> float:
        if step < warmup_steps:
            return step / max(1, warmup_steps)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))
    return factor


def build_scheduler(optimizer: torch.optim.Optimizer, warmup_steps: int,
                    total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    factor = linear_warmup_decay(warmup_steps, total_steps)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


# ---------------------------------------------------------------- data order

def epoch_batches(num_examples: int, batch_size: int, dist: DistInfo, seed: int,
                  epoch: int) -> list[list[int]]:
    """This rank's micro-batches of example indices for one epoch (no RNG consumed)."""
    sampler = DistributedSampler(range(num_examples), num_replicas=dist.world_size,
                                 rank=dist.rank, shuffle=True, seed=seed, drop_last=False)
    sampler.set_epoch(epoch)
    order = list(sampler)
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def accumulation_groups(batches: list[list[int]], accumulation: int) -> list[list[list[int]]]:
    """Micro-batches grouped per optimizer step; the last group may be shorter."""
    return [batches[i:i + accumulation] for i in range(0, len(batches), accumulation)]


def steps_per_epoch(num_examples: int, batch_size: int, world_size: int, accumulation: int) -> int:
    batches = math.ceil(math.ceil(num_examples / world_size) / batch_size)
    return math.ceil(batches / accumulation)


def total_steps(config: TrainConfig, per_epoch: int) -> int:
    if config.max_steps > 0:
        return config.max_steps
    return max(1, math.ceil(per_epoch * config.num_train_epochs))


# ---------------------------------------------------------------- random state

def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds every CUDA device too


def rng_state(device: torch.device) -> dict:
    """Python, numpy, torch CPU (and this device's CUDA) generator states, as plain data."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"python": random.getstate(), "cpu": torch.get_rng_state(),
             "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)),
                       "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)}}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    random.setstate(state["python"])
    np_state = state["numpy"]
    np.random.set_state((np_state["name"], np_state["keys"].numpy().astype(np.uint32),
                         np_state["pos"], np_state["has_gauss"], np_state["cached"]))
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def _gather_rng_states(dist: DistInfo) -> Optional[list[dict]]:
    """Every rank's random state, on the main rank (None elsewhere): only rank 0 writes."""
    state = rng_state(dist.device)
    if not dist.distributed:
        return [state]
    gathered = [None] * dist.world_size if dist.is_main else None
    torch_dist.gather_object(state, gathered, dst=0)
    return gathered


# ---------------------------------------------------------------- the run

@dataclass
class _Progress:
    global_step: int = 0
    epoch: int = 0
    steps_in_epoch: int = 0     # optimizer steps already done in `epoch`
    total_loss: float = 0.0     # sum of optimizer-step losses (for the average)


@dataclass
class _Run:
    config: TrainConfig
    dist: DistInfo
    dataset: TrainDataset
    model: nn.Module                 # the bare model: saved, probed by PGD
    net: nn.Module                   # what the loop calls: DDP and/or compiled wrapper
    ddp: Optional[DistributedDataParallel]
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: Optional[torch.amp.GradScaler]
    autocast_dtype: Optional[torch.dtype]
    embedding: Optional[nn.Parameter]
    save_model: SaveModel
    evaluate_fn: Optional[EvaluateFn]
    writer: Optional[object] = None  # tensorboardX SummaryWriter, main rank only


def _autocast_dtype(precision: str, device: torch.device) -> Optional[torch.dtype]:
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("fp16 needs a CUDA device; use --precision bf16 or fp32 on this machine")
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def _build_run(model: nn.Module, dataset: TrainDataset, config: TrainConfig, dist: DistInfo,
               save_model: SaveModel, evaluate_fn: Optional[EvaluateFn], total: int) -> _Run:
    dtype = _autocast_dtype(config.precision, dist.device)
    model.to(dist.device)
    model.train()
    embedding = (find_embedding(model, config.adversarial.embedding_name)
                 if config.adversarial.method else None)
    optimizer = build_optimizer(model, config)
    net, ddp = model, None
    if dist.distributed:
        device_ids = [dist.device.index] if dist.device.type == "cuda" else None
        ddp = DistributedDataParallel(model, device_ids=device_ids,
                                      find_unused_parameters=config.ddp_find_unused_parameters)
        net = ddp
    if config.torch_compile:
        net = torch.compile(net)
    return _Run(config=config, dist=dist, dataset=dataset, model=model, net=net, ddp=ddp,
                optimizer=optimizer,
                scheduler=build_scheduler(optimizer, config.warmup_steps, total),
                scaler=torch.amp.GradScaler("cuda") if config.precision == "fp16" else None,
                autocast_dtype=dtype, embedding=embedding, save_model=save_model,
                evaluate_fn=evaluate_fn)


def train(model: nn.Module, dataset: TrainDataset, config: TrainConfig, save_model: SaveModel,
          *, dist: Optional[DistInfo] = None,
          evaluate_fn: Optional[EvaluateFn] = None) -> TrainResult:
    """Train `model` on `dataset`; see the module docstring for what the caller provides.

    `dist` defaults to a single process on the device of the model's parameters. Seeds
    python/numpy/torch with `config.seed + rank` at the start (model initialisation is the
    caller's business and happens before).
    """
    if len(dataset) == 0:
        raise ValueError("the training set is empty")
    if dist is None:
        dist = single_process(next(model.parameters()).device)
    per_epoch = steps_per_epoch(len(dataset), config.per_device_batch_size, dist.world_size,
                                config.gradient_accumulation_steps)
    total = total_steps(config, per_epoch)
    run = _build_run(model, dataset, config, dist, save_model, evaluate_fn, total)
    if dist.is_main:
        remove_interrupted_saves(Path(config.output_dir))
    set_seed(config.seed + dist.rank)
    progress = _Progress()
    if config.resume_from_checkpoint:
        progress = _restore(run, Path(config.resume_from_checkpoint), per_epoch)
    _log_banner(run, total, per_epoch)
    start = time.perf_counter()
    try:
        if dist.is_main:
            from tensorboardX import SummaryWriter  # created only once training starts
            run.writer = SummaryWriter(logdir=str(Path(config.output_dir) / "runs"))
        _train_loop(run, progress, total)
    finally:
        if run.writer is not None:
            run.writer.close()
    average = progress.total_loss / max(1, progress.global_step)
    if dist.is_main:
        logger.info(" global_step = %d, average loss = %s", progress.global_step, average)
    return TrainResult(progress.global_step, average, time.perf_counter() - start)


def _log_banner(run: _Run, total: int, per_epoch: int) -> None:
    if not run.dist.is_main:
        return
    config = run.config
    epochs = (math.ceil(total / per_epoch) if config.max_steps > 0
              else f"{config.num_train_epochs:g}")
    global_batch = (config.per_device_batch_size * run.dist.world_size
                    * config.gradient_accumulation_steps)
    logger.info("***** Running training *****")
    logger.info("  Num examples = %d", len(run.dataset))
    logger.info("  Num Epochs = %s", epochs)
    logger.info("  Instantaneous batch size per GPU = %d", config.per_device_batch_size)
    logger.info("  Total train batch size (w. parallel, distributed & accumulation) = %d",
                global_batch)
    logger.info("  Gradient Accumulation steps = %d", config.gradient_accumulation_steps)
    logger.info("  Total optimization steps = %d", total)
    adv = config.adversarial
    if adv.method:
        logger.info("  Adversarial training = %s (epsilon=%g): %d forward passes per micro-batch",
                    adv.method, adv.epsilon, adv.forward_passes)
    logger.info("  Starting fine-tuning.")


def _train_loop(run: _Run, progress: _Progress, total: int) -> None:
    config = run.config
    meter = _Meter(run.dist.device)
    bar = tqdm(total=total, initial=progress.global_step, desc="Iteration",
               disable=not run.dist.is_main)
    try:
        while progress.global_step < total:
            if hasattr(run.dataset, "set_epoch"):
                run.dataset.set_epoch(progress.epoch)
            batches = epoch_batches(len(run.dataset), config.per_device_batch_size, run.dist,
                                    config.seed, progress.epoch)
            groups = accumulation_groups(batches, config.gradient_accumulation_steps)
            for group in groups[progress.steps_in_epoch:]:
                loss, seqs, tokens, lr = _optimizer_step(run, group)
                progress.global_step += 1
                progress.steps_in_epoch += 1
                if progress.steps_in_epoch == len(groups):  # a saved state points past it
                    progress.epoch += 1
                    progress.steps_in_epoch = 0
                meter.add(loss, seqs, tokens)
                bar.update(1)
                _after_step(run, progress, meter, lr)
                if progress.global_step >= total:
                    break
        _flush(run, progress, meter)
    finally:
        bar.close()


def _after_step(run: _Run, progress: _Progress, meter: "_Meter", lr: float) -> None:
    step = progress.global_step
    if run.config.logging_steps > 0 and step % run.config.logging_steps == 0:
        _log_step(run, progress, meter, lr)
    if run.config.save_steps > 0 and step % run.config.save_steps == 0:
        paused = time.perf_counter()
        _flush(run, progress, meter)  # so trainer_state.json holds the loss so far
        save_checkpoint(run, progress)
        _evaluate(run, step)
        meter.start += time.perf_counter() - paused  # throughput counts training time only


# ---------------------------------------------------------------- one optimizer step

def _to_device(batch: Mapping[str, torch.Tensor], device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v
            for k, v in batch.items()}


def _count_tokens(batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Real (non-padding) tokens: the sum of every mask in the batch (`attention_mask` for
    the extractive model, `source_mask` + `target_mask` for seq2seq), else all input ids."""
    masks = [tensor.sum() for name, tensor in batch.items() if name.endswith("mask")]
    if masks:
        return torch.stack(masks).sum()
    if "input_ids" in batch:
        return torch.tensor(batch["input_ids"].numel(), device=batch["input_ids"].device)
    return torch.tensor(0)


def _forward(run: _Run, module: nn.Module, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    with torch.autocast(run.dist.device.type, dtype=run.autocast_dtype or torch.float32,
                        enabled=run.autocast_dtype is not None):
        return module(**batch)["loss"].float()


def _backward(run: _Run, loss: torch.Tensor) -> None:
    (run.scaler.scale(loss) if run.scaler is not None else loss).backward()


def _no_sync(run: _Run, sync: bool):
    """DDP all-reduces gradients only on the last backward of an optimizer step."""
    return run.ddp.no_sync() if run.ddp is not None and not sync else nullcontext()


def _optimizer_step(run: _Run, group: list[list[int]]):
    """Forward/backward every micro-batch of `group`, then one optimizer step.
    Returns (mean loss tensor, sequences, tokens tensor, learning rate used)."""
    device = run.dist.device
    batches = [run.dataset.batch(indices) for indices in group]  # CPU tensors
    scales, weights = _gradient_scales(run, batches)
    loss_sum = torch.zeros((), device=device)
    tokens = torch.zeros((), device=device, dtype=torch.long)
    seqs = 0
    for i, (indices, batch) in enumerate(zip(group, batches)):
        batch = _to_device(batch, device)
        loss = _micro_batch(run, batch, scales[i], sync=i == len(group) - 1).detach()
        loss_sum += loss * weights[i]
        seqs += len(indices)
        tokens += _count_tokens(batch).to(device)
    if run.scaler is not None:
        run.scaler.unscale_(run.optimizer)
    if run.config.max_grad_norm > 0:
        torch.nn.utils.clip_grad_norm_(run.model.parameters(), run.config.max_grad_norm)
    lr = run.scheduler.get_last_lr()[0]
    if run.scaler is not None:
        run.scaler.step(run.optimizer)
        run.scaler.update()
    else:
        run.optimizer.step()
    run.scheduler.step()
    run.optimizer.zero_grad(set_to_none=True)
    return loss_sum / sum(weights), seqs, tokens, lr


def _gradient_scales(run: _Run, batches: list[dict]) -> tuple[list[float], list[float]]:
    """Factors for each micro-batch's mean loss, so that the step's gradient is that of
    the mean over the whole optimizer step, across micro-batches and processes.

    A micro-batch weighs 1, or `dataset.loss_weight(batch)` (seq2seq: its real target
    tokens, since its loss is a mean per token). DDP averages the processes' gradients,
    so the factor is weight * world_size / (sum of every process's weights); without
    `loss_weight` every process has the same number of micro-batches and it is 1 / n."""
    weigh = getattr(run.dataset, "loss_weight", None)
    if weigh is None:
        return [1.0 / len(batches)] * len(batches), [1.0] * len(batches)
    weights = [float(weigh(batch)) for batch in batches]
    total = sum(weights)
    if run.dist.distributed:
        summed = torch.tensor(total, dtype=torch.float64, device=run.dist.device)
        torch_dist.all_reduce(summed)
        total = summed.item()
    world = run.dist.world_size
    return [w * world / max(total, 1e-12) for w in weights], weights


def _micro_batch(run: _Run, batch: dict, scale: float, sync: bool) -> torch.Tensor:
    """Clean forward/backward (plus the adversarial ones); gradients scaled by `scale`."""
    emb = run.embedding
    if emb is None:
        with _no_sync(run, sync):
            loss = _forward(run, run.net, batch)
            _backward(run, loss * scale)
        return loss
    previous = emb.grad.detach().clone() if emb.grad is not None else None
    with _no_sync(run, False):  # the adversarial backward below does the all-reduce
        loss = _forward(run, run.net, batch)
        _backward(run, loss * scale)
    if emb.grad is None:
        clean = torch.zeros_like(emb)
    else:
        clean = emb.grad.detach() if previous is None else emb.grad.detach() - previous

    def forward_backward() -> None:
        with _no_sync(run, sync):
            _backward(run, _forward(run, run.net, batch) * scale)

    def probe() -> torch.Tensor:
        adv_loss = _forward(run, run.model, batch)  # bare model: no DDP bookkeeping
        scaled = run.scaler.scale(adv_loss) if run.scaler is not None else adv_loss
        (grad,) = torch.autograd.grad(scaled, emb, allow_unused=True)
        return torch.zeros_like(emb) if grad is None else grad

    adversarial_backward(run.config.adversarial, emb, clean, forward_backward, probe)
    return loss


# ---------------------------------------------------------------- logging

class _Meter:
    """Loss / sequence / token sums kept on the device (no host sync per step),
    reduced across ranks only when read."""

    def __init__(self, device: torch.device):
        self._pending = torch.zeros(3, dtype=torch.float64, device=device)
        self.loss = self.seqs = self.tokens = 0.0   # window since the last step line
        self.steps = 0
        self.start = time.perf_counter()

    def add(self, loss: torch.Tensor, seqs: int, tokens: torch.Tensor) -> None:
        self._pending[0] += loss.double()
        self._pending[1] += seqs
        self._pending[2] += tokens.double()
        self.steps += 1

    def flush(self, dist: DistInfo) -> float:
        """Move the device sums into the window (collective in DDP); return the loss sum."""
        pending = self._pending.clone()
        if dist.distributed:
            torch_dist.all_reduce(pending)
        loss, seqs, tokens = pending.tolist()
        loss /= dist.world_size  # mean over ranks of each step's loss
        self._pending.zero_()
        self.loss += loss
        self.seqs += seqs
        self.tokens += tokens
        return loss

    def reset_window(self) -> None:
        self.loss = self.seqs = self.tokens = 0.0
        self.steps = 0
        self.start = time.perf_counter()


def _flush(run: _Run, progress: _Progress, meter: _Meter) -> None:
    progress.total_loss += meter.flush(run.dist)


def _log_step(run: _Run, progress: _Progress, meter: _Meter, lr: float) -> None:
    """`Step: N\tLearning rate: X\tLoss: Y\t` as in the old logs, plus throughput."""
    _flush(run, progress, meter)
    if run.dist.is_main:
        step = progress.global_step
        elapsed = max(time.perf_counter() - meter.start, 1e-9)
        scalars = {"lr": lr, "loss": meter.loss / max(1, meter.steps),
                   "seq_per_sec": meter.seqs / elapsed, "tokens_per_sec": meter.tokens / elapsed}
        line = (f"Step: {step}\tLearning rate: {lr:.10g}\tLoss: {scalars['loss']:.4f}\t"
                f"Seq/s: {scalars['seq_per_sec']:.1f}\tTokens/s: {scalars['tokens_per_sec']:.0f}")
        if run.dist.device.type == "cuda":
            scalars["peak_mem_gb"] = torch.cuda.max_memory_allocated(run.dist.device) / 2**30
            line += f"\tPeak mem: {scalars['peak_mem_gb']:.1f} GB"
        logger.info(line)
        for name, value in scalars.items():
            run.writer.add_scalar(name, value, step)
    meter.reset_window()


def _evaluate(run: _Run, step: int) -> None:
    """The caller's evaluation, on the main rank, without disturbing the random state."""
    if run.evaluate_fn is None or not run.dist.is_main:
        return
    state = rng_state(run.dist.device)
    try:
        results = run.evaluate_fn(step)
    finally:
        set_rng_state(state, run.dist.device)
        run.model.train()
    for name, value in (results or {}).items():
        logger.info("  eval %s = %s", name, value)
        run.writer.add_scalar(f"eval/{name}", value, step)


# ---------------------------------------------------------------- checkpoints

def save_checkpoint(run: _Run, progress: _Progress) -> Optional[Path]:
    """Write `output_dir/checkpoint-N` atomically (main rank only; every rank must call:
    the random states are gathered). Returns the folder on the main rank."""
    rng_states = _gather_rng_states(run.dist)
    if not run.dist.is_main:
        return None
    out = Path(run.config.output_dir)
    final = out / f"{CHECKPOINT_PREFIX}{progress.global_step}"
    tmp = out / f".tmp-{final.name}-{os.getpid()}"
    logger.info("Saving model checkpoint to %s", final)
    try:
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        run.save_model(run.model, tmp)
        _write_training_state(run, progress, rng_states, tmp)
        _replace_dir(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("Saving optimizer and scheduler states to %s", final)
    return final


def _write_training_state(run: _Run, progress: _Progress, rng_states: list[dict],
                          directory: Path) -> None:
    torch.save(run.optimizer.state_dict(), directory / "optimizer.pt")
    torch.save(run.scheduler.state_dict(), directory / "scheduler.pt")
    if run.scaler is not None:
        torch.save(run.scaler.state_dict(), directory / "scaler.pt")
    torch.save({"world_size": run.dist.world_size, "ranks": rng_states},
               directory / "rng_state.pt")
    config = run.config
    state = {
        "version": TRAINER_STATE_VERSION,
        "global_step": progress.global_step,
        "epoch": progress.epoch,
        "steps_in_epoch": progress.steps_in_epoch,
        "batches_in_epoch": progress.steps_in_epoch * config.gradient_accumulation_steps,
        "total_loss": progress.total_loss,
        "num_examples": len(run.dataset),
        "world_size": run.dist.world_size,
        "global_batch_size": config.per_device_batch_size * run.dist.world_size,
        "config": asdict(config),
    }
    (directory / "trainer_state.json").write_text(
        json.dumps(state, indent=2, ensure_ascii=False, default=str), encoding="utf-8")


def _replace_dir(tmp: Path, final: Path) -> None:
    """Rename `tmp` to `final`; an existing `final` is moved aside first, then deleted."""
    if not final.exists():
        os.replace(tmp, final)
        return
    old = final.with_name(f".old-{final.name}-{os.getpid()}")
    os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def remove_interrupted_saves(output_dir: Path) -> None:
    """Clean up after a run killed inside `save_checkpoint`: delete its `.tmp-checkpoint-*`
    folders (maybe half-written), and put back a `checkpoint-N` moved aside to
    `.old-checkpoint-N-*` whose replacement never arrived (else delete the old copy).
    `checkpoint-N` folders themselves are always complete."""
    for stale in sorted(output_dir.glob(f".tmp-{CHECKPOINT_PREFIX}*")):
        logger.warning("Removing %s, left by an interrupted checkpoint save", stale)
        shutil.rmtree(stale, ignore_errors=True)
    for old in sorted(output_dir.glob(f".old-{CHECKPOINT_PREFIX}*")):
        final = output_dir / old.name[len(".old-"):].rsplit("-", 1)[0]
        if final.exists():
            shutil.rmtree(old, ignore_errors=True)
        else:
            logger.warning("Restoring %s from %s, left by an interrupted checkpoint save",
                           final, old)
            os.replace(old, final)


def _restore(run: _Run, directory: Path, per_epoch: int) -> _Progress:
    """Load optimizer, scheduler, scaler, random states and position from a checkpoint."""
    state_file = directory / "trainer_state.json"
    if not state_file.is_file():
        raise ValueError(f"{directory} is not a training checkpoint (no trainer_state.json)")
    state = json.loads(state_file.read_text(encoding="utf-8"))
    _check_compatible(run, state, per_epoch)
    device = run.dist.device
    run.optimizer.load_state_dict(torch.load(directory / "optimizer.pt", map_location=device,
                                             weights_only=True))
    run.scheduler.load_state_dict(torch.load(directory / "scheduler.pt", weights_only=True))
    if run.scaler is not None and (directory / "scaler.pt").is_file():
        run.scaler.load_state_dict(torch.load(directory / "scaler.pt", weights_only=True))
    ranks = torch.load(directory / "rng_state.pt", weights_only=True)["ranks"]
    if run.dist.rank >= len(ranks):
        logger.warning("No saved random state for rank %d; dropout will not replay exactly",
                       run.dist.rank)
    set_rng_state(ranks[min(run.dist.rank, len(ranks) - 1)], device)
    progress = _Progress(state["global_step"], state["epoch"], state["steps_in_epoch"],
                         state["total_loss"])
    if run.dist.is_main:
        logger.info("  Continuing training from checkpoint %s", directory)
        logger.info("  Continuing training from epoch %d, step %d of that epoch", progress.epoch,
                    progress.steps_in_epoch)
        logger.info("  Continuing training from global step %d", progress.global_step)
    return progress


def _check_compatible(run: _Run, state: dict, per_epoch: int) -> None:
    """Resuming replays the data order, which needs the same data, seed and step size."""
    config = run.config
    saved = state["config"]
    expected = {
        "num_examples": (state["num_examples"], len(run.dataset)),
        "global batch size": (state["global_batch_size"],
                              config.per_device_batch_size * run.dist.world_size),
        "gradient_accumulation_steps": (saved["gradient_accumulation_steps"],
                                        config.gradient_accumulation_steps),
        "seed": (saved["seed"], config.seed),
    }
    for name, (was, now) in expected.items():
        if was != now:
            raise ValueError(f"cannot resume: {name} was {was} in the checkpoint, now {now}")
    if state["steps_in_epoch"] >= per_epoch:
        raise ValueError("cannot resume: the checkpoint's position is past the end of its epoch")
