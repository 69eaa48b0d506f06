"""Speed of UniLM-style seq2seq decoding and training, with the bert-base-chinese shape.

Usage: python scripts/benchmark_seq2seq.py [--device cpu|cuda] [--precision fp32|bf16]
                                           [--threads N] [--output FILE]
The seq2seq figures in docs/BENCHMARKS.md come from this one command (with --threads 1 on
the shared 2-core machine). It measures, with the real bert-base-chinese config and
vocabulary (random weights, nothing downloaded):

1. decoding, greedy and beam 5, on the same sources, three ways (`DecodeConfig.method`):
   our key/value cache; s2s-ft's own method, which keeps every layer's hidden states and
   projects the keys and values of the whole prefix again at every step (what the old
   decoder did); and recomputing `[source | prefix | [MASK]]` from the embeddings at every
   step. Answers per second, each method's time against the cache's, and whether all agree
   (tokens equal; the largest score difference); the target is a cache at least 5 times
   faster than recomputation;
2. cached decoding with beam 1 and beam 5: answers per second;
3. training, sequences per second at source 512 + target 42: `Seq2SeqModel` forward on the
   pseudo-mask layout `[source | target | pseudo]` (596 tokens), backward, clipping and
   AdamW step with the linear schedule, as run_seq2seq.py's training loop does them.

Sources are random vocabulary ids, [CLS] ... [SEP], with real lengths drawn between 60% and
100% of --source-len and right-padded per batch, as `Seq2SeqData.batch` pads. Random weights
almost never emit [SEP], so most answers run all --max-tgt-length steps; the steps run are
reported. Decoding runs as run_seq2seq.py decodes (fp32 weights, no autocast, TF32
matmuls on a GPU unless --no-tf32; --decode-dtype bf16 casts the weights instead);
--precision is the training autocast.
Paths that are compared take turns batch by batch (the cached one three times per batch
against the uncached one's once), and answers/s is the batch size over the median batch
time, so that other work on a shared machine slows both alike; "best" figures use each
batch's fastest run instead, the one least disturbed by such work. Model-FLOPs
utilisation (MFU) of training counts, per sequence, 6·N·L + 12·layers·L²·hidden for the
encoder over the L = source + 2·target layout tokens and 6·N_head·target for the masked-LM
head (only pseudo rows reach it). The last line printed is one JSON object with every figure.
"""
from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from scripts.bench_common import (add_machine_flags, bench_parser,  # noqa: E402
                                  cpu_name, cpu_snapshot, fmt, load_average, other_cpu_share,
                                  peak_flops_of, percent, run_group, synchronize,
                                  write_results)
from coqa.data.jsonlines import JSON_LINES  # noqa: E402
from seq2seq.examples import Seq2SeqData  # noqa: E402
from seq2seq.decoding import DecodeConfig, DecodeOutput, decode  # noqa: E402
from seq2seq.model import Seq2SeqConfig, Seq2SeqModel  # noqa: E402
from scripts.bench_seq2seq_training import bench_training  # noqa: E402

logger = logging.getLogger("benchmark_seq2seq")

MODEL_DIR = "models/bert-base-chinese"
TARGETS = {"cache_speedup": 5.0}  # against full recomputation, greedy
# Defaults that depend on the device: decoding batch, answers decoded with the cache,
# answers decoded without it, training batch, timed training steps, warm-up steps.
DEVICE_DEFAULTS = {"cpu": dict(decode_batch_size=4, decode_answers=8, uncached_answers=4,
                               batch_size=2, steps=3, warmup_steps=1),
                   "cuda": dict(decode_batch_size=32, decode_answers=256, uncached_answers=64,
                                batch_size=32, steps=20, warmup_steps=3)}
BEAMS = (1, 5)
CACHED_REPEATS = 3
# How each decoding step is computed (DecodeConfig.method): our key/value cache, s2s-ft's
# hidden states (keys and values projected again every step), full recomputation.
METHODS = ("kv_cache", "hidden_states", "recompute")
METHOD_NAMES = {"kv_cache": "key/value cache (ours)", "hidden_states": "s2s-ft: hidden states",
                "recompute": "recompute every step"}


