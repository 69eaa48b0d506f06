"""run_coqa.py learns where windows multiply, on dialogues of a second generator
(tests/long_dialogues.py, not coqa.tools.synthetic): passages of 4+ windows with the answer in
any of them, and yes/no questions whose value is in the passage either way.

One training run (module fixture) serves both tests.

NOT run by default: these bars are what issue 8 asks for and the toolkit does not meet them
yet (see docs/MODEL.md, "Long passages" and "Yes / no"): at 4+ windows a turn the tiny
encoder learns the spans in some runs (span F1 40-59) and collapses to 无法作答 in others,
and yes / no stay at chance in every run. Run them with

    CONVQA_LONG_LEARNING=1 pytest -s tests/test_run_coqa_long_learning.py   # ~3 minutes
"""
from __future__ import annotations

import json
import os
import time

import pytest

import run_coqa
from coqa.tools.baseline import predict as baseline_predict
from coqa.extractive.features import FeatureConfig, build_features
from coqa.data.folders import load_tokenizer
from coqa.data.readers import load_dialogues
from coqa.tools.tiny import TinyBertConfig, dialogue_texts, write_tiny_bert
from evaluate import EvalConfig, evaluate_files
from tests.long_dialogues import UNKNOWN_TEXT, write

pytestmark = pytest.mark.skipif(
    not os.environ.get("CONVQA_LONG_LEARNING"),
    reason="issue 8 open: long-passage and yes/no learning bars not met yet; "
           "set CONVQA_LONG_LEARNING=1 to run")

SEQ = ["--max_seq_length", "128", "--doc_stride", "64", "--max_query_length", "48"]
# The bars ("a wide margin"), not yet met: measured F1 46-63 against baselines
# ~20-25, span F1 0-59 (docs/MODEL.md).
MIN_MARGIN_OVER_BASELINES = 20.0


def _overall(dev_file, predictions, path):
    path.write_text(json.dumps(predictions, ensure_ascii=False), encoding="utf-8")
    return evaluate_files(dev_file, path)["overall"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("long")
    train_file, dev_file = tmp / "train.json", tmp / "dev.json"
    write(train_file, 2000, seed=11)
    write(dev_file, 60, seed=12)
    model_dir = write_tiny_bert(tmp / "tiny", dialogue_texts([str(train_file), str(dev_file)]),
                                TinyBertConfig(hidden_size=64, num_hidden_layers=2,
                                               num_attention_heads=2, intermediate_size=128,
                                               dropout=0.0))
    out = tmp / "out"
    argv = ["--model_type", "bert", "--model_name_or_path", str(model_dir),
            "--do_train", "--do_eval", "--train_file", str(train_file),
            "--predict_file", str(dev_file), "--output_dir", str(out),
            "--cache_dir", str(tmp / "cache"), *SEQ,
            "--per_gpu_train_batch_size", "32", "--per_gpu_eval_batch_size", "128",
            "--learning_rate", "1.5e-3", "--warmup_steps", "50", "--max_steps", "2400",
            "--logging_steps", "400", "--save_steps", "0", "--seed", "42", "--no_cuda"]
    began = time.perf_counter()
    assert run_coqa.main(argv) == 0
    seconds = time.perf_counter() - began
    predictions = json.loads((out / "predictions_.json").read_text(encoding="utf-8"))
    results = evaluate_files(dev_file, out / "predictions_.json", EvalConfig(breakdown=True))
    print(f"long-passage run in {seconds:.0f} s: {results['overall']}, "
          f"kinds {results['breakdown']['answer_kind']}")
    return {"dev": dev_file, "tmp": tmp, "model": model_dir, "predictions": predictions,
            "results": results}


def test_long_passages_have_four_windows_and_are_learned(trained):
    dev_file, tmp = trained["dev"], trained["tmp"]
    features = build_features(load_dialogues(dev_file).dialogues,
                              load_tokenizer(str(trained["model"])),
                              FeatureConfig(max_seq_length=128, doc_stride=64,
                                            max_query_length=48), show_progress=False)
    assert len(features) / len(features.examples) >= 4.0

    unknown = _overall(dev_file, baseline_predict(str(dev_file), method="unknown"),
                       tmp / "unknown.json")
    overlap = _overall(dev_file, baseline_predict(str(dev_file)), tmp / "overlap.json")
    model = trained["results"]["overall"]
    assert model["turns"] == unknown["turns"] == overlap["turns"] == 360
    assert model["f1"] >= max(unknown["f1"], overlap["f1"]) + MIN_MARGIN_OVER_BASELINES

    gold = json.loads(dev_file.read_text(encoding="utf-8"))["data"]
    gold_unknown = sum(a["input_text"] == UNKNOWN_TEXT for d in gold for a in d["Answers"])
    answered_unknown = sum(p["answer"] == UNKNOWN_TEXT for p in trained["predictions"])
    assert answered_unknown < 2 * gold_unknown
    kinds = trained["results"]["breakdown"]["answer_kind"]
    assert kinds["span"]["f1"] >= 40.0  # spans found in whichever window holds them


def test_yes_and_no_are_told_apart(trained):
    # 是的 against 不是 scores F1 50 (they share 是), so F1 cannot show a coin flip: a model
    # answering at chance gets EM 50 on each; one that always says 不是 gets EM 0 on yes.
    kinds = trained["results"]["breakdown"]["answer_kind"]
    assert kinds["yes"]["turns"] >= 40 and kinds["no"]["turns"] >= 40
    assert kinds["yes"]["em"] >= 65.0 and kinds["no"]["em"] >= 65.0
    assert kinds["yes"]["f1"] > 80.0 and kinds["no"]["f1"] > 80.0
