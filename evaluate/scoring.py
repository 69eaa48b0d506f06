"""Per-turn EM/F1 (official CoQA algorithm) and turn-weighted per-domain aggregation."""
from __future__ import annotations

import sys
from collections import defaultdict
from dataclasses import dataclass
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, TextIO, Tuple

from evaluate.answer_kinds import classify_special
from evaluate.gold import COQA, GoldTurn, TurnKey
from evaluate.text import exact_match, f1_score

COQA_IN_DOMAIN = ("mctest", "gutenberg", "race", "cnn", "wikipedia")
COQA_OUT_DOMAIN = ("reddit", "science")
COQA_DOMAIN_NAMES = {"mctest": "children_stories", "gutenberg": "literature",
                     "race": "mid-high_school", "cnn": "news", "wikipedia": "wikipedia",
                     "reddit": "reddit", "science": "science"}
CONVQA_CN_IN_DOMAIN = ("儿童故事", "热点新闻", "历史", "育儿知识")
CONVQA_CN_OUT_DOMAIN: Tuple[str, ...] = ()

POSITION_BUCKETS = ("1", "2", "3-4", "5+")
CONFUSION_LABELS = ("yes", "no", "unknown", "other")


@dataclass(frozen=True)
class EvalConfig:
    """Domain lists (None: the format's official lists), breakdown and punctuation options."""

    in_domain: Optional[Tuple[str, ...]] = None
    out_domain: Optional[Tuple[str, ...]] = None
    breakdown: bool = False
    drop_cjk_punct: bool = False


def turn_score(golds: Sequence[str], pred: str, drop_cjk_punct: bool = False) -> Tuple[float, float]:
    """(EM, F1) of one turn; leave-one-out average over the golds when there are two or more.

    Each gold is compared with the prediction once; leaving one out only changes which
    of those scores the max runs over."""
    ems = [exact_match(g, pred, drop_cjk_punct) for g in golds]
    f1s = [f1_score(g, pred, drop_cjk_punct) for g in golds]
    if len(golds) == 1:
        return ems[0], f1s[0]
    em_sum = f1_sum = 0.0
    for left_out in range(len(golds)):
        em_sum += max(ems[:left_out] + ems[left_out + 1:])
        f1_sum += max(f1s[:left_out] + f1s[left_out + 1:])
    return em_sum / len(golds), f1_sum / len(golds)


class _Total:
    __slots__ = ("em", "f1", "turns")

    def __init__(self) -> None:
        self.em = self.f1 = 0.0
        self.turns = 0

    def add(self, em: float, f1: float) -> None:
        self.em += em
        self.f1 += f1
        self.turns += 1

    def merge(self, other: "_Total") -> None:
        self.em += other.em
        self.f1 += other.f1
        self.turns += other.turns

    def as_dict(self) -> Dict[str, float]:
        scale = 100 / max(1, self.turns)
        return {"em": round(self.em * scale, 1), "f1": round(self.f1 * scale, 1),
                "turns": self.turns}


def position_bucket(turn_id: int) -> str:
    return "1" if turn_id <= 1 else "2" if turn_id == 2 else "3-4" if turn_id <= 4 else "5+"


def domain_lists(file_format: str, config: EvalConfig) -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
    default_in, default_out = ((COQA_IN_DOMAIN, COQA_OUT_DOMAIN) if file_format == COQA
                               else (CONVQA_CN_IN_DOMAIN, CONVQA_CN_OUT_DOMAIN))
    return (config.in_domain if config.in_domain is not None else default_in,
            config.out_domain if config.out_domain is not None else default_out)


def score_turns(turns: Iterable[GoldTurn], predictions: Mapping[TurnKey, str],
                config: EvalConfig, warn: TextIO = sys.stderr) -> List[Tuple[GoldTurn, str, float, float]]:
    """(turn, prediction, EM, F1) per gold turn; a missing prediction scores 0 and is reported."""
    scored = []
    for turn in turns:
        pred = predictions.get(turn.key)
        if pred is None:
            warn.write(f"Missing prediction for {turn.dialogue_id} and turn_id: {turn.turn_id}\n")
            scored.append((turn, "", 0.0, 0.0))
            continue
        em, f1 = turn_score(turn.answers, pred, config.drop_cjk_punct)
        scored.append((turn, pred, em, f1))
    return scored


def aggregate(file_format: str, scored: Sequence[Tuple[GoldTurn, str, float, float]],
              config: EvalConfig) -> Dict[str, object]:
    """{domain: {em, f1, turns}, ..., in_domain, out_domain, overall[, breakdown]}."""
    in_list, out_list = domain_lists(file_format, config)
    names = COQA_DOMAIN_NAMES if file_format == COQA else {}
    per_source: Dict[str, _Total] = defaultdict(_Total)
    for turn, _, em, f1 in scored:
        per_source[turn.source].add(em, f1)
    listed = [s for s in in_list + out_list if s in per_source]
    unlisted = [s for s in per_source if s not in in_list and s not in out_list]
    results: Dict[str, object] = {}
    inside, outside, overall = _Total(), _Total(), _Total()
    for source in listed + unlisted:
        total = per_source[source]
        results[names.get(source, source)] = total.as_dict()
        (inside if source in in_list else outside).merge(total)
        overall.merge(total)
    results["in_domain"] = inside.as_dict()
    results["out_domain"] = outside.as_dict()
    results["overall"] = overall.as_dict()
    if config.breakdown:
        results["breakdown"] = breakdown(scored)
    return results


def breakdown(scored: Sequence[Tuple[GoldTurn, str, float, float]]) -> Dict[str, object]:
    """Scores by question_type, gold answer kind and turn position; yes/no/unknown confusion."""
    groups: Dict[str, Dict[str, _Total]] = {"question_type": defaultdict(_Total),
                                            "answer_kind": defaultdict(_Total),
                                            "turn_position": defaultdict(_Total)}
    confusion = {gold: {pred: 0 for pred in CONFUSION_LABELS} for gold in CONFUSION_LABELS}
    for turn, pred, em, f1 in scored:
        groups["question_type"][turn.question_type].add(em, f1)
        groups["answer_kind"][turn.kind].add(em, f1)
        groups["turn_position"][position_bucket(turn.turn_id)].add(em, f1)
        gold_label = turn.kind if turn.kind in ("yes", "no", "unknown") else "other"
        confusion[gold_label][classify_special(pred) or "other"] += 1
    kind_order = ("span", "free-form", "yes", "no", "unknown")
    out: Dict[str, object] = {
        "question_type": {k: v.as_dict() for k, v in sorted(groups["question_type"].items())},
        "answer_kind": {k: groups["answer_kind"][k].as_dict() for k in kind_order
                        if k in groups["answer_kind"]},
        "turn_position": {k: groups["turn_position"][k].as_dict() for k in POSITION_BUCKETS
                          if k in groups["turn_position"]},
        "confusion": confusion,
    }
    return out
