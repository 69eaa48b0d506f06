"""python -m evaluate --data-file GOLD --pred-file PRED [--out-file OUT] [--breakdown]

Prints a per-domain table, then `Results: {...}` as the old logs did; exit status 2 with
one `error: <file>: ...` line on stderr when an input file cannot be scored.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Optional, Sequence, Tuple

from evaluate import EvalConfig, EvalInputError, evaluate_files
from evaluate.report import format_results


def _names(text: Optional[str]) -> Optional[Tuple[str, ...]]:
    """"a, b,c" -> ("a", "b", "c"); None stays None (the format's official list)."""
    return None if text is None else tuple(n.strip() for n in text.split(",") if n.strip())


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
    scoring = parser.add_argument_group("scoring")
    scoring.add_argument("--in-domain", metavar="A,B,...",
                         help="comma-separated in-domain sources (default: the format's "
                              "official list; CoQA display names accepted)")
    scoring.add_argument("--out-domain", metavar="X,Y,...",
                         help="comma-separated out-of-domain sources (default: official list)")
    scoring.add_argument("--drop-cjk-punct", action="store_true",
                         help="also ignore non-ASCII punctuation (。，？「」) in EM and F1")
    scoring.add_argument("--breakdown", action="store_true",
                         help="also score by question type, gold answer kind and turn "
                              "position, with a yes/no/unknown confusion table")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    config = EvalConfig(in_domain=_names(args.in_domain), out_domain=_names(args.out_domain),
                        breakdown=args.breakdown, drop_cjk_punct=args.drop_cjk_punct)
    try:
        results = evaluate_files(args.data_file, args.pred_file, config)
    except EvalInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(format_results(results))
    # The old logs' line, for the scripts and eyes that grep for it.
    print("Results: " + repr({k: v for k, v in results.items() if k != "breakdown"}))
    if args.out_file:
        try:
            with open(args.out_file, "w", encoding="utf-8") as out:
                json.dump(results, out, ensure_ascii=False, indent=2)
                out.write("\n")
        except OSError as err:
            print(f"error: {args.out_file}: cannot write ({err.strerror})", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
