"""run_seq2seq.py decoding as the users ran decode_seq2seq.py: their cn_run_predict.sh
command line word for word (and with its commented-out flags), an s2s-ft ckpt-N folder
with s2s-ft's key names, --do_rule, and sources shorter than the old 192-token floor."""
from __future__ import annotations

import json
import logging

import pytest
import torch

import run_seq2seq
from coqa.data.readers import load_dialogues
from coqa.data.text import passage_spelling
from tests.conftest import REPO

DEV = REPO / "data/sample/dev.json"
# cn_run_predict.sh, with our paths; the last line holds the flags it had commented out.
USERS_COMMAND = ("--model_type unilm --tokenizer_name {tok} --input_file {data} --split dev "
                 "--do_lower_case --model_path {model} --max_seq_length 512 --max_tgt_length 42 "
                 "--batch_size 96 --mode s2s --output_file {out} --do_rule")
COMMENTED_OUT = "--beam_size 3 --length_penalty 0 --forbid_duplicate_ngrams --forbid_ignore_word 。 --fp16 --amp"


@pytest.fixture(scope="module")
def tiny_model(tiny_bert_factory):
    return tiny_bert_factory((REPO / "data/sample/train.json", DEV), extra_texts=("Henry A. Walsh",))


@pytest.fixture(scope="module")
def trained(tiny_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("exp") / "QAQAFQ_CN_1"
    argv = ["--train_file", "data/sample/train.json", "--output_dir", str(out),
            "--model_name_or_path", str(tiny_model), "--do_lower_case",
            "--max_source_seq_length", "464", "--max_target_seq_length", "48",
            "--num_training_steps", "2", "--learning_rate", "1e-3",
            "--cached_train_features_file", str(out.parent / "cache")]
    assert run_seq2seq.main(argv) == 0
    return out


@pytest.fixture(scope="module")
def fork_lines(tmp_path_factory):
    """The ConvQA_CN fork's dev file: JSON lines of src tokens, tgt, id and passages."""
    path = tmp_path_factory.mktemp("fork") / "ConvQA_dev.json"
    rows = []
    for dialogue in load_dialogues(DEV).dialogues[:2]:
        for turn in dialogue.turns[:3]:
            rows.append({"src": list(turn.question) + ["[SEP]"] + list(dialogue.passage[:80]),
                         "tgt": list(turn.answer), "id": f"{dialogue.id}#{turn.turn_id}",
                         "passages": dialogue.passage})
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def s2s_ft_checkpoint(trained, folder):
    """Our trained folder rewritten as s2s-ft saves ckpt-N: config.json with s2s-ft's
    extra fields, pytorch_model.bin with its key names, nothing else."""
    from safetensors.torch import load_file
    folder.mkdir()
    config = json.loads((trained / "config.json").read_text())
    config.update(label_smoothing=0.1, source_type_id=0, target_type_id=1)
    (folder / "config.json").write_text(json.dumps(config))
    state = load_file(str(trained / "model.safetensors"))
    state["cls.predictions.decoder_weight"] = state["bert.embeddings.word_embeddings.weight"]
    state["crit_mask_lm_smoothed.one_hot"] = torch.zeros(1, config["vocab_size"])
    torch.save(state, folder / "pytorch_model.bin")
    return folder


def users_run(tok, data, model, out, extra=""):
    argv = USERS_COMMAND.format(tok=tok, data=data, model=model, out=out).split()
    return run_seq2seq.main(argv + extra.split())


def test_users_decode_command_runs_as_written(tiny_model, trained, fork_lines, tmp_path,
                                              caplog):
    caplog.set_level(logging.INFO)
    out = tmp_path / "mlm_qaqafq.json"
    assert users_run(tiny_model, fork_lines, trained, out) == 0
    predictions = json.loads(out.read_text(encoding="utf-8"))
    assert [p["id"] for p in predictions[:3]] == [predictions[0]["id"]] * 3
    assert [p["turn_id"] for p in predictions[:3]] == [1, 2, 3]
    assert not any("Ignored" in r.getMessage() for r in caplog.records)
    caplog.clear()
    beam = tmp_path / "beam.json"
    assert users_run(tiny_model, fork_lines, trained, beam, COMMENTED_OUT) == 0
    assert len(json.loads(beam.read_text(encoding="utf-8"))) == len(predictions)
    ignored = [r.getMessage() for r in caplog.records if "Ignored" in r.getMessage()]
    assert len(ignored) == 1 and "--amp" in ignored[0] and "--fp16" in ignored[0]


def test_s2s_ft_checkpoint_decodes_like_our_folder(tiny_model, trained, fork_lines, tmp_path):
    ckpt = s2s_ft_checkpoint(trained, tmp_path / "ckpt-5105")
    ours, theirs = tmp_path / "ours.json", tmp_path / "theirs.json"
    assert users_run(tiny_model, fork_lines, trained, ours, "--beam_size 2") == 0
    assert users_run(tiny_model, fork_lines, ckpt, theirs, "--beam_size 2") == 0
    assert json.loads(theirs.read_text()) == json.loads(ours.read_text())


def test_do_rule_gives_the_passage_spelling(tiny_model, trained, tmp_path):
    lines = tmp_path / "lines.json"
    passage = "Henry A. Walsh" * 3
    lines.write_text(json.dumps({"src": "henry a. walsh", "id": "x#1", "passages": passage})
                     + "\n", encoding="utf-8")
    plain, ruled = tmp_path / "plain.json", tmp_path / "ruled.json"
    common = ["--model_path", str(trained), "--input_file", str(lines), "--max_tgt_length", "6"]
    assert run_seq2seq.main(common + ["--output_file", str(plain)]) == 0
    assert run_seq2seq.main(common + ["--output_file", str(ruled), "--do_rule"]) == 0
    answer = json.loads(plain.read_text())[0]["answer"]
    assert json.loads(ruled.read_text())[0]["answer"] == passage_spelling(answer, passage)


@pytest.mark.parametrize("length", ["8", "64", "150"])
def test_short_sources_train_and_decode(tiny_model, tmp_path, length):
    out = tmp_path / "short"
    argv = ["--train_file", "data/sample/train.json", "--output_dir", str(out),
            "--model_name_or_path", str(tiny_model), "--max_source_seq_length", length,
            "--max_target_seq_length", "8", "--num_training_steps", "1",
            "--cached_train_features_file", str(tmp_path / "cache")]
    assert run_seq2seq.main(argv) == 0
    pred = tmp_path / "pred.json"
    assert run_seq2seq.main(["--model_path", str(out), "--input_file", str(DEV), "--output_file",
                             str(pred), "--max_tgt_length", "3", "--subset", "4"]) == 0
    assert len(json.loads(pred.read_text(encoding="utf-8"))) == 4


def test_bad_decode_flags_one_line(trained, tmp_path, capsys):
    common = ["--model_path", str(trained), "--input_file", str(DEV), "--output_file",
              str(tmp_path / "p.json")]
    for extra, words in ((["--mode", "l2r"], "--mode l2r"),
                         (["--max_seq_length", "40", "--max_tgt_length", "42"], "--max_tgt_length 42"),
                         (["--config_path", str(tmp_path / "nope.json")], "nope.json"),
                         (["--max_seq_length", "400", "--window_stride", "900"], "window_stride 900")):
        assert run_seq2seq.main(common + extra) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0], err
