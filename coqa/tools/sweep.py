"""`python -m coqa.tools.sweep --seeds 1 2 3 --out DIR -- COMMAND...`: run one experiment
once per seed, each into its own folder, and resume an unfinished sweep.

    python -m coqa.tools.sweep --seeds 1 2 3 4 5 --out sweeps/bilstm -- \\
        run_coqa.py --model_name_or_path bert-base-chinese --middle bilstm --do_train --do_eval ...

What lands in DIR:
  seed-N/       the run's folder: run_coqa.py's and run_seq2seq.py fine-tuning's --output_dir,
                `{out}` in any command
  seed-N.log    the run's stdout and stderr (each command it ran starts with a `$ ...` line)
  sweep.json    {"command", "seeds", "runs": {"N": {"status", "returncode", "seconds",
                "output_dir", "log"}}}, rewritten atomically at every change; status is
                running, done (every command exited 0), failed or interrupted; with --gpus
                each run also has "gpus", the CUDA_VISIBLE_DEVICES it ran with ("2", "0,1")
  attempts/     the folder and log of an earlier attempt of a seed that runs again

The command: run_coqa.py and run_seq2seq.py fine-tuning get `--seed N --output_dir DIR/seed-N`
(replacing those flags where the command gives them); run_seq2seq.py decoding (--do_decode)
gets `--seed N` and must write into the seed folder through `{out}`. `{seed}`, `{out}`
(the seed folder, an absolute path) and `{gpu}` (with --gpus) are replaced in every argument. A
command that starts with a .py file runs with this Python; run_coqa.py / run_seq2seq.py given
as a bare name that is not a file here are the repository's scripts, also after a launcher
(`torchrun --nproc_per_node 2 run_coqa.py ...`). Any other command runs as given.

`--then` inside the command starts a second command for the same seed, run once the first
exited 0, e.g. fine-tune then decode:

    python -m coqa.tools.sweep --seeds 1 2 3 --out sweeps/s2s -- \\
        run_seq2seq.py --train_file train.json --model_name_or_path unilm ... \\
        --then run_seq2seq.py --do_decode --do_eval --model_path {out} --input_file dev.json \\
        --output_file {out}/predictions_dev.json

Seeds run one after another, or --parallel N at a time; --gpus 0,1,2,3 gives each running
seed a GPU no other running seed holds (CUDA_VISIBLE_DEVICES, `{gpu}` in the command), --gpus
0,1:2,3 two GPUs each. A failed seed is reported with the last lines of its log and the
sweep goes on. The same call again skips the seeds that are done and runs the others (from
scratch: an earlier attempt moves to DIR/attempts/); new seeds are added. Ctrl-C sends
SIGINT to the running commands, SIGTERM after --grace seconds (SIGKILL after as many again;
a second Ctrl-C skips the wait), marks them interrupted and exits 130 (143 on SIGTERM).
Exit 0 when every seed is done, 1 when one failed, 2 on bad input.
"""
from __future__ import annotations

import argparse
import json
import os
import queue
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from coqa.data.errors import ConvQAError, UsageError
from coqa.data.files import write_json
from coqa.tools.sweep_commands import Step, parse_command
from coqa.tools.sweep_slots import (GpuSlots, check_gpu_placeholder, parse_gpus,
                                    resolve_parallel, gpu_label)

STATE_FILE = "sweep.json"
STATUSES = ("running", "done", "failed", "interrupted")
TAIL_LINES = 12  # of a failed seed's log, printed under its line
WAIT_S = 0.1  # how often the main loop looks at a Ctrl-C while runs go on


