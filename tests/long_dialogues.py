"""A second dialogue generator, independent of coqa.synthetic, for the learning tests.

It differs from coqa.synthetic on purpose, so a test passing on both says more than a test
tuned on one: other names, attributes and templates, and two properties that the first
generator does not have.

- Long passages: the facts are scattered among filler sentences about nobody, so a passage
  spans several windows at the tests' sequence length and an answer can sit in any window.
- Yes/no cannot be read off the question: yes and no are drawn equally often from the same
  template, and a 不是 question names another value of the same attribute
  (`no_values="any"`), which another person of the passage may have. With
  `no_values="other_person"` it is always another person's stated value, so the question's
  value is in the passage either way and only binding the value to the person tells yes
  from no (docs/MODEL.md: no tiny model we tried learns that).

`generate(num_dialogues, seed, LongDialogueConfig(...))` returns a ConvQA_CN v3.0 object.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Tuple

YES_TEXT, NO_TEXT, UNKNOWN_TEXT = "是的", "不是", "无法作答"

NAMES = ("张伟", "李娜", "王芳", "刘洋", "陈静", "杨磊", "赵敏", "黄勇", "周丹", "吴浩",
         "徐婷", "孙杰")

# attribute: (values, statement templates, wh-question templates, yes/no template)
ATTRIBUTES: Dict[str, Tuple[Tuple[str, ...], Tuple[str, ...], Tuple[str, ...], str]] = {
    "job": (("医生", "律师", "厨师", "司机", "画家", "记者", "护士", "警察", "教授"),
            ("{who}是一名{value}。", "{who}多年来一直当{value}。"),
            ("{who}是做什么的？", "{who}的职业是什么？"), "{who}是{value}吗？"),
    "hometown": (("济南", "长沙", "昆明", "沈阳", "福州", "兰州", "贵阳", "太原", "合肥"),
                 ("{who}出生在{value}。", "{who}的老家在{value}。"),
                 ("{who}出生在哪里？", "{who}的老家在哪儿？"), "{who}的老家在{value}吗？"),
    "instrument": (("钢琴", "吉他", "二胡", "笛子", "小提琴", "古筝", "口琴"),
                   ("{who}会弹奏{value}。", "{who}每晚练习{value}。"),
                   ("{who}会什么乐器？", "{who}每晚练习什么？"), "{who}会弹奏{value}吗？"),
    "drink": (("咖啡", "绿茶", "牛奶", "果汁", "豆浆", "可乐", "红茶"),
              ("{who}早上总是喝{value}。", "{who}最常喝的是{value}。"),
              ("{who}早上喝什么？", "{who}最常喝什么？"), "{who}早上喝{value}吗？"),
    "car": (("轿车", "卡车", "摩托", "吉普", "电车", "单车"),
            ("{who}开着一辆{value}。", "{who}上下班骑{value}。"),
            ("{who}开什么车？", "{who}用什么代步？"), "{who}开着一辆{value}吗？"),
}

FILLERS = (
    "那年冬天来得特别早。", "街道两旁种满了梧桐树。", "河边的柳树发出了新芽。", "傍晚时分下起了小雨。",
    "集市上人来人往，十分热闹。", "远处的山上盖着一层薄雪。", "广场上有人在放风筝。", "新修的公路一直通到山脚下。",
    "图书馆周末也对外开放。", "那天的晚霞格外好看。", "小区门口开了一家面包店。", "火车站离这里不算太远。",
    "湖面上飘着几只小船。", "操场上传来一阵阵欢笑声。", "镇上的钟楼已经有一百多年了。", "田野里的麦子渐渐黄了。",
    "每到春天，山坡上开满了野花。", "老街的石板路被雨水冲得发亮。", "桥下的流水哗哗作响。", "天刚亮，鸟儿就开始叫了。",
    "菜市场的摊位摆得整整齐齐。", "夏天的夜晚总能听见蝉鸣。", "村口的大槐树长得很高。", "秋风吹落了满地的黄叶。",
    "海边的沙滩又细又软。", "学校的铃声准时响起。", "路口新装了一盏红绿灯。", "山顶上可以看到整座城市。",
    "雨后的空气格外清新。", "公园里的荷花开得正好。",
)
SOURCES = ("儿童故事", "热点新闻", "历史", "育儿知识")


@dataclass(frozen=True)
class LongDialogueConfig:
    people: int = 2
    facts_per_person: int = 3      # of the 5 attributes, so an unknown turn is always possible
    # Filler sentences per passage, min and max: ~270 characters, 4+ windows a turn at
    # max_seq_length 128, doc_stride 64.
    fillers: Tuple[int, int] = (16, 22)
    turns: int = 6
    # Kind weights: span, yes, no, unknown (yes and no equal: neither is a prior).
    weights: Tuple[float, float, float, float] = (0.45, 0.2, 0.2, 0.15)
    coreference_prob: float = 0.3
    no_values: str = "any"  # or "other_person"


def generate(num_dialogues: int, seed: int,
             config: LongDialogueConfig = LongDialogueConfig()) -> Dict[str, Any]:
    rng = random.Random(seed)
    return {"version": "ConvQA_CN v3.0 long test dialogues",
            "data": [_dialogue(rng, config, i) for i in range(1, num_dialogues + 1)]}


def write(path: Path, num_dialogues: int, seed: int,
          config: LongDialogueConfig = LongDialogueConfig()) -> Dict[str, Any]:
    data = generate(num_dialogues, seed, config)
    Path(path).write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return data


def _cast(rng: random.Random, config: LongDialogueConfig):
    """People with their stated facts (each value used once per passage), and the sentences."""
    names = rng.sample(NAMES, config.people)
    free = {attr: list(values) for attr, (values, *_rest) in ATTRIBUTES.items()}
    for values in free.values():
        rng.shuffle(values)
    facts: Dict[str, Dict[str, str]] = {}
    sentences = []
    for name in names:
        chosen = rng.sample(sorted(ATTRIBUTES), config.facts_per_person)
        facts[name] = {attr: free[attr].pop() for attr in chosen}
        for attr, value in facts[name].items():
            sentences.append(rng.choice(ATTRIBUTES[attr][1]).format(who=name, value=value))
    return names, facts, sentences


def _passage(rng: random.Random, config: LongDialogueConfig, sentences: List[str]) -> str:
    """Fact sentences at random places among filler sentences (fillers never repeat)."""
    fillers = rng.sample(FILLERS, min(len(FILLERS), rng.randint(*config.fillers)))
    slots = sorted(rng.sample(range(len(fillers) + len(sentences)), len(sentences)))
    facts = iter(rng.sample(sentences, len(sentences)))
    filler_iter = iter(fillers)
    return "".join(next(facts) if i in slots else next(filler_iter)
                   for i in range(len(fillers) + len(sentences)))


def _yes_no_value(rng: random.Random, facts, name: str, kind: str, no_values: str):
    """(attribute, value) for a yes/no turn about `name`; a 不是 value is another value of
    the attribute, or with `no_values="other_person"` another person's value of it (so it is
    in the passage too). None when impossible."""
    options = []
    for attr, value in facts[name].items():
        if kind == "yes":
            options.append((attr, value))
        elif no_values == "any":
            options += [(attr, other) for other in ATTRIBUTES[attr][0] if other != value]
        else:
            options += [(attr, other[attr]) for who, other in facts.items()
                        if who != name and attr in other]
    return rng.choice(options) if options else None


def _dialogue(rng: random.Random, config: LongDialogueConfig, dialogue_id: int):
    names, facts, sentences = _cast(rng, config)
    passage = _passage(rng, config, sentences)
    pronoun = {name: "她" if name in ("李娜", "王芳", "陈静", "赵敏", "周丹", "徐婷") else "他"
               for name in names}
    questions, answers, previous = [], [], None
    for turn_id in range(1, config.turns + 1):
        kind = rng.choices(("span", "yes", "no", "unknown"), weights=config.weights)[0]
        name = previous if previous and rng.random() < config.coreference_prob else rng.choice(names)
        who = pronoun[name] if name == previous else name
        picked = _yes_no_value(rng, facts, name, kind, config.no_values) \
            if kind in ("yes", "no") else None
        if kind in ("yes", "no") and picked is None:
            kind = "span"
        if kind in ("yes", "no"):
            attr, value = picked
            question, answer = ATTRIBUTES[attr][3].format(who=who, value=value), \
                YES_TEXT if kind == "yes" else NO_TEXT
        else:
            stated = kind == "span"
            pool = [a for a in ATTRIBUTES if (a in facts[name]) == stated]
            attr = rng.choice(pool)
            question = rng.choice(ATTRIBUTES[attr][2]).format(who=who)
            answer = facts[name][attr] if stated else UNKNOWN_TEXT
        starts = [passage.index(answer)] if kind == "span" else [-3]
        questions.append({"input_text": question, "turn_id": turn_id,
                          "question_type": "yesno" if kind in ("yes", "no") else "factoid"})
        answers.append({"input_text": answer, "turn_id": turn_id, "answer_id": 1,
                        "answer_type": "extractive" if kind == "span" else "generative",
                        "answer_start": starts})
        previous = name
    return {"Source": rng.choice(SOURCES), "Passage": passage, "Questions": questions,
            "Answers": answers, "id": dialogue_id}
