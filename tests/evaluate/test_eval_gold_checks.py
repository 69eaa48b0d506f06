"""Gold files the official script scores silently wrong: refused by default, read as the
official script reads them with --official-gold-checks (hand-made files, hand counts)."""
from __future__ import annotations

import io
import json

import pytest

from evaluate import EvalInputError, evaluate_files, read_gold
from evaluate.__main__ import main


def dialogue(dialogue_id, answers, first_turn=1, source="历史"):
    """A ConvQA_CN dialogue whose turn ids count from first_turn."""
    turn_ids = range(first_turn, first_turn + len(answers))
    return {"Source": source, "Passage": "唐朝定都长安", "id": dialogue_id,
            "Questions": [{"input_text": "问？", "turn_id": t} for t in turn_ids],
            "Answers": [{"input_text": a, "turn_id": t, "answer_type": "extractive"}
                        for t, a in zip(turn_ids, answers)]}


def coqa_dialogue(dialogue_id, answers, first_turn=1):
    turn_ids = range(first_turn, first_turn + len(answers))
    return {"source": "mctest", "id": dialogue_id, "story": "Cotton lived in a barn.",
            "questions": [{"input_text": "q", "turn_id": t} for t in turn_ids],
            "answers": [{"input_text": a, "turn_id": t} for t, a in zip(turn_ids, answers)]}


def write(tmp_path, obj, name):
    path = tmp_path / name
    path.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    return path


def preds(*entries):
    return [{"id": i, "turn_id": t, "answer": a} for i, t, a in entries]


# d1 has 3 turns, d2 2, and a second d1 2: 7 turns in the file, 5 distinct (id, turn_id).
DUPLICATED = {"data": [dialogue("d1", ["唐朝", "长安", "唐"]), dialogue("d2", ["宋朝", "汴京"]),
                       dialogue("d1", ["明朝", "北京"])]}
# Turn ids 0, 1, 2; a predictor that numbers turns from 1 writes 1, 2, 3.
ZERO_BASED = {"data": [dialogue("z1", ["唐朝", "长安", "唐"], first_turn=0)]}
ONE_BASED_PREDS = preds(("z1", 1, "唐朝"), ("z1", 2, "长安"), ("z1", 3, "唐"))


def run_main(capsys, *argv):
    """(exit status, stdout, stderr) of `python -m evaluate ARGV` run in-process."""
    status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_duplicate_dialogue_id_refused_by_the_cli(tmp_path, capsys):
    gold = write(tmp_path, DUPLICATED, "gold.json")
    pred = write(tmp_path, preds(("d1", 1, "唐朝")), "pred.json")
    status, out, err = run_main(capsys, "--data-file", gold, "--pred-file", pred)
    assert status == 2 and out == ""
    assert err.splitlines() == [
        f"error: {gold}: dialogue d1: duplicate dialogue id (also data[0]): its turns would "
        "replace the earlier ones; python -m evaluate --official-gold-checks scores it as "
        "the official CoQA script does"]
    assert "Traceback" not in err


def test_zero_based_turn_ids_refused_by_the_cli(tmp_path, capsys):
    gold = write(tmp_path, ZERO_BASED, "gold.json")
    pred = write(tmp_path, ONE_BASED_PREDS, "pred.json")
    status, out, err = run_main(capsys, "--data-file", gold, "--pred-file", pred)
    assert status == 2 and out == ""
    assert len(err.splitlines()) == 1
    assert err.startswith(f"error: {gold}: dialogue z1: turn 0: turn_id 0 in Questions[0]: "
                          "turn ids count from 1;")


@pytest.mark.parametrize("data, message", [
    ([coqa_dialogue("c7", ["in a barn", "yes"], first_turn=0)],
     "dialogue c7: turn 0: turn_id 0 in questions[0]: turn ids count from 1;"),
    ([dialogue(5, ["唐朝"]), dialogue("5", ["宋朝"])],  # 5 and "5" are the same dialogue
     "dialogue 5: duplicate dialogue id (also data[0])"),
    ([dialogue("n", ["唐朝", "长安"], first_turn=-1)], "dialogue n: turn -1: turn_id -1 in "),
    ([{**dialogue("r", ["唐朝", "长安"]),
       "Questions": [{"input_text": "问？", "turn_id": 1}] * 2,
       "Answers": [{"input_text": "唐朝", "turn_id": 1, "answer_type": "extractive"}] * 2}],
     "dialogue r: turn 1: repeated turn_id 1 (Questions[0] and Questions[1]);"),
])
def test_read_gold_refusals(tmp_path, data, message):
    path = write(tmp_path, {"data": data}, "gold.json")
    with pytest.raises(EvalInputError) as err:
        read_gold(path)
    text = str(err.value)
    assert text.startswith(f"{path}: ") and "\n" not in text
    assert message in text
    assert text.endswith("--official-gold-checks scores it as the official CoQA script does")


