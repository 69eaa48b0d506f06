"""python -m evaluate --data-file GOLD --pred-file PRED [--out-file OUT] [--breakdown]
                      [--text-comparison auto|coqa|convqa_cn] [--per-turn-out FILE]
                      [--official-gold-checks]

Prints the text comparison used, a per-domain table, then `Results: {...}` as the old logs
did; exit status 2 with one `error: <file>: ...` line on stderr when an input file cannot
be scored (a gold file with a duplicate dialogue id or zero-based turn ids included, unless
--official-gold-checks) or an output file cannot be written.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Optional, Sequence, Tuple

from evaluate import EvalConfig, EvalInputError, read_gold, read_predictions
from evaluate.files import write_text
from evaluate.per_turn import check_writable, per_turn_format, per_turn_records, write_per_turn
from evaluate.report import format_results
from evaluate.scoring import resolve_comparison, score_with_turns


def _names(text: Optional[str]) -> Optional[Tuple[str, ...]]:
    """"a, b,c" -> ("a", "b", "c"); None stays None (the format's official list)."""
    return None if text is None else tuple(n.strip() for n in text.split(",") if n.strip())


OFFICIAL_GOLD_CHECKS_HELP = (
    "check the gold file only as the official CoQA script does: a duplicate dialogue id "
    "or a repeated turn_id is warned about and its later turn replaces the earlier one, and "
    "turn ids from 0 are scored as they are (by default these files are refused, as they "
    "score silently wrong)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m evaluate",
        description="Per-domain EM/F1 of ConvQA_CN / CoQA predictions (official CoQA "
                    "algorithm; Chinese compared character by character).")
    files = parser.add_argument_group("files")
    files.add_argument("--data-file", required=True,
                       help="gold file: ConvQA_CN v3.0 or official CoQA v1.0 JSON")
    files.add_argument("--pred-file", required=True,
                       help='predictions: JSON list of {"id", "turn_id", "answer"}')
    files.add_argument("--out-file", help="also write the results as JSON here")
    files.add_argument("--per-turn-out", metavar="FILE",
                       help="also write one record per turn (dialogue, turn, domain, question "
                            "type, gold kind, gold answers, prediction, EM, F1): JSON lines "
                            "for .jsonl, CSV for .csv")
    scoring = parser.add_argument_group("scoring")
    scoring.add_argument("--text-comparison", choices=("auto", "coqa", "convqa_cn"),
                         default="auto",
                         help="coqa: the official CoQA evaluate-v1.0.py words (lower, drop "
                              "punctuation and a/an/the, split on whitespace); convqa_cn: "
                              "BERT basic tokens, Chinese per character; auto (default): coqa "
                              "for an English CoQA v1.0 gold file, else convqa_cn")
    scoring.add_argument("--in-domain", metavar="A,B,...",
                         help="comma-separated in-domain sources (default: the format's "
                              "official list; CoQA display names accepted)")
    scoring.add_argument("--out-domain", metavar="X,Y,...",
                         help="comma-separated out-of-domain sources (default: official list)")
    scoring.add_argument("--drop-cjk-punct", action="store_true",
                         help="also ignore non-ASCII punctuation (。，？「」) in EM and F1")
    scoring.add_argument("--official-gold-checks", action="store_true",
                         help=OFFICIAL_GOLD_CHECKS_HELP)
    scoring.add_argument("--breakdown", action="store_true",
                         help="also score by question type, gold answer kind and turn "
                              "position, with a yes/no/unknown confusion table")
    return parser


def _write_json(path: str, results: dict) -> None:
    write_text(path, json.dumps(results, ensure_ascii=False, indent=2) + "\n")


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    config = EvalConfig(in_domain=_names(args.in_domain), out_domain=_names(args.out_domain),
                        breakdown=args.breakdown, drop_cjk_punct=args.drop_cjk_punct,
                        text_comparison=args.text_comparison)
    try:
        # Output paths are checked first, so that a bad one loses no scoring work.
        if args.out_file:
            check_writable(args.out_file)
        if args.per_turn_out:
            per_turn_format(args.per_turn_out)
        gold = read_gold(args.data_file, official_gold_checks=args.official_gold_checks)
        results, scored = score_with_turns(gold, read_predictions(args.pred_file), config)
        comparison, why = resolve_comparison(gold, config)
        print(f"text comparison: {comparison} ({why})")
        print(format_results(results))
        # The old logs' line, for the scripts and eyes that grep for it.
        print("Results: " + repr({k: v for k, v in results.items() if k != "breakdown"}))
        if args.out_file:
            _write_json(args.out_file, results)
        if args.per_turn_out:
            write_per_turn(args.per_turn_out, per_turn_records(scored, gold.file_format))
    except EvalInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
