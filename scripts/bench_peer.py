"""Training-step speed of run_coqa.py's model against the plain Hugging Face peer
(scripts/hf_qa_baseline.py), at the shape of the real encoder, multilingual-e5-small.

Usage: python scripts/bench_peer.py [--seq-lens 128 384] [--batch-size 2] [--steps 5]
           [--threads 1] [--freeze-embeddings] [--precision-compare] [--profile]
           [--matmuls] [--no-mkldnn] [--skip-steps] [--output FILE]

Both sides get a random BERT of the e5-small shape (vocabulary 250,037, hidden 384,
12 layers, 12 heads of 32, FFN 1536, 512 positions, pad id 1) and the same full-length
random batches (no padding). Ours is `coqa.train.step.OptimizerStep` on
`coqa.extractive.model.ConvQAModel` (middle none), the step the training loop runs; the
peer is `hf_qa_baseline.train_step` on `BertForQuestionAnswering` (SDPA) with the peer's own
optimizer and schedule. Both: fp32, AdamW (weight decay 0.01 except biases and norms),
clipping at 1.0. Ours and the peer take turns step by step and each figure is the median
step, so other load slows both alike. Ratio = our step time / the peer's (target <= 1.15).

--freeze-embeddings also times both with the word-embedding table frozen
(requires_grad False, optimizers rebuilt: AdamW then skips its 96M parameters, and
backward writes no dense 96M-row gradient).
--precision-compare times forward and backward (no optimizer) of our model in fp32 and
under bf16 autocast, taking turns, at the first --seq-lens entry.
--profile prints torch.profiler's top operators by self CPU time of one forward + backward
of our model in fp32 and in bf16 autocast (also written to --output).
--matmuls times the three products of an FFN layer in fp32 and bf16; --no-mkldnn switches
oneDNN off, the bf16 path of a CPU without avx512_bf16 / AMX (see docs/BENCHMARKS.md,
"Real-encoder shape on CPU").
The last line printed is one JSON object with every figure.
"""
from __future__ import annotations

import json
import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from scripts.bench_common import (add_machine_flags, bench_parser, cpu_name,  # noqa: E402
                                  cpu_snapshot, load_average, other_cpu_share, write_results)
from scripts.hf_qa_baseline import build_optimizer, linear_schedule, train_step  # noqa: E402
from coqa.extractive.features import FeatureSet  # noqa: E402
from coqa.extractive.labels import NUM_SPECIAL  # noqa: E402
from coqa.extractive.model import ConvQAModel, ModelConfig  # noqa: E402
from coqa.train.config import TrainConfig  # noqa: E402
from coqa.train.distributed import single_process  # noqa: E402
from coqa.train.step import OptimizerStep  # noqa: E402

logger = logging.getLogger("bench_peer")
TARGET = 1.15
E5_SMALL = dict(vocab_size=250037, hidden_size=384, num_hidden_layers=12, num_attention_heads=12,
                intermediate_size=1536, max_position_embeddings=512, pad_token_id=1,
                type_vocab_size=2)
CLS, SEP, QUESTION_TOKENS = 0, 2, 16
LEARNING_RATE, WEIGHT_DECAY, WARMUP = 3e-5, 0.01, 2


def build_parser():
    parser, data = bench_parser(__doc__, "nothing this benchmark needs (random models and data)")
    data.add_argument("--seq-lens", type=int, nargs="+", default=[128, 384],
                      help="sequence lengths to time (every sequence full length)")
    run = parser.add_argument_group("run")
    run.add_argument("--batch-size", type=int, default=2, help="sequences per training step")
    run.add_argument("--steps", type=int, default=5, help="timed steps per side (median reported)")
    run.add_argument("--warmup", type=int, default=1, help="untimed steps per side first")
    run.add_argument("--freeze-embeddings", action="store_true",
                     help="also time both steps with the word embeddings frozen")
    run.add_argument("--precision-compare", action="store_true",
                     help="also time our forward and backward in fp32 and bf16 autocast")
    run.add_argument("--precision-repeats", type=int, default=3,
                     help="timed forward + backward per precision (median reported)")
    run.add_argument("--profile", action="store_true",
                     help="also profile one fp32 and one bf16 forward + backward")
    run.add_argument("--matmuls", action="store_true",
                     help="also time the FFN-sized matmul [256, 1536] x [1536, 384] in fp32 and "
                          "bf16, in the three layouts of a linear layer's forward and backward")
    run.add_argument("--no-mkldnn", action="store_true",
                     help="torch.backends.mkldnn.enabled = False: bf16 matmuls take ATen's own "
                          "kernels, the path of a CPU without native bf16 (no avx512_bf16 / AMX)")
    run.add_argument("--skip-steps", action="store_true",
                     help="skip the ours-vs-peer training steps (only the other parts)")
    add_machine_flags(run, "Use 1 to compare with docs/BENCHMARKS.md")
    return parser


