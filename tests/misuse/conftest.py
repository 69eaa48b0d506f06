"""Shared by the misuse tests: a tiny model, a feature cache, one finished run of each
entry script (built once for the folder) and the one-line-error check."""
from __future__ import annotations

import random
import shutil

import pytest

import run_coqa
import run_seq2seq
from tests.conftest import REPO

SAMPLE = REPO / "data" / "sample"


@pytest.fixture(scope="package")
def model(tiny_bert):
    return tiny_bert


@pytest.fixture(scope="package")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("misuse_cache")


def coqa_argv(model, out, cache, *extra):
    return ["--model_type", "bert", "--model_name_or_path", str(model), "--data_dir", str(SAMPLE),
            "--train_file", "train.json", "--predict_file", "dev.json", "--max_seq_length", "128",
            "--doc_stride", "48", "--per_gpu_train_batch_size", "8", "--learning_rate", "1e-3",
            "--warmup_steps", "1", "--output_dir", str(out), "--cache_dir", str(cache), *extra]


def s2s_argv(model, out, cache, *extra):
    return ["--train_file", str(SAMPLE / "train.json"), "--output_dir", str(out),
            "--model_name_or_path", str(model), "--max_source_seq_length", "128",
            "--max_target_seq_length", "16", "--per_gpu_train_batch_size", "4",
            "--learning_rate", "1e-3", "--cached_train_features_file", str(cache), *extra]


@pytest.fixture(scope="package")
def coqa_run(model, cache, tmp_path_factory):
    """A finished run_coqa.py run with checkpoint-2 and checkpoint-4."""
    out = tmp_path_factory.mktemp("coqa_run") / "out"
    assert run_coqa.main(coqa_argv(model, out, cache, "--do_train", "--max_steps", "4",
                                   "--save_steps", "2")) == 0
    return out


@pytest.fixture(scope="package")
def s2s_run(model, cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("s2s_run") / "out"
    assert run_seq2seq.main(s2s_argv(model, out, cache, "--num_training_steps", "4",
                                     "--save_steps", "2")) == 0
    return out


def one_line(capsys, code, *words, exit_code=2):
    err = capsys.readouterr().err
    assert code == exit_code, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def truncate(path, size=1000):
    with open(path, "r+b") as handle:
        handle.truncate(size)


def random_bytes(path, size=5000):
    # Seeded, and never starting with 0x80 (the legacy pickle format's first byte).
    data = bytearray(random.Random(0).randbytes(size))
    data[0] = 0x41
    path.write_bytes(bytes(data))

def with_flags(argv, flags):
    """argv with each flag's value replaced (value None: a switch, added)."""
    argv = list(argv)
    for flag, value in flags.items():
        if value is None:
            argv.append(flag)
        elif flag in argv:
            argv[argv.index(flag) + 1] = value
        else:
            argv += [flag, value]
    return argv
