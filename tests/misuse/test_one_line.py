"""Bad input to both entry scripts and the tools, through `main()`: every case is one
`error:` line and exit code 2, never a traceback."""
from __future__ import annotations

import errno
import json
import shutil
import tempfile

import pytest

import run_coqa
import run_seq2seq
import seq2seq.predicted
from coqa.tools import baseline, convert, tiny, validate
from tests.conftest import convqa_dialogue
from tests.misuse.conftest import (SAMPLE, coqa_argv, copy, one_line, random_bytes, s2s_argv,
                                   truncate, with_flags)


def _pretrained(fault):
    def change(model, tmp_path):
        folder = copy(model, tmp_path / "model")
        fault(folder)
        return folder
    return change


def _remove_safetensors_write_bin(folder):
    (folder / "model.safetensors").unlink()
    random_bytes(folder / "pytorch_model.bin")


def _empty_vocab(folder):
    (folder / "tokenizer.json").unlink()
    (folder / "vocab.txt").write_text("", encoding="utf-8")


PRETRAINED_FAULTS = {
    "truncated safetensors": (lambda f: truncate(f / "model.safetensors"),
                              ["model.safetensors", "truncated"]),
    "random-bytes safetensors": (lambda f: random_bytes(f / "model.safetensors"),
                                 ["model.safetensors", "not a safetensors file"]),
    "zero-byte safetensors": (lambda f: truncate(f / "model.safetensors", 0),
                              ["model.safetensors", "empty (0 bytes)"]),
    "random-bytes pytorch_model.bin": (_remove_safetensors_write_bin,
                                       ["pytorch_model.bin", "not a PyTorch file"]),
    "empty vocab.txt": (_empty_vocab, ["vocab.txt", "empty"]),
}


@pytest.mark.parametrize("script", ["coqa", "seq2seq"])
@pytest.mark.parametrize("case", list(PRETRAINED_FAULTS))
def test_bad_pretrained_folder(case, script, model, cache, tmp_path, capsys):
    fault, words = PRETRAINED_FAULTS[case]
    folder = _pretrained(fault)(model, tmp_path)
    if script == "coqa":
        code = run_coqa.main(coqa_argv(folder, tmp_path / "out", cache, "--do_train",
                                       "--max_steps", "1"))
    else:
        code = run_seq2seq.main(s2s_argv(folder, tmp_path / "out", cache,
                                         "--num_training_steps", "1"))
    one_line(capsys, code, str(folder), *words)


TRAINED_FAULTS = {
    "truncated safetensors": (lambda f: truncate(f / "model.safetensors"), ["truncated"]),
    "random-bytes safetensors": (lambda f: random_bytes(f / "model.safetensors"),
                                 ["not a safetensors file"]),
    "zero-byte safetensors": (lambda f: truncate(f / "model.safetensors", 0), ["0 bytes"]),
}


@pytest.mark.parametrize("script", ["coqa", "seq2seq"])
@pytest.mark.parametrize("case", list(TRAINED_FAULTS))
def test_bad_trained_folder(case, script, coqa_run, s2s_run, model, cache, tmp_path, capsys):
    fault, words = TRAINED_FAULTS[case]
    folder = copy(coqa_run if script == "coqa" else s2s_run, tmp_path / "trained")
    fault(folder)
    if script == "coqa":
        code = run_coqa.main(coqa_argv(folder, tmp_path / "out", cache, "--do_eval"))
    else:
        code = run_seq2seq.main(["--model_path", str(folder), "--input_file",
                                 str(SAMPLE / "dev.json"), "--output_file",
                                 str(tmp_path / "p.json")])
    one_line(capsys, code, str(folder / "model.safetensors"), *words)


CHECKPOINT_FAULTS = {
    "truncated optimizer.pt": (lambda c: truncate(c / "optimizer.pt", 100),
                               ["optimizer.pt", "truncated"]),
    "missing rng_state.pt": (lambda c: (c / "rng_state.pt").unlink(),
                             ["rng_state.pt", "missing"]),
    "broken trainer_state.json": (lambda c: (c / "trainer_state.json").write_text("{broken"),
                                  ["trainer_state.json", "broken"]),
    "trainer_state.json without its fields": (
        lambda c: (c / "trainer_state.json").write_text("[]"), ["trainer_state.json", "missing"]),
}


