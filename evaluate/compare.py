"""python -m evaluate.compare GOLD RUN_DIR_OR_PRED_FILE_OR_SWEEP_DIR... [--out DIR]

Scores every run on one gold file and prints (and with --out writes as compare.md and
compare.csv) EM/F1 by domain, by gold answer kind and by turn position, with each run's
difference to the first run and its paired bootstrap interval over dialogues (see
evaluate.bootstrap for the rule). With --out it also draws domains.png (bar charts) and,
for runs with TensorBoard events under runs/, learning_curves.png (loss per training
objective, learning rate and dev F1 against step).

A run is a prediction file or an output folder holding one (predictions_.json, else its
only predictions_*.json that is not a checkpoint's); `NAME=PATH` names it. A sweep folder
(evaluate.sweeps: sweep.json and one output folder per seed) is a group of runs: its rows
give the mean, standard deviation, min and max over seeds, and its difference to the
baseline is the difference of the seed means, with an interval that resamples dialogues
and seeds. Single runs and sweeps mix (a single run is a group of one seed); without a
sweep the report is the single runs' one. numpy, matplotlib and tensorboard are imported
only when needed. The report and the files written with --out: evaluate.compare_report.
"""
from __future__ import annotations

import argparse
import io
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, TextIO, Tuple

from evaluate.bootstrap import BootstrapConfig
from evaluate.compare_report import TABLES, Row, chart_caption, to_markdown, write_outputs
from evaluate.errors import EvalInputError
from evaluate.gold import COQA, GoldData, read_gold
from evaluate.predictions import find_prediction_file, read_predictions
from evaluate.scoring import (COQA_DOMAIN_NAMES, EvalConfig, ScoredTurn, domain_lists,
                              position_bucket, score_with_turns)
from evaluate.sweeps import is_sweep, read_sweep


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
class Group:
    """One column of the comparison: a single run, or a sweep's usable runs (one per seed)."""

    label: str
    runs: Tuple[Run, ...]
    seeds: Tuple[str, ...] = ()      # a sweep's usable seeds; () for a single run
    folder: Optional[Path] = None    # the sweep folder

    @property
    def is_sweep(self) -> bool:
        return bool(self.seeds)


@dataclass(frozen=True)
class ScoredRun:
    run: Run
    results: Dict[str, object]
    scored: List[ScoredTurn]


@dataclass(frozen=True)
class ScoredGroup:
    group: Group
    runs: Tuple[ScoredRun, ...]  # one per seed


def _split_spec(spec: str) -> Tuple[str, Path]:
    name, _, rest = spec.partition("=")
    return (name, Path(rest)) if rest and not Path(spec).exists() else ("", Path(spec))


def _with_runs_dir(label: str, pred_file: Path) -> Run:
    runs_dir = pred_file.parent / "runs"
    return Run(label, pred_file, runs_dir if runs_dir.is_dir() else None)


def resolve_run(spec: str) -> Run:
    """A Run from `PATH` or `NAME=PATH` (a prediction file or an output folder)."""
    label, path = _split_spec(spec)
    if path.is_dir():
        pred_file, folder = find_prediction_file(path), path
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


def resolve_group(spec: str, warn: TextIO) -> Group:
    """A Group from `PATH` or `NAME=PATH`: a sweep folder's usable seeds (one warning line
    per seed left out), else the single run."""
    label, path = _split_spec(spec)
    if not (path.is_dir() and is_sweep(path)):
        run = resolve_run(spec)
        return Group(run.label, (run,))
    sweep = read_sweep(path)
    label = label or path.resolve().name
    if sweep.note:
        warn.write(f"{label}: {sweep.note}\n")
    for seed, why in sweep.left_out:
        warn.write(f"{label}: seed {seed} left out: {why}\n")
    runs = tuple(_with_runs_dir(f"{label}/seed-{seed}", pred) for seed, pred in sweep.usable)
    return Group(label, runs, tuple(seed for seed, _ in sweep.usable), path)


