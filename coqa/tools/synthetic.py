"""Seeded synthetic ConvQA_CN v3.0 dialogues that a tiny model can learn from scratch.

Each passage is a short list of templated sentences, one attribute of one invented person
per sentence ("小明住在杭州。"). Every turn asks about one person, by name or, when it
follows a turn about the same person, by pronoun ("他喜欢吃什么水果？"), and is one of four
kinds: an extractive value span, 是的, 不是 or 无法作答 (an attribute that the passage does
not state for that person, although it may state it for someone else).

Every attribute value occurs exactly once in its passage, and no value is a substring of
another value, a name or any template text, so an extractive answer has one unambiguous
offset and belongs to one person only.

A dialogue asks about each fact once while the person of the turn has one left to ask; a
pronoun follow-up stays with its person, so once that person's facts are all asked the
question repeats ("她在哪里工作？" three turns in a row), and its answer then stands in the
history. Kept on purpose: the learning tests' bars were measured on this data (turning
to another person instead left the extractive test at F1 72.8 / 69.5 for --seed 42 / 7,
but the seq2seq one at 46.3 / 42.2, under its bars; docs/DATA.md).

`python -m coqa.tools.synthetic --out FILE --dialogues N --seed S` writes a file;
`generate_dialogues(n, seed)` returns the same object in memory. Standard library only.
"""
from __future__ import annotations

import argparse
import random
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from coqa.data.files import write_json
from coqa.data.convqa_format import answer_statistics, occurrences, question_statistics

VERSION = "ConvQA_CN v3.0 synthetic"
YES_TEXT = "是的"
NO_TEXT = "不是"
UNKNOWN_TEXT = "无法作答"
NO_SPAN_START = -3  # answer_start of every generative answer in ConvQA_CN v3.0

# Turn kinds, as counted by `count_kinds`.
EXTRACTIVE, YES, NO, UNKNOWN = "extractive", "yes", "no", "unknown"
KINDS = (EXTRACTIVE, YES, NO, UNKNOWN)

SOURCES = ("儿童故事", "热点新闻", "历史", "育儿知识")
INTROS = {
    "儿童故事": ("从前，森林旁边的小镇上有几个好朋友。", "这是一个关于几位邻居的小故事。"),
    "热点新闻": ("本报记者近日在街头采访了几位市民。", "今天的新闻向大家介绍几位普通人。"),
    "历史": ("很久以前，村子里住着几户普通人家。", "老人们至今还记得当年的几个人。"),
    "育儿知识": ("老师请孩子们在课堂上介绍自己的家人。", "专家建议家长多和孩子聊聊身边的人。"),
}
OUTROS = {
    "儿童故事": ("大家一直是很好的朋友。", "故事讲到这里就结束了。"),
    "热点新闻": ("记者会继续关注普通人的生活。", "以上就是今天的报道。"),
    "历史": ("这些往事一直流传到今天。", "这段历史值得后人记住。"),
    "育儿知识": ("这样的交流对孩子的成长很有帮助。", "家长可以试试这个方法。"),
}
# Two-character names with the pronoun a follow-up question uses for them.
PEOPLE = (("小明", "他"), ("小刚", "他"), ("阿强", "他"), ("大伟", "他"), ("小军", "他"),
          ("小红", "她"), ("小丽", "她"), ("小芳", "她"), ("小美", "她"), ("阿兰", "她"))


@dataclass(frozen=True)
class Attribute:
    """One thing a sentence can state about a person; `{who}` and `{value}` are filled in."""

    name: str
    values: Tuple[str, ...]
    statements: Tuple[str, ...]  # passage sentences
    questions: Tuple[str, ...]   # wh-questions whose answer is the value
    yesno: str                   # "is it this value?" question


ATTRIBUTES = (
    Attribute("city", ("北京", "上海", "杭州", "南京", "广州", "成都", "武汉", "西安", "天津", "重庆"),
              ("{who}住在{value}。", "{who}的家在{value}。", "{who}一家人住在{value}。"),
              ("{who}住在哪里？", "{who}的家在哪个城市？"), "{who}住在{value}吗？"),
    Attribute("fruit", ("苹果", "香蕉", "葡萄", "西瓜", "草莓", "橘子", "桃子", "芒果"),
              ("{who}喜欢吃{value}。", "{who}最爱吃的水果是{value}。"),
              ("{who}喜欢吃什么水果？", "{who}爱吃什么？"), "{who}喜欢吃{value}吗？"),
    Attribute("sport", ("踢足球", "打篮球", "打排球", "游泳", "跑步", "滑冰", "爬山", "骑车"),
              ("{who}喜欢{value}。", "{who}每天都去{value}。"),
              ("{who}喜欢什么运动？", "{who}平时做什么运动？"), "{who}喜欢{value}吗？"),
    Attribute("pet", ("花猫", "黄狗", "白兔", "鹦鹉", "乌龟", "金鱼", "仓鼠", "山羊"),
              ("{who}养了一只{value}。", "{who}家里有一只{value}。"),
              ("{who}养了什么动物？", "{who}家里有什么宠物？"), "{who}养了一只{value}吗？"),
    Attribute("age", tuple(str(n) for n in range(18, 61)),
              ("{who}今年{value}岁。", "{who}今年已经{value}岁了。"),
              ("{who}今年几岁？", "{who}今年多大了？"), "{who}今年{value}岁吗？"),
    Attribute("work", ("医院", "学校", "银行", "工厂", "书店", "邮局", "饭店", "超市", "农场"),
              ("{who}在{value}工作。", "{who}每天去{value}上班。"),
              ("{who}在哪里工作？", "{who}在哪里上班？"), "{who}在{value}工作吗？"),
    Attribute("color", ("红色", "蓝色", "绿色", "黄色", "紫色", "白色", "黑色", "粉色"),
              ("{who}最喜欢{value}。", "{who}最喜欢的颜色是{value}。", "{who}的衣服大多是{value}的。"),
              ("{who}最喜欢什么颜色？",), "{who}最喜欢{value}吗？"),
)


