"""`python -m evaluate.compare`: the paired bootstrap on hand-computed cases, the tables,
CSV and PNGs end to end, learning curves from tensorboardX event files."""
from __future__ import annotations

import csv
import itertools
import json
import os
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")

from evaluate.bootstrap import (BootstrapConfig, paired_intervals,  # noqa: E402
                                percentile_interval, resample_counts, resampled_means)
from evaluate.compare import main  # noqa: E402
from evaluate.events import read_scalars  # noqa: E402


def all_resamples(dialogues):
    """Counts matrix of every ordered resample of `dialogues` dialogues (each equally likely)."""
    rows = []
    for draw in itertools.product(range(dialogues), repeat=dialogues):
        rows.append(np.bincount(draw, minlength=dialogues))
    return np.array(rows)


def test_bootstrap_interval_enumerated_three_dialogues():
    # One turn each; run 0 gets all wrong, run 1 gets dialogue 0 right. Of the 27 ordered
    # resamples, k copies of dialogue 0 (k ~ Binomial(3, 1/3)) give a difference k/3:
    # 8 resamples 0, 12 x 1/3, 6 x 2/3, 1 x 1. numpy's linear percentiles on the 27 sorted
    # values: 2.5% at position 0.025 * 26 = 0.65, between two zeros: 0; 97.5% at 25.35,
    # between sorted[25] = 2/3 and sorted[26] = 1: 2/3 + 0.35 / 3 = 0.78333.
    sums = np.array([[0.0, 1.0], [0.0, 0.0], [0.0, 0.0]])
    means = resampled_means(sums, np.ones(3), all_resamples(3))
    assert sorted(means[:, 1] - means[:, 0]) == pytest.approx(
        [0] * 8 + [1 / 3] * 12 + [2 / 3] * 6 + [1])
    low, high = percentile_interval(means - means[:, :1], 0.95)
    assert low[1] == pytest.approx(0.0) and high[1] == pytest.approx(2 / 3 + 0.35 / 3)
    assert low[0] == high[0] == 0.0  # the baseline against itself


def test_bootstrap_is_turn_weighted():
    # Dialogue 0 has 3 turns, all right for run 1 only; dialogue 1 has 1 turn, both wrong.
    # Resamples (0,0): 6/6 = 1; (0,1) and (1,0): 3/4; (1,1): 0/2 = 0 (a mean of the
    # dialogues' means would give 1/2 for the mixed ones). Sorted [0, .75, .75, 1]:
    # 2.5% at 0.075 -> 0.075 * 0.75 = 0.05625; 97.5% at 2.925 -> .75 + .925 * .25 = 0.98125.
    sums = np.array([[0.0, 3.0], [0.0, 0.0]])
    means = resampled_means(sums, np.array([3.0, 1.0]), all_resamples(2))
    assert sorted(means[:, 1]) == [0.0, 0.75, 0.75, 1.0]
    low, high = percentile_interval(means - means[:, :1], 0.95)
    assert (low[1], high[1]) == (pytest.approx(0.05625), pytest.approx(0.98125))


def test_resample_counts_and_progress():
    counts = resample_counts(np.random.default_rng(3), 7, 50)
    assert counts.shape == (50, 7) and (counts.sum(axis=1) == 7).all()
    assert (counts == resample_counts(np.random.default_rng(3), 7, 50)).all()  # seeded
    scores = np.zeros((2, 4, 2))  # 2 runs, 4 turns, (em, f1)
    done = []
    intervals = paired_intervals(scores, np.array([0, 0, 1, 2]),
                                 [("all", [0, 1, 2, 3]), ("none", []), ("d0", [0, 1])],
                                 BootstrapConfig(resamples=120, chunk=50), done.append)
    assert done == [50, 50, 20] * 2  # two groups with turns, in chunks
    assert set(intervals) == {"all", "d0"}
    assert (intervals["all"][0] == 0).all() and (intervals["all"][1] == 0).all()


GOLD = {"data": [
    {"Source": "历史", "Passage": "p", "id": 1, "Questions": [{"turn_id": 1}],
     "Answers": [{"input_text": "唐朝", "answer_type": "extractive"}]},
    {"Source": "历史", "Passage": "p", "id": 2, "Questions": [{"turn_id": 1}],
     "Answers": [{"input_text": "长安", "answer_type": "extractive"}]}]}


