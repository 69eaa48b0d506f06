"""run_coqa.py with predicted history and on new dialogues (no Answers), through main().

The oracle: when post-processing answers every turn with its gold answer, predicted
history must be gold history exactly, features row for row and predictions; when it
answers something else, the features of later turns must differ and those of first
turns must not."""
from __future__ import annotations

import json

import numpy as np
import pytest

import coqa.extractive.predicted as predicted_module
import run_coqa
from coqa.data.readers import load_dialogues
from tests.conftest import REPO
from tests.coqa.data.test_predicted_history import questions_only

SAMPLE = REPO / "data" / "sample"
DEV = SAMPLE / "dev.json"
GOLD = {(d.id, t.turn_id): t.answer for d in load_dialogues(DEV).dialogues for t in d.turns}
ROW_FIELDS = ("input_ids", "token_type_ids", "attention_mask", "token_offsets",
              "start_positions", "end_positions")


@pytest.fixture(scope="module")
def tiny_model(trained_extractive):
    """A tiny model with trained heads (one step: evaluation refuses random heads), shared
    with the chat tests (tests/conftest.py)."""
    return trained_extractive


def run(model, out, *extra, predict_file=DEV):
    return run_coqa.main(["--model_type", "bert", "--model_name_or_path", str(model),
                          "--predict_file", str(predict_file), "--max_seq_length", "128",
                          "--doc_stride", "48", "--per_gpu_eval_batch_size", "16",
                          "--output_dir", str(out), "--cache_dir", str(out.parent / "cache"),
                          *extra])


def read(path):
    return json.loads(path.read_text(encoding="utf-8"))


def rows_by_turn(feature_sets):
    """{(dialogue, turn): {field: the turn's feature rows}} over several FeatureSets."""
    found = {}
    for features in feature_sets:
        for example, record in enumerate(features.examples):
            rows = np.flatnonzero(features.example_index == example)
            found[(record.dialogue_id, record.turn_id)] = {
                name: getattr(features, name)[rows] for name in ROW_FIELDS}
    return found


def record_post_processing(monkeypatch, answer_of):
    """Post-processing as usual, then each answer replaced by `answer_of(key)`; the
    feature sets it saw, in call order."""
    seen = []
    real = predicted_module.predict_answers

    def fixed(start, end, features, post):
        seen.append(features)
        predictions, nbest = real(start, end, features, post)
        return [{**p, "answer": answer_of((p["id"], p["turn_id"]))} for p in predictions], nbest
    monkeypatch.setattr(predicted_module, "predict_answers", fixed)
    return seen


def test_gold_answers_make_predicted_history_gold_history(tiny_model, tmp_path, monkeypatch):
    seen = record_post_processing(monkeypatch, GOLD.__getitem__)
    out = tmp_path / "out"
    assert run(tiny_model, out, "--do_eval", "--history_source", "both") == 0
    gold_rows, predicted_rows = rows_by_turn(seen[:1]), rows_by_turn(seen[1:])
    assert len(seen) == 1 + max(len(d.turns) for d in load_dialogues(DEV).dialogues)
    assert predicted_rows.keys() == gold_rows.keys() and len(gold_rows) == len(GOLD)
    for key, rows in gold_rows.items():
        for name in ROW_FIELDS:
            np.testing.assert_array_equal(predicted_rows[key][name], rows[name], err_msg=f"{key} {name}")
    assert read(out / "predictions_predicted_.json") == read(out / "predictions_.json")
    gold_nbest, predicted_nbest = read(out / "nbest_predictions_.json"), \
        read(out / "nbest_predictions_predicted_.json")
    assert gold_nbest.keys() == predicted_nbest.keys()
    for key, best in gold_nbest.items():  # same inputs, same logits (up to batch padding)
        assert [b["text"] for b in predicted_nbest[key]] == [b["text"] for b in best]
        np.testing.assert_allclose([b["score"] for b in predicted_nbest[key]],
                                   [b["score"] for b in best], rtol=0, atol=1e-4)
    results = read(out / "eval_results.json")
    assert results["history_source"] == "gold"
    assert results["predicted_history"]["history_source"] == "predicted"
    assert results["overall"] == results["predicted_history"]["overall"]
    assert results["overall"]["f1"] == 100.0


def test_other_answers_change_the_history(tiny_model, tmp_path, monkeypatch):
    seen = record_post_processing(monkeypatch, lambda key: "不是")
    out = tmp_path / "out"
    assert run(tiny_model, out, "--do_eval", "--history_source", "both") == 0
    gold_rows, predicted_rows = rows_by_turn(seen[:1]), rows_by_turn(seen[1:])
    first_turns = {(d.id, d.turns[0].turn_id) for d in load_dialogues(DEV).dialogues}
    changed = [key for key in gold_rows if not np.array_equal(
        gold_rows[key]["input_ids"], predicted_rows[key]["input_ids"])]
    assert set(changed) == set(gold_rows) - first_turns  # every later turn, no first turn
    results = read(out / "eval_results.json")
    assert results["history_source"] == "gold"
    assert results["predicted_history"]["overall"]["turns"] == len(GOLD)


def test_predicted_history_alone(tiny_model, tmp_path):
    out = tmp_path / "out"
    assert run(tiny_model, out, "--do_eval", "--history_source", "predicted") == 0
    results = read(out / "eval_results.json")
    assert results["history_source"] == "predicted" and "predicted_history" not in results
    assert len(read(out / "predictions_.json")) == len(GOLD)


def test_new_dialogues_without_answers(tiny_model, tmp_path, capsys):
    new = questions_only(tmp_path / "new.json")
    out = tmp_path / "out"
    assert run(tiny_model, out, "--do_predict", predict_file=new) == 0
    predictions = read(out / "predictions_.json")
    assert [(p["id"], p["turn_id"]) for p in predictions] == list(GOLD)
    assert all(isinstance(p["answer"], str) and p["answer"] for p in predictions)
    assert not (out / "eval_results.json").exists()
    for extra in (["--do_eval"], ["--do_predict", "--history_source", "gold"]):
        assert run(tiny_model, tmp_path / "bad", *extra, predict_file=new) == 2
        assert "has no answers" in capsys.readouterr().err.strip().splitlines()[-1]
