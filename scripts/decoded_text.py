"""How much of what a seq2seq model decoded is Chinese text from its passage.

    python scripts/decoded_text.py PREDICTIONS.json GOLD.json

One line: how many answers hold Chinese characters, how many are passage text verbatim,
the share of their characters that occur in their own passage, and the first five answers;
with --all, then every turn's question, gold answer and decoded answer.
scripts/real_model_check.sh runs it after its short run_seq2seq.py fine-tune.
"""
from __future__ import annotations

import argparse
import json
import unicodedata
from typing import List, Optional, Sequence, Tuple


def has_chinese(text: str) -> bool:
    return any(unicodedata.east_asian_width(c) == "W" and c.isalpha() for c in text)


def summary(pairs: Sequence[Tuple[str, str]]) -> str:
    """pairs: (decoded answer, its passage)."""
    chinese = sum(has_chinese(answer) for answer, _ in pairs)
    verbatim = sum(bool(answer) and answer in passage for answer, passage in pairs)
    found = [c in passage for answer, passage in pairs for c in answer if not c.isspace()]
    share = 100.0 * sum(found) / len(found) if found else 0.0
    return (f"seq2seq: {chinese} of {len(pairs)} decoded answers hold Chinese characters, "
            f"{verbatim} are passage text verbatim, {share:.0f}% of their characters occur in "
            f"their passage; the first five: {[answer for answer, _ in pairs[:5]]}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("predictions", help="run_seq2seq.py's predictions JSON")
    parser.add_argument("gold", help="the ConvQA_CN file it decoded")
    parser.add_argument("--all", action="store_true",
                        help="also print every turn: question, gold answer, decoded answer")
    args = parser.parse_args(argv)
    with open(args.gold, encoding="utf-8") as handle:
        data = json.load(handle)["data"]
    passages = {str(d.get("id")): d.get("Passage", d.get("story")) for d in data}
    with open(args.predictions, encoding="utf-8") as handle:
        predictions: List[dict] = json.load(handle)
    print(summary([(p["answer"], passages[str(p["id"])]) for p in predictions]))
    if args.all:
        turns = {(str(d.get("id")), q["turn_id"]): (q["input_text"], a["input_text"])
                 for d in data for q, a in zip(d["Questions"], d["Answers"])}
        for p in predictions:
            question, gold = turns[(str(p["id"]), p["turn_id"])]
            print(f"  turn {p['turn_id']}: {question} | gold {gold} | decoded {p['answer']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
