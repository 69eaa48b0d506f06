"""`python -m coqa.tools.convert`: SQuAD-style JSON (CMRC 2018, DRCD) to ConvQA_CN v3.0 pseudo-dialogues.

One paragraph becomes one dialogue whose turns are its questions, in file order, each
answered by its first annotated answer (extractive). `answer_start` lists the annotated
offset first, then every other offset where the answer occurs. An offset that does not
point at its answer text (CMRC 2018 trial, paragraph TRIAL_210, is one character off) is
moved to the nearest occurrence and reported; an answer that does not occur is an error.
A SQuAD v2 question marked `is_impossible` becomes a 无法作答 turn (generative,
`answer_start` [-3]); its `plausible_answers` are not used. An empty answer text, a
paragraph that is not an object and a paragraph id that came before are errors naming the
paragraph, so the file written always passes `python -m coqa.tools.validate`. The output is
written atomically.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from coqa.cli import exit_on_bad_input, setup_logging
from coqa.data.convqa_format import occurrences
from coqa.data.errors import DataError, UsageError
from coqa.data.files import write_json
from coqa.data.readers import read_json
from evaluate.answer_kinds import UNKNOWN_TEXT

logger = logging.getLogger(__name__)


def align_answer(context: str, answer: str, start: Any) -> Tuple[List[int], bool]:
    """answer_start list (the annotated or nearest offset first) and whether it was moved."""
    if isinstance(start, str) and start.strip().isdigit():
        start = int(start)  # some converted files hold offsets as strings
    offsets = occurrences(context, answer)
    if not offsets:
        raise ValueError(f"answer {answer!r} does not occur in the paragraph")
    annotated = start if isinstance(start, int) and start in offsets else None
    if annotated is None:
        target = start if isinstance(start, int) else 0
        annotated = min(offsets, key=lambda offset: (abs(offset - target), offset))
    rest = [offset for offset in offsets if offset != annotated]
    return [annotated] + rest, annotated != start


def convert_paragraph(paragraph: Dict[str, Any], dialogue_id: str, domain: str,
                      path: str) -> Tuple[Dict[str, Any], int]:
    """One ConvQA_CN dialogue from one SQuAD paragraph, and how many offsets were moved."""
    if not isinstance(paragraph, dict):
        raise DataError("paragraph is not an object", path, dialogue_id)
    context = paragraph.get("context")
    qas = paragraph.get("qas")
    if not isinstance(context, str) or not isinstance(qas, list):
        raise DataError('paragraph without "context" or "qas"', path, dialogue_id)
    questions, answers, moved = [], [], 0
    for turn_id, qa in enumerate(qas, start=1):
        if isinstance(qa, dict) and qa.get("is_impossible") is True \
                and isinstance(qa.get("question"), str):
            # SQuAD v2: no answer in the paragraph, ConvQA_CN's unknown answer.
            questions.append({"input_text": qa["question"], "turn_id": turn_id,
                              "question_type": "factoid"})
            answers.append({"input_text": UNKNOWN_TEXT, "turn_id": turn_id, "answer_id": 1,
                            "answer_type": "generative", "answer_start": [-3]})
            continue
        gold = (qa.get("answers") or [None])[0] if isinstance(qa, dict) else None
        if not isinstance(gold, dict) or not isinstance(gold.get("text"), str) \
                or not isinstance(qa.get("question"), str):
            raise DataError("question without question text or answer", path, dialogue_id, turn_id)
        if not gold["text"].strip():
            raise DataError(f"empty answer text {gold['text']!r} ({qa.get('id')})", path,
                            dialogue_id, turn_id)
        try:
            starts, was_moved = align_answer(context, gold["text"], gold.get("answer_start"))
        except ValueError as err:
            raise DataError(str(err), path, dialogue_id, turn_id) from None
        if was_moved:
            moved += 1
            logger.warning("%s: dialogue %s: turn %d: answer_start %s moved to %d (%s)", path,
                           dialogue_id, turn_id, gold.get("answer_start"), starts[0], qa.get("id"))
        questions.append({"input_text": qa["question"], "turn_id": turn_id,
                          "question_type": "factoid"})
        answers.append({"input_text": gold["text"], "turn_id": turn_id, "answer_id": 1,
                        "answer_type": "extractive", "answer_start": starts})
    dialogue = {"Source": domain, "Passage": context, "Questions": questions,
                "Answers": answers, "id": dialogue_id}
    return dialogue, moved


def convert_squad(path: str | Path, domain: str) -> Tuple[Dict[str, Any], int]:
    """The ConvQA_CN v3.0 object for a SQuAD-style file, and the number of moved offsets."""
    path = str(path)
    top = read_json(path)
    if not isinstance(top, dict) or not isinstance(top.get("data"), list):
        raise DataError('no "data" list at the top level', file=path)
    if not top["data"]:
        raise DataError('"data" is empty: no articles to convert', file=path)
    dialogues, moved = [], 0
    seen: Dict[str, str] = {}  # dialogue id -> where it came from
    for a, article in enumerate(top["data"]):
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            raise DataError(f'article #{a} has no "paragraphs" list', file=path)
        for p, paragraph in enumerate(paragraphs):
            dialogue_id = str(paragraph.get("id") or f"{a}-{p}") if isinstance(paragraph, dict) \
                else f"{a}-{p}"
            here = f"article #{a} paragraph #{p}"
            if dialogue_id in seen:
                raise DataError(f"paragraph id repeated ({seen[dialogue_id]} and {here}): "
                                "dialogue ids must be unique", path, dialogue_id)
            seen[dialogue_id] = here
            dialogue, count = convert_paragraph(paragraph, dialogue_id, domain, path)
            dialogues.append(dialogue)
            moved += count
    version = f"ConvQA_CN v3.0 converted from {Path(path).name}"
    return {"version": version, "data": dialogues}, moved


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m coqa.tools.convert", description=__doc__)
    parser.add_argument("--input", required=True, help="SQuAD-style JSON (CMRC 2018, DRCD)")
    parser.add_argument("--output", required=True, help="ConvQA_CN v3.0 JSON to write")
    parser.add_argument("--domain", required=True, help='Source of every dialogue, e.g. "百科"')
    parser.add_argument("--paragraphs", default="",
                        help="keep only these paragraphs (dialogues), in file order, as "
                             "FIRST:END (Python slice: 0:60, 60:120, 200:); default all")
    return parser


def paragraph_slice(text: str) -> slice:
    """--paragraphs FIRST:END as a slice; one UsageError line when it is not one."""
    if not text:
        return slice(None)
    parts = text.split(":")
    try:
        if len(parts) != 2:
            raise ValueError
        first, end = (int(p) if p else None for p in parts)
    except ValueError:
        raise UsageError(f"--paragraphs {text}: give FIRST:END, e.g. 0:60") from None
    if (first is not None and first < 0) or (end is not None and end < 0):
        raise UsageError(f"--paragraphs {text}: counts from 0, no negative positions")
    return slice(first, end)


@exit_on_bad_input
def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    keep = paragraph_slice(args.paragraphs)
    converted, moved = convert_squad(args.input, args.domain)
    converted["data"] = converted["data"][keep]
    write_json(args.output, converted)
    turns = sum(len(d["Questions"]) for d in converted["data"])
    print(f"Wrote {args.output}: {len(converted['data'])} dialogues, {turns} turns, "
          f"{moved} answer offsets moved to the nearest occurrence")
    return 0


if __name__ == "__main__":
    sys.exit(main())