@dataclass(frozen=True)
class SyntheticConfig:
    """Sizes of each dialogue and how often each turn kind is drawn (ratios sum to 1)."""

    min_people: int = 2
    max_people: int = 3
    min_sentences: int = 4
    max_sentences: int = 8
    min_turns: int = 5
    max_turns: int = 8
    extractive_ratio: float = 0.55
    yes_ratio: float = 0.15
    no_ratio: float = 0.15
    unknown_ratio: float = 0.15
    coreference_prob: float = 0.4  # chance a turn reuses the previous turn's person by pronoun

    def __post_init__(self) -> None:
        if not 1 <= self.min_people <= self.max_people <= len(PEOPLE):
            raise ValueError(f"need 1 <= min_people <= max_people <= {len(PEOPLE)}")
        # Each person states at most all-but-one attribute, so an unknown turn is always possible.
        most = self.min_people * (len(ATTRIBUTES) - 1)
        if not self.max_people <= self.min_sentences <= self.max_sentences <= most:
            raise ValueError(f"need max_people <= min_sentences <= max_sentences <= {most}")
        if not 1 <= self.min_turns <= self.max_turns:
            raise ValueError("need 1 <= min_turns <= max_turns")
        ratios = self.kind_ratios
        if min(ratios) < 0 or abs(sum(ratios) - 1.0) > 1e-6:
            raise ValueError(f"kind ratios must be >= 0 and sum to 1, got {ratios}")
        if not 0.0 <= self.coreference_prob <= 1.0:
            raise ValueError("coreference_prob must be in [0, 1]")

    @property
    def kind_ratios(self) -> Tuple[float, float, float, float]:
        """Ratios in the order of KINDS."""
        return (self.extractive_ratio, self.yes_ratio, self.no_ratio, self.unknown_ratio)


@dataclass(frozen=True)
class _Person:
    name: str
    pronoun: str
    facts: Dict[str, str]  # attribute name -> value, only the stated ones


def generate_dialogues(num_dialogues: int, seed: int,
                       config: SyntheticConfig = SyntheticConfig()) -> Dict[str, Any]:
    """The ConvQA_CN v3.0 top-level object; the same arguments give the same object.

    Dialogue ids are 1..num_dialogues whatever the seed.
    """
    if num_dialogues < 0:
        raise ValueError("num_dialogues must be >= 0")
    rng = random.Random(seed)
    data = [_dialogue(rng, config, dialogue_id) for dialogue_id in range(1, num_dialogues + 1)]
    return {"version": VERSION, "data": data}


def write_dataset(path: str | Path, num_dialogues: int, seed: int,
                  config: SyntheticConfig = SyntheticConfig()) -> Dict[str, Any]:
    """Generate and write a ConvQA_CN JSON file (UTF-8, unescaped Chinese); return the object."""
    data = generate_dialogues(num_dialogues, seed, config)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_json(path, data)
    return data


def answer_kind(answer: Dict[str, Any]) -> str:
    """extractive / yes / no / unknown for one answer of a synthetic dialogue."""
    special = {YES_TEXT: YES, NO_TEXT: NO, UNKNOWN_TEXT: UNKNOWN}
    return special.get(answer["input_text"], EXTRACTIVE)


def count_kinds(data: Dict[str, Any]) -> Counter:
    """How many turns of each kind (extractive / yes / no / unknown) a dataset holds."""
    return Counter(answer_kind(a) for d in data["data"] for a in d["Answers"])


