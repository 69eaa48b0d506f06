"""Seeded synthetic ConvQA_CN v3.0 dialogues in which each answer is found next to the last one.

Each passage lists a sequence (the stations of a metro line, the animals of a queue, the
cities of a caravan's journey, the activities of a child's day), every item once. A dialogue
walks along it: a turn that names an item ("东湖的下一站是哪里？") starts a walk, and the
follow-ups name nothing ("再往后呢？", "它的前一站呢？"): their answer is the item next to the
previous turn's answer, in the walk's direction. Without the dialogue history such a
follow-up cannot be answered; with it, the answer sits beside the previous answer in the
passage. A few turns ask yes / no about the next item ("下一站是西山吗？") or walk past the
end of the list (无法作答); the turn after either names an item again.

Every item occurs exactly once in its passage, and no item is a substring of another item
or of any template text, so an extractive answer has one unambiguous offset.

`python -m coqa.tools.synthetic_chain --out FILE --dialogues N --seed S` writes a file;
`generate_dialogues(n, seed, config)` returns the same object in memory. Standard library
only, like `coqa.tools.synthetic`.
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
from coqa.data.convqa_format import answer_statistics, question_statistics
from coqa.tools.synthetic import build_parser as generator_parser

VERSION = "ConvQA_CN v3.0 synthetic chain"
YES_TEXT = "是的"
NO_TEXT = "不是"
UNKNOWN_TEXT = "无法作答"
NO_SPAN_START = -3  # answer_start of every generative answer in ConvQA_CN v3.0
FORWARD, BACKWARD = 1, -1

# Question types written to the file ("omitting": an elliptical follow-up that names nothing).
FACTOID, OMITTING, COREFERENCE, YESNO = "factoid", "omitting", "coreference", "yesno"
# Where a dialogue stands: (index of the previous turn's span answer, direction), or None
# when the next turn must name an item.
Walk = Optional[Tuple[int, int]]


@dataclass(frozen=True)
class Theme:
    """One kind of sequence. `{first}`, `{middle}` (the inner items joined by "、") and
    `{last}` fill `listing`; `{x}` is a named item, `{y}` the item a yes / no turn offers.
    Follow-up questions are keyed by direction (FORWARD, BACKWARD)."""

    source: str
    items: Tuple[str, ...]
    intros: Tuple[str, ...]
    listing: str
    outros: Tuple[str, ...]
    named: Dict[int, Tuple[str, ...]]        # "{x}的下一站是哪里？"
    elliptical: Dict[int, Tuple[str, ...]]   # "再往后呢？"
    pronoun: Dict[int, Tuple[str, ...]]      # "它的下一站是哪里？"
    yesno: Dict[int, Tuple[str, str]]        # ("下一站是{y}吗？", "它后面一站是{y}吗？"):
                                             # naming nothing, then saying 它 / 那

    def fixed_texts(self) -> List[str]:
        """Every template with its slots cut out: no item may occur in any of them."""
        texts = [*self.intros, self.listing, *self.outros]
        for table in (self.named, self.elliptical, self.pronoun, self.yesno):
            texts += [t for templates in table.values() for t in templates]
        for slot in ("{first}", "{middle}", "{last}", "{x}", "{y}"):
            texts = [t.replace(slot, "|") for t in texts]
        return texts


THEMES = (
    Theme("热点新闻",
          ("东湖", "南门", "西山", "北桥", "花园路", "体育馆", "博物馆", "大学城", "科技园",
           "人民广场", "滨江", "金沙", "龙华", "清水河", "长乐坊", "白云"),
          ("本市新开通了一条地铁线路。", "记者今天试乘了新建成的地铁。"),
          "列车从{first}出发，依次停靠{middle}，终点是{last}。",
          ("市民出行方便了很多。", "以上就是今天的报道。"),
          {FORWARD: ("{x}的下一站是哪里？", "{x}后面是哪一站？"),
           BACKWARD: ("{x}的前一站是哪里？", "{x}前面是哪一站？")},
          {FORWARD: ("下一站呢？", "再往后呢？", "再下一站是哪里？"),
           BACKWARD: ("前一站呢？", "再往前呢？", "再前一站是哪里？")},
          {FORWARD: ("它的下一站是哪里？", "那一站后面是哪一站？"),
           BACKWARD: ("它的前一站是哪里？", "那一站前面是哪一站？")},
          {FORWARD: ("下一站是{y}吗？", "它后面一站是{y}吗？"),
           BACKWARD: ("前一站是{y}吗？", "它前面一站是{y}吗？")}),
    Theme("儿童故事",
          ("白兔", "花猫", "黄狗", "山羊", "松鼠", "刺猬", "狐狸", "熊猫", "猴子", "鸭子",
           "乌龟", "青蛙", "老虎", "大象", "河马", "斑马"),
          ("森林里的小动物们要过河了。", "小动物们在树下排队领果子。"),
          "排在最前面的是{first}，后面依次是{middle}，排在最后的是{last}。",
          ("大家都很守秩序。", "故事讲到这里就结束了。"),
          {FORWARD: ("{x}后面是谁？", "排在{x}后面的是谁？"),
           BACKWARD: ("{x}前面是谁？", "排在{x}前面的是谁？")},
          {FORWARD: ("再后面呢？", "然后是谁？", "再往后呢？"),
           BACKWARD: ("再前面呢？", "再往前呢？", "更前面是谁？")},
          {FORWARD: ("它后面是谁？", "排在它后面的是谁？"),
           BACKWARD: ("它前面是谁？", "排在它前面的是谁？")},
          {FORWARD: ("后面是{y}吗？", "它后面是{y}吗？"),
           BACKWARD: ("前面是{y}吗？", "它前面是{y}吗？")}),
    Theme("历史",
          ("长安", "洛阳", "敦煌", "开封", "扬州", "泉州", "兰州", "凉州", "太原", "襄阳",
           "荆州", "苏州", "大同", "宁波"),
          ("古时候有一支商队走过很长的路。", "史书记载了一位使者的旅程。"),
          "他们从{first}启程，先后经过{middle}，最后抵达{last}。",
          ("这条路线一直沿用了很多年。", "这段旅程被后人传为佳话。"),
          {FORWARD: ("离开{x}以后到了哪里？", "{x}之后去了哪里？"),
           BACKWARD: ("到{x}之前在哪里？", "{x}之前经过了哪里？")},
          {FORWARD: ("然后呢？", "再往后呢？", "接着去了哪里？"),
           BACKWARD: ("再之前呢？", "再往前呢？", "更早在哪里？")},
          {FORWARD: ("离开那里以后去了哪里？", "那座城之后是哪里？"),
           BACKWARD: ("到那里之前在哪里？", "那座城之前是哪里？")},
          {FORWARD: ("接着去了{y}吗？", "那之后是{y}吗？"),
           BACKWARD: ("再往前是{y}吗？", "在那之前是{y}吗？")}),
    Theme("育儿知识",
          ("刷牙", "吃早饭", "读绘本", "做手工", "午睡", "画画", "搭积木", "去公园", "唱儿歌",
           "洗澡", "听故事", "练钢琴", "跳绳", "浇花"),
          ("专家建议给孩子定一个作息表。", "一位妈妈分享了孩子的一天。"),
          "孩子先{first}，接下来依次是{middle}，最后{last}。",
          ("规律的作息对孩子很有帮助。", "家长可以参考这个安排。"),
          {FORWARD: ("{x}以后做什么？", "{x}之后是什么？"),
           BACKWARD: ("{x}之前做什么？", "{x}前面是什么？")},
          {FORWARD: ("然后呢？", "再往后呢？", "接着做什么？"),
           BACKWARD: ("再之前呢？", "再往前呢？", "更早做什么？")},
          {FORWARD: ("做完那件事以后做什么？", "那之后做什么？"),
           BACKWARD: ("做那件事之前做什么？", "那之前做什么？")},
          {FORWARD: ("接着是{y}吗？", "那之后是{y}吗？"),
           BACKWARD: ("再往前是{y}吗？", "在那之前是{y}吗？")}),
)
SOURCES = tuple(theme.source for theme in THEMES)


@dataclass(frozen=True)
class ChainConfig:
    """Sizes of each dialogue and how often each kind of turn is drawn."""

    min_items: int = 6
    max_items: int = 9
    min_turns: int = 5
    max_turns: int = 8
    backward_prob: float = 0.3    # chance a walk goes towards the start of the list
    pronoun_prob: float = 0.35    # chance a follow-up says "它 / 那" rather than nothing
    yesno_prob: float = 0.1       # chance a follow-up asks yes / no about the next item
    yes_prob: float = 0.5         # chance such a question offers the right item
    past_end_prob: float = 0.5    # chance a walk at the end of the list asks on (无法作答)
    restart_prob: float = 0.05    # chance a follow-up names an item instead

    def __post_init__(self) -> None:
        shortest = min(len(theme.items) for theme in THEMES)
        if not 3 <= self.min_items <= self.max_items <= shortest:
            raise ValueError(f"need 3 <= min_items <= max_items <= {shortest}")
        if not 1 <= self.min_turns <= self.max_turns:
            raise ValueError("need 1 <= min_turns <= max_turns")
        for name in ("backward_prob", "pronoun_prob", "yesno_prob", "yes_prob",
                     "past_end_prob", "restart_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]")


def generate_dialogues(num_dialogues: int, seed: int,
                       config: ChainConfig = ChainConfig()) -> Dict[str, Any]:
    """The ConvQA_CN v3.0 top-level object; the same arguments give the same object.

    Dialogue ids are 1..num_dialogues whatever the seed."""
    if num_dialogues < 0:
        raise ValueError("num_dialogues must be >= 0")
    rng = random.Random(seed)
    data = [_dialogue(rng, config, dialogue_id) for dialogue_id in range(1, num_dialogues + 1)]
    return {"version": VERSION, "data": data}


def write_dataset(path: str | Path, num_dialogues: int, seed: int,
                  config: ChainConfig = ChainConfig()) -> Dict[str, Any]:
    """Generate and write a ConvQA_CN JSON file (UTF-8, unescaped Chinese); return the object."""
    data = generate_dialogues(num_dialogues, seed, config)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_json(path, data)
    return data


def count_question_types(data: Dict[str, Any]) -> Counter:
    """How many turns of each question type (factoid / omitting / coreference / yesno),
    and how many answers are 无法作答 (key "unknown")."""
    counts: Counter = Counter()
    for dialogue in data["data"]:
        counts.update(q["question_type"] for q in dialogue["Questions"])
        counts["unknown"] += sum(a["input_text"] == UNKNOWN_TEXT for a in dialogue["Answers"])
    return counts


def _dialogue(rng: random.Random, config: ChainConfig, dialogue_id: int) -> Dict[str, Any]:
    theme = rng.choice(THEMES)
    items = rng.sample(theme.items, rng.randint(config.min_items, config.max_items))
    listing = theme.listing.format(first=items[0], middle="、".join(items[1:-1]), last=items[-1])
    passage = rng.choice(theme.intros) + listing + rng.choice(theme.outros)
    questions: List[Dict[str, Any]] = []
    answers: List[Dict[str, Any]] = []
    pronouns = 0  # questions saying 它 / 那 for the previous answer, yes / no included
    walk: Walk = None
    for turn_id in range(1, rng.randint(config.min_turns, config.max_turns) + 1):
        if walk is not None and rng.random() < config.restart_prob:
            walk = None
        question, question_type, answer, pronoun, walk = _turn(rng, config, theme, items, walk)
        pronouns += pronoun
        questions.append({"input_text": question, "turn_id": turn_id,
                          "question_type": question_type})
        if answer in (YES_TEXT, NO_TEXT, UNKNOWN_TEXT):
            answer_type, starts = "generative", [NO_SPAN_START]
        else:
            answer_type, starts = "extractive", [passage.index(answer)]
        answers.append({"input_text": answer, "turn_id": turn_id, "answer_id": 1,
                        "answer_type": answer_type, "answer_start": starts})
    return {"Source": theme.source, "Passage": passage, "Questions": questions,
            "Answers": answers, "answer_statistics": [answer_statistics(answers)],
            "question_statistics": [_question_statistics(questions, pronouns)],
            "id": dialogue_id}


def _turn(rng: random.Random, config: ChainConfig, theme: Theme, items: List[str],
          walk: Walk) -> Tuple[str, str, str, bool, Walk]:
    """(question, question type, answer, whether the question says 它 / 那, the walk after
    it) for one turn."""
    if walk is not None:
        at, direction = walk
        target = at + direction
        pronoun = rng.random() < config.pronoun_prob
        style = COREFERENCE if pronoun else OMITTING
        follow_up = theme.pronoun if pronoun else theme.elliptical
        if 0 <= target < len(items):
            if rng.random() < config.yesno_prob:
                yes = rng.random() < config.yes_prob
                offered = target if yes else rng.choice(
                    [i for i in range(len(items)) if i not in (at, target)])
                # The yes / no templates: [0] names nothing, [1] says 它 / 那.
                question = theme.yesno[direction][int(pronoun)].format(y=items[offered])
                return question, YESNO, YES_TEXT if yes else NO_TEXT, pronoun, None
            return rng.choice(follow_up[direction]), style, items[target], pronoun, (target,
                                                                                      direction)
        if rng.random() < config.past_end_prob:
            return rng.choice(follow_up[direction]), style, UNKNOWN_TEXT, pronoun, None
    # Name an item with at least two more in the chosen direction, so that the walk it
    # starts has a follow-up, from the first half of the list more often.
    direction = BACKWARD if rng.random() < config.backward_prob else FORWARD
    steps = [i if direction == FORWARD else len(items) - 1 - i for i in range(len(items) - 2)]
    named = rng.choices(steps, weights=range(len(steps), 0, -1))[0]
    question = rng.choice(theme.named[direction]).format(x=items[named])
    return question, FACTOID, items[named + direction], False, (named + direction, direction)


def _question_statistics(questions: List[Dict[str, Any]], pronouns: int) -> Dict[str, Any]:
    """Counts as in the corpus: coreference (a pronoun) and omitting (nothing named) overlap
    the exclusive classes factual, yes/no and why; a yes / no follow-up counts as yes/no and
    as coreference or omitting by its wording."""
    total = len(questions)
    yesno = sum(q["question_type"] == YESNO for q in questions)
    counts = {"question_count": total,
              "coreference_count": pronouns,
              "omitting_count": sum(q["question_type"] != FACTOID for q in questions) - pronouns,
              "factual_count": total - yesno,
              "yesno_count": yesno,
              "why_count": 0}
    return question_statistics(counts)


def build_parser() -> argparse.ArgumentParser:
    return generator_parser("python -m coqa.tools.synthetic_chain", __doc__.splitlines()[0])


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.dialogues < 1:
        parser.error("--dialogues must be at least 1")
    data = write_dataset(args.out, args.dialogues, args.seed)
    counts = count_question_types(data)
    total = sum(len(d["Questions"]) for d in data["data"])
    print(f"{args.out}: {len(data['data'])} dialogues, {total} turns, question types "
          f"{{{', '.join(f'{k}: {counts[k]}' for k in (FACTOID, OMITTING, COREFERENCE, YESNO))}}}, "
          f"无法作答 {counts['unknown']}, seed {args.seed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
