"""The feature cache: keys change with every input, corrupt files are rebuilt, nothing in
a cache file is ever executed, and a read-only data folder falls back to the output folder."""
from __future__ import annotations

import errno
import json
import logging
import os
import pickle
import zipfile
from dataclasses import dataclass
from typing import List

import numpy as np
import pytest

from coqa.data import cache as cache_module
from coqa.data.cache import (CACHE_FORMAT_VERSION, HEADER_NAME, cache_key, cache_path,
                             choose_cache_dir, load_or_build, save_cache, vocab_fingerprint)
from coqa.data.errors import UsageError
from tests.conftest import make_read_only

SETTINGS = {"max_seq_length": 512, "doc_stride": 128, "max_query_length": 64, "history_len": 2}


@dataclass
class Rows:
    """The smallest cacheable object: one array and a list of strings."""

    ids: np.ndarray
    names: List[str]

    def to_arrays(self):
        return {"ids": self.ids}, {"names": self.names}

    @classmethod
    def from_arrays(cls, arrays, meta):
        return cls(arrays["ids"], meta["names"])

    def __eq__(self, other):
        return (isinstance(other, Rows) and np.array_equal(self.ids, other.ids)
                and self.ids.dtype == other.ids.dtype and self.names == other.names)


def rows(*values: int) -> Rows:
    return Rows(np.array([values], dtype=np.int32), [f"第{v}" for v in values])


def load(path, build, **kwargs):
    return load_or_build(path, build, Rows.from_arrays, **kwargs)


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
        return rows(1, 2, 3)

    assert load(path, build) == rows(1, 2, 3)
    assert load(path, build) == rows(1, 2, 3)
    assert len(calls) == 1
    load(path, build, overwrite=True)
    assert len(calls) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["cached_train_tiny_64_abc.npz"]


def test_file_is_plain_arrays_and_a_json_header(tmp_path):
    path = cache_path(tmp_path, "dev", "k")
    load(path, lambda: rows(4, 5))
    with np.load(path, allow_pickle=False) as stored:
        assert sorted(stored.files) == sorted(["ids", HEADER_NAME])
        header = json.loads(stored[HEADER_NAME].tobytes().decode("utf-8"))
    assert header["key"] == "k" and header["format"] == CACHE_FORMAT_VERSION
    assert header["meta"] == {"names": ["第4", "第5"]}


def test_corrupt_file_rebuilt_with_warning(tmp_path, caplog):
    path = cache_path(tmp_path, "dev", "k")
    path.write_bytes(b"not an archive")
    with caplog.at_level(logging.WARNING):
        assert load(path, lambda: rows(42)) == rows(42)
    assert "corrupt" in caplog.text
    assert load(path, lambda: rows(0)) == rows(42)


def test_truncated_file_rebuilt_with_warning(tmp_path, caplog):
    path = cache_path(tmp_path, "dev", "k")
    load(path, lambda: rows(1, 2))
    path.write_bytes(path.read_bytes()[:60])
    with caplog.at_level(logging.WARNING):
        assert load(path, lambda: rows(3)) == rows(3)
    assert "corrupt" in caplog.text


def test_file_copied_from_other_settings_is_rebuilt(tmp_path, caplog):
    other = cache_path(tmp_path / "a", "train", "1111")
    load(other, lambda: rows(1))
    path = cache_path(tmp_path, "train", "2222")
    path.write_bytes(other.read_bytes())  # copied under the expected name
    with caplog.at_level(logging.WARNING):
        assert load(path, lambda: rows(2)) == rows(2)
    assert "its key is 1111, expected 2222" in caplog.text
    assert load(path, lambda: rows(3)) == rows(2)  # the rebuilt file is reused


def test_file_of_another_format_version_is_rebuilt(tmp_path, caplog, monkeypatch):
    path = cache_path(tmp_path, "dev", "k")
    monkeypatch.setattr(cache_module, "CACHE_FORMAT_VERSION", CACHE_FORMAT_VERSION - 1)
    load(path, lambda: rows(1))
    monkeypatch.undo()
    with caplog.at_level(logging.WARNING):
        assert load(path, lambda: rows(2)) == rows(2)
    assert f"format {CACHE_FORMAT_VERSION - 1}, expected {CACHE_FORMAT_VERSION}" in caplog.text


def test_file_missing_a_field_is_rebuilt_with_warning(tmp_path, caplog):
    path = cache_path(tmp_path, "dev", "k")
    header = json.dumps({"key": "k", "format": CACHE_FORMAT_VERSION, "meta": {}})
    np.savez(path, **{HEADER_NAME: np.frombuffer(header.encode(), np.uint8)})  # no "ids"
    with caplog.at_level(logging.WARNING):
        assert load(path, lambda: rows(8)) == rows(8)
    assert "corrupt" in caplog.text and "KeyError" in caplog.text