@dataclass(frozen=True)
class BenchConfig:
    device: str
    precision: str
    decode_dtype: str
    source_len: int
    max_tgt_length: int
    decode_batch_size: int
    decode_answers: int
    uncached_answers: int
    batch_size: int
    steps: int
    warmup_steps: int
    target_len: int
    peak_flops: Optional[float]
    seed: int


def build_parser() -> argparse.ArgumentParser:
    parser, data = bench_parser(__doc__, "models/bert-base-chinese")
    data.add_argument("--model-dir", default=None,
                      help="folder with the encoder's config.json and vocab.txt "
                           "(default <shared>/models/bert-base-chinese)")
    data.add_argument("--source-len", type=int, default=512,
                      help="source width (max_source_seq_length), decoding and training")
    data.add_argument("--max-tgt-length", type=int, default=42, help="decoding steps at most")
    data.add_argument("--target-len", type=int, default=42,
                      help="training target width (max_target_seq_length)")
    decoding = parser.add_argument_group("decode")
    decoding.add_argument("--decode-batch-size", type=int, default=None,
                          help="sources per decoding batch (default 4 on cpu, 32 on cuda)")
    decoding.add_argument("--decode-answers", type=int, default=None,
                          help="sources decoded with the cache, beam 1 and beam 5 "
                               "(default 8 on cpu, 256 on cuda; rounded up to whole batches)")
    decoding.add_argument("--uncached-answers", type=int, default=None,
                          help="sources decoded by all three methods, greedy and beam 5 "
                               "(default 4 on cpu, 64 on cuda; rounded up to whole batches)")
    decoding.add_argument("--decode-dtype", choices=("fp32", "bf16"), default="fp32",
                          help="weights of the decoding model (run_seq2seq.py decodes in fp32)")
    run = run_group(parser, "training: ")
    run.add_argument("--batch-size", type=int, default=None,
                     help="sequences per training batch (default 2 on cpu, 32 on cuda)")
    run.add_argument("--steps", type=int, default=None,
                     help="timed training steps, the median step is reported "
                          "(default 3 on cpu, 20 on cuda)")
    run.add_argument("--warmup-steps", type=int, default=None,
                     help="untimed training steps first (default 1 on cpu, 3 on cuda)")
    run.add_argument("--skip-training", action="store_true", help="decoding figures only")
    run.add_argument("--no-tf32", action="store_true",
                     help="fp32 matmuls in full fp32 on a GPU (default: TF32, as run_seq2seq.py)")
    run.add_argument("--seed", type=int, default=0, help="seed of the weights and the sources")
    add_machine_flags(run, "On a busy machine use fewer than the cores: every parallel "
                           "operation waits for its slowest thread, and the many small "
                           "operations of cached decoding then slow down many times over")
    return parser


def bench_config(args: argparse.Namespace) -> BenchConfig:
    defaults = DEVICE_DEFAULTS[args.device]

    def pick(name: str) -> int:
        value = getattr(args, name)
        return defaults[name] if value is None else value

    batch = pick("decode_batch_size")

    def whole(count: int) -> int:
        return batch * math.ceil(count / batch)

    peak = peak_flops_of(torch.device(args.device), args.precision, args.peak_tflops)
    return BenchConfig(device=args.device, precision=args.precision,
                       decode_dtype=args.decode_dtype, source_len=args.source_len,
                       max_tgt_length=args.max_tgt_length, decode_batch_size=batch,
                       decode_answers=whole(pick("decode_answers")),
                       uncached_answers=whole(pick("uncached_answers")),
                       batch_size=pick("batch_size"), steps=pick("steps"),
                       warmup_steps=pick("warmup_steps"), target_len=args.target_len,
                       peak_flops=peak, seed=args.seed)


# ---------------------------------------------------------------- inputs

