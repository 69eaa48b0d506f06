"""The interactive loop both chat tools share (`python -m coqa.chat`, `python -m
seq2seq.chat`): a passage, then questions one after another, each answered with its kind
(span, 是的, 不是, 无法作答, or free-form for a generated answer not in the passage), a
probability and the passage window it came from; the history is kept between questions.

Commands: `:reset` (forget the history, keep the passage), `:history` (print it),
`:passage` (paste a new passage, history forgotten), `:quit` (or end of input, or Ctrl-C:
all three print "Bye." and exit 0).

An empty passage is refused: a --passage file that is empty or blank in one line (exit 2);
a pasted one (an empty line before any text) with one line asking for it again. End of
input before any passage was pasted is one line, exit 2.

It knows no model: an `Answerer` turns (passage, history, question) into a `ChatAnswer`.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Protocol, Sequence, TextIO, Tuple

from coqa.cli import OneLineParser
from coqa.data.dialogue import SPECIAL_TEXT, AnswerKind, Dialogue, Turn, special_kind
from coqa.data.errors import UsageError

PROMPT = "问> "
COMMANDS = ":reset :history :passage :quit"


@dataclass(frozen=True)
class ChatAnswer:
    text: str
    kind: str           # "span", 是的, 不是, 无法作答 or "free-form" (`answer_kind`)
    probability: float  # the model's, between 0 and 1 (each answerer says how)
    window: str         # where in the passage it came from, in words


def answer_kind(text: str, passage: str) -> str:
    """是的 / 不是 / 无法作答 for those answers, "span" for text found in the passage,
    "free-form" otherwise."""
    kind = special_kind(text)
    if kind is not None:
        return SPECIAL_TEXT[kind]
    return "span" if text and text in passage else AnswerKind.FREE_FORM.value


class Answerer(Protocol):
    def answer(self, passage: str, history: Sequence[Tuple[str, str]], question: str
               ) -> ChatAnswer:
        ...


def chat_dialogue(passage: str, history: Sequence[Tuple[str, str]], question: str) -> Dialogue:
    """The conversation so far as a one-dialogue file would hold it: the earlier turns
    answered as the model answered them, the new question last (the form the predicted-
    history feature builders take)."""
    turns = [Turn(i, q, "", (a,), AnswerKind.FREE_FORM, None)
             for i, (q, a) in enumerate(history, start=1)]
    turns.append(Turn(len(history) + 1, question, "", (), AnswerKind.UNKNOWN, None))
    return Dialogue("chat", "chat", passage, tuple(turns))


def read_passage(stdin: TextIO, stdout: TextIO) -> Optional[str]:
    """Lines up to an empty line (or end of input); None when input ended with nothing
    pasted. An empty line before any text is an empty passage: refused in one line, and
    the passage asked for again."""
    stdout.write("Paste the passage, then an empty line:\n")
    stdout.flush()
    lines: List[str] = []
    for line in iter(stdin.readline, ""):
        if not line.strip():
            if lines:
                break
            stdout.write("The passage is empty: paste it, then an empty line "
                         "(end of input leaves).\n")
            stdout.flush()
            continue
        lines.append(line.rstrip("\n"))
    text = "\n".join(lines).strip()
    return text or None


def run_chat(answerer: Answerer, passage: Optional[str], stdin: TextIO, stdout: TextIO) -> int:
    """The loop; returns the number of questions answered. Ctrl-C leaves as `:quit` does.
    UsageError when input ends before a passage was pasted."""
    answered = 0
    try:
        passage = passage or read_passage(stdin, stdout)
        if passage is None:
            raise UsageError("no passage: input ended before one was pasted")
        stdout.write(f"Passage: {len(passage)} characters. Ask questions ({COMMANDS}).\n")
        history: List[Tuple[str, str]] = []
        while True:
            stdout.write(PROMPT)
            stdout.flush()
            line = stdin.readline()
            if not line or line.strip() == ":quit":
                break
            question = line.strip()
            if not question:
                continue
            if question == ":reset":
                history.clear()
                stdout.write("History cleared.\n")
            elif question == ":history":
                stdout.write("".join(f"{i}. {q} -> {' '.join(a.split(chr(10)))}\n"
                                     for i, (q, a) in enumerate(history, 1))
                             or "(no history)\n")
            elif question == ":passage":
                passage = read_passage(stdin, stdout) or passage
                history.clear()
                stdout.write(f"Passage: {len(passage)} characters, history cleared.\n")
            elif question.startswith(":"):
                stdout.write(f"Unknown command {question}; commands: {COMMANDS}\n")
            else:
                reply = answerer.answer(passage, history, question)
                shown = " ".join(reply.text.split("\n"))  # one line, even across pasted lines
                stdout.write(f"答: {shown}\n   {reply.kind}, probability "
                             f"{reply.probability:.3f}, {reply.window}\n")
                history.append((question, reply.text))
                answered += 1
    except KeyboardInterrupt:  # Ctrl-C: as :quit
        stdout.write("\n")
    stdout.write("Bye.\n")
    stdout.flush()
    return answered


# Flags both chat tools share


def build_parser(prog: str = "python -m coqa.chat") -> argparse.ArgumentParser:
    parser = OneLineParser(prog=prog, description="Ask a trained model questions about a "
                           "passage, one after another (commands: " + COMMANDS + ").")
    parser.add_argument("--model", required=True, help="a model folder run_coqa.py (or, with "
                        "--seq2seq, run_seq2seq.py) wrote")
    parser.add_argument("--passage", default=None, help="UTF-8 text file with the passage "
                        "(default: paste it)")
    parser.add_argument("--seq2seq", action="store_true", help="a generative model: runs "
                        "python -m seq2seq.chat")
    parser.add_argument("--no_cuda", action="store_true", help="stay on the CPU")
    return parser


def read_passage_file(path: Optional[str]) -> Optional[str]:
    if path is None:
        return None
    try:
        text = Path(path).read_text(encoding="utf-8-sig").strip()
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"--passage {path}: {err.__class__.__name__}: {err}") from None
    if not text:
        raise UsageError(f"--passage {path} is empty: give a file with the passage's text")
    return text
