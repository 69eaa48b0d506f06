"""coqa.train.devices and the fused-AdamW choice: the pure logic, on the CPU (the CUDA
device's free memory is stubbed)."""
from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
import torch

from coqa.train import devices
from coqa.train.devices import (batch_for_memory, choose_batch_size, decoder_bytes_per_source,
                                encoder_bytes_per_sequence, idle_gpus_hint)
from coqa.train.optim import build_optimizer, use_fused
from tests.coqa.train.conftest import ToyModel, make_config

GIB = 2 ** 30


def test_batch_for_memory_uses_half_the_free_memory_within_bounds():
    assert batch_for_memory(10 * GIB, GIB, cap=100) == 5
    assert batch_for_memory(10 * GIB, GIB, cap=3) == 3             # capped
    assert batch_for_memory(GIB // 4, GIB, cap=100) == 1            # never 0
    assert batch_for_memory(10 * GIB, GIB, cap=100, share=0.9) == 9


def test_per_item_estimates_by_hand():
    # bert-base at 512 tokens: 512*768*8 + 512*3072*2 + 2*12*512^2 elements, fp32.
    assert encoder_bytes_per_sequence(512, 768, 12) == (3145728 + 3145728 + 6291456) * 4
    cache = 2 * 12 * (470 + 42) * 768 * 5 * 4  # keys and values, 12 layers, beam 5
    assert (decoder_bytes_per_source(470, 42, 768, 12, 12, 5)
            == cache + encoder_bytes_per_sequence(470, 768, 12))
    # An 80 GB H100 with 78 GiB free: evaluation at the cap, decoding a few dozen sources.
    free = 78 * GIB
    assert batch_for_memory(free, encoder_bytes_per_sequence(512, 768, 12), 256) == 256
    assert 50 <= batch_for_memory(free, decoder_bytes_per_source(470, 42, 768, 12, 12, 5),
                                  128) <= 128


def test_choose_batch_size_only_when_the_flag_is_left_out_on_cuda(monkeypatch, caplog):
    cuda, cpu = torch.device("cuda", 0), torch.device("cpu")
    assert choose_batch_size(8, False, cpu, GIB, 256, "--per_gpu_eval_batch_size") == 8
    assert choose_batch_size(8, True, cuda, GIB, 256, "--per_gpu_eval_batch_size") == 8
    monkeypatch.setattr(devices.torch.cuda, "mem_get_info", lambda device=None: (40 * GIB, 80 * GIB))
    with caplog.at_level(logging.INFO, logger="coqa.train.devices"):
        assert choose_batch_size(8, False, cuda, GIB, 256, "--per_gpu_eval_batch_size") == 20
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and lines[0].startswith("--per_gpu_eval_batch_size not given: batch 20")


@pytest.mark.parametrize("gpus,environ,expected", [
    (1, {}, False),
    (0, {}, False),
    (4, {}, True),
    (4, {"LOCAL_RANK": "0", "WORLD_SIZE": "4"}, False),   # torchrun
    (4, {"WORLD_SIZE": "1"}, False),                      # a launcher, one process on purpose
])
def test_idle_gpus_hint(gpus, environ, expected):
    hint = idle_gpus_hint(gpus, environ, "run_coqa.py")
    assert (hint is not None) == expected
    if expected:
        assert hint == ("4 GPUs are visible but this process uses one; to use all of them: "
                        "torchrun --nproc_per_node 4 run_coqa.py ...")


def test_fused_adamw_on_cuda_only(tmp_path):
    def fake(cuda, floating=True):
        return SimpleNamespace(is_cuda=cuda, is_floating_point=lambda: floating)

    assert use_fused([{"params": [fake(True)]}, {"params": [fake(True)]}])
    assert not use_fused([{"params": [fake(True)]}, {"params": [fake(False)]}])
    assert not use_fused([{"params": []}])
    optimizer = build_optimizer(ToyModel(), make_config(tmp_path))
    assert not optimizer.defaults["fused"]  # the CPU keeps the default AdamW
