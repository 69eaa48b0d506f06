"""A read-only data folder (common on clusters): both entry scripts cache their features
under the output folder and say so; an unwritable --cache_dir is one line."""
from __future__ import annotations


import pytest

import run_coqa
import run_seq2seq
from tests.misuse.conftest import SAMPLE, coqa_argv, copy, one_line, s2s_argv
from tests.conftest import make_read_only




def without(argv, flag):
    at = argv.index(flag)
    return argv[:at] + argv[at + 2:]


def test_run_coqa_caches_under_the_output_folder(model, tmp_path, monkeypatch, caplog):
    data = copy(SAMPLE, tmp_path / "data")
    out = tmp_path / "out"
    argv = without(coqa_argv(model, out, tmp_path / "unused", "--do_train", "--max_steps", "1"),
                   "--cache_dir")
    argv[argv.index("--data_dir") + 1] = str(data)
    make_read_only(monkeypatch, data)
    try:
        assert run_coqa.main(argv) == 0
    finally:
        data.chmod(0o755)
    assert len(list((out / "cache").glob("cached_train_*.npz"))) == 1
    assert not list(data.glob("cached_*"))
    assert f"The data folder {data} is not writable" in caplog.text


def test_run_seq2seq_caches_under_the_output_folder(model, tmp_path, monkeypatch, caplog):
    data = copy(SAMPLE, tmp_path / "data")
    out = tmp_path / "out"
    argv = without(s2s_argv(model, out, tmp_path / "unused", "--num_training_steps", "1"),
                   "--cached_train_features_file")
    argv[argv.index("--train_file") + 1] = str(data / "train.json")
    make_read_only(monkeypatch, data)
    try:
        assert run_seq2seq.main(argv) == 0
    finally:
        data.chmod(0o755)
    assert len(list((out / "cache").glob("cached_seq2seq_*.npz"))) == 1
    assert not list(data.glob("cached_*"))
    assert f"The data folder {data} is not writable" in caplog.text


@pytest.mark.parametrize("script", ["run_coqa", "run_seq2seq"])
def test_unwritable_cache_dir_is_one_line(script, model, tmp_path, capsys):
    (tmp_path / "blocker").write_text("")
    cache = tmp_path / "blocker" / "cache"
    if script == "run_coqa":
        code = run_coqa.main(coqa_argv(model, tmp_path / "out", cache, "--do_train",
                                       "--max_steps", "1"))
    else:
        code = run_seq2seq.main(s2s_argv(model, tmp_path / "out", cache,
                                         "--num_training_steps", "1"))
    one_line(capsys, code, str(cache), "not writable")
