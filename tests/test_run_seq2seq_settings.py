"""Decoding and chat build their sources as the model was trained (its
preprocessing_config.json), a flag given explicitly wins with one warning, and a folder
that holds no trained seq2seq model is refused in one line. Also the dispatcher: each
program's own flags and --help, the alias spellings, parsing before torch."""
from __future__ import annotations

import io
import json
import logging
import shutil
import subprocess
import sys

import pytest

import run_seq2seq
import seq2seq.chat as chat_module
import seq2seq.decode as decode_module
from coqa.cli import explicit_dests
from seq2seq.arguments import (DECODE, FINE_TUNE, decode_parser, fine_tune_parser, mode_of)
from tests.conftest import REPO
from tests.test_run_seq2seq_decode import s2s_ft_checkpoint

DEV = REPO / "data/sample/dev.json"
# Every source setting away from its default: no history, questions only, small windows.
TRAINED = {"history_format": "question_only", "history_len": 0, "max_query_length": 12,
           "doc_stride": 20, "max_source_seq_length": 64}
TRAINED_FLAGS = ["--history_format", "question_only", "--history_turns", "0",
                 "--history_tokens", "12", "--window_stride", "20"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_bert):
    root = tmp_path_factory.mktemp("s2s_settings")
    out = root / "model"
    assert run_seq2seq.main(["--train_file", "data/sample/train.json", "--output_dir", str(out),
                             "--model_name_or_path", str(tiny_bert),
                             "--max_source_seq_length", "64", "--max_target_seq_length", "8",
                             "--num_training_steps", "1", *TRAINED_FLAGS,
                             "--cached_train_features_file", str(root / "cache")]) == 0
    return out


def record_sources(monkeypatch):
    """Decoding as usual; the SourceConfig each example set was built with."""
    seen = []
    real = decode_module.load_or_build_examples

    def recording(path, tokenizer, config, *rest, **kwargs):
        seen.append(config)
        return real(path, tokenizer, config, *rest, **kwargs)
    monkeypatch.setattr(decode_module, "load_or_build_examples", recording)
    return seen


def decode(model, out, *extra):
    return run_seq2seq.main(["--model_path", str(model), "--input_file", str(DEV),
                             "--output_file", str(out), "--max_tgt_length", "3",
                             "--subset", "6", "--batch_size", "8", *extra])


def one_line_error(capsys, argv):
    assert run_seq2seq.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:"), err
    return err[0]


def test_the_saved_settings_are_the_trained_ones(trained):
    saved = json.loads((trained / "preprocessing_config.json").read_text(encoding="utf-8"))
    assert saved["pipeline"] == "seq2seq"
    assert {k: saved["settings"][k] for k in TRAINED} == TRAINED


def test_decoding_uses_the_trained_settings(trained, tmp_path, monkeypatch):
    seen = record_sources(monkeypatch)
    assert decode(trained, tmp_path / "plain.json") == 0
    assert {k: getattr(seen[0], k) for k in TRAINED} == TRAINED
    # The same settings given as flags (max_seq_length: source + --max_tgt_length 3).
    assert decode(trained, tmp_path / "flags.json", *TRAINED_FLAGS, "--max_seq_length", "67") == 0
    assert seen[1] == seen[0]
    assert (json.loads((tmp_path / "flags.json").read_text(encoding="utf-8"))
            == json.loads((tmp_path / "plain.json").read_text(encoding="utf-8")))


def test_predicted_history_uses_the_trained_settings(trained, tmp_path, monkeypatch):
    used, asked = [], []

    def answerer(model, data, dialogues, tokenizer, source, *rest):
        used.append(source)
        return lambda history: asked.append(history) or ([], None)

    monkeypatch.setattr(decode_module, "history_answerer", answerer)
    assert run_seq2seq.main(["--do_decode", "--model_path", str(trained), "--input_file",
                             str(DEV), "--output_file", str(tmp_path / "p.json"),
                             "--history_source", "predicted"]) == 0
    source, = used
    assert asked == ["predicted"]
    assert {k: getattr(source, k) for k in TRAINED} == TRAINED


