"""Build the sample ConvQA_CN v3.0 files from the hand-written dialogues.

`python data/build_sample.py` reads every `data/sample_src/*.json` (sorted by name) and
writes `data/sample/train.json` and `data/sample/dev.json`. Standard library only.

Source format: a JSON list of dialogues
    {"split": "train" | "dev", "source": DOMAIN, "passage": TEXT,
     "turns": [{"q": QUESTION, "type": QTYPE, "a": ANSWER, "answer_type": ATYPE}, ...]}
with QTYPE in factoid / coreference / omitting / yesno / why and ATYPE in extractive /
generative. An extractive answer must occur verbatim in the passage; its `answer_start` is
every offset where it occurs (ascending, overlaps included). A generative answer gets
`answer_start` [-3], as in ConvQA_CN v3.0. The special answers 是的 / 不是 / 无法作答 must be
written exactly so and be generative.

Validation is strict: the first defect stops the build with exit status 2 and one line
naming the source file, the dialogue index (0-based, in that file) and the turn (1-based),
and nothing is written. Output is deterministic (same sources, same bytes).

Statistics: `answer_statistics` counts span (extractive), nospan (generative, the special
answers included), yesno (是的 + 不是) and cannotanswer (无法作答). `question_statistics`
follows the corpus, where coreference and omitting overlap the three exclusive classes
factual / yesno / why: coreference_count and omitting_count count those source types, and a
coreference or omitting question is also counted as yesno when it ends in 吗, as why when it
contains 为什么, else as factual. So factual + yesno + why == question_count. Ratios are
percentages (floats).
"""
from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

# Run as `python data/build_sample.py` from the repository root: make `coqa` importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from coqa.data.convqa_format import answer_statistics, occurrences, percent  # noqa: E402

ROOT = Path(__file__).resolve().parent
SRC_DIR = ROOT / "sample_src"
OUT_DIR = ROOT / "sample"
VERSION = "ConvQA_CN v3.0 sample"
FIRST_ID = 1001
SPLITS = ("train", "dev")

PASSAGE_MIN, PASSAGE_MAX = 200, 600
TURNS_MIN, TURNS_MAX = 5, 10
NO_SPAN_START = -3

YES, NO, UNKNOWN = "是的", "不是", "无法作答"
SPECIAL = (YES, NO, UNKNOWN)
QUESTION_TYPES = ("factoid", "coreference", "omitting", "yesno", "why")
ANSWER_TYPES = ("extractive", "generative")
DIALOGUE_KEYS = ("split", "source", "passage", "turns")
TURN_KEYS = ("q", "type", "a", "answer_type")
# Stripped from an answer to catch near-misses of the special answers ("不是。", " 是的").
_PUNCT = " \t\r\n。，、！？!?,.；;：:…“”\"'‘’（）()"


class SourceError(Exception):
    """A defect in a source file, with where it is."""

    def __init__(self, message: str, path: Path, dialogue: Optional[int] = None,
                 turn: Optional[int] = None):
        where = _display(path)
        if dialogue is not None:
            where += f": dialogue {dialogue}"
        if turn is not None:
            where += f" turn {turn}"
        super().__init__(f"{where}: {message}")


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT.parent))
    except ValueError:
        return str(path)


def _nonempty_str(obj: Dict[str, Any], key: str, path: Path, dialogue: int,
                  turn: Optional[int] = None) -> str:
    value = obj[key]
    if not isinstance(value, str):
        raise SourceError(f'field "{key}" is {type(value).__name__}, not a string',
                          path, dialogue, turn)
    if not value.strip():
        raise SourceError(f'field "{key}" is empty', path, dialogue, turn)
    if value != value.strip():
        raise SourceError(f'field "{key}" has leading or trailing whitespace',
                          path, dialogue, turn)
    return value


