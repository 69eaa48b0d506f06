"""Training-step time of the three history encodings (run_coqa.py --history_encoding) at one
sequence length.

Usage: python scripts/bench_history_encoding.py [--model FOLDER] [--seq-len 256]
                                                [--batch-size 8] [--steps 12] [--threads 1]
For each of concat, hae and markers it builds the features of DRCD dev (converted to
dialogues, the first --dialogues paragraphs, --history-len previous turns) with that
encoding, keeps the windows that fill all --seq-len tokens, makes the tokenizer and model
ready as run_coqa.py does (marker tokens; the history answer embedding), and times the
training loop's own optimizer step (`coqa.train.step.OptimizerStep`: batch from the
features, forward, backward, clipping, AdamW, schedule) on batches of those windows. So the
three run the same encoder over the same number of tokens and differ only by what the
encoding adds: markers in the passage (features only), an embedding lookup and a sum (hae).

The encodings take turns step by step (concat, hae, markers, then the next round in a
rotated order), so that other work on a shared machine slows all three alike, and each
figure is the median step, in wall-clock and in the process's CPU seconds. The ratio is an
encoding's median step over concat's: the issue's bar is 1.05. One thread by default: the
comparison is of work done, not of how a thread pool copes with a busy machine. Model: a
random tiny BERT (--hidden, --layers) whose vocabulary is DRCD's characters, or --model (a
local BERT-family folder, e.g. the converted multilingual-e5-small). The last line printed
is one JSON object with every figure.
"""
from __future__ import annotations

import json
import logging
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from scripts.bench_common import (bench_parser, cpu_name, cpu_snapshot,  # noqa: E402
                                  load_average, other_cpu_share, run_group, synchronize,
                                  write_results)

logger = logging.getLogger("bench_history_encoding")

DRCD_DEV = "data/drcd/DRCD_dev.json"
ENCODINGS = ("concat", "hae", "markers")
QUERY_TOKENS = 64  # max_query_length, run_coqa.py's default
TARGET = 1.05  # the bar: at most 5% more per training step than concat


@dataclass(frozen=True)
class BenchConfig:
    device: str
    precision: str
    seq_len: int
    history_len: int
    batch_size: int
    steps: int
    warmup_steps: int
    dialogues: int
    exact_match: bool
    freeze_embeddings: bool


def build_parser():
    parser, data = bench_parser(__doc__, "data/drcd")
    data.add_argument("--dialogues", type=int, default=300,
                      help="DRCD dev paragraphs used (their questions are the turns)")
    data.add_argument("--seq-len", type=int, default=256,
                      help="max_seq_length: every timed window fills it")
    data.add_argument("--history-len", type=int, default=2, help="previous turns shown")
    model = parser.add_argument_group("model")
    model.add_argument("--model", default=None,
                       help="a local BERT-family folder (default: a random tiny BERT)")
    model.add_argument("--hidden", type=int, default=128, help="tiny BERT width")
    model.add_argument("--layers", type=int, default=4, help="tiny BERT layers")
    model.add_argument("--no-exact-match", dest="exact_match", action="store_false",
                       help="without the exact-match embedding (default: with it, as the "
                            "tiny models are trained)")
    run = run_group(parser, "the training step: ")
    run.set_defaults(precision="fp32")
    run.add_argument("--batch-size", type=int, default=8, help="sequences per training step")
    run.add_argument("--freeze-embeddings", action="store_true",
                     help="word embeddings not trained (run_coqa.py --freeze_embeddings, the "
                          "real-encoder recipe: otherwise AdamW over e5's 96M-row table "
                          "is most of a step)")
    run.add_argument("--steps", type=int, default=12,
                     help="timed steps per encoding, the median is reported")
    run.add_argument("--warmup-steps", type=int, default=2,
                     help="untimed steps per encoding first")
    run.add_argument("--threads", type=int, default=1,
                     help="torch CPU threads (default 1: the comparison is of the work "
                          "done, and on a shared machine a thread pool waits for its "
                          "slowest thread)")
    run.add_argument("--output", default=None, help="also write the JSON figures to this file")
    return parser


