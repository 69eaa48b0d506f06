"""PNG charts for `python -m evaluate.compare --out DIR` (matplotlib, Agg backend, imported
lazily), meant to go into a paper as they are.

Chinese text (domains, run names, titles) is drawn with Noto Sans CJK SC from the PyPI
package mplfonts (requirements.txt): its font file is registered with matplotlib's font
manager in memory at plot time, with no write into site-packages or matplotlib's
configuration, so a read-only HOME works too. Without mplfonts an installed CJK font
(fonts-noto-cjk, WenQuanYi, SimHei, ...) is used; without any, one stderr line says so and
the ConvQA_CN domains get English labels and other non-ASCII text is escaped (never empty
boxes). Every chart carries a caption (gold file, dialogues and turns, history source,
what the error bars are, what was left out). Domains without turns are left out of the
charts; value labels sit above the error bars, with head room below the titles.
"""
from __future__ import annotations

import contextlib
import importlib.util
import sys
import textwrap
from pathlib import Path
from typing import Iterator, List, Mapping, Optional, Sequence, TextIO, Tuple

from evaluate.files import write_atomically

# mplfonts ships several CJK fonts; this one (SIL Open Font License) is the one we draw with.
PACKAGED_FONT = ("mplfonts", "fonts", "NotoSansCJKsc-Regular.otf")
CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans SC", "Source Han Sans SC",
             "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "SimHei", "Microsoft YaHei",
             "PingFang SC", "Heiti SC", "AR PL UMing CN")
ENGLISH_DOMAINS = {"儿童故事": "children's stories", "热点新闻": "news", "历史": "history",
                   "育儿知识": "parenting"}
NO_CJK_FONT = ("charts: no CJK font (pip install mplfonts, or apt-get install fonts-noto-cjk); "
               "Chinese names are drawn in English or escaped")
LINE_STYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LOSS_PANELS = {"loss (extractive)": "training loss: extractive runs (span cross-entropy)",
               "loss (seq2seq)": "training loss: seq2seq runs (token cross-entropy)",
               "loss": "training loss"}
Curve = List[Tuple[int, float]]
_warned: set = set()


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")  # headless: no display needed, no window opened
    import matplotlib.pyplot as plt
    return plt


def packaged_font_file() -> Optional[Path]:
    """mplfonts' Noto Sans CJK SC file, found without importing mplfonts; None without it."""
    spec = importlib.util.find_spec(PACKAGED_FONT[0])
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(folder, *PACKAGED_FONT[1:])
        if path.is_file():
            return path
    return None


def cjk_font() -> Optional[str]:
    """The family name of the CJK font to draw with (see the module docstring), the
    packaged file registered with matplotlib's font manager first; None without one."""
    from matplotlib import font_manager

    path = packaged_font_file()
    if path is not None:
        if all(entry.fname != str(path) for entry in font_manager.fontManager.ttflist):
            font_manager.fontManager.addfont(str(path))  # in memory only
        return font_manager.FontProperties(fname=str(path)).get_name()
    installed = {entry.name for entry in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in installed), None)


def _ascii_label(text: str) -> str:
    """Without a CJK font: a ConvQA_CN domain in English, else CJK (and later) characters
    escaped; ±, − and other symbols matplotlib's own fonts have are kept."""
    if text in ENGLISH_DOMAINS:
        return ENGLISH_DOMAINS[text]
    return "".join(c if ord(c) < 0x2E80 else c.encode("ascii", "backslashreplace").decode()
                   for c in text)


@contextlib.contextmanager
def chart_style(warn: Optional[TextIO] = None) -> Iterator:
    """Within: matplotlib draws with the CJK font first (rc_context: no global change);
    yields a function from text to a label the fonts can draw."""
    plt = _pyplot()
    font = cjk_font()
    if font is None and NO_CJK_FONT not in _warned:
        _warned.add(NO_CJK_FONT)
        (warn if warn is not None else sys.stderr).write(NO_CJK_FONT + "\n")
    style = {"font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10,
             "legend.fontsize": 9, "xtick.labelsize": 9, "ytick.labelsize": 9}
    if font is not None:
        style["font.sans-serif"] = [font] + list(plt.rcParams["font.sans-serif"])
        style["font.family"] = "sans-serif"
    with plt.rc_context(style):
        yield (lambda text: text) if font is not None else _ascii_label


def _caption(fig, text: str, width_in: float) -> None:
    """The caption under the panels, wrapped to the figure's width (constrained layout
    makes room for it)."""
    chars = max(40, int(width_in * 72 / (8 * 0.62)))
    wrapped = "\n".join(textwrap.fill(part, chars) for part in text.split("\n"))
    fig.supxlabel(wrapped, fontsize=8, x=0.01, ha="left", multialignment="left")


def _label_bars(ax, positions, values, upper, lower, fontsize) -> List[float]:
    """Each value written just past the end of its error bar (above for a bar up, below for
    a bar down); returns the data y each label is anchored at."""
    anchors = []
    for x, value, up, down in zip(positions, values, upper, lower):
        if value is None:
            continue
        above = value >= 0
        y = value + up if above else value - down
        ax.annotate(f"{value:.1f}", (x, y), xytext=(0, 2 if above else -2),
                    textcoords="offset points", ha="center",
                    va="bottom" if above else "top", fontsize=fontsize)
        anchors.append(y)
    return anchors