def test_an_explicit_flag_wins_with_a_warning(trained, tmp_path, monkeypatch, caplog):
    seen = record_sources(monkeypatch)
    caplog.set_level(logging.WARNING)
    # --history_len: the extractive spelling of --history_turns.
    assert decode(trained, tmp_path / "p.json", "--history_len", "1") == 0
    assert seen[0].history_len == 1 and seen[0].history_format == "question_only"
    warnings = [r.getMessage() for r in caplog.records if "trained with" in r.getMessage()]
    assert len(warnings) == 1
    assert "--history_turns 1" in warnings[0] and "trained with 0" in warnings[0]


def test_chat_uses_the_trained_settings(trained, tmp_path, monkeypatch):
    answerers = []
    monkeypatch.setattr(chat_module, "run_chat", lambda answerer, *rest: answerers.append(answerer))
    passage = tmp_path / "passage.txt"
    passage.write_text("小明今年八岁。", encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert chat_module.main(["--model", str(trained), "--passage", str(passage), "--no_cuda"]) == 0
    assert {k: getattr(answerers[0].source, k) for k in TRAINED} == TRAINED


@pytest.mark.parametrize("damage", ["missing", "corrupt", "foreign"])
def test_a_bad_preprocessing_config_is_one_line(trained, tmp_path, capsys, damage):
    model = shutil.copytree(trained, tmp_path / "model")
    config = model / "preprocessing_config.json"
    if damage == "missing":
        config.unlink()
    elif damage == "corrupt":
        config.write_text('{"format": 1, "pipeline": "seq', encoding="utf-8")
    else:
        config.write_text(json.dumps({"format": 1, "pipeline": "extractive", "settings": {}}))
    err = one_line_error(capsys, ["--do_decode", "--model_path", str(model), "--input_file",
                                  str(DEV), "--output_file", str(tmp_path / "p.json")])
    assert "preprocessing_config.json" in err


def test_an_extractive_folder_is_refused_naming_it(trained, tmp_path, capsys):
    model = shutil.copytree(trained, tmp_path / "extractive")
    (model / "seq2seq_config.json").unlink()
    (model / "convqa_config.json").write_text("{}", encoding="utf-8")
    err = one_line_error(capsys, ["--model_path", str(model), "--input_file", str(DEV),
                                  "--output_file", str(tmp_path / "p.json")])
    assert "extractive" in err and str(model) in err


def test_a_pretrained_encoder_is_refused(tiny_bert, tmp_path, capsys):
    err = one_line_error(capsys, ["--do_decode", "--model_path", str(tiny_bert), "--input_file",
                                  str(DEV), "--output_file", str(tmp_path / "p.json")])
    assert f"no trained seq2seq model in {tiny_bert}" in err


def test_an_s2s_ft_checkpoint_takes_the_flags_said_once(trained, tmp_path, monkeypatch, caplog):
    ckpt = s2s_ft_checkpoint(trained, tmp_path / "ckpt-7")
    seen = record_sources(monkeypatch)
    caplog.set_level(logging.INFO)
    assert decode(ckpt, tmp_path / "p.json", "--history_turns", "1",
                  "--tokenizer_name", str(trained)) == 0
    assert seen[0].history_len == 1 and seen[0].history_format == "QAQAFQ"
    said = [r.getMessage() for r in caplog.records if "s2s-ft checkpoint" in r.getMessage()
            and "flags and defaults" in r.getMessage()]
    assert len(said) == 1


def test_warmup_ratio_and_steps_together_are_refused(tiny_bert, tmp_path, capsys):
    err = one_line_error(capsys, ["--train_file", "data/sample/train.json", "--output_dir",
                                  str(tmp_path / "o"), "--model_name_or_path", str(tiny_bert),
                                  "--warmup_ratio", "0.1", "--num_warmup_steps", "5"])
    assert "--warmup_ratio" in err and "--num_warmup_steps" in err


# The dispatcher and the parsers (no model, no torch)


@pytest.mark.parametrize("argv, mode", [
    (["--train_file", "t", "--model_name_or_path", "m", "--output_dir", "o"], FINE_TUNE),
    (["--do_decode", "--model_path", "m"], DECODE),
    (["--model_path", "m", "--input_file", "i", "--output_file", "p"], DECODE),
    (["--model_path=m", "--input_file=i"], DECODE),
    (["--model_path", "m", "--input_file", "i", "--train_file", "t"], FINE_TUNE),
    (["--do_train", "--help"], FINE_TUNE),
    (["--help"], None),
    ([], FINE_TUNE),
])
def test_mode_of_the_old_command_lines(argv, mode):
    assert mode_of(argv) == mode


@pytest.mark.parametrize("build", [fine_tune_parser, decode_parser])
def test_both_spellings_of_the_history_flags(build):
    parser = build()
    ours = ["--history_turns", "1", "--history_tokens", "9", "--window_stride", "7",
            "--local_rank", "3"]
    theirs = ["--history_len", "1", "--max_query_length", "9", "--doc_stride", "7",
              "--local-rank", "3"]
    assert vars(parser.parse_args(ours)) == vars(parser.parse_args(theirs))
    assert explicit_dests(parser, theirs) == {"history_turns", "history_tokens",
                                              "window_stride", "local_rank"}


def test_the_constants_spelled_out_for_parsing_match():
    from seq2seq import arguments
    from seq2seq.decoding import DECODE_METHODS
    from seq2seq.model import MASK_WAYS

    assert arguments.DECODE_METHODS == DECODE_METHODS and arguments.MASK_WAYS == MASK_WAYS


def test_help_says_how_to_get_each_programs_help(capsys):
    assert run_seq2seq.main(["--help"]) == 0
    text = capsys.readouterr().out
    assert "--do_train --help" in text and "--do_decode --help" in text
    for argv, flag, absent in ((["--do_decode", "--help"], "--beam_size", "--num_warmup_steps"),
                               (["--do_train", "--help"], "--num_warmup_steps", "--beam_size")):
        with pytest.raises(SystemExit) as exit_:
            run_seq2seq.main(argv)
        assert exit_.value.code == 0
        text = capsys.readouterr().out
        assert flag in text and absent not in text


def test_a_flag_of_the_other_program_is_one_line(capsys):
    for argv, words in ((["--train_file", "t", "--beam_size", "3"],
                         "--beam_size is a decoding flag"),
                        (["--do_decode", "--output_dir", "o"],
                         "--output_dir is a fine-tuning flag")):
        with pytest.raises(SystemExit) as exit_:
            run_seq2seq.main(argv)
        assert exit_.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0]


