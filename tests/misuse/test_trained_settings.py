"""A trained model remembers how it was trained, and nothing is silently wrong (issue 16):
evaluation refuses untrained heads and foreign folders, builds features with the
model's own settings unless a flag says otherwise (with a warning), and
--overwrite_output_dir leaves nothing of an earlier run behind."""
from __future__ import annotations

import json
import logging

import pytest

import run_coqa
from coqa.chat import main as chat_main
from tests.misuse.conftest import SAMPLE, coqa_argv, copy, one_line

EVAL = ["--model_type", "bert", "--predict_file", str(SAMPLE / "dev.json"), "--no_cuda"]


def eval_argv(model, out, cache, *extra):
    return [*EVAL, "--model_name_or_path", str(model), "--output_dir", str(out),
            "--cache_dir", str(cache), "--do_eval", *extra]


@pytest.fixture(scope="package")
def small_run(model, cache, tmp_path_factory):
    """A run trained with non-default feature settings: 96 tokens, stride 32, query 24,
    no history."""
    out = tmp_path_factory.mktemp("small_run") / "out"
    argv = coqa_argv(model, out, cache, "--do_train", "--max_steps", "3", "--save_steps", "0",
                     "--max_query_length", "24", "--history_len", "0", "--no_cuda")
    argv[argv.index("--max_seq_length") + 1] = "96"
    argv[argv.index("--doc_stride") + 1] = "32"
    assert run_coqa.main(argv) == 0
    return out


def test_untrained_encoder_is_refused_by_eval_predict_and_chat(model, cache, tmp_path, capsys):
    for mode in ("--do_eval", "--do_predict"):
        argv = [a if a != "--do_eval" else mode for a in eval_argv(model, tmp_path / "o", cache)]
        one_line(capsys, run_coqa.main(argv), "no trained QA heads in", str(model))
    one_line(capsys, chat_main(["--model", str(model)]), "no trained QA heads in", str(model))


def test_seq2seq_folder_is_named_as_such(s2s_run, cache, tmp_path, capsys):
    one_line(capsys, run_coqa.main(eval_argv(s2s_run, tmp_path / "o", cache)),
             str(s2s_run), "is a seq2seq model", "run_seq2seq.py", "not an extractive one")


def test_evaluation_uses_the_trained_feature_settings(small_run, cache, tmp_path):
    default_out, explicit_out = tmp_path / "default", tmp_path / "explicit"
    assert run_coqa.main(eval_argv(small_run, default_out, cache)) == 0
    assert run_coqa.main(eval_argv(small_run, explicit_out, cache, "--max_seq_length", "96",
                                   "--doc_stride", "32", "--max_query_length", "24",
                                   "--history_len", "0")) == 0
    used = json.loads((default_out / "args.json").read_text(encoding="utf-8"))
    assert (used["max_seq_length"], used["doc_stride"], used["max_query_length"],
            used["history_len"]) == (96, 32, 24, 0)
    for name in ("predictions_.json", "eval_results.json"):
        assert ((default_out / name).read_text(encoding="utf-8")
                == (explicit_out / name).read_text(encoding="utf-8"))


def test_an_explicit_flag_wins_with_one_warning(small_run, cache, tmp_path, caplog):
    out = tmp_path / "o"
    with caplog.at_level(logging.WARNING):
        assert run_coqa.main(eval_argv(small_run, out, cache, "--history_len", "2",
                                       "--middle", "bilstm")) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    history = [w for w in warnings if "--history_len" in w]
    assert history == [f"--history_len 2 given, but the model in {small_run} was trained "
                       f"with 0: using 2"]
    assert len([w for w in warnings if "--middle" in w]) == 1
    used = json.loads((out / "args.json").read_text(encoding="utf-8"))
    assert used["history_len"] == 2 and used["max_seq_length"] == 96
    assert used["middle"] == "none"  # what the model is, not what the flag asked for


