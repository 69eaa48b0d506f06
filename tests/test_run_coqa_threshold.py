"""run_coqa.py --do_eval reports the no-answer threshold that would have been best on the
dev file, and --null_score_diff_threshold with that threshold scores exactly that."""
from __future__ import annotations

import json

import run_coqa
from tests.conftest import REPO

DEV = REPO / "data" / "sample" / "dev.json"


def evaluate(model, output_dir, cache, *extra):
    assert run_coqa.main(["--model_type", "bert", "--model_name_or_path", str(model),
                          "--do_eval", "--predict_file", str(DEV), "--output_dir", str(output_dir),
                          "--per_gpu_eval_batch_size", "64", "--cache_dir", str(cache),
                          "--no_cuda", *extra]) == 0
    return json.loads((output_dir / "eval_results.json").read_text(encoding="utf-8"))


def test_best_threshold_reported_and_reproduced(trained_extractive, tmp_path):
    results = evaluate(trained_extractive, tmp_path / "default", tmp_path / "cache")
    assert set(results) >= {"best_f1", "best_f1_thresh", "best_exact", "best_exact_thresh"}
    assert results["best_f1"] >= results["overall"]["f1"]
    assert results["best_exact"] >= results["overall"]["em"]
    tuned = evaluate(trained_extractive, tmp_path / "tuned", tmp_path / "cache",
                     "--null_score_diff_threshold", repr(results["best_f1_thresh"]))
    assert tuned["overall"]["f1"] == results["best_f1"]
    assert tuned["best_f1"] == results["best_f1"]
    # An inference setting: no file a model is loaded from holds it (args.json records runs).
    for name in ("convqa_config.json", "preprocessing_config.json", "config.json"):
        assert "null_score" not in (trained_extractive / name).read_text(encoding="utf-8")
