"""Time `evaluate.evaluate_files` on synthetic Chinese turns (one core; not a test).

    python scripts/bench_evaluate.py [--turns 10000] [--repeats 3] [--breakdown]
                                     [--text-comparison auto|coqa|convqa_cn]

Writes, in a temporary folder, a CoQA-format gold file of Chinese dialogues (10 turns
each, answers of 15-30 characters; every fourth dialogue has 3 additional answer sets, so
those turns are scored leave-one-out over 4 golds) and a prediction file that overlaps the
golds partly. Reports the best of `--repeats` runs, reading and parsing included.
"""
from __future__ import annotations

import argparse
import io
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from evaluate import EvalConfig, evaluate_files  # noqa: E402

CHARS = ("的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动"
         "同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二"
         "理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社")
PUNCT = "，。、？"
SOURCES = ("mctest", "gutenberg", "race", "cnn", "wikipedia", "reddit", "science")
TURNS_PER_DIALOGUE = 10


def random_answer(rng: random.Random) -> str:
    """15-30 characters of Chinese with the odd comma, ending in 。 half the time."""
    text = "".join(rng.choice(CHARS) if rng.random() > 0.08 else rng.choice(PUNCT)
                   for _ in range(rng.randint(15, 30)))
    return text + "。" if rng.random() < 0.5 else text


def random_prediction(rng: random.Random, gold: str) -> str:
    """Exact, a shifted overlapping span, a special answer or unrelated text."""
    roll = rng.random()
    if roll < 0.2:
        return gold
    if roll < 0.8:
        start = rng.randint(0, len(gold) // 3)
        return gold[start:start + rng.randint(8, 25)] + random_answer(rng)[:rng.randint(0, 6)]
    if roll < 0.9:
        return rng.choice(("是的", "不是", "无法作答"))
    return random_answer(rng)


def _dialogue(rng: random.Random, index: int) -> Tuple[Dict, List[Dict]]:
    """One CoQA-format dialogue and its predictions."""
    golds = [[random_answer(rng) for _ in range(4 if index % 4 == 0 else 1)]
             for _ in range(TURNS_PER_DIALOGUE)]
    # About half the main answers occur in the story, so answer kinds are mixed.
    story = "".join(g[0] if rng.random() < 0.5 else random_answer(rng) for g in golds)
    turn_ids = range(1, TURNS_PER_DIALOGUE + 1)
    dialogue = {
        "source": SOURCES[index % len(SOURCES)], "id": f"dialogue-{index}", "story": story,
        "questions": [{"input_text": "问题？", "turn_id": t} for t in turn_ids],
        "answers": [{"input_text": g[0], "turn_id": t} for t, g in zip(turn_ids, golds)],
        "additional_answers": {str(k): [{"input_text": g[k + 1], "turn_id": t}
                                        for t, g in zip(turn_ids, golds)]
                               for k in range(len(golds[0]) - 1)},
    }
    preds = [{"id": dialogue["id"], "turn_id": t, "answer": random_prediction(rng, g[0])}
             for t, g in zip(turn_ids, golds)]
    return dialogue, preds


def write_files(folder: Path, turns: int, seed: int = 0) -> Tuple[Path, Path]:
    """gold.json and pred.json with `turns` turns (rounded up to whole dialogues)."""
    rng = random.Random(seed)
    data, preds = [], []
    for index in range(-(-turns // TURNS_PER_DIALOGUE)):
        dialogue, dialogue_preds = _dialogue(rng, index)
        data.append(dialogue)
        preds += dialogue_preds
    gold_file, pred_file = folder / "gold.json", folder / "pred.json"
    gold_file.write_text(json.dumps({"version": "bench", "data": data}, ensure_ascii=False),
                         encoding="utf-8")
    pred_file.write_text(json.dumps(preds, ensure_ascii=False), encoding="utf-8")
    return gold_file, pred_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=10000, help="turns to score")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs; the best counts")
    parser.add_argument("--breakdown", action="store_true", help="time with --breakdown on")
    parser.add_argument("--text-comparison", choices=("auto", "coqa", "convqa_cn"),
                        default="auto", help="auto compares these Chinese answers as ConvQA_CN")
    args = parser.parse_args()
    config = EvalConfig(breakdown=args.breakdown, text_comparison=args.text_comparison)
    with tempfile.TemporaryDirectory() as tmp:
        gold_file, pred_file = write_files(Path(tmp), args.turns)
        best = float("inf")
        for _ in range(args.repeats):
            began = time.perf_counter()
            results = evaluate_files(gold_file, pred_file, config, io.StringIO())
            best = min(best, time.perf_counter() - began)
    overall = results["overall"]
    print(f"evaluate_files: {overall['turns']} turns in {best:.3f} s = "
          f"{overall['turns'] / best:,.0f} turns/s (best of {args.repeats}; "
          f"text comparison {args.text_comparison}; "
          f"EM {overall['em']}, F1 {overall['f1']})")


if __name__ == "__main__":
    main()
