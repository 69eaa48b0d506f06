"""FeatureConfig(outside_window="cls"): a window that misses the answer span is labelled
with the CLS token's span ("not in this window", as Hugging Face's run_qa.py), not with
无法作答; everything else about the features is unchanged."""
from __future__ import annotations

import numpy as np
import pytest

from coqa.data.errors import ConfigError
from coqa.data.folders import load_tokenizer
from coqa.data.readers import load_dialogues
from coqa.extractive.display import decode_feature
from coqa.extractive.features import FeatureConfig, build_features, features_cache_path
from coqa.extractive.labels import CLS_SPAN_CLASS, NUM_SPECIAL, UNKNOWN_CLASS
from coqa.extractive.postprocess import PostprocessConfig, predict_answers
from tests.conftest import REPO

DEV = REPO / "data" / "sample" / "dev.json"


@pytest.fixture(scope="module")
def both(tiny_bert):
    tokenizer = load_tokenizer(str(tiny_bert))
    dialogues = load_dialogues(DEV).dialogues
    config = FeatureConfig(max_seq_length=96, doc_stride=32, max_query_length=32)
    old = build_features(dialogues, tokenizer, config, show_progress=False)
    new = build_features(dialogues, tokenizer, FeatureConfig(96, 32, 32, 2, "cls"),
                         show_progress=False)
    return dialogues, tokenizer, old, new


def test_only_windows_missing_the_span_change_label(both):
    dialogues, _, old, new = both
    for name in ("input_ids", "token_type_ids", "attention_mask", "token_offsets", "example_index"):
        assert np.array_equal(getattr(old, name), getattr(new, name))
    kinds = {(d.id, t.turn_id): t.kind.value for d in dialogues for t in d.turns}
    changed = old.start_positions != new.start_positions
    assert changed.sum() > 0 and np.array_equal(changed, old.end_positions != new.end_positions)
    for row in np.flatnonzero(changed):
        record = old.examples[old.example_index[row]]
        # A span turn (or a free-form one labelled with its best span) whose span is elsewhere.
        assert kinds[(record.dialogue_id, record.turn_id)] in ("span", "free-form")
        assert old.start_positions[row] == UNKNOWN_CLASS == old.end_positions[row]
        assert new.start_positions[row] == CLS_SPAN_CLASS == new.end_positions[row]
    unknown_turns = [row for row in range(len(new)) if kinds[(
        new.examples[new.example_index[row]].dialogue_id,
        new.examples[new.example_index[row]].turn_id)] == "unknown"]
    assert unknown_turns and (new.start_positions[unknown_turns] == UNKNOWN_CLASS).all()


def test_the_cls_span_is_never_an_answer_and_is_shown_as_such(both):
    _, tokenizer, _, new = both
    row = int(np.flatnonzero(new.start_positions == CLS_SPAN_CLASS)[0])
    assert decode_feature(new, row, tokenizer)[2] == "(not in this window)"
    # Logits that put everything on the CLS span: the answer is still a passage span.
    columns = NUM_SPECIAL + new.input_ids.shape[1]
    start = np.full((len(new), columns), -5.0, dtype=np.float32)
    end = start.copy()
    start[:, CLS_SPAN_CLASS] = end[:, CLS_SPAN_CLASS] = 50.0
    start[:, :NUM_SPECIAL] = end[:, :NUM_SPECIAL] = -50.0
    predictions, _ = predict_answers(start, end, new, PostprocessConfig())
    assert all(p["answer"] not in ("", "是的", "不是", "无法作答") for p in predictions)


def test_settings_and_cache_key(tiny_bert, tmp_path):
    with pytest.raises(ConfigError, match="outside_window"):
        FeatureConfig(outside_window="elsewhere")
    tokenizer = load_tokenizer(str(tiny_bert))
    paths = {features_cache_path(DEV, tokenizer, FeatureConfig(96, 32, 32, 2, label),
                                 tmp_path, "dev") for label in ("unknown", "cls")}
    assert len(paths) == 2
