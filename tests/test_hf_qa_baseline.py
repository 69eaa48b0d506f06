"""scripts/hf_qa_baseline.py, the plain Hugging Face peer of run_coqa.py: a 3-step run end to
end through `main()` on data/sample with a tiny random BERT, its windows against ours, and
its labels by hand."""
from __future__ import annotations

import json

import numpy as np
import pytest
from transformers import AutoTokenizer

from coqa.data.dialogue import AnswerKind, Dialogue, Turn
from coqa.data.readers import load_dialogues
from coqa.extractive.features import FeatureConfig, build_features
from evaluate import evaluate_files
from scripts.hf_qa_baseline import label_window, main, tokenize_windows
from tests.conftest import PASSAGE, REPO

SAMPLE = REPO / "data" / "sample"
# 40 characters, each one token for the tiny BERT: 3 × 40 = 120 passage tokens.
LONG_PASSAGE = PASSAGE * 3
QUESTION = "小明住在哪里？"  # 7 tokens


def windows_of(tokenizer, dialogues, config: FeatureConfig):
    turns = [(d, t) for d in dialogues for t in d.turns]
    return tokenize_windows(tokenizer, [t.question for _, t in turns],
                            [d.passage for d, _ in turns], config.max_seq_length,
                            config.doc_stride, config.max_query_length)


def one_turn_dialogue(question: str, passage: str) -> Dialogue:
    span = (passage.find("杭州"), passage.find("杭州") + 2)
    turn = Turn(1, question, "factoid", ("杭州",), AnswerKind.SPAN, span)
    return Dialogue("1", "儿童故事", passage, (turn,))


def test_three_steps_answer_every_dev_turn_with_passage_text(tiny_bert, tmp_path):
    out = tmp_path / "out"
    assert main(["--model_name_or_path", str(tiny_bert), "--train_file",
                 str(SAMPLE / "train.json"), "--predict_file", str(SAMPLE / "dev.json"),
                 "--output_dir", str(out), "--max_seq_length", "128", "--doc_stride", "32",
                 "--max_steps", "3", "--warmup_steps", "1", "--logging_steps", "1",
                 "--per_gpu_train_batch_size", "4", "--per_gpu_eval_batch_size", "16",
                 "--threads", "1"]) == 0
    predictions = json.loads((out / "predictions_.json").read_text(encoding="utf-8"))
    dialogues = load_dialogues(SAMPLE / "dev.json").dialogues
    passages = {d.id: d.passage for d in dialogues}
    expected = {(d.id, t.turn_id) for d in dialogues for t in d.turns}
    assert {(p["id"], p["turn_id"]) for p in predictions} == expected
    assert len(predictions) == len(expected)
    assert all(p["answer"] in passages[p["id"]] for p in predictions)
    assert sum(bool(p["answer"]) for p in predictions) > 0.9 * len(predictions)
    scores = evaluate_files(SAMPLE / "dev.json", out / "predictions_.json")
    assert scores["overall"]["turns"] == len(expected)
    assert json.loads((out / "args.json").read_text())["doc_stride"] == 32


@pytest.mark.parametrize("max_seq_length,doc_stride", [(128, 32), (96, 16), (512, 128)])
def test_windows_are_ours_on_the_sample_data(tiny_bert, max_seq_length, doc_stride):
    """Same count per turn and the same token ids in every window (a BERT tokenizer has
    ours, [CLS] q [SEP] window [SEP])."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    dialogues = load_dialogues(SAMPLE / "dev.json").dialogues
    config = FeatureConfig(max_seq_length, doc_stride, max_query_length=16, history_len=0)
    ours = build_features(dialogues, tokenizer, config, show_progress=False)
    peer = windows_of(tokenizer, dialogues, config)
    assert [w["example"] for w in peer] == ours.example_index.tolist()
    for row, window in enumerate(peer):
        assert window["input_ids"] == \
            ours.input_ids[row, :ours.attention_mask[row].sum()].tolist()
        assert window["token_type_ids"] == \
            ours.token_type_ids[row, :ours.attention_mask[row].sum()].tolist()


def test_windows_of_one_long_passage_by_hand(tiny_bert_factory):
    """120 passage tokens, a 7-token question, 48 tokens a window: 48 - 7 - 3 = 38 passage
    tokens per window, starting every 20 tokens: 0, 20, 40, 60, 80 (80 + 38 = 118 < 120),
    100 (reaches the end: the last), so 6 windows, the last holding tokens 100..119."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_factory(extra_texts=(LONG_PASSAGE,)))
    assert len(tokenizer(LONG_PASSAGE, add_special_tokens=False)["input_ids"]) == 120
    windows = tokenize_windows(tokenizer, [QUESTION], [LONG_PASSAGE], 48, 20, 16)
    passage_offsets = [[o for o in w["offsets"] if o is not None] for w in windows]
    assert [offsets[0][0] for offsets in passage_offsets] == [0, 20, 40, 60, 80, 100]
    assert [len(offsets) for offsets in passage_offsets] == [38, 38, 38, 38, 38, 20]
    assert all(len(w["input_ids"]) == 48 for w in windows[:5])
    dialogue = one_turn_dialogue(QUESTION, LONG_PASSAGE)
    ours = build_features([dialogue], tokenizer, FeatureConfig(48, 20, 16, 0),
                          show_progress=False)
    assert len(ours) == len(windows) == 6
    assert [w["input_ids"] for w in windows] == \
        [ours.input_ids[i, :ours.attention_mask[i].sum()].tolist() for i in range(6)]


def test_labels_by_hand():
    # [CLS] q q [SEP] then passage tokens covering characters 0-1, 1-3, 3-4, 4-6, then [SEP].
    offsets = [None, None, None, None, (0, 1), (1, 3), (3, 4), (4, 6), None]
    assert label_window(offsets, (1, 4)) == (5, 6)
    assert label_window(offsets, (2, 5)) == (5, 7)   # characters inside tokens
    assert label_window(offsets, (0, 6)) == (4, 7)
    assert label_window(offsets, (5, 8)) == (0, 0)   # runs past the window: the first token
    assert label_window([None, (10, 12), (12, 13), None], (0, 2)) == (0, 0)  # before it


def test_training_leaves_out_turns_without_a_span(tiny_bert, tmp_path, caplog):
    caplog.set_level("INFO", logger="hf_qa_baseline")
    main(["--model_name_or_path", str(tiny_bert), "--train_file", str(SAMPLE / "train.json"),
          "--output_dir", str(tmp_path), "--max_seq_length", "128", "--doc_stride", "64",
          "--max_steps", "1", "--warmup_steps", "0", "--threads", "1"])
    turns = [t for d in load_dialogues(SAMPLE / "train.json").dialogues for t in d.turns]
    spans = sum(t.kind.value == "span" for t in turns)
    line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("Training on"))
    assert line.startswith(f"Training on {spans} of {len(turns)} turns")
    assert spans < len(turns) and np.all([k in line for k in ("yes", "no", "unknown")])
