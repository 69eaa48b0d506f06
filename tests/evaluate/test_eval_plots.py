"""The charts of `python -m evaluate.compare`: Chinese labels drawn with a CJK font,
domains without turns left out with a note, value labels past the error bars and below
the titles, captions, learning curves that keep identical runs apart and put each
training objective's loss on its own panel."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

from evaluate import plots  # noqa: E402
from evaluate.compare import Group, Run  # noqa: E402
from evaluate.compare_report import chart_caption, history_source, learning_curves  # noqa: E402
from evaluate.gold import read_gold  # noqa: E402


def domain_rows(runs=("基线", "对比"), empty=("儿童故事",), sweep=False):
    """compare's domain rows: 历史 and overall with turns, `empty` without."""
    rows = []
    for name, f1 in [(n, 0.0) for n in empty] + [("历史", 80.0), ("overall", 95.0)]:
        for index, run in enumerate(runs):
            turns = 0 if name in empty else 12
            row = {"table": "domain", "row": name, "run": run, "turns": turns,
                   "em": f1 - 5 * index, "f1": f1 - 3 * index,
                   "d_em": None, "d_em_low": None, "d_em_high": None,
                   "d_f1": None, "d_f1_low": None, "d_f1_high": None}
            if index and turns:
                row.update(d_em=-5.0, d_em_low=-9.0, d_em_high=-1.0,
                           d_f1=-3.0, d_f1_low=-8.0, d_f1_high=4.0)
            if sweep:
                row.update(seeds=3, em_std=4.0, em_min=row["em"] - 4, em_max=row["em"] + 4,
                           f1_std=4.0 if turns else None, f1_min=0.0, f1_max=100.0)
            rows.append(row)
    return rows


def test_chinese_label_is_drawn_with_a_cjk_font():
    from fontTools.ttLib import TTFont
    from matplotlib import font_manager

    assert plots.packaged_font_file() is not None, "pip install -r requirements.txt (mplfonts)"
    warn = io.StringIO()
    with plots.chart_style(warn) as label:
        fig = plots.draw_domains(domain_rows(), "Gold: 测试.json", label, warn)
        fig.canvas.draw()
        ticks = {t.get_text(): t for t in fig.axes[0].get_xticklabels()}
        assert "历史" in ticks  # in Chinese, not "history", not an escape
        path = font_manager.findfont(ticks["历史"].get_fontproperties(),
                                     fallback_to_default=False)
        title = fig.axes[2].get_title()
    assert title.startswith("F1 minus 基线")
    assert "CJK" in TTFont(path, fontNumber=0)["name"].getDebugName(1)
    cmap = TTFont(path, fontNumber=0).getBestCmap()
    assert all(ord(char) in cmap for char in "历史基线对比儿童故事测试")
    assert "no CJK font" not in warn.getvalue()


def test_without_a_cjk_font_one_line_and_english_labels(monkeypatch):
    monkeypatch.setattr(plots, "cjk_font", lambda: None)
    monkeypatch.setattr(plots, "_warned", set())
    warn = io.StringIO()
    with plots.chart_style(warn) as label:
        assert label("历史") == "history" and label("基线") == "\\u57fa\\u7ebf"
    with plots.chart_style(warn):
        pass
    assert warn.getvalue().splitlines() == [plots.NO_CJK_FONT]  # once per process


def test_empty_domains_left_out_with_a_note():
    warn = io.StringIO()
    with plots.chart_style(warn) as label:
        fig = plots.draw_domains(domain_rows(empty=("儿童故事", "in_domain")), "Gold: g.json",
                                 label, warn)
        fig.canvas.draw()
        names = [t.get_text() for t in fig.axes[0].get_xticklabels()]
        caption = fig._supxlabel.get_text()
    assert names == ["历史", "overall"]
    assert "Left out (no turns in this gold file): 儿童故事, in_domain." in caption.replace("\n", " ")
    assert warn.getvalue().splitlines() == [
        "charts: left out 2 domain row(s) without turns in the gold file: 儿童故事, in_domain"]


def test_value_labels_clear_error_bars_and_titles():
    with plots.chart_style(io.StringIO()) as label:
        fig = plots.draw_domains(domain_rows(sweep=True, empty=()), "", label, io.StringIO())
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        for ax in fig.axes:
            labels = [child for child in ax.texts if child.get_text()[-2:-1] == "."]
            assert labels
            title_bottom = ax.title.get_window_extent(renderer).y0
            axes_top = ax.get_window_extent(renderer).y1
            caps = [line for line in ax.lines if line.get_marker() in ("_", 3)]
            cap_tops = [max(line.get_ydata()) for line in caps]
            for text in labels:
                box = text.get_window_extent(renderer)
                assert box.y1 <= axes_top and box.y1 < title_bottom, text.get_text()
            if ax is fig.axes[0]:  # F1: 95 ± 4 at overall: the label starts above 99
                anchors = [text.xy[1] for text in labels]
                assert max(anchors) == pytest.approx(99.0)
                assert max(cap_tops) == pytest.approx(99.0)
                assert ax.get_ylim()[1] > 105


