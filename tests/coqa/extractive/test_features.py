"""Feature building: windows, history, labels round-tripped through offsets, threads, cache."""
from __future__ import annotations

import dataclasses
import json
import unicodedata

import numpy as np
import pytest
import torch
from transformers import BertTokenizerFast

from coqa.extractive import features as features_module
from coqa.tools.convert import convert_squad
from coqa.data.dialogue import AnswerKind, Dialogue, Turn
from coqa.extractive.display import decode_feature
from coqa.extractive.features import FeatureConfig, build_features, features_cache_path, load_or_build_features
from coqa.data.windows import window_starts
from coqa.extractive.postprocess import PostprocessConfig, predict_answers
from coqa.data.readers import load_dialogues
from tests.conftest import require_shared

SPECIAL_LABEL = {AnswerKind.YES: 0, AnswerKind.NO: 1, AnswerKind.UNKNOWN: 2}
LETTERS = "甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉"  # 20 characters, one token each
ARRAYS = ("input_ids", "token_type_ids", "attention_mask", "start_positions", "end_positions",
          "example_index", "token_offsets")


def make_tokenizer(folder, texts, words=()):
    """A BERT tokenizer whose vocabulary is every character of `texts` plus `words`."""
    chars = sorted({c for text in texts for c in text if not c.isspace()})
    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars + list(words)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    return BertTokenizerFast.from_pretrained(str(folder))


def turn(turn_id, question, answer, kind, span=None):
    return Turn(turn_id, question, "", (answer,), kind, span)


def query_tokens(features, tokenizer, index):
    body = int(np.argmax(features.token_type_ids[index] == 1))
    return tokenizer.convert_ids_to_tokens(features.input_ids[index, 1:body - 1].tolist())


def is_cjk(char):
    return unicodedata.east_asian_width(char) in ("W", "F") and char.isalnum()


def covered_chars(passage, tokenizer):
    """Which passage characters some token covers (whitespace, dropped marks are not)."""
    covered = np.zeros(len(passage) + 1, dtype=bool)
    for first, last in tokenizer(passage, add_special_tokens=False,
                                 return_offsets_mapping=True)["offset_mapping"]:
        covered[first:last] = True
    return covered


def check_labels(dialogues, features, tokenizer):
    """Every feature's label against its turn; returns the examples (turns) labelled with
    a span in at least one window."""
    turns = [(d, t) for d in dialogues for t in d.turns]
    assert len(features.examples) == len(turns)
    assert sorted(set(features.example_index.tolist())) == list(range(len(turns)))
    covered = {}
    labelled = set()
    for i in range(len(features)):
        example = int(features.example_index[i])
        dialogue, gold = turns[example]
        record = features.examples[example]
        assert (record.dialogue_id, record.turn_id) == (dialogue.id, gold.turn_id)
        assert features.passages[record.passage_index] == dialogue.passage
        start, end = int(features.start_positions[i]), int(features.end_positions[i])
        if gold.kind.is_special:
            assert start == end == SPECIAL_LABEL[gold.kind]
            continue
        if gold.span is None:
            assert start == end == 2
            continue
        if dialogue.id not in covered:
            covered[dialogue.id] = covered_chars(dialogue.passage, tokenizer)
        # The span without edge characters no token covers (spaces, dropped accent marks).
        first_char, end_char = gold.span
        while first_char < end_char and not covered[dialogue.id][first_char]:
            first_char += 1
        while end_char > first_char and not covered[dialogue.id][end_char - 1]:
            end_char -= 1
        offsets = features.token_offsets[i]
        window = np.flatnonzero(offsets[:, 0] >= 0)
        inside = first_char < end_char and offsets[window[0], 0] <= first_char \
            and end_char <= offsets[window[-1], 1]
        if not inside:
            assert start == end == 2, (dialogue.id, gold.turn_id, i)
            continue
        assert 3 <= start <= end and offsets[start - 3, 0] >= 0 and offsets[end - 3, 0] >= 0
        decoded = dialogue.passage[offsets[start - 3, 0]:offsets[end - 3, 1]]
        text = dialogue.span_text(gold)
        if is_cjk(text[0]) and is_cjk(text[-1]):
            assert decoded == text, (dialogue.id, gold.turn_id)
        else:
            assert dialogue.passage[first_char:end_char] in decoded, \
                (dialogue.id, gold.turn_id, text, decoded)
        labelled.add(example)
    return labelled


