"""Per-turn EM/F1 (official CoQA algorithm), per-domain aggregation and the breakdown.

Every domain of the lists is reported, with 0 turns when no dialogue has it, as the
official scripts do. Differences from the official CoQA script, on purpose: a source in
neither domain list is reported under its own name and counted out-of-domain (the old
script crashed on it); a missing prediction is reported on its own line.
"""
from __future__ import annotations

import sys
from collections import defaultdict
from dataclasses import dataclass
from typing import Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence, TextIO, Tuple

from evaluate.answer_kinds import classify_special
from evaluate.gold import COQA, GoldData, GoldTurn, TurnKey
from evaluate.text import (CONVQA_CN_COMPARISON, COQA_COMPARISON, TEXT_COMPARISONS,
                           contains_cjk, em_string, f1_from_tokens, f1_tokens)

COQA_IN_DOMAIN = ("mctest", "gutenberg", "race", "cnn", "wikipedia")
COQA_OUT_DOMAIN = ("reddit", "science")
COQA_DOMAIN_NAMES = {"mctest": "children_stories", "gutenberg": "literature",
                     "race": "mid-high_school", "cnn": "news", "wikipedia": "wikipedia",
                     "reddit": "reddit", "science": "science"}
CONVQA_CN_IN_DOMAIN = ("儿童故事", "热点新闻", "历史", "育儿知识")
CONVQA_CN_OUT_DOMAIN: Tuple[str, ...] = ()

ANSWER_KINDS = ("span", "free-form", "yes", "no", "unknown")
POSITION_BUCKETS = ("1", "2", "3-4", "5+")
CONFUSION_LABELS = ("yes", "no", "unknown", "other")


@dataclass(frozen=True)
class EvalConfig:
    """What to score and how.

    in_domain / out_domain: source names (CoQA display names such as "children_stories"
    are accepted too); None means the gold format's official lists.
    breakdown: add scores by question type, answer kind, turn position and a
    yes/no/unknown confusion table. drop_cjk_punct: ignore non-ASCII punctuation
    (。，？「」) in both EM and F1 (ASCII punctuation is always ignored).
    text_comparison: "coqa" (official CoQA words), "convqa_cn" (BERT basic tokens) or
    "auto": coqa for a CoQA v1.0 gold file in English, convqa_cn otherwise.
    """

    in_domain: Optional[Tuple[str, ...]] = None
    out_domain: Optional[Tuple[str, ...]] = None
    breakdown: bool = False
    drop_cjk_punct: bool = False
    text_comparison: str = "auto"

    def __post_init__(self) -> None:
        if self.text_comparison not in ("auto",) + TEXT_COMPARISONS:
            raise ValueError(f"text_comparison {self.text_comparison!r} is not one of "
                             f"auto, {', '.join(TEXT_COMPARISONS)}")
        # Accept any sequence from callers but keep the config hashable.
        for name in ("in_domain", "out_domain"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, tuple(value))


class ScoredTurn(NamedTuple):
    turn: GoldTurn
    prediction: Optional[str]  # None: missing from the prediction file
    em: float
    f1: float


def resolve_comparison(gold: GoldData, config: EvalConfig) -> Tuple[str, str]:
    """(text comparison, why): the config's, or for "auto" the gold file's own.

    A CoQA-format file whose answers hold Chinese is compared as ConvQA_CN: the official
    CoQA words would make a whole Chinese answer one token.
    """
    if config.text_comparison != "auto":
        return config.text_comparison, "as asked"
    if gold.file_format != COQA:
        return CONVQA_CN_COMPARISON, "ConvQA_CN gold file"
    if any(contains_cjk(answer) for turn in gold.turns for answer in turn.answers):
        return CONVQA_CN_COMPARISON, "CoQA-format gold file with Chinese answers"
    return COQA_COMPARISON, "CoQA v1.0 gold file"


