"""The chain generator: determinism, format, offsets, each answer next to the previous one,
and a history-blind reader cannot score well where a reader of the history scores 100."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter

import pytest

from coqa.tools.synthetic_chain import (BACKWARD, COREFERENCE, FACTOID, FORWARD, NO_TEXT,
                                        OMITTING, SOURCES, THEMES, UNKNOWN_TEXT, VERSION,
                                        YES_TEXT, YESNO, ChainConfig, count_question_types,
                                        generate_dialogues, main)
from evaluate import evaluate_files
from tests.conftest import REPO

SPECIAL = {YES_TEXT, NO_TEXT, UNKNOWN_TEXT}
THEME_OF = {theme.source: theme for theme in THEMES}


@pytest.fixture(scope="module")
def data():
    return generate_dialogues(300, seed=7)


def _items(dialogue):
    """The passage's items in passage order (each occurs once)."""
    theme, passage = THEME_OF[dialogue["Source"]], dialogue["Passage"]
    found = sorted((passage.find(item), item) for item in theme.items if item in passage)
    return [item for _, item in found]


def _separators(theme):
    """What the listing puts between two neighbouring items."""
    _, after_first, after_middle, _ = re.split(r"\{first\}|\{middle\}|\{last\}", theme.listing)
    return {after_first, "、", after_middle}


def _read_question(theme, question):
    """(direction, named item or None, offered item or None) of a question, by the
    generator's own templates; exactly one template must match."""
    found = []
    for direction in (FORWARD, BACKWARD):
        for template in theme.elliptical[direction] + theme.pronoun[direction]:
            if question == template:
                found.append((direction, None, None))
        for slot, table in (("x", theme.named), ("y", theme.yesno)):
            for template in table[direction]:
                head, tail = template.split("{" + slot + "}")
                item = question[len(head):len(question) - len(tail)]
                if question.startswith(head) and question.endswith(tail) and item in theme.items:
                    found.append((direction, item, None) if slot == "x" else
                                 (direction, None, item))
    assert len(found) == 1, (question, found)
    return found[0]


def _walk_answers(dialogue, previous_answers):
    """What a reader that knows the previous turn's answer (`previous_answers[i]` before
    turn i) and the generator's rules answers: the neighbour in the question's direction."""
    theme, items = THEME_OF[dialogue["Source"]], _items(dialogue)
    answers = []
    for question, previous in zip(dialogue["Questions"], previous_answers):
        direction, named, offered = _read_question(theme, question["input_text"])
        anchor = named if named is not None else previous
        if anchor not in items:
            answers.append(UNKNOWN_TEXT)
            continue
        target = items.index(anchor) + direction
        neighbour = items[target] if 0 <= target < len(items) else UNKNOWN_TEXT
        if offered is not None:
            answers.append(YES_TEXT if offered == neighbour else NO_TEXT)
        else:
            answers.append(neighbour)
    return answers


def _score(tmp_path, data, answer_of, name):
    """Overall F1 / EM of `answer_of(dialogue) -> answers` against the gold."""
    gold, predictions = tmp_path / "gold.json", tmp_path / f"{name}.json"
    gold.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    predictions.write_text(json.dumps(
        [{"id": d["id"], "turn_id": q["turn_id"], "answer": a}
         for d in data["data"] for q, a in zip(d["Questions"], answer_of(d))],
        ensure_ascii=False), encoding="utf-8")
    overall = evaluate_files(gold, predictions)["overall"]
    return overall["f1"], overall["em"]


def test_same_seed_same_json_other_seed_differs():
    first = json.dumps(generate_dialogues(30, 3), ensure_ascii=False)
    assert first == json.dumps(generate_dialogues(30, 3, ChainConfig()), ensure_ascii=False)
    assert first != json.dumps(generate_dialogues(30, 4), ensure_ascii=False)
    assert generate_dialogues(30, 3)["data"] == generate_dialogues(31, 3)["data"][:30]


