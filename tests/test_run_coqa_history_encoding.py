"""run_coqa.py --history_encoding {hae,markers} end to end through main(): train 2 steps
(with a checkpoint), evaluate with gold and predicted history, reload without the flag (the
saved encoding is used), chat; predicted history marks the model's own answers; the flags
that cannot work are one line, exit 2."""
from __future__ import annotations

import io
import json
import sys

import numpy as np
import pytest

import coqa.extractive.answerer as answerer_module
import coqa.extractive.predicted as predicted_module
import run_coqa
import run_seq2seq
from coqa.chat import main as chat_main
from coqa.data.folders import load_tokenizer
from coqa.data.readers import load_dialogues
from coqa.extractive.history_marks import marker_tokens
from coqa.extractive.loading import load_trained_model, prepare_history_encoding
from tests.conftest import PASSAGE, SAMPLE_TEXTS

TRAIN, DEV = SAMPLE_TEXTS
ENCODINGS = ("hae", "markers")
SEQ = ["--max_seq_length", "128", "--doc_stride", "48", "--no_cuda"]


def run(model, out, *extra):
    return run_coqa.main(["--model_type", "bert", "--model_name_or_path", str(model),
                          "--output_dir", str(out), "--cache_dir", str(out.parent / "cache"),
                          "--per_gpu_eval_batch_size", "16", *SEQ, *extra])


def read(path):
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def encoder(tiny_bert_factory):
    return tiny_bert_factory(extra_texts=(PASSAGE,), dropout=0.0)


@pytest.fixture(scope="module")
def trained(encoder, tmp_path_factory):
    """{encoding: model folder} after 2 training steps, checkpoint-1 saved on the way."""
    folders = {}
    for encoding in ENCODINGS:
        out = tmp_path_factory.mktemp(f"trained_{encoding}") / "model"
        assert run(encoder, out, "--do_train", "--train_file", str(TRAIN), "--max_steps", "2",
                   "--save_steps", "1", "--per_gpu_train_batch_size", "4",
                   "--history_encoding", encoding) == 0
        folders[encoding] = out
    return folders


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_the_saved_model_remembers_its_encoding(trained, encoder, encoding):
    folder = trained[encoding]
    settings = read(folder / "preprocessing_config.json")["settings"]
    assert settings["history_encoding"] == encoding
    assert read(folder / "convqa_config.json")["history_answer_turns"] == (2 if encoding == "hae" else 0)
    base_rows = read(encoder / "config.json")["vocab_size"]
    rows = read(folder / "config.json")["vocab_size"]
    tokenizer = load_tokenizer(str(folder))
    if encoding == "markers":  # the saved tokenizer holds the markers; nothing is added twice
        assert rows == base_rows + 4 == len(tokenizer)
        assert set(marker_tokens(2)) <= set(tokenizer.all_special_tokens)
        loaded = load_trained_model(str(folder))
        prepare_history_encoding(tokenizer, loaded.model, loaded.features, str(folder))
        assert len(tokenizer) == rows
        assert loaded.model.encoder.get_input_embeddings().num_embeddings == rows
    else:
        assert rows == base_rows


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_eval_gold_and_predicted_history_without_the_flag(trained, tmp_path, encoding):
    out = tmp_path / "eval"
    assert run(trained[encoding], out, "--do_eval", "--predict_file", str(DEV),
               "--history_source", "both") == 0
    assert read(out / "args.json")["history_encoding"] == encoding
    turns = sum(len(d.turns) for d in load_dialogues(DEV).dialogues)
    for name in ("predictions_.json", "predictions_predicted_.json"):
        assert len(read(out / name)) == turns, name
    results = read(out / "eval_results.json")
    assert results["overall"]["turns"] == turns
    assert "predicted_history" in results
    # A checkpoint saved during training is a model of the same encoding.
    checkpoint = out.parent / "checkpoint"
    assert run(trained[encoding] / "checkpoint-1", checkpoint, "--do_predict",
               "--predict_file", str(DEV)) == 0
    assert read(checkpoint / "args.json")["history_encoding"] == encoding
    assert len(read(checkpoint / "predictions_checkpoint-1.json")) == turns


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_predicted_history_marks_the_models_own_answers(trained, tmp_path, monkeypatch, encoding):
    seen = []
    real = predicted_module.build_features

    def spy(dialogues, *args, **kwargs):
        seen.extend(dialogues)
        return real(dialogues, *args, **kwargs)
    monkeypatch.setattr(predicted_module, "build_features", spy)
    out = tmp_path / "out"
    assert run(trained[encoding], out, "--do_predict", "--predict_file", str(DEV),
               "--history_source", "predicted") == 0
    answers = {(p["id"], p["turn_id"]): p["answer"] for p in read(out / "predictions_.json")}
    checked = 0
    for dialogue in seen:
        for turn in dialogue.turns[:-1]:  # the history turns: answered and marked as predicted
            assert turn.answer == answers[(dialogue.id, turn.turn_id)]
            if turn.span is not None:
                assert dialogue.passage[turn.span[0]:turn.span[1]] == turn.answer
                checked += 1
            else:
                assert turn.answer in ("是的", "不是", "无法作答")
    assert checked > 0


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_gold_answers_make_predicted_history_gold_history(trained, tmp_path, monkeypatch, encoding):
    """The oracle: post-processing that answers every turn with its gold answer (and gold
    span) makes the predicted-history features those of gold history, row for row."""
    gold = {(d.id, t.turn_id): t for d in load_dialogues(DEV).dialogues for t in d.turns}
    seen = []

    def gold_answers(start, end, features, post):
        seen.append(features)
        predictions, nbest = [], {}
        for record in features.examples:
            turn = gold[(record.dialogue_id, record.turn_id)]
            predictions.append({"id": record.dialogue_id, "turn_id": record.turn_id,
                                "answer": turn.answer})
            entry = {"text": turn.answer, "score": 0.0, "kind": "span"}
            if turn.span is not None:
                entry["offsets"] = list(turn.span)
            nbest[f"{record.dialogue_id}_{record.turn_id}"] = [entry]
        return predictions, nbest
    monkeypatch.setattr(predicted_module, "predict_answers", gold_answers)
    assert run(trained[encoding], tmp_path / "out", "--do_predict", "--predict_file", str(DEV),
               "--history_source", "both") == 0
    fields = ["input_ids", "token_offsets", "start_positions"] + \
        (["history_answer_ids"] if encoding == "hae" else [])

    def rows(feature_sets):
        found = {}
        for features in feature_sets:
            for example, record in enumerate(features.examples):
                index = np.flatnonzero(features.example_index == example)
                found[(record.dialogue_id, record.turn_id)] = {
                    name: getattr(features, name)[index] for name in fields}
        return found
    gold_rows, predicted_rows = rows(seen[:1]), rows(seen[1:])
    assert gold_rows.keys() == predicted_rows.keys() == gold.keys()
    for key, expected in gold_rows.items():
        for name in fields:
            np.testing.assert_array_equal(predicted_rows[key][name], expected[name],
                                          err_msg=f"{key} {name}")


