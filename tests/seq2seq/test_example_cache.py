"""The seq2seq example cache: a Seq2SeqData survives the .npz cache field by field, and a
read-only data folder sends run_seq2seq.py's cache to the output folder."""
from __future__ import annotations

import dataclasses
import json
import logging

import numpy as np
import pytest

from coqa.data.cache import choose_cache_dir
from seq2seq import examples as examples_module
from seq2seq.config import SourceConfig
from seq2seq.examples import Seq2SeqData, build_examples, load_or_build_examples
from tests.seq2seq.conftest import make_tokenizer
from tests.conftest import make_read_only


def assert_same_examples(a: Seq2SeqData, b: Seq2SeqData) -> None:
    for field in dataclasses.fields(Seq2SeqData):
        x, y = getattr(a, field.name), getattr(b, field.name)
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and x.shape == y.shape, field.name
            assert np.array_equal(x, y), field.name
        else:
            assert x == y, field.name
            assert type(x) is type(y), field.name


def round_trip(built: Seq2SeqData, path, tokenizer, training, cache, monkeypatch):
    monkeypatch.setattr(examples_module, "build_examples", lambda *args, **kwargs: built)
    load_or_build_examples(path, tokenizer, SourceConfig(), training, cache)
    monkeypatch.setattr(examples_module, "build_examples", pytest.fail)  # must load now
    loaded = load_or_build_examples(path, tokenizer, SourceConfig(), training, cache)
    assert loaded is not built
    return loaded


@pytest.mark.parametrize("training", [True, False])
def test_dialogue_examples_round_trip_through_the_cache(layout, tmp_path, monkeypatch, training):
    path, tokenizer = layout
    built = build_examples(path, tokenizer, SourceConfig(), training)
    assert len(built) == 3 and all(built.records) and all(built.passages)
    loaded = round_trip(built, path, tokenizer, training, tmp_path / "cache", monkeypatch)
    assert_same_examples(loaded, built)
    assert [p.suffix for p in (tmp_path / "cache").iterdir()] == [".npz"]


def test_json_lines_without_ids_or_targets_round_trip(tmp_path, monkeypatch):
    path = tmp_path / "test.jsonl"
    path.write_text("\n".join(json.dumps({"src": s}, ensure_ascii=False)
                              for s in ["天地玄黄", "宇宙"]) + "\n", encoding="utf-8")
    tokenizer = make_tokenizer(tmp_path / "vocab", ["天地玄黄宇宙"])
    built = build_examples(path, tokenizer, SourceConfig(), False)
    assert built.records == [None, None] and not built.has_targets
    loaded = round_trip(built, path, tokenizer, False, tmp_path / "cache", monkeypatch)
    assert_same_examples(loaded, built)
    assert loaded.target_ids.shape == (2, 0)




def test_read_only_data_folder_caches_under_the_output_folder(layout, tmp_path, monkeypatch,
                                                              caplog):
    path, tokenizer = layout
    data = tmp_path / "data"
    data.mkdir()
    train_file = data / "train.json"
    train_file.write_bytes(path.read_bytes())
    out = tmp_path / "out"
    make_read_only(monkeypatch, data)
    try:
        with caplog.at_level(logging.INFO):
            cache_dir = choose_cache_dir(None, train_file, out)  # what run_seq2seq.py does
            examples = load_or_build_examples(train_file, tokenizer, SourceConfig(), True,
                                              cache_dir)
    finally:
        data.chmod(0o755)
    assert cache_dir == str(out / "cache") and len(examples) == 3
    assert [p.suffix for p in (out / "cache").iterdir()] == [".npz"]
    assert not list(data.glob("cached_*"))
    assert f"The data folder {data} is not writable" in caplog.text