def check_windows(features, tokenizer, config):
    """Windows start every doc_stride passage tokens, from the first, and the last one ends
    at the passage's last token (checked on each dialogue's first turn)."""
    checked = set()
    for example, record in enumerate(features.examples):
        if record.passage_index in checked:
            continue
        checked.add(record.passage_index)
        passage = features.passages[record.passage_index]
        tokens = np.asarray(tokenizer(passage, add_special_tokens=False,
                                      return_offsets_mapping=True)["offset_mapping"]).reshape(-1, 2)
        rows = np.flatnonzero(features.example_index == example)
        starts = []
        for row in rows:
            window = features.token_offsets[row][features.token_offsets[row, :, 0] >= 0]
            first = int(np.flatnonzero((tokens == window[0]).all(axis=1))[0])
            assert (tokens[first:first + len(window)] == window).all()
            starts.append(first)
            assert len(window) <= config.max_seq_length - 3 - len(
                query_tokens(features, tokenizer, row))
        assert starts == [k * config.doc_stride for k in range(len(rows))]
        assert (features.token_offsets[rows[-1]][features.token_offsets[rows[-1], :, 0] >= 0][-1]
                == tokens[-1]).all()


# ---------------------------------------------------------------- hand-made dialogues

@pytest.fixture
def letters_tokenizer(tmp_path):
    return make_tokenizer(tmp_path / "vocab", [LETTERS, "？是的不无法作答"])


def test_window_layout_by_hand(letters_tokenizer):
    """20 passage tokens, query 子？ (2 tokens): windows of 16 - 2 - 3 = 11 tokens every 4."""
    tok = letters_tokenizer
    dialogue = Dialogue("d", "test", LETTERS, (turn(1, "子？", "丁戊", AnswerKind.SPAN, (3, 5)),))
    config = FeatureConfig(max_seq_length=16, doc_stride=4, max_query_length=4, history_len=0)
    features = build_features([dialogue], tok, config, show_progress=False)
    assert len(features) == 4 and list(window_starts(20, 11, 4)) == [0, 4, 8, 12]
    cls, sep = tok.cls_token_id, tok.sep_token_id
    for row, (start, length) in enumerate([(0, 11), (4, 11), (8, 11), (12, 8)]):
        expected = [cls] + tok.convert_tokens_to_ids(["子", "？"]) + [sep] \
            + tok.convert_tokens_to_ids(list(LETTERS[start:start + length])) + [sep]
        expected += [tok.pad_token_id] * (16 - len(expected))
        assert features.input_ids[row].tolist() == expected
        assert features.token_type_ids[row].tolist() == [0] * 4 + [1] * (length + 1) \
            + [0] * (11 - length)
        assert features.attention_mask[row].tolist() == [1] * (length + 5) + [0] * (11 - length)
        offsets = features.token_offsets[row]
        assert offsets[4:4 + length, 0].tolist() == list(range(start, start + length))
        assert offsets[4:4 + length, 1].tolist() == list(range(start + 1, start + length + 1))
        assert (offsets[:4] == -1).all() and (offsets[4 + length:] == -1).all()
    # Characters 3..4 are tokens 3..4: position 4 + 3 in window 0, class 3 + position.
    assert features.start_positions.tolist() == [3 + 4 + 3, 2, 2, 2]
    assert features.end_positions.tolist() == [3 + 4 + 4, 2, 2, 2]
    assert features.input_ids.dtype == np.int32 and features.token_offsets.shape == (4, 16, 2)


def test_span_crossing_window_edge_is_unknown(letters_tokenizer):
    """Span of characters 9..12: window 0 holds tokens 0-10, window 3 tokens 12-19."""
    dialogue = Dialogue("d", "test", LETTERS,
                        (turn(1, "子？", LETTERS[9:13], AnswerKind.SPAN, (9, 13)),))
    config = FeatureConfig(max_seq_length=16, doc_stride=4, max_query_length=4, history_len=0)
    features = build_features([dialogue], letters_tokenizer, config, show_progress=False)
    # Windows start at 0, 4, 8, 12; the body starts at position 4; class = 3 + position.
    assert features.start_positions.tolist() == [2, 3 + 4 + 5, 3 + 4 + 1, 2]
    assert features.end_positions.tolist() == [2, 3 + 4 + 8, 3 + 4 + 4, 2]
    for row in (1, 2):
        assert decode_feature(features, row, letters_tokenizer)[2] == LETTERS[9:13]