@pytest.mark.parametrize("case", list(CHECKPOINT_FAULTS))
def test_bad_checkpoint(case, coqa_run, model, cache, tmp_path, capsys):
    fault, words = CHECKPOINT_FAULTS[case]
    run = copy(coqa_run, tmp_path / "run")
    fault(run / "checkpoint-2")
    argv = coqa_argv(model, tmp_path / "out", cache, "--do_train", "--max_steps", "4",
                     "--save_steps", "2", "--resume_from_checkpoint", str(run / "checkpoint-2"))
    one_line(capsys, run_coqa.main(argv), str(run / "checkpoint-2"), *words)


@pytest.mark.parametrize("target", ["final model", "run folder"])
def test_resume_from_something_not_a_checkpoint(target, coqa_run, model, cache, tmp_path, capsys):
    folder = copy(coqa_run, tmp_path / "run")
    if target == "final model":
        for checkpoint in folder.glob("checkpoint-*"):
            shutil.rmtree(checkpoint)
    argv = coqa_argv(model, tmp_path / "out", cache, "--do_train", "--max_steps", "4",
                     "--resume_from_checkpoint", str(folder))
    line = one_line(capsys, run_coqa.main(argv), str(folder), "not a training checkpoint")
    if target == "run folder":
        assert str(folder / "checkpoint-4") in line


def _write(tmp_path, name, obj):
    path = tmp_path / name
    path.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    return path


def _list_id(tmp_path):
    data = json.loads((SAMPLE / "dev.json").read_text(encoding="utf-8"))
    data["data"][0]["id"] = [1, 2]
    return _write(tmp_path, "list_id.json", data)


def _repeated_turn(tmp_path):
    dialogue = convqa_dialogue(dialogue_id="d7")
    dialogue["Questions"][2]["turn_id"] = dialogue["Answers"][2]["turn_id"] = 2
    return _write(tmp_path, "repeated.json", {"version": "t", "data": [dialogue]})


def _empty(tmp_path):
    return _write(tmp_path, "empty.json", {"version": "t", "data": []})


DATA_FAULTS = {
    "dialogue id that is a list": (_list_id, ['"id" has type list']),
    "repeated turn_id": (_repeated_turn, ["dialogue d7", "turn 2", "repeated turn_id 2"]),
    '"data": []': (_empty, ['"data" is empty']),
}


DATA_TOOLS = ("run_coqa", "run_seq2seq train", "run_seq2seq decode", "validate", "baseline",
              "tiny", "convert")
# convert reads SQuAD-style files: of these faults only the empty data list applies to it.
DATA_FAULT_CASES = [(case, tool) for case in DATA_FAULTS for tool in DATA_TOOLS
                    if tool != "convert" or case == '"data": []']


@pytest.mark.parametrize("case, tool", DATA_FAULT_CASES)
def test_bad_data_file(case, tool, model, cache, coqa_run, s2s_run, tmp_path, capsys):
    make, words = DATA_FAULTS[case]
    path = make(tmp_path)
    if tool == "run_coqa":  # evaluation needs a trained model
        argv = coqa_argv(coqa_run, tmp_path / "out", cache, "--do_eval", "--predict_file", str(path))
        code = run_coqa.main(argv)
    elif tool == "run_seq2seq train":
        argv = s2s_argv(model, tmp_path / "out", cache, "--num_training_steps", "1")
        argv[argv.index("--train_file") + 1] = str(path)
        code = run_seq2seq.main(argv)
    elif tool == "run_seq2seq decode":
        code = run_seq2seq.main(["--model_path", str(s2s_run), "--input_file", str(path),
                                 "--output_file", str(tmp_path / "p.json")])
    elif tool == "validate":
        code = validate.main([str(path)])
    elif tool == "baseline":
        code = baseline.main(["--data-file", str(path), "--pred-file", str(tmp_path / "p.json")])
    elif tool == "tiny":
        code = tiny.main(["--data", str(path), "--out", str(tmp_path / "tiny")])
    else:
        code = convert.main(["--input", str(path), "--output", str(tmp_path / "c.json"),
                             "--domain", "百科"])
    one_line(capsys, code, str(path), *words)


