"""run_coqa.py end to end: `main([...])` in-process on data/sample with a tiny random BERT,
then the files it writes are read back. Every run is a few optimizer steps on CPU."""
from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

import run_coqa
from coqa.extractive.model import ConvQAModel
from coqa.tools.synthetic import write_dataset
from evaluate.events import read_scalars
from tests.conftest import REPO, convqa_dialogue, write_tiny_model

SAMPLE = REPO / "data" / "sample"
DEV_TURNS = sum(len(d["Questions"])
                for d in json.loads((SAMPLE / "dev.json").read_text(encoding="utf-8"))["data"])
RESULT_KEYS = ["儿童故事", "热点新闻", "历史", "育儿知识", "in_domain", "out_domain", "overall"]
# The no-answer threshold that would have been best (tests/test_run_coqa_threshold.py).
BEST_KEYS = ["best_f1", "best_f1_thresh", "best_exact", "best_exact_thresh"]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A random BERT (hidden 32, 2 layers, 512 positions) whose vocabulary covers the
    sample data and the synthetic dialogues."""
    root = tmp_path_factory.mktemp("run_coqa_model")
    synthetic = root / "synthetic.json"
    write_dataset(synthetic, 20, seed=0)
    files = [SAMPLE / "train.json", SAMPLE / "dev.json", synthetic]
    return write_tiny_model(root / "tiny", files)


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory):
    """One feature cache for the short runs, so the sample features are built once."""
    return tmp_path_factory.mktemp("run_coqa_cache")


def short_run(model, output_dir, cache_dir, *extra):
    """Flags of a quick run on the sample data: 128-token features, batch 8."""
    return ["--model_type", "bert", "--model_name_or_path", str(model),
            "--data_dir", str(SAMPLE), "--train_file", "train.json", "--predict_file", "dev.json",
            "--max_seq_length", "128", "--doc_stride", "48", "--per_gpu_train_batch_size", "8",
            "--per_gpu_eval_batch_size", "64", "--learning_rate", "1e-3", "--warmup_steps", "1",
            "--output_dir", str(output_dir), "--cache_dir", str(cache_dir), *extra]


def read_json(path):
    return json.loads(path.read_text(encoding="utf-8"))


def test_researchers_command_line(tiny_model, tmp_path):
    output_dir = tmp_path / "bert-output-v3"
    argv = ["--model_type", "bert", "--model_name_or_path", str(tiny_model), "--do_train",
            "--do_eval", "--data_dir", str(SAMPLE), "--train_file", "train.json",
            "--predict_file", "dev.json", "--max_seq_length", "512", "--doc_stride", "384",
            "--learning_rate", "3e-5", "--num_train_epochs", "3",
            "--output_dir", f"{output_dir}/", "--do_lower_case",
            "--per_gpu_train_batch_size", "32", "--per_gpu_eval_batch_size", "128",
            "--gradient_accumulation_steps", "1", "--max_grad_norm", "-1", "--threads", "4",
            "--weight_decay", "0.01",
            # Swapped in for the test: two steps, a log line per step, a private cache.
            "--max_steps", "2", "--logging_steps", "1", "--cache_dir", str(tmp_path / "cache")]
    assert run_coqa.main(argv) == 0

    results = read_json(output_dir / "eval_results.json")
    assert list(results) == RESULT_KEYS + ["history_source"] + BEST_KEYS
    assert results["history_source"] == "gold"
    assert results["overall"]["turns"] == DEV_TURNS == 84
    assert results["in_domain"]["turns"] == DEV_TURNS
    assert all(0.0 <= results[k]["f1"] <= 100.0 for k in RESULT_KEYS)

    predictions = read_json(output_dir / "predictions_.json")
    assert len(predictions) == DEV_TURNS
    assert len({(p["id"], p["turn_id"]) for p in predictions}) == DEV_TURNS
    assert all(isinstance(p["id"], str) and isinstance(p["answer"], str) for p in predictions)
    assert (output_dir / "nbest_predictions_.json").is_file()

    args = read_json(output_dir / "args.json")
    assert args["doc_stride"] == 384 and args["max_seq_length"] == 512
    assert args["learning_rate"] == 3e-5 and args["max_grad_norm"] == -1
    assert args["per_gpu_train_batch_size"] == 32 and args["threads"] == 4
    assert args["do_train"] and args["do_eval"] and args["do_lower_case"]
    assert args["model_name_or_path"] == str(tiny_model)

    model = ConvQAModel.load(output_dir)
    assert model.config.middle == "none"
    scalars = read_scalars(output_dir / "runs")  # --logging_steps 1: a point per step
    assert [step for step, _ in scalars["loss"]] == [1, 2]
    assert [step for step, _ in scalars["lr"]] == [1, 2]


@pytest.mark.parametrize("middle", ["none", "bilstm", "rtransformer"])
def test_each_middle_layer_trains_and_evaluates(middle, tiny_model, shared_cache, tmp_path):
    output_dir = tmp_path / "out"
    argv = short_run(tiny_model, output_dir, shared_cache, "--do_train", "--do_eval",
                     "--middle", middle, "--max_steps", "2")
    assert run_coqa.main(argv) == 0
    assert read_json(output_dir / "convqa_config.json")["middle"] == middle
    assert ConvQAModel.load(output_dir).config.middle == middle
    assert read_json(output_dir / "eval_results.json")["overall"]["turns"] == DEV_TURNS


def test_predict_writes_predictions_without_scores(tiny_model, shared_cache, tmp_path):
    trained = tmp_path / "trained"  # prediction needs trained heads: one step gives them
    assert run_coqa.main(short_run(tiny_model, trained, shared_cache, "--do_train",
                                   "--max_steps", "1", "--save_steps", "0")) == 0
    output_dir = tmp_path / "out"
    assert run_coqa.main(short_run(trained, output_dir, shared_cache, "--do_predict")) == 0
    predictions = read_json(output_dir / "predictions_.json")
    assert len(predictions) == DEV_TURNS
    assert all(isinstance(p["answer"], str) for p in predictions)
    assert (output_dir / "nbest_predictions_.json").is_file()
    assert not (output_dir / "eval_results.json").exists()
    assert not (output_dir / "model.safetensors").exists()  # nothing was trained


def _copy_without(model_dir, target, *names):
    shutil.copytree(model_dir, target)
    for name in names:
        (target / name).unlink()
    return target


BAD_INPUT = {
    # case name -> (how to change the quick command line, words the message must hold)
    "missing model folder": (lambda a, m, t: _swap(a, "--model_name_or_path", str(t / "nowhere")),
                             ["nowhere", "does not exist"]),
    "model folder without vocab": (
        lambda a, m, t: _swap(a, "--model_name_or_path",
                              str(_copy_without(m, t / "novocab", "vocab.txt", "tokenizer.json"))),
        ["no vocabulary"]),
    "model folder without weights": (
        lambda a, m, t: _swap(a, "--model_name_or_path",
                              str(_copy_without(m, t / "noweights", "model.safetensors"))),
        ["no weights"]),
    "non-empty output_dir": (lambda a, m, t: _non_empty(a, t), ["not empty", "--overwrite_output_dir"]),
    "seq length above the positions": (lambda a, m, t: _swap(a, "--max_seq_length", "1024"),
                                       ["1024", "512 positions"]),
    "no room for the passage": (
        lambda a, m, t: _swap(a, "--max_seq_length", "512") + ["--max_query_length", "509"],
        ["no room for the passage"]),
    "fp16 on CPU": (lambda a, m, t: a + ["--fp16", "--no_cuda"], ["--fp16", "CUDA"]),
    "no --do_ flag": (lambda a, m, t: [x for x in a if x != "--do_train"], ["nothing to do"]),
    "missing --train_file": (lambda a, m, t: _drop(a, "--train_file"), ["--train_file", "required"]),
}


def _swap(argv, flag, value):
    argv = list(argv)
    argv[argv.index(flag) + 1] = value
    return argv


def _drop(argv, flag):
    i = argv.index(flag)
    return argv[:i] + argv[i + 2:]


def _non_empty(argv, tmp_path):
    out = tmp_path / "used"
    out.mkdir()
    (out / "old_result.txt").write_text("keep me", encoding="utf-8")
    return _swap(argv, "--output_dir", str(out))


def _assert_one_line_error(capsys, code, *words):
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    error_lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1, err
    for word in words:
        assert word in error_lines[0], error_lines[0]
    return error_lines[0]


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_one_error_line(case, tiny_model, shared_cache, tmp_path, capsys):
    change, words = BAD_INPUT[case]
    argv = short_run(tiny_model, tmp_path / "out", shared_cache, "--do_train", "--max_steps", "1")
    code = run_coqa.main(change(argv, tiny_model, tmp_path))
    _assert_one_line_error(capsys, code, *words)
    if case == "non-empty output_dir":
        assert (tmp_path / "used" / "old_result.txt").read_text(encoding="utf-8") == "keep me"


def test_bad_answer_start_names_file_dialogue_and_turn(tiny_model, shared_cache, tmp_path, capsys):
    dialogue = convqa_dialogue(dialogue_id=7)
    dialogue["Answers"][0]["answer_start"] = [0]  # points at 小明, the answer is 杭州
    train_file = tmp_path / "bad_train.json"
    train_file.write_text(json.dumps({"version": "test", "data": [dialogue]}, ensure_ascii=False),
                          encoding="utf-8")
    argv = _swap(short_run(tiny_model, tmp_path / "out", shared_cache, "--do_train",
                           "--max_steps", "1"), "--train_file", str(train_file))
    argv = _drop(argv, "--data_dir")
    line = _assert_one_line_error(capsys, run_coqa.main(argv), str(train_file), "dialogue 7",
                                  "turn 1", "answer_start")
    assert "杭州" in line


def test_feature_cache_is_reused_and_keyed_by_history(tiny_model, tmp_path):
    cache = tmp_path / "cache"

    def run(*extra):
        argv = short_run(tiny_model, tmp_path / "out", cache, "--do_train", "--max_steps", "1",
                         "--overwrite_output_dir", *extra)
        assert run_coqa.main(argv) == 0
        # Each cache file and when it was last written: a reused file keeps its time.
        return {p.name: p.stat().st_mtime_ns for p in cache.glob("cached_train_*")}

    first = run()
    assert len(first) == 1
    assert run() == first  # loaded, not written again
    third = run("--history_len", "1")
    assert len(third) == 2 and {k: third[k] for k in first} == first


def test_resume_from_checkpoint_reproduces_the_uninterrupted_run(tiny_model, shared_cache, tmp_path):
    # Dropout stays on (the tiny config's 0.1), so equality also needs the random state back.
    def run(output_dir, *extra):
        argv = short_run(tiny_model, output_dir, shared_cache, "--do_train", "--max_steps", "6",
                         "--save_steps", "3", *extra)
        assert run_coqa.main(argv) == 0

    run(tmp_path / "A")
    run(tmp_path / "B")
    run(tmp_path / "C", "--resume_from_checkpoint", str(tmp_path / "B" / "checkpoint-3"))
    a = load_file(str(tmp_path / "A" / "model.safetensors"))
    c = load_file(str(tmp_path / "C" / "model.safetensors"))
    start = load_file(str(tmp_path / "B" / "checkpoint-3" / "model.safetensors"))
    assert a.keys() == c.keys()
    for name in a:
        assert torch.equal(a[name], c[name]), name
    assert not all(torch.equal(a[name], start[name]) for name in a)  # C did train
    assert sorted(p.name for p in (tmp_path / "C").glob("checkpoint-*")) == ["checkpoint-6"]


def test_eval_all_checkpoints(tiny_model, shared_cache, tmp_path):
    output_dir = tmp_path / "out"
    argv = short_run(tiny_model, output_dir, shared_cache, "--do_train", "--do_eval",
                     "--max_steps", "3", "--save_steps", "3", "--eval_all_checkpoints")
    assert run_coqa.main(argv) == 0
    assert len(read_json(output_dir / "predictions_checkpoint-3.json")) == DEV_TURNS
    assert (output_dir / "nbest_predictions_checkpoint-3.json").is_file()
    assert len(read_json(output_dir / "predictions_.json")) == DEV_TURNS
    results = read_json(output_dir / "eval_results.json")
    assert list(results) == ["checkpoint-3", "final"]
    assert all(list(r) == RESULT_KEYS + ["history_source"] + BEST_KEYS for r in results.values())