def resolve_runs(specs: Sequence[str], warn: Optional[TextIO] = None) -> List[Group]:
    """Groups in the order given; repeated labels get #2, #3."""
    groups, seen = [], {}
    for spec in specs:
        group = resolve_group(spec, warn if warn is not None else sys.stderr)
        seen[group.label] = seen.get(group.label, 0) + 1
        if seen[group.label] > 1:
            label = f"{group.label}#{seen[group.label]}"
            runs = tuple(replace(run, label=label + run.label[len(group.label):])
                         for run in group.runs)
            group = replace(group, label=label, runs=runs)
        groups.append(group)
    return groups


class _Prefixed(io.TextIOBase):
    """Writes each warning line to `out` with the run's label in front."""

    def __init__(self, label: str, out: TextIO) -> None:
        self.label, self.out = label, out

    def write(self, text: str) -> int:
        for line in text.splitlines():
            self.out.write(f"{self.label}: {line}\n")
        return len(text)


def score_runs(gold: GoldData, groups: Sequence[Group], config: EvalConfig,
               warn: TextIO) -> List[ScoredGroup]:
    """Each run of each group scored with the breakdown; the gold file's warnings are
    written once and missing predictions are counted in one line per run."""
    config = replace(config, breakdown=True)
    scored_groups, first = [], True
    for group in groups:
        scored_runs = []
        for run in group.runs:
            this_gold = gold if first else replace(gold, warnings=())
            first = False
            results, scored = score_with_turns(this_gold, read_predictions(run.pred_file),
                                               config, _Prefixed(run.label, warn),
                                               list_missing=False)
            scored_runs.append(ScoredRun(run, results, scored))
        scored_groups.append(ScoredGroup(group, tuple(scored_runs)))
    return scored_groups


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


def _named_rows(gold: GoldData, groups: Sequence[ScoredGroup],
                config: EvalConfig) -> List[Tuple[str, List[int]]]:
    """("table\trow", turn indices) for every row of every table, in report order."""
    tables = turn_groups(gold, groups[0].runs[0].results, config)
    return [(f"{table}\t{row}", index) for table in TABLES for row, index in tables[table]]


def _intervals(intervals_of: Callable, scores, gold: GoldData, named, config: CompareConfig):
    """{row name: (low, high)} from `intervals_of` (a bootstrap.*_intervals), with the bar."""
    dialogue_ids = {d: i for i, d in enumerate(dict.fromkeys(t.dialogue_id for t in gold.turns))}
    dialogue_of_turn = [dialogue_ids[t.dialogue_id] for t in gold.turns]
    busy = sum(1 for _, index in named if index) * config.bootstrap.resamples
    bar = _progress(busy, config.progress)
    import numpy as np
    intervals = intervals_of(scores, np.array(dialogue_of_turn), named, config.bootstrap,
                             bar.update if bar is not None else None)
    if bar is not None:
        bar.close()
    return intervals


def _set_differences(entry: Row, means, base, interval, index: int) -> None:
    """d_em, d_f1 and their interval ends (points) of group `index`; None without one."""
    for m, metric in enumerate(("em", "f1")):
        has = index > 0 and interval is not None
        entry[f"d_{metric}"] = float(means[m] - base[m]) if has else None
        entry[f"d_{metric}_low"] = float(interval[0][index, m] * 100) if has else None
        entry[f"d_{metric}_high"] = float(interval[1][index, m] * 100) if has else None


