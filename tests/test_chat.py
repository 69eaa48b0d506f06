"""The chat tools end to end through a pseudo-terminal: `python -m coqa.chat` (extractive)
and `python -m coqa.chat --seq2seq` (handing over to `python -m seq2seq.chat`), a passage
pasted or loaded, questions one after another, :history, :reset, :quit, Ctrl-C; each
answer with its kind and probability; an empty passage refused."""
from __future__ import annotations

import io
import math
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time

import pytest

import run_seq2seq
from coqa.chat import main as chat_main
from coqa.data.errors import UsageError
from coqa.extractive.answerer import candidate_probability
from coqa.repl import ChatAnswer, answer_kind, run_chat
from tests.conftest import PASSAGE, REPO


class Terminal:
    """A child process on a pseudo-terminal: `send` a line, `expect` a pattern."""

    def __init__(self, argv):
        master, slave = pty.openpty()
        env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
        # A job started in the background (`make test &`) inherits SIGINT ignored, and Python
        # then installs no KeyboardInterrupt handler: give the child the default, as a
        # terminal would.
        self.process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=subprocess.PIPE,
                                        cwd=REPO, env=env, close_fds=True,
                                        preexec_fn=lambda: signal.signal(signal.SIGINT,
                                                                         signal.SIG_DFL))
        os.close(slave)
        self.master, self.seen = master, ""

    def expect(self, pattern: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.seen):
            ready, _, _ = select.select([self.master], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise AssertionError(f"no {pattern!r} in {self.seen!r}")
            try:
                chunk = os.read(self.master, 4096)
            except OSError:  # the child closed the terminal
                chunk = b""
            if not chunk:
                raise AssertionError(f"ended without {pattern!r}: {self.seen!r}")
            self.seen += chunk.decode("utf-8", errors="replace").replace("\r\n", "\n")
        match = re.search(pattern, self.seen)
        before, self.seen = self.seen[:match.end()], self.seen[match.end():]
        return before

    def send(self, line: str) -> None:
        os.write(self.master, (line + "\n").encode("utf-8"))

    def close(self) -> int:
        code = self.process.wait(timeout=60)
        os.close(self.master)
        return code


KINDS = "span|是的|不是|无法作答|free-form"
ANSWER = rf"答: (.*)\n\s+({KINDS}), probability ([01]\.\d{{3}}), (window [^\n]+)\n"


def converse(terminal: Terminal) -> None:
    """Two questions, the history, a reset, a third question, quit."""
    terminal.expect(r"Passage: \d+ characters")
    terminal.expect("问> ")
    terminal.send("小明住在哪里？")
    first = re.search(ANSWER, terminal.expect(ANSWER)).group(1)
    terminal.expect("问> ")
    terminal.send("他喜欢什么运动？")
    second = re.search(ANSWER, terminal.expect(ANSWER)).group(1)
    terminal.expect("问> ")
    terminal.send(":history")
    history = terminal.expect("问> ")
    assert f"1. 小明住在哪里？ -> {first}\n" in history
    assert f"2. 他喜欢什么运动？ -> {second}\n" in history
    terminal.send(":reset")
    terminal.expect("History cleared.\n问> ")
    terminal.send(":history")
    assert "(no history)" in terminal.expect("问> ")
    terminal.send("小红是谁？")
    terminal.expect(ANSWER)
    terminal.expect("问> ")
    terminal.send(":quit")
    terminal.expect("Bye.")
    assert terminal.close() == 0


@pytest.fixture(scope="module")
def encoder(tiny_bert_factory):
    return tiny_bert_factory(extra_texts=(PASSAGE,), dropout=0.0)


@pytest.fixture(scope="module")
def extractive_model(trained_extractive):
    """Chat needs trained heads: one training step is enough to have them (tests/conftest.py)."""
    return trained_extractive


@pytest.fixture(scope="module")
def seq2seq_model(encoder, tmp_path_factory):
    out = tmp_path_factory.mktemp("chat_s2s") / "model"
    assert run_seq2seq.main(["--train_file", "data/sample/train.json", "--output_dir", str(out),
                             "--model_name_or_path", str(encoder),
                             "--max_source_seq_length", "128", "--max_target_seq_length", "8",
                             "--num_training_steps", "1",
                             "--cached_train_features_file", str(out.parent / "cache")]) == 0
    return out


def test_extractive_chat_with_a_pasted_passage(extractive_model):
    terminal = Terminal([sys.executable, "-m", "coqa.chat", "--model", str(extractive_model)])
    terminal.expect("Paste the passage, then an empty line:")
    half = len(PASSAGE) // 2
    terminal.send(PASSAGE[:half])
    terminal.send(PASSAGE[half:])
    terminal.send("")
    converse(terminal)


def test_extractive_answers_come_from_the_passage(extractive_model, tmp_path):
    passage = tmp_path / "passage.txt"
    passage.write_text(PASSAGE, encoding="utf-8")
    terminal = Terminal([sys.executable, "-m", "coqa.chat", "--model", str(extractive_model),
                         "--passage", str(passage)])
    terminal.expect("问> ")
    terminal.send("小明住在哪里？")
    text, kind, probability, window = re.search(ANSWER, terminal.expect(ANSWER)).groups()
    assert text in PASSAGE or text in ("是的", "不是", "无法作答")
    assert kind == (text if text in ("是的", "不是", "无法作答") else "span")
    assert 0.0 < float(probability) <= 1.0
    assert re.fullmatch(r"window 1 of 1 \(passage characters 0-\d+\)", window)
    terminal.send(":quit")
    assert terminal.close() == 0


def test_seq2seq_chat_through_coqa_chat(seq2seq_model, tmp_path):
    passage = tmp_path / "passage.txt"
    passage.write_text(PASSAGE, encoding="utf-8")
    terminal = Terminal([sys.executable, "-m", "coqa.chat", "--seq2seq", "--model",
                         str(seq2seq_model), "--passage", str(passage)])
    converse(terminal)


def test_a_missing_passage_file_is_one_line(extractive_model, tmp_path, capsys):
    # In-process: only the exit code and the message are tested, not the terminal.
    code = chat_main(["--model", str(extractive_model), "--passage", str(tmp_path / "none.txt")])
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: --passage")


def test_ctrl_c_leaves_as_quit(extractive_model, tmp_path):
    passage = tmp_path / "passage.txt"
    passage.write_text(PASSAGE, encoding="utf-8")
    terminal = Terminal([sys.executable, "-m", "coqa.chat", "--model", str(extractive_model),
                         "--passage", str(passage)])
    terminal.expect("问> ")
    terminal.send("小明住在哪里？")
    terminal.expect(ANSWER)
    terminal.expect("问> ")
    terminal.process.send_signal(signal.SIGINT)
    terminal.expect("Bye.")
    assert terminal.close() == 0
    assert "Traceback" not in terminal.process.stderr.read().decode("utf-8")


def test_an_empty_pasted_passage_is_asked_for_again(extractive_model):
    terminal = Terminal([sys.executable, "-m", "coqa.chat", "--model", str(extractive_model)])
    terminal.expect("Paste the passage, then an empty line:")
    terminal.send("")
    terminal.expect("The passage is empty: paste it, then an empty line")
    terminal.send("   ")
    terminal.expect("The passage is empty")
    terminal.send(PASSAGE)
    terminal.send("")
    terminal.expect(rf"Passage: {len(PASSAGE)} characters")
    terminal.send(":quit")
    terminal.expect("Bye.")
    assert terminal.close() == 0


@pytest.mark.parametrize("text", ["", " \n\n\t\n"])
def test_an_empty_passage_file_is_one_line(extractive_model, tmp_path, capsys, text):
    passage = tmp_path / "passage.txt"
    passage.write_text(text, encoding="utf-8")
    assert chat_main(["--model", str(extractive_model), "--passage", str(passage)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: --passage {passage} is empty: give a file with the passage's text"]


class Echo:
    """An answerer that answers the question itself, with probability 0.5."""

    def answer(self, passage, history, question):
        return ChatAnswer(question, answer_kind(question, passage), 0.5, "window 1 of 1")


def test_end_of_input_before_a_passage_is_a_usage_error():
    out = io.StringIO()
    with pytest.raises(UsageError, match="no passage: input ended before one was pasted"):
        run_chat(Echo(), None, io.StringIO("\n\n"), out)
    assert out.getvalue().count("The passage is empty") == 2


def test_kind_and_probability_shown():
    out = io.StringIO()
    answered = run_chat(Echo(), "小明住在杭州。", io.StringIO("杭州\n不是\n上海\n"), out)
    assert answered == 3
    assert "答: 杭州\n   span, probability 0.500, window 1 of 1\n" in out.getvalue()
    assert "答: 不是\n   不是, probability 0.500" in out.getvalue()
    assert "答: 上海\n   free-form, probability 0.500" in out.getvalue()
    assert out.getvalue().endswith("Bye.\n")


def test_candidate_probability_is_a_softmax_over_the_list():
    entries = [{"score": 2.0}, {"score": 1.0}, {"score": 1.0}, {"score": -1000.0}]
    expected = math.exp(2) / (math.exp(2) + 2 * math.exp(1))
    assert candidate_probability(entries) == pytest.approx(expected)
    assert candidate_probability([{"score": 5000.0}, {"score": 4999.0}]) == pytest.approx(
        1 / (1 + math.exp(-1)))
