"""Print what `make demo` shows: per-domain F1 of a trained model beside the baselines, for
each dev set, then a few dev dialogues turn by turn (question, gold answer, prediction).

    python -m scripts.demo_report --set NAME GOLD.json model=PRED.json base=PRED.json ... \
        [--set ...] [--dialogues 2]

The first dev set's first dialogues are the ones printed. Exits 1 when the model does not
beat the best baseline of the first set by `--min-margin` F1, so a broken demo fails loudly.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List, Tuple

from evaluate import evaluate_files


def _scores(gold: str, runs: Dict[str, str]) -> Dict[str, dict]:
    return {name: evaluate_files(gold, pred) for name, pred in runs.items()}


def print_table(title: str, scores: Dict[str, dict]) -> None:
    names = list(scores)
    domains = [key for key, value in scores[names[0]].items()
               if isinstance(value, dict) and value.get("turns")
               and key not in ("in_domain", "out_domain", "overall")] + ["overall"]
    print(f"\n{title}: F1 (EM) per domain")
    print("| " + " | ".join(["domain", "turns"] + names) + " |")
    print("|" + "---|" * (len(names) + 2))
    for domain in domains:
        cells = [f"{scores[name][domain]['f1']:.1f} ({scores[name][domain]['em']:.1f})"
                 for name in names]
        print(f"| {domain} | {scores[names[0]][domain]['turns']} | " + " | ".join(cells) + " |")


def print_dialogues(gold: str, predictions: str, count: int) -> None:
    data = json.loads(Path(gold).read_text(encoding="utf-8"))["data"][:count]
    answers = {(str(p["id"]), int(p["turn_id"])): p["answer"]
               for p in json.loads(Path(predictions).read_text(encoding="utf-8"))}
    for dialogue in data:
        print(f"\nDialogue {dialogue['id']} ({dialogue.get('Source', '')}):")
        print(f"  passage: {dialogue['Passage']}")
        for question, answer in zip(dialogue["Questions"], dialogue["Answers"]):
            predicted = answers.get((str(dialogue["id"]), int(question["turn_id"])), "(none)")
            mark = "ok" if predicted == answer["input_text"] else "  "
            print(f"  {mark} Q{question['turn_id']}: {question['input_text']}  "
                  f"gold: {answer['input_text']}  predicted: {predicted}")
        texts = [question["input_text"] for question in dialogue["Questions"]]
        if any(a == b for a, b in zip(texts, texts[1:])):
            print("  (a repeated question: a pronoun follow-up stays with its person, and once "
                  "that person's facts are all asked the generator asks again; docs/DATA.md)")


def parse_sets(items: List[List[str]]) -> List[Tuple[str, str, Dict[str, str]]]:
    sets = []
    for name, gold, *runs in items:
        sets.append((name, gold, dict(run.split("=", 1) for run in runs)))
    return sets


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", nargs="+", action="append", required=True,
                        metavar="NAME GOLD RUN=PRED", help="a dev set and its prediction files; "
                        "the first run is the model, the others baselines")
    parser.add_argument("--dialogues", type=int, default=2, help="dialogues printed turn by turn")
    parser.add_argument("--min-margin", type=float, default=20.0,
                        help="F1 the model must gain over the best baseline of the first set")
    args = parser.parse_args()
    sets = parse_sets(args.set)
    margin = None
    for name, gold, runs in sets:
        scores = _scores(gold, runs)
        print_table(name, scores)
        if margin is None:
            model, *baselines = scores
            best = max(scores[b]["overall"]["f1"] for b in baselines)
            margin = scores[model]["overall"]["f1"] - best
    name, gold, runs = sets[0]
    print(f"\n{name}: the model beats the best baseline by {margin:.1f} F1.")
    print_dialogues(gold, next(iter(runs.values())), args.dialogues)
    return 0 if margin >= args.min_margin else 1


if __name__ == "__main__":
    sys.exit(main())
