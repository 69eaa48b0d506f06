"""Sweep folders in `python -m evaluate.compare`: the seed-and-dialogue bootstrap on
hand-checked cases, mean / std / min / max over seeds from hand-made prediction files,
the seeds left out and why, markdown and CSV."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")

from evaluate.bootstrap import BootstrapConfig, paired_intervals, seed_intervals  # noqa: E402
from evaluate.compare import main  # noqa: E402
from evaluate.sweeps import is_sweep, read_sweep  # noqa: E402

GOLD = {"data": [
    {"Source": "历史", "Passage": "p", "id": 1, "Questions": [{"turn_id": 1}],
     "Answers": [{"input_text": "唐朝", "answer_type": "extractive"}]},
    {"Source": "历史", "Passage": "p", "id": 2, "Questions": [{"turn_id": 1}],
     "Answers": [{"input_text": "长安", "answer_type": "extractive"}]}]}
RIGHT = {1: "唐朝", 2: "长安"}


def write(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    return path


def answers(right):
    """Predictions answering the dialogues in `right` correctly and the others wrong."""
    return [{"id": d, "turn_id": 1, "answer": RIGHT[d] if d in right else "宋"} for d in (1, 2)]


def make_sweep(folder: Path, seeds, statuses=None, record=True) -> Path:
    """A sweep folder: seeds {seed: dialogues answered right, or None for no predictions}."""
    runs = {}
    for seed, right in seeds.items():
        (folder / f"seed-{seed}").mkdir(parents=True, exist_ok=True)
        if right is not None:
            write(folder / f"seed-{seed}" / "predictions_.json", answers(right))
        status = (statuses or {}).get(seed, "done")
        runs[str(seed)] = {"status": status, "returncode": 0 if status == "done" else 1,
                           "seconds": 1.0, "output_dir": f"seed-{seed}", "log": f"seed-{seed}.log"}
    if record:
        write(folder / "sweep.json", {"command": ["python", "run_coqa.py"],
                                      "seeds": list(seeds), "runs": runs})
    return folder


def test_one_seed_per_group_is_the_paired_dialogue_bootstrap():
    rng = np.random.default_rng(1)
    scores = rng.random((3, 40, 2))                      # 3 runs, 40 turns, (em, f1)
    dialogue_of_turn = np.repeat(np.arange(10), 4)
    rows = [("all", list(range(40))), ("some", [0, 1, 5, 17, 33]), ("none", [])]
    config = BootstrapConfig(resamples=300, seed=7, chunk=70)
    # A group of one seed draws no seed, so the generator hands out the same numbers.
    expected = paired_intervals(scores, dialogue_of_turn, rows, config)
    got = seed_intervals([s[None] for s in scores], dialogue_of_turn, rows, config)
    assert set(got) == set(expected) == {"all", "some"}
    for name in expected:
        for end in (0, 1):
            assert np.array_equal(got[name][end], expected[name][end])


def test_identical_groups_give_zero_interval():
    # Two groups holding the same three seeds, each seed with the same scores: any draw of
    # seeds and dialogues gives both groups the same mean, so every difference is 0.
    one = np.random.default_rng(2).random((1, 12, 2))
    group = np.repeat(one, 3, axis=0)
    intervals = seed_intervals([group, group.copy()], np.arange(12) // 3, [("all", range(12))],
                               BootstrapConfig(resamples=200))
    assert (intervals["all"][0] == 0).all() and (intervals["all"][1] == 0).all()


def test_identical_groups_of_different_seeds_spread_around_zero():
    # The same sweep twice: seeds are drawn for each group on its own, so the seed spread
    # shows in the interval (by design: another seed draw could give another mean).
    group = np.random.default_rng(3).random((3, 30, 2))
    low, high = seed_intervals([group, group], np.arange(30) // 3, [("all", range(30))],
                               BootstrapConfig(resamples=2000))["all"]
    assert (low[1] < 0).all() and (high[1] > 0).all()
    assert low[1] == pytest.approx(-high[1], abs=0.02)  # symmetric: same group


def test_seed_draws_hand_checked():
    # One dialogue of one turn. Baseline: one seed scoring 0. Group: seeds scoring 0 and 1.
    # The dialogue draw is always the same; the two seeds drawn with replacement give
    # means 0 (p 1/4), 1/2 (1/2) and 1 (1/4). With 1,000 resamples the 2.5% and 97.5%
    # percentiles are 0 and 1 unless fewer than 26 resamples hit an end (p < 1e-80).
    baseline = np.zeros((1, 1, 2))
    group = np.array([[[0.0, 0.0]], [[1.0, 1.0]]])
    low, high = seed_intervals([baseline, group], np.array([0]), [("all", [0])],
                               BootstrapConfig(resamples=1000, seed=4))["all"]
    assert (low[1] == 0).all() and (high[1] == 1).all()
    assert (low[0] == 0).all() and (high[0] == 0).all()


@pytest.fixture
def setup(tmp_path):
    gold = write(tmp_path / "gold.json", GOLD)
    single = write(tmp_path / "single" / "predictions_.json", answers(()))
    # Seeds: 1 all right (100), 2 dialogue 1 right (50), 3 none (0): mean 50, std 50.
    # Seed 4 failed; seed 5 finished without a prediction file.
    sweep = make_sweep(tmp_path / "sweep", {1: (1, 2), 2: (1,), 3: (), 4: (1, 2), 5: None},
                       statuses={4: "failed"})
    return gold, single.parent, sweep


def test_sweep_mean_std_min_max_and_left_out_seeds(setup, tmp_path, capsys):
    gold, single, sweep = setup
    out = tmp_path / "report"
    assert main([str(gold), f"base={single}", f"扫={sweep}", "--out", str(out),
                 "--resamples", "200", "--no-progress"]) == 0
    stdout, stderr = capsys.readouterr()
    warnings = [line for line in stderr.splitlines() if "left out" in line and "seed" in line]
    assert warnings[0] == "扫: seed 4 left out: status failed, return code 1"
    assert warnings[1].startswith("扫: seed 5 left out: status done but ")
    assert "no predictions_*.json" in warnings[1] and len(warnings) == 2
    lines = stdout.splitlines()
    # F1 per seed 100, 50, 0 (each dialogue one turn): mean 50, sample std 50.
    assert "| 扫 | 1, 2, 3 | `" in stdout
    row = next(line for line in lines if line.startswith("| overall | 扫 |"))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[2:8] == ["3", "2", "50.0 ± 50.0", "[0.0, 100.0]", "50.0 ± 50.0", "[0.0, 100.0]"]
    assert cells[9].startswith("+50.0 [")
    base = next(line for line in lines if line.startswith("| overall | base |"))
    assert "| 1 | 2 | 0.0 ± n/a | [0.0, 0.0] |" in base
    with open(out / "compare.csv", encoding="utf-8", newline="") as handle:
        rows = {(r["table"], r["row"], r["run"]): r for r in csv.DictReader(handle)}
    overall = rows[("domain", "overall", "扫")]
    assert (overall["seeds"], overall["f1"], overall["f1_std"], overall["f1_min"],
            overall["f1_max"]) == ("3", "50.0", "50.0", "0.0", "100.0")
    assert rows[("domain", "overall", "base")]["f1_std"] == ""
    assert (out / "domains.png").read_bytes().startswith(b"\x89PNG")


def test_sweep_without_record_and_repeated_labels(tmp_path, capsys):
    gold = write(tmp_path / "gold.json", GOLD)
    sweep = make_sweep(tmp_path / "loose", {1: (1,), 2: (1, 2), 3: None}, record=False)
    assert is_sweep(sweep) and not is_sweep(tmp_path)
    found = read_sweep(sweep)
    assert [seed for seed, _ in found.usable] == ["1", "2"] and found.note
    assert main([str(gold), str(sweep), str(sweep), "--resamples", "50", "--no-progress"]) == 0
    stdout, stderr = capsys.readouterr()
    assert "loose: seed 3 left out: " in stderr and "no sweep.json" in stderr
    assert "| overall | loose#2 | 2 | 2 | 75.0 ± 35.4 | [50.0, 100.0] |" in stdout


def test_sweep_without_usable_seed_is_one_line(tmp_path, capsys):
    gold = write(tmp_path / "gold.json", GOLD)
    sweep = make_sweep(tmp_path / "dead", {1: None, 2: (1,)}, statuses={2: "interrupted"})
    assert main([str(gold), str(sweep)]) == 2
    stdout, stderr = capsys.readouterr()
    assert stdout == "" and len(stderr.splitlines()) == 1, stderr
    assert stderr.startswith(f"error: {sweep}: no usable seed")
    assert "seed 2: status interrupted" in stderr


def test_single_runs_keep_their_report(setup, capsys):
    gold, single, _ = setup
    assert main([str(gold), str(single), str(single), "--resamples", "50", "--no-progress"]) == 0
    stdout = capsys.readouterr().out
    assert "| domain | run | turns | EM | F1 | ΔEM | ΔF1 |" in stdout
    assert "seeds" not in stdout