def turn_score(golds: Sequence[str], pred: str, drop_cjk_punct: bool = False,
               comparison: str = CONVQA_CN_COMPARISON) -> Tuple[float, float]:
    """(EM, F1) of one turn, as the official CoQA evaluator computes them.

    With two or more golds: for each gold i, the best score against the others, averaged
    over i (leave-one-out, so a human answer scores below 1 against the rest). Each gold
    is compared once; leaving one out only changes which scores the max runs over.
    """
    pred_em = em_string(pred, drop_cjk_punct)
    pred_toks = f1_tokens(pred, drop_cjk_punct, comparison)
    ems = [float(em_string(g, drop_cjk_punct) == pred_em) for g in golds]
    f1s = [f1_from_tokens(f1_tokens(g, drop_cjk_punct, comparison), pred_toks) for g in golds]
    if len(golds) == 1:
        return ems[0], f1s[0]
    em_sum = f1_sum = 0.0
    for left_out in range(len(golds)):
        em_sum += max(ems[:left_out] + ems[left_out + 1:])
        f1_sum += max(f1s[:left_out] + f1s[left_out + 1:])
    return em_sum / len(golds), f1_sum / len(golds)


def score_turns(turns: Iterable[GoldTurn], predictions: Mapping[TurnKey, str],
                config: EvalConfig, comparison: str, warn: TextIO,
                list_missing: bool = True) -> List[ScoredTurn]:
    """One ScoredTurn per gold turn; a missing prediction scores 0 and is reported, each
    on its own line, or with `list_missing=False` in one line with the count."""
    if comparison not in TEXT_COMPARISONS:
        raise ValueError(f"comparison {comparison!r}: resolve it first (resolve_comparison)")
    scored, missing = [], []
    for turn in turns:
        pred = predictions.get(turn.key)
        if pred is None:
            if list_missing:
                warn.write(f"Missing prediction for {turn.dialogue_id} and turn_id: "
                           f"{turn.turn_id}\n")
            missing.append(turn)
            scored.append(ScoredTurn(turn, None, 0.0, 0.0))
        else:
            em, f1 = turn_score(turn.answers, pred, config.drop_cjk_punct, comparison)
            scored.append(ScoredTurn(turn, pred, em, f1))
    if missing and not list_missing:
        warn.write(f"{len(missing)} missing prediction(s) scored 0, first for "
                   f"{missing[0].dialogue_id} and turn_id: {missing[0].turn_id}\n")
    return scored


class _Total:
    """Running sums of per-turn EM and F1 for one group of turns."""

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

    def as_dict(self) -> Dict[str, object]:
        # Exactly the official expression, so the rounding matches to the last digit.
        return {"em": round(self.em / max(1, self.turns) * 100, 1),
                "f1": round(self.f1 / max(1, self.turns) * 100, 1),
                "turns": self.turns}


def domain_lists(file_format: str, config: EvalConfig) -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
    """(in-domain sources, out-of-domain sources): the config's, else the format's official."""
    default_in, default_out = ((COQA_IN_DOMAIN, COQA_OUT_DOMAIN) if file_format == COQA
                               else (CONVQA_CN_IN_DOMAIN, CONVQA_CN_OUT_DOMAIN))
    source_of = ({name: source for source, name in COQA_DOMAIN_NAMES.items()}
                 if file_format == COQA else {})

    def sources(names: Optional[Tuple[str, ...]], default: Tuple[str, ...]) -> Tuple[str, ...]:
        return default if names is None else tuple(source_of.get(n, n) for n in names)
    return sources(config.in_domain, default_in), sources(config.out_domain, default_out)


def aggregate(file_format: str, scored: Sequence[ScoredTurn],
              config: EvalConfig) -> Dict[str, object]:
    """{domain: {em, f1, turns}, ..., in_domain, out_domain, overall[, breakdown]}.

    Every listed domain comes in list order (in-domain list, then out-of-domain list),
    with 0 turns if no dialogue has it, as in the official script; then unlisted sources
    in order of appearance, which count out-of-domain.
    """
    in_list, out_list = domain_lists(file_format, config)
    names = COQA_DOMAIN_NAMES if file_format == COQA else {}
    per_source: Dict[str, _Total] = defaultdict(_Total)
    for item in scored:  # file order: the same summation order as the official script
        per_source[item.turn.source].add(item.em, item.f1)
    listed = list(dict.fromkeys(in_list + out_list))
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


