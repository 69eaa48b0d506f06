"""The synthetic ConvQA_CN generator: determinism, format, honest labels, kind mix, CLI."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter

import pytest

from coqa.tools.synthetic import (ATTRIBUTES, INTROS, KINDS, NO_TEXT, OUTROS, PEOPLE, SOURCES,
                            UNKNOWN_TEXT, VERSION, YES_TEXT, SyntheticConfig, answer_kind,
                            count_kinds, generate_dialogues, main)
from tests.conftest import REPO

NAMES = [name for name, _ in PEOPLE]
PRONOUNS = {"他", "她"}
SPECIAL = {YES_TEXT, NO_TEXT, UNKNOWN_TEXT}


@pytest.fixture(scope="module")
def data():
    return generate_dialogues(200, seed=7)


def _template_regex(template: str, values) -> re.Pattern:
    """A template as a regex capturing who (a name or a pronoun) and, if present, the value."""
    who = "(?P<who>" + "|".join(map(re.escape, NAMES + sorted(PRONOUNS))) + ")"
    value = "(?P<value>" + "|".join(map(re.escape, values)) + ")"
    parts = re.split(r"(\{who\}|\{value\})", template)
    return re.compile("".join(who if p == "{who}" else value if p == "{value}" else re.escape(p)
                              for p in parts))


def _parse(text: str, kind_of_template: str):
    """(who, attribute, value or None) for one sentence or question, by the generator's
    own templates; exactly one template must match."""
    found = []
    for attribute in ATTRIBUTES:
        templates = {"statement": attribute.statements, "question": attribute.questions,
                     "yesno": (attribute.yesno,)}[kind_of_template]
        for template in templates:
            match = _template_regex(template, attribute.values).fullmatch(text)
            if match:
                found.append((match["who"], attribute.name, match.groupdict().get("value")))
    assert len(found) == 1, (text, found)
    return found[0]


def test_same_seed_same_json_other_seed_differs():
    config = SyntheticConfig()
    first = json.dumps(generate_dialogues(30, 3, config), ensure_ascii=False)
    assert first == json.dumps(generate_dialogues(30, 3, config), ensure_ascii=False)
    assert first != json.dumps(generate_dialogues(30, 4, config), ensure_ascii=False)
    # A prefix of a larger run is the smaller run: one generator, dialogues drawn in order.
    assert generate_dialogues(30, 3)["data"] == generate_dialogues(31, 3)["data"][:30]


def test_shape_and_key_order_like_convqa_cn(data):
    assert list(data) == ["version", "data"] and data["version"] == VERSION
    assert [d["id"] for d in data["data"]] == list(range(1, 201))
    config = SyntheticConfig()
    for dialogue in data["data"]:
        assert list(dialogue) == ["Source", "Passage", "Questions", "Answers",
                                  "answer_statistics", "question_statistics", "id"]
        assert dialogue["Source"] in SOURCES
        questions, answers = dialogue["Questions"], dialogue["Answers"]
        assert config.min_turns <= len(questions) <= config.max_turns
        ids = list(range(1, len(questions) + 1))
        assert [q["turn_id"] for q in questions] == ids == [a["turn_id"] for a in answers]
        for question, answer in zip(questions, answers):
            assert list(question) == ["input_text", "turn_id", "question_type"]
            assert list(answer) == ["input_text", "turn_id", "answer_id", "answer_type",
                                    "answer_start"]
            assert answer["answer_id"] == 1
            assert question["question_type"] in ("factoid", "coreference", "yesno")


def test_extractive_offsets_point_at_a_unique_answer(data):
    checked = 0
    for dialogue in data["data"]:
        passage = dialogue["Passage"]
        for answer in dialogue["Answers"]:
            if answer["answer_type"] != "extractive":
                continue
            text, starts = answer["input_text"], answer["answer_start"]
            assert text not in SPECIAL and text
            assert starts == sorted(starts)
            for start in starts:
                assert passage[start:start + len(text)] == text
            # Every value occurs once in its passage, so the offset list has one entry.
            assert starts == [passage.find(text)] and passage.count(text) == 1
            checked += 1
    assert checked > 500


def test_special_answers_are_exact_strings_with_minus_three(data):
    for dialogue in data["data"]:
        for question, answer in zip(dialogue["Questions"], dialogue["Answers"]):
            if answer["answer_type"] == "generative":
                assert answer["input_text"] in SPECIAL
                assert answer["answer_start"] == [-3]
                is_yesno = answer["input_text"] in (YES_TEXT, NO_TEXT)
                assert (question["question_type"] == "yesno") == is_yesno
            else:
                assert answer["answer_type"] == "extractive"
                assert question["question_type"] != "yesno"


def test_every_answer_is_true_of_the_passage(data):
    """Re-read each passage and question with the templates and check the gold answer."""
    for dialogue in data["data"]:
        sentences = dialogue["Passage"].split("。")[1:-2]  # drop the intro and the outro
        facts = {}
        for sentence in sentences:
            who, attribute, value = _parse(sentence + "。", "statement")
            assert who in NAMES and (who, attribute) not in facts
            facts[who, attribute] = value
        values = [v for v in facts.values()]
        assert len(values) == len(set(values))  # values unique within a passage
        assert len({who for who, _ in facts}) >= 2
        previous = None
        for question, answer in zip(dialogue["Questions"], dialogue["Answers"]):
            text, gold = question["input_text"], answer["input_text"]
            kind = answer_kind(answer)
            who, attribute, value = _parse(text, "yesno" if kind in ("yes", "no") else "question")
            if who in PRONOUNS:
                assert previous is not None and question["turn_id"] > 1
                assert dict(PEOPLE)[previous] == who
                who = previous
                assert question["question_type"] in ("coreference", "yesno")
            else:
                assert question["question_type"] in ("factoid", "yesno")
            stated = facts.get((who, attribute))
            if kind == "extractive":
                assert gold == stated
            elif kind == "unknown":
                assert stated is None
            elif kind == "yes":
                assert value == stated
            else:
                assert stated is not None and value != stated
            previous = who


def test_kind_ratios_within_a_loose_band(data):
    kinds = count_kinds(data)
    total = sum(kinds.values())
    config = SyntheticConfig()
    for kind, ratio in zip(KINDS, config.kind_ratios):
        assert abs(kinds[kind] / total - ratio) < 0.05, (kind, kinds[kind] / total)
    coreference = sum(q["question_type"] == "coreference" for d in data["data"]
                      for q in d["Questions"])
    assert 0.1 < coreference / total < 0.5


def test_config_ratios_are_followed_and_validated():
    only_yes = SyntheticConfig(extractive_ratio=0.0, yes_ratio=1.0, no_ratio=0.0,
                               unknown_ratio=0.0, coreference_prob=0.0)
    data = generate_dialogues(20, 1, only_yes)
    assert set(count_kinds(data)) == {"yes"}
    assert all(q["question_type"] == "yesno" for d in data["data"] for q in d["Questions"])
    assert all(d["question_statistics"][0]["coreference_count"] == 0 for d in data["data"])
    with pytest.raises(ValueError):
        SyntheticConfig(extractive_ratio=0.9)  # ratios sum to 1.25
    with pytest.raises(ValueError):
        SyntheticConfig(min_people=3, max_people=2)
    with pytest.raises(ValueError):
        SyntheticConfig(max_sentences=50)  # someone would have every attribute stated


def test_statistics_match_the_turns(data):
    for dialogue in data["data"]:
        questions, answers = dialogue["Questions"], dialogue["Answers"]
        n = len(answers)
        kinds = Counter(answer_kind(a) for a in answers)
        spans = sum(a["answer_type"] == "extractive" for a in answers)
        a_stats = dialogue["answer_statistics"]
        assert len(a_stats) == 1
        assert a_stats[0] == {
            "answer_count": n, "span_count": spans, "nospan_count": n - spans,
            "yesno_count": kinds["yes"] + kinds["no"], "cannotanswer_count": kinds["unknown"],
            "span_ratio": 100.0 * spans / n, "nospan_ratio": 100.0 * (n - spans) / n,
            "yesno_ratio": 100.0 * (kinds["yes"] + kinds["no"]) / n,
            "cannotanswer_ratio": 100.0 * kinds["unknown"] / n}
        coref = sum(q["input_text"][0] in PRONOUNS for q in questions)
        yesno = sum(q["question_type"] == "yesno" for q in questions)
        q_stats = dialogue["question_statistics"]
        assert len(q_stats) == 1
        assert q_stats[0] == {
            "question_count": n, "coreference_count": coref, "omitting_count": 0,
            "factual_count": n - yesno, "yesno_count": yesno, "why_count": 0,
            "coreference_ratio": 100.0 * coref / n, "omitting_ratio": 0.0,
            "factual_ratio": 100.0 * (n - yesno) / n, "yesno_ratio": 100.0 * yesno / n,
            "why_ratio": 0.0}


def test_vocabulary_values_cannot_collide():
    """No value inside another value, a name or any fixed text: the basis of unique offsets."""
    values = [v for a in ATTRIBUTES for v in a.values]
    assert len(values) == len(set(values))
    fixed = NAMES + [t.replace("{who}", "|").replace("{value}", "|")
                     for a in ATTRIBUTES for t in a.statements + a.questions + (a.yesno,)]
    fixed += [t for texts in (*INTROS.values(), *OUTROS.values()) for t in texts]
    for value in values:
        assert not any(value in other for other in values if other != value), value
        assert not any(value in text for text in fixed), value
    assert all(len(name) == 2 for name in NAMES) and len(set(NAMES)) == len(NAMES)


def test_cli_writes_the_file_and_exits_zero(tmp_path):
    out = tmp_path / "sub" / "synthetic.json"
    result = subprocess.run([sys.executable, "-m", "coqa.tools.synthetic", "--out", str(out),
                             "--dialogues", "12", "--seed", "5"],
                            cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip().splitlines()) == 1
    assert "12 dialogues" in result.stdout
    written = json.loads(out.read_text(encoding="utf-8"))
    assert written == generate_dialogues(12, 5)
    assert "小" in out.read_text(encoding="utf-8")  # Chinese written unescaped


def test_main_rejects_zero_dialogues(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--out", str(tmp_path / "x.json"), "--dialogues", "0"])
    assert exit_info.value.code == 2
    assert main(["--out", str(tmp_path / "y.json"), "--dialogues", "2", "--seed", "1"]) == 0
    assert "2 dialogues" in capsys.readouterr().out


def test_the_reader_accepts_the_file(tmp_path):
    readers = pytest.importorskip("coqa.data.readers")
    dialogue_module = pytest.importorskip("coqa.data.dialogue")
    path = tmp_path / "synthetic.json"
    path.write_text(json.dumps(generate_dialogues(20, 2), ensure_ascii=False), encoding="utf-8")
    loaded = readers.load_dialogues(path)
    assert len(loaded.dialogues) == 20 and not loaded.skipped
    kinds = Counter(t.kind for d in loaded.dialogues for t in d.turns)
    assert dialogue_module.AnswerKind.FREE_FORM not in kinds
    assert {k.value for k in kinds} <= {"span", "yes", "no", "unknown"}
