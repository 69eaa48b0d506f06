"""scripts/benchmark_seq2seq.py through main() on a tiny random BERT: it runs, writes its
JSON figures, and its three decoding methods agree, greedy and with beams."""
from __future__ import annotations

import importlib.util
import json
import sys

from tests.conftest import REPO


def _load_script():
    spec = importlib.util.spec_from_file_location("benchmark_seq2seq",
                                                  REPO / "scripts/benchmark_seq2seq.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_benchmark_runs_and_the_methods_agree(tmp_path, tiny_bert_factory):
    model = tiny_bert_factory((REPO / "data/sample/dev.json",))
    out = tmp_path / "figures.json"
    argv = ["--model-dir", str(model), "--source-len", "24", "--max-tgt-length", "5",
            "--target-len", "4", "--decode-batch-size", "2", "--decode-answers", "3",
            "--uncached-answers", "2", "--batch-size", "2", "--steps", "2",
            "--warmup-steps", "1", "--precision", "fp32", "--output", str(out)]
    assert _load_script().main(argv) == 0
    figures = json.loads(out.read_text(encoding="utf-8"))
    for beam in ("beam_1", "beam_5"):
        methods = figures["methods"][beam]
        assert methods["tokens_equal"] and methods["max_score_difference"] < 1e-4
        assert methods["answers"] == 2
        assert set(methods["slowdown"]) == {"hidden_states", "recompute"}
    assert figures["beams"]["beam_5"]["answers"] == 4
    assert figures["train"]["layout_tokens"] == 24 + 2 * 4 and figures["train"]["seq_per_s"] > 0