def test_caption_names_gold_turns_dialogues_and_history(tmp_path):
    gold = tmp_path / "gold.json"
    gold.write_text(json.dumps({"data": [
        {"Source": "历史", "Passage": "p", "id": i, "Questions": [{"turn_id": 1}, {"turn_id": 2}],
         "Answers": [{"input_text": "a"}, {"input_text": "b"}]} for i in (1, 2)]}),
        encoding="utf-8")
    a, b, c = (tmp_path / name for name in "abc")
    for folder in (a, b, c):
        folder.mkdir()
    (a / "eval_results.json").write_text('{"history_source": "gold"}')
    (b / "args.json").write_text('{"history_source": "predicted"}')
    runs = [Run("A", a / "predictions_.json", None), Run("B", b / "predictions_.json", None),
            Run("C", c / "predictions_.json", None)]
    assert [history_source(r) for r in runs] == ["gold", "predicted", "unknown"]
    assert history_source(Run("P", a / "predictions_predicted_.json", None)) == "predicted"
    caption = chart_caption(read_gold(gold), [Group(r.label, (r,)) for r in runs])
    assert caption == ("Gold: gold.json (convqa_cn, 2 dialogues, 4 turns). "
                       "History: A gold; B predicted; C unknown.")
    same = chart_caption(read_gold(gold), [Group("A", (runs[0],)), Group("A2", (runs[0],))])
    assert same.endswith("History: gold.")


def test_learning_curves_identical_runs_and_objectives_apart(tmp_path):
    from tensorboardX import SummaryWriter

    groups = []
    for name, args in (("抽取", {"max_answer_length": 30}), ("same", {"max_answer_length": 30}),
                       ("s2s", {"label_smoothing": 0.1})):
        folder = tmp_path / name
        writer = SummaryWriter(logdir=str(folder / "runs"))
        for step in range(1, 21):
            writer.add_scalar("loss", 2.0 / step, step)  # identical curves
            writer.add_scalar("lr", 1e-4, step)
        writer.close()
        (folder / "args.json").write_text(json.dumps(args))
        groups.append(Group(name, (Run(name, folder / "predictions_.json", folder / "runs"),)))
    curves = learning_curves(groups, io.StringIO())
    assert list(curves["抽取"][0]) == ["loss (extractive)", "learning rate"]
    assert list(curves["s2s"][0]) == ["loss (seq2seq)", "learning rate"]
    with plots.chart_style(io.StringIO()) as label:
        fig = plots.draw_curves(curves, "Gold: g.json", label)
        panels = {ax.get_title(): ax for ax in fig.axes if ax.get_visible()}
    assert list(panels) == [plots.LOSS_PANELS["loss (extractive)"],
                            plots.LOSS_PANELS["loss (seq2seq)"], "learning rate", "dev F1"]
    assert all(ax.get_ylabel() for ax in panels.values())
    extractive = panels[plots.LOSS_PANELS["loss (extractive)"]].lines
    assert len(extractive) == 2  # the seq2seq run is not on the extractive panel
    styles = {(line.get_linestyle(), line.get_marker()) for line in extractive}
    assert len(styles) == 2  # identical curves, told apart by line style and marker
    assert extractive[0].get_markevery() != extractive[1].get_markevery()


def test_plots_written_as_png(tmp_path):
    plots.plot_domains(tmp_path / "d.png", domain_rows(), "Gold: g.json", io.StringIO())
    plots.plot_curves(tmp_path / "c.png", {"a": [{"loss": [(1, 1.0), (2, 0.5)]}]}, "Gold: g.json")
    for name in ("d.png", "c.png"):
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG")


def test_cjk_font_registered_from_a_read_only_home(tmp_path):
    # A fresh process whose HOME cannot be written (as root, whom chmod does not stop,
    # os.access says so, which is what matplotlib asks): the packaged font file is used
    # where it lies, registered in memory; nothing is copied into matplotlib's own fonts.
    import os
    import subprocess
    import sys

    import matplotlib

    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o555)
    code = (f"import os; real = os.access; home = {str(home)!r}\n"
            "os.access = lambda p, m, *a, **k: (False if str(p).startswith(home) and m & os.W_OK"
            " else real(p, m, *a, **k))\n"
            "from evaluate import plots; import io; from matplotlib import font_manager as fm\n"
            "with plots.chart_style(io.StringIO()) as label:\n"
            "    name = plots.cjk_font()\n"
            "    print(name, label('历史'), fm.findfont(fm.FontProperties(family=name)), sep='|')")
    env = {k: v for k, v in os.environ.items() if k not in ("MPLCONFIGDIR", "XDG_CONFIG_HOME",
                                                             "XDG_CACHE_HOME")}
    result = subprocess.run([sys.executable, "-c", code], env={**env, "HOME": str(home)},
                            capture_output=True, text=True, cwd=Path(plots.__file__).parents[1])
    home.chmod(0o755)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().split("|") == ["Noto Sans CJK SC", "历史",
                                                str(plots.packaged_font_file())]
    mpl_fonts = Path(matplotlib.get_data_path(), "fonts", "ttf")
    assert not list(mpl_fonts.glob("*CJK*"))