def compare(gold: GoldData, groups: Sequence[ScoredGroup], config: CompareConfig) -> List[Row]:
    """Table rows (keys compare_report.CSV_FIELDS, plus GROUP_CSV_FIELDS when a sweep takes
    part; differences and intervals in points, None for the first group): every table row
    for every group."""
    if any(g.group.is_sweep for g in groups):
        return _compare_groups(gold, groups, config)
    import numpy as np

    from evaluate.bootstrap import paired_intervals

    scored_runs = [g.runs[0] for g in groups]
    named = _named_rows(gold, groups, config.eval)
    scores = np.array([[(item.em, item.f1) for item in run.scored] for run in scored_runs])
    intervals: Dict[str, Tuple] = {}
    if len(scored_runs) > 1:
        intervals = _intervals(paired_intervals, scores, gold, named, config)
    rows: List[Row] = []
    for name, index in named:
        table, row = name.split("\t")
        means = scores[:, index, :].mean(axis=1) * 100 if index else np.zeros((len(scores), 2))
        for r, run in enumerate(scored_runs):
            values = _row_scores(run.results, table, row)
            entry: Row = {"table": table, "row": row, "run": run.run.label,
                          "turns": values["turns"], "em": values["em"], "f1": values["f1"]}
            _set_differences(entry, means[r], means[0], intervals.get(name), r)
            rows.append(entry)
    return rows


def _compare_groups(gold: GoldData, groups: Sequence[ScoredGroup],
                    config: CompareConfig) -> List[Row]:
    """compare() with a sweep: em and f1 are means over seeds (of the unrounded per-turn
    scores), with std (sample, n - 1; None for one seed), min, max and the seed count."""
    import numpy as np

    from evaluate.bootstrap import seed_intervals

    named = _named_rows(gold, groups, config.eval)
    scores = [np.array([[(item.em, item.f1) for item in run.scored] for run in g.runs])
              for g in groups]                       # per group: (seeds, turns, metrics)
    intervals: Dict[str, Tuple] = {}
    if len(groups) > 1:
        intervals = _intervals(seed_intervals, scores, gold, named, config)
    rows: List[Row] = []
    for name, index in named:
        table, row = name.split("\t")
        per_seed = [s[:, index, :].mean(axis=1) * 100 if index else np.zeros((len(s), 2))
                    for s in scores]                 # per group: (seeds, metrics)
        base = per_seed[0].mean(axis=0)
        for g, group in enumerate(groups):
            seeds = per_seed[g]
            entry: Row = {"table": table, "row": row, "run": group.group.label,
                          "turns": len(index), "seeds": len(seeds)}
            for m, metric in enumerate(("em", "f1")):
                entry[metric] = float(seeds[:, m].mean())
                entry[f"{metric}_std"] = float(seeds[:, m].std(ddof=1)) if len(seeds) > 1 \
                    else None
                entry[f"{metric}_min"] = float(seeds[:, m].min())
                entry[f"{metric}_max"] = float(seeds[:, m].max())
            _set_differences(entry, seeds.mean(axis=0), base, intervals.get(name), g)
            rows.append(entry)
    return rows


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:  # numpy's generators take no negative seed
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
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
                    "intervals over dialogues; sweep folders as groups of seeds (mean, std, "
                    "min, max; intervals over dialogues and seeds); with --out also "
                    "markdown, CSV and PNG charts.")
    parser.add_argument("gold", help="gold file: ConvQA_CN v3.0 or official CoQA v1.0 JSON")
    parser.add_argument("runs", nargs="+", metavar="RUN",
                        help="a prediction file, a run's output folder or a sweep folder "
                             "(sweep.json and seed-N/ run folders: one group of runs), "
                             "optionally NAME=PATH; the first is the baseline")
    parser.add_argument("--out", metavar="DIR",
                        help="write compare.md, compare.csv, domains.png and "
                             "learning_curves.png here")
    boot = parser.add_argument_group("bootstrap")
    boot.add_argument("--resamples", type=_positive, default=1000,
                      help="bootstrap resamples (default 1000)")
    boot.add_argument("--seed", type=_non_negative, default=0,
                      help="bootstrap seed, 0 or more (default 0)")
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
        groups = resolve_runs(args.runs, sys.stderr)
        gold = read_gold(args.gold, official_gold_checks=args.official_gold_checks)
        scored = score_runs(gold, groups, config.eval, sys.stderr)
        rows = compare(gold, scored, config)
        markdown = to_markdown(gold, scored, rows, config)
        print(markdown, end="")
        if args.out:
            for path in write_outputs(Path(args.out), markdown, rows, groups,
                                      chart_caption(gold, groups), sys.stderr):
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
