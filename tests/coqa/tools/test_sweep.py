"""python -m coqa.tools.sweep: one run per seed into DIR/seed-N/, with a fake command (a
Python script written here that records its flags, can sleep, and fails for chosen seeds),
so that the sweeps take seconds. Through main() in-process where the sweep's own process
does not matter; as a subprocess for Ctrl-C and from a scratch folder. The overhead per
run is measured by scripts/bench_sweep.py, not here."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from coqa.data.errors import UsageError
from coqa.tools import sweep, sweep_commands
from seq2seq.arguments import DECODE, mode_of
from tests.conftest import REPO

# The fake run: writes run.json (its flags, pid, start and end) into --output_dir, sleeps,
# exits 1 for the seeds in $FAIL_SEEDS; with --ignore_sigint it ignores SIGINT; with
# $FAKE_NO_SLEEP it does not sleep (the same command, quick).
FAKE = '''
import argparse, json, os, signal, sys, time
parser = argparse.ArgumentParser()
parser.add_argument("--seed", type=int, required=True)
parser.add_argument("--output_dir", required=True)
parser.add_argument("--sleep", type=float, default=0.0)
parser.add_argument("--ignore_sigint", action="store_true")
parser.add_argument("--note", default="")
args = parser.parse_args()
if args.ignore_sigint:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
os.makedirs(args.output_dir, exist_ok=True)
record = {"seed": args.seed, "output_dir": args.output_dir, "note": args.note, "argv": sys.argv[1:],
          "pid": os.getpid(), "start": time.time(), "omp": os.environ.get("OMP_NUM_THREADS")}
path = os.path.join(args.output_dir, "run.json")
with open(path, "w") as out:
    json.dump(record, out)
print(f"fake run: seed {args.seed}", flush=True)
time.sleep(0 if os.environ.get("FAKE_NO_SLEEP") else args.sleep)
record["end"] = time.time()
with open(path, "w") as out:
    json.dump(record, out)
if str(args.seed) in os.environ.get("FAIL_SEEDS", "").split():
    print(f"fake run: seed {args.seed} fails on purpose", flush=True)
    sys.exit(1)
'''


@pytest.fixture
def here(tmp_path, monkeypatch):
    """A scratch working folder holding the fake command as run_coqa.py (a file here named
    so wins over the repository's script) and as fake.py."""
    (tmp_path / "run_coqa.py").write_text(FAKE)
    (tmp_path / "fake.py").write_text(FAKE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FAIL_SEEDS", raising=False)
    return tmp_path


def record(folder, seed):
    return json.loads((folder / f"seed-{seed}" / "run.json").read_text())


def state(folder):
    return json.loads((folder / "sweep.json").read_text())


def statuses(folder):
    return {seed: run["status"] for seed, run in state(folder)["runs"].items()}


@pytest.mark.parametrize("given", [["--seed", "5", "--output_dir", "elsewhere"],
                                   ["--seed=5", "--output_dir=elsewhere"],
                                   []])
def test_seed_and_output_dir_are_set_replacing_the_commands(here, capsys, given):
    command = ["run_coqa.py", *given, "--note", "kept"]
    assert sweep.main(["--seeds", "1", "2", "--out", "sw", "--", *command]) == 0
    for seed in (1, 2):
        run = record(here / "sw", seed)
        assert run["seed"] == seed and run["output_dir"] == str(here / "sw" / f"seed-{seed}")
        assert run["note"] == "kept" and "elsewhere" not in run["argv"] and "5" not in run["argv"]
    assert not (here / "elsewhere").exists()
    assert state(here / "sw") == {
        "command": command, "seeds": [1, 2],
        "runs": {str(s): {"status": "done", "returncode": 0, "seconds": pytest.approx(
            state(here / "sw")["runs"][str(s)]["seconds"]), "output_dir": f"seed-{s}",
            "log": f"seed-{s}.log"} for s in (1, 2)}}
    out = capsys.readouterr().out
    assert "seed 2: started, log sw/seed-2.log" in out
    assert "seed 2: done in " in out and " s (exit 0), log sw/seed-2.log" in out
    assert out.strip().splitlines()[-1] == "sweep sw: 2 done, 0 failed, 0 skipped (done before)"
    log = (here / "sw" / "seed-1.log").read_text()
    assert log.startswith(f"$ {sys.executable} run_coqa.py ") and "fake run: seed 1" in log


def test_placeholders_in_any_command(here):
    # A command of our own: nothing is added, {seed} and {out} are replaced anywhere.
    command = [sys.executable, "fake.py", "--seed", "{seed}", "--output_dir={out}/inner",
               "--note", "seed-{seed}-in-{out}", "--then", "fake.py", "--seed", "{seed}",
               "--output_dir", "{out}/second"]
    assert sweep.main(["--seeds", "3", "--out", "sw", "--", *command]) == 0
    folder = here / "sw" / "seed-3"
    first = json.loads((folder / "inner" / "run.json").read_text())
    assert first["seed"] == 3 and first["note"] == f"seed-3-in-{folder}"
    assert json.loads((folder / "second" / "run.json").read_text())["seed"] == 3
    assert (here / "sw" / "seed-3.log").read_text().count("$ ") == 2


def test_then_runs_only_after_success(here, monkeypatch):
    monkeypatch.setenv("FAIL_SEEDS", "2")
    command = ["run_coqa.py", "--then", "fake.py", "--seed", "{seed}", "--output_dir", "{out}/then"]
    assert sweep.main(["--seeds", "1", "2", "--out", "sw", "--", *command]) == 1
    assert (here / "sw" / "seed-1" / "then" / "run.json").exists()
    assert not (here / "sw" / "seed-2" / "then").exists()


def test_a_failed_seed_is_reported_and_the_sweep_goes_on_then_resumes(here, monkeypatch, capsys):
    monkeypatch.setenv("FAIL_SEEDS", "2")
    argv = ["--seeds", "1", "2", "3", "--out", "sw", "--", "run_coqa.py"]
    assert sweep.main(argv) == 1
    out = capsys.readouterr().out
    assert "seed 2: failed in " in out and "(exit 1), log sw/seed-2.log" in out
    assert "    | fake run: seed 2 fails on purpose" in out  # the log's last lines
    assert out.strip().splitlines()[-1] == ("sweep sw: 2 done, 1 failed (seed 2), "
                                            "0 skipped (done before)")
    assert statuses(here / "sw") == {"1": "done", "2": "failed", "3": "done"}
    assert state(here / "sw")["runs"]["2"]["returncode"] == 1
    started_1 = record(here / "sw", 1)["start"]

    # The same call again: done seeds skipped, the failed one runs again, a new one is added.
    monkeypatch.delenv("FAIL_SEEDS")
    assert sweep.main(["--seeds", "1", "2", "3", "4", *argv[4:]]) == 0
    out = capsys.readouterr().out
    assert "seed 1: done before, skipped" in out and "seed 3: done before, skipped" in out
    assert "seed 2: earlier attempt moved to sw/attempts/ (seed-2.1/, seed-2.1.log)" in out
    assert out.strip().splitlines()[-1] == "sweep sw: 2 done, 0 failed, 2 skipped (done before)"
    assert statuses(here / "sw") == {"1": "done", "2": "done", "3": "done", "4": "done"}
    assert state(here / "sw")["seeds"] == [1, 2, 3, 4]
    assert record(here / "sw", 1)["start"] == started_1  # not run again
    assert "fails on purpose" in (here / "sw" / "attempts" / "seed-2.1.log").read_text()

    # Without a command, a call resumes the recorded one; nothing is left to do.
    assert sweep.main(["--out", "sw"]) == 0
    assert "0 of 4 seeds to run" in capsys.readouterr().out


def test_another_command_is_refused_unless_force(here, capsys):
    assert sweep.main(["--seeds", "1", "--out", "sw", "--", "run_coqa.py"]) == 0
    capsys.readouterr()
    assert sweep.main(["--seeds", "1", "--out", "sw", "--", "run_coqa.py", "--note", "x"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds another command (run_coqa.py)" in err[0] and "--force" in err[0]
    assert sweep.main(["--force", "--seeds", "1", "--out", "sw", "--", "run_coqa.py",
                       "--note", "x"]) == 0
    assert record(here / "sw", 1)["note"] == "x"
    assert state(here / "sw")["command"] == ["run_coqa.py", "--note", "x"]
    assert (here / "sw" / "attempts" / "seed-1.1" / "run.json").exists()


@pytest.mark.parametrize("argv, message", [
    (["--seeds", "1", "--out", "sw"], "no command after --"),
    (["--seeds", "1", "--out", "sw", "--"], "no command after --"),
    (["--seeds", "1", "--out", "a_file", "--", "run_coqa.py"],
     "--out a_file: a file, not a folder"),
    (["--seeds", "1", "2", "1", "--out", "sw", "--", "run_coqa.py"], "seed 1 is given twice"),
    (["--seeds", "1", "--parallel", "0", "--out", "sw", "--", "run_coqa.py"],
     "--parallel must be 1 or more (got 0)"),
    (["--out", "sw", "--", "run_coqa.py"], "--seeds is required"),
    (["--seeds", "1", "--out", "sw", "--", "missing.py"], "missing.py: no such file"),
    (["--seeds", "1", "--out", "sw", "--", "no-such-program-here"], "no such command"),
    (["--seeds", "1", "--out", "sw", "--", "run_coqa.py", "--then"], "--then needs a command"),
    (["--seeds", "1", "--out", "sw", "--", "fake.py", "--seed", "1"], "put {seed} or {out}"),
    (["--seeds", "1", "--out", "sw", "--", "run_seq2seq.py", "--do_decode",
      "--output_file", "p.json"],
     "write into the seed folder with {out}"),
    (["--seeds", "x", "--out", "sw", "--", "run_coqa.py"], "invalid int value"),
])
def test_bad_input_is_one_line(here, capsys, argv, message):
    (here / "a_file").write_text("")
    try:
        code = sweep.main(argv)
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err
    assert not (here / "sw" / "sweep.json").exists()


@pytest.mark.parametrize("content", [
    "{not json", '{"command": [], "seeds": [1], "runs": {}}',
    '{"command": ["a"], "seeds": [1], "runs": {"1": {"status": "?"}}}'])
def test_unreadable_sweep_json_is_one_line(here, capsys, content):
    (here / "sw").mkdir()
    (here / "sw" / "sweep.json").write_text(content)
    assert sweep.main(["--seeds", "1", "--out", "sw", "--", "run_coqa.py"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{here / 'sw' / 'sweep.json'}: " in err[0]
    assert "move it away" in err[0]


def test_parallel_runs_at_most_n_at_once(here, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert sweep.main(["--seeds", "1", "2", "3", "--parallel", "2", "--out", "sw", "--",
                       "run_coqa.py", "--sleep", "1.5"]) == 0
    runs = [record(here / "sw", seed) for seed in (1, 2, 3)]
    assert runs[0]["start"] < runs[1]["end"] and runs[1]["start"] < runs[0]["end"]  # overlap
    for run in runs:  # never three at once
        assert sum(other["start"] <= run["start"] < other["end"] for other in runs) <= 2
    cores = len(os.sched_getaffinity(0))
    assert {run["omp"] for run in runs} == {str(max(1, cores // 2))}


def test_omp_threads_given_are_kept(here, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert sweep.main(["--seeds", "1", "--parallel", "4", "--out", "sw", "--", "run_coqa.py"]) == 0
    assert record(here / "sw", 1)["omp"] == "3"


def test_command_lines_of_our_scripts(here, monkeypatch):
    (here / "run_coqa.py").unlink()  # a bare name not here: the repository's script
    (here / "bin").mkdir()
    (here / "bin" / "torchrun").write_text("#!/bin/sh\n")
    (here / "bin" / "torchrun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{here / 'bin'}{os.pathsep}{os.environ['PATH']}")
    step = sweep_commands.parse_step(["run_coqa.py", "--seed", "5", "--do_train", "--output_dir=o",
                             "--seed=6"])
    assert step.argv(7, here / "f") == [sys.executable, str(REPO / "run_coqa.py"), "--do_train",
                                        "--seed", "7", "--output_dir", str(here / "f")]
    launched = sweep_commands.parse_step(["torchrun", "--nproc_per_node", "2", "run_coqa.py", "--seed", "1"])
    assert launched.argv(3, here / "f") == ["torchrun", "--nproc_per_node", "2",
                                            str(REPO / "run_coqa.py"), "--seed", "3",
                                            "--output_dir", str(here / "f")]
    fine_tune = sweep_commands.parse_step(["run_seq2seq.py", "--train_file", "t.json", "--output_dir", "x"])
    assert fine_tune.sets == ("--seed", "--output_dir")
    decode = sweep_commands.parse_step(["run_seq2seq.py", "--do_decode", "--model_path", "{out}",
                               "--output_file", "{out}/p.json"])
    assert decode.sets == ("--seed",)
    assert decode.argv(2, here / "f")[2:] == ["--do_decode", "--model_path", str(here / "f"),
                                             "--output_file", f"{here / 'f'}/p.json", "--seed", "2"]
    # A decode writing to a file of its own per seed through {seed} is fine too; not without.
    assert sweep_commands.parse_command(["run_seq2seq.py", "--do_decode", "--output_file", "p{seed}.json"])
    with pytest.raises(UsageError, match="decodes, and every seed would write the same"):
        sweep_commands.parse_command(["run_seq2seq.py", "--do_decode", "--output_file", "p.json"])


@pytest.mark.parametrize("argv", [
    ["--do_decode"], ["--model_path", "m", "--input_file", "i"],
    ["--model_path", "m", "--input_file", "i", "--train_file", "t"], ["--train_file", "t"],
    ["--model_path=m", "--input_file=i"], ["--do_train", "--do_decode"], ["--model_path", "m"],
    ["--train_file", "t", "--", "--do_decode"],
])
def test_decoding_is_told_as_run_seq2seq_tells_it(argv):
    assert sweep_commands.seq2seq_decodes(argv) == (mode_of(argv) == DECODE)


def run_sweep(argv, cwd, **env):
    return subprocess.Popen([sys.executable, "-m", "coqa.tools.sweep", *argv], cwd=cwd,
                            env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1",
                                 **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_ctrl_c_stops_the_runs_and_a_second_call_finishes(here):
    # Seed 1 stops on SIGINT; seed 2 ignores it and gets SIGTERM after the grace period.
    command = ["fake.py", "--seed", "{seed}", "--output_dir", "{out}", "--sleep", "60",
               "--note", "{seed}"]
    (here / "fake.py").write_text(FAKE.replace("if args.ignore_sigint:", "if args.seed == 2:"))
    proc = run_sweep(["--seeds", "1", "2", "3", "--parallel", "2", "--grace", "1", "--out", "sw",
                      "--", *command], here)
    deadline = time.monotonic() + 60
    while not all((here / "sw" / f"seed-{s}" / "run.json").exists() for s in (1, 2)):
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    pids = [record(here / "sw", s)["pid"] for s in (1, 2)]
    interrupted_at = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, (out, err)
    assert time.monotonic() - interrupted_at < 10
    assert all(gone(pid) for pid in pids)
    runs = state(here / "sw")["runs"]
    assert {s: r["status"] for s, r in runs.items()} == {"1": "interrupted", "2": "interrupted"}
    assert runs["2"]["returncode"] == -signal.SIGTERM
    assert "SIGINT: stopping the running seeds (1, 2)" in out
    assert "1 not started: the same command again resumes them" in out

    # The same command again (its runs now quick): the interrupted seeds and the one never
    # started run, and the sweep ends with all three done.
    again = run_sweep(["--seeds", "1", "2", "3", "--out", "sw", "--", *command], here,
                      FAKE_NO_SLEEP="1")
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, (out, err)
    assert statuses(here / "sw") == {"1": "done", "2": "done", "3": "done"}
    assert "earlier attempt moved" in out and "skipped" in out


def test_two_seeds_of_run_coqa_from_a_scratch_folder(tmp_path):
    """The real script, by its bare name from a folder outside the repository: 2 training
    steps of a tiny random BERT per seed, each seed's run in its own folder."""
    from tests.conftest import write_tiny_model

    sample = REPO / "data" / "sample"
    model = write_tiny_model(tmp_path / "tiny", [sample / "train.json", sample / "dev.json"])
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    command = ["run_coqa.py", "--model_type", "bert", "--model_name_or_path", str(model),
               "--do_train", "--do_eval", "--data_dir", str(sample), "--train_file", "train.json",
               "--predict_file", "dev.json", "--max_seq_length", "128", "--doc_stride", "48",
               "--per_gpu_train_batch_size", "8", "--per_gpu_eval_batch_size", "64",
               "--learning_rate", "1e-3", "--warmup_steps", "1", "--max_steps", "2",
               "--cache_dir", str(tmp_path / "cache"), "--seed", "42", "--output_dir", "ignored"]
    proc = run_sweep(["--seeds", "1", "2", "--out", "sweeps/none", "--", *command], scratch)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, (out, err)
    folder = scratch / "sweeps" / "none"
    for seed in (1, 2):
        run = folder / f"seed-{seed}"
        predictions = json.loads((run / "predictions_.json").read_text(encoding="utf-8"))
        assert len(predictions) == 84  # the sample dev turns
        args = json.loads((run / "args.json").read_text(encoding="utf-8"))
        assert args["seed"] == seed and args["output_dir"] == str(run)
    assert not (scratch / "ignored").exists()
    assert statuses(folder) == {"1": "done", "2": "done"}
