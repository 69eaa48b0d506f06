"""`python -m coqa.tools.baseline`: no-training baselines. `--method overlap` (the default)
answers every question with the passage sentence sharing the most distinct characters with
it (ties: the earliest); `--method unknown` answers every question 无法作答 (`unknown`, the
official CoQA answer, for a CoQA v1.0 dialogue whose passage holds no Chinese).

It exists so `make demo` and the evaluator have something honest to score before a
model is trained; any real model should beat it by a wide margin.
"""
from __future__ import annotations

import argparse
import re
import sys
from typing import Dict, List, Optional, Sequence

from coqa.cli import OneLineParser, exit_on_bad_input, setup_logging
from coqa.data.readers import COQA, load_dialogues
from coqa.data.files import write_json
from evaluate.answer_kinds import UNKNOWN_TEXT
from evaluate.text import contains_cjk

# A sentence ends after 。！？!? or a line break; the closing mark stays with its sentence.
_SENTENCE = re.compile(r"[^。！？!?\n]+[。！？!?]*")


def split_sentences(passage: str) -> List[str]:
    return [s.strip() for s in _SENTENCE.findall(passage) if s.strip()]


def best_sentence(sentences: Sequence[str], question: str) -> str:
    """The sentence sharing most distinct non-space characters with the question."""
    wanted = set(question) - set(" ？?，,。")
    scores = [len(wanted & set(sentence)) for sentence in sentences]
    return sentences[scores.index(max(scores))] if sentences else ""


METHODS = ("overlap", "unknown")


def predict(data_file: str, skip_invalid: bool = False,
            method: str = "overlap") -> List[Dict[str, object]]:
    """One `{"id", "turn_id", "answer"}` per turn of `data_file`."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    predictions = []
    # Answers are not needed: a file of new questions (as --do_predict reads) works too.
    loaded = load_dialogues(data_file, skip_invalid=skip_invalid, questions_only=True)
    for dialogue in loaded.dialogues:
        sentences = split_sentences(dialogue.passage)
        english = loaded.format == COQA and not contains_cjk(dialogue.passage)
        unknown = "unknown" if english else UNKNOWN_TEXT
        for turn in dialogue.turns:
            answer = unknown if method == "unknown" else best_sentence(sentences, turn.question)
            predictions.append({"id": dialogue.id, "turn_id": turn.turn_id, "answer": answer})
    return predictions


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m coqa.tools.baseline", description=__doc__)
    parser.add_argument("--data-file", required=True, help="ConvQA_CN or CoQA JSON to answer (its gold answers, "
                        "if any, are not used)")
    parser.add_argument("--pred-file", required=True, help="where to write the predictions")
    parser.add_argument("--method", choices=METHODS, default="overlap",
                        help="overlap: the sentence sharing most characters with the question; "
                             "unknown: every answer 无法作答 (unknown for English CoQA)")
    parser.add_argument("--skip-invalid", action="store_true", help="skip (and report) bad turns")
    return parser


@exit_on_bad_input
def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    predictions = predict(args.data_file, args.skip_invalid, args.method)
    write_json(args.pred_file, predictions)  # atomically, its folder made if missing
    print(f"Wrote {len(predictions)} predictions to {args.pred_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