def random_features(count: int, seq_len: int, seed: int) -> FeatureSet:
    """Full-length features: [CLS] 16 question tokens [SEP] passage [SEP], random ids, the
    answer a random passage span, labelled in our classes (3 + position)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(3, E5_SMALL["vocab_size"], size=(count, seq_len), dtype=np.int32)
    ids[:, 0], ids[:, QUESTION_TOKENS + 1], ids[:, -1] = CLS, SEP, SEP
    types = np.zeros((count, seq_len), np.int8)
    types[:, QUESTION_TOKENS + 2:] = 1
    starts = rng.integers(QUESTION_TOKENS + 2, seq_len - 10, size=count)
    return FeatureSet(input_ids=ids, token_type_ids=types,
                      attention_mask=np.ones((count, seq_len), np.int8),
                      start_positions=starts + NUM_SPECIAL,
                      end_positions=starts + NUM_SPECIAL + rng.integers(0, 8, size=count),
                      example_index=np.zeros(count, np.int32),
                      token_offsets=np.zeros((count, seq_len, 2), np.int32),
                      examples=[], passages=[])


def peer_batch(batch: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Our batch for BertForQuestionAnswering: labels are sequence positions there."""
    peer = {k: batch[k] for k in ("input_ids", "token_type_ids", "attention_mask")}
    for name in ("start_positions", "end_positions"):
        peer[name] = batch[name] - NUM_SPECIAL
    return peer


def word_embeddings(model: torch.nn.Module) -> torch.nn.Parameter:
    return next(p for n, p in model.named_parameters() if n.endswith("word_embeddings.weight"))


def alternate(sides: Dict[str, Callable[[], None]], rounds: int) -> Dict[str, List[float]]:
    """Wall and CPU seconds of each call (keys "<side>" and "<side>_cpu"), the sides taking
    turns call by call. With one thread, this process's CPU time leaves out the time other
    jobs held the core (not their share of memory bandwidth)."""
    times: Dict[str, List[float]] = {key: [] for name in sides for key in (name, name + "_cpu")}
    for _ in range(rounds):
        for name, fn in sides.items():
            began, cpu = time.perf_counter(), time.process_time()
            fn()
            times[name].append(time.perf_counter() - began)
            times[name + "_cpu"].append(time.process_time() - cpu)
    return times


