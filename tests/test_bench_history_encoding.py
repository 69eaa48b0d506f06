"""scripts/bench_history_encoding.py end to end at a tiny size: every encoding timed on full
windows, concat's ratio 1, the JSON written; and the rotation of the order."""
from __future__ import annotations

import json

import pytest

from scripts import bench_history_encoding
from scripts.bench_history_encoding import ENCODINGS, main, time_rounds
from tests.conftest import SHARED


def test_rounds_rotate_the_order():
    calls = []
    steps = {name: (lambda name=name: calls.append(name)) for name in ENCODINGS}
    times = time_rounds(steps, 3, bench_history_encoding.torch.device("cpu"))
    assert calls == ["concat", "hae", "markers", "hae", "markers", "concat",
                     "markers", "concat", "hae"]
    assert all(len(times[name]["wall"]) == len(times[name]["cpu"]) == 3 for name in ENCODINGS)


@pytest.mark.skipif(not (SHARED / bench_history_encoding.DRCD_DEV).is_file(),
                    reason="needs ../shared/data/drcd/DRCD_dev.json")
def test_every_encoding_timed_at_the_same_length(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["--shared", str(SHARED), "--dialogues", "15", "--seq-len", "128",
                 "--hidden", "32", "--layers", "1", "--batch-size", "2", "--steps", "2",
                 "--warmup-steps", "1", "--output", str(out)]) == 0
    results = json.loads(out.read_text(encoding="utf-8"))
    assert list(results["encodings"]) == list(ENCODINGS)
    concat = results["encodings"]["concat"]
    assert concat["ratio"] == concat["cpu_ratio"] == 1.0
    for row in results["encodings"].values():
        assert len(row["step_seconds"]) == 2 and row["median_step_seconds"] > 0
    # hae: one (history_len + 1)-row embedding more; markers: 2 x history_len word rows.
    parameters = {name: row["parameters"] for name, row in results["encodings"].items()}
    assert parameters["hae"] - parameters["concat"] == 3 * 32
    assert parameters["markers"] - parameters["concat"] == 4 * 32
    printed = capsys.readouterr().out
    assert "ratio wall" in printed and json.loads(printed.strip().splitlines()[-1]) == results
