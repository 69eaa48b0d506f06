"""Example files and sets (seq2seq.examples): JSON lines, batches, the cache."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from coqa.data.errors import DataError
from coqa.data.jsonlines import COQA_FILE, JSON_LINES, detect_format
from seq2seq.config import SourceConfig
from seq2seq.examples import (build_examples, describe_example, examples_cache_path,
                              load_or_build_examples)
from tests.conftest import REPO
from tests.seq2seq.conftest import make_tokenizer, real_tokenizer, tokens


# ------------------------------------------------------------------ JSON lines

def write_lines(path: Path, lines):
    path.write_text("\n".join(l if isinstance(l, str) else json.dumps(l, ensure_ascii=False)
                              for l in lines) + "\n", encoding="utf-8")
    return path


def test_json_lines_strings_and_token_lists(tmp_path):
    tokenizer = make_tokenizer(tmp_path / "vocab", ["甲乙丙丁戊己"])
    path = write_lines(tmp_path / "train.jsonl", [
        {"src": "甲乙 丙", "tgt": "丁戊"},
        "",
        {"src": ["甲", "乙", "庚"], "tgt": ["己"]},
    ])
    assert detect_format(path) == JSON_LINES
    config = SourceConfig(max_source_seq_length=64, max_target_seq_length=2, doc_stride=1)
    data = build_examples(path, tokenizer, config, training=True)
    assert data.has_targets and data.records == [None, None]
    assert tokens(tokenizer, data.source(0)) == ["[CLS]", "甲", "乙", "丙", "[SEP]"]
    assert tokens(tokenizer, data.source(1)) == ["[CLS]", "甲", "乙", "[UNK]", "[SEP]"]
    assert tokens(tokenizer, data.target(0)) == ["丁", "[SEP]"]  # cut to 2 - 1 tokens
    assert tokens(tokenizer, data.target(1)) == ["己", "[SEP]"]
    with pytest.raises(ValueError, match="JSON lines"):
        data.prediction_records(["a", "b"])
    assert data.passages == ["", ""]


def test_json_lines_of_the_convqa_fork_carry_ids_and_passages(tmp_path):
    """The fork's dev files: token lists, "id" dialogue#turn and the passage text."""
    tokenizer = make_tokenizer(tmp_path / "vocab", ["甲乙丙丁"])
    path = write_lines(tmp_path / "dev.json", [
        {"src": ["甲", "[SEP]", "乙"], "tgt": ["丙"], "id": "3a#1", "passages": "甲乙丙丁"},
        {"src": ["乙"], "tgt": ["丁"], "id": "3a#12", "passages": "乙丁"},
    ])
    data = build_examples(path, tokenizer, SourceConfig(max_source_seq_length=3), False)
    assert data.has_turn_ids and data.passages == ["甲乙丙丁", "乙丁"]
    assert tokens(tokenizer, data.source(0)) == ["[CLS]", "甲", "[SEP]"]  # any length >= 3
    assert data.prediction_records(["x", "y"]) == [
        {"id": "3a", "turn_id": 1, "answer": "x"}, {"id": "3a", "turn_id": 12, "answer": "y"}]
    assert data.subset(1).passages == ["甲乙丙丁"]
    bad = write_lines(tmp_path / "bad.json", [{"src": "甲", "id": "3a-1"}])
    with pytest.raises(DataError, match='line 1: "id"'):
        build_examples(bad, tokenizer, SourceConfig(), False)
    half = write_lines(tmp_path / "half.json", [{"src": "甲", "id": "3a#1"}, {"src": "乙"}])
    with pytest.raises(DataError, match='line 2: no "id"'):
        build_examples(half, tokenizer, SourceConfig(), False)


def test_json_lines_source_keeps_its_head(tmp_path):
    tokenizer = make_tokenizer(tmp_path / "vocab", ["甲乙"])
    path = write_lines(tmp_path / "x.jsonl", [{"src": "甲" * 70 + "乙" * 5}])
    config = SourceConfig(max_source_seq_length=64, doc_stride=1)
    data = build_examples(path, tokenizer, config, training=False)
    assert tokens(tokenizer, data.source(0)) == ["[CLS]"] + ["甲"] * 62 + ["[SEP]"]


@pytest.mark.parametrize("bad, message", [
    ({"tgt": "甲"}, 'missing field "src"'),
    ('{"src": "甲", ', "not JSON"),
    ('["甲"]', "not a JSON object"),
    ({"src": 3}, '"src" must be a string'),
    ({"src": ""}, 'empty "src"'),
])
def test_json_lines_defect_names_file_and_line(tmp_path, bad, message):
    tokenizer = make_tokenizer(tmp_path / "vocab", ["甲乙"])
    path = write_lines(tmp_path / "bad.jsonl", [{"src": "甲", "tgt": "乙"}, bad])
    with pytest.raises(DataError, match=message) as caught:
        build_examples(path, tokenizer, SourceConfig(), training=True)
    assert caught.value.file == str(path)
    assert "line 2" in str(caught.value)
    data = build_examples(path, tokenizer, SourceConfig(), training=True, skip_invalid=True)
    assert len(data) == 1


def test_json_lines_broken_first_line_is_named(tmp_path):
    tokenizer = make_tokenizer(tmp_path / "vocab", ["甲乙"])
    path = write_lines(tmp_path / "bad.jsonl", ['{"src": "甲"', {"src": "乙"}])
    with pytest.raises(DataError, match="line 1: not JSON"):
        build_examples(path, tokenizer, SourceConfig(), training=False)