def test_a_typo_is_answered_without_importing_torch():
    code = ("import sys, run_seq2seq\n"
            "for argv in (['--do_decode', '--beam_sise', '2'], ['--train_file']):\n"
            "    try:\n"
            "        run_seq2seq.main(argv)\n"
            "    except SystemExit as exit_:\n"
            "        assert exit_.code == 2\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == "False"


def test_a_tokenizer_of_another_vocabulary_is_refused(trained, tiny_bert, tiny_bert_factory,
                                                      tmp_path, capsys):
    """--tokenizer_name with a trained folder: the model's ids mean the tokens of the
    tokenizer saved with it. The same vocabulary (the old command lines name the pretrained
    model's) decodes; another one would turn every id into another token: one line."""
    assert decode(trained, tmp_path / "same.json", "--tokenizer_name", str(tiny_bert)) == 0
    # Fewer tokens than the model's rows: nothing else would notice.
    other = tiny_bert_factory(text_files=(DEV,))
    capsys.readouterr()
    err = one_line_error(capsys, ["--model_path", str(trained), "--input_file", str(DEV),
                                  "--output_file", str(tmp_path / "p.json"),
                                  "--tokenizer_name", str(other)])
    assert "--tokenizer_name" in err and str(other) in err and str(trained) in err
    assert not (tmp_path / "p.json").exists()
