"""The feature cache: keys change with every input, corrupt files are rebuilt."""
from __future__ import annotations

import errno
import logging
import pickle

import pytest

from coqa.data.cache import cache_key, cache_path, load_or_build, vocab_fingerprint
from coqa.data.errors import UsageError

SETTINGS = {"max_seq_length": 512, "doc_stride": 128, "max_query_length": 64, "history_len": 2}


def test_key_changes_with_each_setting(tmp_path):
    data = tmp_path / "train.json"
    data.write_text("{}", encoding="utf-8")
    vocab = vocab_fingerprint({"[PAD]": 0, "我": 1}, {"do_lower_case": True})
    base = cache_key(SETTINGS, data, vocab)
    assert cache_key(dict(SETTINGS), data, vocab) == base  # deterministic
    for name in SETTINGS:
        assert cache_key({**SETTINGS, name: SETTINGS[name] + 1}, data, vocab) != base, name
    assert cache_key(SETTINGS, data, vocab_fingerprint({"[PAD]": 0, "你": 1},
                                                       {"do_lower_case": True})) != base
    assert cache_key(SETTINGS, data, vocab_fingerprint({"[PAD]": 0, "我": 1},
                                                       {"do_lower_case": False})) != base
    data.write_text("{ }", encoding="utf-8")
    assert cache_key(SETTINGS, data, vocab) != base


def test_build_once_then_load(tmp_path):
    calls = []
    path = cache_path(tmp_path, "train_tiny_64", "abc")

    def build():
        calls.append(1)
        return {"input_ids": [[1, 2, 3]]}

    assert load_or_build(path, build) == {"input_ids": [[1, 2, 3]]}
    assert load_or_build(path, build) == {"input_ids": [[1, 2, 3]]}
    assert len(calls) == 1
    load_or_build(path, build, overwrite=True)
    assert len(calls) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["cached_train_tiny_64_abc.pkl"]


def test_corrupt_file_rebuilt_with_warning(tmp_path, caplog):
    path = cache_path(tmp_path, "dev", "k")
    path.write_bytes(b"not a pickle")
    with caplog.at_level(logging.WARNING):
        assert load_or_build(path, lambda: [42]) == [42]
    assert "corrupt" in caplog.text
    assert load_or_build(path, lambda: [0]) == [42]


def test_file_copied_from_other_settings_is_rebuilt(tmp_path, caplog):
    other = cache_path(tmp_path / "a", "train", "1111")
    load_or_build(other, lambda: ["features of other settings"])
    path = cache_path(tmp_path, "train", "2222")
    path.write_bytes(other.read_bytes())  # copied under the expected name
    with caplog.at_level(logging.WARNING):
        assert load_or_build(path, lambda: ["fresh"]) == ["fresh"]
    assert "its key is 1111, expected 2222" in caplog.text
    assert load_or_build(path, lambda: ["again"]) == ["fresh"]  # the rebuilt file is reused


def test_wrong_pickled_object_is_rebuilt_with_warning(tmp_path, caplog):
    path = cache_path(tmp_path, "dev", "k")
    path.write_bytes(pickle.dumps({"not": "features"}))
    with caplog.at_level(logging.WARNING):
        assert load_or_build(path, lambda: [7]) == [7]
    assert str(path) in caplog.text and "not keyed features" in caplog.text


def test_disk_full_while_saving_names_the_file(tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(pickle, "dump", full)
    path = cache_path(tmp_path, "dev", "k")
    with pytest.raises(UsageError, match="disk is full") as err:
        load_or_build(path, lambda: [1])
    assert str(path) in str(err.value)
    assert list(tmp_path.iterdir()) == []  # no temporary file left
