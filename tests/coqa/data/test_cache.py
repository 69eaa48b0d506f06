"""The feature cache: keys change with every input, corrupt files are rebuilt."""
from __future__ import annotations

import logging

from coqa.data.cache import cache_key, cache_path, load_or_build, vocab_fingerprint

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
