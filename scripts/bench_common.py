"""What the benchmark scripts share: the flags both parsers have, machine information (CPU name, load, other
processes' share of the CPU), device synchronisation, autocast, MFU and number formats, and
the JSON results file. The training figures time `coqa.train.step.OptimizerStep`, the
step the training loop runs."""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any, Optional, Tuple

import torch

# Dense (no sparsity) bf16 tensor-core peaks in TFLOP/s, from NVIDIA's data sheets, keyed by
# substrings of torch.cuda.get_device_name() (e.g. "NVIDIA H100 80GB HBM3" is the SXM card,
# "NVIDIA H100 PCIe", "NVIDIA A100-SXM4-80GB"); the first entry whose substrings all occur
# wins, so the PCIe and NVL variants come before the bare name.
BF16_PEAK_TFLOPS = (
    (("H100", "PCIE"), 756.0),
    (("H100", "NVL"), 835.0),
    (("H100",), 989.0),       # SXM
    (("H200", "NVL"), 835.0),
    (("H200",), 989.0),       # SXM
    (("A100",), 312.0),       # SXM and PCIe alike
    (("L40S",), 362.0),
)
REPO = Path(__file__).resolve().parents[1]
ArgumentGroup = Any  # argparse's _ArgumentGroup, a private name


def bench_parser(description: str, shared_holds: str) -> Tuple[argparse.ArgumentParser,
                                                                ArgumentGroup]:
    """A benchmark's parser and its "data" group, holding --shared."""
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    data = parser.add_argument_group("data")
    data.add_argument("--shared", default=str(REPO.parent / "shared"),
                      help=f"shared folder holding {shared_holds}")
    return parser, data


def run_group(parser: argparse.ArgumentParser, precision_of: str = "") -> ArgumentGroup:
    """The "run" group with --device and --precision (`precision_of`: what it applies to)."""
    run = parser.add_argument_group("run")
    run.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to run")
    run.add_argument("--precision", choices=("fp32", "bf16"), default="bf16",
                     help=f"{precision_of}fp32, or bf16 autocast (on CPU too)")
    return run


def add_machine_flags(run: ArgumentGroup, why_fewer_threads: str) -> None:
    """--peak-tflops, --threads (`why_fewer_threads`: this benchmark's reason) and --output."""
    run.add_argument("--peak-tflops", type=float, default=None,
                     help="peak TFLOPS for MFU (default, in bf16: the dense bf16 peak of an "
                          "H100 SXM / PCIe / NVL, H200, A100 or L40S; another GPU needs "
                          "this flag; n/a on a CPU)")
    run.add_argument("--threads", type=int, default=None,
                     help="torch CPU threads (default: torch's choice, one per core). "
                          + why_fewer_threads)
    run.add_argument("--output", default=None, help="also write the JSON figures to this file")


def cpu_name() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> Optional[float]:
    """The 1-minute load average: other work on the machine slows both sides alike
    (ours and bare alternate), but the absolute figures drop."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def cpu_snapshot() -> Optional[tuple[float, float, float]]:
    """(busy CPU seconds of the whole machine, of this process, wall clock), Linux only."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        # user nice system idle iowait irq softirq steal (guest time is inside user).
        ticks = [int(value) for value in fields[:8]]
        busy = sum(ticks) - ticks[3] - ticks[4]
        return busy / os.sysconf("SC_CLK_TCK"), time.process_time(), time.perf_counter()
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def other_cpu_share(start: Optional[tuple[float, float, float]]) -> Optional[float]:
    """Share of the machine's CPU time that other processes used since `start`: 0 on a
    quiet machine; on 2 cores, 0.5 means another job kept one core busy throughout."""
    end = cpu_snapshot()
    if start is None or end is None:
        return None
    machine, own, wall = (b - a for a, b in zip(start, end))
    return round(max(0.0, machine - own) / (wall * (os.cpu_count() or 1)), 3)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def autocast(device: str, precision: str):
    """bf16 autocast for precision "bf16" (training benchmarks), else nothing."""
    return torch.autocast(device, dtype=torch.bfloat16, enabled=precision == "bf16")


def mfu(flops_per_second: float, peak_flops: Optional[float]) -> Optional[float]:
    """Model-FLOPs utilisation: achieved model FLOP/s over the stated peak (None: no peak)."""
    return None if not peak_flops else flops_per_second / peak_flops


def bf16_peak_tflops(device_name: str) -> Optional[float]:
    """The dense bf16 peak of a GPU named `device_name` (`BF16_PEAK_TFLOPS`), else None."""
    name = device_name.upper()
    for keys, tflops in BF16_PEAK_TFLOPS:
        if all(key in name for key in keys):
            return tflops
    return None


def peak_flops_of(device: torch.device, precision: str,
                  peak_tflops: Optional[float] = None) -> Optional[float]:
    """The stated peak FLOP/s for MFU: --peak-tflops if given, else a known GPU's bf16 peak
    in bf16; None on a CPU or in fp32 (MFU n/a). A GPU not in the table, in bf16, stops
    the benchmark with one line asking for --peak-tflops."""
    if peak_tflops:
        return peak_tflops * 1e12
    if device.type != "cuda" or precision != "bf16":
        return None
    name = torch.cuda.get_device_name(device)
    tflops = bf16_peak_tflops(name)
    if tflops is None:
        raise SystemExit(f"error: no stated bf16 peak for {name!r}: pass --peak-tflops "
                         f"(its dense bf16 TFLOPS) for the MFU column")
    return tflops * 1e12


def fmt(value: Optional[float], digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def percent(value: Optional[float]) -> str:
    return "n/a (no stated peak)" if value is None else f"{100 * value:.1f}%"


def write_results(path: Path, results: Any) -> None:
    """The figures as JSON (the folder is created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n",
                    encoding="utf-8")
