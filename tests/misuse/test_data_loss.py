"""Misuse that could lose work: nothing a user trained is overwritten, resumes are checked,
the TensorBoard writer is flushed."""
from __future__ import annotations

import pytest

import run_coqa
import run_seq2seq
from tests.misuse.conftest import coqa_argv, copy, one_line, s2s_argv, truncate


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