def write(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    return path


def write_events(runs_dir: Path, stamp: int, points) -> None:
    """A tensorboardX event file of (step, loss, lr, dev F1 or None), renamed so that its
    time stamp (which orders resumed files) is `stamp`."""
    from tensorboardX import SummaryWriter
    before = set(runs_dir.glob("*")) if runs_dir.is_dir() else set()
    writer = SummaryWriter(logdir=str(runs_dir))
    for step, loss, lr, f1 in points:
        writer.add_scalar("loss", loss, step)
        writer.add_scalar("lr", lr, step)
        if f1 is not None:
            writer.add_scalar("eval/f1", f1, step)
    writer.close()
    (new,) = set(runs_dir.glob("*")) - before
    new.rename(runs_dir / f"events.out.tfevents.{stamp}.host")


@pytest.fixture
def runs(tmp_path):
    """gold.json; run A (a folder) answers both turns wrong; run B (a file) gets
    dialogue 1 right. Run A has a resumed training log."""
    gold = write(tmp_path / "gold.json", GOLD)
    a_dir = tmp_path / "run_a"
    write(a_dir / "predictions_.json", [{"id": 1, "turn_id": 1, "answer": "宋"},
                                        {"id": 2, "turn_id": 1, "answer": "宋"}])
    write(a_dir / "predictions_checkpoint-4.json", [])  # not the final one: ignored
    write_events(a_dir / "runs", 1000, [(s, 2.0 / s, 1e-4 * s, 20.0 if s == 4 else None)
                                        for s in range(1, 7)])
    write_events(a_dir / "runs", 2000, [(s, 5.0, 1e-4, 30.0 if s == 8 else None)
                                        for s in range(5, 9)])
    b_file = write(tmp_path / "b.json", [{"id": 1, "turn_id": 1, "answer": "唐朝"},
                                         {"id": 2, "turn_id": 1, "answer": "宋"}])
    return gold, a_dir, b_file


def test_resumed_event_files_merge(runs):
    scalars = read_scalars(runs[1] / "runs")
    # The resumed file starts at step 5: it replaces the first file's steps 5 and 6.
    assert [step for step, _ in scalars["loss"]] == list(range(1, 9))
    assert [value for _, value in scalars["loss"]] == pytest.approx(
        [2.0, 1.0, 2 / 3, 0.5, 5.0, 5.0, 5.0, 5.0])
    assert scalars["eval/f1"] == [(4, 20.0), (8, 30.0)]


def test_compare_end_to_end_forced_interval(runs, tmp_path, capsys):
    gold, a_dir, b_file = runs
    out = tmp_path / "report"
    assert main([str(gold), str(a_dir), f"B={b_file}", "--out", str(out), "--seed", "5"]) == 0
    stdout, stderr = capsys.readouterr()
    # Per dialogue, B - A is +1 on dialogue 1 and 0 on dialogue 2. Resampling 2 dialogues:
    # both dialogue 1 (p 1/4) +1, one of each (1/2) +1/2, both dialogue 2 (1/4) 0. With
    # 1,000 resamples the 2.5% and 97.5% percentiles are 0 and 1 unless fewer than 26
    # resamples hit an end (probability < 1e-80): the interval is forced to [0, 100].
    # The difference itself: B 50 EM / 50 F1, A 0 / 0: +50.0.
    assert "| overall | B | 2 | 50.0 | 50.0 | +50.0 [+0.0, +100.0] | +50.0 [+0.0, +100.0] |" \
        in stdout.splitlines()
    assert "| 历史 | run_a | 2 | 0.0 | 0.0 |  |  |" in stdout.splitlines()
    # A domain without turns is left out of the table, and said so under it.
    assert not any(line.startswith("| 儿童故事 |") for line in stdout.splitlines())
    assert "No turns in this gold file: 儿童故事" in stdout
    assert "| span | B | 2 | 50.0 | 50.0 | +50.0 [+0.0, +100.0] |" in stdout
    assert "| 1 | B | 2 | 50.0 | 50.0 |" in stdout  # turn position 1
    assert (out / "compare.md").read_text(encoding="utf-8") == stdout
    with open(out / "compare.csv", encoding="utf-8", newline="") as handle:
        rows = {(r["table"], r["row"], r["run"]): r for r in csv.DictReader(handle)}
    overall = rows[("domain", "overall", "B")]
    assert (overall["d_f1"], overall["d_f1_low"], overall["d_f1_high"]) == ("50.0", "0.0", "100.0")
    assert rows[("domain", "overall", "run_a")]["d_f1"] == ""
    for name in ("domains.png", "learning_curves.png"):
        data = (out / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 10_000, name
    assert f"wrote {out / 'learning_curves.png'}" in stderr


def test_compare_is_seeded_and_names_missing_predictions(runs, capsys):
    gold, a_dir, b_file = runs
    write(b_file, [{"id": 1, "turn_id": 1, "answer": "唐朝"}])  # dialogue 2 missing
    reports = []
    for _ in range(2):
        assert main([str(gold), str(a_dir), str(b_file), "--resamples", "50"]) == 0
        reports.append(capsys.readouterr())
    assert reports[0].out == reports[1].out
    assert reports[0].err.splitlines() == [
        "b: 1 missing prediction(s) scored 0, first for 2 and turn_id: 1"]
    assert "| b | `" in reports[0].out and "| 1 |" in reports[0].out  # missing column


@pytest.mark.parametrize("make, message", [
    (lambda tmp: [str(tmp / "nope")], "nope: no such file or folder"),
    (lambda tmp: [str(write(tmp / "two" / "predictions_a.json", [])),
                  str(write(tmp / "two" / "predictions_b.json", []).parent)],
     "cannot tell which prediction file to score (predictions_a.json, predictions_b.json)"),
    (lambda tmp: [str(write(tmp / "bad.json", {"id": 1}))], 'not a JSON list of'),
])
def test_compare_bad_input_one_line_exit_2(runs, tmp_path, capsys, make, message):
    assert main([str(runs[0]), *make(tmp_path)]) == 2
    stdout, stderr = capsys.readouterr()
    assert stdout == "" and len(stderr.splitlines()) == 1, stderr
    assert stderr.startswith("error: ") and message in stderr


@pytest.mark.parametrize("flags, message", [
    (["--resamples", "0"], "--resamples: must be at least 1, not 0"),
    (["--confidence", "1.5"], "--confidence: must be between 0 and 1, not 1.5"),
    (["--seed", "-5"], "--seed: must be 0 or more, not -5"),  # was numpy's traceback
])
def test_compare_bad_flags_exit_2(runs, capsys, flags, message):
    with pytest.raises(SystemExit) as caught:
        main([str(runs[0]), str(runs[2]), *flags])
    assert caught.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.skipif(not os.environ.get("EVAL_KEEP_PNG"), reason="set EVAL_KEEP_PNG=DIR to "
                    "keep the charts for a look")
def test_keep_charts_for_a_look(runs):
    gold, a_dir, b_file = runs
    assert main([str(gold), str(a_dir), str(b_file), "--out", os.environ["EVAL_KEEP_PNG"]]) == 0
