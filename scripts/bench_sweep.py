"""What `python -m coqa.tools.sweep` adds to each run (one thread; not a test).

    python scripts/bench_sweep.py [--runs 20] [--repeats 3]

Times `--runs` runs of a trivial Python script (it parses --seed and --output_dir and
exits) started one after another directly, then the same runs through one sweep (its own
start-up, sweep.json rewritten at each start and end, the logs, the seed folders). Prints
both totals and the difference per run: the sweep's overhead, to be under 1 s a run.
Reports the best of `--repeats`.
"""
from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TRIVIAL = ("import argparse\n"
           "parser = argparse.ArgumentParser()\n"
           "parser.add_argument('--seed', type=int)\n"
           "parser.add_argument('--output_dir')\n"
           "parser.parse_args()\n")


def direct(script: Path, folder: Path, runs: int) -> float:
    start = time.perf_counter()
    for seed in range(1, runs + 1):
        out = folder / f"seed-{seed}"
        out.mkdir(parents=True)
        with open(folder / f"seed-{seed}.log", "wb") as log:
            subprocess.run([sys.executable, str(script), "--seed", str(seed), "--output_dir",
                            str(out)], stdout=log, stderr=subprocess.STDOUT, check=True)
    return time.perf_counter() - start


def swept(script: Path, folder: Path, runs: int) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "coqa.tools.sweep", "--seeds",
                    *map(str, range(1, runs + 1)), "--out", str(folder), "--",
                    str(script), "--seed", "{seed}", "--output_dir", "{out}"],
                   cwd=folder.parent, env={**os.environ, "PYTHONPATH": str(REPO)},
                   stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20, help="runs per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="measurements; the best is kept")
    args = parser.parse_args()
    best_direct = best_swept = float("inf")
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "trivial.py"
        script.write_text(TRIVIAL)
        for repeat in range(args.repeats):
            folder = Path(tmp)
            best_direct = min(best_direct, direct(script, folder / f"direct-{repeat}", args.runs))
            best_swept = min(best_swept, swept(script, folder / f"sweep-{repeat}", args.runs))
    per_run = (best_swept - best_direct) / args.runs
    print(f"{args.runs} runs of a trivial script (best of {args.repeats}, one thread): "
          f"directly {best_direct:.2f} s, through the sweep {best_swept:.2f} s "
          f"(ratio {best_swept / best_direct:.2f}); the sweep adds {per_run * 1000:.0f} ms a run, "
          f"its start-up included (target: under 1 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
