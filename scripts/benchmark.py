"""Speed of the three hot paths against their bare Hugging Face equivalents, at 512 tokens.

Usage: python scripts/benchmark.py [--device cpu|cuda] [--precision fp32|bf16] [--batch-size B]
                                   [--threads N] [--steps N] [--output FILE]
The figures in docs/BENCHMARKS.md come from this one command. It measures, with the real
bert-base-chinese config (random weights) and tokenizer:

1. preprocessing, examples (turns) per second: `build_features` over DRCD dev converted to
   dialogues, against the bare batched tokenizer calls over the same texts (every passage
   with offsets; every question and answer);
2. training, sequences per second: ConvQAModel (middle none) forward, backward, clipping
   and AdamW step as the training loop does them, against a bare
   `BertForQuestionAnswering` (SDPA) forward, backward and AdamW step on the same batches
   (the same AdamW implementation as ours: fused on a GPU);
3. evaluation, sequences per second: `predict_logits` over a FeatureSet of full-length
   features, against bare forward passes of the same model over the same batches.

Ours and bare take turns call by call, and each figure is the median call, so that other
work on a shared machine slows both sides alike and a burst of it does not decide a ratio.
Ratios are bare throughput / our throughput: 1.0 means as fast as bare, 1.5 means bare is
1.5 times faster. Model-FLOPs utilisation (MFU) uses, per sequence of T tokens,
6·N·T + 12·layers·T²·hidden for a training step and 2·N·T + 4·layers·T²·hidden for a forward
pass, N being the parameters outside the embedding tables (lookups, not matmuls). The last
line printed is one JSON object with every figure.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from scripts.bench_common import (add_machine_flags, autocast, bench_parser,  # noqa: E402
                                  cpu_name, cpu_snapshot, fmt, load_average, mfu,
                                  other_cpu_share, peak_flops_of, percent, run_group, synchronize,
                                  write_results)
from coqa.tools.convert import convert_squad  # noqa: E402
from coqa.extractive.inference import InferenceConfig, predict_logits  # noqa: E402
from coqa.extractive.labels import NUM_SPECIAL  # noqa: E402
from coqa.extractive.features import FeatureConfig, FeatureSet, build_features  # noqa: E402
from coqa.extractive.model import ConvQAModel, ModelConfig  # noqa: E402
from coqa.data.readers import load_dialogues  # noqa: E402
from coqa.train.config import TrainConfig  # noqa: E402
from coqa.train.distributed import single_process  # noqa: E402
from coqa.train.optim import use_fused  # noqa: E402
from coqa.train.step import OptimizerStep  # noqa: E402

logger = logging.getLogger("benchmark")

DRCD_DEV = "data/drcd/DRCD_dev.json"
MODEL_DIR = "models/bert-base-chinese"
TARGETS = {"preprocess": 1.5, "train": 1.15, "eval": 1.1}
# Defaults that depend on the device: (timed training steps, warm-up steps, eval batches).
DEVICE_DEFAULTS = {"cpu": (5, 1, 4), "cuda": (20, 3, 40)}


@dataclass(frozen=True)
class BenchConfig:
    device: str
    precision: str
    batch_size: int
    eval_batch_size: int
    steps: int
    warmup_steps: int
    eval_batches: int
    eval_passes: int
    preprocess_repeats: int
    seq_len: int
    peak_flops: Optional[float]


def build_parser() -> argparse.ArgumentParser:
    parser, data = bench_parser(__doc__, "data/drcd and models/bert-base-chinese")
    data.add_argument("--config", default=None,
                      help="bert-base-chinese config.json or its folder "
                           "(default <shared>/models/bert-base-chinese)")
    data.add_argument("--seq-len", type=int, default=512, help="max_seq_length of the features")
    run = run_group(parser)
    run.add_argument("--batch-size", type=int, default=2,
                     help="sequences per training batch (32 on an H100)")
    run.add_argument("--eval-batch-size", type=int, default=None,
                     help="sequences per evaluation batch (default --batch-size)")
    run.add_argument("--steps", type=int, default=None,
                     help="timed training steps per model, the median step is reported "
                          "(default 5 on cpu, 20 on cuda)")
    run.add_argument("--warmup-steps", type=int, default=None,
                     help="untimed training steps per model first (default 1 on cpu, 3 on cuda)")
    run.add_argument("--eval-batches", type=int, default=None,
                     help="evaluation batches per timed pass (default 4 on cpu, 40 on cuda)")
    run.add_argument("--eval-passes", type=int, default=3,
                     help="timed evaluation passes per side (the median is reported)")
    run.add_argument("--preprocess-repeats", type=int, default=5,
                     help="timed repeats of each preprocessing path (the median is reported)")
    add_machine_flags(run, "On a shared machine use fewer than the cores: a parallel "
                           "operation waits for its slowest thread, so other work makes "
                           "2-thread timings erratic; the tokenizer keeps its own threads")
    return parser


def bench_config(args: argparse.Namespace) -> BenchConfig:
    steps, warmup, eval_batches = DEVICE_DEFAULTS[args.device]
    peak = peak_flops_of(torch.device(args.device), args.precision, args.peak_tflops)
    return BenchConfig(device=args.device, precision=args.precision, batch_size=args.batch_size,
                       eval_batch_size=args.eval_batch_size or args.batch_size,
                       steps=args.steps or steps,
                       warmup_steps=warmup if args.warmup_steps is None else args.warmup_steps,
                       eval_batches=args.eval_batches or eval_batches,
                       eval_passes=args.eval_passes,
                       preprocess_repeats=args.preprocess_repeats, seq_len=args.seq_len,
                       peak_flops=peak)


# ---------------------------------------------------------------- timing helpers

def alternate(ours: Callable[[], None], bare: Callable[[], None], rounds: int,
              device: torch.device) -> tuple[List[float], List[float]]:
    """Seconds of each call, ours and bare taking turns so that drift in the machine's speed
    (other load, clocks) hits both alike."""
    times: tuple[List[float], List[float]] = ([], [])
    for _ in range(rounds):
        for fn, bucket in ((ours, times[0]), (bare, times[1])):
            synchronize(device)
            began = time.perf_counter()
            fn()
            synchronize(device)
            bucket.append(time.perf_counter() - began)
    return times


def matmul_params(model: torch.nn.Module) -> int:
    """Parameters outside the embedding tables (those are lookups, not matmuls)."""
    embeddings = {id(p) for m in model.modules() if isinstance(m, torch.nn.Embedding)
                  for p in m.parameters()}
    return sum(p.numel() for p in model.parameters() if id(p) not in embeddings)


def flops_per_sequence(model: torch.nn.Module, encoder_config, seq_len: int,
                       training: bool) -> float:
    """6·N·T + 12·layers·T²·hidden (training) or 2·N·T + 4·layers·T²·hidden (forward)."""
    attention = encoder_config.num_hidden_layers * seq_len ** 2 * encoder_config.hidden_size
    n = matmul_params(model)
    return 6 * n * seq_len + 12 * attention if training else 2 * n * seq_len + 4 * attention


# ---------------------------------------------------------------- 1. preprocessing

def bench_preprocessing(shared: Path, tokenizer, config: BenchConfig) -> tuple[dict, FeatureSet]:
    converted, _ = convert_squad(shared / DRCD_DEV, "DRCD")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "drcd_dev_dialogues.json"
        path.write_text(json.dumps(converted, ensure_ascii=False), encoding="utf-8")
        dialogues = load_dialogues(path).dialogues
    turns = sum(len(d.turns) for d in dialogues)
    feature_config = FeatureConfig(max_seq_length=config.seq_len)
    passages = [d.passage for d in dialogues]
    texts = [text for d in dialogues for t in d.turns for text in (t.question, t.answer)]
    plain = dict(add_special_tokens=False, return_attention_mask=False,
                 return_token_type_ids=False)
    result: Dict[str, FeatureSet] = {}

    def ours() -> None:
        result["features"] = build_features(dialogues, tokenizer, feature_config, threads=1,
                                            show_progress=False)

    def bare() -> None:
        tokenizer(passages, return_offsets_mapping=True, **plain)
        tokenizer(texts, **plain)

    alternate(ours, bare, 1, torch.device("cpu"))  # warm-up
    ours_times, bare_times = alternate(ours, bare, config.preprocess_repeats,
                                       torch.device("cpu"))
    ours_s, bare_s = statistics.median(ours_times), statistics.median(bare_times)
    features = result["features"]
    logger.info("Preprocessing: %d dialogues, %d turns, %d features; build_features %.3f s, "
                "bare tokenizer %.3f s (medians of %d)", len(dialogues), turns, len(features),
                ours_s, bare_s, config.preprocess_repeats)
    figures = {"dialogues": len(dialogues), "examples": turns, "features": len(features),
               "ours_seconds": ours_s, "bare_seconds": bare_s,
               "ours_examples_per_s": turns / ours_s, "bare_examples_per_s": turns / bare_s,
               "ratio": ours_s / bare_s}
    return figures, features


def full_length_subset(features: FeatureSet, count: int) -> np.ndarray:
    """Indices of `count` features that fill the whole sequence (repeated if too few)."""
    full = np.flatnonzero(features.attention_mask.sum(axis=1) == features.input_ids.shape[1])
    if not len(full):
        raise ValueError("no full-length feature in DRCD dev; lower --seq-len")
    return np.resize(full, count)


def subset(features: FeatureSet, indices: np.ndarray) -> FeatureSet:
    """The features at `indices` as a FeatureSet of their own (examples kept whole)."""
    return FeatureSet(input_ids=features.input_ids[indices],
                      token_type_ids=features.token_type_ids[indices],
                      attention_mask=features.attention_mask[indices],
                      start_positions=features.start_positions[indices],
                      end_positions=features.end_positions[indices],
                      example_index=features.example_index[indices],
                      token_offsets=features.token_offsets[indices],
                      examples=features.examples, passages=features.passages)


def bare_qa_batch(batch: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Our batch for BertForQuestionAnswering: labels are sequence positions there, and the
    special classes (yes / no / unknown) point at [CLS], as in run_qa.py."""
    bare = {name: batch[name] for name in ("input_ids", "attention_mask", "token_type_ids")}
    for name in ("start_positions", "end_positions"):
        bare[name] = (batch[name] - NUM_SPECIAL).clamp(min=0)
    return bare


