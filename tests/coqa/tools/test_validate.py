"""python -m coqa.tools.validate through its main(): --questions-only accepts a file of new
questions (what run_coqa.py --do_predict reads), and still checks those questions."""
from __future__ import annotations

from coqa.tools import validate


def questions_only(convqa_data):
    """The fixture with its first dialogue's answers removed (new questions)."""
    del convqa_data["data"][0]["Answers"]
    return convqa_data


def test_questions_only_file_is_refused_by_default(convqa_data, write_json, capsys):
    path = write_json(questions_only(convqa_data))
    assert validate.main([str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{path}: dialogue 1: " in err[0] and 'missing field "Answers"' in err[0]


def test_questions_only_mode_accepts_and_counts_it(convqa_data, write_json, capsys):
    path = write_json(questions_only(convqa_data))
    assert validate.main(["--questions-only", str(path)]) == 0
    out = capsys.readouterr().out.strip()
    # Only dialogue 2's turns have answers, so only they are in the kinds.
    assert out.startswith(f"{path}: convqa_cn 2 dialogues, 12 turns, kinds ")
    assert "'yes': 1" in out and "skipped 0" in out
    assert out.endswith("without answers 1 dialogues (6 questions)")


def test_questions_only_mode_still_checks_the_questions(convqa_data, write_json, capsys):
    data = questions_only(convqa_data)
    data["data"][0]["Questions"][2]["input_text"] = " "
    path = write_json(data)
    assert validate.main(["--questions-only", str(path)]) == 2
    assert f"{path}: dialogue 1: turn 3: empty question" in capsys.readouterr().err
    assert validate.main(["--questions-only", "--skip-invalid", str(path)]) == 0
    assert "skipped 1" in capsys.readouterr().out


def test_help_names_the_mode(capsys):
    try:
        validate.build_parser().parse_args(["--help"])
    except SystemExit:
        pass
    assert "--questions-only" in capsys.readouterr().out
