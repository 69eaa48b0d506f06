"""The old launcher, `python -m torch.distributed.launch`, puts `--local-rank=N` before the
script's own flags (torch < 2.0 spelled it `--local_rank=N`): both entry scripts, and both
programs of run_seq2seq.py, accept either spelling."""
from __future__ import annotations

import subprocess
import sys

import pytest

import run_coqa
import run_seq2seq
from coqa.cli import explicit_dests
from coqa.extractive.arguments import build_parser
from seq2seq.arguments import DECODE, FINE_TUNE, mode_of, parse_mode_args, parser_for
from tests.conftest import REPO

COQA = ["--model_type", "bert", "--model_name_or_path", "m", "--output_dir", "o", "--do_eval"]
FINE_TUNE_ARGS = ["--train_file", "t.json", "--model_name_or_path", "m", "--output_dir", "o"]
DECODE_ARGS = ["--model_path", "m", "--input_file", "i.json", "--output_file", "p.json"]


@pytest.mark.parametrize("spelling", ["--local-rank=1", "--local_rank=1"])
def test_run_coqa_accepts_the_launchers_flag(spelling):
    parser = build_parser()
    argv = [spelling, *COQA]
    assert parser.parse_args(argv).local_rank == 1
    assert "local_rank" in explicit_dests(parser, argv)


@pytest.mark.parametrize("spelling", ["--local-rank=1", "--local_rank=1"])
@pytest.mark.parametrize("mode,args", [(FINE_TUNE, FINE_TUNE_ARGS), (DECODE, DECODE_ARGS),
                                       (DECODE, ["--do_decode", *DECODE_ARGS])])
def test_run_seq2seq_accepts_the_launchers_flag(spelling, mode, args):
    argv = [spelling, *args]
    assert mode_of(argv) == mode  # the flag does not change which program runs
    assert parse_mode_args(mode, argv).local_rank == 1
    assert "local_rank" in explicit_dests(parser_for(mode), argv)


def test_an_unknown_flag_is_still_refused(capsys):
    with pytest.raises(SystemExit) as exited:
        run_seq2seq.main(["--local-rnak=1", *DECODE_ARGS])
    assert exited.value.code == 2
    assert "unrecognized arguments: --local-rnak=1" in capsys.readouterr().err


def test_under_the_old_launcher(tmp_path):
    # Past the parser (which would say "unrecognized arguments: --local-rank=0"), up to
    # the first check of what to do: run_coqa.py's own one-line error, before torch loads.
    done = subprocess.run([sys.executable, "-m", "torch.distributed.launch", "--nproc_per_node",
                           "1", "--master_port", "0", "run_coqa.py", *COQA[:-1]],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    output = done.stdout + done.stderr
    assert "unrecognized arguments" not in output
    assert "nothing to do: give --do_train, --do_eval and/or --do_predict" in output
    assert run_coqa.main(["--local-rank=0", *COQA[:-1]]) == 2