def test_no_warning_when_no_flag_differs(small_run, cache, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        assert run_coqa.main(eval_argv(small_run, tmp_path / "o", cache, "--doc_stride", "32")) == 0
    assert not [r for r in caplog.records if "trained with" in r.getMessage()]


@pytest.mark.parametrize("damage", ["missing", "corrupt", "foreign"])
def test_missing_or_broken_settings_file_is_one_line(small_run, cache, tmp_path, capsys, damage):
    folder = copy(small_run, tmp_path / "model")
    settings = folder / "preprocessing_config.json"
    if damage == "missing":
        settings.unlink()
    elif damage == "corrupt":
        settings.write_text("{\"format\": 1, \"settings\": ", encoding="utf-8")
    else:
        settings.write_text(json.dumps({"format": 1, "pipeline": "seq2seq", "settings": {}}),
                            encoding="utf-8")
    one_line(capsys, run_coqa.main(eval_argv(folder, tmp_path / "o", cache)),
             "preprocessing_config.json")
    one_line(capsys, chat_main(["--model", str(folder)]), "preprocessing_config.json")


def test_overwrite_removes_the_earlier_run(model, cache, tmp_path, caplog):
    out = tmp_path / "out"
    assert run_coqa.main(coqa_argv(model, out, cache, "--do_train", "--do_eval", "--max_steps", "3",
                                   "--save_steps", "1", "--no_cuda")) == 0
    assert {"checkpoint-1", "checkpoint-2", "checkpoint-3", "predictions_.json"} <= {
        p.name for p in out.iterdir()}
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        assert run_coqa.main(coqa_argv(model, out, cache, "--do_train", "--do_eval",
                                       "--eval_all_checkpoints", "--max_steps", "1",
                                       "--save_steps", "1", "--overwrite_output_dir",
                                       "--no_cuda")) == 0
    names = {p.name for p in out.iterdir()}
    assert "checkpoint-1" in names and not {"checkpoint-2", "checkpoint-3"} & names
    assert (out / "notes.txt").read_text(encoding="utf-8") == "mine"
    results = json.loads((out / "eval_results.json").read_text(encoding="utf-8"))
    assert set(results) == {"checkpoint-1", "final"}
    left = [r.getMessage() for r in caplog.records if "did not write" in r.getMessage()]
    assert len(left) == 1 and left[0].endswith("notes.txt")


def test_overwrite_never_deletes_the_model_it_starts_from(small_run, cache, tmp_path, capsys):
    folder = copy(small_run, tmp_path / "model")
    argv = coqa_argv(folder, folder, cache, "--do_train", "--max_steps", "1",
                     "--overwrite_output_dir", "--no_cuda")
    one_line(capsys, run_coqa.main(argv), "--overwrite_output_dir would delete", str(folder))
    assert (folder / "model.safetensors").is_file()


def test_long_warmup_is_warned_and_warmup_ratio_sets_it(model, cache, tmp_path, caplog, capsys):
    with caplog.at_level(logging.INFO):
        assert run_coqa.main(coqa_argv(model, tmp_path / "a", cache, "--do_train", "--max_steps",
                                       "12", "--save_steps", "0", "--warmup_steps", "2000",
                                       "--no_cuda")) == 0
    warned = [r.getMessage() for r in caplog.records if "Warm-up (2000 steps)" in r.getMessage()]
    # 11 / 2000 of 1e-3 is the highest learning rate the 12 steps reach.
    assert len(warned) == 1 and "peaks at 5.5e-06" in warned[0]
    caplog.clear()
    argv = coqa_argv(model, tmp_path / "b", cache, "--do_train", "--max_steps", "12",
                     "--save_steps", "0", "--warmup_ratio", "0.25", "--no_cuda")
    at = argv.index("--warmup_steps")
    with caplog.at_level(logging.INFO):
        assert run_coqa.main(argv[:at] + argv[at + 2:]) == 0
    messages = [r.getMessage() for r in caplog.records]
    assert "  Warm-up steps = 3" in messages and not any("Warm-up (" in m for m in messages)
    # --warmup_steps 1 is explicit in coqa_argv: both together cannot work.
    one_line(capsys, run_coqa.main(coqa_argv(model, tmp_path / "c", cache, "--do_train",
                                             "--warmup_ratio", "0.1")),
             "--warmup_ratio 0.1", "--warmup_steps 1")


def test_seq2seq_resume_names_source_settings_that_differ(s2s_run, model, cache, tmp_path,
                                                          caplog):
    import run_seq2seq
    from tests.misuse.conftest import s2s_argv

    out = copy(s2s_run, tmp_path / "out")
    argv = s2s_argv(model, out, cache, "--num_training_steps", "4", "--save_steps", "2",
                    "--resume_from_checkpoint", str(out / "checkpoint-2"), "--history_turns", "0")
    with caplog.at_level(logging.WARNING):
        assert run_seq2seq.main(argv) == 0
    warned = [r.getMessage() for r in caplog.records if "trained with" in r.getMessage()]
    assert warned == [f"--history_turns 0 given, but the model in {out / 'checkpoint-2'} was "
                      f"trained with 2: using 0"]


def test_flags_are_checked_with_the_trained_settings_they_complete(small_run, cache, tmp_path):
    # 64 tokens with the default query length (64) leave no window, but the model was
    # trained with 24 query tokens: 64 - 24 - 3 = 37 >= stride 32.
    out = tmp_path / "o"
    assert run_coqa.main(eval_argv(small_run, out, cache, "--max_seq_length", "64")) == 0
    used = json.loads((out / "args.json").read_text(encoding="utf-8"))
    assert (used["max_seq_length"], used["doc_stride"], used["max_query_length"]) == (64, 32, 24)