# ---------------------------------------------------------------- 2. training

def bare_adamw(model: torch.nn.Module, train_config: TrainConfig) -> torch.optim.AdamW:
    """The bare side's AdamW: the implementation ours gets (`coqa.train.optim.use_fused`:
    fused on a GPU, as the Hugging Face Trainer's default there too), so that the ratio
    measures our step, not one optimizer kernel against another."""
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.AdamW(params, lr=train_config.learning_rate, eps=train_config.adam_epsilon,
                             weight_decay=train_config.weight_decay,
                             fused=True if use_fused([{"params": params}]) else None)


def bench_training(ours_model: ConvQAModel, bare_model: torch.nn.Module, features: FeatureSet,
                   encoder_config, config: BenchConfig) -> dict:
    device = torch.device(config.device)
    train_config = TrainConfig(output_dir="", per_device_batch_size=config.batch_size,
                               precision=config.precision)
    total = config.warmup_steps + config.steps
    ours_step = OptimizerStep(ours_model, features, train_config, single_process(device), total + 1)
    bare_optimizer = bare_adamw(bare_model, train_config)
    ours_model.train()
    bare_model.train()
    rows = full_length_subset(features, config.batch_size * total)
    batches = [rows[i:i + config.batch_size] for i in range(0, len(rows), config.batch_size)]
    bare_batches = [{k: v.to(device) for k, v in bare_qa_batch(features.batch(b)).items()}
                    for b in batches]
    step = {"ours": 0, "bare": 0}

    def ours() -> None:
        # The training loop's own optimizer step, one micro-batch: CPU batch to the device,
        # autocast forward, float loss, backward, clipping, step, schedule, zero_grad.
        ours_step([batches[step["ours"]].tolist()])
        step["ours"] += 1

    def bare() -> None:
        batch = bare_batches[step["bare"]]
        step["bare"] += 1
        with autocast(config.device, config.precision):
            loss = bare_model(**batch).loss
        loss.backward()
        bare_optimizer.step()
        bare_optimizer.zero_grad(set_to_none=True)

    alternate(ours, bare, config.warmup_steps, device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    ours_times, bare_times = alternate(ours, bare, config.steps, device)
    ours_s, bare_s = statistics.median(ours_times), statistics.median(bare_times)
    figures = {"batch_size": config.batch_size, "steps": config.steps,
               "warmup_steps": config.warmup_steps, "ours_step_seconds": ours_times,
               "bare_step_seconds": bare_times, "ours_seq_per_s": config.batch_size / ours_s,
               "bare_seq_per_s": config.batch_size / bare_s, "ratio": ours_s / bare_s}
    figures.update(_mfu(ours_model, bare_model, encoder_config, config, figures, training=True))
    if device.type == "cuda":
        figures["peak_memory_gb"] = torch.cuda.max_memory_allocated(device) / 2 ** 30
    logger.info("Training: ours %.2f seq/s, bare %.2f seq/s", figures["ours_seq_per_s"],
                figures["bare_seq_per_s"])
    del ours_step, bare_optimizer
    ours_model.zero_grad(set_to_none=True)
    bare_model.zero_grad(set_to_none=True)
    return figures


def _mfu(ours_model, bare_model, encoder_config, config: BenchConfig, figures: dict,
         training: bool) -> dict:
    ours_flops = flops_per_sequence(ours_model, encoder_config, config.seq_len, training)
    bare_flops = flops_per_sequence(bare_model, encoder_config, config.seq_len, training)
    ours_per_s = ours_flops * figures["ours_seq_per_s"]
    bare_per_s = bare_flops * figures["bare_seq_per_s"]
    return {"ours_flops_per_seq": ours_flops, "bare_flops_per_seq": bare_flops,
            "ours_tflops": ours_per_s / 1e12, "bare_tflops": bare_per_s / 1e12,
            "ours_mfu": mfu(ours_per_s, config.peak_flops),
            "bare_mfu": mfu(bare_per_s, config.peak_flops)}


# ---------------------------------------------------------------- 3. evaluation

def bench_evaluation(model: ConvQAModel, features: FeatureSet, encoder_config,
                     config: BenchConfig) -> dict:
    device = torch.device(config.device)
    count = config.eval_batch_size * config.eval_batches
    evaluation = subset(features, full_length_subset(features, count))
    inference = InferenceConfig(batch_size=config.eval_batch_size, precision=config.precision,
                                show_progress=False)
    # Same batches as predict_logits builds (all full length, so any order is the same).
    batches = [{k: v.to(device) for k, v in evaluation.batch(
        np.arange(first, min(first + config.eval_batch_size, count)), with_labels=False).items()}
        for first in range(0, count, config.eval_batch_size)]
    model.eval()

    def ours() -> None:
        predict_logits(model, evaluation, inference, device)

    @torch.inference_mode()
    def bare() -> None:
        for batch in batches:
            with autocast(config.device, config.precision):
                model(**batch)

    alternate(ours, bare, 1, device)  # warm-up
    ours_times, bare_times = alternate(ours, bare, config.eval_passes, device)
    ours_s, bare_s = statistics.median(ours_times), statistics.median(bare_times)
    figures = {"batch_size": config.eval_batch_size, "sequences": count,
               "passes": config.eval_passes, "ours_pass_seconds": ours_times,
               "bare_pass_seconds": bare_times, "ours_seq_per_s": count / ours_s,
               "bare_seq_per_s": count / bare_s, "ratio": ours_s / bare_s}
    figures.update(_mfu(model, model, encoder_config, config, figures, training=False))
    logger.info("Evaluation: predict_logits %.2f seq/s, bare forward %.2f seq/s",
                figures["ours_seq_per_s"], figures["bare_seq_per_s"])
    return figures


# ---------------------------------------------------------------- report

def print_table(results: dict) -> None:
    pre, train, ev = results["preprocess"], results["train"], results["eval"]
    rows = [("preprocessing (examples/s)", pre["ours_examples_per_s"], pre["bare_examples_per_s"],
             pre["ratio"], TARGETS["preprocess"]),
            ("training step (seq/s)", train["ours_seq_per_s"], train["bare_seq_per_s"],
             train["ratio"], TARGETS["train"]),
            ("evaluation (seq/s)", ev["ours_seq_per_s"], ev["bare_seq_per_s"], ev["ratio"],
             TARGETS["eval"])]
    print()
    print(f"{'measure':<28} {'ours':>10} {'bare':>10} {'bare/ours':>10} {'target':>8}  met")
    for name, ours, bare, ratio, target in rows:
        print(f"{name:<28} {ours:>10.2f} {bare:>10.2f} {ratio:>10.3f} {'<= ' + str(target):>8}  "
              f"{'yes' if ratio <= target else 'NO'}")
    for name, figures in (("training", train), ("evaluation", ev)):
        print(f"{name} model TFLOP/s: ours {fmt(figures['ours_tflops'], 3)}, bare "
              f"{fmt(figures['bare_tflops'], 3)}; MFU: ours {percent(figures['ours_mfu'])}, "
              f"bare {percent(figures['bare_mfu'])}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s",
                        datefmt="%H:%M:%S", level=logging.INFO)
    for name in ("coqa.extractive.features", "coqa.extractive.inference"):  # one line per timed call: noise
        logging.getLogger(name).setLevel(logging.WARNING)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda but torch sees no CUDA device", file=sys.stderr)
        return 2
    config = bench_config(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    shared = Path(args.shared)
    config_path = args.config or str(shared / MODEL_DIR)
    from transformers import BertConfig, BertForQuestionAnswering, BertTokenizerFast

    began = time.perf_counter()
    device = torch.device(config.device)
    machine = {"device": torch.cuda.get_device_name() if device.type == "cuda" else cpu_name(),
               "torch": torch.__version__, "threads": torch.get_num_threads(),
               "load_average_before": load_average()}
    snapshot = cpu_snapshot()
    logger.info("Benchmark: %s on %s", config, machine)
    if machine["load_average_before"] and machine["load_average_before"] > 0.5:
        logger.warning("Load average %.2f on %d cores: other work is running, so absolute "
                       "figures will be low; the ratios are less affected (ours and bare "
                       "alternate)", machine["load_average_before"], os.cpu_count() or 0)
    tokenizer = BertTokenizerFast.from_pretrained(str(shared / MODEL_DIR))
    preprocess, features = bench_preprocessing(shared, tokenizer, config)

    torch.manual_seed(0)
    encoder_config = BertConfig.from_pretrained(config_path)
    ours_model = ConvQAModel.from_encoder_config(encoder_config, ModelConfig()).to(device)
    bare_model = BertForQuestionAnswering(
        BertConfig.from_pretrained(config_path, attn_implementation="sdpa")).to(device)
    train = bench_training(ours_model, bare_model, features, encoder_config, config)
    del bare_model
    evaluation = bench_evaluation(ours_model, features, encoder_config, config)

    results = {"config": asdict(config), "machine": machine,
               "preprocess": preprocess, "train": train, "eval": evaluation,
               "targets": TARGETS, "seconds": time.perf_counter() - began}
    machine["load_average_after"] = load_average()
    machine["other_processes_cpu_share"] = other_cpu_share(snapshot)
    results["met"] = {name: results[name]["ratio"] <= target for name, target in TARGETS.items()}
    print_table(results)
    share = machine["other_processes_cpu_share"]
    print(f"benchmark took {results['seconds']:.0f} s; other processes used "
          f"{'n/a' if share is None else f'{100 * share:.0f}%'} of the CPU meanwhile")
    line = json.dumps(results, sort_keys=True)
    if args.output:
        write_results(Path(args.output), results)
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