def random_data(count: int, source_len: int, target_len: int, shortest: float, vocab_size: int,
                cls_id: int, sep_id: int, first_word_id: int,
                generator: torch.Generator) -> Seq2SeqData:
    """`count` examples of random words: sources [CLS] words [SEP] and targets words [SEP],
    each `shortest`–100% of its width, as run_seq2seq.py's data layer stores them."""
    def rows(width: int) -> tuple[np.ndarray, np.ndarray]:
        lengths = torch.randint(max(2, int(shortest * width)), width + 1, (count,),
                                generator=generator)
        ids = torch.randint(first_word_id, vocab_size, (count, width), generator=generator)
        ids[torch.arange(count), lengths - 1] = sep_id
        ids = ids.masked_fill(torch.arange(width)[None, :] >= lengths[:, None], 0)
        return ids.int().numpy(), lengths.int().numpy()

    source_ids, source_length = rows(source_len)
    source_ids[:, 0] = cls_id
    target_ids, target_length = rows(target_len)
    return Seq2SeqData(source_ids, source_length, target_ids, target_length, [None] * count,
                       pad_id=0, has_targets=True, file_format=JSON_LINES)


# ---------------------------------------------------------------- 1, 2. decoding

def timed_decode(model: Seq2SeqModel, ids: torch.Tensor, mask: torch.Tensor,
                 config: DecodeConfig, device: torch.device) -> tuple[DecodeOutput, float]:
    synchronize(device)
    began = time.perf_counter()
    output = decode(model, ids, mask, config)
    synchronize(device)
    return output, time.perf_counter() - began


def compare_paths(model: Seq2SeqModel, data: Seq2SeqData, configs: Dict[str, DecodeConfig],
                  config: BenchConfig, device: torch.device,
                  repeats: Optional[Dict[str, int]] = None) -> Dict[str, dict]:
    """Decode every batch with each config in turn (after one untimed batch of each), a
    config `repeats[name]` times per batch (default once; the median counts); per config:
    seconds per batch, answers/s (batch size / median batch), steps, outputs. Batches are
    cut to their longest source, as run_seq2seq.py's decoding cuts them."""
    repeats = {name: (repeats or {}).get(name, 1) for name in configs}
    batches = [(batch["source_ids"], batch["source_mask"]) for batch in (
        data.batch(range(first, first + config.decode_batch_size))
        for first in range(0, len(data), config.decode_batch_size))]
    for decode_config in configs.values():  # warm-up: allocator, kernels, thread pools
        timed_decode(model, *batches[0], replace(decode_config, max_tgt_length=2), device)
    results = {name: {"batch_seconds": [], "best_batch_seconds": [], "steps": [], "answers": []}
               for name in configs}
    for index, batch in enumerate(batches):
        seconds: Dict[str, List[float]] = {name: [] for name in configs}
        for repeat in range(max(repeats.values())):
            for name, decode_config in configs.items():
                if repeat < repeats[name]:
                    output, took = timed_decode(model, *batch, decode_config, device)
                    seconds[name].append(took)
                    logger.info("Decoding batch %d/%d, %s: %.2f s, %d steps", index + 1,
                                len(batches), name, took, output.steps)
                    if repeat == 0:
                        results[name]["steps"].append(output.steps)
                        results[name]["answers"].extend(output.answers)
        for name in configs:
            results[name]["batch_seconds"].append(statistics.median(seconds[name]))
            results[name]["best_batch_seconds"].append(min(seconds[name]))
    for figures in results.values():
        figures["answers_per_s"] = config.decode_batch_size / statistics.median(
            figures["batch_seconds"])
        figures["best_answers_per_s"] = config.decode_batch_size / statistics.median(
            figures["best_batch_seconds"])
        figures["total_seconds"] = sum(figures["batch_seconds"])
    return results


