"""python -m evaluate.compare GOLD RUN_DIR_OR_PRED_FILE... [--out DIR]

Scores every run on one gold file and prints (and with --out writes as compare.md and
compare.csv) EM/F1 by domain, by gold answer kind and by turn position, with each run's
difference to the first run and its paired bootstrap interval over dialogues (see
evaluate.bootstrap for the rule). With --out it also draws domains.png (bar charts) and,
for runs with TensorBoard events under runs/, learning_curves.png (loss, learning rate and
dev F1 against step).

A run is a prediction file or an output folder holding one (predictions_.json, else its
only predictions_*.json that is not a checkpoint's); `NAME=PATH` names it. numpy,
matplotlib and tensorboard are imported only when needed.
"""
from __future__ import annotations

import argparse
import csv
import io
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, TextIO, Tuple

from evaluate.bootstrap import BootstrapConfig
from evaluate.errors import EvalInputError
from evaluate.gold import COQA, GoldData, read_gold
from evaluate.predictions import read_predictions
from evaluate.scoring import (COQA_DOMAIN_NAMES, EvalConfig, ScoredTurn, domain_lists,
                              position_bucket, resolve_comparison, score_with_turns)

TABLES = ("domain", "answer kind", "turn position")
CSV_FIELDS = ("table", "row", "run", "turns", "em", "f1", "d_em", "d_em_low", "d_em_high",
              "d_f1", "d_f1_low", "d_f1_high")
Row = Dict[str, object]


@dataclass(frozen=True)
class CompareConfig:
    """How to score the runs (breakdown is always on) and how to bootstrap them."""

    eval: EvalConfig = field(default_factory=EvalConfig)
    bootstrap: BootstrapConfig = field(default_factory=BootstrapConfig)
    progress: bool = True  # a progress bar on stderr (only on a terminal)


@dataclass(frozen=True)
class Run:
    label: str
    pred_file: Path
    runs_dir: Optional[Path]  # TensorBoard events, when the run has them


@dataclass(frozen=True)
class ScoredRun:
    run: Run
    results: Dict[str, object]
    scored: List[ScoredTurn]


def _prediction_file(folder: Path) -> Path:
    """The final predictions of an output folder (see the module docstring)."""
    if (folder / "predictions_.json").is_file():
        return folder / "predictions_.json"
    final = [p for p in sorted(folder.glob("predictions_*.json"))
             if not p.name.startswith("predictions_checkpoint-")]
    if len(final) == 1:
        return final[0]
    found = ", ".join(p.name for p in final) or "no predictions_*.json"
    raise EvalInputError(f"{folder}: cannot tell which prediction file to score ({found}); "
                         "pass the file itself")


def resolve_run(spec: str) -> Run:
    """A Run from `PATH` or `NAME=PATH` (a prediction file or an output folder)."""
    name, _, rest = spec.partition("=")
    label, path = (name, Path(rest)) if rest and not Path(spec).exists() else ("", Path(spec))
    if path.is_dir():
        pred_file, folder = _prediction_file(path), path
    elif path.exists():
        pred_file, folder = path, path.parent
    else:
        raise EvalInputError(f"{path}: no such file or folder")
    if not label:
        stem = pred_file.stem
        label = (folder.resolve().name if stem in ("predictions_", "predictions") or path.is_dir()
                 else stem)
    runs_dir = folder / "runs"
    return Run(label, pred_file, runs_dir if runs_dir.is_dir() else None)


def resolve_runs(specs: Sequence[str]) -> List[Run]:
    """Runs in the order given; repeated labels get #2, #3."""
    runs, seen = [], {}
    for spec in specs:
        run = resolve_run(spec)
        seen[run.label] = seen.get(run.label, 0) + 1
        if seen[run.label] > 1:
            run = replace(run, label=f"{run.label}#{seen[run.label]}")
        runs.append(run)
    return runs


