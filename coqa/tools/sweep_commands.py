"""The command of a seed sweep (`coqa.tools.sweep`): each `--then`-separated command
resolved to its program (a script here or the repository's run_coqa.py / run_seq2seq.py,
or a launcher such as torchrun before one), the flags the sweep sets for each seed
(`--seed`, `--output_dir`), and the `{seed}` / `{out}` / `{gpu}` placeholders."""
from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from coqa.data.errors import UsageError

REPO = Path(__file__).resolve().parents[2]
OUR_SCRIPTS = ("run_coqa.py", "run_seq2seq.py")
PLACEHOLDER = re.compile(r"\{(seed|out|gpu)\}")

def _flag_names(argv: Sequence[str]) -> set:
    return {token.split("=", 1)[0] for token in argv if token.startswith("-")}


def seq2seq_decodes(argv: Sequence[str]) -> bool:
    """run_seq2seq.py's choice between its programs (seq2seq.arguments.mode_of, restated here
    to import no torch-side module; a test keeps the two equal): --do_decode, or --model_path
    and --input_file without --train_file, decode."""
    given = _flag_names(argv[:argv.index("--")] if "--" in argv else argv)
    return "--do_decode" in given or ({"--model_path", "--input_file"} <= given
                                      and "--train_file" not in given)


def _without_flag(argv: Sequence[str], flag: str) -> List[str]:
    """argv without `flag VALUE` and `flag=VALUE`."""
    kept, skip = [], False
    for token in argv:
        if skip:
            skip = False
        elif token == flag:
            skip = True
        elif not token.startswith(flag + "="):
            kept.append(token)
    return kept


@dataclass(frozen=True)
class Step:
    """One command of a seed: `program` (the resolved start of the command line, up to and
    with the script) then `args`; `sets` the flags the sweep gives it."""
    given: Tuple[str, ...]
    program: Tuple[str, ...]
    args: Tuple[str, ...]
    sets: Tuple[str, ...]  # of "--seed", "--output_dir"

    def argv(self, seed: int, folder: Path, gpu: str = "") -> List[str]:
        """The command line for `seed`, run into `folder` on the GPU slot `gpu`."""
        args = list(self.args)
        for flag in self.sets:
            args = _without_flag(args, flag)
        # Appended, so they win over any abbreviation argparse would accept earlier.
        if "--seed" in self.sets:
            args += ["--seed", str(seed)]
        if "--output_dir" in self.sets:
            args += ["--output_dir", str(folder)]
        values = {"seed": str(seed), "out": str(folder), "gpu": gpu}
        # One pass, so that a folder or GPU text holding "{seed}" is not replaced again.
        return [PLACEHOLDER.sub(lambda m: values[m.group(1)], token)
                for token in (*self.program, *args)]


def _script_path(token: str) -> Optional[str]:
    """The script `token` names: a file here as given, else a bare run_coqa.py /
    run_seq2seq.py is the repository's; None when neither."""
    if Path(token).is_file():
        return token
    if token in OUR_SCRIPTS and (REPO / token).is_file():
        return str(REPO / token)
    return None


def parse_step(given: Sequence[str]) -> Step:
    """How one command runs: its program resolved, which flags the sweep sets."""
    first = given[0]
    if first.endswith(".py"):
        script = _script_path(first)
        if script is None:
            raise UsageError(f"{first}: no such file in {os.getcwd()}"
                             + (f" (nor in {REPO})" if first in OUR_SCRIPTS else ""))
        program, script_at = [sys.executable, script], 0
    else:
        if shutil.which(first) is None:
            raise UsageError(f"{first}: no such command (not on PATH, not an executable file)")
        program, script_at = [first], None
        for i, token in enumerate(given[1:], start=1):  # a launcher: torchrun ... run_coqa.py
            if Path(token).name in OUR_SCRIPTS:
                program += list(given[1:i]) + [_script_path(token) or token]
                script_at = i
                break
        else:
            return Step(tuple(given), tuple(given), (), ())
    args = tuple(given[script_at + 1:])
    name = Path(given[script_at]).name
    if name == "run_coqa.py" or (name == "run_seq2seq.py" and not seq2seq_decodes(args)):
        sets = ("--seed", "--output_dir")
    elif name == "run_seq2seq.py":
        sets = ("--seed",)
    else:
        sets = ()
    return Step(tuple(given), tuple(program), args, sets)


def parse_command(command: Sequence[str]) -> List[Step]:
    """The commands between `--then`s, each checked to depend on the seed."""
    parts: List[List[str]] = [[]]
    for token in command:
        if token == "--then":
            parts.append([])
        else:
            parts[-1].append(token)
    if any(not part for part in parts):
        raise UsageError("--then needs a command on both sides" if len(parts) > 1 else
                         "no command after --: give the command to run for each seed, e.g. "
                         "-- run_coqa.py ARGS...")
    steps = [parse_step(part) for part in parts]
    for step in steps:
        if "--output_dir" in step.sets or any("{out}" in token or "{seed}" in token
                                              for token in step.given):
            continue
        if Path(step.program[-1]).name == "run_seq2seq.py":  # decoding: --seed only
            raise UsageError(f"`{shlex.join(step.given)}` decodes, and every seed would write the "
                             "same --output_file: write into the seed folder with {out}, e.g. "
                             "--output_file {out}/predictions_dev.json")
        raise UsageError(f"`{shlex.join(step.given)}` would run the same for every seed: "
                         "put {seed} or {out} (the seed folder) in it")
    return steps
