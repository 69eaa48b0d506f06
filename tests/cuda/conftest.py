"""The CUDA tests: skipped without a GPU (`requires_cuda`), each run written to pass on one.

Resumed runs are compared bit for bit, as on the CPU. On a GPU that needs deterministic
kernels: SDPA's memory-efficient backward and cuBLAS with several workspaces may sum in
another order from one run to the next. `deterministic` turns them on for a test;
cuBLAS reads CUBLAS_WORKSPACE_CONFIG when it starts, so it is set here, before any test
touches the GPU.
"""
from __future__ import annotations

import contextlib
import os

import pytest

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

import torch  # noqa: E402  (after the cuBLAS setting)

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@contextlib.contextmanager
def float32_settings_kept():
    """Put back the float32 matmul precision and cuDNN's TF32 flag on exit. The entry
    scripts' `coqa.cli.apply_tf32` sets them for the whole process (TF32 on, unless
    --no_tf32): a test that runs main() on the GPU would otherwise leave TF32 on for every
    later test, and a CPU-against-GPU comparison at 1e-5 (tests/seq2seq/test_decoding.py)
    would then fail by TF32's rounding."""
    saved = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(saved[0])
        torch.backends.cudnn.allow_tf32 = saved[1]


@pytest.fixture(autouse=True)
def no_tf32_leak():
    """Every CUDA test leaves the float32 settings as it found them."""
    with float32_settings_kept():
        yield


@pytest.fixture
def deterministic():
    """Deterministic algorithms for the test (an op without one warns instead of failing:
    the weight comparison then says whether it mattered)."""
    saved = (torch.are_deterministic_algorithms_enabled(),
             torch.is_deterministic_algorithms_warn_only_enabled())
    torch.use_deterministic_algorithms(True, warn_only=True)
    yield
    torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])


@pytest.fixture
def full_fp32():
    """Full float32 matrix multiplies and cuDNN (no TF32) for the test: CUDA against CPU
    within 1e-4 needs them; the entry scripts turn TF32 on unless --no_tf32."""
    with float32_settings_kept():
        torch.set_float32_matmul_precision("highest")
        torch.backends.cudnn.allow_tf32 = False
        yield


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    different = [name for name in a if not torch.equal(a[name], b[name])]
    assert not different, (f"{len(different)} tensors differ, e.g. {different[:3]}, by up to "
                           f"{max((a[n].float() - b[n].float()).abs().max().item() for n in different):.3g}")
