"""Bad input and misuse of both entry scripts and the tools, through `main()`: every case
is one `error:` line and exit code 2 (130 for Ctrl-C), never a traceback; nothing a user
trained is overwritten; a failed save leaves no half-written folder."""
from __future__ import annotations

import errno
import json
import random
import shutil
import tempfile

import pytest

import run_coqa
import run_seq2seq
from coqa.tools import baseline, convert, tiny, validate
from coqa.train.step import OptimizerStep
from tests.conftest import REPO, convqa_dialogue

SAMPLE = REPO / "data" / "sample"


@pytest.fixture(scope="module")
def model(tiny_bert):
    return tiny_bert


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("misuse_cache")


def coqa_argv(model, out, cache, *extra):
    return ["--model_type", "bert", "--model_name_or_path", str(model), "--data_dir", str(SAMPLE),
            "--train_file", "train.json", "--predict_file", "dev.json", "--max_seq_length", "128",
            "--doc_stride", "48", "--per_gpu_train_batch_size", "8", "--learning_rate", "1e-3",
            "--warmup_steps", "1", "--output_dir", str(out), "--cache_dir", str(cache), *extra]


def s2s_argv(model, out, cache, *extra):
    return ["--train_file", str(SAMPLE / "train.json"), "--output_dir", str(out),
            "--model_name_or_path", str(model), "--max_source_seq_length", "128",
            "--max_target_seq_length", "16", "--per_gpu_train_batch_size", "4",
            "--learning_rate", "1e-3", "--cached_train_features_file", str(cache), *extra]


@pytest.fixture(scope="module")
def coqa_run(model, cache, tmp_path_factory):
    """A finished run_coqa.py run with checkpoint-2 and checkpoint-4."""
    out = tmp_path_factory.mktemp("coqa_run") / "out"
    assert run_coqa.main(coqa_argv(model, out, cache, "--do_train", "--max_steps", "4",
                                   "--save_steps", "2")) == 0
    return out


