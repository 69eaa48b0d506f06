"""Scoring and aggregation through the importable API, on hand-computed cases."""
from __future__ import annotations

import io
import json

import pytest

from evaluate import (EvalConfig, EvalInputError, evaluate_files, read_gold, score,
                      turn_score)


def convqa(dialogues):
    """ConvQA_CN gold from [(id, source, [(question_type, answer, answer_type)])]."""
    data = []
    for dialogue_id, source, turns in dialogues:
        data.append({"Source": source, "Passage": "文本", "id": dialogue_id,
                     "Questions": [{"input_text": "问？", "turn_id": i, "question_type": q}
                                   for i, (q, _, _) in enumerate(turns, 1)],
                     "Answers": [{"input_text": a, "turn_id": i, "answer_id": 1,
                                  "answer_type": t, "answer_start": [-3]}
                                 for i, (_, a, t) in enumerate(turns, 1)]})
    return {"version": "test", "data": data}


def span_turns(*answers):
    return [("factoid", answer, "extractive") for answer in answers]


def run(tmp_path, gold, preds, config=None):
    """evaluate_files on JSON written to tmp_path; (results, warnings text)."""
    gold_file, pred_file = tmp_path / "gold.json", tmp_path / "pred.json"
    gold_file.write_text(json.dumps(gold, ensure_ascii=False), encoding="utf-8")
    pred_file.write_text(json.dumps(preds, ensure_ascii=False), encoding="utf-8")
    warn = io.StringIO()
    return evaluate_files(gold_file, pred_file, config, warn), warn.getvalue()


def test_single_gold_is_scored_directly():
    # 宋朝 vs 唐朝: tokens 宋 朝 / 唐 朝, common 1, P = R = 1/2, F1 = 1/2.
    assert turn_score(["唐朝"], "宋朝") == (0.0, pytest.approx(0.5))


def test_leave_one_out_with_four_golds():
    # pred 红色的车 (红 色 的 车) against the four golds:
    #   g0 红色的车: EM 1, F1 1
    #   g1 红色:     EM 0, common 2, P 2/4, R 2/2, F1 2/3
    #   g2 蓝色的车: EM 0, common 3 (色 的 车), P = R = 3/4, F1 3/4
    #   g3 绿色:     EM 0, common 1 (色), P 1/4, R 1/2, F1 1/3
    # Leaving out g0: max of the rest = EM 0, F1 3/4; leaving out any other: EM 1, F1 1.
    # EM = (0 + 1 + 1 + 1) / 4 = 3/4; F1 = (3/4 + 1 + 1 + 1) / 4 = 15/16.
    em, f1 = turn_score(["红色的车", "红色", "蓝色的车", "绿色"], "红色的车")
    assert em == pytest.approx(3 / 4)
    assert f1 == pytest.approx(15 / 16)
    # pred 红色 (红 色) matches an additional gold instead:
    #   g0: common 2, P 1, R 1/2, F1 2/3;  g1: EM 1, F1 1;
    #   g2: common 1 (色), P 1/2, R 1/4, F1 1/3;  g3: common 1, P = R = 1/2, F1 1/2.
    # Leaving out g1 leaves max F1 2/3 and EM 0; leaving out any other leaves g1 (1, 1).
    # EM = 3/4; F1 = (1 + 2/3 + 1 + 1) / 4 = 11/12 (a plain max would say 1 and 1).
    em, f1 = turn_score(["红色的车", "红色", "蓝色的车", "绿色"], "红色")
    assert em == pytest.approx(3 / 4)
    assert f1 == pytest.approx(11 / 12)


def test_missing_prediction_scores_zero_and_counts(tmp_path):
    gold = convqa([(7, "历史", span_turns("唐朝", "长安", "李白"))])
    results, warn = run(tmp_path, gold, [{"id": "7", "turn_id": 1, "answer": "唐朝"}])
    # 1 of 3 turns right, the two missing ones count as 0: 1/3 -> 33.3.
    assert results["历史"] == {"em": 33.3, "f1": 33.3, "turns": 3}
    assert results["overall"] == {"em": 33.3, "f1": 33.3, "turns": 3}
    assert warn.splitlines() == ["Missing prediction for 7 and turn_id: 2",
                                 "Missing prediction for 7 and turn_id: 3"]