def _dialogue(rng: random.Random, config: SyntheticConfig, dialogue_id: int) -> Dict[str, Any]:
    source = rng.choice(SOURCES)
    people, sentences = _cast(rng, config)
    passage = rng.choice(INTROS[source]) + "".join(sentences) + rng.choice(OUTROS[source])
    questions: List[Dict[str, Any]] = []
    answers: List[Dict[str, Any]] = []
    asked: set = set()  # (name, attribute): a dialogue asks about each fact once when it can
    previous: Optional[_Person] = None
    coreference = 0  # turns naming their person by pronoun, yes/no included
    for turn_id in range(1, rng.randint(config.min_turns, config.max_turns) + 1):
        kind = rng.choices(KINDS, weights=config.kind_ratios)[0]
        if previous is not None and rng.random() < config.coreference_prob:
            person, who = previous, previous.pronoun
        else:
            person = rng.choice(people)
            who = person.name
        question, answer, attribute = _turn(rng, kind, person, who, asked)
        asked.add((person.name, attribute.name))
        previous = person
        coreference += who == person.pronoun
        if kind in (YES, NO):
            question_type = "yesno"
        else:
            question_type = "coreference" if who == person.pronoun else "factoid"
        questions.append({"input_text": question, "turn_id": turn_id,
                          "question_type": question_type})
        if kind == EXTRACTIVE:
            answer_type, starts = "extractive", occurrences(passage, answer)
        else:
            answer_type, starts = "generative", [NO_SPAN_START]
        answers.append({"input_text": answer, "turn_id": turn_id, "answer_id": 1,
                        "answer_type": answer_type, "answer_start": starts})
    return {"Source": source, "Passage": passage, "Questions": questions, "Answers": answers,
            "answer_statistics": [answer_statistics(answers)],
            "question_statistics": [_question_statistics(questions, coreference)],
            "id": dialogue_id}


def _cast(rng: random.Random, config: SyntheticConfig) -> Tuple[List[_Person], List[str]]:
    """The people of one passage, what it states about each, and its sentences in order."""
    chosen = rng.sample(PEOPLE, rng.randint(config.min_people, config.max_people))
    num_sentences = rng.randint(config.min_sentences,
                                min(config.max_sentences, len(chosen) * (len(ATTRIBUTES) - 1)))
    # Every person gets one sentence, the rest go to random people that still have room.
    owners = list(range(len(chosen)))
    while len(owners) < num_sentences:
        owner = rng.randrange(len(chosen))
        if owners.count(owner) < len(ATTRIBUTES) - 1:
            owners.append(owner)
    facts: List[Dict[str, str]] = [{} for _ in chosen]
    used: Dict[str, set] = {a.name: set() for a in ATTRIBUTES}  # values unique in a passage
    sentences = []
    for owner in owners:
        attribute = rng.choice([a for a in ATTRIBUTES if a.name not in facts[owner]])
        value = rng.choice([v for v in attribute.values if v not in used[attribute.name]])
        used[attribute.name].add(value)
        facts[owner][attribute.name] = value
        sentences.append(rng.choice(attribute.statements).format(who=chosen[owner][0], value=value))
    rng.shuffle(sentences)
    people = [_Person(name, pronoun, f) for (name, pronoun), f in zip(chosen, facts)]
    return people, sentences


def _turn(rng: random.Random, kind: str, person: _Person, who: str,
          asked: set) -> Tuple[str, str, Attribute]:
    """Question text, answer text and the attribute asked about, for one turn."""
    if kind == UNKNOWN:
        candidates = [a for a in ATTRIBUTES if a.name not in person.facts]
    else:
        candidates = [a for a in ATTRIBUTES if a.name in person.facts]
    fresh = [a for a in candidates if (person.name, a.name) not in asked]
    attribute = rng.choice(fresh or candidates)
    if kind in (EXTRACTIVE, UNKNOWN):
        question = rng.choice(attribute.questions).format(who=who)
        return question, person.facts.get(attribute.name, UNKNOWN_TEXT), attribute
    value = person.facts[attribute.name]
    if kind == NO:
        value = rng.choice([v for v in attribute.values if v != value])
    answer = YES_TEXT if kind == YES else NO_TEXT
    return attribute.yesno.format(who=who, value=value), answer, attribute


def _question_statistics(questions: List[Dict[str, Any]], coreference: int) -> Dict[str, Any]:
    """Counts as in the corpus: coreference (a pronoun for a person, whatever the question
    type) and omitting (an elided subject, never generated) overlap the three exclusive
    classes factual, yes/no and why."""
    total = len(questions)
    counts = {"question_count": total,
              "coreference_count": coreference,
              "omitting_count": 0,
              "factual_count": sum(q["question_type"] in ("factoid", "coreference")
                                   for q in questions),
              "yesno_count": sum(q["question_type"] == "yesno" for q in questions),
              "why_count": 0}
    return question_statistics(counts)


def build_parser(prog: str = "python -m coqa.tools.synthetic",
                 description: str = __doc__.splitlines()[0]) -> argparse.ArgumentParser:
    """The generators' command line (this one's and coqa.tools.synthetic_chain's)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--out", required=True, help="ConvQA_CN JSON file to write")
    parser.add_argument("--dialogues", type=int, default=1000,
                        help="number of dialogues (default 1000)")
    parser.add_argument("--seed", type=int, default=0,
                        help="random seed; the same seed writes the same file (default 0)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.dialogues < 1:
        parser.error("--dialogues must be at least 1")
    data = write_dataset(args.out, args.dialogues, args.seed)
    kinds = count_kinds(data)
    print(f"{args.out}: {len(data['data'])} dialogues, {sum(kinds.values())} turns, "
          f"kinds {{{', '.join(f'{k}: {kinds[k]}' for k in KINDS)}}}, seed {args.seed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
