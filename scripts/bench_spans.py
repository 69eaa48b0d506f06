"""Time the best-F1 span search (coqa.data.spans) against a plain Python double loop.

Usage: python scripts/bench_spans.py [--shared ../shared]
Free-form answers are simulated from the real passages of ../shared (CoQA stories,
DRCD and CMRC paragraphs): each answer is a real span with one character changed and
a final "。", so the search has to score the whole passage.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from coqa.data.spans import best_f1_span  # noqa: E402


def passages(shared: Path):
    for name in ("data/drcd/DRCD_dev.json", "data/cmrc2018/cmrc2018_trial.json"):
        for article in json.loads((shared / name).read_text(encoding="utf-8"))["data"]:
            for paragraph in article["paragraphs"]:
                yield paragraph["context"]
    # Long passages (~2,000 characters): consecutive DRCD paragraphs joined.
    drcd = json.loads((shared / "data/drcd/DRCD_dev.json").read_text(encoding="utf-8"))
    joined = ""
    for article in drcd["data"][:60]:
        for paragraph in article["paragraphs"]:
            joined += paragraph["context"]
            if len(joined) >= 2000:
                yield joined
                joined = ""
    for name in ("data/coqa_en/coqa_dev_sample.json", "data/coqa_en/coqa_train_sample.json"):
        for dialogue in json.loads((shared / name).read_text(encoding="utf-8"))["data"]:
            yield dialogue["story"]


def double_loop(passage: str, answer: str):
    """The plain Python reference: every (start, end) pair, overlap kept incrementally."""
    gold, best = Counter(answer), (0.0, None)
    for i in range(len(passage)):
        span, common = Counter(), 0
        for j in range(i, len(passage)):
            char = passage[j]
            span[char] += 1
            if span[char] <= gold[char]:
                common += 1
            f1 = 2 * common / (j - i + 1 + len(answer))
            if f1 > best[0]:
                best = (f1, (i, j + 1))
    return best[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared"))
    parser.add_argument("--reference-samples", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(0)
    cases = []
    for passage in passages(Path(args.shared)):
        start = rng.randrange(0, max(1, len(passage) - 20))
        answer = list(passage[start:start + rng.randint(5, 20)])
        answer[rng.randrange(len(answer))] = "某"
        cases.append((passage, "".join(answer) + "。"))
    chars = sum(len(p) for p, _ in cases)
    began = time.perf_counter()
    for passage, answer in cases:
        best_f1_span(passage, answer)
    fast = time.perf_counter() - began
    print(f"coqa.data.spans: {len(cases)} answers over passages of {chars / len(cases):.0f} chars "
          f"on average (max {max(len(p) for p, _ in cases)}): {fast:.2f} s, "
          f"{1000 * fast / len(cases):.2f} ms/answer")
    longest = sorted(cases, key=lambda case: -len(case[0]))[:args.reference_samples]
    print(f"longest passage: {len(longest[0][0])} chars")
    began = time.perf_counter()
    for passage, answer in longest:
        double_loop(passage, answer)
    slow = (time.perf_counter() - began) / len(longest)
    began = time.perf_counter()
    for passage, answer in longest:
        best_f1_span(passage, answer)
    quick = (time.perf_counter() - began) / len(longest)
    print(f"longest {len(longest)} passages (>= {len(longest[-1][0])} chars): double loop "
          f"{1000 * slow:.0f} ms/answer, coqa.data.spans {1000 * quick:.2f} ms/answer "
          f"({slow / quick:.0f}x faster)")


if __name__ == "__main__":
    main()