class SweepParser(argparse.ArgumentParser):
    """Errors in one line (`prog: error: ...`), exit 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> SweepParser:
    parser = SweepParser(
        prog="python -m coqa.tools.sweep",
        usage="python -m coqa.tools.sweep --seeds N [N ...] --out DIR [--parallel N] "
              "[--gpus LIST] [--force] -- COMMAND... [--then COMMAND...]",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", nargs="+", type=int, metavar="N",
                        help="the seeds to run (added to those DIR/sweep.json already holds); "
                             "optional when resuming")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="the sweep folder (made if missing)")
    parser.add_argument("--parallel", type=int, metavar="N",
                        help="run at most N seeds at a time (default 1, with --gpus one per "
                             "slot). Give each run its share of the cores "
                             "(OMP_NUM_THREADS, run_coqa.py --threads): with N > 1 and "
                             "OMP_NUM_THREADS unset, the runs get OMP_NUM_THREADS = "
                             "max(1, cores // N)")
    parser.add_argument("--gpus", metavar="LIST",
                        help="give each running seed GPUs no other running seed has, as "
                             "CUDA_VISIBLE_DEVICES and as {gpu} in the command: 0,1,2,3 is "
                             "four slots of one GPU, 0,1:2,3 two slots of two GPUs (`:` between "
                             "slots). CUDA's indices (CUDA_DEVICE_ORDER=PCI_BUS_ID for "
                             "nvidia-smi's) or GPU-/MIG- UUIDs; they replace the environment's "
                             "CUDA_VISIBLE_DEVICES. --parallel may not exceed the slots. "
                             "Without --gpus the environment's CUDA_VISIBLE_DEVICES passes through")
    parser.add_argument("--force", action="store_true",
                        help="accept a command other than the one DIR/sweep.json records: "
                             "it is recorded instead, and every seed, done ones included, runs "
                             "again with it (their earlier results move to DIR/attempts/)")
    parser.add_argument("--grace", type=float, default=10.0, metavar="SECONDS",
                        help="on Ctrl-C, how long the runs get to stop after SIGINT before "
                             "SIGTERM (and again before SIGKILL)")
    return parser


# ---------------------------------------------------------------------------------------------
# The sweep folder.

def _run_entry(status: str, seed: int, returncode: Optional[int] = None,
               seconds: float = 0.0, gpus: Optional[str] = None) -> dict:
    entry = {"status": status, "returncode": returncode, "seconds": round(seconds, 3),
             "output_dir": f"seed-{seed}", "log": f"seed-{seed}.log"}
    if gpus is not None:  # only with --gpus: without, the runs saw whatever the sweep saw
        entry["gpus"] = gpus
    return entry


def read_state(path: Path) -> dict:
    """DIR/sweep.json, checked; a file that is not what this tool writes is one line."""
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise UsageError(f"{path}: cannot read it ({err}); move it away to start a new sweep "
                         "in this folder") from None
    runs = state.get("runs") if isinstance(state, dict) else None
    valid = (isinstance(runs, dict)
             and isinstance(state.get("command"), list) and state["command"]
             and all(isinstance(t, str) for t in state["command"])
             and isinstance(state.get("seeds"), list)
             and all(isinstance(s, int) and not isinstance(s, bool) for s in state["seeds"])
             and all(isinstance(r, dict) and r.get("status") in STATUSES for r in runs.values()))
    if not valid:
        raise UsageError(f"{path}: not a sweep record (command, seeds, runs with a status "
                         f"each); move it away to start a new sweep in this folder")
    return state


def _lock(folder: Path):
    """An exclusive lock on DIR/.sweep.lock for this process's life: one sweep per folder."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        return None
    handle = open(folder / ".sweep.lock", "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise UsageError(f"{folder}: another sweep is running in this folder") from None
    return handle


def _move_earlier_attempt(folder: Path, seed: int) -> List[str]:
    """Move seed-N/ (unless empty) and seed-N.log to attempts/seed-N.K/ and .K.log; the
    names they got."""
    run, log = folder / f"seed-{seed}", folder / f"seed-{seed}.log"
    has_run = run.is_dir() and any(run.iterdir())
    if not has_run and not log.exists():
        return []
    attempts = folder / "attempts"
    attempts.mkdir(exist_ok=True)
    k = 1
    while (attempts / f"seed-{seed}.{k}").exists() or (attempts / f"seed-{seed}.{k}.log").exists():
        k += 1
    moved = []
    if has_run:
        run.rename(attempts / f"seed-{seed}.{k}")
        moved.append(f"seed-{seed}.{k}/")
    if log.exists():
        log.rename(attempts / f"seed-{seed}.{k}.log")
        moved.append(f"seed-{seed}.{k}.log")
    return moved


def _tail(path: Path, lines: int = TAIL_LINES) -> List[str]:
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - 64 * 1024))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    # Progress bars rewrite their line with \r: splitlines keeps only the last state apart.
    return [line for line in text.splitlines() if line.strip()][-lines:]


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


# ---------------------------------------------------------------------------------------------
# Running.