def test_shape_like_convqa_cn(data):
    assert list(data) == ["version", "data"] and data["version"] == VERSION
    assert [d["id"] for d in data["data"]] == list(range(1, 301))
    config = ChainConfig()
    for dialogue in data["data"]:
        assert list(dialogue) == ["Source", "Passage", "Questions", "Answers",
                                  "answer_statistics", "question_statistics", "id"]
        assert dialogue["Source"] in SOURCES
        questions, answers = dialogue["Questions"], dialogue["Answers"]
        assert config.min_turns <= len(questions) <= config.max_turns
        ids = list(range(1, len(questions) + 1))
        assert [q["turn_id"] for q in questions] == ids == [a["turn_id"] for a in answers]
        assert config.min_items <= len(_items(dialogue)) <= config.max_items
        for question, answer in zip(questions, answers):
            assert list(question) == ["input_text", "turn_id", "question_type"]
            assert list(answer) == ["input_text", "turn_id", "answer_id", "answer_type",
                                    "answer_start"]
            special = answer["input_text"] in SPECIAL
            assert answer["answer_type"] == ("generative" if special else "extractive")
            if special:
                assert answer["answer_start"] == [-3]
            is_yesno = answer["input_text"] in (YES_TEXT, NO_TEXT)
            assert (question["question_type"] == YESNO) == is_yesno


def test_extractive_offsets_point_at_a_unique_answer(data):
    checked = 0
    for dialogue in data["data"]:
        passage = dialogue["Passage"]
        for answer in dialogue["Answers"]:
            if answer["answer_type"] == "extractive":
                text = answer["input_text"]
                assert answer["answer_start"] == [passage.find(text)]
                assert passage.count(text) == 1
                checked += 1
    assert checked > 1000


def test_items_cannot_collide():
    """No item inside another item (of any theme) or any template text."""
    items = [item for theme in THEMES for item in theme.items]
    assert len(items) == len(set(items))
    fixed = [text for theme in THEMES for text in theme.fixed_texts()]
    for item in items:
        assert not any(item in other for other in items if other != item), item
        assert not any(item in text for text in fixed), item


def test_each_follow_up_answer_is_next_to_the_previous_answer(data):
    """The issue's property: a span answer to a follow-up (a turn naming no item) lies next
    to the previous turn's answer in the passage, on the side the question asks; a turn
    that names an item is answered by that item's neighbour."""
    follow_ups = 0
    for dialogue in data["data"]:
        theme, items, passage = THEME_OF[dialogue["Source"]], _items(dialogue), dialogue["Passage"]
        previous = None
        for question, answer in zip(dialogue["Questions"], dialogue["Answers"]):
            direction, named, offered = _read_question(theme, question["input_text"])
            kind, gold = question["question_type"], answer["input_text"]
            assert (kind == FACTOID) == (named is not None)
            if kind in (OMITTING, COREFERENCE, YESNO):
                # A follow-up comes after a span answer, which it needs.
                assert previous in items, (dialogue["id"], question)
            if gold in items:
                anchor = named if named is not None else previous
                assert items.index(gold) == items.index(anchor) + direction
                # Nothing but one of the listing's separators between the two.
                (_, first), (_, second) = sorted((passage.index(t), t) for t in (gold, anchor))
                between = passage[passage.index(first) + len(first):passage.index(second)]
                assert between in _separators(theme), between
                follow_ups += named is None
            elif gold == UNKNOWN_TEXT:
                # Past the end of the list, in the walk's direction.
                assert named is None and offered is None
                assert items.index(previous) == (len(items) - 1 if direction == FORWARD else 0)
            previous = gold
    assert follow_ups > 1000


def test_most_turns_need_the_history(data):
    counts = count_question_types(data)
    total = sum(len(d["Questions"]) for d in data["data"])
    spans_after = sum(q["question_type"] in (OMITTING, COREFERENCE)
                      and a["input_text"] not in SPECIAL
                      for d in data["data"] for q, a in zip(d["Questions"], d["Answers"]))
    assert spans_after / total > 0.5
    assert counts[FACTOID] / total < 0.4
    assert 0.02 < counts[YESNO] / total < 0.15 and 0.02 < counts["unknown"] / total < 0.15
    assert counts[COREFERENCE] > 0.15 * total
    kinds = Counter(a["input_text"] for d in data["data"] for a in d["Answers"]
                    if a["input_text"] in (YES_TEXT, NO_TEXT))
    assert kinds[YES_TEXT] > 0 and kinds[NO_TEXT] > 0