def test_json_lines_decoding_without_targets(tmp_path):
    tokenizer = make_tokenizer(tmp_path / "vocab", ["甲乙丙"])
    path = write_lines(tmp_path / "dev.jsonl", [{"src": "甲乙"}, {"src": "丙"}])
    data = build_examples(path, tokenizer, SourceConfig(), training=False)
    assert not data.has_targets and data.target(0) == []
    batch = data.batch([0, 1])
    assert sorted(batch) == ["source_ids", "source_mask"]
    assert batch["source_ids"].shape == (2, 4)
    with pytest.raises(DataError, match='line 1: missing field "tgt"'):
        build_examples(path, tokenizer, SourceConfig(), training=True)


def test_json_lines_with_some_targets_is_an_error(tmp_path):
    tokenizer = make_tokenizer(tmp_path / "vocab", ["甲乙丙"])
    path = write_lines(tmp_path / "dev.jsonl", [{"src": "甲", "tgt": "乙"}, {"src": "丙"}])
    with pytest.raises(DataError, match="line 2: no \"tgt\" but line 1 has one"):
        build_examples(path, tokenizer, SourceConfig(), training=False)


def test_format_detection(tmp_path, layout):
    path, _ = layout
    assert detect_format(path) == COQA_FILE
    pretty = tmp_path / "pretty.json"
    pretty.write_text(json.dumps(json.loads(path.read_text(encoding="utf-8")), indent=1,
                                 ensure_ascii=False), encoding="utf-8")
    assert detect_format(pretty) == COQA_FILE
    (tmp_path / "empty.jsonl").write_text("\n\n", encoding="utf-8")
    with pytest.raises(DataError, match="empty file"):
        detect_format(tmp_path / "empty.jsonl")


# ------------------------------------------------------------------ batches

def test_batch_shapes_dynamic_padding_and_masks(long_dialogue):
    path, tokenizer = long_dialogue
    config = SourceConfig(max_source_seq_length=40, max_query_length=8, doc_stride=8,
                          history_format="question_only")
    data = build_examples(path, tokenizer, config, training=True)
    lengths = [len(data.source(i)) for i in range(3)]
    targets = [len(data.target(i)) for i in range(3)]
    batch = data.batch([2, 0])
    assert sorted(batch) == ["source_ids", "source_mask", "target_ids", "target_mask"]
    widths = (max(lengths[2], lengths[0]), max(targets[2], targets[0]))
    assert batch["source_ids"].shape == batch["source_mask"].shape == (2, widths[0])
    assert batch["target_ids"].shape == batch["target_mask"].shape == (2, widths[1])
    one = data.batch([2])
    assert one["target_ids"].shape == (1, targets[2])  # padded to this batch only
    for name in ("source", "target"):
        ids, mask = batch[f"{name}_ids"], batch[f"{name}_mask"]
        assert mask.sum(dim=1).tolist() == [len(getattr(data, name)(i)) for i in (2, 0)]
        assert (ids[mask == 0] == tokenizer.pad_token_id).all()
        assert ids.dtype == mask.dtype and str(ids.dtype) == "torch.int64"
    for row, i in enumerate((2, 0)):
        assert batch["target_ids"][row, targets[i] - 1] == tokenizer.sep_token_id
        assert batch["source_ids"][row, :lengths[i]].tolist() == data.source(i)


# ------------------------------------------------------------------ cache

def test_cache_key_changes_with_every_setting(layout, tmp_path):
    path, tokenizer = layout
    base = SourceConfig()
    key = lambda config, training=True, file=path: examples_cache_path(  # noqa: E731
        file, tokenizer, config, training, tmp_path / "cache", "s2s")
    other = {"max_source_seq_length": 465, "max_target_seq_length": 47,
             "history_format": "sep", "max_query_length": 59, "doc_stride": 127,
             "history_len": 1}
    assert set(other) == {f.name for f in dataclasses.fields(SourceConfig)}
    seen = {key(base), key(base, training=False)}
    for name, value in other.items():
        seen.add(key(dataclasses.replace(base, **{name: value})))
    copy = tmp_path / "copy.json"
    copy.write_text(path.read_text(encoding="utf-8") + " ", encoding="utf-8")
    seen.add(key(base, file=copy))
    assert len(seen) == len(other) + 3
    assert key(base) == key(SourceConfig())


def test_cache_round_trip(layout, tmp_path):
    path, tokenizer = layout
    first = load_or_build_examples(path, tokenizer, SourceConfig(), True, tmp_path / "cache")
    second = load_or_build_examples(path, tokenizer, SourceConfig(), True, tmp_path / "cache")
    assert len(list((tmp_path / "cache").iterdir())) == 1
    assert np.array_equal(first.source_ids, second.source_ids)
    assert first.records == second.records


def test_describe_example_with_the_real_tokenizer():
    tokenizer = real_tokenizer()
    sample = REPO / "data" / "sample" / "dev.json"
    data = build_examples(sample, tokenizer, SourceConfig(), training=True)
    source, target = describe_example(data, 1, tokenizer)
    first = json.loads(sample.read_text(encoding="utf-8"))["data"][0]
    assert target == first["Answers"][1]["input_text"]
    assert source[0].endswith(first["Questions"][1]["input_text"])
    assert len(source) == 2 and " " not in source[1]
