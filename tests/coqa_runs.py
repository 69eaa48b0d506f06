"""Helpers of the run_coqa.py learning tests on tests/long_dialogues.py data: write the
data and a tiny random BERT, train through `run_coqa.main()` with the learning tests'
recipe, score the predictions with the answer-kind breakdown, and score the baselines."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List

import run_coqa
from coqa.tools.baseline import predict as baseline_predict
from coqa.tools.tiny import TinyBertConfig, dialogue_texts, write_tiny_bert
from evaluate import EvalConfig, evaluate_files
from tests.long_dialogues import UNKNOWN_TEXT, LongDialogueConfig, write

SEQ = ["--max_seq_length", "128", "--doc_stride", "64", "--max_query_length", "48"]
# Hidden 64, 2 layers, no dropout (it nearly doubles a step's CPU time, and 2000 dialogues
# seen a few times need no regularising).
TINY = TinyBertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=128, dropout=0.0)


@dataclass
class Run:
    dev_file: Path
    model_dir: Path
    predictions: List[Dict[str, Any]]
    results: Dict[str, Any]   # evaluate_files with the breakdown
    seconds: float

    @property
    def kinds(self) -> Dict[str, Dict[str, float]]:
        return self.results["breakdown"]["answer_kind"]

    def answered_unknown(self) -> int:
        return sum(p["answer"] == UNKNOWN_TEXT for p in self.predictions)

    def gold_unknown(self) -> int:
        gold = json.loads(self.dev_file.read_text(encoding="utf-8"))["data"]
        return sum(a["input_text"] == UNKNOWN_TEXT for d in gold for a in d["Answers"])


def train_and_score(tmp: Path, config: LongDialogueConfig, steps: int = 2400,
                    seed: int = 42, batch: int = 32, learning_rate: float = 1.5e-3) -> Run:
    """2000 training and 60 dev dialogues of `config`, one run of run_coqa.py."""
    train_file, dev_file = tmp / "train.json", tmp / "dev.json"
    write(train_file, 2000, seed=11, config=config)
    write(dev_file, 60, seed=12, config=config)
    model_dir = write_tiny_bert(tmp / "tiny", dialogue_texts([str(train_file), str(dev_file)]),
                                TINY)
    out = tmp / "out"
    argv = ["--model_type", "bert", "--model_name_or_path", str(model_dir),
            "--do_train", "--do_eval", "--train_file", str(train_file),
            "--predict_file", str(dev_file), "--output_dir", str(out),
            "--cache_dir", str(tmp / "cache"), *SEQ,
            "--per_gpu_train_batch_size", str(batch), "--per_gpu_eval_batch_size", "128",
            "--learning_rate", str(learning_rate), "--warmup_steps", "50", "--max_steps", str(steps),
            "--logging_steps", "400", "--save_steps", "0", "--seed", str(seed), "--no_cuda",
            "--exact_match"]
    began = time.perf_counter()
    assert run_coqa.main(argv) == 0
    seconds = time.perf_counter() - began
    predictions = json.loads((out / "predictions_.json").read_text(encoding="utf-8"))
    results = evaluate_files(dev_file, out / "predictions_.json", EvalConfig(breakdown=True))
    print(f"run in {seconds:.0f} s: {results['overall']}, "
          f"kinds {results['breakdown']['answer_kind']}, "
          f"answered 无法作答 {sum(p['answer'] == UNKNOWN_TEXT for p in predictions)}")
    return Run(dev_file, model_dir, predictions, results, seconds)


def baseline_f1(run: Run, method: str, scratch: Path) -> float:
    """Overall F1 of `coqa.tools.baseline` (`unknown` or `overlap`) on the run's dev set."""
    predictions = baseline_predict(str(run.dev_file), method=method)
    path = scratch / f"{method}.json"
    path.write_text(json.dumps(predictions, ensure_ascii=False), encoding="utf-8")
    return evaluate_files(run.dev_file, path)["overall"]["f1"]