def _grouped_bars(ax, names: Sequence[str], runs: Sequence[str],
                  values: Sequence[Sequence[Optional[float]]], ylabel: str,
                  errors: Optional[Sequence[Sequence[Sequence[Optional[float]]]]] = None,
                  first_color: int = 0) -> Tuple[float, float]:
    """One group of bars per name, one bar per run, each labelled with its value past its
    error bar; None draws no bar. Run i gets colour C(first_color + i), so a run keeps its
    colour from panel to panel. Returns the lowest and highest point drawn (bar ends,
    error-bar ends, label anchors)."""
    width = 0.8 / max(1, len(runs))
    fontsize = 8 if len(runs) * len(names) <= 24 else 7
    low, high = 0.0, 0.0
    for index, (run, run_values) in enumerate(zip(runs, values)):
        positions = [x + (index - (len(runs) - 1) / 2) * width for x in range(len(names))]
        heights = [0.0 if v is None else v for v in run_values]
        error = errors[index] if errors is not None else None
        # None: no error bar (a single run's std), drawn as NaN, which matplotlib skips.
        lower = [0.0 if e is None else e for e in error[0]] if error else [0.0] * len(names)
        upper = [0.0 if e is None else e for e in error[1]] if error else [0.0] * len(names)
        yerr = None if error is None else [[float("nan") if e is None else e for e in side]
                                           for side in error]
        ax.bar(positions, heights, width, label=run, color=f"C{(first_color + index) % 10}",
               yerr=yerr, capsize=3, error_kw={"elinewidth": 1, "capthick": 1})
        anchors = _label_bars(ax, positions, run_values, upper, lower, fontsize)
        ends = [end for v, up, down in zip(run_values, upper, lower) if v is not None
                for end in (v - down, v + up)]
        low, high = min([low] + anchors + ends), max([high] + anchors + ends)
    ax.set_xticks(range(len(names)), names, rotation=20 if len(names) > 4 else 0,
                  ha="right" if len(names) > 4 else "center")
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    return low, high


def _number(value: object) -> float:
    return 0.0 if value in (None, "") else float(value)  # type: ignore[arg-type]


def draw_domains(rows: Sequence[Mapping[str, object]], caption: str, label,
                 warn: Optional[TextIO] = None):
    """The domain figure (call within `chart_style`): F1 and EM per domain, and from two
    runs on the F1 difference to the first run with its bootstrap interval; `rows` are
    compare's domain rows. A sweep's bars are its mean over seeds with ±1 standard
    deviation; domains without turns are left out (one line on `warn`)."""
    plt = _pyplot()
    empty = list(dict.fromkeys(str(r["row"]) for r in rows if not r["turns"]))
    names = [n for n in dict.fromkeys(str(r["row"]) for r in rows) if n not in empty]
    if empty:
        (warn if warn is not None else sys.stderr).write(
            f"charts: left out {len(empty)} domain row(s) without turns in the gold file: "
            f"{', '.join(empty)}\n")
    runs = list(dict.fromkeys(str(r["run"]) for r in rows))
    cell = {(str(r["row"]), str(r["run"])): r for r in rows}
    grouped = any(r.get("seeds") is not None for r in rows)
    panels = 3 if len(runs) > 1 else 2
    width = min(24.0, max(8.0, 0.55 * len(names) * max(1, len(runs)) + 3.5))
    fig, axes = plt.subplots(panels, 1, figsize=(width, 3.4 * panels + 0.8), layout="constrained")
    labels = [label(n) for n in names]
    legend = [label(r) for r in runs]
    if grouped:
        seeds = [int(cell[(names[0], r)]["seeds"]) if names else 1 for r in runs]  # type: ignore
        legend = [f"{name} ({n} seeds)" if n > 1 else f"{name} (1 run)"
                  for name, n in zip(legend, seeds)]
    for ax, metric in zip(axes, ("f1", "em")):
        values = [[float(cell[(n, run)][metric]) for n in names] for run in runs]
        errors = None
        if grouped:
            errors = [[[cell[(n, run)][f"{metric}_std"] for n in names]] * 2 for run in runs]
        _, high = _grouped_bars(ax, labels, legend, values, f"{metric.upper()} (%)", errors)
        ax.set_ylim(0, max(100.0, high) * 1.13)  # room for the labels under the title
        ax.set_yticks(range(0, 101, 20))
        spread = " (mean ± 1 std over seeds)" if grouped else ""
        ax.set_title(f"{metric.upper()} by domain{spread}")
    if panels == 3:
        _difference_panel(axes[2], names, labels, runs, cell, label, grouped)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper",
               title="run")
    notes = [caption]
    if grouped:
        notes.append("Bars: mean over seeds; error bars in the F1 and EM panels: ±1 sample "
                     "standard deviation over seeds (none for a single run).")
    if empty:
        notes.append(f"Left out (no turns in this gold file): {', '.join(label(n) for n in empty)}.")
    _caption(fig, label("\n".join(notes)), width)
    return fig