class Payload:
    """Unpickling this creates the marker file: proof that pickled code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("how", ["pickle file", "object array in the npz", "npy file"])
def test_pickled_payload_under_the_expected_name_is_never_executed(how, tmp_path, caplog):
    marker = tmp_path / "marker"
    path = cache_path(tmp_path / "cache", "dev", "k")
    path.parent.mkdir()
    if how == "pickle file":
        path.write_bytes(pickle.dumps({"key": "k", "version": CACHE_FORMAT_VERSION,
                                       "features": Payload(marker)}))
    elif how == "object array in the npz":
        header = json.dumps({"key": "k", "format": CACHE_FORMAT_VERSION, "meta": {"names": []}})
        with zipfile.ZipFile(path, "w") as archive:
            for name, array in {"ids": np.array([Payload(marker)], dtype=object),
                                HEADER_NAME: np.frombuffer(header.encode(), np.uint8)}.items():
                with archive.open(f"{name}.npy", "w") as member:
                    np.lib.format.write_array(member, array, allow_pickle=True)
    else:
        with open(path, "wb") as out:
            np.save(out, np.array([Payload(marker)], dtype=object), allow_pickle=True)
    with caplog.at_level(logging.WARNING):
        assert load(path, lambda: rows(7)) == rows(7)
    assert not marker.exists()
    assert "corrupt" in caplog.text
    assert load(path, lambda: rows(0)) == rows(7)  # rebuilt as a safe file


def test_old_pickled_cache_is_ignored_and_mentioned_once(tmp_path, caplog):
    marker = tmp_path / "marker"
    cache = tmp_path / "cache"
    cache.mkdir()
    old = cache / "cached_dev_tiny_64_0123456789abcdef.pkl"
    old.write_bytes(pickle.dumps({"key": "0123456789abcdef", "version": 2,
                                  "features": Payload(marker)}))
    with caplog.at_level(logging.INFO):
        new = load(cache_path(cache, "dev_tiny_64", "fedcba9876543210"), lambda: rows(1))
    assert new == rows(1)
    assert not marker.exists()
    lines = [r.getMessage() for r in caplog.records if str(old) in r.getMessage()]
    assert len(lines) == 1 and "never loaded" in lines[0]
    assert old.exists()  # left for the user to delete


def test_saving_an_object_array_is_refused(tmp_path):
    with pytest.raises(TypeError, match="JSON header"):
        save_cache(cache_path(tmp_path, "dev", "k"), "k",
                   Rows(np.array([{"a": 1}], dtype=object), []))
    assert list(tmp_path.iterdir()) == []


def test_disk_full_while_saving_names_the_file(tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(np.lib.format, "write_array", full)
    path = cache_path(tmp_path, "dev", "k")
    with pytest.raises(UsageError, match="disk is full") as err:
        load(path, lambda: rows(1))
    assert str(path) in str(err.value)
    assert list(tmp_path.iterdir()) == []  # no temporary file left


def test_cache_files_get_the_umask_mode(tmp_path):
    old = os.umask(0o022)
    try:
        path = cache_path(tmp_path, "dev", "k")
        load(path, lambda: rows(1))
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


# ------------------------------------------------------------------ where the cache goes



def test_cache_goes_next_to_the_data_when_that_folder_is_writable(tmp_path, caplog):
    data = tmp_path / "data" / "dev.json"
    data.parent.mkdir()
    with caplog.at_level(logging.WARNING):
        assert choose_cache_dir(None, data, tmp_path / "out") == str(data.parent)
    assert not caplog.text


def test_read_only_data_folder_falls_back_to_the_output_folder(tmp_path, monkeypatch, caplog):
    data = tmp_path / "data" / "dev.json"
    data.parent.mkdir()
    make_read_only(monkeypatch, data.parent)
    try:
        with caplog.at_level(logging.WARNING):
            chosen = choose_cache_dir(None, data, tmp_path / "out")
    finally:
        data.parent.chmod(0o755)
    assert chosen == str(tmp_path / "out" / "cache")
    assert f"The data folder {data.parent} is not writable" in caplog.text


def test_data_under_a_file_falls_back_too(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    assert choose_cache_dir(None, blocker / "dev.json", tmp_path / "out") == str(
        tmp_path / "out" / "cache")


@pytest.mark.parametrize("where", ["read-only folder", "under a file"])
def test_explicit_cache_dir_that_is_not_writable_is_one_usage_error(where, tmp_path,
                                                                     monkeypatch):
    if where == "read-only folder":
        explicit = tmp_path / "cache"
        explicit.mkdir()
        make_read_only(monkeypatch, explicit)
    else:
        (tmp_path / "blocker").write_text("")
        explicit = tmp_path / "blocker" / "cache"
    try:
        with pytest.raises(UsageError, match="not writable") as err:
            choose_cache_dir(str(explicit), tmp_path / "dev.json", tmp_path / "out")
    finally:
        if explicit.is_dir():
            explicit.chmod(0o755)
    assert str(explicit) in str(err.value) and "\n" not in str(err.value)


def test_explicit_cache_dir_may_not_exist_yet(tmp_path):
    assert choose_cache_dir(str(tmp_path / "new" / "cache"), tmp_path / "dev.json",
                            None) == str(tmp_path / "new" / "cache")