def bench_steps(ours_model, peer_model, seq_len: int, args, frozen: bool) -> dict:
    """Ours' and the peer's training step, taking turns, on the same batches."""
    for model in (ours_model, peer_model):
        word_embeddings(model).requires_grad_(not frozen)
    total = args.warmup + args.steps
    features = random_features(args.batch_size * total, seq_len, seed=seq_len)
    batches = [list(range(i, i + args.batch_size))
               for i in range(0, args.batch_size * total, args.batch_size)]
    config = TrainConfig(output_dir="", per_device_batch_size=args.batch_size,
                         learning_rate=LEARNING_RATE, weight_decay=WEIGHT_DECAY,
                         warmup_steps=WARMUP, max_grad_norm=1.0, precision="fp32")
    ours_step = OptimizerStep(ours_model, features, config, single_process("cpu"), total)
    peer_optimizer = build_optimizer(peer_model, LEARNING_RATE, WEIGHT_DECAY, 1e-8)
    peer_scheduler = linear_schedule(peer_optimizer, WARMUP, total)
    peer_model.train()
    peer_batches = [peer_batch(features.batch(b)) for b in batches]
    done = {"ours": 0, "peer": 0}

    def ours() -> None:
        ours_step([batches[done["ours"]]])
        done["ours"] += 1

    def peer() -> None:
        train_step(peer_model, peer_optimizer, peer_scheduler, peer_batches[done["peer"]], 1.0)
        done["peer"] += 1

    alternate({"ours": ours, "peer": peer}, args.warmup)
    times = alternate({"ours": ours, "peer": peer}, args.steps)
    ours_s, peer_s = statistics.median(times["ours"]), statistics.median(times["peer"])
    tokens = args.batch_size * seq_len
    figures = {"seq_len": seq_len, "frozen_word_embeddings": frozen,
               "trainable_parameters": {
                   "ours": sum(p.numel() for p in ours_model.parameters() if p.requires_grad),
                   "peer": sum(p.numel() for p in peer_model.parameters() if p.requires_grad)},
               "ours_step_seconds": times["ours"], "peer_step_seconds": times["peer"],
               "ours_seq_per_s": args.batch_size / ours_s, "peer_seq_per_s": args.batch_size / peer_s,
               "ours_tokens_per_s": tokens / ours_s, "peer_tokens_per_s": tokens / peer_s,
               "ratio": ours_s / peer_s,
               "ours_step_cpu_seconds": times["ours_cpu"], "peer_step_cpu_seconds": times["peer_cpu"],
               "cpu_time_ratio": statistics.median(times["ours_cpu"])
               / statistics.median(times["peer_cpu"]),
               "round_ratios": [o / p for o, p in zip(times["ours"], times["peer"])]}
    logger.info("%d tokens%s: ours %.2f s, peer %.2f s a step, ratio %.3f (CPU time %.3f)",
                seq_len, " (frozen word embeddings)" if frozen else "", ours_s, peer_s,
                figures["ratio"], figures["cpu_time_ratio"])
    del ours_step, peer_optimizer
    for model in (ours_model, peer_model):
        model.zero_grad(set_to_none=True)
        word_embeddings(model).requires_grad_(True)
    return figures


def forward_backward(model, batch, precision: str) -> Dict[str, float]:
    """Seconds of one forward (loss) and of its backward, under `precision`."""
    began = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        loss = model(**batch)["loss"].float()
    middle = time.perf_counter()
    loss.backward()
    ended = time.perf_counter()
    model.zero_grad(set_to_none=True)
    return {"forward": middle - began, "backward": ended - middle}


def bench_precisions(model, seq_len: int, args) -> dict:
    """Our model's forward and backward, fp32 and bf16 autocast taking turns."""
    features = random_features(args.batch_size, seq_len, seed=1)
    batch = features.batch(list(range(args.batch_size)))
    model.train()
    runs: Dict[str, List[Dict[str, float]]] = {"fp32": [], "bf16": []}
    for repeat in range(1 + args.precision_repeats):  # the first round is warm-up
        for precision in runs:
            seconds = forward_backward(model, batch, precision)
            if repeat:
                runs[precision].append(seconds)
            logger.info("%s%s: forward %.2f s, backward %.2f s", precision,
                        "" if repeat else " (warm-up)", seconds["forward"], seconds["backward"])
    return {precision: {part: statistics.median(r[part] for r in rows)
                        for part in ("forward", "backward")} | {"runs": rows}
            for precision, rows in runs.items()} | {"seq_len": seq_len}


def profile(model, seq_len: int, args, rows: int = 15) -> dict:
    """torch.profiler's operator tables (self CPU time) of one forward + backward."""
    from torch.profiler import ProfilerActivity, profile as torch_profile

    batch = random_features(args.batch_size, seq_len, seed=2).batch(list(range(args.batch_size)))
    tables = {}
    for precision in ("fp32", "bf16"):
        forward_backward(model, batch, precision)  # warm-up
        with torch_profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            forward_backward(model, batch, precision)
        averages = prof.key_averages()
        tables[precision] = averages.table(sort_by="self_cpu_time_total", row_limit=rows)
        tables[precision + "_by_shape"] = prof.key_averages(group_by_input_shape=True).table(
            sort_by="self_cpu_time_total", row_limit=rows)
        print(f"\n=== {precision}: top operators by self CPU time, one forward + backward ===")
        print(tables[precision])
        print(f"=== {precision}: the same by input shape ===")
        print(tables[precision + "_by_shape"])
    return tables


