"""Compare the project's extractive model with the minimal reference on one recipe.

    python -m tests.head_comparison [--data long|short|both] [--steps 2400] [--out DIR]

Trains, on the same features, the same tiny random encoder and the same recipe as the
learning tests (hidden 64, 2 layers, no dropout, 128 tokens, stride 64, batch 32, lr 1.5e-3,
warmup 50), each model variant below, then post-processes the same dev logits with each
post-processing variant and prints one markdown row per pair: overall F1 / EM, F1 by gold
answer kind and how many turns were answered 无法作答. The table in docs/MODEL.md was
made with this command. About 1-3 minutes a variant on 2 CPU cores.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, Iterator, List

import torch

from coqa.extractive.inference import InferenceConfig, predict_logits
from coqa.extractive.features import FeatureConfig, build_features
from coqa.data.folders import load_tokenizer
from coqa.extractive.model import ConvQAModel, ModelConfig
from coqa.extractive.postprocess import PostprocessConfig, predict_answers
from coqa.data.readers import load_dialogues
from coqa.tools.synthetic import write_dataset
from coqa.tools.tiny import TinyBertConfig, dialogue_texts, write_tiny_bert
from coqa.train.config import TrainConfig
from coqa.train.loop import train
from evaluate import EvalConfig, evaluate_files
from tests.long_dialogues import LongDialogueConfig, write as write_long
from tests.reference_model import ReferenceModel

FEATURES = FeatureConfig(max_seq_length=128, doc_stride=64, max_query_length=48, history_len=2)
TINY = TinyBertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=128, dropout=0.0)


def _project(**changes) -> Callable[[str], torch.nn.Module]:
    config = dataclasses.replace(ModelConfig(head_dropout=0.0), **changes)
    return lambda folder: ConvQAModel.from_pretrained_encoder(folder, config)


def _reference(folder: str) -> torch.nn.Module:
    from transformers import AutoModel
    return ReferenceModel(AutoModel.from_pretrained(folder, attn_implementation="sdpa"))


MODELS: Dict[str, Callable[[str], torch.nn.Module]] = {
    "project": _project(),
    "project-bert-init": _project(head_init="bert"),
    "reference": _reference,
}
POSTPROCESS: Dict[str, PostprocessConfig] = {
    "unknown min, max-context": PostprocessConfig(max_context_only=True),
    "unknown max, max-context": PostprocessConfig(null_score_reduce="max", max_context_only=True),
    "unknown min, no max-context (default)": PostprocessConfig(),
}


def make_data(kind: str, root: Path, long_config: LongDialogueConfig) -> Path:
    folder = root / kind
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "long":
        write_long(folder / "train.json", 2000, seed=1, config=long_config)
        write_long(folder / "dev.json", 60, seed=2, config=long_config)
    else:
        write_dataset(folder / "train.json", 2000, seed=1)
        write_dataset(folder / "dev.json", 40, seed=2)
    write_tiny_bert(folder / "tiny", dialogue_texts([str(folder / "train.json"),
                                                    str(folder / "dev.json")]), TINY)
    return folder


def score_row(dev_file: Path, predictions: List[dict], scratch: Path) -> Dict[str, object]:
    path = scratch / "predictions.json"
    path.write_text(json.dumps(predictions, ensure_ascii=False), encoding="utf-8")
    results = evaluate_files(dev_file, path, EvalConfig(breakdown=True))
    kinds = results["breakdown"]["answer_kind"]
    return {"f1": results["overall"]["f1"], "em": results["overall"]["em"],
            "kind_f1": {kind: kinds[kind]["f1"] for kind in ("span", "yes", "no", "unknown")
                        if kind in kinds},
            "unknown_answers": sum(p["answer"] == "无法作答" for p in predictions)}


def compare(folder: Path, steps: int, scratch: Path, models: List[str]) -> Iterator[str]:
    tokenizer = load_tokenizer(str(folder / "tiny"))
    train_set = build_features(load_dialogues(folder / "train.json").dialogues, tokenizer,
                               FEATURES, show_progress=False)
    dev = build_features(load_dialogues(folder / "dev.json").dialogues, tokenizer, FEATURES,
                         show_progress=False)
    yield f"{folder.name} data: {len(dev) / len(dev.examples):.2f} windows a dev turn"
    for name in models:
        torch.manual_seed(0)
        model = MODELS[name](str(folder / "tiny"))
        config = TrainConfig(output_dir=str(scratch / "run"), per_device_batch_size=32,
                             learning_rate=1.5e-3, warmup_steps=50, max_steps=steps,
                             logging_steps=0, save_steps=0, weight_decay=0.01)
        began = time.perf_counter()
        train(model, train_set, config, save_model=lambda m, d: None)
        start, end = predict_logits(model, dev, InferenceConfig(128, show_progress=False),
                                    torch.device("cpu"))
        for post_name, post in POSTPROCESS.items():
            row = score_row(folder / "dev.json", predict_answers(start, end, dev, post)[0], scratch)
            kinds = " / ".join(f"{row['kind_f1'].get(k, float('nan')):.1f}"
                               for k in ("span", "yes", "no", "unknown"))
            yield (f"| {name} | {post_name} | {row['f1']:.1f} | {row['em']:.1f} | {kinds} "
                   f"| {row['unknown_answers']} of {len(dev.examples)} |")
        yield f"({name}: trained and scored in {time.perf_counter() - began:.0f} s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=("long", "short", "both"), default="both")
    parser.add_argument("--steps", type=int, default=2400)
    parser.add_argument("--out", default=None, help="keep data and models here")
    parser.add_argument("--fillers", type=int, nargs=2, default=LongDialogueConfig.fillers,
                        help="filler sentences a long passage, min and max")
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    args = parser.parse_args()
    long_config = LongDialogueConfig(fillers=tuple(args.fillers))
    torch.set_num_threads(1)
    root = Path(args.out or tempfile.mkdtemp(prefix="head-comparison-"))
    print("| model | post-processing | F1 | EM | F1 span / yes / no / unknown | answered 无法作答 |")
    print("|---|---|---|---|---|---|")
    for kind in (("long", "short") if args.data == "both" else (args.data,)):
        for line in compare(make_data(kind, root, long_config), args.steps, root, args.models):
            print(line, flush=True)


if __name__ == "__main__":
    main()
