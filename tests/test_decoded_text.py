"""scripts/decoded_text.py: the real-encoder check's summary of decoded answers."""
from __future__ import annotations

import json

from scripts.decoded_text import main, summary


def test_summary_by_hand():
    pairs = [("平安夜", "今天是平安夜。"),      # Chinese, verbatim: 3 of 3 characters
             ("平安日", "今天是平安夜。"),      # Chinese, not verbatim: 2 of 3
             ("1984", "他生于1984年"),         # no Chinese, verbatim: 4 of 4
             ("", "空")]                        # empty
    assert summary(pairs).startswith(
        "seq2seq: 2 of 4 decoded answers hold Chinese characters, 2 are passage text verbatim, "
        "90% of their characters occur in their passage")  # 9 of 10


def test_main_reads_ids_of_either_type(tmp_path, capsys):
    gold = {"data": [{"id": 230, "Passage": "今天是平安夜。",
                      "Questions": [{"turn_id": 1, "input_text": "今天是什么日子？"}],
                      "Answers": [{"turn_id": 1, "input_text": "平安夜"}]}]}
    (tmp_path / "gold.json").write_text(json.dumps(gold, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "pred.json").write_text(json.dumps(
        [{"id": "230", "turn_id": 1, "answer": "平安夜"}], ensure_ascii=False), encoding="utf-8")
    assert main([str(tmp_path / "pred.json"), str(tmp_path / "gold.json"), "--all"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("seq2seq: 1 of 1 decoded answers hold Chinese characters, 1 are")
    assert out[1] == "  turn 1: 今天是什么日子？ | gold 平安夜 | decoded 平安夜"
