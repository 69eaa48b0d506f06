"""The CUDA tests leave the float32 settings as they found them; runs on the CPU too
(`coqa.cli.apply_tf32` only sets flags, which a CPU build of torch holds as well)."""
from __future__ import annotations

import argparse

import torch

from coqa.cli import apply_tf32
from tests.cuda.conftest import float32_settings_kept

CUDA = torch.device("cuda", 0)  # never touched: apply_tf32 reads its type only


def test_settings_come_back_after_an_entry_script_turned_tf32_on():
    torch.set_float32_matmul_precision("highest")
    torch.backends.cudnn.allow_tf32 = False
    with float32_settings_kept():
        assert apply_tf32(argparse.Namespace(no_tf32=False), CUDA)  # as run_coqa.main does
        assert torch.get_float32_matmul_precision() == "high"
        assert torch.backends.cudnn.allow_tf32
    assert torch.get_float32_matmul_precision() == "highest"
    assert not torch.backends.cudnn.allow_tf32


def test_every_cuda_test_keeps_the_settings(request):
    assert "no_tf32_leak" in request.fixturenames