def _check_keys(obj: Any, keys: Tuple[str, ...], what: str, path: Path, dialogue: int,
                turn: Optional[int] = None) -> Dict[str, Any]:
    if not isinstance(obj, dict):
        raise SourceError(f"{what} is not a JSON object", path, dialogue, turn)
    for key in keys:
        if key not in obj:
            raise SourceError(f'missing field "{key}" in {what}', path, dialogue, turn)
    extra = sorted(set(obj) - set(keys))
    if extra:
        raise SourceError(f"unknown field(s) {', '.join(extra)} in {what}", path, dialogue, turn)
    return obj


def _convert_turn(raw: Any, passage: str, path: Path, dialogue: int,
                  turn_id: int) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    raw = _check_keys(raw, TURN_KEYS, "turn", path, dialogue, turn_id)
    question = _nonempty_str(raw, "q", path, dialogue, turn_id)
    answer = _nonempty_str(raw, "a", path, dialogue, turn_id)
    qtype = _nonempty_str(raw, "type", path, dialogue, turn_id)
    atype = _nonempty_str(raw, "answer_type", path, dialogue, turn_id)
    if qtype not in QUESTION_TYPES:
        raise SourceError(f'unknown type "{qtype}" (one of {", ".join(QUESTION_TYPES)})',
                          path, dialogue, turn_id)
    if atype not in ANSWER_TYPES:
        raise SourceError(f'unknown answer_type "{atype}" (extractive or generative)',
                          path, dialogue, turn_id)
    bare = answer.strip(_PUNCT)
    if answer not in SPECIAL and bare in SPECIAL:
        raise SourceError(f'answer "{answer}" must be written exactly "{bare}"',
                          path, dialogue, turn_id)
    if answer in SPECIAL and atype != "generative":
        raise SourceError(f'special answer "{answer}" has answer_type "{atype}", '
                          f'not "generative"', path, dialogue, turn_id)
    if atype == "extractive":
        starts = occurrences(passage, answer)
        if not starts:
            raise SourceError(f'extractive answer "{answer}" does not occur in the passage',
                              path, dialogue, turn_id)
    else:
        starts = [NO_SPAN_START]
    return ({"input_text": question, "turn_id": turn_id, "question_type": qtype},
            {"input_text": answer, "turn_id": turn_id, "answer_id": 1,
             "answer_type": atype, "answer_start": starts})


def exclusive_class(question: Dict[str, Any]) -> str:
    """factual / yesno / why for one question (see the module docstring)."""
    qtype = question["question_type"]
    if qtype in ("yesno", "why"):
        return qtype
    if qtype in ("coreference", "omitting"):
        text = question["input_text"].rstrip("？?。 ")
        if text.endswith("吗"):
            return "yesno"
        if "为什么" in text:
            return "why"
    return "factual"


def question_statistics(questions: List[Dict[str, Any]]) -> Dict[str, Any]:
    types = Counter(q["question_type"] for q in questions)
    classes = Counter(exclusive_class(q) for q in questions)
    total = len(questions)
    counts = {"question_count": total,
              "coreference_count": types["coreference"],
              "omitting_count": types["omitting"],
              "factual_count": classes["factual"],
              "yesno_count": classes["yesno"],
              "why_count": classes["why"]}
    ratios = {f"{name}_ratio": percent(counts[f"{name}_count"], total)
              for name in ("coreference", "omitting", "factual", "yesno", "why")}
    return {**counts, **ratios}


