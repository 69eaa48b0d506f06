"""Shared test helpers: tiny hand-made dialogues and the path to ../shared."""
from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest

# One intra-op thread for torch and numpy here and in every subprocess a test starts (read
# when torch is first imported, after this file). The tests' models are tiny: a second
# thread gains them little on idle cores, and on a busy machine every operation waits for
# the thread that is not scheduled (an evaluation of the sample dev set took 3-22 s with
# two threads at load 4 against 1-2 s with one). A value set outside is kept.
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

PASSAGE = "小明住在杭州。他喜欢踢足球，每个周末都去公园踢足球。小红是他的同学，她喜欢画画。"


def convqa_dialogue(dialogue_id=1, source="儿童故事", passage=PASSAGE):
    """A valid ConvQA_CN v3.0 dialogue with one turn of every answer kind."""
    turns = [
        ("小明住在哪里？", "factoid", "杭州", "extractive", [passage.find("杭州")]),
        ("他喜欢什么运动？", "coreference", "踢足球", "extractive",
         [i for i in range(len(passage)) if passage.startswith("踢足球", i)]),
        ("小红是谁？", "factoid", "小明的同学。", "generative", [-3]),
        ("她喜欢画画吗？", "yesno", "是的", "generative", [-3]),
        ("她住在杭州吗？", "yesno", "不是", "generative", [-3]),
        ("她几岁了？", "factoid", "无法作答", "generative", [-3]),
    ]
    return {
        "Source": source, "Passage": passage,
        "Questions": [{"input_text": q, "turn_id": i, "question_type": t}
                      for i, (q, t, _, _, _) in enumerate(turns, 1)],
        "Answers": [{"input_text": a, "turn_id": i, "answer_id": 1, "answer_type": kind,
                     "answer_start": starts}
                    for i, (_, _, a, kind, starts) in enumerate(turns, 1)],
        "id": dialogue_id,
    }


@pytest.fixture
def convqa_data():
    """A fresh, mutable ConvQA_CN top-level object with two dialogues."""
    return {"version": "test", "data": [convqa_dialogue(1), convqa_dialogue(2, "历史")]}


@pytest.fixture
def write_json(tmp_path):
    """Write an object (or raw bytes / text) to a file under tmp_path; return its path."""
    def write(obj, name="data.json"):
        path = tmp_path / name
        if isinstance(obj, bytes):
            path.write_bytes(obj)
        elif isinstance(obj, str):
            path.write_text(obj, encoding="utf-8")
        else:
            path.write_text(json.dumps(copy.deepcopy(obj), ensure_ascii=False), encoding="utf-8")
        return path
    return write


def require_shared(*parts: str) -> Path:
    """Path under ../shared, or skip the test cleanly when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not available")
    return path


# The one tiny random BERT of the tests. Only the vocabulary (which texts it covers) and
# dropout differ between tests; the learning tests keep their own, measured, settings.
SAMPLE_TEXTS = (REPO / "data" / "sample" / "train.json", REPO / "data" / "sample" / "dev.json")


def write_tiny_model(folder: Path, text_files=SAMPLE_TEXTS, extra_texts=(),
                     dropout: float = 0.1) -> Path:
    """A random BERT folder (hidden 32, 2 layers, 2 heads, FFN 64, 512 positions, masked-LM
    head) whose vocabulary covers `text_files` and `extra_texts`; dropout 0: deterministic."""
    from coqa.tools.tiny import TinyBertConfig, dialogue_texts, write_tiny_bert

    texts = [*dialogue_texts([str(f) for f in text_files]), *extra_texts]
    return write_tiny_bert(folder, texts, TinyBertConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=512, dropout=dropout))


@pytest.fixture(scope="session")
def tiny_bert_factory(tmp_path_factory):
    """`make(text_files=..., extra_texts=..., dropout=...)`: a folder per setting, built once a
    session and shared, so a test must only read it."""
    made = {}

    def make(text_files=SAMPLE_TEXTS, extra_texts=(), dropout: float = 0.1) -> Path:
        key = (tuple(str(f) for f in text_files), tuple(extra_texts), dropout)
        if key not in made:
            made[key] = write_tiny_model(tmp_path_factory.mktemp("tiny_bert"), text_files,
                                         extra_texts, dropout)
        return made[key]
    return make


@pytest.fixture(scope="session")
def tiny_bert(tiny_bert_factory) -> Path:
    """The shared tiny BERT over the sample data, dropout 0.1 (read it, never write it)."""
    return tiny_bert_factory()


@pytest.fixture(scope="session")
def trained_extractive(tiny_bert_factory, tmp_path_factory) -> Path:
    """run_coqa.py's model after one training step on the sample data (128 tokens, stride
    48) over a tiny BERT whose vocabulary also covers PASSAGE, dropout 0: trained heads
    (evaluation and chat refuse random ones) for the tests that only evaluate, predict or
    chat with a model. Read it, never write it."""
    import run_coqa

    encoder = tiny_bert_factory(extra_texts=(PASSAGE,), dropout=0.0)
    out = tmp_path_factory.mktemp("trained_extractive") / "model"
    assert run_coqa.main(["--model_type", "bert", "--model_name_or_path", str(encoder),
                          "--do_train", "--train_file", str(SAMPLE_TEXTS[0]),
                          "--output_dir", str(out), "--max_seq_length", "128",
                          "--doc_stride", "48", "--max_steps", "1", "--save_steps", "0",
                          "--cache_dir", str(out.parent / "cache"), "--no_cuda"]) == 0
    return out


def tiny_bert_config(vocab_size: int, dropout: float = 0.1, **overrides):
    """The in-memory twin for model unit tests (64 positions): a transformers BertConfig."""
    from transformers import BertConfig

    values = dict(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2,
                  num_attention_heads=2, intermediate_size=64, max_position_embeddings=64,
                  hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    values.update(overrides)
    return BertConfig(**values)


def make_read_only(monkeypatch, folder: Path) -> None:
    """`folder` read-only: by chmod, or (as root, whom chmod does not stop) by os.access."""
    folder.chmod(0o555)
    if os.access(folder, os.W_OK):
        real = os.access
        monkeypatch.setattr(os, "access", lambda path, mode, *a, **k: (
            False if os.path.abspath(path) == str(folder) and mode & os.W_OK
            else real(path, mode, *a, **k)))


# The files that take longest (seconds on the 2-core machine, `make test
# PYTEST_FLAGS=--durations=20`), longest first.
SLOW_FILES = ("test_run_coqa_long_learning.py",     # 98
              "test_run_seq2seq_learning.py",       # 87
              "test_run_coqa_learning.py",          # 58
              "test_rank0_alone.py",                # 60, most of it asleep
              "test_gpu_check.py",                  # 45
              "test_real_encoder.py",               # 37
              "test_run_coqa_yes_no_learning.py")   # 30


def pytest_collection_modifyitems(config, items):
    """The slowest files (`SLOW_FILES`) first, longest first: `make test` runs pytest-xdist
    with `--dist loadfile --no-loadscope-reorder`, which hands files out in this order, so
    each worker starts with its share of them and the short files fill in the gaps,
    instead of one worker being left with a long file at the end. (A stable sort: the
    rest keep their order.)"""
    rank = {name: number for number, name in enumerate(SLOW_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOW_FILES)))