COQA_FLAG_FAULTS = {
    # case -> (flags replaced or added, words the message must hold)
    "--per_gpu_eval_batch_size 0": ({"--do_eval": None, "--per_gpu_eval_batch_size": "0"},
                                    ["--per_gpu_eval_batch_size", "at least 1"]),
    "negative learning rate": ({"--do_train": None, "--max_steps": "1",
                                "--learning_rate": "-0.001"},
                               ["learning rate must not be negative", "-0.001"]),
}



@pytest.mark.parametrize("case", list(COQA_FLAG_FAULTS))
def test_bad_run_coqa_flag(case, model, cache, tmp_path, capsys):
    flags, words = COQA_FLAG_FAULTS[case]
    argv = with_flags(coqa_argv(model, tmp_path / "out", cache), flags)
    one_line(capsys, run_coqa.main(argv), *words)


@pytest.mark.parametrize("script", ["coqa", "seq2seq"])
@pytest.mark.parametrize("where", ["under a regular file", "unwritable"])
def test_bad_output_dir(where, script, model, cache, tmp_path, capsys, monkeypatch):
    (tmp_path / "file").write_text("x", encoding="utf-8")
    out = tmp_path / "file" / "out" if where == "under a regular file" else tmp_path / "ro"
    if where == "unwritable":  # tests run as root, for whom chmod changes nothing
        def denied(*args, dir=None, **kwargs):
            raise PermissionError(errno.EACCES, "Permission denied", str(dir))
        monkeypatch.setattr(tempfile, "TemporaryFile", denied)
    if script == "coqa":
        code = run_coqa.main(coqa_argv(model, out, cache, "--do_train", "--max_steps", "1"))
    else:
        code = run_seq2seq.main(s2s_argv(model, out, cache, "--num_training_steps", "1"))
    one_line(capsys, code, "--output_dir" if where != "unwritable" else "Permission denied", str(out))


DECODE_FAULTS = {
    "--batch_size 0": ({"--batch_size": "0"}, ["--batch_size", "at least 1"]),
    "--batch_size -2": ({"--batch_size": "-2"}, ["--batch_size", "at least 1"]),
    "--min_len above --max_tgt_length": ({"--min_len": "9", "--max_tgt_length": "4"},
                                         ["--min_len 9", "--max_tgt_length 4"]),
    "negative --subset": ({"--subset": "-1"}, ["--subset", ">= 0"]),
    "--input_file a directory": ({"--input_file": str(SAMPLE)}, ["--input_file", "directory"]),
    "--output_file a directory": ({"--output_file": "{tmp}"}, ["--output_file", "directory"]),
    "--output_file under a regular file": ({"--output_file": "{tmp}/file/p.json"},
                                           ["--output_file", "regular file"]),
}


@pytest.mark.parametrize("case", list(DECODE_FAULTS))
def test_bad_decode_flag(case, s2s_run, tmp_path, capsys, monkeypatch):
    flags, words = DECODE_FAULTS[case]
    (tmp_path / "file").write_text("x", encoding="utf-8")
    decoded = []
    monkeypatch.setattr(seq2seq.predicted, "decode_answers", lambda *a, **k: decoded.append(1))
    argv = with_flags(["--model_path", str(s2s_run), "--input_file", str(SAMPLE / "dev.json"),
                       "--output_file", str(tmp_path / "p.json")],
                      {k: v.format(tmp=tmp_path) for k, v in flags.items()})
    one_line(capsys, run_seq2seq.main(argv), *words)
    assert not decoded  # refused before any decoding


def test_decoding_without_model_path(tmp_path, capsys):
    argv = ["--do_decode", "--input_file", str(SAMPLE / "dev.json"), "--output_file",
            str(tmp_path / "p.json")]
    one_line(capsys, run_seq2seq.main(argv), "--model_path is required for decoding")
