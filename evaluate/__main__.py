"""python -m evaluate --data-file GOLD --pred-file PRED [--out-file OUT] [--breakdown]"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Optional, Sequence

from evaluate import EvalConfig, EvalInputError, evaluate_files
from evaluate.report import format_results


def _names(text: Optional[str]):
    return None if text is None else tuple(n.strip() for n in text.split(",") if n.strip())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m evaluate", description=
                                     "Per-domain EM/F1 of CoQA / ConvQA_CN predictions.")
    parser.add_argument("--data-file", required=True, help="gold ConvQA_CN v3.0 or CoQA v1.0 JSON")
    parser.add_argument("--pred-file", required=True, help='JSON list of {"id", "turn_id", "answer"}')
    parser.add_argument("--out-file", help="write the results JSON here")
    parser.add_argument("--breakdown", action="store_true",
                        help="also score by question type, answer kind, turn position; confusion table")
    parser.add_argument("--in-domain", help="comma-separated sources counted in-domain "
                        "(default: the format's official list)")
    parser.add_argument("--out-domain", help="comma-separated sources counted out-of-domain")
    parser.add_argument("--drop-cjk-punct", action="store_true",
                        help="also ignore Chinese punctuation (。，？) when comparing")
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
    print("Results: " + repr({k: v for k, v in results.items() if k != "breakdown"}))
    if args.out_file:
        with open(args.out_file, "w", encoding="utf-8") as out:
            json.dump(results, out, ensure_ascii=False, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
