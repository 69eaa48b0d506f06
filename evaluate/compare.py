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
only when needed.
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
from evaluate.errors import EvalInputError, read_json_file
from evaluate.gold import COQA, GoldData, read_gold
from evaluate.predictions import find_prediction_file, read_predictions
from evaluate.scoring import (COQA_DOMAIN_NAMES, EvalConfig, ScoredTurn, domain_lists,
                              position_bucket, resolve_comparison, score_with_turns)
from evaluate.sweeps import is_sweep, read_sweep

TABLES = ("domain", "answer kind", "turn position")
CSV_FIELDS = ("table", "row", "run", "turns", "em", "f1", "d_em", "d_em_low", "d_em_high",
              "d_f1", "d_f1_low", "d_f1_high")
# Appended when a sweep takes part: em and f1 are then means over seeds.
GROUP_CSV_FIELDS = ("seeds", "em_std", "em_min", "em_max", "f1_std", "f1_min", "f1_max")
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
    """Table rows (keys CSV_FIELDS, plus GROUP_CSV_FIELDS when a sweep takes part;
    differences and intervals in points, None for the first group): every table row
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


def _difference(row: Row, metric: str) -> str:
    """"+1.2 [-0.3, +2.5]", with * when the interval excludes 0; "" for the first run."""
    value, low, high = row[f"d_{metric}"], row[f"d_{metric}_low"], row[f"d_{metric}_high"]
    if value is None:
        return ""
    mark = "*" if low > 0 or high < 0 else ""  # type: ignore[operator]
    return f"{value:+.1f} [{low:+.1f}, {high:+.1f}]{mark}"


def _spread(row: Row, metric: str) -> Tuple[str, str]:
    """("mean ± std", "[min, max]") of a group row; std "n/a" for one seed."""
    std = row[f"{metric}_std"]
    return (f"{row[metric]:.1f} ± " + ("n/a" if std is None else f"{std:.1f}"),
            f"[{row[f'{metric}_min']:.1f}, {row[f'{metric}_max']:.1f}]")


def empty_rows(rows: Sequence[Row], table: str = "domain") -> List[str]:
    """The rows of `table` that have no turns (the markdown tables and the charts leave
    them out, the CSV keeps them)."""
    return list(dict.fromkeys(str(r["row"]) for r in rows
                              if r["table"] == table and not r["turns"]))


def to_markdown(gold: GoldData, groups: Sequence[ScoredGroup], rows: Sequence[Row],
                config: CompareConfig) -> str:
    """The report: what was compared, then one table per TABLES entry."""
    comparison, why = resolve_comparison(gold, config.eval)
    boot = config.bootstrap
    grouped = any(g.group.is_sweep for g in groups)
    dialogues = len({t.dialogue_id for t in gold.turns})
    lines = ["# Run comparison", "",
             f"Gold: `{gold.path}` ({gold.file_format}, {dialogues} dialogues, "
             f"{len(gold.turns)} turns); text comparison: {comparison} ({why}).", ""]
    if grouped:
        lines += ["A sweep's EM and F1 are the mean ± standard deviation over its seeds "
                  "(sample, n − 1; n/a for one seed), then [min, max]; a single run is a "
                  "group of one seed.", ""]
    if len(groups) > 1 and grouped:
        lines += [f"Δ: difference of the seed means to **{groups[0].group.label}** in points, "
                  f"with its {boot.confidence:.0%} bootstrap interval that resamples "
                  "dialogues (the same draw for every group) and, for each group on its own, "
                  f"seeds ({boot.resamples:,} resamples, seed {boot.seed}); * marks an "
                  "interval that excludes 0.", ""]
    elif len(groups) > 1:
        lines += [f"Δ: difference to **{groups[0].group.label}** in points, with its "
                  f"{boot.confidence:.0%} paired bootstrap interval over dialogues "
                  f"({boot.resamples:,} resamples, seed {boot.seed}); * marks an interval "
                  "that excludes 0.", ""]
    if grouped:
        lines += ["| run | seeds | predictions | missing |", "|---|---|---|---:|"]
        for g in groups:
            missing = ", ".join(str(sum(1 for item in run.scored if item.prediction is None))
                                for run in g.runs)
            where = g.group.folder if g.group.is_sweep else g.group.runs[0].pred_file
            seeds = ", ".join(g.group.seeds) if g.group.is_sweep else "(single run)"
            lines.append(f"| {g.group.label} | {seeds} | `{where}` | {missing} |")
    else:
        lines += ["| run | predictions | missing |", "|---|---|---:|"]
        for g in groups:
            run = g.runs[0]
            missing = sum(1 for item in run.scored if item.prediction is None)
            lines.append(f"| {run.run.label} | `{run.run.pred_file}` | {missing} |")
    for table in TABLES:
        lines += ["", f"## By {table}", ""]
        if grouped:
            lines += [f"| {table} | run | seeds | turns | EM | EM [min, max] | F1 | "
                      "F1 [min, max] | ΔEM | ΔF1 |",
                      "|---|---|---:|---:|---:|---|---:|---|---|---|"]
        else:
            lines += [f"| {table} | run | turns | EM | F1 | ΔEM | ΔF1 |",
                      "|---|---|---:|---:|---:|---|---|"]
        for row in (r for r in rows if r["table"] == table and r["turns"]):
            if grouped:
                em, em_range = _spread(row, "em")
                f1, f1_range = _spread(row, "f1")
                lines.append(f"| {row['row']} | {row['run']} | {row['seeds']} | {row['turns']} "
                             f"| {em} | {em_range} | {f1} | {f1_range} | "
                             f"{_difference(row, 'em')} | {_difference(row, 'f1')} |")
            else:
                lines.append(f"| {row['row']} | {row['run']} | {row['turns']} | {row['em']:.1f} "
                             f"| {row['f1']:.1f} | {_difference(row, 'em')} | "
                             f"{_difference(row, 'f1')} |")
        empty = empty_rows(rows, table)
        if empty:
            lines += ["", f"No turns in this gold file: {', '.join(empty)} (left out of this "
                          "table and the charts; compare.csv keeps them with 0 turns)."]
    return "\n".join(lines) + "\n"


def write_csv(path: Path, rows: Sequence[Row]) -> None:
    """Every table row, one line per (table, row, run); numbers past the counts rounded
    to 0.01 (a sweep's means and spreads too)."""
    grouped = any("seeds" in row for row in rows)
    fields = CSV_FIELDS + GROUP_CSV_FIELDS if grouped else CSV_FIELDS
    rounded = {k for k in fields if k.startswith("d_")}
    if grouped:
        rounded |= {"em", "f1"} | set(GROUP_CSV_FIELDS) - {"seeds"}
    with open(path, "w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (round(v, 2) if isinstance(v, float) and k in rounded
                                 else "" if v is None else v) for k, v in row.items()})


