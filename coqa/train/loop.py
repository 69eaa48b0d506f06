"""The training loop shared by run_coqa.py (extractive) and run_seq2seq.py (UniLM).

Generic over the model and the data:
  * the model is any `nn.Module` whose `forward(**batch)` returns a dict with a scalar
    `"loss"` (the mean over the micro-batch);
  * the data is a `coqa.train.dataset.TrainDataset`: `__len__`, `batch(indices)` (CPU
    tensors; the loop moves them to the device) and three hooks with defaults:
    `set_epoch(epoch)` before every epoch (resumes included), `loss_weight(batch)` (each
    micro-batch's mean loss weighed by it, so that a step's gradient is that of the mean
    over all its micro-batches on all processes) and `count_tokens(batch)`.

What it does: AdamW (no decay on biases and norm weights), linear warm-up then linear decay
to 0, gradient accumulation (a short last group of an epoch is stepped, never carried
over), clipping, bf16/fp16 autocast, optional torch.compile, optional FGM/PGD, DDP under
torchrun, the old log lines plus throughput, TensorBoard, atomic checkpoints, exact resume.
The pieces: `config` (TrainConfig), `order` (data order), `step` (one optimizer step),
`optim`, `rng`, `meter` (step lines), `checkpoints`.

The caller provides:
  * `save_model(model, directory)`: write the bare model (not DDP, not compiled) its own
    way into `directory` (`checkpoints.model_saver`). Checkpoints are written to a
    temporary folder and renamed, so `directory` is never the final name.
  * optionally `evaluate_fn(global_step) -> dict | None`, run on the main rank after each
    checkpoint while the other ranks wait in `distributed.barrier`; returned numbers are
    logged and sent to TensorBoard. The random state is put back afterwards and the model
    set back to train mode, so evaluating during training does not change what training
    does.
  * for resuming: load the model weights from the checkpoint folder (the way `save_model`
    wrote them) BEFORE calling `train`, and set `TrainConfig.resume_from_checkpoint` to
    that folder; the loop restores the optimizer, scheduler, scaler, random states, step
    counter and position inside the epoch.
  * the final save of the model after `train` returns (`checkpoints.save_final`).
"""
from __future__ import annotations

import contextlib
import logging
import math
import signal
import threading
import time
from pathlib import Path
from typing import Callable, Mapping, Optional

from torch import nn
from tqdm.auto import tqdm

from coqa.data.errors import ConfigError, Interrupted
from coqa.train.checkpoints import (Progress, SaveModel, latest_checkpoint,
                                    remove_interrupted_saves, restore, save_checkpoint)
from coqa.train.config import TrainConfig, TrainResult
from coqa.train.dataset import TrainDataset
from coqa.train.distributed import DistInfo, barrier, single_process
from coqa.train.meter import Meter
from coqa.train.optim import linear_warmup_decay
from coqa.train.order import accumulation_groups, epoch_batches, steps_per_epoch, total_steps
from coqa.train.rng import rng_state, set_rng_state, set_seed
from coqa.train.step import OptimizerStep

logger = logging.getLogger(__name__)

EvaluateFn = Callable[[int], Optional[Mapping[str, float]]]


def train(model: nn.Module, dataset: TrainDataset, config: TrainConfig, save_model: SaveModel,
          *, dist: Optional[DistInfo] = None,
          evaluate_fn: Optional[EvaluateFn] = None) -> TrainResult:
    """Train `model` on `dataset`; see the module docstring for what the caller provides.

    `dist` defaults to a single process on the device of the model's parameters. Seeds
    python/numpy/torch with `config.seed + rank` at the start (model initialisation is the
    caller's business and happens before).
    """
    if len(dataset) == 0:
        raise ConfigError("the training set is empty")
    if dist is None:
        dist = single_process(next(model.parameters()).device)
    per_epoch = steps_per_epoch(len(dataset), config.per_device_batch_size, dist.world_size,
                                config.gradient_accumulation_steps)
    total = total_steps(config, per_epoch)
    loop = _Loop(OptimizerStep(model, dataset, config, dist, total), save_model, evaluate_fn)
    if dist.is_main:
        remove_interrupted_saves(Path(config.output_dir))
    set_seed(config.seed + dist.rank)
    progress = Progress()
    if config.resume_from_checkpoint:
        progress = restore(loop.step, Path(config.resume_from_checkpoint), per_epoch)
    _log_banner(loop.step, total, per_epoch)
    start = time.perf_counter()
    try:
        if dist.is_main:
            loop.writer = _summary_writer(Path(config.output_dir) / "runs")
        with _terminate_as_interrupt():
            loop.run(progress, total)
    except KeyboardInterrupt:
        raise Interrupted(_where_to_resume(config, progress)) from None
    finally:
        if loop.writer is not None:
            loop.writer.close()
    average = progress.total_loss / max(1, progress.global_step)
    if dist.is_main:
        logger.info(" global_step = %d, average loss = %s", progress.global_step, average)
    return TrainResult(progress.global_step, average, time.perf_counter() - start)