def test_history_truncated_from_the_left(letters_tokenizer):
    tok = letters_tokenizer
    passage = LETTERS[:10]
    dialogue = Dialogue("d", "test", passage, (
        turn(1, "子丑？", "甲", AnswerKind.SPAN, (0, 1)),
        turn(2, "寅卯？", "乙", AnswerKind.SPAN, (1, 2)),
        turn(3, "辰巳午？", "是的", AnswerKind.YES)))

    def third_query(max_query_length, history_len):
        config = FeatureConfig(max_seq_length=32, doc_stride=8, max_query_length=max_query_length,
                               history_len=history_len)
        features = build_features([dialogue], tok, config, show_progress=False)
        return query_tokens(features, tok, int(np.flatnonzero(features.example_index == 2)[0]))

    full = list("子丑？甲") + ["[SEP]"] + list("寅卯？乙") + ["[SEP]"] + list("辰巳午？")
    assert third_query(20, 2) == full
    assert third_query(6, 2) == ["乙", "[SEP]", "辰", "巳", "午", "？"]
    assert third_query(3, 2) == ["巳", "午", "？"]  # the question's tail is kept
    assert third_query(20, 1) == list("寅卯？乙") + ["[SEP]"] + list("辰巳午？")
    assert third_query(20, 0) == list("辰巳午？")
    assert third_query(20, 5) == full  # only two turns before the third


def test_special_kinds_and_free_form_without_span(letters_tokenizer):
    dialogue = Dialogue("d", "test", LETTERS, (
        turn(1, "子？", "是的", AnswerKind.YES), turn(2, "丑？", "不是", AnswerKind.NO),
        turn(3, "寅？", "无法作答", AnswerKind.UNKNOWN),
        turn(4, "卯？", "无关", AnswerKind.FREE_FORM, None)))
    config = FeatureConfig(max_seq_length=16, doc_stride=4, max_query_length=6, history_len=0)
    features = build_features([dialogue], letters_tokenizer, config, show_progress=False)
    labels = {}
    for row in range(len(features)):
        labels.setdefault(int(features.example_index[row]), set()).add(
            (int(features.start_positions[row]), int(features.end_positions[row])))
    assert labels == {0: {(0, 0)}, 1: {(1, 1)}, 2: {(2, 2)}, 3: {(2, 2)}}
    assert [decode_feature(features, int(np.flatnonzero(features.example_index == e)[0]),
                           letters_tokenizer)[2] for e in range(3)] == ["是的", "不是", "无法作答"]


def test_yes_no_with_a_rationale_is_unknown_where_the_window_misses_it(letters_tokenizer):
    """CoQA yes/no: windows of tokens 0-10, 4-14, 8-18, 12-19 (as above); rationale of
    characters 13..14 lies in windows 1, 2 and 3 only, rationale 0..1 in window 0 only."""
    dialogue = Dialogue("d", "test", LETTERS, (
        Turn(1, "子？", "", ("是的",), AnswerKind.YES, None, (13, 15)),
        Turn(2, "丑？", "", ("不是",), AnswerKind.NO, None, (0, 2)),
        Turn(3, "寅？", "", ("是的",), AnswerKind.YES, None, None)))
    config = FeatureConfig(max_seq_length=16, doc_stride=4, max_query_length=4, history_len=0)
    features = build_features([dialogue], letters_tokenizer, config, show_progress=False)
    assert features.start_positions.tolist() == [2, 0, 0, 0] + [1, 2, 2, 2] + [0, 0, 0, 0]
    assert features.end_positions.tolist() == features.start_positions.tolist()


def test_character_inside_a_token_and_whitespace_span(tmp_path):
    """A span inside a word maps to the whole WordPiece token; a blank span to unknown."""
    tok = make_tokenizer(tmp_path / "vocab", ["甲乙？"], words=["abc", "##def"])
    passage = "甲 abcdef 乙"
    dialogue = Dialogue("d", "test", passage, (
        turn(1, "甲？", "bcd", AnswerKind.SPAN, (3, 6)),
        turn(2, "乙？", " ", AnswerKind.FREE_FORM, (1, 2))))
    assert [t for t in tok.tokenize(passage)] == ["甲", "abc", "##def", "乙"]
    config = FeatureConfig(max_seq_length=16, doc_stride=4, max_query_length=4, history_len=0)
    features = build_features([dialogue], tok, config, show_progress=False)
    assert len(features) == 2
    assert (features.start_positions[0], features.end_positions[0]) == (3 + 4 + 1, 3 + 4 + 2)
    assert decode_feature(features, 0, tok)[2] == "abcdef"
    assert (features.start_positions[1], features.end_positions[1]) == (2, 2)


