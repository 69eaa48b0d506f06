"""run_coqa.py on a GPU with a tiny random BERT: train, save a checkpoint, resume, and get
the uninterrupted run's weights bit for bit in fp16 (GradScaler) and bf16; the CUDA random
state round-trips bit for bit; fp32 predictions on the GPU equal the CPU's (logits within
1e-4, the same answers)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

import run_coqa
from coqa.data.folders import load_tokenizer
from coqa.data.readers import load_dialogues
from coqa.extractive.features import build_features
from coqa.extractive.inference import InferenceConfig, predict_logits
from coqa.extractive.loading import load_trained_model
from coqa.train.rng import rng_state, set_rng_state
from tests.conftest import REPO
from tests.cuda.conftest import assert_same_weights, requires_cuda

pytestmark = requires_cuda
SAMPLE = REPO / "data" / "sample"
LOGIT_ATOL = 1e-4  # fp32 on the GPU against the CPU: other kernels, other summation orders


def flags(model, output_dir, cache_dir, *extra):
    """A short run on the sample data on the GPU (no --no_cuda): 128-token features."""
    return ["--model_type", "bert", "--model_name_or_path", str(model),
            "--data_dir", str(SAMPLE), "--train_file", "train.json", "--predict_file", "dev.json",
            "--max_seq_length", "128", "--doc_stride", "48", "--per_gpu_train_batch_size", "8",
            "--per_gpu_eval_batch_size", "32", "--learning_rate", "1e-3", "--warmup_steps", "1",
            "--output_dir", str(output_dir), "--cache_dir", str(cache_dir), *extra]


@pytest.mark.parametrize("precision", ["--fp16", "--bf16"])
def test_resume_on_cuda_reproduces_the_uninterrupted_run(precision, tiny_bert_factory, tmp_path,
                                                         deterministic):
    model = tiny_bert_factory()  # dropout 0.1: the CUDA random state must come back too
    cache = tmp_path / "cache"

    def train(output_dir, *extra):
        argv = flags(model, output_dir, cache, "--do_train", "--max_steps", "6",
                     "--save_steps", "3", precision, *extra)
        assert run_coqa.main(argv) == 0

    train(tmp_path / "A")
    checkpoint = tmp_path / "A" / "checkpoint-3"
    # What the checkpoint holds for the GPU: the CUDA generator's state, and in fp16 the
    # GradScaler's scale and growth tracker.
    ranks = torch.load(checkpoint / "rng_state.pt", weights_only=True)["ranks"]
    assert ranks[0]["cuda"].dtype == torch.uint8 and ranks[0]["cuda"].device.type == "cpu"
    if precision == "--fp16":
        scaler = torch.load(checkpoint / "scaler.pt", weights_only=True)
        assert scaler["scale"] > 0 and "_growth_tracker" in scaler
    else:
        assert not (checkpoint / "scaler.pt").exists()
    train(tmp_path / "C", "--resume_from_checkpoint", str(checkpoint))
    final = load_file(str(tmp_path / "A" / "model.safetensors"))
    assert_same_weights(final, load_file(str(tmp_path / "C" / "model.safetensors")))
    start = load_file(str(checkpoint / "model.safetensors"))
    assert not all(torch.equal(final[name], start[name]) for name in final)  # C did train


def test_cuda_random_state_round_trips_bit_for_bit(tmp_path):
    device = torch.device("cuda", torch.cuda.current_device())
    torch.manual_seed(7)
    torch.rand(5, device=device)  # a generator part-way through its stream

    def draws():
        ones = torch.ones(4096, device=device)
        return torch.rand(4096, device=device), F.dropout(ones, 0.5, training=True)

    torch.save(rng_state(device), tmp_path / "rng_state.pt")  # as a checkpoint writes it
    expected = draws()
    torch.rand(123, device=device)  # move on
    saved = torch.load(tmp_path / "rng_state.pt", weights_only=True)  # as resume reads it
    set_rng_state(saved, device)
    assert torch.equal(torch.cuda.get_rng_state(device), saved["cuda"])
    for replayed, original in zip(draws(), expected):
        assert torch.equal(replayed, original)


def test_fp32_predictions_on_cuda_equal_the_cpus(trained_extractive, tmp_path, full_fp32):
    # The logits: one FeatureSet, the same model on both devices.
    trained = load_trained_model(str(trained_extractive))
    tokenizer = load_tokenizer(str(trained_extractive))
    dialogues = load_dialogues(SAMPLE / "dev.json", questions_only=True).dialogues
    features = build_features(dialogues, tokenizer, trained.features, show_progress=False)
    config = InferenceConfig(16, show_progress=False)
    model = trained.model
    cpu = predict_logits(model.to("cpu"), features, config, torch.device("cpu"))
    gpu = predict_logits(model.to("cuda"), features, config, torch.device("cuda"))
    for on_cpu, on_gpu in zip(cpu, gpu):
        np.testing.assert_allclose(on_gpu, on_cpu, atol=LOGIT_ATOL, rtol=0)
    # The answers: the whole prediction path of run_coqa.py on each device.
    for name, extra in (("cpu", ["--no_cuda"]), ("gpu", ["--no_tf32"])):
        argv = ["--model_type", "bert", "--model_name_or_path", str(trained_extractive),
                "--do_predict", "--predict_file", str(SAMPLE / "dev.json"),
                "--per_gpu_eval_batch_size", "16", "--output_dir", str(tmp_path / name),
                "--cache_dir", str(tmp_path / "cache"), *extra]
        assert run_coqa.main(argv) == 0
    answers = [json.loads((tmp_path / name / "predictions_.json").read_text(encoding="utf-8"))
               for name in ("cpu", "gpu")]
    assert answers[0] and answers[0] == answers[1]
