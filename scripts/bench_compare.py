"""Time `python -m evaluate.compare` on synthetic Chinese runs (one core; not a test).

    python scripts/bench_compare.py [--turns 5000] [--runs 4] [--resamples 1000] [--plots]

Writes, in a temporary folder, a ConvQA_CN gold file (10 turns a dialogue, the four
official domains) and `--runs` prediction files that overlap the golds partly (the same
generator as bench_evaluate.py, one seed per run), then times `evaluate.compare.main`
in-process: reading, scoring every run with the breakdown, the paired bootstrap and the
markdown; `--plots` adds --out (CSV, PNG charts). Reports the best of `--repeats` runs.
Set OMP_NUM_THREADS=1 (the script does) so numpy uses one core.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy is imported

import argparse  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import List  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from scripts.bench_evaluate import TURNS_PER_DIALOGUE, random_answer, random_prediction  # noqa: E402
from evaluate.compare import main as compare_main  # noqa: E402

DOMAINS = ("儿童故事", "热点新闻", "历史", "育儿知识")


def write_files(folder: Path, turns: int, runs: int) -> List[Path]:
    """[gold.json, run0.json, run1.json, ...] with `turns` turns (whole dialogues)."""
    rng = random.Random(0)
    data = []
    for index in range(-(-turns // TURNS_PER_DIALOGUE)):
        answers = [random_answer(rng) for _ in range(TURNS_PER_DIALOGUE)]
        data.append({"Source": DOMAINS[index % len(DOMAINS)], "Passage": "".join(answers),
                     "id": index,
                     "Questions": [{"input_text": "问题？", "turn_id": t, "question_type": "factoid"}
                                   for t in range(1, len(answers) + 1)],
                     "Answers": [{"input_text": a, "turn_id": t, "answer_type": "extractive"}
                                 for t, a in enumerate(answers, 1)]})
    gold = folder / "gold.json"
    gold.write_text(json.dumps({"data": data}, ensure_ascii=False), encoding="utf-8")
    paths = [gold]
    for run in range(runs):
        run_rng = random.Random(run + 1)
        preds = [{"id": str(d["id"]), "turn_id": a["turn_id"],
                  "answer": random_prediction(run_rng, a["input_text"])}
                 for d in data for a in d["Answers"]]
        paths.append(folder / f"run{run}.json")
        paths[-1].write_text(json.dumps(preds, ensure_ascii=False), encoding="utf-8")
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=5000, help="gold turns")
    parser.add_argument("--runs", type=int, default=4, help="runs to compare")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs; the best counts")
    parser.add_argument("--plots", action="store_true", help="also write --out (CSV, PNGs)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        gold, *runs = write_files(Path(tmp), args.turns, args.runs)
        argv = [str(gold), *map(str, runs), "--resamples", str(args.resamples), "--no-progress"]
        if args.plots:
            argv += ["--out", str(Path(tmp) / "out")]
        best = float("inf")
        for _ in range(args.repeats):
            report = io.StringIO()
            began = time.perf_counter()
            with contextlib.redirect_stdout(report), contextlib.redirect_stderr(io.StringIO()):
                status = compare_main(argv)
            best = min(best, time.perf_counter() - began)
            assert status == 0, "compare failed"
    overall = [line for line in report.getvalue().splitlines() if line.startswith("| overall")]
    print(f"evaluate.compare: {args.runs} runs x {args.turns} turns, {args.resamples} resamples"
          f"{' + CSV/PNG' if args.plots else ''}: {best:.2f} s (best of {args.repeats} "
          "in one process)")
    print("\n".join(overall))


if __name__ == "__main__":
    main()
