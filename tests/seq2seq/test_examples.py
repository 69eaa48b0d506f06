"""Seq2seq examples: source layouts, window choice, targets, JSON lines, batches, cache, text."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from transformers import BertTokenizerFast

from coqa.data.errors import DataError
from coqa.data.jsonlines import COQA_FILE, JSON_LINES, detect_format
from seq2seq.config import SourceConfig
from seq2seq.examples import build_examples, describe_example, examples_cache_path, load_or_build_examples
from seq2seq.sources import choose_window, history_ids

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
REPO = Path(__file__).resolve().parents[2]
FILLER = "子"
# Three marked places in a passage of 129 one-character tokens (several windows).
LONG_PASSAGE = FILLER * 40 + "甲乙丙" + FILLER * 40 + "丁戊己" + FILLER * 43


def make_tokenizer(folder: Path, texts, words=()):
    """A BERT tokenizer whose vocabulary is every character of `texts` plus `words`."""
    chars = sorted({c for text in texts for c in text if not c.isspace()})
    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars + list(words)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    return BertTokenizerFast.from_pretrained(str(folder))


def real_tokenizer():
    path = SHARED / "models" / "bert-base-chinese"
    if not (path / "vocab.txt").is_file():
        pytest.skip(f"{path} not available")
    return BertTokenizerFast.from_pretrained(str(path))


def convqa_file(folder: Path, passage: str, turns, name="data.json"):
    """A ConvQA_CN file of one dialogue; turns are (question, answer, answer_type, start)."""
    dialogue = {
        "Source": "测试", "Passage": passage, "id": "d1",
        "Questions": [{"input_text": q, "turn_id": i, "question_type": "factoid"}
                      for i, (q, _, _, _) in enumerate(turns, 1)],
        "Answers": [{"input_text": a, "turn_id": i, "answer_id": 1, "answer_type": kind,
                     "answer_start": [start]}
                    for i, (_, a, kind, start) in enumerate(turns, 1)],
    }
    path = folder / name
    path.write_text(json.dumps({"version": "test", "data": [dialogue]}, ensure_ascii=False),
                    encoding="utf-8")
    return path


def tokens(tokenizer, ids):
    return tokenizer.convert_ids_to_tokens(list(ids))


def split_source(tokenizer, ids):
    """(history tokens, window tokens) of `[CLS] history [SEP] window [SEP]`."""
    toks = tokens(tokenizer, ids)
    assert toks[0] == "[CLS]" and toks[-1] == "[SEP]"
    middle = len(toks) - 1 - toks[::-1].index("[SEP]", 1)  # the [SEP] before the window
    return toks[1:middle], toks[middle + 1:-1]


# ------------------------------------------------------------------ source layouts

SHORT_PASSAGE = "天地玄黄宇宙洪荒日月盈昃"
LAYOUT_TURNS = [("甲乙？", "丙丁", "extractive", None), ("戊己？", "庚辛", "extractive", None),
                ("壬癸？", "天地", "extractive", 0)]


@pytest.fixture
def layout(tmp_path):
    turns = [(q, a, "generative" if start is None else kind, -3 if start is None else start)
             for q, a, kind, start in LAYOUT_TURNS]
    path = convqa_file(tmp_path, SHORT_PASSAGE, turns)
    tokenizer = make_tokenizer(tmp_path / "vocab", [SHORT_PASSAGE] + [t[0] + t[1] for t in turns])
    return path, tokenizer


def test_qaqafq_layout_of_turn_three(layout):
    path, tokenizer = layout
    data = build_examples(path, tokenizer, SourceConfig(), training=True)
    assert len(data) == 3
    history, window = split_source(tokenizer, data.source(2))
    assert history == list("甲乙？丙丁戊己？庚辛庚辛壬癸？")  # Q1 A1 Q2 A2 A2 Q3
    assert window == list(SHORT_PASSAGE)
    assert split_source(tokenizer, data.source(0))[0] == list("甲乙？")
    assert split_source(tokenizer, data.source(1))[0] == list("甲乙？丙丁丙丁戊己？")  # Q1 A1 A1 Q2


def test_history_keeps_its_last_tokens(layout):
    path, tokenizer = layout
    config = SourceConfig(max_source_seq_length=40, max_query_length=5, doc_stride=8)
    data = build_examples(path, tokenizer, config, training=False)
    history, window = split_source(tokenizer, data.source(2))
    assert history == list("庚辛壬癸？")
    assert window == list(SHORT_PASSAGE)


def test_sep_and_question_only_layouts(layout):
    path, tokenizer = layout
    data = build_examples(path, tokenizer, SourceConfig(history_format="sep"), training=True)
    toks = tokens(tokenizer, data.source(2))
    assert toks == (["[CLS]"] + list("甲乙？丙丁") + ["[SEP]"] + list("戊己？庚辛") + ["[SEP]"]
                    + list("壬癸？") + ["[SEP]"] + list(SHORT_PASSAGE) + ["[SEP]"])
    data = build_examples(path, tokenizer, SourceConfig(history_format="question_only"), True)
    assert split_source(tokenizer, data.source(2)) == (list("壬癸？"), list(SHORT_PASSAGE))


def test_history_ids_one_previous_turn_and_none():
    assert history_ids([([1], [2, 3])], [4], "QAQAFQ", 9, 60) == [1, 2, 3, 2, 3, 4]
    assert history_ids([], [4, 5], "QAQAFQ", 9, 60) == [4, 5]
    assert history_ids([([1], [2])], [4], "sep", 9, 60) == [1, 2, 9, 4]
    assert history_ids([([1], [2])], [4, 5, 6], "question_only", 9, 2) == [5, 6]


# ------------------------------------------------------------------ windows

@pytest.fixture
def long_dialogue(tmp_path):
    turns = [("丁戊？", "甲乙丙", "extractive", 40),        # answer far from the question's cue
             ("它呢？", "丁戊己。", "generative", -3),        # free-form: best-F1 span 丁戊己
             ("是吗？", "是的", "generative", -3)]
    path = convqa_file(tmp_path, LONG_PASSAGE, turns)
    tokenizer = make_tokenizer(tmp_path / "vocab",
                               [LONG_PASSAGE, "它呢是吗？。", "的", "不", "无法作答"])
    return path, tokenizer


def window_start(window_tokens):
    """Where a window of LONG_PASSAGE begins (the markers make every window unique)."""
    text = "".join(window_tokens)
    starts = [s for s in range(len(LONG_PASSAGE)) if LONG_PASSAGE.startswith(text, s)]
    assert len(starts) == 1, text
    return starts[0]


def first_start_holding(lo, hi, window, stride=8):
    """The earliest window start whose window holds tokens lo..hi (inclusive)."""
    return next(s for s in range(0, len(LONG_PASSAGE), stride) if s <= lo and hi < s + window)


def test_training_picks_the_window_with_the_answer(long_dialogue):
    path, tokenizer = long_dialogue
    config = SourceConfig(max_source_seq_length=32, max_query_length=8, doc_stride=8)
    data = build_examples(path, tokenizer, config, training=True)
    for index, (lo, hi) in ((0, (40, 42)), (1, (83, 85))):
        history, window = split_source(tokenizer, data.source(index))
        assert len(window) == 32 - len(history) - 3  # the window takes the room that is left
        # Turn 1's question names 丁戊, but training follows the gold span 甲乙丙.
        assert window_start(window) == first_start_holding(lo, hi, len(window))
    assert "".join(split_source(tokenizer, data.source(0))[1]).find("甲乙丙") >= 0


def test_decoding_picks_the_window_sharing_most_tokens(long_dialogue):
    path, tokenizer = long_dialogue
    config = SourceConfig(max_source_seq_length=32, max_query_length=8, doc_stride=8)
    data = build_examples(path, tokenizer, config, training=False)
    # Turn 1: the question's 丁戊 (no previous answer). Turn 2: the previous answer 甲乙丙.
    # Turn 3: previous answer 丁戊己 + question (special answers always use overlap).
    for index, (lo, hi) in ((0, (83, 84)), (1, (40, 42)), (2, (83, 85))):
        window = split_source(tokenizer, data.source(index))[1]
        assert window_start(window) == first_start_holding(lo, hi, len(window))
    training = build_examples(path, tokenizer, config, training=True)
    assert training.source(2) == data.source(2)


def test_choose_window_rules():
    passage = np.array([0] * 10 + [5, 6] + [0] * 10 + [7] + [0] * 10)  # 33 tokens
    assert choose_window(passage, 8, 4, [5, 6]) == (4, 8)  # earliest of the best
    assert choose_window(passage, 8, 4, [7]) == (16, 8)
    assert choose_window(passage, 8, 4, [7], span_tokens=(10, 11)) == (4, 8)
    # A span longer than any window: the window covering most of it.
    assert choose_window(passage, 8, 4, [], span_tokens=(6, 30)) == (8, 8)
    assert choose_window(passage, 100, 4, [9]) == (0, 33)
    assert choose_window(passage, 8, 4, [9]) == (0, 8)  # no overlap anywhere: the first


# ------------------------------------------------------------------ targets

def test_special_kinds_become_their_text(tmp_path):
    turns = [("甲？", "是的", "generative", -3), ("乙？", "不是", "generative", -3),
             ("丙？", "无法作答", "generative", -3)]
    path = convqa_file(tmp_path, SHORT_PASSAGE, turns)
    tokenizer = make_tokenizer(tmp_path / "vocab", [SHORT_PASSAGE, "甲乙丙？是的不无法作答"])
    data = build_examples(path, tokenizer, SourceConfig(), training=True)
    assert [tokens(tokenizer, data.target(i)) for i in range(3)] == [
        ["是", "的", "[SEP]"], ["不", "是", "[SEP]"], ["无", "法", "作", "答", "[SEP]"]]


def test_target_cut_then_sep(layout, tmp_path):
    path, tokenizer = layout
    data = build_examples(path, tokenizer, SourceConfig(max_target_seq_length=2), True)
    assert tokens(tokenizer, data.target(0)) == ["丙", "[SEP]"]
    data = build_examples(path, tokenizer, SourceConfig(max_target_seq_length=3), True)
    assert tokens(tokenizer, data.target(0)) == ["丙", "丁", "[SEP]"]
    assert data.records[2].dialogue_id == "d1" and data.records[2].turn_id == 3
    assert data.records[2].domain == "测试"
    answers = ["a", "b", "c"]
    assert data.prediction_records(answers)[1] == {"id": "d1", "turn_id": 2, "answer": "b"}


# ------------------------------------------------------------------ lengths

@pytest.mark.parametrize("changes, words", [
    ({"max_source_seq_length": 2}, "at least 3"),
    ({"max_target_seq_length": 1}, "max_target_seq_length must be at least 2"),
    ({"history_format": "qa"}, "history_format must be one of"),
    ({"doc_stride": 0}, r"doc_stride \(--window_stride\) must be at least 1"),
    ({"max_query_length": 0}, r"max_query_length \(--history_tokens\) must be at least 1"),
])
def test_impossible_lengths_raise(changes, words):
    with pytest.raises(ValueError, match=words):
        SourceConfig(**changes)


@pytest.mark.parametrize("changes, words", [
    ({"max_source_seq_length": 63, "max_query_length": 60}, "no room for the passage"),
    ({"max_source_seq_length": 4}, "at least 5"),
    ({"doc_stride": 402}, "window_stride 402"),
])
def test_impossible_dialogue_layouts_raise(changes, words):
    config = SourceConfig(**changes)  # fine for JSON lines, which have no windows
    with pytest.raises(ValueError, match=words):
        config.check_dialogue_layout()


@pytest.mark.parametrize("length, history, stride", [
    # history min(60, (length - 3) // 2); stride min(128, (length - history - 3) // 2)
    (464, 60, 128), (512, 60, 128), (191, 60, 64), (128, 60, 32), (40, 18, 9), (5, 1, 1),
    (3, 1, 1),
])
def test_history_and_stride_defaults_scale_with_the_source(length, history, stride):
    config = SourceConfig(max_source_seq_length=length)
    assert (config.max_query_length, config.doc_stride) == (history, stride)
    if length >= 5:
        config.check_dialogue_layout()


def test_short_sources_build_from_a_dialogue_file(layout):
    path, tokenizer = layout
    for length in (5, 12, 40):
        data = build_examples(path, tokenizer, SourceConfig(max_source_seq_length=length), True)
        assert int(data.source_length.max()) <= length
        source = tokens(tokenizer, data.source(0))
        assert source[0] == "[CLS]" and source[-1] == "[SEP]" and source.count("[SEP]") == 2


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