def dialogues_file(shared: Path, count: int, folder: Path) -> Path:
    """The first `count` DRCD dev paragraphs as ConvQA_CN dialogues, written to `folder`."""
    from coqa.tools.convert import convert_squad

    converted, _ = convert_squad(shared / DRCD_DEV, "DRCD")
    converted["data"] = converted["data"][:count]
    path = folder / "drcd_dev_dialogues.json"
    path.write_text(json.dumps(converted, ensure_ascii=False), encoding="utf-8")
    return path


def model_folder(args, data: Path, folder: Path) -> str:
    if args.model:
        return args.model
    from coqa.tools.tiny import TinyBertConfig, dialogue_texts, write_tiny_bert

    return str(write_tiny_bert(folder / "bert", dialogue_texts([str(data)]), TinyBertConfig(
        hidden_size=args.hidden, num_hidden_layers=args.layers,
        num_attention_heads=max(1, args.hidden // 64), intermediate_size=4 * args.hidden,
        max_position_embeddings=max(512, args.seq_len), dropout=0.0)))


class EncodingStep:
    """One encoding's features, model and optimizer step, and its full-length batches."""

    def __init__(self, encoding: str, folder: str, dialogues, config: BenchConfig):
        from coqa.data.folders import load_tokenizer
        from coqa.extractive.config import ModelConfig
        from coqa.extractive.features import FeatureConfig, build_features
        from coqa.extractive.loading import load_model, prepare_history_encoding
        from coqa.train.config import TrainConfig
        from coqa.train.distributed import single_process
        from coqa.train.step import OptimizerStep

        self.encoding = encoding
        # Windows start every half window, or closer when a long query leaves less room.
        stride = min(config.seq_len // 2, config.seq_len - QUERY_TOKENS - 3)
        features_config = FeatureConfig(max_seq_length=config.seq_len, doc_stride=stride,
                                        max_query_length=QUERY_TOKENS,
                                        history_len=config.history_len,
                                        outside_window="cls", history_encoding=encoding)
        model_config = ModelConfig(exact_match=config.exact_match, history_answer_turns=(
            config.history_len if encoding == "hae" else 0))
        tokenizer = load_tokenizer(folder)
        torch.manual_seed(0)  # the same heads for every encoding
        model = load_model(folder, model_config)
        prepare_history_encoding(tokenizer, model, features_config, folder)
        self.features = build_features(dialogues, tokenizer, features_config, threads=1,
                                       show_progress=False)
        full = np.flatnonzero(self.features.attention_mask.sum(axis=1) == config.seq_len)
        if not len(full):
            raise SystemExit(f"error: no {encoding} window fills {config.seq_len} tokens; "
                             f"lower --seq-len or raise --dialogues")
        total = config.warmup_steps + config.steps
        rows = np.resize(full, config.batch_size * total)
        self.batches = [rows[i:i + config.batch_size].tolist()
                        for i in range(0, len(rows), config.batch_size)]
        train_config = TrainConfig(output_dir="", per_device_batch_size=config.batch_size,
                                   precision=config.precision,
                                   freeze_word_embeddings=config.freeze_embeddings)
        self.step = OptimizerStep(model, self.features, train_config,
                                  single_process(torch.device(config.device)), total + 1)
        self.done = 0
        self.parameters = sum(p.numel() for p in model.parameters())
        logger.info("%s: %d features, %d of them %d tokens long, %d parameters", encoding,
                    len(self.features), len(full), config.seq_len, self.parameters)

    def __call__(self) -> None:
        self.step([self.batches[self.done]])
        self.done += 1


def time_rounds(steps: Dict[str, EncodingStep], rounds: int,
                device: torch.device) -> Dict[str, Dict[str, List[float]]]:
    """Wall and CPU seconds of each step ({"wall": [...], "cpu": [...]} per encoding), the
    encodings taking turns, the order rotated every round so that none always runs first
    (after another encoding's step) or last. With one thread the process's CPU time
    leaves out the time other jobs held the core: the steadier figure on a busy machine."""
    names = list(steps)
    times = {name: {"wall": [], "cpu": []} for name in names}
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            synchronize(device)
            began, cpu = time.perf_counter(), time.process_time()
            steps[name]()
            synchronize(device)
            times[name]["wall"].append(time.perf_counter() - began)
            times[name]["cpu"].append(time.process_time() - cpu)
    return times


def print_table(results: dict) -> None:
    config, figures = results["config"], results["encodings"]
    print()
    print(f"history encodings, training step at {config['seq_len']} tokens, batch "
          f"{config['batch_size']}, history_len {config['history_len']}, "
          f"{results['machine']['threads']} thread(s), {results['model']}")
    print(f"{'encoding':<10} {'wall s':>8} {'CPU s':>8} {'seq/s':>8} {'ratio wall':>11} "
          f"{'ratio CPU':>10} {'target':>8}  met (wall / CPU)")
    for name, row in figures.items():
        target = "" if name == "concat" else f"<= {TARGET}"
        met = "" if name == "concat" else " / ".join(
            "yes" if row[key] <= TARGET else "NO" for key in ("ratio", "cpu_ratio"))
        print(f"{name:<10} {row['median_step_seconds']:>8.4f} {row['median_cpu_seconds']:>8.4f} "
              f"{row['seq_per_s']:>8.1f} {row['ratio']:>11.3f} {row['cpu_ratio']:>10.3f} "
              f"{target:>8}  {met}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s",
                        datefmt="%H:%M:%S", level=logging.INFO)
    for name in ("coqa.extractive.features", "coqa.train", "coqa.extractive.loading"):
        logging.getLogger(name).setLevel(logging.WARNING)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda but torch sees no CUDA device", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    import transformers

    transformers.logging.set_verbosity_error()  # the heads' "newly initialized" notes
    config = BenchConfig(device=args.device, precision=args.precision, seq_len=args.seq_len,
                         history_len=args.history_len, batch_size=args.batch_size,
                         steps=args.steps, warmup_steps=args.warmup_steps,
                         dialogues=args.dialogues, exact_match=args.exact_match,
                         freeze_embeddings=args.freeze_embeddings)
    from coqa.data.readers import load_dialogues

    began = time.perf_counter()
    device = torch.device(config.device)
    machine = {"device": torch.cuda.get_device_name() if device.type == "cuda" else cpu_name(),
               "torch": torch.__version__, "threads": torch.get_num_threads(),
               "load_average_before": load_average()}
    with tempfile.TemporaryDirectory() as tmp:
        data = dialogues_file(Path(args.shared), config.dialogues, Path(tmp))
        folder = model_folder(args, data, Path(tmp))
        dialogues = load_dialogues(data).dialogues
        steps = {name: EncodingStep(name, folder, dialogues, config) for name in ENCODINGS}
    snapshot = cpu_snapshot()
    time_rounds(steps, config.warmup_steps, device)
    times = time_rounds(steps, config.steps, device)
    concat = {kind: statistics.median(times["concat"][kind]) for kind in ("wall", "cpu")}
    encodings = {}
    for name, seconds in times.items():
        wall, cpu = statistics.median(seconds["wall"]), statistics.median(seconds["cpu"])
        encodings[name] = {"median_step_seconds": wall, "median_cpu_seconds": cpu,
                           "step_seconds": seconds["wall"], "cpu_seconds": seconds["cpu"],
                           "seq_per_s": config.batch_size / wall,
                           "ratio": wall / concat["wall"], "cpu_ratio": cpu / concat["cpu"],
                           "features": len(steps[name].features),
                           "parameters": steps[name].parameters}
    machine["load_average_after"] = load_average()
    machine["other_processes_cpu_share"] = other_cpu_share(snapshot)
    results = {"config": asdict(config), "machine": machine,
               "model": args.model or f"random tiny BERT (hidden {args.hidden}, "
                                      f"{args.layers} layers)",
               "encodings": encodings, "target": TARGET,
               "met": {name: max(encodings[name]["ratio"], encodings[name]["cpu_ratio"]) <= TARGET
                       for name in ("hae", "markers")},
               "seconds": time.perf_counter() - began}
    print_table(results)
    share = machine["other_processes_cpu_share"]
    print(f"benchmark took {results['seconds']:.0f} s; other processes used "
          f"{'n/a' if share is None else f'{100 * share:.0f}%'} of the CPU meanwhile")
    if args.output:
        write_results(Path(args.output), results)
    print(json.dumps(results, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
