"""scripts/gpu_check.sh: one line and exit 0 without a GPU; with GPU_CHECK_ALLOW_CPU=1 the
whole flow on the CPU at tiny sizes (generated data and model, tests, both benchmarks,
both entry scripts end to end) and its summary table (about a minute)."""
from __future__ import annotations

import json
import os
import subprocess

import pytest
import torch

from tests.conftest import REPO

SCRIPT = REPO / "scripts/gpu_check.sh"


def _run(out, **env):
    return subprocess.run(["bash", str(SCRIPT), str(out)], cwd=REPO, capture_output=True,
                          text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1", **env})


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_without_a_gpu_it_says_so_in_one_line(tmp_path):
    done = _run(tmp_path / "out")
    assert done.returncode == 0
    lines = (done.stdout + done.stderr).splitlines()
    assert len(lines) == 1 and lines[0].startswith("gpu_check: no CUDA GPU visible to torch")
    assert not (tmp_path / "out").exists()


def test_the_whole_flow_on_the_cpu(tmp_path):
    out = tmp_path / "out"
    done = _run(out, GPU_CHECK_ALLOW_CPU="1")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    status = [line.split("\t")[:2] for line in (out / "status.tsv").read_text().splitlines()]
    assert status == [["deps", "ok"], ["assets", "ok"], ["tests", "ok"],
                      ["benchmark_extractive", "ok"], ["benchmark_seq2seq", "ok"],
                      ["e2e_extractive", "ok"], ["e2e_seq2seq", "ok"],
                      ["e2e_extractive_ddp", "skipped"]]
    for name in ("benchmark_extractive", "benchmark_seq2seq"):
        assert json.loads((out / f"{name}.json").read_text())["config"]["device"] == "cpu"
    assert (out / "e2e_extractive" / "eval_results.json").is_file()
    summary = (out / "summary.txt").read_text()
    assert summary in done.stdout and "8 parts, 0 failed" in summary
    assert "beam 5: s2s-ft's method time / ours" in summary


# ---------------------------------------------------------------- deps (gpu_check_helper)

def test_pip_state_sees_a_pep668_system_python(tmp_path):
    from scripts.gpu_check_helper import pip_state

    (tmp_path / "EXTERNALLY-MANAGED").write_text("[externally-managed]\n")
    # A distribution's system Python: plain `pip install` would fail, so gpu_check.sh
    # installs into a venv with --system-site-packages instead.
    assert pip_state(str(tmp_path), in_venv=False, has_pip=True) == "externally-managed"
    assert pip_state(str(tmp_path), in_venv=True, has_pip=True) == "ok"  # that venv
    (tmp_path / "EXTERNALLY-MANAGED").unlink()
    assert pip_state(str(tmp_path), in_venv=False, has_pip=True) == "ok"
    assert pip_state(str(tmp_path), in_venv=False, has_pip=False) == "no-pip"


def test_missing_requirements_name_pip_specs_never_torch():
    from scripts.gpu_check_helper import REQUIREMENTS, missing_requirements

    assert "torch" not in REQUIREMENTS
    present = {"numpy", "tqdm"}
    missing = missing_requirements(lambda module: object() if module in present else None)
    assert missing == [spec for module, spec in REQUIREMENTS.items() if module not in present]
    assert "transformers>=5.0,<6" in missing and not any(s.startswith("numpy") for s in missing)


def test_decoding_disagreement_under_tf32_is_said_to_be_tf32():
    from scripts.gpu_check_helper import agreement_row

    def figures(equal: bool, tf32: bool) -> dict:
        method = {"tokens_equal": equal, "max_score_difference": 2e-3 if not equal else 0.0}
        return {"machine": {"tf32": tf32}, "methods": {"beam_1": dict(method, tokens_equal=True),
                                                       "beam_5": method}}

    assert agreement_row(figures(True, True))[1] == "True"
    assert agreement_row(figures(False, False))[1] == "False"  # full fp32: a real difference
    assert agreement_row(figures(False, True))[1] == "False under TF32 (scores within 2.0e-03)"