def test_hand_made_file_round_trip_and_decode(tmp_path, convqa_data, write_json):
    loaded = load_dialogues(write_json(convqa_data))
    texts = [d.passage for d in loaded.dialogues] + [t.question + t.answer for d in loaded.dialogues
                                                      for t in d.turns]
    tok = make_tokenizer(tmp_path / "vocab", texts)
    config = FeatureConfig(max_seq_length=24, doc_stride=3, max_query_length=8, history_len=2)
    features = build_features(loaded.dialogues, tok, config, show_progress=False)
    labelled = check_labels(loaded.dialogues, features, tok)
    span_turns = {i for i, (d, t) in enumerate((d, t) for d in loaded.dialogues for t in d.turns)
                  if t.span is not None}
    assert labelled == span_turns and len(span_turns) == 6  # 2 x (杭州, 踢足球, 小明的同学)
    check_windows(features, tok, config)
    query, window, label = decode_feature(features, 0, tok)
    assert (query, label) == ("小明住在哪里？", "杭州") and window.startswith("小明住在杭州")
    assert len(features.passages) == 2  # stored once per dialogue

    # One-hot logits at the labels decode back to the gold span texts.
    width = 3 + config.max_seq_length
    start = np.zeros((len(features), width))
    end = np.zeros((len(features), width))
    spans = features.start_positions >= 3
    start[np.flatnonzero(spans), features.start_positions[spans]] = 5
    end[np.flatnonzero(spans), features.end_positions[spans]] = 5
    predictions, _ = predict_answers(start, end, features, PostprocessConfig())
    turns = [(d, t) for d in loaded.dialogues for t in d.turns]
    assert [(p["id"], p["turn_id"]) for p in predictions] == [(d.id, t.turn_id) for d, t in turns]
    for prediction, (dialogue, gold) in zip(predictions, turns):
        if gold.span is not None:
            assert prediction["answer"] == dialogue.span_text(gold)


def test_batch_dynamic_padding(letters_tokenizer):
    dialogue = Dialogue("d", "test", LETTERS[:5], (turn(1, "子？", "甲", AnswerKind.SPAN, (0, 1)),))
    longer = Dialogue("e", "test", LETTERS[:9], (turn(1, "子？", "甲", AnswerKind.SPAN, (0, 1)),))
    config = FeatureConfig(max_seq_length=32, doc_stride=4, max_query_length=4, history_len=0)
    features = build_features([dialogue, longer], letters_tokenizer, config, show_progress=False)
    batch = features.batch([0])
    assert list(batch) == ["input_ids", "attention_mask", "token_type_ids", "start_positions",
                           "end_positions"]
    assert batch["input_ids"].shape == (1, 2 + 2 + 5 + 1)
    both = features.batch(np.array([1, 0]), with_labels=False)
    assert set(both) == {"input_ids", "attention_mask", "token_type_ids"}
    assert both["input_ids"].shape == (2, 14) and both["input_ids"].dtype == torch.int64
    assert both["attention_mask"].sum(1).tolist() == [14, 10]
    assert both["input_ids"][1].tolist() == features.input_ids[0, :14].tolist()


def test_config_errors():
    with pytest.raises(ValueError, match="no room for the passage"):
        FeatureConfig(max_seq_length=64, max_query_length=61, doc_stride=1)
    with pytest.raises(ValueError, match="doc_stride"):
        FeatureConfig(max_seq_length=64, max_query_length=32, doc_stride=30)
    with pytest.raises(ValueError, match="doc_stride"):
        FeatureConfig(doc_stride=0)
    FeatureConfig(max_seq_length=64, max_query_length=32, doc_stride=29)  # window of 29


def test_threads_give_identical_features(tmp_path, convqa_data, write_json):
    data = {"data": [dict(convqa_data["data"][i % 2], id=i) for i in range(6)]}
    loaded = load_dialogues(write_json(data))
    tok = make_tokenizer(tmp_path / "vocab", [d.passage + t.question + t.answer
                                              for d in loaded.dialogues for t in d.turns])
    config = FeatureConfig(max_seq_length=24, doc_stride=4, max_query_length=8)
    one = build_features(loaded.dialogues, tok, config, threads=1, show_progress=False)
    two = build_features(loaded.dialogues, tok, config, threads=2, show_progress=False)
    for name in ARRAYS:
        assert np.array_equal(getattr(one, name), getattr(two, name)), name
        assert getattr(one, name).dtype == getattr(two, name).dtype
    assert one.examples == two.examples and one.passages == two.passages


