"""Post-processing speed: `predict_answers` milliseconds per feature.

    python scripts/bench_postprocess.py [--seq-len 512] [--doc-stride 128] [--repeats 3]

Features: DRCD dev (../shared/data/drcd) converted to dialogues and featurised with the
bert-base-chinese vocabulary; logits: seeded random normals (post-processing cost does not
depend on their values, only on the shapes). Each post-processing variant is timed
`--repeats` times on the same logits, the median is reported. Target: under 0.5 ms a
feature with the max-context rule and the min reduction (issue 8). Also the no-answer
threshold search (`coqa.extractive.threshold.best_threshold`, the `best_f1` of --do_eval)
on 200,000 random turns: target under 0.1 ms a feature (issue 18); a turn has at least
one feature, so a turn's time bounds a feature's.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--doc-stride", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from transformers import AutoTokenizer

    from coqa.tools.convert import convert_squad
    from coqa.extractive.features import FeatureConfig, build_features
    from coqa.extractive.postprocess import PostprocessConfig, max_context_mask, predict_answers
    from coqa.data.readers import load_dialogues

    tokenizer = AutoTokenizer.from_pretrained(str(SHARED / "models" / "bert-base-chinese"))
    converted, _ = convert_squad(SHARED / "data" / "drcd" / "DRCD_dev.json", "DRCD")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "drcd.json"
        path.write_text(json.dumps(converted, ensure_ascii=False), encoding="utf-8")
        dialogues = load_dialogues(path).dialogues
    features = build_features(dialogues, tokenizer, FeatureConfig(
        max_seq_length=args.seq_len, doc_stride=args.doc_stride), show_progress=False)
    rng = np.random.default_rng(0)
    width = 3 + args.seq_len
    start = rng.standard_normal((len(features), width), dtype=np.float32)
    end = rng.standard_normal((len(features), width), dtype=np.float32)
    print(f"{len(features)} features for {len(features.examples)} turns "
          f"({len(features) / len(features.examples):.2f} windows a turn), seq len {args.seq_len}")

    def timed(call) -> float:
        times = []
        for _ in range(args.repeats):
            began = time.perf_counter()
            call()
            times.append(time.perf_counter() - began)
        return statistics.median(times)

    mask_s = timed(lambda: max_context_mask(features.example_index, features.token_offsets))
    print(f"| max_context_mask alone | {1000 * mask_s / len(features):.3f} ms a feature |")
    for name, config in (("min, no max-context (default)", PostprocessConfig()),
                         ("min + max-context", PostprocessConfig(max_context_only=True)),
                         ("max, no max-context", PostprocessConfig(null_score_reduce="max"))):
        seconds = timed(lambda: predict_answers(start, end, features, config))
        print(f"| predict_answers, {name} | {1000 * seconds / len(features):.3f} ms a feature |")
    from coqa.extractive.threshold import best_threshold

    turns = 200_000
    diffs, gains = rng.normal(size=turns), rng.random(turns) - 0.5
    seconds = timed(lambda: best_threshold(diffs, gains, 0.0))
    print(f"| best_threshold, {turns:,} turns | {1000 * seconds / turns:.5f} ms a turn "
          "(target < 0.1 ms a feature) |")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))  # run as a file from anywhere: the repo's packages first
    sys.exit(main())