def test_missing_prediction_goes_to_current_stderr(tmp_path, capsys):
    gold = convqa([(7, "历史", span_turns("唐朝", "长安"))])
    (tmp_path / "g.json").write_text(json.dumps(gold, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "p.json").write_text("[]", encoding="utf-8")
    evaluate_files(tmp_path / "g.json", tmp_path / "p.json")
    assert capsys.readouterr().err.count("Missing prediction for 7 and turn_id:") == 2


def test_string_and_int_ids_match_and_extra_predictions_ignored(tmp_path):
    gold = convqa([("230", "历史", span_turns("唐朝")), (5, "历史", span_turns("长安"))])
    preds = [{"id": 230, "turn_id": 1, "answer": "唐朝"},
             {"id": "5", "turn_id": "1", "answer": "长安"},
             {"id": 5, "turn_id": 2, "answer": "多余"}, {"id": "x", "turn_id": 1, "answer": "y"}]
    results, warn = run(tmp_path, gold, preds)
    assert results["overall"] == {"em": 100.0, "f1": 100.0, "turns": 2}
    assert warn.splitlines() == ["Ignored 2 prediction(s) for turns not in the gold file"]


def test_domain_order_unknown_source_and_aggregates(tmp_path):
    gold = convqa([(1, "科幻", span_turns("火星")),
                   (2, "历史", span_turns("唐朝", "唐朝", "唐朝")),
                   (3, "儿童故事", span_turns("小兔"))])
    preds = [{"id": 1, "turn_id": 1, "answer": "火星"}, {"id": 2, "turn_id": 1, "answer": "唐朝"},
             {"id": 2, "turn_id": 2, "answer": "宋朝"}, {"id": 2, "turn_id": 3, "answer": "x"},
             {"id": 3, "turn_id": 1, "answer": "小兔"}]
    results, _ = run(tmp_path, gold, preds)
    # Every listed domain in list order, with 0 turns when no dialogue has it (as the
    # official script), then the unlisted 科幻.
    assert list(results) == ["儿童故事", "热点新闻", "历史", "育儿知识", "科幻",
                             "in_domain", "out_domain", "overall"]
    assert results["热点新闻"] == results["育儿知识"] == {"em": 0.0, "f1": 0.0, "turns": 0}
    # 历史: EM 1/3 = 33.3; F1 (1 + 1/2 + 0) / 3 = 50.0.
    assert results["历史"] == {"em": 33.3, "f1": 50.0, "turns": 3}
    assert results["科幻"] == {"em": 100.0, "f1": 100.0, "turns": 1}
    # In-domain is turn-weighted: (1 + 1) / 4 EM, (1 + 1.5) / 4 F1.
    assert results["in_domain"] == {"em": 50.0, "f1": 62.5, "turns": 4}
    assert results["out_domain"] == {"em": 100.0, "f1": 100.0, "turns": 1}
    assert results["overall"] == {"em": 60.0, "f1": 70.0, "turns": 5}


def test_domain_lists_override(tmp_path):
    gold = convqa([(1, "科幻", span_turns("火星")), (2, "历史", span_turns("唐朝", "宋朝")),
                   (3, "儿童故事", span_turns("小兔"))])
    preds = [{"id": 1, "turn_id": 1, "answer": "火星"}]
    config = EvalConfig(in_domain=["科幻"], out_domain=("历史",))
    results, warn = run(tmp_path, gold, preds, config)
    assert list(results)[:3] == ["科幻", "历史", "儿童故事"]
    assert "source" not in warn  # every given name is some dialogue's source
    assert results["in_domain"] == {"em": 100.0, "f1": 100.0, "turns": 1}
    assert results["out_domain"] == {"em": 0.0, "f1": 0.0, "turns": 3}  # 历史 + unlisted
    assert results["overall"] == {"em": 25.0, "f1": 25.0, "turns": 4}


def test_domain_names_no_dialogue_has_warn(tmp_path):
    gold = convqa([(1, "历史", span_turns("唐朝"))])
    config = EvalConfig(in_domain=("历史", "histroy"), out_domain=("科幻",))
    results, warn = run(tmp_path, gold, [{"id": 1, "turn_id": 1, "answer": "唐朝"}], config)
    gold_file = tmp_path / "gold.json"
    assert warn.splitlines() == [
        f"{gold_file}: no dialogue has the in-domain source 'histroy'; it is reported with 0 turns",
        f"{gold_file}: no dialogue has the out-domain source '科幻'; it is reported with 0 turns"]
    assert list(results) == ["历史", "histroy", "科幻", "in_domain", "out_domain", "overall"]
    assert results["histroy"] == {"em": 0.0, "f1": 0.0, "turns": 0}
    assert results["overall"] == {"em": 100.0, "f1": 100.0, "turns": 1}


def test_empty_out_domain(tmp_path):
    results, _ = run(tmp_path, convqa([(1, "历史", span_turns("唐朝"))]), [])
    assert results["out_domain"] == {"em": 0.0, "f1": 0.0, "turns": 0}
    assert results["overall"] == {"em": 0.0, "f1": 0.0, "turns": 1}


@pytest.mark.parametrize("gold, message", [
    ({"data": []}, '"data" is empty: no dialogues to score'),
    (convqa([(1, "历史", []), (2, "历史", [])]), "no turns to score in 2 dialogue(s)"),
])
def test_nothing_to_score_is_an_input_error(tmp_path, gold, message):
    with pytest.raises(EvalInputError) as caught:
        run(tmp_path, gold, [])
    assert str(caught.value) == f"{tmp_path / 'gold.json'}: {message}"


@pytest.mark.parametrize("turns, right, expected", [
    (80, 23, 28.7),  # 23/80*100 = 28.749999999999996: 28.7 (23*(100/80) would give 28.8)
    (80, 49, 61.3),  # 61.25000000000001: 61.3 (100*49/80 would give 61.2)
    (48, 15, 31.2),  # exactly 31.25: Python rounds half to even
    (3, 2, 66.7),
])
def test_rounding_is_the_official_expression(tmp_path, turns, right, expected):
    answers = [f"答案{i}" for i in range(turns)]
    gold = convqa([(1, "历史", span_turns(*answers))])
    preds = [{"id": 1, "turn_id": t, "answer": answers[t - 1] if t <= right else "错"}
             for t in range(1, turns + 1)]
    results, _ = run(tmp_path, gold, preds)
    assert results["历史"]["em"] == expected
    assert results["overall"]["em"] == expected


def test_drop_cjk_punct_config(tmp_path):
    gold = convqa([(1, "历史", span_turns("平安夜。", "在唐朝。"))])
    preds = [{"id": 1, "turn_id": 1, "answer": "平安夜"}, {"id": 1, "turn_id": 2, "answer": "唐朝"}]
    plain, _ = run(tmp_path, gold, preds)
    # Turn 1: F1 6/7 (see test_eval_text); turn 2: 唐 朝 vs 在 唐 朝 。: P 1, R 1/2, F1 2/3.
    # Mean F1 = (6/7 + 2/3) / 2 = 32/42 = 76.19 -> 76.2; EM 0.
    assert plain["overall"] == {"em": 0.0, "f1": 76.2, "turns": 2}
    dropped, _ = run(tmp_path, gold, preds, EvalConfig(drop_cjk_punct=True))
    # Turn 1: EM 1, F1 1; turn 2: 唐 朝 vs 在 唐 朝: F1 4/5. Mean F1 0.9, EM 0.5.
    assert dropped["overall"] == {"em": 50.0, "f1": 90.0, "turns": 2}


def test_breakdown_fields_and_confusion(tmp_path):
    gold = convqa([(1, "历史", [("yesno", "是的", "generative"), ("yesno", "不是", "generative"),
                                ("factoid", "无法作答", "generative"),
                                ("factoid", "唐朝", "extractive"),
                                ("why", "因为下雨了", "generative")]),
                   (2, "历史", [("yesno", "不是", "generative")])])
    preds = [{"id": 1, "turn_id": 1, "answer": "是的"}, {"id": 1, "turn_id": 2, "answer": "是的"},
             {"id": 1, "turn_id": 3, "answer": "唐朝"}, {"id": 1, "turn_id": 4, "answer": "唐朝"},
             {"id": 1, "turn_id": 5, "answer": "无法作答"}]  # dialogue 2 missing
    results, _ = run(tmp_path, gold, preds, EvalConfig(breakdown=True))
    assert list(results)[-2:] == ["overall", "breakdown"]
    extra = results["breakdown"]
    assert list(extra) == ["question_type", "answer_kind", "turn_position", "confusion"]
    # yesno turns: 是的/是的 (1, 1), 不是/是的 (EM 0, F1 1/2: shares 是), missing (0, 0).
    assert extra["question_type"] == {"factoid": {"em": 50.0, "f1": 50.0, "turns": 2},
                                      "why": {"em": 0.0, "f1": 0.0, "turns": 1},
                                      "yesno": {"em": 33.3, "f1": 50.0, "turns": 3}}
    assert extra["answer_kind"] == {"span": {"em": 100.0, "f1": 100.0, "turns": 1},
                                    "free-form": {"em": 0.0, "f1": 0.0, "turns": 1},
                                    "yes": {"em": 100.0, "f1": 100.0, "turns": 1},
                                    "no": {"em": 0.0, "f1": 25.0, "turns": 2},
                                    "unknown": {"em": 0.0, "f1": 0.0, "turns": 1}}
    assert extra["turn_position"] == {"1": {"em": 50.0, "f1": 50.0, "turns": 2},
                                      "2": {"em": 0.0, "f1": 50.0, "turns": 1},
                                      "3-4": {"em": 50.0, "f1": 50.0, "turns": 2},
                                      "5+": {"em": 0.0, "f1": 0.0, "turns": 1}}
    zero = {"yes": 0, "no": 0, "unknown": 0, "other": 0}
    assert extra["confusion"] == {"yes": {**zero, "yes": 1},
                                  "no": {**zero, "yes": 1, "other": 1},  # missing -> other
                                  "unknown": {**zero, "other": 1},
                                  "other": {**zero, "unknown": 1, "other": 1}}


def test_score_on_read_gold_and_duplicate_turns(tmp_path):
    gold = convqa([(1, "历史", span_turns("唐朝")), (1, "历史", span_turns("长安"))])
    path = tmp_path / "gold.json"
    path.write_text(json.dumps(gold, ensure_ascii=False), encoding="utf-8")
    data = read_gold(path, official_gold_checks=True)  # refused by default
    # As the official evaluator's dict: one turn, the later gold wins.
    assert [turn.answers for turn in data.turns] == [("长安",)]
    warn = io.StringIO()
    results = score(data, {("1", 1): "长安"}, EvalConfig(), warn)
    assert results["overall"] == {"em": 100.0, "f1": 100.0, "turns": 1}
    assert warn.getvalue().splitlines() == [
        f"{path}: 1 repeated (id, turn_id) pair(s), first (1, 1); the last of each is scored"]


def test_repeated_predictions_warn_with_count_and_first_ids(tmp_path):
    gold = convqa([(1, "历史", span_turns("唐朝", "长安")), (2, "历史", span_turns("宋朝"))])
    preds = [{"id": 1, "turn_id": 1, "answer": "宋朝"}, {"id": 1, "turn_id": 2, "answer": "x"},
             {"id": "1", "turn_id": 1, "answer": "唐朝"}, {"id": 2, "turn_id": 1, "answer": "y"},
             {"id": 1, "turn_id": "2", "answer": "长安"}, {"id": 2, "turn_id": 1, "answer": "宋朝"},
             {"id": 1, "turn_id": 1, "answer": "唐朝"}, {"id": 2, "turn_id": 1, "answer": "宋朝"}]
    results, warn = run(tmp_path, gold, preds)
    # 5 entries repeat an earlier (id, turn_id); the last answer of each turn is right.
    assert warn.splitlines() == [
        f"{tmp_path / 'pred.json'}: 5 repeated (id, turn_id) pair(s), first (1, 1), (1, 2), "
        "(2, 1), ...; the last of each is scored"]
    assert results["overall"] == {"em": 100.0, "f1": 100.0, "turns": 3}