def test_official_gold_checks_duplicates_as_before(tmp_path, capsys):
    gold = write(tmp_path, DUPLICATED, "gold.json")
    pred = write(tmp_path, preds(("d1", 1, "明朝"), ("d1", 2, "长安"), ("d1", 3, "唐"),
                                 ("d2", 1, "宋朝"), ("d2", 2, "汴京")), "pred.json")
    scores = tmp_path / "scores.json"
    status, out, err = run_main(capsys, "--data-file", gold, "--pred-file", pred,
                                "--out-file", scores, "--official-gold-checks")
    assert status == 0
    # 7 turns in the file, 5 scored: the second d1's two turns replace the first's turns
    # 1 and 2 (明朝, 北京) and keep their places. Right: (d1,1) 明朝, (d1,3) 唐, d2's two;
    # (d1,2) 长安 vs gold 北京: no common character. EM = F1 = 4/5.
    results = json.loads(scores.read_text(encoding="utf-8"))
    assert results["overall"] == {"em": 80.0, "f1": 80.0, "turns": 5}
    assert results["历史"] == {"em": 80.0, "f1": 80.0, "turns": 5}
    assert err.splitlines() == [f"{gold}: 2 repeated (id, turn_id) pair(s), first (d1, 1), "
                                "(d1, 2); the last of each is scored"]
    gold_data = read_gold(gold, official_gold_checks=True)
    assert [(t.dialogue_id, t.turn_id, t.answers[0]) for t in gold_data.turns] == [
        ("d1", 1, "明朝"), ("d1", 2, "北京"), ("d1", 3, "唐"), ("d2", 1, "宋朝"), ("d2", 2, "汴京")]


def test_official_gold_checks_zero_based_as_before(tmp_path, capsys):
    gold = write(tmp_path, ZERO_BASED, "gold.json")
    pred = write(tmp_path, ONE_BASED_PREDS, "pred.json")
    scores = tmp_path / "scores.json"
    status, _, err = run_main(capsys, "--data-file", gold, "--pred-file", pred,
                              "--out-file", scores, "--official-gold-checks")
    assert status == 0
    # Gold turns 0, 1, 2 (唐朝, 长安, 唐); predictions 1, 2, 3 (唐朝, 长安, 唐): turn 0 has
    # none, turn 1 gets 唐朝 for 长安 and turn 2 长安 for 唐, with no common character; the
    # prediction for turn 3 is ignored. All 3 turns score 0.
    results = json.loads(scores.read_text(encoding="utf-8"))
    assert results["overall"] == {"em": 0.0, "f1": 0.0, "turns": 3}
    assert sorted(err.splitlines()) == ["Ignored 1 prediction(s) for turns not in the gold file",
                                        "Missing prediction for z1 and turn_id: 0"]


def test_evaluate_files_is_strict_unless_asked(tmp_path):
    gold = write(tmp_path, DUPLICATED, "gold.json")
    pred = write(tmp_path, [], "pred.json")
    with pytest.raises(EvalInputError, match="dialogue d1: duplicate dialogue id"):
        evaluate_files(gold, pred, warn=io.StringIO())
    results = evaluate_files(gold, pred, warn=io.StringIO(), official_gold_checks=True)
    assert results["overall"]["turns"] == 5


def test_compare_refuses_duplicates_too(tmp_path, capsys):
    from evaluate.compare import main as compare_main

    gold = write(tmp_path, DUPLICATED, "gold.json")
    pred = write(tmp_path, [], "pred.json")
    assert compare_main([str(gold), str(pred), "--no-progress"]) == 2
    assert "dialogue d1: duplicate dialogue id" in capsys.readouterr().err