def position_bucket(turn_id: int) -> str:
    """Turn position group: "1", "2", "3-4" or "5+"."""
    if turn_id <= 2:
        return "1" if turn_id <= 1 else "2"
    return "3-4" if turn_id <= 4 else "5+"


def breakdown(scored: Sequence[ScoredTurn]) -> Dict[str, object]:
    """Scores by question_type, gold answer kind and turn position, and the confusion table
    of special answers (gold kind row, predicted kind column, "other" for the rest)."""
    by_type: Dict[str, _Total] = defaultdict(_Total)
    by_kind: Dict[str, _Total] = defaultdict(_Total)
    by_position: Dict[str, _Total] = defaultdict(_Total)
    confusion = {gold: {pred: 0 for pred in CONFUSION_LABELS} for gold in CONFUSION_LABELS}
    for item in scored:
        turn = item.turn
        by_type[turn.question_type].add(item.em, item.f1)
        by_kind[turn.kind].add(item.em, item.f1)
        by_position[position_bucket(turn.turn_id)].add(item.em, item.f1)
        gold_label = turn.kind if turn.kind in CONFUSION_LABELS else "other"
        pred_label = classify_special(item.prediction) if item.prediction is not None else None
        confusion[gold_label][pred_label or "other"] += 1
    return {
        "question_type": {k: by_type[k].as_dict() for k in sorted(by_type)},
        "answer_kind": {k: by_kind[k].as_dict() for k in ANSWER_KINDS if k in by_kind},
        "turn_position": {k: by_position[k].as_dict() for k in POSITION_BUCKETS
                          if k in by_position},
        "confusion": confusion,
    }


def unmatched_domains(gold: GoldData, config: EvalConfig) -> List[str]:
    """One warning per name given in config.in_domain / out_domain that no dialogue has."""
    in_list, out_list = domain_lists(gold.file_format, config)
    present = {turn.source for turn in gold.turns}
    messages = []
    for flag, names, sources in (("in-domain", config.in_domain, in_list),
                                 ("out-domain", config.out_domain, out_list)):
        for name, source in zip(names or (), sources):
            if source not in present:
                messages.append(f"{gold.path}: no dialogue has the {flag} source {name!r}; "
                                "it is reported with 0 turns")
    return messages


def score_with_turns(gold: GoldData, predictions: Mapping[TurnKey, str],
                     config: Optional[EvalConfig] = None, warn: Optional[TextIO] = None,
                     list_missing: bool = True) -> Tuple[Dict[str, object], List[ScoredTurn]]:
    """(results dict, one ScoredTurn per gold turn in file order); see `score`."""
    config = config if config is not None else EvalConfig()
    warn = warn if warn is not None else sys.stderr  # looked up now, so capture works
    messages = list(gold.warnings) + list(getattr(predictions, "warnings", ()))
    for message in messages + unmatched_domains(gold, config):
        warn.write(message + "\n")
    gold_keys = {turn.key for turn in gold.turns}
    extra = sum(1 for key in predictions if key not in gold_keys)
    if extra:
        warn.write(f"Ignored {extra} prediction(s) for turns not in the gold file\n")
    comparison, _ = resolve_comparison(gold, config)
    scored = score_turns(gold.turns, predictions, config, comparison, warn, list_missing)
    return aggregate(gold.file_format, scored, config), scored


def score(gold: GoldData, predictions: Mapping[TurnKey, str],
          config: Optional[EvalConfig] = None, warn: Optional[TextIO] = None) -> Dict[str, object]:
    """Results dict for a read gold file and {(id, turn_id): answer} predictions.

    Warnings (gold and prediction file oddities, domain names no dialogue has, each
    missing prediction, the number of predictions for turns not in the gold file) go to
    `warn`, by default the current sys.stderr.
    """
    return score_with_turns(gold, predictions, config, warn)[0]
