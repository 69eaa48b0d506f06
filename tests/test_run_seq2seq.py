"""run_seq2seq.py through main(): the s2s-ft command line as written, decoding with
--do_eval, and one-line errors for bad input."""
from __future__ import annotations

import json

import pytest

import run_seq2seq
from tests.conftest import REPO


@pytest.fixture(scope="module")
def trained(tiny_bert, tmp_path_factory):
    out = tmp_path_factory.mktemp("exp") / "QAQAFQ_CN_1"
    argv = ("--train_file data/sample/train.json --output_dir {out} --model_type unilm "
            "--model_name_or_path {model} --do_lower_case --max_source_seq_length 512 "
            "--max_target_seq_length 42 --per_gpu_train_batch_size 6 "
            "--gradient_accumulation_steps 4 --learning_rate 2e-5 --num_warmup_steps 2236 "
            "--num_training_epochs 15 --save_steps 77777 --num_training_steps 2 "
            "--cached_train_features_file {cache}").format(out=out, model=tiny_bert,
                                                            cache=out.parent / "cache")
    assert run_seq2seq.main(argv.split()) == 0
    return out


def test_command_line_as_written_trains_and_saves(trained):
    names = {p.name for p in trained.iterdir()}
    assert {"model.safetensors", "config.json", "seq2seq_config.json", "args.json",
            "tokenizer.json"} <= names
    config = json.loads((trained / "seq2seq_config.json").read_text())
    assert config["max_source_length"] == 512 and config["max_target_length"] == 42
    assert json.loads((trained / "args.json").read_text())["num_warmup_steps"] == 2236


def test_decode_and_eval_writes_predictions(trained, tmp_path):
    out = tmp_path / "pred.json"
    argv = ["--do_decode", "--do_eval", "--model_path", str(trained), "--input_file",
            str(REPO / "data/sample/dev.json"), "--output_file", str(out), "--beam_size", "2",
            "--max_tgt_length", "4", "--batch_size", "32", "--subset", "5"]
    assert run_seq2seq.main(argv) == 0
    predictions = json.loads(out.read_text(encoding="utf-8"))
    assert len(predictions) == 5 and all(isinstance(p["id"], str) for p in predictions)
    assert all(" " not in p["answer"] for p in predictions)  # no spaces between CJK characters
    results = json.loads((tmp_path / "eval_results_dev.json").read_text(encoding="utf-8"))
    # A --subset run is scored on the turns it decoded, not on the whole file.
    assert results["overall"]["turns"] == 5
    assert set(results) >= {"in_domain", "out_domain", "overall"}


def _error(capsys, argv):
    assert run_seq2seq.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:")
    return err[0]


def test_bad_input_one_line(tiny_bert, trained, tmp_path, capsys):
    missing = _error(capsys, ["--train_file", "data/sample/train.json", "--output_dir",
                              str(tmp_path / "o"), "--model_name_or_path", str(tmp_path / "nope")])
    assert "nope" in missing
    lines = tmp_path / "bad.jsonl"
    lines.write_text('{"src": "你好", "tgt": "好"}\n{"tgt": "好"}\n', encoding="utf-8")
    no_src = _error(capsys, ["--train_file", str(lines), "--output_dir", str(tmp_path / "o2"),
                             "--model_name_or_path", str(tiny_bert), "--num_training_steps", "1"])
    assert "line 2" in no_src and "src" in no_src
    too_long = _error(capsys, ["--do_decode", "--model_path", str(trained), "--input_file",
                               str(REPO / "data/sample/dev.json"), "--output_file",
                               str(tmp_path / "p.json"), "--max_tgt_length", "600"])
    assert "positions" in too_long
