"""PNG charts for `python -m evaluate.compare --out DIR` (matplotlib, Agg backend, imported
lazily). Chinese names are drawn with a CJK font when the system has one; otherwise the
ConvQA_CN domains get English labels and other non-ASCII text is escaped, never drawn as
empty boxes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence

CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans SC", "Source Han Sans SC",
             "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "SimHei", "Microsoft YaHei",
             "PingFang SC", "Heiti SC", "AR PL UMing CN")
ENGLISH_DOMAINS = {"儿童故事": "children's stories", "热点新闻": "news", "历史": "history",
                   "育儿知识": "parenting"}


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")  # headless: no display needed, no window opened
    import matplotlib.pyplot as plt
    return plt


def _cjk_font() -> Optional[str]:
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in installed), None)


def _labeller(plt):
    """A function from text to a label the figure's fonts can draw."""
    font = _cjk_font()
    if font is not None:
        plt.rcParams["font.sans-serif"] = [font] + list(plt.rcParams["font.sans-serif"])
        return lambda text: text

    def ascii_label(text: str) -> str:
        if text.isascii():
            return text
        return ENGLISH_DOMAINS.get(text) or text.encode("ascii", "backslashreplace").decode()
    return ascii_label


def _grouped_bars(ax, names: Sequence[str], runs: Sequence[str],
                  values: Sequence[Sequence[Optional[float]]], ylabel: str,
                  errors: Optional[Sequence[Sequence[Sequence[float]]]] = None,
                  first_color: int = 0) -> None:
    """One group of bars per name, one bar per run, each labelled with its value; None
    (a row without turns) draws no bar and says so. Run i gets colour C(first_color + i),
    so a run keeps its colour from panel to panel."""
    width = 0.8 / max(1, len(runs))
    for index, (run, run_values) in enumerate(zip(runs, values)):
        positions = [x + (index - (len(runs) - 1) / 2) * width for x in range(len(names))]
        heights = [0.0 if v is None else v for v in run_values]
        bars = ax.bar(positions, heights, width, label=run,
                      color=f"C{(first_color + index) % 10}",
                      yerr=None if errors is None else errors[index], capsize=3)
        ax.bar_label(bars, labels=["" if v is None else f"{v:.1f}" for v in run_values],
                     fontsize=7, padding=2)
    for x, column in enumerate(zip(*values)):
        if all(v is None for v in column):
            ax.text(x, 0, "no turns", ha="center", va="bottom", fontsize=7, color="gray")
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right")
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)


def plot_domains(path: Path, rows: Sequence[Mapping[str, object]]) -> None:
    """Bar charts of F1, EM and (from two runs on) the F1 difference to the first run with
    its bootstrap interval, per domain; `rows` are compare's domain table rows."""
    plt = _pyplot()
    label = _labeller(plt)
    names = list(dict.fromkeys(str(r["row"]) for r in rows))
    runs = list(dict.fromkeys(str(r["run"]) for r in rows))
    cell = {(str(r["row"]), str(r["run"])): r for r in rows}
    panels = 3 if len(runs) > 1 else 2
    fig, axes = plt.subplots(panels, 1, figsize=(max(8, 1.1 * len(names) * max(1, len(runs)) / 2
                                                     + 4), 3.6 * panels))
    labels = [label(n) for n in names]
    for ax, metric in zip(axes, ("f1", "em")):
        values = [[float(cell[(n, run)][metric]) if cell[(n, run)]["turns"] else None
                   for n in names] for run in runs]
        _grouped_bars(ax, labels, [label(r) for r in runs], values, f"{metric.upper()} (%)")
        ax.set_ylim(0, 105)
        ax.set_title(f"{metric.upper()} by domain")
    axes[0].legend(fontsize=8, loc="upper right")
    if panels == 3:
        _difference_panel(axes[2], names, labels, runs, cell, label)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _difference_panel(ax, names, labels, runs, cell, label) -> None:
    others = runs[1:]
    values, errors = [], []
    for run in others:
        run_cells = [cell[(n, run)] for n in names]
        diffs = [_number(c["d_f1"]) for c in run_cells]
        values.append([None if c["d_f1"] is None else d for d, c in zip(diffs, run_cells)])
        errors.append([[max(0.0, d - _number(c["d_f1_low"])) for d, c in zip(diffs, run_cells)],
                       [max(0.0, _number(c["d_f1_high"]) - d) for d, c in zip(diffs, run_cells)]])
    _grouped_bars(ax, labels, [label(r) for r in others], values, "F1 difference (points)",
                  errors, first_color=1)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_title(f"F1 minus {label(runs[0])}, with 95% paired bootstrap intervals")
    ax.legend(fontsize=8)


def _number(value: object) -> float:
    return 0.0 if value in (None, "") else float(value)  # type: ignore[arg-type]


def plot_curves(path: Path, curves: Mapping[str, Dict[str, List]],
                names: Sequence[str] = ("loss", "learning rate", "dev F1")) -> None:
    """One panel per curve name (against step), one line per run; `curves` is
    {run: {curve name: [(step, value)]}}. A run without a curve is left out of its panel."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    label = _labeller(plt)
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 4))
    for ax, name in zip(axes, names):
        drawn = False
        for index, (run, run_curves) in enumerate(curves.items()):
            points = run_curves.get(name)
            if points:
                steps, values = zip(*points)
                ax.plot(steps, values, marker="o" if len(points) < 30 else None,
                        markersize=3, label=label(run), color=f"C{index % 10}")
                drawn = True
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if drawn:
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes)
        if name == "learning rate":
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
