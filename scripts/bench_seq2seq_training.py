"""Training figures of scripts/benchmark_seq2seq.py (its part 3): the training loop's own
optimizer step on full-width random examples, sequences and layout tokens per second, MFU."""
from __future__ import annotations

import logging
import statistics
import time
from typing import List

import torch

from coqa.train.config import TrainConfig
from coqa.train.distributed import single_process
from coqa.train.step import OptimizerStep
from scripts.bench_common import mfu, synchronize
from seq2seq.examples import Seq2SeqData
from seq2seq.model import Seq2SeqModel
from seq2seq.steps import training_set

logger = logging.getLogger("benchmark_seq2seq")


def training_flops_per_sequence(model: Seq2SeqModel, source_len: int, target_len: int) -> float:
    """6·N_encoder·L + 12·layers·L²·hidden + 6·N_head·target, L = source + 2·target."""
    encoder_config = model.mlm.config
    length = source_len + 2 * target_len
    encoder = sum(p.numel() for p in model.mlm.bert.encoder.parameters())
    head = (model.mlm.cls.predictions.transform.dense.weight.numel()
            + model.mlm.bert.embeddings.word_embeddings.weight.numel())  # tied output layer
    attention = encoder_config.num_hidden_layers * length ** 2 * encoder_config.hidden_size
    return 6 * encoder * length + 12 * attention + 6 * head * target_len


def bench_training(model: Seq2SeqModel, config, data: Seq2SeqData) -> dict:
    """Training figures of benchmark_seq2seq.py (`config`: its BenchConfig) over `data`:
    config.warmup_steps untimed then config.steps timed batches of config.batch_size."""
    device = torch.device(config.device)
    train_config = TrainConfig(output_dir="", per_device_batch_size=config.batch_size,
                               precision=config.precision)
    total = config.warmup_steps + config.steps
    batches = [list(range(first, first + config.batch_size))
               for first in range(0, len(data), config.batch_size)]
    data = training_set(data, model, seed=42)  # adds the keyed pseudo tokens, as run_seq2seq.py
    # The training loop's own optimizer step, one micro-batch: collate on the CPU (with the
    # pseudo tokens), to the device, autocast forward, float loss, backward, clipping,
    # step, schedule, zero_grad.
    optimizer_step = OptimizerStep(model, data, train_config, single_process(device), total + 1)

    def step(indices: List[int]) -> None:
        optimizer_step([indices])

    times: List[float] = []
    for index, batch in enumerate(batches):
        if index == config.warmup_steps and device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        synchronize(device)
        began = time.perf_counter()
        step(batch)
        synchronize(device)
        if index >= config.warmup_steps:
            times.append(time.perf_counter() - began)
            logger.info("Training step %d/%d: %.2f s", len(times), config.steps, times[-1])
    seconds = statistics.median(times)
    length = config.source_len + 2 * config.target_len
    flops = training_flops_per_sequence(model, config.source_len, config.target_len)
    seq_per_s = config.batch_size / seconds
    figures = {"batch_size": config.batch_size, "steps": config.steps,
               "warmup_steps": config.warmup_steps, "source_len": config.source_len,
               "target_len": config.target_len, "layout_tokens": length,
               "step_seconds": times, "seq_per_s": seq_per_s,
               "layout_tokens_per_s": seq_per_s * length, "flops_per_seq": flops,
               "tflops": flops * seq_per_s / 1e12,
               "mfu": mfu(flops * seq_per_s, config.peak_flops)}
    if device.type == "cuda":
        figures["peak_memory_gb"] = torch.cuda.max_memory_allocated(device) / 2 ** 30
    logger.info("Training: %.2f seq/s, %.0f layout tokens/s", seq_per_s,
                figures["layout_tokens_per_s"])
    return figures