def bench_matmuls(repeats: int = 5) -> dict:
    """Median ms of the three products of an FFN input layer, nn.Linear(384, 1536) with
    weight W (1536, 384), on 2 × 128 tokens, per dtype: x · Wᵀ (the forward, a transposed
    view), dY · W (the backward's input gradient, both operands row-major) and dYᵀ · x (the
    weight gradient)."""
    figures: Dict[str, Dict[str, float]] = {}
    for dtype in (torch.float32, torch.bfloat16):
        x, weight = torch.randn(256, 384, dtype=dtype), torch.randn(1536, 384, dtype=dtype)
        grad = torch.randn(256, 1536, dtype=dtype)
        products = {"forward x.Wt": lambda: x @ weight.t(),
                    "backward dX = dY.W": lambda: grad @ weight,
                    "backward dW = dYt.x": lambda: grad.t() @ x}
        figures[str(dtype).replace("torch.", "")] = row = {}
        for name, product in products.items():
            product()  # warm-up
            times = []
            for _ in range(repeats):
                began = time.perf_counter()
                product()
                times.append(time.perf_counter() - began)
            row[name] = 1000 * statistics.median(times)
        logger.info("matmul ms, %s: %s", dtype, {k: round(v, 1) for k, v in row.items()})
    return figures


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s",
                        datefmt="%H:%M:%S", level=logging.INFO)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.backends.mkldnn.enabled = not args.no_mkldnn
    from transformers import BertConfig, BertForQuestionAnswering

    began = time.perf_counter()
    machine = {"device": cpu_name(), "torch": torch.__version__,
               "threads": torch.get_num_threads(), "load_average_before": load_average(),
               "mkldnn_enabled": torch.backends.mkldnn.enabled,
               "mkldnn_bf16_supported": torch.ops.mkldnn._is_mkldnn_bf16_supported(),
               "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    snapshot = cpu_snapshot()
    logger.info("bench_peer on %s", machine)
    torch.manual_seed(0)
    encoder_config = BertConfig(**E5_SMALL)
    ours_model = ConvQAModel.from_encoder_config(encoder_config, ModelConfig())
    results: dict = {"machine": machine, "shape": E5_SMALL, "batch_size": args.batch_size,
                     "steps": args.steps, "target": TARGET, "train": []}
    if not args.skip_steps:
        peer_model = BertForQuestionAnswering(BertConfig(**E5_SMALL, attn_implementation="sdpa"))
        for frozen in (False, True) if args.freeze_embeddings else (False,):
            for seq_len in args.seq_lens:
                results["train"].append(bench_steps(ours_model, peer_model, seq_len, args, frozen))
        del peer_model
    if args.precision_compare:
        results["precision"] = bench_precisions(ours_model, args.seq_lens[0], args)
    if args.matmuls:
        results["matmuls"] = bench_matmuls()
    if args.profile:
        results["profile"] = profile(ours_model, args.seq_lens[0], args)
    machine["load_average_after"] = load_average()
    machine["other_processes_cpu_share"] = other_cpu_share(snapshot)
    results["seconds"] = time.perf_counter() - began
    print(f"\n{'tokens':>6} {'frozen emb':>10} {'ours seq/s':>10} {'peer seq/s':>10} "
          f"{'ours tok/s':>10} {'peer tok/s':>10} {'ours/peer':>9} {'CPU-time':>9}  <= {TARGET}")
    for row in results["train"]:
        print(f"{row['seq_len']:>6} {str(row['frozen_word_embeddings']):>10} "
              f"{row['ours_seq_per_s']:>10.3f} {row['peer_seq_per_s']:>10.3f} "
              f"{row['ours_tokens_per_s']:>10.1f} {row['peer_tokens_per_s']:>10.1f} "
              f"{row['ratio']:>9.3f} {row['cpu_time_ratio']:>9.3f}  "
              f"{'yes' if row['ratio'] <= TARGET else 'NO'}")
    if "precision" in results:
        p = results["precision"]
        print(f"forward / backward at {p['seq_len']} tokens: fp32 {p['fp32']['forward']:.2f} / "
              f"{p['fp32']['backward']:.2f} s, bf16 autocast {p['bf16']['forward']:.2f} / "
              f"{p['bf16']['backward']:.2f} s")
    if args.output:
        write_results(Path(args.output), results)
    print(json.dumps({k: v for k, v in results.items() if k != "profile"}, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
