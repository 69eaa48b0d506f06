"""python -m coqa.tools.sweep --gpus: each running seed gets GPU ids no other running seed
holds, as CUDA_VISIBLE_DEVICES and `{gpu}`. No GPU is needed: the fake run (a Python
one-liner) only writes what it saw into its seed folder, sleeping so that runs overlap."""
from __future__ import annotations

import itertools
import json
import sys

import pytest

from coqa.tools import sweep
from coqa.tools.sweep_slots import GpuSlots, parse_gpus

# argv: seed, folder, the {gpu} text, seconds to sleep. The text must not hold a placeholder.
FAKE = ("import json, os, sys, time; start = time.time(); time.sleep(float(sys.argv[4])); "
        "json.dump(dict(seed=int(sys.argv[1]), cuda=os.environ.get('CUDA_VISIBLE_DEVICES'), "
        "gpu=sys.argv[3], start=start, end=time.time()), "
        "open(os.path.join(sys.argv[2], 'run.json'), 'w'))")


def fake(sleep=0.3, gpu="{gpu}"):
    return [sys.executable, "-c", FAKE, "{seed}", "{out}", gpu, str(sleep)]


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    return tmp_path


def runs(folder, seeds):
    return [json.loads((folder / f"seed-{s}" / "run.json").read_text()) for s in seeds]


def record(folder):
    return json.loads((folder / "sweep.json").read_text())["runs"]


def overlapping(runs_):
    return [(a, b) for a, b in itertools.combinations(runs_, 2)
            if a["start"] < b["end"] and b["start"] < a["end"]]


def test_each_running_seed_has_a_gpu_of_its_own(here, capsys):
    assert sweep.main(["--seeds", "1", "2", "3", "4", "--gpus", "0,1", "--out", "sw", "--",
                       *fake()]) == 0
    got = runs(here / "sw", (1, 2, 3, 4))
    assert all(run["cuda"] in ("0", "1") and run["gpu"] == run["cuda"] for run in got)
    pairs = overlapping(got)
    assert pairs  # two at a time by default: one per GPU
    assert all(a["cuda"] != b["cuda"] for a, b in pairs)
    assert {s: r["gpus"] for s, r in record(here / "sw").items()} == {
        str(run["seed"]): run["cuda"] for run in got}
    out = capsys.readouterr().out
    assert "4 of 4 seeds to run, 2 at a time, on GPU slots 0 1" in out
    assert "seed 1: started on GPU 0, log sw/seed-1.log" in out
    assert "seed 2: started on GPU 1, log sw/seed-2.log" in out


def test_slots_of_several_gpus(here, capsys):
    assert sweep.main(["--seeds", "1", "2", "3", "--gpus", "0,1:2,3", "--out", "sw", "--",
                       *fake(gpu="port-2950{gpu}")]) == 0
    got = runs(here / "sw", (1, 2, 3))
    assert {run["cuda"] for run in got} == {"0,1", "2,3"}
    assert all(run["gpu"] == f"port-2950{run['cuda']}" for run in got)
    assert all(a["cuda"] != b["cuda"] for a, b in overlapping(got))
    assert record(here / "sw")["1"]["gpus"] == "0,1"
    assert "seed 1: started on GPUs 0,1, log" in capsys.readouterr().out


def test_without_gpus_the_environment_passes_through(here, monkeypatch, capsys):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "7")
    assert sweep.main(["--seeds", "1", "--out", "sw", "--", *fake(0, gpu="x")]) == 0
    assert runs(here / "sw", (1,))[0]["cuda"] == "7"
    assert "gpus" not in record(here / "sw")["1"]
    assert "seed 1: started, log sw/seed-1.log" in capsys.readouterr().out
    # --gpus replaces it.
    assert sweep.main(["--seeds", "1", "--gpus", "3", "--force", "--out", "sw", "--",
                       *fake(0)]) == 0
    assert runs(here / "sw", (1,))[0]["cuda"] == "3"


@pytest.mark.parametrize("argv, message", [
    (["--parallel", "3", "--gpus", "0,1"], "--parallel 3 is more than the 2 GPU slots of --gpus"),
    (["--parallel", "0", "--gpus", "0,1"], "--parallel must be 1 or more (got 0)"),
    (["--gpus", "0,,1"], "--gpus 0,,1: '' is not a GPU id"),
    (["--gpus", "0:1,a"], "'a' is not a GPU id"),
    (["--gpus", "0,1:1,2"], "--gpus 0,1:1,2: GPU 1 is given twice"),
    ([], "the command uses {gpu}: give --gpus"),
])
def test_bad_gpus_are_one_line(here, capsys, argv, message):
    assert sweep.main(["--seeds", "1", *argv, "--out", "sw", "--", *fake(0)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (here / "sw" / "sweep.json").exists()


def test_parallel_below_the_slots(here):
    assert sweep.main(["--seeds", "1", "2", "--parallel", "1", "--gpus", "0,1", "--out", "sw",
                       "--", *fake(0)]) == 0
    assert [run["cuda"] for run in runs(here / "sw", (1, 2))] == ["0", "0"]


def test_gpus_syntax_and_slot_reuse():
    assert parse_gpus("0,1,2,3") == ("0", "1", "2", "3")
    assert parse_gpus("0,1:2,3") == ("0,1", "2,3")
    assert parse_gpus("GPU-8f2a-11") == ("GPU-8f2a-11",)
    slots = GpuSlots(parse_gpus("4,5,6"))
    assert [slots.take(seed) for seed in (1, 2, 3)] == ["4", "5", "6"]
    assert slots.give_back(2) == "5" and slots.take(4) == "5"  # the freed slot, reused
    assert GpuSlots(()).take(1) is None
