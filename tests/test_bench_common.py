"""scripts/bench_common.py: the stated bf16 peak of each GPU the MFU column knows, by the
name torch.cuda.get_device_name() returns, and what happens with any other GPU."""
from __future__ import annotations

import pytest
import torch

from scripts import bench_common
from scripts.bench_common import bf16_peak_tflops, peak_flops_of


@pytest.mark.parametrize("name,tflops", [
    ("NVIDIA H100 80GB HBM3", 989.0),     # SXM
    ("NVIDIA H100 PCIe", 756.0),
    ("NVIDIA H100 NVL", 835.0),
    ("NVIDIA H200", 989.0),
    ("NVIDIA H200 NVL", 835.0),
    ("NVIDIA A100-SXM4-80GB", 312.0),
    ("NVIDIA A100-PCIE-40GB", 312.0),
    ("NVIDIA A100 80GB PCIe", 312.0),
    ("NVIDIA L40S", 362.0),
    ("NVIDIA GeForce RTX 4090", None),
    ("NVIDIA L40", None),                 # not the L40S
])
def test_bf16_peak_by_device_name(name, tflops):
    assert bf16_peak_tflops(name) == tflops


def test_peak_flops_of(monkeypatch):
    cpu, cuda = torch.device("cpu"), torch.device("cuda", 0)
    assert peak_flops_of(cpu, "bf16") is None
    assert peak_flops_of(cpu, "bf16", 100.0) == 100e12  # --peak-tflops wins everywhere
    monkeypatch.setattr(bench_common.torch.cuda, "get_device_name", lambda device=None: "NVIDIA H100 PCIe")
    assert peak_flops_of(cuda, "bf16") == 756e12
    assert peak_flops_of(cuda, "fp32") is None  # a bf16 peak says nothing of fp32 MFU
    monkeypatch.setattr(bench_common.torch.cuda, "get_device_name", lambda device=None: "Some GPU")
    with pytest.raises(SystemExit, match="no stated bf16 peak for 'Some GPU': pass --peak-tflops"):
        peak_flops_of(cuda, "bf16")
    assert peak_flops_of(cuda, "bf16", 200.0) == 200e12