@pytest.fixture(scope="module")
def s2s_run(model, cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("s2s_run") / "out"
    assert run_seq2seq.main(s2s_argv(model, out, cache, "--num_training_steps", "4",
                                     "--save_steps", "2")) == 0
    return out


def one_line(capsys, code, *words, exit_code=2):
    err = capsys.readouterr().err
    assert code == exit_code, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def truncate(path, size=1000):
    with open(path, "r+b") as handle:
        handle.truncate(size)


def random_bytes(path, size=5000):
    # Seeded, and never starting with 0x80 (the legacy pickle format's first byte).
    data = bytearray(random.Random(0).randbytes(size))
    data[0] = 0x41
    path.write_bytes(bytes(data))


# --- data loss -----------------------------------------------------------------------

def test_seq2seq_refuses_a_non_empty_output_dir(model, cache, s2s_run, tmp_path, capsys):
    before = (s2s_run / "model.safetensors").read_bytes()
    code = run_seq2seq.main(s2s_argv(model, s2s_run, cache, "--num_training_steps", "1"))
    one_line(capsys, code, str(s2s_run), "not empty", "--overwrite_output_dir")
    assert (s2s_run / "model.safetensors").read_bytes() == before
    out = copy(s2s_run, tmp_path / "again")
    assert run_seq2seq.main(s2s_argv(model, out, cache, "--num_training_steps", "1",
                                     "--overwrite_output_dir")) == 0
    assert (out / "model.safetensors").read_bytes() != before


def test_seq2seq_resume_into_its_own_folder_is_allowed(model, cache, s2s_run, tmp_path):
    out = copy(s2s_run, tmp_path / "run")
    argv = s2s_argv(model, out, cache, "--num_training_steps", "4", "--save_steps", "2",
                    "--resume_from_checkpoint", str(out / "checkpoint-2"))
    assert run_seq2seq.main(argv) == 0


@pytest.mark.parametrize("script", ["coqa", "seq2seq"])
def test_folder_left_by_a_failed_start_is_reused(script, model, cache, tmp_path, capsys):
    out = tmp_path / "out"
    broken = copy(model, tmp_path / "broken")
    truncate(broken / "model.safetensors")
    main, argv = ((run_coqa.main, lambda m: coqa_argv(m, out, cache, "--do_train", "--max_steps", "1"))
                  if script == "coqa" else
                  (run_seq2seq.main, lambda m: s2s_argv(m, out, cache, "--num_training_steps", "1")))
    one_line(capsys, main(argv(broken)), "model.safetensors")
    assert main(argv(model)) == 0  # the folder holds only args.json from the failed start
    assert (out / "model.safetensors").is_file()


@pytest.mark.parametrize("script", ["coqa", "seq2seq"])
def test_resume_with_other_schedule_flags_is_refused(script, model, cache, coqa_run, s2s_run,
                                                     tmp_path, capsys):
    if script == "coqa":
        argv = coqa_argv(model, tmp_path / "out", cache, "--do_train", "--max_steps", "6",
                         "--save_steps", "2", "--resume_from_checkpoint",
                         str(coqa_run / "checkpoint-2"))
        argv[argv.index("--learning_rate") + 1] = "5e-3"
        argv[argv.index("--warmup_steps") + 1] = "3"
        line = one_line(capsys, run_coqa.main(argv), "--learning_rate was 0.001, now 0.005",
                        "--warmup_steps was 1, now 3", "--max_steps was 4, now 6",
                        "--ignore_resume_mismatch")
        main = run_coqa.main
    else:
        argv = s2s_argv(model, tmp_path / "out", cache, "--num_training_steps", "4",
                        "--save_steps", "2", "--num_warmup_steps", "2",
                        "--gradient_accumulation_steps", "2", "--resume_from_checkpoint",
                        str(s2s_run / "checkpoint-2"))
        line = one_line(capsys, run_seq2seq.main(argv), "--num_warmup_steps was 0, now 2",
                        "--gradient_accumulation_steps was 1, now 2")
        main = run_seq2seq.main
    assert "seed" not in line
    assert not (tmp_path / "out").exists()  # refused before anything was written
    if script == "coqa":  # told to, it resumes
        assert main(argv + ["--ignore_resume_mismatch"]) == 0


def test_tensorboard_writer_flushed_at_each_logging_step(model, cache, tmp_path, monkeypatch):
    import tensorboardX

    flushes = []

    class Writer(tensorboardX.SummaryWriter):
        def flush(self):
            flushes.append(1)
            super().flush()

    monkeypatch.setattr(tensorboardX, "SummaryWriter", Writer)
    assert run_coqa.main(coqa_argv(model, tmp_path / "out", cache, "--do_train", "--max_steps", "3",
                                   "--logging_steps", "1", "--save_steps", "0")) == 0
    assert len(flushes) >= 3


# --- one line and exit 2 ---------------------------------------------------------------

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


@pytest.mark.parametrize("tool", ["run_coqa", "run_seq2seq train", "run_seq2seq decode",
                                  "validate", "baseline", "tiny", "convert"])
@pytest.mark.parametrize("case", list(DATA_FAULTS))
def test_bad_data_file(case, tool, model, cache, s2s_run, tmp_path, capsys):
    make, words = DATA_FAULTS[case]
    path = make(tmp_path)
    if tool == "run_coqa":
        argv = coqa_argv(model, tmp_path / "out", cache, "--do_eval", "--predict_file", str(path))
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
        if case != '"data": []':
            pytest.skip("convert reads SQuAD-style files: only the empty data list applies")
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


def with_flags(argv, flags):
    """argv with each flag's value replaced (value None: a switch, added)."""
    argv = list(argv)
    for flag, value in flags.items():
        if value is None:
            argv.append(flag)
        elif flag in argv:
            argv[argv.index(flag) + 1] = value
        else:
            argv += [flag, value]
    return argv


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
    monkeypatch.setattr(run_seq2seq, "decode_answers", lambda *a, **k: decoded.append(1))
    argv = with_flags(["--model_path", str(s2s_run), "--input_file", str(SAMPLE / "dev.json"),
                       "--output_file", str(tmp_path / "p.json")],
                      {k: v.format(tmp=tmp_path) for k, v in flags.items()})
    one_line(capsys, run_seq2seq.main(argv), *words)
    assert not decoded  # refused before any decoding


def test_decoding_without_model_path(tmp_path, capsys):
    argv = ["--do_decode", "--input_file", str(SAMPLE / "dev.json"), "--output_file",
            str(tmp_path / "p.json")]
    one_line(capsys, run_seq2seq.main(argv), "--model_path is required for decoding")


# --- disk full, Ctrl-C -------------------------------------------------------------------

def _disk_full_after(monkeypatch, count):
    """safetensors' writer raises ENOSPC from its `count`-th call on, as a full disk does."""
    import coqa.extractive.model as extractive_model

    real = extractive_model.save_file
    calls = []

    def writer(tensors, filename, *args, **kwargs):
        calls.append(filename)
        if len(calls) >= count:
            raise OSError(errno.ENOSPC, "No space left on device", filename)
        return real(tensors, filename, *args, **kwargs)
    monkeypatch.setattr(extractive_model, "save_file", writer)


@pytest.mark.parametrize("save", ["checkpoint", "final model"])
def test_disk_full_while_saving(save, model, cache, tmp_path, monkeypatch, capsys):
    _disk_full_after(monkeypatch, 1)
    out = tmp_path / "out"
    code = run_coqa.main(coqa_argv(model, out, cache, "--do_train", "--max_steps", "2",
                                   "--save_steps", "2" if save == "checkpoint" else "0"))
    where = out / "checkpoint-2" / "model.safetensors" if save == "checkpoint" \
        else out / "model.safetensors"
    one_line(capsys, code, str(where), "the disk is full")
    assert not [p.name for p in out.iterdir() if p.name.startswith(".tmp-")]


def test_ctrl_c_says_where_to_resume(model, cache, tmp_path, monkeypatch, capsys):
    real = OptimizerStep.__call__
    steps = []

    def step(self, group):
        steps.append(1)
        if len(steps) == 4:
            raise KeyboardInterrupt
        return real(self, group)
    monkeypatch.setattr(OptimizerStep, "__call__", step)
    out = tmp_path / "out"
    code = run_coqa.main(coqa_argv(model, out, cache, "--do_train", "--max_steps", "6",
                                   "--save_steps", "2"))
    one_line(capsys, code, "interrupted at step 3", "--resume_from_checkpoint",
             str(out / "checkpoint-2"), exit_code=130)


@pytest.mark.parametrize("other", ["other data", "a seq2seq run"])
def test_resume_from_another_runs_checkpoint(other, coqa_run, s2s_run, model, cache, tmp_path,
                                             capsys):
    if other == "other data":
        argv = coqa_argv(model, tmp_path / "out", cache, "--do_train", "--max_steps", "4",
                         "--save_steps", "2", "--resume_from_checkpoint",
                         str(coqa_run / "checkpoint-2"))
        argv[argv.index("--train_file") + 1] = "dev.json"
        words = ["num_examples was", "another run"]
    else:  # the seq2seq run's schedule flags, so that only the checkpoint's content differs
        argv = with_flags(coqa_argv(model, tmp_path / "out", cache, "--do_train"),
                          {"--max_steps": "4", "--learning_rate": "0.001",
                           "--per_gpu_train_batch_size": "4", "--warmup_steps": "0",
                           "--num_train_epochs": "0", "--save_steps": "2",
                           "--resume_from_checkpoint": str(s2s_run / "checkpoint-2")})
        words = ["another run"]
    one_line(capsys, run_coqa.main(argv), str(coqa_run if other == "other data" else s2s_run),
             *words)


def test_ctrl_c_outside_training_is_one_line(tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(validate, "load_dialogues", interrupted)
    one_line(capsys, validate.main([str(SAMPLE / "dev.json")]), "interrupted", exit_code=130)


def test_random_pytorch_model_bin_looking_like_a_pickle(model, cache, tmp_path, capsys):
    folder = copy(model, tmp_path / "model")
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"\x80" + random.Random(1).randbytes(4999))
    code = run_coqa.main(coqa_argv(folder, tmp_path / "out", cache, "--do_train",
                                   "--max_steps", "1"))
    one_line(capsys, code, str(folder))
