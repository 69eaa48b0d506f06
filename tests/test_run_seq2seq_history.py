"""run_seq2seq.py decoding with predicted history and on new dialogues (no Answers).

The oracle: when every decoded answer is replaced by the gold one, the predicted-history
sources are the gold-history sources exactly, and so are the answer files; other answers
change the sources of every later turn and of no first turn."""
from __future__ import annotations

import json

import pytest

import run_seq2seq
import seq2seq.predicted as predicted_module
from coqa.data.readers import load_dialogues
from tests.conftest import REPO
from tests.coqa.data.test_predicted_history import questions_only

DEV = REPO / "data/sample/dev.json"
GOLD = {(d.id, t.turn_id): t.answer for d in load_dialogues(DEV).dialogues for t in d.turns}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_bert_factory):
    root = tmp_path_factory.mktemp("s2s_history")
    model = tiny_bert_factory((REPO / "data/sample/train.json", DEV), dropout=0.0)
    out = root / "model"
    assert run_seq2seq.main(["--train_file", "data/sample/train.json", "--output_dir", str(out),
                             "--model_name_or_path", str(model), "--max_source_seq_length", "128",
                             "--max_target_seq_length", "8", "--num_training_steps", "1",
                             "--cached_train_features_file", str(root / "cache")]) == 0
    return out


def decode(trained, out, *extra, input_file=DEV):
    return run_seq2seq.main(["--do_decode", "--model_path", str(trained), "--input_file",
                             str(input_file), "--output_file", str(out / "pred.json"),
                             "--max_tgt_length", "4", "--batch_size", "32", "--split", "dev",
                             *extra])


def read(path):
    return json.loads(path.read_text(encoding="utf-8"))


def record_decoding(monkeypatch, answer_of):
    """Decoding as usual, answers replaced by `answer_of(key)`; the sources it saw per
    call, {(dialogue, turn): source ids}."""
    calls = []
    real = predicted_module.decode_answers

    def fixed(model, data, tokenizer, *rest):
        answers, details = real(model, data, tokenizer, *rest)
        keys = [(r.dialogue_id, r.turn_id) for r in data.records]
        calls.append({key: data.source(i) for i, key in enumerate(keys)})
        return [answer_of(key) for key in keys], details
    monkeypatch.setattr(predicted_module, "decode_answers", fixed)
    return calls


def merged(calls):
    return {key: ids for call in calls for key, ids in call.items()}


def test_gold_answers_make_predicted_history_gold_history(trained, tmp_path, monkeypatch):
    calls = record_decoding(monkeypatch, GOLD.__getitem__)
    assert decode(trained, tmp_path, "--do_eval", "--history_source", "both") == 0
    gold, predicted = calls[0], merged(calls[1:])
    assert len(gold) == len(GOLD) and predicted == gold
    assert read(tmp_path / "pred_predicted.json") == read(tmp_path / "pred.json")
    results = read(tmp_path / "eval_results_dev.json")
    assert results["history_source"] == "gold"
    assert results["predicted_history"]["history_source"] == "predicted"
    assert results["overall"] == results["predicted_history"]["overall"]


def test_other_answers_change_the_history(trained, tmp_path, monkeypatch):
    calls = record_decoding(monkeypatch, lambda key: "不是")
    assert decode(trained, tmp_path, "--history_source", "both") == 0
    gold, predicted = calls[0], merged(calls[1:])
    first_turns = {(d.id, d.turns[0].turn_id) for d in load_dialogues(DEV).dialogues}
    assert {key for key in gold if gold[key] != predicted[key]} == set(gold) - first_turns


def test_new_dialogues_without_answers(trained, tmp_path, capsys):
    new = questions_only(tmp_path / "new.json")
    assert decode(trained, tmp_path, input_file=new) == 0
    predictions = read(tmp_path / "pred.json")
    assert [(p["id"], p["turn_id"]) for p in predictions] == list(GOLD)
    assert all(isinstance(p["answer"], str) for p in predictions)
    assert decode(trained, tmp_path / "bad", "--do_eval", input_file=new) == 2
    assert "has no answers" in capsys.readouterr().err.strip().splitlines()[-1]
