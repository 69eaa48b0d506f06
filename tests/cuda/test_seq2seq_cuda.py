"""run_seq2seq.py on a GPU with a tiny random UniLM: train, save a checkpoint, resume, and get
the uninterrupted run's weights bit for bit in fp16 (GradScaler) and bf16; fp32 decoding on
the GPU equals the CPU's (log-probabilities within 1e-4, the same answers); beam search
waits for the GPU once a step."""
from __future__ import annotations

import json
import warnings

import pytest
import torch

import run_seq2seq
from seq2seq.decoding import DecodeConfig, decode
from seq2seq.model import Seq2SeqModel
from seq2seq.steppers import CachedStepper
from tests.conftest import REPO
from tests.cuda.conftest import assert_same_weights, requires_cuda
from tests.seq2seq.test_decoding import build, sources
from tests.seq2seq_runs import run_flags, tiny_unilm, weights, write_lines

pytestmark = requires_cuda
DEV = REPO / "data" / "sample" / "dev.json"
LOG_PROB_ATOL = 1e-4  # fp32 on the GPU against the CPU


def gpu_flags(model, train_file, output_dir, cache, steps, save_steps, *extra):
    argv = run_flags(model, train_file, output_dir, cache, 4, steps, save_steps)
    return [a for a in argv if a != "--no_cuda"] + list(extra)


@pytest.mark.parametrize("precision", ["--fp16", "--bf16"])
def test_resume_on_cuda_reproduces_the_uninterrupted_run(precision, tmp_path, deterministic):
    model = tiny_unilm(tmp_path / "tiny", dropout=0.1)  # dropout: the CUDA state must come back
    train_file = write_lines(tmp_path / "train.jsonl", 12)  # 3 steps an epoch: crosses epochs
    cache = tmp_path / "cache"
    assert run_seq2seq.main(gpu_flags(model, train_file, tmp_path / "A", cache, 7, 2,
                                      precision)) == 0
    checkpoint = tmp_path / "A" / "checkpoint-4"
    ranks = torch.load(checkpoint / "rng_state.pt", weights_only=True)["ranks"]
    assert ranks[0]["cuda"].dtype == torch.uint8
    assert (checkpoint / "scaler.pt").exists() == (precision == "--fp16")
    assert run_seq2seq.main(gpu_flags(model, train_file, tmp_path / "C", cache, 7, 2, precision,
                                      "--resume_from_checkpoint", str(checkpoint))) == 0
    assert_same_weights(weights(tmp_path / "A"), weights(tmp_path / "C"))
    assert not torch.equal(weights(checkpoint)["cls.predictions.bias"],
                           weights(tmp_path / "C")["cls.predictions.bias"])  # C did train


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny UniLM after two training steps on the CPU."""
    root = tmp_path_factory.mktemp("s2s-cuda")
    model = tiny_unilm(root / "tiny", dropout=0.0)
    train_file = write_lines(root / "train.jsonl", 8)
    argv = run_flags(model, train_file, root / "model", root / "cache", 4, 2, 0)
    assert run_seq2seq.main(argv) == 0
    return root / "model"


def test_fp32_decoding_on_cuda_equals_the_cpus(trained, tmp_path, full_fp32):
    # Log-probabilities and beam search: the same model and sources on both devices.
    ids, mask = sources()
    outputs, first_steps = [], []
    for device in ("cpu", "cuda"):
        model = Seq2SeqModel.load(trained, map_location=device).eval()
        with torch.inference_mode():
            stepper = CachedStepper(model, ids.to(device), mask.to(device), 3, 8)
            tokens = torch.zeros((ids.shape[0] * 3, 0), dtype=torch.long, device=device)
            first_steps.append(stepper.step(0, tokens, None).cpu())
        outputs.append(decode(model, ids, mask, DecodeConfig(beam_size=3, max_tgt_length=8)))
    assert torch.allclose(first_steps[1], first_steps[0], atol=LOG_PROB_ATOL, rtol=0)
    cpu, gpu = outputs
    assert cpu.steps == gpu.steps
    for a, b in zip(cpu.answers, gpu.answers):
        assert a.token_ids == b.token_ids
        assert a.score == pytest.approx(b.score, abs=LOG_PROB_ATOL)
    # The answers of run_seq2seq.py's whole decoding path on each device.
    for name, extra in (("cpu", ["--no_cuda"]), ("gpu", ["--no_tf32"])):
        assert run_seq2seq.main(["--model_path", str(trained), "--input_file", str(DEV),
                                 "--output_file", str(tmp_path / f"{name}.json"),
                                 "--max_tgt_length", "6", "--beam_size", "3", "--subset", "8",
                                 "--batch_size", "4", *extra]) == 0
    cpu_answers, gpu_answers = (json.loads((tmp_path / f"{name}.json").read_text(encoding="utf-8"))
                                for name in ("cpu", "gpu"))
    assert len(cpu_answers) == 8 and cpu_answers == gpu_answers


def synchronizations(model, ids, mask, config) -> tuple[int, int]:
    """(synchronizing CUDA calls, steps) of one decode, from torch's sync debug mode."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            out = decode(model, ids, mask, config)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught), out.steps


@pytest.mark.parametrize("method", ["kv_cache", "hidden_states"])
def test_beam_search_waits_for_the_gpu_once_a_step(method):
    model = build(dropout=0.0).to("cuda")
    ids, mask = (t.to("cuda") for t in sources())
    counts = []
    for length in (3, 7):  # min_len = max_tgt_length: every step runs
        config = DecodeConfig(beam_size=5, max_tgt_length=length, min_len=length, method=method,
                              forbid_duplicate_ngrams=True, ngram_size=2,
                              forbid_ignore_word=None)
        synchronizations(model, ids, mask, config)  # warm-up: lazy CUDA initialisation
        counts.append(synchronizations(model, ids, mask, config))
    (short, short_steps), (long, long_steps) = counts
    assert (short_steps, long_steps) == (3, 7)
    assert long - short == long_steps - short_steps, counts  # "anything still live?" only
