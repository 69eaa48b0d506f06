"""Whole-file agreement with plain re-statements of the official CoQA evaluator and of
the old ConvQA_CN one.

The reference below follows the official CoQA script's rules (dict of golds, leave-one-out,
per-source totals over every listed source, `round(total / count * 100, 1)`). Its F1
tokens are the official ones (normalise, split on whitespace) or, for ConvQA_CN, BERT's
own BasicTokenizer from transformers. Random answers mix Chinese, English, digits and
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

from evaluate import EvalConfig, evaluate_files

IN_DOMAIN = ["mctest", "gutenberg", "race", "cnn", "wikipedia"]
OUT_DOMAIN = ["reddit", "science"]
NAMES = {"mctest": "children_stories", "gutenberg": "literature", "race": "mid-high_school",
         "cnn": "news", "wikipedia": "wikipedia", "reddit": "reddit", "science": "science"}
ENGLISH = ["The", "a", "an", "cat", "Café", "don't", "farmer's", "on-line", "1.1", "150,000",
           "12", "iPhone", "-", "'s", ".", ",", "!", " ", " ", "unknown", "Yes", "naïve", "—"]
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


def official_tokens(s):
    return normalize_answer(s).split() if s else []


def reference_results(gold, preds, get_tokens):
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
    for source in IN_DOMAIN + OUT_DOMAIN:  # every listed source, 0 turns or not
        totals = sources.get(source, [0.0, 0.0, 0])
        results[NAMES[source]] = scores(*totals)
        for group in ("in_domain" if source in IN_DOMAIN else "out_domain", "overall"):
            groups[group] = [x + y for x, y in zip(groups[group], totals)]
    results.update({name: scores(*totals) for name, totals in groups.items()})
    return results


def random_text(rng, pieces):
    return "".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))


def random_coqa(rng, pieces, dialogues=60, sources=IN_DOMAIN + OUT_DOMAIN):
    """(gold object, prediction list) of random dialogues; about 10% of turns unanswered."""
    data, preds = [], []
    for index in range(dialogues):
        turns, extra = rng.randint(1, 8), rng.choice([0, 0, 1, 3])
        answers = [[random_text(rng, pieces) for _ in range(turns)] for _ in range(1 + extra)]
        data.append({"source": rng.choice(sources), "id": f"d{index}",
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
                guess = rng.choice(golds) if rng.random() < 0.3 else random_text(rng, pieces)
                preds.append({"id": f"d{index}", "turn_id": t + 1, "answer": guess})
    return {"version": "1.0", "data": data}, preds


def scored(tmp_path, gold, preds, config=None):
    (tmp_path / "g.json").write_text(json.dumps(gold, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "p.json").write_text(json.dumps(preds, ensure_ascii=False), encoding="utf-8")
    return evaluate_files(tmp_path / "g.json", tmp_path / "p.json", config, io.StringIO())


def test_matches_convqa_cn_reference_on_random_coqa_file(tmp_path):
    tokenizer = basic_tokenizer()
    gold, preds = random_coqa(random.Random(7), PIECES)
    results = scored(tmp_path, gold, preds, EvalConfig(text_comparison="convqa_cn"))
    expected = reference_results(
        gold, preds, lambda s: normalize_answer(" ".join(tokenizer.tokenize(s))).split())
    assert list(results.items()) == list(expected.items())
    # With Chinese in the answers, auto picks the ConvQA_CN comparison too.
    assert scored(tmp_path, gold, preds) == results


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_matches_official_coqa_on_random_english_file(tmp_path, seed):
    # Only some sources occur, so the 0-turn rows of the official output are checked too.
    gold, preds = random_coqa(random.Random(seed), ENGLISH, 40, ["mctest", "race", "reddit"])
    results = scored(tmp_path, gold, preds)  # auto: an English CoQA v1.0 file
    expected = reference_results(gold, preds, official_tokens)
    assert list(results.items()) == list(expected.items())
    assert scored(tmp_path, gold, preds, EvalConfig(text_comparison="coqa")) == results
    # The two comparisons really differ on this text (don't, farmer's, 1.1, accents).
    assert scored(tmp_path, gold, preds, EvalConfig(text_comparison="convqa_cn")) != results