def bench_methods(model: Seq2SeqModel, data: Seq2SeqData, config: BenchConfig,
                  device: torch.device, beam: int) -> dict:
    """Decode the same sources with each of METHODS at `beam`: answers/s, the other
    methods' time against the cache's (ratios of one run, batch by batch in turns), and
    whether all three give the same tokens."""
    base = DecodeConfig(beam_size=beam, max_tgt_length=config.max_tgt_length)
    # The cached path is cheap: three runs per batch, so that one burst of other work
    # does not decide the ratios.
    runs = compare_paths(model, data, {m: replace(base, method=m) for m in METHODS},
                         config, device, repeats={"kv_cache": CACHED_REPEATS})
    answers = {m: runs[m].pop("answers") for m in METHODS}
    cached = answers["kv_cache"]
    figures = {"answers": len(cached), "batch_size": config.decode_batch_size,
               "beam_size": beam, "max_tgt_length": config.max_tgt_length, **runs,
               "slowdown": {}, "best_slowdown": {}, "tokens_equal": True,
               "max_score_difference": 0.0,
               "answer_tokens_min_max": [min(len(a.token_ids) for a in cached),
                                         max(len(a.token_ids) for a in cached)]}
    for method in METHODS[1:]:
        figures["slowdown"][method] = runs["kv_cache"]["answers_per_s"] / runs[method]["answers_per_s"]
        figures["best_slowdown"][method] = (runs["kv_cache"]["best_answers_per_s"]
                                            / runs[method]["best_answers_per_s"])
        figures["tokens_equal"] &= all(a.token_ids == b.token_ids
                                       for a, b in zip(cached, answers[method]))
        figures["max_score_difference"] = max(
            figures["max_score_difference"],
            max(abs(a.score - b.score) for a, b in zip(cached, answers[method])))
    logger.info("Beam %d: %s answers/s; tokens equal: %s, largest score difference %.2e", beam,
                ", ".join(f"{m} {runs[m]['answers_per_s']:.4f}" for m in METHODS),
                figures["tokens_equal"], figures["max_score_difference"])
    return figures


def bench_beams(model: Seq2SeqModel, data: Seq2SeqData, config: BenchConfig,
                device: torch.device) -> dict:
    configs = {f"beam_{beam}": DecodeConfig(beam_size=beam, max_tgt_length=config.max_tgt_length)
               for beam in BEAMS}
    runs = compare_paths(model, data, configs, config, device)
    for figures in runs.values():
        figures["answers"] = len(figures["answers"])
    logger.info("Beams: %s", ", ".join(f"{name} {figures['answers_per_s']:.3f} answers/s"
                                       for name, figures in runs.items()))
    return {"batch_size": config.decode_batch_size, "max_tgt_length": config.max_tgt_length,
            **runs}


# ---------------------------------------------------------------- report