@contextlib.contextmanager
def _terminate_as_interrupt():
    """SIGTERM (a cluster pre-empting the job, torchrun passing on a kill) ends training as
    Ctrl-C does: one line saying where to resume from, and no save left half-written
    (without it Python dies at once, with no line and no clean-up). Only the main thread
    can receive signals; elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_terminate(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _summary_writer(folder: Path) -> Optional[object]:
    """A TensorBoard writer into `folder`, created only once training starts; None, said
    once, where tensorboardX is not installed (a bare GPU machine): training goes on."""
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        logger.warning("tensorboardX is not installed: no TensorBoard events in %s (the log "
                       "lines still show every step)", folder)
        return None
    return SummaryWriter(logdir=str(folder))


def _where_to_resume(config: TrainConfig, progress: Progress) -> str:
    latest = latest_checkpoint(Path(config.output_dir))
    if latest is None:
        return (f"interrupted at step {progress.global_step}, before any checkpoint "
                f"(--save_steps {config.save_steps}): nothing to resume from, rerun from the start")
    return (f"interrupted at step {progress.global_step}; to continue, rerun the same command "
            f"with --resume_from_checkpoint {latest}")


def _log_banner(step: OptimizerStep, total: int, per_epoch: int) -> None:
    if not step.dist.is_main:
        return
    config = step.config
    epochs = (math.ceil(total / per_epoch) if config.max_steps > 0
              else f"{config.num_train_epochs:g}")
    global_batch = (config.per_device_batch_size * step.dist.world_size
                    * config.gradient_accumulation_steps)
    logger.info("***** Running training *****")
    logger.info("  Num examples = %d", len(step.dataset))
    logger.info("  Num Epochs = %s", epochs)
    logger.info("  Instantaneous batch size per GPU = %d", config.per_device_batch_size)
    logger.info("  Total train batch size (w. parallel, distributed & accumulation) = %d",
                global_batch)
    logger.info("  Gradient Accumulation steps = %d", config.gradient_accumulation_steps)
    logger.info("  Total optimization steps = %d", total)
    warmup = config.warmup_for(total)
    logger.info("  Warm-up steps = %d", warmup)
    if warmup > total / 2:
        factor = linear_warmup_decay(warmup, total)
        peak = max(factor(s) for s in (min(warmup, total - 1), total - 1))
        logger.warning("Warm-up (%d steps) is longer than half of the run (%d steps): the "
                       "learning rate peaks at %.3g (%.2g%% of the learning rate %g); lower "
                       "--warmup_steps or use --warmup_ratio", warmup, total,
                       peak * config.learning_rate, 100 * peak, config.learning_rate)
    adv = config.adversarial
    if adv.method:
        logger.info("  Adversarial training = %s (epsilon=%g): %d forward passes per micro-batch",
                    adv.method, adv.epsilon, adv.forward_passes)
    logger.info("  Starting fine-tuning.")


class _Loop:
    """The optimizer step and what happens around it: step lines, checkpoints, evaluation."""

    def __init__(self, step: OptimizerStep, save_model: SaveModel,
                 evaluate_fn: Optional[EvaluateFn]):
        self.step = step
        self.save_model = save_model
        self.evaluate_fn = evaluate_fn
        self.writer: Optional[object] = None  # tensorboardX SummaryWriter, main rank only

    def run(self, progress: Progress, total: int) -> None:
        step, config = self.step, self.step.config
        meter = Meter(step.dist.device)
        bar = tqdm(total=total, initial=progress.global_step, desc="Iteration",
                   disable=not step.dist.is_main)
        try:
            while progress.global_step < total:
                step.dataset.set_epoch(progress.epoch)
                batches = epoch_batches(len(step.dataset), config.per_device_batch_size,
                                        step.dist, config.seed, progress.epoch)
                groups = accumulation_groups(batches, config.gradient_accumulation_steps)
                for group in groups[progress.steps_in_epoch:]:
                    out = step(group)
                    progress.global_step += 1
                    progress.steps_in_epoch += 1
                    if progress.steps_in_epoch == len(groups):  # a saved state points past it
                        progress.epoch += 1
                        progress.steps_in_epoch = 0
                    meter.add(out.loss, out.sequences, out.tokens)
                    bar.update(1)
                    self._after_step(progress, meter, out.learning_rate)
                    if progress.global_step >= total:
                        break
            progress.total_loss += meter.flush(step.dist)
        finally:
            bar.close()

    def _after_step(self, progress: Progress, meter: Meter, lr: float) -> None:
        config, dist = self.step.config, self.step.dist
        number = progress.global_step
        if config.logging_steps > 0 and number % config.logging_steps == 0:
            progress.total_loss += meter.flush(dist)
            if dist.is_main:
                meter.log_line(number, lr, dist.device, self.writer)
                if self.writer is not None:
                    self.writer.flush()  # so a kill -9 keeps the curve up to here
            meter.reset_window()
        if config.save_steps > 0 and number % config.save_steps == 0:
            paused = time.perf_counter()
            progress.total_loss += meter.flush(dist)  # so trainer_state.json holds the loss so far
            save_checkpoint(self.step, progress, self.save_model)
            self._evaluate(number)
            # The other ranks wait here, outside the training group's collectives, while
            # rank 0 writes and evaluates, however long that takes (up to --ddp_timeout).
            barrier(dist)
            meter.start += time.perf_counter() - paused  # throughput counts training time only

    def _evaluate(self, number: int) -> None:
        """The caller's evaluation, on the main rank, without disturbing the random state."""
        dist = self.step.dist
        if self.evaluate_fn is None or not dist.is_main:
            return
        state = rng_state(dist.device)
        try:
            results = self.evaluate_fn(number)
        finally:
            set_rng_state(state, dist.device)
            self.step.model.train()
        for name, value in (results or {}).items():
            logger.info("  eval %s = %s", name, value)
            if self.writer is not None:
                self.writer.add_scalar(f"eval/{name}", value, number)
        if self.writer is not None:
            self.writer.flush()