def convert_dialogue(raw: Any, path: Path, index: int) -> Tuple[str, Dict[str, Any]]:
    """(split, ConvQA_CN dialogue without its id) for one source dialogue."""
    raw = _check_keys(raw, DIALOGUE_KEYS, "dialogue", path, index)
    split = _nonempty_str(raw, "split", path, index)
    if split not in SPLITS:
        raise SourceError(f'unknown split "{split}" (train or dev)', path, index)
    source = _nonempty_str(raw, "source", path, index)
    passage = _nonempty_str(raw, "passage", path, index)
    if not PASSAGE_MIN <= len(passage) <= PASSAGE_MAX:
        raise SourceError(f"passage has {len(passage)} characters, not "
                          f"{PASSAGE_MIN}-{PASSAGE_MAX}", path, index)
    turns = raw["turns"]
    if not isinstance(turns, list):
        raise SourceError('field "turns" is not a list', path, index)
    if not TURNS_MIN <= len(turns) <= TURNS_MAX:
        raise SourceError(f"{len(turns)} turns, not {TURNS_MIN}-{TURNS_MAX}", path, index)
    questions, answers = [], []
    for turn_id, turn in enumerate(turns, start=1):
        question, answer = _convert_turn(turn, passage, path, index, turn_id)
        questions.append(question)
        answers.append(answer)
    return split, {"Source": source, "Passage": passage, "Questions": questions,
                   "Answers": answers,
                   "answer_statistics": [answer_statistics(answers)],
                   "question_statistics": [question_statistics(questions)]}


def load_sources(src_dir: Path) -> Dict[str, List[Dict[str, Any]]]:
    paths = sorted(src_dir.glob("*.json"))
    if not paths:
        raise SourceError("no *.json source files", src_dir)
    by_split: Dict[str, List[Dict[str, Any]]] = {split: [] for split in SPLITS}
    seen_passages: Dict[str, str] = {}
    for path in paths:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as err:
            raise SourceError(f"cannot read ({err})", path) from None
        except json.JSONDecodeError as err:
            raise SourceError(f"not JSON ({err.msg} at line {err.lineno} column {err.colno})",
                              path) from None
        if not isinstance(raw, list):
            raise SourceError("top level is not a JSON list of dialogues", path)
        for index, item in enumerate(raw):
            split, dialogue = convert_dialogue(item, path, index)
            here = f"{_display(path)} dialogue {index}"
            if dialogue["Passage"] in seen_passages:
                raise SourceError(f"same passage as {seen_passages[dialogue['Passage']]}",
                                  path, index)
            seen_passages[dialogue["Passage"]] = here
            by_split[split].append(dialogue)
    for split in SPLITS:
        if not by_split[split]:
            raise SourceError(f"no {split} dialogues in any source file", src_dir)
    return by_split


def assign_ids(by_split: Dict[str, List[Dict[str, Any]]]) -> None:
    """Consecutive ids from FIRST_ID, train first then dev: unique across both files."""
    next_id = FIRST_ID
    for split in SPLITS:
        for dialogue in by_split[split]:
            dialogue["id"] = next_id
            next_id += 1


def answer_kind(answer: Dict[str, Any]) -> str:
    text = answer["input_text"]
    if text == YES:
        return "yes"
    if text == NO:
        return "no"
    if text == UNKNOWN:
        return "unknown"
    return "extractive" if answer["answer_type"] == "extractive" else "free-form"


def summary(split: str, dialogues: List[Dict[str, Any]]) -> str:
    domains = Counter(d["Source"] for d in dialogues)
    kinds = Counter(answer_kind(a) for d in dialogues for a in d["Answers"])
    turns = sum(len(d["Answers"]) for d in dialogues)
    order = ("extractive", "free-form", "yes", "no", "unknown")
    return (f"{split}: {len(dialogues)} dialogues, {turns} turns, "
            f"domains {dict(sorted(domains.items()))}, "
            f"answers {', '.join(f'{k} {kinds[k]}' for k in order)}")


def main() -> int:
    try:
        by_split = load_sources(SRC_DIR)
    except SourceError as err:
        print(f"build_sample: {err}", file=sys.stderr)
        return 2
    assign_ids(by_split)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        out = OUT_DIR / f"{split}.json"
        tmp = out.with_suffix(".json.tmp")
        with open(tmp, "w", encoding="utf-8", newline="\n") as handle:
            json.dump({"version": VERSION, "data": by_split[split]}, handle,
                      ensure_ascii=False, indent=1)
            handle.write("\n")
        tmp.replace(out)
        print(f"{_display(out)}: {summary(split, by_split[split])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