class _Prefixed(io.TextIOBase):
    """Writes each warning line to `out` with the run's label in front."""

    def __init__(self, label: str, out: TextIO) -> None:
        self.label, self.out = label, out

    def write(self, text: str) -> int:
        for line in text.splitlines():
            self.out.write(f"{self.label}: {line}\n")
        return len(text)


def score_runs(gold: GoldData, runs: Sequence[Run], config: EvalConfig,
               warn: TextIO) -> List[ScoredRun]:
    """Each run scored with the breakdown; the gold file's warnings are written once and
    missing predictions are counted in one line per run."""
    config = replace(config, breakdown=True)
    scored_runs = []
    for index, run in enumerate(runs):
        this_gold = gold if index == 0 else replace(gold, warnings=())
        results, scored = score_with_turns(this_gold, read_predictions(run.pred_file), config,
                                           _Prefixed(run.label, warn), list_missing=False)
        scored_runs.append(ScoredRun(run, results, scored))
    return scored_runs


def turn_groups(gold: GoldData, results: Dict[str, object],
                config: EvalConfig) -> Dict[str, List[Tuple[str, List[int]]]]:
    """{table: [(row, indices of its turns in gold.turns)]}, rows as the results list them."""
    in_list, _ = domain_lists(gold.file_format, config)
    names = COQA_DOMAIN_NAMES if gold.file_format == COQA else {}
    turns = list(enumerate(gold.turns))
    member: Dict[str, Callable] = {
        "in_domain": lambda t: t.source in in_list,
        "out_domain": lambda t: t.source not in in_list,
        "overall": lambda t: True,
    }
    breakdown = results["breakdown"]
    domain_rows = [r for r in results if r != "breakdown"]
    tables = {
        "domain": [(row, [i for i, t in turns if member[row](t)] if row in member else
                    [i for i, t in turns if names.get(t.source, t.source) == row])
                   for row in domain_rows],
        "answer kind": [(row, [i for i, t in turns if t.kind == row])
                        for row in breakdown["answer_kind"]],  # type: ignore[index]
        "turn position": [(row, [i for i, t in turns if position_bucket(t.turn_id) == row])
                          for row in breakdown["turn_position"]],  # type: ignore[index]
    }
    return tables


def _row_scores(results: Dict[str, object], table: str, row: str) -> Dict[str, object]:
    if table == "domain":
        return results[row]  # type: ignore[return-value]
    key = "answer_kind" if table == "answer kind" else "turn_position"
    return results["breakdown"][key][row]  # type: ignore[index]


