"""The extractive feature cache: a FeatureSet survives the .npz cache field by field, and a
read-only data folder sends the cache to the run's output folder."""
from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest

from coqa.data.readers import load_dialogues
from coqa.extractive import features as features_module
from coqa.extractive.features import (FeatureConfig, FeatureSet, build_features,
                                      features_cache_path, load_or_build_features)
from coqa.extractive.steps import DataSettings, load_features
from tests.coqa.extractive.test_features import make_tokenizer
from tests.conftest import make_read_only

CONFIG = FeatureConfig(max_seq_length=32, doc_stride=8, max_query_length=8, history_len=2)


@pytest.fixture
def dev(tmp_path, convqa_data, write_json):
    """(data file, its dialogues, a tokenizer over its characters)."""
    (tmp_path / "data").mkdir()  # a folder of its own, to be made read-only
    data_file = write_json(convqa_data, "data/dev.json")
    dialogues = load_dialogues(data_file).dialogues
    tokenizer = make_tokenizer(tmp_path / "vocab", [d.passage + t.question + t.answer
                                                    for d in dialogues for t in d.turns])
    return data_file, dialogues, tokenizer


def assert_same_features(a: FeatureSet, b: FeatureSet) -> None:
    for field in dataclasses.fields(FeatureSet):
        x, y = getattr(a, field.name), getattr(b, field.name)
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and x.shape == y.shape, field.name
            assert np.array_equal(x, y), field.name
        elif x is None:  # history_answer_ids of features without it
            assert y is None, field.name
        else:
            assert x == y, field.name
            assert [type(v) for v in x] == [type(v) for v in y], field.name


@pytest.mark.parametrize("encoding", ["concat", "hae"])
def test_feature_set_round_trips_through_the_cache(dev, tmp_path, monkeypatch, encoding):
    data_file, dialogues, tokenizer = dev
    config = dataclasses.replace(CONFIG, history_encoding=encoding)
    built = build_features(dialogues, tokenizer, config, show_progress=False)
    assert len(built) > len(built.examples) > 0 and built.passages
    assert (built.history_answer_ids is not None) == (encoding == "hae")
    monkeypatch.setattr(features_module, "build_features", lambda *args, **kwargs: built)
    cache = tmp_path / "cache"
    load_or_build_features(data_file, dialogues, tokenizer, config, cache, "dev",
                           show_progress=False)
    monkeypatch.setattr(features_module, "build_features", pytest.fail)  # must load now
    loaded = load_or_build_features(data_file, dialogues, tokenizer, config, cache, "dev",
                                    show_progress=False)
    assert loaded is not built
    assert_same_features(loaded, built)
    assert [p.suffix for p in cache.iterdir()] == [".npz"]


def test_to_arrays_and_back_without_a_file(dev):
    _, dialogues, tokenizer = dev
    built = build_features(dialogues, tokenizer, CONFIG, show_progress=False)
    arrays, meta = built.to_arrays()
    assert all(isinstance(a, np.ndarray) for a in arrays.values())
    assert_same_features(FeatureSet.from_arrays(arrays, meta), built)


def test_cache_of_other_settings_under_the_expected_name_is_rebuilt(dev, tmp_path, caplog):
    data_file, dialogues, tokenizer = dev
    cache = tmp_path / "cache"
    other = dataclasses.replace(CONFIG, history_len=0)
    load_or_build_features(data_file, dialogues, tokenizer, other, cache, "dev",
                           show_progress=False)
    expected = features_cache_path(data_file, tokenizer, CONFIG, cache, "dev")
    features_cache_path(data_file, tokenizer, other, cache, "dev").rename(expected)
    with caplog.at_level(logging.WARNING):
        features = load_or_build_features(data_file, dialogues, tokenizer, CONFIG, cache, "dev",
                                          show_progress=False)
    assert "not written for these settings" in caplog.text
    assert_same_features(features, build_features(dialogues, tokenizer, CONFIG,
                                                  show_progress=False))




def test_read_only_data_folder_caches_under_the_output_folder(dev, tmp_path, monkeypatch,
                                                              caplog):
    data_file, _, tokenizer = dev
    make_read_only(monkeypatch, data_file.parent)
    out = tmp_path / "out"
    settings = DataSettings(CONFIG, None, "tiny", False, 1, False, str(out))
    try:
        with caplog.at_level(logging.INFO):
            features = load_features(str(data_file), "dev", tokenizer, settings)
    finally:
        data_file.parent.chmod(0o755)
    assert len(features) > 0
    assert [p.name.startswith("cached_dev_tiny_32_") for p in (out / "cache").iterdir()] == [True]
    assert not list(data_file.parent.glob("cached_*"))
    assert f"The data folder {data_file.parent} is not writable" in caplog.text