def test_history_blind_readers_score_low_a_reader_of_the_history_scores_100(tmp_path, data):
    """With the gold answer of the previous turn the generator's rule answers every turn;
    without it (answering the first item, or the named item's neighbour and else the
    first / last item of the list) at most a third of the F1 is reachable."""
    def with_history(dialogue):
        answers = [a["input_text"] for a in dialogue["Answers"]]
        return _walk_answers(dialogue, [None] + answers[:-1])

    def first_item(dialogue):
        return [_items(dialogue)[0]] * len(dialogue["Questions"])

    def named_else_end(dialogue):
        theme, items = THEME_OF[dialogue["Source"]], _items(dialogue)
        guesses = []
        for question in dialogue["Questions"]:
            direction, named, offered = _read_question(theme, question["input_text"])
            if named is not None:
                guesses.append(items[items.index(named) + direction])
            elif offered is not None:
                guesses.append(NO_TEXT)
            else:
                guesses.append(items[0] if direction == FORWARD else items[-1])
        return guesses

    assert _score(tmp_path, data, with_history, "history") == (100.0, 100.0)
    first_f1, _ = _score(tmp_path, data, first_item, "first")
    named_f1, _ = _score(tmp_path, data, named_else_end, "named")
    assert first_f1 < 20, first_f1
    assert named_f1 < 50, named_f1


def test_statistics_match_the_turns(data):
    for dialogue in data["data"]:
        questions, answers = dialogue["Questions"], dialogue["Answers"]
        n = len(answers)
        types = Counter(q["question_type"] for q in questions)
        spans = sum(a["answer_type"] == "extractive" for a in answers)
        assert dialogue["answer_statistics"][0]["span_count"] == spans
        assert dialogue["answer_statistics"][0]["cannotanswer_count"] == sum(
            a["input_text"] == UNKNOWN_TEXT for a in answers)
        stats = dialogue["question_statistics"][0]
        pronouns = sum(q["question_type"] == COREFERENCE or
                       (q["question_type"] == YESNO and ("它" in q["input_text"]
                                                         or "那" in q["input_text"]))
                       for q in questions)
        assert stats["coreference_count"] == pronouns
        assert stats["omitting_count"] + pronouns == n - types[FACTOID]
        assert stats["yesno_count"] == types[YESNO] and stats["factual_count"] == n - types[YESNO]
        assert stats["question_count"] == n and stats["why_count"] == 0


def test_config_is_validated():
    with pytest.raises(ValueError):
        ChainConfig(min_items=2)
    with pytest.raises(ValueError):
        ChainConfig(max_items=40)
    with pytest.raises(ValueError):
        ChainConfig(yesno_prob=1.5)
    only_walks = ChainConfig(yesno_prob=0.0, past_end_prob=0.0, restart_prob=0.0)
    counts = count_question_types(generate_dialogues(50, 1, only_walks))
    assert counts[YESNO] == 0 and counts["unknown"] == 0


def test_cli_writes_what_validate_accepts(tmp_path):
    out = tmp_path / "sub" / "chain.json"
    result = subprocess.run([sys.executable, "-m", "coqa.tools.synthetic_chain", "--out",
                             str(out), "--dialogues", "12", "--seed", "5"],
                            cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip().splitlines()) == 1 and "12 dialogues" in result.stdout
    assert json.loads(out.read_text(encoding="utf-8")) == generate_dialogues(12, 5)
    checked = subprocess.run([sys.executable, "-m", "coqa.tools.validate", str(out)],
                             cwd=REPO, capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr
    assert "12 dialogues" in checked.stdout and "skipped 0" in checked.stdout
    assert "free-form without overlapping span 0" in checked.stdout


def test_main_rejects_zero_dialogues(tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["--out", str(tmp_path / "x.json"), "--dialogues", "0"])
    assert exit_info.value.code == 2
