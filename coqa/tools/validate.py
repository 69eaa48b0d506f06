"""`python -m coqa.tools.validate FILE [FILE...]`: check CoQA / ConvQA_CN files, print a summary.

Exit 0 when every file is valid (or, with --skip-invalid, readable), 2 on the first defect.
With --questions-only, dialogues without answers (new questions, as `run_coqa.py --do_predict`
reads them) are valid too.
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from typing import Optional, Sequence

from coqa.cli import exit_on_bad_input, setup_logging
from coqa.data.readers import load_dialogues


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m coqa.tools.validate", description=__doc__)
    parser.add_argument("files", nargs="+", help="ConvQA_CN v3.0 or CoQA v1.0 JSON files")
    parser.add_argument("--skip-invalid", action="store_true",
                        help="skip invalid turns (each is reported) instead of stopping")
    parser.add_argument("--questions-only", action="store_true",
                        help='also accept dialogues without "Answers" ("answers"): new '
                             "questions to answer, as run_coqa.py --do_predict and "
                             "run_seq2seq.py decoding read them (their questions are still "
                             "checked; dialogues with answers are checked in full)")
    return parser


@exit_on_bad_input
def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    for path in args.files:
        loaded = load_dialogues(path, skip_invalid=args.skip_invalid,
                                questions_only=args.questions_only)
        answered = [t for d in loaded.dialogues for t in d.turns if t.answers]
        kinds = Counter(turn.kind.value for turn in answered)
        unlabelled = sum(1 for t in answered if not t.kind.is_special and t.span is None)
        line = (f"{path}: {loaded.format} {len(loaded.dialogues)} dialogues, "
                f"{loaded.num_turns} turns, kinds {dict(sorted(kinds.items()))}, "
                f"free-form without overlapping span {unlabelled}, skipped {len(loaded.skipped)}")
        if args.questions_only:
            new = [d for d in loaded.dialogues if not d.answered]
            line += (f", without answers {len(new)} dialogues "
                     f"({sum(len(d.turns) for d in new)} questions)")
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