def test_an_explicit_flag_that_differs_warns_or_is_refused(trained, trained_extractive, tmp_path,
                                                           caplog, capsys):
    assert run(trained["hae"], tmp_path / "a", "--do_predict", "--predict_file", str(DEV),
               "--history_encoding", "concat") == 0
    assert "--history_encoding concat given, but the model in" in caplog.text
    assert read(tmp_path / "a" / "args.json")["history_encoding"] == "concat"
    # A concat model has no history answer embedding: hae cannot work with it.
    capsys.readouterr()
    assert run(trained_extractive, tmp_path / "b", "--do_predict", "--predict_file", str(DEV),
               "--history_encoding", "hae") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: --history_encoding hae with --history_len 2 needs a "
                              "history answer embedding")


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_history_encoding_without_history_is_one_line(encoder, tmp_path, capsys, encoding):
    assert run(encoder, tmp_path / "out", "--do_train", "--train_file", str(TRAIN),
               "--history_encoding", encoding, "--history_len", "0") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: --history_encoding {encoding} needs --history_len of at least 1 "
                   f"(got 0): it shows the previous turns' answers in the passage, and there "
                   f"are none"]


def test_run_seq2seq_has_no_history_encoding(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_seq2seq.main(["--history_encoding", "hae", "--output_dir", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --history_encoding" in capsys.readouterr().err


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_chat_marks_its_own_earlier_answers(trained, tmp_path, monkeypatch, capsys, encoding):
    seen = []
    real = answerer_module.build_features

    def spy(dialogues, *args, **kwargs):
        seen.extend(dialogues)
        return real(dialogues, *args, **kwargs)
    monkeypatch.setattr(answerer_module, "build_features", spy)
    # An answerer that always answers a span, so that there is something to mark.
    real_answers = answerer_module.predict_answers

    def span_first(start, end, features, post):
        predictions, nbest = real_answers(start, end, features, post)
        return predictions, {key: sorted(entries, key=lambda e: e["kind"] != "span")
                             for key, entries in nbest.items()}
    monkeypatch.setattr(answerer_module, "predict_answers", span_first)
    passage = tmp_path / "passage.txt"
    passage.write_text(PASSAGE, encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", io.StringIO("小明住在哪里？\n他喜欢什么？\n:quit\n"))
    assert chat_main(["--model", str(trained[encoding]), "--passage", str(passage),
                      "--no_cuda"]) == 0
    shown = capsys.readouterr().out
    assert shown.count("答: ") == 2
    first_answer = shown.split("答: ")[1].splitlines()[0]
    second = seen[-1]
    assert [t.question for t in second.turns] == ["小明住在哪里？", "他喜欢什么？"]
    span = second.turns[0].span
    assert span is not None and PASSAGE[span[0]:span[1]] == first_answer