def test_cache_loads_second_time_and_key_covers_every_setting(tmp_path, convqa_data, write_json,
                                                              monkeypatch):
    data_file = write_json(convqa_data)
    loaded = load_dialogues(data_file)
    tok = make_tokenizer(tmp_path / "vocab", [d.passage + t.question + t.answer
                                              for d in loaded.dialogues for t in d.turns])
    config = FeatureConfig(max_seq_length=32, doc_stride=8, max_query_length=8, history_len=2)
    calls = []
    real_build = features_module.build_features
    monkeypatch.setattr(features_module, "build_features",
                        lambda *args, **kwargs: calls.append(1) or real_build(*args, **kwargs))
    cache_dir = tmp_path / "cache"
    first = load_or_build_features(data_file, loaded.dialogues, tok, config, cache_dir, "dev",
                                   show_progress=False)
    second = load_or_build_features(data_file, loaded.dialogues, tok, config, cache_dir, "dev",
                                    show_progress=False)
    assert len(calls) == 1
    for name in ARRAYS:
        assert np.array_equal(getattr(first, name), getattr(second, name))
    load_or_build_features(data_file, loaded.dialogues, tok, config, cache_dir, "dev",
                           overwrite_cache=True, show_progress=False)
    assert len(calls) == 2

    base = features_cache_path(data_file, tok, config, cache_dir, "dev")
    assert base.name.startswith("cached_dev_")
    paths = {base}
    for field, value in [("max_seq_length", 33), ("doc_stride", 7), ("max_query_length", 9),
                         ("history_len", 1), ("outside_window", "cls"),
                         ("history_encoding", "hae")]:
        assert field in config.settings()
        paths.add(features_cache_path(data_file, tok, dataclasses.replace(config, **{field: value}),
                                      cache_dir, "dev"))
    assert len(paths) == 1 + len(dataclasses.fields(FeatureConfig))
    other_data = write_json({"data": convqa_data["data"][:1]}, "other.json")
    assert features_cache_path(other_data, tok, config, cache_dir, "dev") != base
    cased = BertTokenizerFast.from_pretrained(str(tmp_path / "vocab"), do_lower_case=False)
    assert features_cache_path(data_file, cased, config, cache_dir, "dev") != base


# ---------------------------------------------------------------- real data, real vocabulary

@pytest.fixture(scope="module")
def bert_chinese():
    return BertTokenizerFast.from_pretrained(str(require_shared("models", "bert-base-chinese")))


def real_dialogues(name, tmp_path):
    if name == "convqa_cn":
        return load_dialogues(require_shared("data", "convqa_cn", "readme_sample.json")).dialogues
    parts, domain = {"cmrc": (("data", "cmrc2018", "cmrc2018_trial.json"), "百科"),
                     "drcd": (("data", "drcd", "DRCD_dev.json"), "百科繁体")}[name]
    converted, _ = convert_squad(require_shared(*parts), domain)
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(converted, ensure_ascii=False), encoding="utf-8")
    # skip_invalid: the CMRC trial set has two empty questions.
    return load_dialogues(path, skip_invalid=True).dialogues


@pytest.mark.parametrize("name", ["convqa_cn", "cmrc", "drcd"])
def test_real_data_spans_round_trip(name, tmp_path, bert_chinese):
    dialogues = real_dialogues(name, tmp_path)
    config = FeatureConfig(max_seq_length=256, doc_stride=128, max_query_length=64)
    features = build_features(dialogues, bert_chinese, config, show_progress=False)
    labelled = check_labels(dialogues, features, bert_chinese)
    check_windows(features, bert_chinese, config)
    turns = [(d, t) for d in dialogues for t in d.turns]
    # Every span short enough to fit in the overlap of two windows is labelled somewhere.
    short = {i for i, (d, t) in enumerate(turns)
             if t.span is not None and not t.kind.is_special and t.span[1] - t.span[0] <= 60}
    assert short and short <= labelled
    assert (features.attention_mask.sum(1) <= config.max_seq_length).all()
