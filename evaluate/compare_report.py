"""The report of `python -m evaluate.compare`: the markdown tables (printed, and compare.md),
compare.csv, the charts' caption, the learning curves read from each run's runs/ folder,
and the files written with --out (the charts themselves are drawn by evaluate.plots).
Standard library only; evaluate.events and evaluate.plots are imported when needed.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import IO, TYPE_CHECKING, Dict, List, Optional, Sequence, TextIO, Tuple

from evaluate.errors import EvalInputError, read_json_file
from evaluate.files import write_atomically, write_text
from evaluate.gold import GoldData
from evaluate.scoring import resolve_comparison

if TYPE_CHECKING:  # annotations only: evaluate.compare imports this module
    from evaluate.compare import CompareConfig, Group, Run, ScoredGroup

TABLES = ("domain", "answer kind", "turn position")
CSV_FIELDS = ("table", "row", "run", "turns", "em", "f1", "d_em", "d_em_low", "d_em_high",
              "d_f1", "d_f1_low", "d_f1_high")
# Appended when a sweep takes part: em and f1 are then means over seeds.
GROUP_CSV_FIELDS = ("seeds", "em_std", "em_min", "em_max", "f1_std", "f1_min", "f1_max")
Row = Dict[str, object]


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

    def write(out: IO[str]) -> None:
        writer = csv.DictWriter(out, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (round(v, 2) if isinstance(v, float) and k in rounded
                                 else "" if v is None else v) for k, v in row.items()})
    write_atomically(path, write, newline="")


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
        write_text(written[0], markdown)
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