def _difference_panel(ax, names, labels, runs, cell, label, grouped) -> None:
    others = runs[1:]
    values, errors = [], []
    for run in others:
        run_cells = [cell[(n, run)] for n in names]
        diffs = [None if c["d_f1"] is None else float(c["d_f1"]) for c in run_cells]
        values.append(diffs)
        errors.append([[max(0.0, _number(d) - _number(c["d_f1_low"]))
                        for d, c in zip(diffs, run_cells)],
                       [max(0.0, _number(c["d_f1_high"]) - _number(d))
                        for d, c in zip(diffs, run_cells)]])
    low, high = _grouped_bars(ax, labels, [label(r) for r in others], values,
                              "F1 difference (points)", errors, first_color=1)
    span = max(high - low, 1.0)
    ax.set_ylim(min(0.0, low) - 0.15 * span, max(0.0, high) + 0.15 * span)
    ax.axhline(0, color="black", linewidth=0.8)
    over = "dialogues and seeds" if grouped else "dialogues"
    ax.set_title(f"F1 minus {label(runs[0])}: 95% bootstrap interval over {over}")


def save_png(fig, path: Path) -> None:
    """The figure as a PNG at `path`, written atomically (never a half-written chart)."""
    write_atomically(path, lambda out: fig.savefig(out, format="png", dpi=150), binary=True)


def plot_domains(path: Path, rows: Sequence[Mapping[str, object]], caption: str = "",
                 warn: Optional[TextIO] = None) -> None:
    """draw_domains, saved as a PNG."""
    with chart_style(warn) as label:
        fig = draw_domains(rows, caption, label, warn)
        save_png(fig, path)
    _pyplot().close(fig)


def curve_panels(curves: Mapping[str, Sequence[Mapping[str, Curve]]]) -> List[str]:
    """The panels: one loss panel per training objective present (at least one), then
    learning rate and dev F1."""
    present = {name for seeds in curves.values() for run in seeds for name in run}
    losses = [name for name in LOSS_PANELS if name in present] or ["loss"]
    return losses + ["learning rate", "dev F1"]


def draw_curves(curves: Mapping[str, Sequence[Mapping[str, Curve]]], caption: str, label):
    """The learning-curve figure (call within `chart_style`): one panel per curve name
    against step, one line per run (each seed of a sweep in its group's style). Each
    run has its own colour, line style and marker, and markers start at different points,
    so identical curves stay visible."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    names = curve_panels(curves)
    columns = 2 if len(names) == 4 else len(names)
    rows = -(-len(names) // columns)
    width = 4.6 * columns + 1.8
    fig, axes = plt.subplots(rows, columns, figsize=(width, 3.6 * rows + 0.9),
                             layout="constrained", squeeze=False)
    handles = {}
    for ax, name in zip(axes.flat, names):
        drawn = False
        for index, (run, seeds) in enumerate(curves.items()):
            for seed, run_curves in enumerate(seeds):
                points = run_curves.get(name)
                if not points:
                    continue
                steps, values = zip(*points)
                every = max(1, len(points) // 8)
                line, = ax.plot(steps, values, color=f"C{index % 10}",
                                linestyle=LINE_STYLES[index % len(LINE_STYLES)],
                                linewidth=max(1.0, 2.6 - 0.5 * index),
                                marker=MARKERS[index % len(MARKERS)], markersize=5,
                                markevery=(index % every, every), markerfacecolor="none",
                                alpha=0.85 if len(seeds) == 1 else 0.6)
                suffix = f" ({len(seeds)} seeds)" if len(seeds) > 1 else ""
                handles.setdefault(label(run) + suffix, line)
                drawn = True
        ax.set_title(LOSS_PANELS.get(name, name))
        ax.set_xlabel("step")
        ax.set_ylabel({"learning rate": "learning rate", "dev F1": "dev F1 (%)"}.get(
            name, "training loss"))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if not drawn:
            ax.text(0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes,
                    color="gray")
        if name == "learning rate":
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    for ax in list(axes.flat)[len(names):]:
        ax.set_visible(False)
    fig.legend(list(handles.values()), list(handles), loc="outside right upper", title="run")
    notes = [caption, "Losses of different training objectives are on separate panels "
                      "(not comparable). dev F1: as logged during training."]
    if any(len(seeds) > 1 for seeds in curves.values()):
        notes.append("A sweep draws one line per seed, in its run's colour and style.")
    _caption(fig, label("\n".join(notes)), width)
    return fig


def plot_curves(path: Path, curves: Mapping[str, Sequence[Mapping[str, Curve]]],
                caption: str = "", warn: Optional[TextIO] = None) -> None:
    """draw_curves, saved as a PNG; `curves` is {run: [{curve name: [(step, value)]} per
    seed]} (compare_report.learning_curves)."""
    with chart_style(warn) as label:
        fig = draw_curves(curves, caption, label)
        save_png(fig, path)
    _pyplot().close(fig)