class Sweep:
    """Runs seeds in worker threads (each waits on its commands); the main thread alone
    writes sweep.json and prints, from the events the workers send."""

    def __init__(self, folder: Path, shown: str, state: dict, steps: List[Step],
                 parallel: int, grace: float, env: Dict[str, str], gpus: Sequence[str] = ()):
        self.folder, self.shown, self.state = folder, shown, state
        self.steps, self.parallel, self.grace, self.env = steps, parallel, grace, env
        self.slots = GpuSlots(gpus)
        self.events: "queue.Queue[tuple]" = queue.Queue()
        self.lock = threading.Lock()  # guards procs, and starting a command against stopping
        self.procs: Dict[int, subprocess.Popen] = {}
        self.stop_signal = 0  # the first SIGINT / SIGTERM received
        self.signals = 0  # how many were received: each escalates the shutdown

    def save(self) -> None:
        write_json(self.folder / STATE_FILE, self.state)

    def log_shown(self, seed: int) -> str:
        return os.path.join(self.shown, f"seed-{seed}.log")

    def on_signal(self, signum, frame) -> None:
        # Only flags: the main loop acts on them (a handler must not take the lock).
        self.stop_signal = self.stop_signal or signum
        self.signals += 1

    # A worker thread: one seed's commands, one after another.
    def run_seed(self, seed: int, gpu: Optional[str]) -> None:
        started, returncode, status = time.monotonic(), None, "done"
        folder = self.folder / f"seed-{seed}"
        env = self.env if gpu is None else {**self.env, "CUDA_VISIBLE_DEVICES": gpu}
        with open(self.folder / f"seed-{seed}.log", "ab") as log:
            for step in self.steps:
                argv = step.argv(seed, folder, gpu or "")
                log.write(f"$ {shlex.join(argv)}\n".encode("utf-8"))
                log.flush()
                with self.lock:
                    if self.stop_signal:
                        status = "interrupted"
                        break
                    try:  # own session: Ctrl-C reaches the sweep alone, which passes it on
                        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                                stderr=subprocess.STDOUT, env=env,
                                                start_new_session=True)
                    except OSError as err:
                        log.write(f"sweep: cannot start it: {err}\n".encode("utf-8"))
                        status = "failed"
                        break
                    self.procs[seed] = proc
                returncode = proc.wait()
                with self.lock:
                    del self.procs[seed]
                if returncode != 0:
                    status = "interrupted" if self.stop_signal else "failed"
                    break
        self.events.put((seed, status, returncode, time.monotonic() - started))

    def start(self, seed: int) -> None:
        moved = _move_earlier_attempt(self.folder, seed)
        if moved:
            print(f"seed {seed}: earlier attempt moved to "
                  f"{os.path.join(self.shown, 'attempts', '')} ({', '.join(moved)})", flush=True)
        (self.folder / f"seed-{seed}").mkdir(exist_ok=True)
        gpu = self.slots.take(seed)
        self.state["runs"][str(seed)] = _run_entry("running", seed, gpus=gpu)
        self.save()
        on = f" on {gpu_label(gpu)}" if gpu is not None else ""
        print(f"seed {seed}: started{on}, log {self.log_shown(seed)}", flush=True)
        threading.Thread(target=self.run_seed, args=(seed, gpu), daemon=True).start()

    def finish(self, seed: int, status: str, returncode: Optional[int], seconds: float) -> None:
        gpu = self.slots.give_back(seed)  # the worker's last command has exited
        self.state["runs"][str(seed)] = _run_entry(status, seed, returncode, seconds, gpu)
        self.save()
        verb = "interrupted after" if status == "interrupted" else f"{status} in"
        print(f"seed {seed}: {verb} {seconds:.1f} s (exit {returncode}), "
              f"log {self.log_shown(seed)}", flush=True)
        if status == "failed":
            for line in _tail(self.folder / f"seed-{seed}.log"):
                print(f"    | {line}", flush=True)

    def signal_runs(self, signum: int) -> None:
        with self.lock:
            procs = list(self.procs.values())
        for proc in procs:
            try:
                os.killpg(proc.pid, signum)  # the process group: a launcher's workers too
            except (ProcessLookupError, PermissionError):
                pass

    def run(self, seeds: Sequence[int]) -> Dict[int, str]:
        """Run `seeds`, at most `parallel` at a time; their final status."""
        pending, running, outcome = deque(seeds), set(), {}
        stage, deadline = 0, None  # shutdown: 1 SIGINT sent, 2 SIGTERM, 3 SIGKILL
        while running or (pending and not self.stop_signal):
            while pending and len(running) < self.parallel and not self.stop_signal:
                seed = pending.popleft()
                self.start(seed)
                running.add(seed)
            if self.stop_signal:
                due = deadline is not None and time.monotonic() >= deadline
                if stage < 3 and (self.signals > stage or due):
                    stage += 1
                    if stage == 1:
                        print(f"{signal.Signals(self.stop_signal).name}: stopping the running "
                              f"seeds ({', '.join(map(str, sorted(running))) or 'none'})",
                              flush=True)
                    self.signal_runs((signal.SIGINT, signal.SIGTERM, signal.SIGKILL)[stage - 1])
                    self.signals = max(self.signals, stage)
                    deadline = time.monotonic() + self.grace
            try:
                seed, status, returncode, seconds = self.events.get(timeout=WAIT_S)
            except queue.Empty:
                continue
            running.discard(seed)
            outcome[seed] = status
            self.finish(seed, status, returncode, seconds)
        return outcome