def history_source(run: Run) -> str:
    """"gold" or "predicted": the history the run's answers were predicted with, from the
    file name (predictions_predicted_*, *_predicted*), else the folder's eval_results*.json
    or args.json; "unknown" when none says."""
    if "predicted" in run.pred_file.stem:
        return "predicted"
    folder = run.pred_file.parent
    for path in sorted(folder.glob("eval_results*.json")) + [folder / "args.json"]:
        try:
            found = read_json_file(path).get("history_source") if path.is_file() else None
        except (EvalInputError, AttributeError):
            continue
        if found in ("gold", "both"):
            return "gold"  # "both": this file is the gold-history one (see above)
        if found == "predicted":
            return "predicted"
    return "unknown"


def training_objective(run: Run) -> Optional[str]:
    """"extractive" or "seq2seq", from the args.json of the folder that holds runs/ (the
    training flags differ), or None when it cannot tell."""
    if run.runs_dir is None:
        return None
    try:
        args = read_json_file(run.runs_dir.parent / "args.json")
    except EvalInputError:
        return None
    if not isinstance(args, dict):
        return None
    if "label_smoothing" in args or "max_target_seq_length" in args:
        return "seq2seq"
    if "max_answer_length" in args or "n_best_size" in args:
        return "extractive"
    return None


def chart_caption(gold: GoldData, groups: Sequence[Group]) -> str:
    """What every chart says under it: gold file, dialogues and turns, history source."""
    dialogues = len({t.dialogue_id for t in gold.turns})
    sources = {}
    for group in groups:
        found = list(dict.fromkeys(history_source(run) for run in group.runs))
        sources[group.label] = found[0] if len(found) == 1 else "mixed (" + ", ".join(found) + ")"
    if len(set(sources.values())) == 1:
        history = next(iter(sources.values()))
    else:
        history = "; ".join(f"{label} {source}" for label, source in sources.items())
    return (f"Gold: {Path(gold.path).name} ({gold.file_format}, {dialogues} dialogues, "
            f"{len(gold.turns)} turns). History: {history}.")


def learning_curves(groups: Sequence[Group], warn: TextIO) -> Dict[str, List[Dict[str, list]]]:
    """{group label: one {curve name: points} per seed}, every group in order (an empty
    list without curves), so that a run has the same colour here as in the bar charts.
    The loss is named after the run's training objective ("loss (extractive)",
    "loss (seq2seq)"; "loss" when unknown): the objectives' losses are not comparable."""
    from evaluate.events import pick_curves, read_scalars

    curves: Dict[str, List[Dict[str, list]]] = {}
    for group in groups:
        curves[group.label] = []
        for run in group.runs:
            if run.runs_dir is None:
                warn.write(f"{run.label}: no runs/ folder beside {run.pred_file.name}; "
                           "no learning curve\n")
                continue
            try:
                picked = pick_curves(read_scalars(run.runs_dir))
            except OSError as err:
                warn.write(f"{run.label}: {run.runs_dir}: cannot read events "
                           f"({err.strerror}); no learning curve\n")
                continue
            if not picked:
                warn.write(f"{run.label}: {run.runs_dir}: no loss, learning rate or dev F1 "
                           "events; no learning curve\n")
                continue
            objective = training_objective(run)
            if "loss" in picked and objective is not None:
                picked = {(f"loss ({objective})" if name == "loss" else name): points
                          for name, points in picked.items()}
            curves[group.label].append(picked)
    return curves


def write_outputs(out_dir: Path, markdown: str, rows: Sequence[Row], groups: Sequence[Group],
                  caption: str, warn: TextIO) -> List[Path]:
    """compare.md, compare.csv, domains.png and (when there are events)
    learning_curves.png in out_dir; returns the paths written."""
    from evaluate.plots import plot_curves, plot_domains

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        written = [out_dir / "compare.md", out_dir / "compare.csv", out_dir / "domains.png"]
        written[0].write_text(markdown, encoding="utf-8")
        write_csv(written[1], rows)
        plot_domains(written[2], [r for r in rows if r["table"] == "domain"], caption, warn)
        curves = learning_curves(groups, warn)
        if any(curves.values()):
            written.append(out_dir / "learning_curves.png")
            plot_curves(written[-1], curves, caption, warn)
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
