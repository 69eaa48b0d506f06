"""Output files of `python -m evaluate` and `python -m evaluate.compare --out` are written
atomically: a write that fails half-way (here: a file-size limit, as a full disk would)
leaves the earlier file whole and no temporary file, and is one error line, exit 2."""
from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

GOLD = {"data": [{"Source": "历史", "Passage": "北京是首都。", "id": f"d{i}",
                  "Questions": [{"input_text": "首都是哪里？", "turn_id": 1}],
                  "Answers": [{"input_text": "北京", "turn_id": 1, "answer_type": "extractive",
                               "answer_start": [0]}]} for i in range(30)]}
PREDS = [{"id": f"d{i}", "turn_id": 1, "answer": "北京"} for i in range(30)]
OLD = "earlier complete file\n"


def limited(limit_bytes):
    """A preexec_fn: files the child writes may not grow past `limit_bytes` (EFBIG)."""
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
    return apply


def run(module, args, limit_bytes):
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, encoding="utf-8",
                          preexec_fn=limited(limit_bytes))


@pytest.fixture
def files(tmp_path):
    gold, pred = tmp_path / "gold.json", tmp_path / "pred.json"
    gold.write_text(json.dumps(GOLD, ensure_ascii=False), encoding="utf-8")
    pred.write_text(json.dumps(PREDS, ensure_ascii=False), encoding="utf-8")
    return gold, pred


@pytest.mark.parametrize("flag,name", [("--out-file", "scores.json"),
                                       ("--per-turn-out", "turns.jsonl"),
                                       ("--per-turn-out", "turns.csv")])
def test_failed_write_keeps_the_earlier_file(tmp_path, files, flag, name):
    out = tmp_path / "out" / name
    out.parent.mkdir()
    out.write_text(OLD)
    # The inputs were written above, unlimited; the child may write 40 bytes a file.
    result = run("evaluate", ["--data-file", files[0], "--pred-file", files[1], flag, out], 40)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: {out}: cannot write")
    assert out.read_text() == OLD
    assert [p.name for p in out.parent.iterdir()] == [name]


def test_successful_write_is_complete_json(tmp_path, files):
    out = tmp_path / "scores.json"
    out.write_text(OLD)
    result = run("evaluate", ["--data-file", files[0], "--pred-file", files[1],
                              "--out-file", out], 1 << 30)
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text(encoding="utf-8"))["overall"] == {"em": 100.0, "f1": 100.0,
                                                                      "turns": 30}
    assert out.stat().st_mode & 0o777 != 0o600  # the umask's mode, not mkstemp's


def test_compare_failed_write_keeps_the_earlier_report(tmp_path, files):
    out = tmp_path / "cmp"
    out.mkdir()
    (out / "compare.md").write_text(OLD)
    result = run("evaluate.compare", [files[0], files[1], files[1], "--out", out,
                                      "--no-progress", "--resamples", "10"], 40)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert (out / "compare.md").read_text() == OLD
    assert sorted(p.name for p in out.iterdir()) == ["compare.md"]
