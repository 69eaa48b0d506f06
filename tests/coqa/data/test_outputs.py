"""The one "predict, write, score" path (coqa.data.outputs): file names of both old
scripts, what is written for each history, and scores computed by hand."""
from __future__ import annotations

import json
from pathlib import Path

from coqa.data.outputs import OutputNames, predict_write_score
from tests.conftest import convqa_dialogue


def test_run_coqa_names(tmp_path):
    names = OutputNames.run_coqa(tmp_path, "checkpoint-4")
    assert names.of("gold", several=True) == (tmp_path / "predictions_checkpoint-4.json",
                                              tmp_path / "nbest_predictions_checkpoint-4.json")
    assert names.of("predicted", several=True) == (
        tmp_path / "predictions_predicted_checkpoint-4.json",
        tmp_path / "nbest_predictions_predicted_checkpoint-4.json")
    assert names.of("predicted", several=False)[0] == tmp_path / "predictions_checkpoint-4.json"
    assert names.results is None


def test_s2s_ft_names():
    names = OutputNames.s2s_ft(Path("out/pred.json"), "dev", nbest=False, score=True)
    assert names.of("gold", several=True) == (Path("out/pred.json"), None)
    assert names.of("predicted", several=True) == (Path("out/pred_predicted.json"), None)
    assert names.results == Path("out/eval_results_dev.json")
    with_nbest = OutputNames.s2s_ft(Path("out/pred.json"), "dev", nbest=True, score=False)
    assert with_nbest.nbest == Path("out/pred.nbest.json") and with_nbest.results is None


def test_each_history_is_written_and_scored(tmp_path):
    gold = tmp_path / "gold.json"
    dialogue = convqa_dialogue()
    gold.write_text(json.dumps({"version": "v3.0", "data": [dialogue]}, ensure_ascii=False),
                    encoding="utf-8")
    answers = [a["input_text"] for a in dialogue["Answers"]]
    turns = [q["turn_id"] for q in dialogue["Questions"]]

    def answer(history):
        # Gold history answers every turn right; predicted history gets the first turn wrong.
        given = answers if history == "gold" else ["无法作答"] + answers[1:]
        return ([{"id": dialogue["id"], "turn_id": t, "answer": a} for t, a in zip(turns, given)],
                {"history": history})

    names = OutputNames.s2s_ft(tmp_path / "p.json", "dev", nbest=True, score=True)
    results = predict_write_score(answer, ("gold", "predicted"), names, str(gold), score=True)
    n = len(turns)
    assert results["overall"]["em"] == 100.0 and results["history_source"] == "gold"
    predicted = results["predicted_history"]
    assert predicted["history_source"] == "predicted"
    assert predicted["overall"]["em"] == round(100.0 * (n - 1) / n, 1)
    written = json.loads((tmp_path / "p_predicted.json").read_text(encoding="utf-8"))
    assert written[0]["answer"] == "无法作答"
    assert json.loads((tmp_path / "p.nbest.json").read_text(encoding="utf-8")) == {"history": "gold"}
    assert json.loads((tmp_path / "eval_results_dev.json").read_text(encoding="utf-8")) == results


def test_unscored_writes_and_returns_none(tmp_path):
    names = OutputNames.run_coqa(tmp_path, "")
    result = predict_write_score(lambda h: ([{"id": "d", "turn_id": 1, "answer": "x"}], None),
                                 ("predicted",), names, None, score=False)
    assert result is None
    assert json.loads((tmp_path / "predictions_.json").read_text(encoding="utf-8"))[0]["answer"] == "x"
    assert not (tmp_path / "nbest_predictions_.json").exists()