def _progress(total: int, enabled: bool):
    """A tqdm bar on stderr (shown on a terminal only), or None without tqdm."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc="bootstrap", unit="resample", file=sys.stderr,
                disable=None if enabled else True, leave=False)


def compare(gold: GoldData, scored_runs: Sequence[ScoredRun], config: CompareConfig) -> List[Row]:
    """Table rows (keys CSV_FIELDS; differences and intervals in points, None for the
    first run): every table row for every run."""
    import numpy as np

    from evaluate.bootstrap import paired_intervals

    groups = turn_groups(gold, scored_runs[0].results, config.eval)
    scores = np.array([[(item.em, item.f1) for item in run.scored] for run in scored_runs])
    dialogue_ids = {d: i for i, d in enumerate(dict.fromkeys(t.dialogue_id for t in gold.turns))}
    dialogue_of_turn = np.array([dialogue_ids[t.dialogue_id] for t in gold.turns])
    named = [(f"{table}\t{row}", index) for table in TABLES for row, index in groups[table]]
    intervals: Dict[str, Tuple] = {}
    if len(scored_runs) > 1:
        busy = sum(1 for _, index in named if index) * config.bootstrap.resamples
        bar = _progress(busy, config.progress)
        intervals = paired_intervals(scores, dialogue_of_turn, named, config.bootstrap,
                                     bar.update if bar is not None else None)
        if bar is not None:
            bar.close()
    rows: List[Row] = []
    for name, index in named:
        table, row = name.split("\t")
        means = scores[:, index, :].mean(axis=1) * 100 if index else np.zeros((len(scores), 2))
        for r, run in enumerate(scored_runs):
            values = _row_scores(run.results, table, row)
            entry: Row = {"table": table, "row": row, "run": run.run.label,
                          "turns": values["turns"], "em": values["em"], "f1": values["f1"]}
            for m, metric in enumerate(("em", "f1")):
                has = r > 0 and name in intervals
                low, high = (intervals[name][0][r, m] * 100, intervals[name][1][r, m] * 100) \
                    if has else (None, None)
                entry[f"d_{metric}"] = float(means[r, m] - means[0, m]) if has else None
                entry[f"d_{metric}_low"] = None if low is None else float(low)
                entry[f"d_{metric}_high"] = None if high is None else float(high)
            rows.append(entry)
    return rows


def _difference(row: Row, metric: str) -> str:
    """"+1.2 [-0.3, +2.5]", with * when the interval excludes 0; "" for the first run."""
    value, low, high = row[f"d_{metric}"], row[f"d_{metric}_low"], row[f"d_{metric}_high"]
    if value is None:
        return ""
    mark = "*" if low > 0 or high < 0 else ""  # type: ignore[operator]
    return f"{value:+.1f} [{low:+.1f}, {high:+.1f}]{mark}"


def to_markdown(gold: GoldData, scored_runs: Sequence[ScoredRun], rows: Sequence[Row],
                config: CompareConfig) -> str:
    """The report: what was compared, then one table per TABLES entry."""
    comparison, why = resolve_comparison(gold, config.eval)
    boot = config.bootstrap
    dialogues = len({t.dialogue_id for t in gold.turns})
    lines = ["# Run comparison", "",
             f"Gold: `{gold.path}` ({gold.file_format}, {dialogues} dialogues, "
             f"{len(gold.turns)} turns); text comparison: {comparison} ({why}).", ""]
    if len(scored_runs) > 1:
        lines += [f"Δ: difference to **{scored_runs[0].run.label}** in points, with its "
                  f"{boot.confidence:.0%} paired bootstrap interval over dialogues "
                  f"({boot.resamples:,} resamples, seed {boot.seed}); * marks an interval "
                  "that excludes 0.", ""]
    lines += ["| run | predictions | missing |", "|---|---|---:|"]
    for run in scored_runs:
        missing = sum(1 for item in run.scored if item.prediction is None)
        lines.append(f"| {run.run.label} | `{run.run.pred_file}` | {missing} |")
    for table in TABLES:
        lines += ["", f"## By {table}", "",
                  f"| {table} | run | turns | EM | F1 | ΔEM | ΔF1 |",
                  "|---|---|---:|---:|---:|---|---|"]
        for row in (r for r in rows if r["table"] == table):
            lines.append(f"| {row['row']} | {row['run']} | {row['turns']} | {row['em']:.1f} | "
                         f"{row['f1']:.1f} | {_difference(row, 'em')} | "
                         f"{_difference(row, 'f1')} |")
    return "\n".join(lines) + "\n"


def write_csv(path: Path, rows: Sequence[Row]) -> None:
    """Every table row, one line per (table, row, run); differences rounded to 0.01."""
    with open(path, "w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (round(v, 2) if isinstance(v, float) and k.startswith("d_")
                                 else "" if v is None else v) for k, v in row.items()})


def learning_curves(runs: Sequence[Run], warn: TextIO) -> Dict[str, Dict[str, list]]:
    """{run label: {curve name: points}}, every run in order ({} without curves), so
    that a run has the same colour here as in the bar charts."""
    from evaluate.events import pick_curves, read_scalars

    curves: Dict[str, Dict[str, list]] = {}
    for run in runs:
        curves[run.label] = {}
        if run.runs_dir is None:
            warn.write(f"{run.label}: no runs/ folder beside {run.pred_file.name}; "
                       "no learning curve\n")
            continue
        try:
            picked = pick_curves(read_scalars(run.runs_dir))
        except OSError as err:
            warn.write(f"{run.label}: {run.runs_dir}: cannot read events ({err.strerror}); "
                       "no learning curve\n")
            continue
        curves[run.label] = picked
        if not picked:
            warn.write(f"{run.label}: {run.runs_dir}: no loss, learning rate or dev F1 "
                       "events; no learning curve\n")
    return curves


def write_outputs(out_dir: Path, markdown: str, rows: Sequence[Row], runs: Sequence[Run],
                  warn: TextIO) -> List[Path]:
    """compare.md, compare.csv, domains.png and (when there are events)
    learning_curves.png in out_dir; returns the paths written."""
    from evaluate.plots import plot_curves, plot_domains

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        written = [out_dir / "compare.md", out_dir / "compare.csv", out_dir / "domains.png"]
        written[0].write_text(markdown, encoding="utf-8")
        write_csv(written[1], rows)
        plot_domains(written[2], [r for r in rows if r["table"] == "domain"])
        curves = learning_curves(runs, warn)
        if any(curves.values()):
            written.append(out_dir / "learning_curves.png")
            plot_curves(written[-1], curves)
    except OSError as err:
        raise EvalInputError(f"{err.filename or out_dir}: cannot write ({err.strerror})") \
            from None
    return written


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _confidence(text: str) -> float:
    value = float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m evaluate.compare",
        description="Compare runs on one gold file: EM/F1 by domain, answer kind and turn "
                    "position, differences to the first run with paired bootstrap "
                    "intervals over dialogues; with --out also markdown, CSV and PNG charts.")
    parser.add_argument("gold", help="gold file: ConvQA_CN v3.0 or official CoQA v1.0 JSON")
    parser.add_argument("runs", nargs="+", metavar="RUN",
                        help="a prediction file or a run's output folder, optionally NAME=PATH; "
                             "the first is the baseline")
    parser.add_argument("--out", metavar="DIR",
                        help="write compare.md, compare.csv, domains.png and "
                             "learning_curves.png here")
    boot = parser.add_argument_group("bootstrap")
    boot.add_argument("--resamples", type=_positive, default=1000,
                      help="bootstrap resamples (default 1000)")
    boot.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    boot.add_argument("--confidence", type=_confidence, default=0.95,
                      help="interval width (default 0.95)")
    boot.add_argument("--no-progress", action="store_true", help="no progress bar")
    scoring = parser.add_argument_group("scoring (as python -m evaluate)")
    scoring.add_argument("--text-comparison", choices=("auto", "coqa", "convqa_cn"),
                         default="auto", help="see python -m evaluate --help")
    scoring.add_argument("--drop-cjk-punct", action="store_true",
                         help="also ignore non-ASCII punctuation in EM and F1")
    scoring.add_argument("--official-gold-checks", action="store_true",
                         help="accept duplicate dialogue ids and zero-based turn ids as the "
                              "official CoQA script does; see python -m evaluate --help")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    config = CompareConfig(
        eval=EvalConfig(breakdown=True, drop_cjk_punct=args.drop_cjk_punct,
                        text_comparison=args.text_comparison),
        bootstrap=BootstrapConfig(resamples=args.resamples, seed=args.seed,
                                  confidence=args.confidence),
        progress=not args.no_progress)
    try:
        if args.out and Path(args.out).exists() and not Path(args.out).is_dir():
            raise EvalInputError(f"{args.out}: is not a folder")
        runs = resolve_runs(args.runs)
        gold = read_gold(args.gold, official_gold_checks=args.official_gold_checks)
        scored_runs = score_runs(gold, runs, config.eval, sys.stderr)
        rows = compare(gold, scored_runs, config)
        markdown = to_markdown(gold, scored_runs, rows, config)
        print(markdown, end="")
        if args.out:
            for path in write_outputs(Path(args.out), markdown, rows, runs, sys.stderr):
                print(f"wrote {path}", file=sys.stderr)
    except EvalInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except ImportError as err:
        print(f"error: python -m evaluate.compare needs {err.name or err} "
              "(pip install -r requirements.txt)", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