def _prepare(args: argparse.Namespace,
             command: Optional[List[str]]) -> Tuple[Path, dict, List[int]]:
    """The sweep folder, its (new or resumed) record, and the seeds to run."""
    if args.grace < 0:
        raise UsageError(f"--grace must be 0 or more (got {args.grace})")
    given = args.seeds or []
    for i, seed in enumerate(given):
        if seed < 0:
            raise UsageError(f"--seeds: a seed is 0 or more (got {seed})")
        if seed in given[:i]:
            raise UsageError(f"--seeds: seed {seed} is given twice")
    folder = Path(args.out).absolute()  # {out} and --output_dir: the same from any cwd
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--out {args.out}: a file, not a folder")
    record = folder / STATE_FILE
    if record.exists():
        state = read_state(record)
        if command is None:
            command = state["command"]
        elif command != state["command"]:
            if not args.force:
                recorded = shlex.join(state["command"])
                raise UsageError(f"{record} holds another command ({recorded}): "
                                 "give the same one to resume, another --out for a new sweep, or "
                                 "--force to run every seed again with this one")
            state = {"command": command, "seeds": state["seeds"], "runs": {}}
        state["seeds"] += [seed for seed in given if seed not in state["seeds"]]
    else:
        if command is None:
            raise UsageError("no command after --: give the command to run for each seed, e.g. "
                             "-- run_coqa.py ARGS...")
        if not given:
            raise UsageError(f"--seeds is required to start a sweep ({record} does not exist)")
        state = {"command": command, "seeds": list(given), "runs": {}}
    return folder, state, state["seeds"]


def main(argv: Optional[Sequence[str]] = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # before the runs start (then Ctrl-C is handled in Sweep.run)
        print("error: interrupted (Ctrl-C)", file=sys.stderr)
        return 130


def _main(argv: Optional[Sequence[str]]) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" in argv:
        at = argv.index("--")
        own, command = argv[:at], argv[at + 1:]
    else:
        own, command = argv, None
    args = build_parser().parse_args(own)
    try:
        gpus = parse_gpus(args.gpus) if args.gpus is not None else ()
        parallel = resolve_parallel(args.parallel, gpus)
        folder, state, seeds = _prepare(args, command)
        steps = parse_command(state["command"])
        check_gpu_placeholder(state["command"], gpus)
        folder.mkdir(parents=True, exist_ok=True)
        lock = _lock(folder)
    except ConvQAError as err:
        print(f"error: {err.one_line()}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"error: --out {args.out}: {err.strerror or err}", file=sys.stderr)
        return 2
    try:
        return _sweep(args, folder, state, seeds, steps, parallel, gpus)
    except ConvQAError as err:  # sweep.json could not be written
        print(f"error: {err.one_line()}", file=sys.stderr)
        return 2
    finally:
        if lock is not None:
            lock.close()


def _sweep(args, folder: Path, state: dict, seeds: List[int], steps: List[Step],
           parallel: int, gpus: Tuple[str, ...]) -> int:
    env = dict(os.environ)
    threads = ""
    if parallel > 1 and "OMP_NUM_THREADS" not in env:
        env["OMP_NUM_THREADS"] = str(max(1, _cores() // parallel))
        threads = f", OMP_NUM_THREADS={env['OMP_NUM_THREADS']} each"
    if gpus:
        threads += f", on GPU slots {' '.join(gpus)}"
    done_before = [s for s in seeds if state["runs"].get(str(s), {}).get("status") == "done"]
    to_run = [s for s in seeds if s not in done_before]
    print(f"sweep {args.out}: {len(to_run)} of {len(seeds)} seeds to run, "
          f"{parallel} at a time{threads}", flush=True)
    for seed in done_before:
        print(f"seed {seed}: done before, skipped", flush=True)
    sweep = Sweep(folder, args.out, state, steps, parallel, args.grace, env, gpus)
    sweep.save()
    handlers = {signum: signal.signal(signum, sweep.on_signal)
                for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        outcome = sweep.run(to_run)
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)

    def seeds_with(status):
        return [s for s in seeds if outcome.get(s) == status]

    def listed(found):
        if not found:
            return ""
        return f" (seed{'s' if len(found) > 1 else ''} {' '.join(map(str, found))})"
    failed, interrupted = seeds_with("failed"), seeds_with("interrupted")
    parts = [f"{len(seeds_with('done'))} done", f"{len(failed)} failed{listed(failed)}",
             f"{len(done_before)} skipped (done before)"]
    if sweep.stop_signal:
        not_started = [s for s in to_run if s not in outcome]
        parts.append(f"{len(interrupted)} interrupted{listed(interrupted)}, {len(not_started)} "
                     "not started: the same command again resumes them")
    print(f"sweep {args.out}: " + ", ".join(parts), flush=True)
    if sweep.stop_signal:
        return 128 + sweep.stop_signal
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
