"""--no_tf32 and bf16 decoding, on the CPU: TF32 is set (or undone) by one helper that
both entry scripts call once the device is known, and only for a CUDA device; --bf16
decodes with the model in bfloat16 (a CPU allowed: tiny model, real answers)."""
from __future__ import annotations

import argparse
import json

import pytest
import torch

import run_coqa
import run_seq2seq
import seq2seq.decode
import seq2seq.fine_tune
from coqa.cli import apply_tf32
from coqa.extractive.arguments import build_parser
from seq2seq.arguments import decode_parser, fine_tune_parser
from seq2seq.decoding import DecodeConfig, cast_for_decoding, decode
from tests.conftest import REPO
from tests.seq2seq.test_decoding import build, sources

DEV = REPO / "data/sample/dev.json"


@pytest.fixture
def matmul_settings():
    """Put the process-wide TF32 settings back after the test."""
    saved = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
    yield
    torch.set_float32_matmul_precision(saved[0])
    torch.backends.cudnn.allow_tf32 = saved[1]


@pytest.mark.parametrize("parser", [build_parser, fine_tune_parser, decode_parser])
def test_every_program_has_no_tf32(parser):
    action = parser()._option_string_actions["--no_tf32"]
    assert action.dest == "no_tf32" and action.default is False and action.const is True


def test_tf32_on_cuda_unless_no_tf32_and_never_elsewhere(matmul_settings):
    cuda = torch.device("cuda", 0)  # a device object needs no GPU; the settings are global
    torch.set_float32_matmul_precision("highest")
    assert not apply_tf32(argparse.Namespace(no_tf32=False), torch.device("cpu"))
    assert torch.get_float32_matmul_precision() == "highest"
    assert apply_tf32(argparse.Namespace(no_tf32=False), cuda)
    assert torch.get_float32_matmul_precision() == "high" and torch.backends.cudnn.allow_tf32
    # --no_tf32 undoes an earlier call in the same process (tests, notebooks).
    assert not apply_tf32(argparse.Namespace(no_tf32=True), cuda)
    assert torch.get_float32_matmul_precision() == "highest"
    assert not torch.backends.cudnn.allow_tf32


class Stop(Exception):
    pass


@pytest.mark.parametrize("module,argv", [
    (run_coqa, ["--model_type", "bert", "--model_name_or_path", "m", "--output_dir", "{tmp}",
                "--do_eval", "--no_tf32"]),
    (seq2seq.fine_tune, ["--train_file", str(DEV), "--model_name_or_path", "m",
                         "--output_dir", "{tmp}", "--no_tf32"]),
    (seq2seq.decode, ["--model_path", "m", "--input_file", str(DEV), "--output_file",
                      "{tmp}/p.json", "--no_tf32"]),
])
def test_entry_scripts_apply_tf32_once_the_device_is_known(module, argv, tmp_path, monkeypatch):
    calls = []

    def spy(args, device):
        calls.append((args.no_tf32, device))
        raise Stop  # the rest of the run is not this test's business

    monkeypatch.setattr(module, "apply_tf32", spy)
    main = run_coqa.main if module is run_coqa else run_seq2seq.main
    with pytest.raises(Stop):
        main([a.replace("{tmp}", str(tmp_path)) for a in argv] + ["--no_cuda"])
    assert calls == [(True, torch.device("cpu"))]


def test_bf16_decoding_on_cpu_gives_answers():
    model = build(dropout=0.0)
    ids, mask = sources()
    config = DecodeConfig(beam_size=3, max_tgt_length=6)
    fp32 = decode(model, ids, mask, config)
    bf16_model = cast_for_decoding(build(dropout=0.0), "bf16", torch.device("cpu"))
    assert bf16_model.mlm.dtype == torch.bfloat16
    bf16 = decode(bf16_model, ids, mask, config)
    assert len(bf16.answers) == len(fp32.answers) == 3
    for answer in bf16.answers:
        assert answer.token_ids and answer.score > -1e9  # an answer, a finite score


@pytest.fixture(scope="module")
def trained(tiny_bert_factory, tmp_path_factory):
    model = tiny_bert_factory()
    out = tmp_path_factory.mktemp("s2s") / "model"
    argv = ["--train_file", "data/sample/train.json", "--output_dir", str(out),
            "--model_name_or_path", str(model), "--max_source_seq_length", "64",
            "--max_target_seq_length", "8", "--num_training_steps", "1",
            "--cached_train_features_file", str(out.parent / "cache"), "--no_cuda"]
    assert run_seq2seq.main(argv) == 0
    return out


def test_bf16_flag_decodes_in_bf16_on_cpu(trained, tmp_path, monkeypatch):
    dtypes = []
    original = seq2seq.decode.cast_for_decoding

    def spy(model, precision, device):
        model = original(model, precision, device)
        dtypes.append((precision, model.mlm.dtype))
        return model

    monkeypatch.setattr(seq2seq.decode, "cast_for_decoding", spy)
    pred = tmp_path / "pred.json"
    common = ["--model_path", str(trained), "--input_file", str(DEV), "--max_tgt_length", "4",
              "--subset", "4", "--beam_size", "2", "--no_cuda"]
    assert run_seq2seq.main(common + ["--output_file", str(pred), "--bf16"]) == 0
    assert dtypes == [("bf16", torch.bfloat16)]
    predictions = json.loads(pred.read_text(encoding="utf-8"))
    assert len(predictions) == 4 and all("answer" in p for p in predictions)


def test_fp16_and_bf16_together_is_one_line(trained, tmp_path, capsys):
    argv = ["--model_path", str(trained), "--input_file", str(DEV), "--output_file",
            str(tmp_path / "p.json"), "--fp16", "--bf16", "--no_cuda"]
    assert run_seq2seq.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--fp16 and --bf16 cannot be combined" in err[0], err