def print_table(results: dict) -> None:
    beams, train = results["beams"], results.get("train")
    for key in ("beam_1", "beam_5"):
        figures = results["methods"][key]
        print(f"\ndecoding, beam {figures['beam_size']}, {figures['answers']} answers, batch "
              f"{figures['batch_size']}, max_tgt_length {figures['max_tgt_length']}:")
        print(f"{'method':<34} {'answers/s':>10} {'best':>8} {'x cache time':>13} "
              f"{'steps per batch':>18}")
        for method in METHODS:
            ratio = 1.0 if method == "kv_cache" else figures["slowdown"][method]
            print(f"{METHOD_NAMES[method]:<34} {figures[method]['answers_per_s']:>10.4f} "
                  f"{figures[method]['best_answers_per_s']:>8.4f} {ratio:>12.2f}x "
                  f"{str(figures[method]['steps']):>18}")
        print(f"tokens equal: {figures['tokens_equal']}; largest score difference "
              f"{figures['max_score_difference']:.2e}")
    greedy = results["methods"]["beam_1"]["slowdown"]["recompute"]
    target = TARGETS["cache_speedup"]
    print(f"cache against recomputation, greedy: {greedy:.1f}x (target >= {target:g}x: "
          f"{'met' if greedy >= target else 'NOT met'})")
    print(f"\ncached decoding, {beams['beam_1']['answers']} answers, batch "
          f"{beams['batch_size']}:")
    for beam in BEAMS:
        figures = beams[f"beam_{beam}"]
        print(f"{'beam ' + str(beam):<34} {figures['answers_per_s']:>10.3f} "
              f"{figures['best_answers_per_s']:>8.3f} {str(figures['steps']):>18}")
    if train:
        print(f"\ntraining, source {train['source_len']} + target {train['target_len']} "
              f"({train['layout_tokens']} layout tokens), batch {train['batch_size']}, "
              f"{results['config']['precision']}: {train['seq_per_s']:.2f} seq/s, "
              f"{train['layout_tokens_per_s']:.0f} tokens/s, {fmt(train['tflops'], 3)} "
              f"model TFLOP/s, MFU {percent(train['mfu'])}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s",
                        datefmt="%H:%M:%S", level=logging.INFO)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda but torch sees no CUDA device", file=sys.stderr)
        return 2
    config = bench_config(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    model_dir = Path(args.model_dir or Path(args.shared) / MODEL_DIR)
    from transformers import BertConfig, BertTokenizerFast

    began = time.perf_counter()
    device = torch.device(config.device)
    machine = {"device": torch.cuda.get_device_name() if device.type == "cuda" else cpu_name(),
               "torch": torch.__version__, "threads": torch.get_num_threads(),
               "load_average_before": load_average()}
    snapshot = cpu_snapshot()
    logger.info("Benchmark: %s on %s", config, machine)
    if machine["load_average_before"] and machine["load_average_before"] > 0.5:
        logger.warning("Load average %.2f on %d cores: other work is running, so absolute "
                       "figures will be low, and with %d threads erratic (see --threads)",
                       machine["load_average_before"], os.cpu_count() or 0, machine["threads"])
    tokenizer = BertTokenizerFast.from_pretrained(str(model_dir))
    special = {tokenizer.convert_tokens_to_ids(t) for t in tokenizer.all_special_tokens}
    first_word_id = max(special) + 1  # [PAD] [unused..] [UNK] [CLS] [SEP] [MASK] come first
    # The position table grows (as s2s-ft grows it) to cover the longest layout used.
    model_config = Seq2SeqConfig(max_source_length=config.source_len,
                                 max_target_length=max(config.target_len, config.max_tgt_length),
                                 mask_token_id=tokenizer.mask_token_id,
                                 sep_token_id=tokenizer.sep_token_id)
    torch.manual_seed(config.seed)
    model = Seq2SeqModel.from_encoder_config(BertConfig.from_pretrained(str(model_dir)),
                                             model_config).to(device)
    generator = torch.Generator().manual_seed(config.seed)

    # fp32 matmuls in TF32 on a GPU, for decoding and training alike: run_seq2seq.py's
    # default, which its TF32 flag (issue 17, item 7; see its --help) turns off. --no-tf32
    # measures that.
    precision = torch.get_float32_matmul_precision()
    if device.type == "cuda" and not args.no_tf32:
        torch.set_float32_matmul_precision("high")
    machine["tf32"] = device.type == "cuda" and not args.no_tf32
    decoder = model if config.decode_dtype == "fp32" else copy.deepcopy(model).to(torch.bfloat16)
    words = dict(cls_id=tokenizer.cls_token_id, sep_id=tokenizer.sep_token_id,
                 first_word_id=first_word_id, generator=generator)  # for random_data
    sources = random_data(max(config.decode_answers, config.uncached_answers), config.source_len,
                          2, 0.6, model.vocab_size, **words)  # targets unused
    compared = sources.subset(config.uncached_answers)
    methods = {f"beam_{beam}": bench_methods(decoder, compared, config, device, beam)
               for beam in BEAMS}
    beams = bench_beams(decoder, sources.subset(config.decode_answers), config, device)
    del decoder
    results = {"config": asdict(config), "machine": machine, "methods": methods,
               "beams": beams, "targets": TARGETS}
    if not args.skip_training:
        # Full-width sources and targets: every step costs the most the flags allow.
        data = random_data(config.batch_size * (config.warmup_steps + config.steps),
                           config.source_len, config.target_len, 1.0, model.vocab_size, **words)
        results["train"] = bench_training(model, config, data)
    torch.set_float32_matmul_precision(precision)
    results["seconds"] = time.perf_counter() - began
    machine["load_average_after"] = load_average()
    machine["other_processes_cpu_share"] = other_cpu_share(snapshot)
    results["met"] = {
        "cache_speedup": methods["beam_1"]["slowdown"]["recompute"] >= TARGETS["cache_speedup"],
        "tokens_equal": all(m["tokens_equal"] for m in methods.values())}
    print_table(results)
    share = machine["other_processes_cpu_share"]
    print(f"benchmark took {results['seconds']:.0f} s; load average {machine['load_average_before']}"
          f" before, {machine['load_average_after']} after; other processes used "
          f"{'n/a' if share is None else f'{100 * share:.0f}%'} of the CPU meanwhile")
    line = json.dumps(results, sort_keys=True)
    if args.output:
        write_results(Path(args.output), results)
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
