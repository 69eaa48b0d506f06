"""Whole-file agreement with a plain re-statement of the old ConvQA_CN evaluator.

The reference below follows the official CoQA script line by line (dict of golds,
leave-one-out, per-source totals, `round(total / count * 100, 1)`), with BERT's own
BasicTokenizer from transformers in its F1; only the missing-prediction and unlisted-source
behaviour is the documented new one. Random answers mix Chinese, English, digits and
punctuation so that every branch of the text comparison is hit.
"""
from __future__ import annotations

import importlib
import io
import json
import random
import re
import string
from collections import Counter

import pytest

from evaluate import evaluate_files

IN_DOMAIN = ["mctest", "gutenberg", "race", "cnn", "wikipedia"]
OUT_DOMAIN = ["reddit", "science"]
NAMES = {"mctest": "children_stories", "gutenberg": "literature", "race": "mid-high_school",
         "cnn": "news", "wikipedia": "wikipedia", "reddit": "reddit", "science": "science"}
PIECES = ["平", "安", "夜", "年", "的", "是", "。", "，", "？", "「", "」", "The", "a", "an",
          "cat", "Café", "12", "2020", "iPhone", "-", "'s", ".", ",", " ", " ", "无法作答"]


def basic_tokenizer():
    for name in ("transformers.models.bert.tokenization_bert",
                 "transformers.models.bert.tokenization_bert_legacy"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(module, "BasicTokenizer"):
            return module.BasicTokenizer(do_lower_case=True)
    pytest.skip("this transformers has no BasicTokenizer")


def normalize_answer(s):
    s = "".join(ch for ch in s.lower() if ch not in set(string.punctuation))
    s = re.sub(re.compile(r"\b(a|an|the)\b", re.UNICODE), " ", s)
    return " ".join(s.split())


def reference_results(gold, preds, tokenizer):
    def get_tokens(s):
        return normalize_answer(" ".join(tokenizer.tokenize(s))).split() if s else []

    def compute_f1(a_gold, a_pred):
        gold_toks, pred_toks = get_tokens(a_gold), get_tokens(a_pred)
        common = Counter(gold_toks) & Counter(pred_toks)
        num_same = sum(common.values())
        if len(gold_toks) == 0 or len(pred_toks) == 0:
            return int(gold_toks == pred_toks)
        if num_same == 0:
            return 0
        precision, recall = num_same / len(pred_toks), num_same / len(gold_toks)
        return (2 * precision * recall) / (precision + recall)

    def compute_em(a_gold, a_pred):
        return int(normalize_answer(a_gold) == normalize_answer(a_pred))

    gold_dict, id_to_source = {}, {}
    for story in gold["data"]:
        id_to_source[story["id"]] = story["source"]
        sets = [story["answers"]] + list(story["additional_answers"].values())
        for i, qa in enumerate(story["questions"]):
            gold_dict[(story["id"], qa["turn_id"])] = [a[i]["input_text"] for a in sets]
    pred_dict = {(p["id"], p["turn_id"]): p["answer"] for p in preds}
    sources = {}
    for key, golds in gold_dict.items():
        em = f1 = 0.0
        if key in pred_dict:
            pred = pred_dict[key]
            if len(golds) > 1:
                for i in range(len(golds)):
                    rest = golds[0:i] + golds[i + 1:]
                    em += max(compute_em(a, pred) for a in rest)
                    f1 += max(compute_f1(a, pred) for a in rest)
            else:
                em, f1 = compute_em(golds[0], pred), compute_f1(golds[0], pred)
            em, f1 = em / max(1, len(golds)), f1 / max(1, len(golds))
        totals = sources.setdefault(id_to_source[key[0]], [0.0, 0.0, 0])
        totals[0] += em
        totals[1] += f1
        totals[2] += 1

    def scores(em, f1, turns):
        return {"em": round(em / max(1, turns) * 100, 1),
                "f1": round(f1 / max(1, turns) * 100, 1), "turns": turns}
    results, groups = {}, {"in_domain": [0.0, 0.0, 0], "out_domain": [0.0, 0.0, 0],
                           "overall": [0.0, 0.0, 0]}
    for source in IN_DOMAIN + OUT_DOMAIN:
        if source in sources:
            em, f1, turns = sources[source]
            results[NAMES[source]] = scores(em, f1, turns)
            for group in ("in_domain" if source in IN_DOMAIN else "out_domain", "overall"):
                groups[group] = [x + y for x, y in zip(groups[group], sources[source])]
    results.update({name: scores(*totals) for name, totals in groups.items()})
    return results


def random_text(rng):
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 8)))


def test_matches_reference_on_random_coqa_file(tmp_path):
    tokenizer = basic_tokenizer()
    rng = random.Random(7)
    data, preds = [], []
    for index in range(60):
        turns, extra = rng.randint(1, 8), rng.choice([0, 0, 1, 3])
        answers = [[random_text(rng) for _ in range(turns)] for _ in range(1 + extra)]
        data.append({"source": rng.choice(IN_DOMAIN + OUT_DOMAIN), "id": f"d{index}",
                     "story": "".join(answers[0]),
                     "questions": [{"input_text": "q", "turn_id": t + 1} for t in range(turns)],
                     "answers": [{"input_text": a, "turn_id": t + 1}
                                 for t, a in enumerate(answers[0])],
                     "additional_answers": {str(k): [{"input_text": a, "turn_id": t + 1}
                                                     for t, a in enumerate(answers[k + 1])]
                                            for k in range(extra)}})
        for t in range(turns):
            if rng.random() < 0.9:  # the rest are missing
                golds = [a[t] for a in answers]
                guess = rng.choice(golds) if rng.random() < 0.3 else random_text(rng)
                preds.append({"id": f"d{index}", "turn_id": t + 1, "answer": guess})
    gold = {"version": "1.0", "data": data}
    (tmp_path / "g.json").write_text(json.dumps(gold, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "p.json").write_text(json.dumps(preds, ensure_ascii=False), encoding="utf-8")
    results = evaluate_files(tmp_path / "g.json", tmp_path / "p.json", None, io.StringIO())
    expected = reference_results(gold, preds, tokenizer)
    assert list(results.items()) == list(expected.items())
