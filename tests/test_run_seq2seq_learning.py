"""run_seq2seq.py learns: a tiny random BERT trained from scratch as a UniLM seq2seq model
on synthetic ConvQA_CN dialogues, through `main()`, then greedy-decoded and scored with
--do_decode --do_eval, answers held-out dialogues far better than trivial baselines."""
from __future__ import annotations

import json
import time

import run_seq2seq
from coqa.tools.baseline import predict as overlap_predict
from coqa.tools.synthetic import (EXTRACTIVE, UNKNOWN_TEXT, YES_TEXT, SyntheticConfig, answer_kind,
                             write_dataset)
from coqa.tools.tiny import TinyBertConfig, dialogue_texts, write_tiny_bert
from evaluate import evaluate_files

# Measured on the 2-core CPU machine with 1500 steps of batch 64 (until 2026-12; training
# 55-64 s, 60-69 s in all, load average 1.4-2.0 from other jobs; at load 3-4 the test took
# 4-10 minutes, as torch's two threads wait for each other): overall F1 62.3 / EM 54.9; other
# initialisations (TinyBertConfig seeds 1-5) and --seed 7 gave F1 51.4-72.7, EM 42.5-66.2,
# 30-70% of the extractive answers exact. For make test's time it now trains 1200 steps of
# batch 48 (40% less computation): F1 55.3 / EM 45.5, --seed 7 70.4 / 62.0 (1500 steps of
# batch 48: 69.1 / 59.0 and 69.4 / 61.3; cheaper settings failed the bars: 900 steps of
# batch 64 at 3e-3 F1 34.8, 1200 at 2.5e-3 34.3 / 44.5, batch 32 41.9). Baselines on the
# same dev set: every answer 无法作答 F1 13.5, sentence overlap F1 20.5, and the question-kind
# prior (是的 for a yes/no question, 无法作答 otherwise) F1 32.7 / EM 26.3. The bars sit
# 13 points under the worst of these runs.
MIN_F1 = 42.0
MIN_EM = 33.0
MIN_MARGIN_OVER_BASELINES = 20.0  # over every answer 无法作答 and sentence overlap
MIN_MARGIN_OVER_PRIOR = 8.0
MIN_EXTRACTIVE_EXACT = 0.2

# Generating an answer is learnt far more slowly than pointing at it (run_coqa.py), so the
# task is smaller than in test_run_coqa_learning.py. On its default dialogues this model
# scored F1 33-42 after 1500-4000 steps, no better than the question-kind prior there (35),
# and 63 only after 8000 steps (6 minutes). Here: two people and two to four sentences per
# passage (sources of about 70 tokens, not 115), the question alone as the source's history
# (with QAQAFQ the current question must first be found at the end of the history: F1 43
# against 54 with the same data and steps), so no pronoun questions, which it could not
# resolve. Batch 64 for 1500 steps rather than 32 for 3000: as fast, and of seven
# initialisations with batch 32 one stayed near the prior (F1 48) where batch 64 gave 67;
# batch 48 for 1500 steps kept the scores of batch 64.
DATA = SyntheticConfig(max_people=2, min_sentences=2, max_sentences=4, coreference_prob=0.0)
HISTORY_FORMAT = "question_only"


def _overall(data_file, predictions, path):
    path.write_text(json.dumps(predictions, ensure_ascii=False), encoding="utf-8")
    return evaluate_files(data_file, path)["overall"]


def _answer_every_turn(dev, answer_of):
    return [{"id": str(d["id"]), "turn_id": q["turn_id"], "answer": answer_of(q["input_text"])}
            for d in dev["data"] for q in d["Questions"]]


def test_tiny_unilm_learns_synthetic_dialogues(tmp_path):
    train_file, dev_file = tmp_path / "train.json", tmp_path / "dev.json"
    write_dataset(train_file, 2000, seed=1, config=DATA)
    dev = write_dataset(dev_file, 40, seed=2, config=DATA)
    model_dir = write_tiny_bert(tmp_path / "tiny", dialogue_texts([str(train_file), str(dev_file)]),
                                # No dropout: it costs CPU time, and with 2000 dialogues
                                # seen about seven times there is nothing to regularise.
                                TinyBertConfig(hidden_size=64, num_hidden_layers=2,
                                               num_attention_heads=2, intermediate_size=128,
                                               dropout=0.0))

    unknown = _overall(dev_file, _answer_every_turn(dev, lambda question: UNKNOWN_TEXT),
                       tmp_path / "unknown_predictions.json")
    overlap = _overall(dev_file, overlap_predict(str(dev_file)),
                       tmp_path / "overlap_predictions.json")
    # A model that learnt only the kind of question, not the passage, scores this.
    prior = _overall(dev_file, _answer_every_turn(
        dev, lambda question: YES_TEXT if question.endswith("吗？") else UNKNOWN_TEXT),
        tmp_path / "prior_predictions.json")

    model_out = tmp_path / "model"
    train_argv = ["--train_file", str(train_file), "--output_dir", str(model_out),
                  "--model_type", "bert", "--model_name_or_path", str(model_dir),
                  "--cache_dir", str(tmp_path / "cache"), "--history_format", HISTORY_FORMAT,
                  # 192 is about the least the fixed 128-token window stride and 60-token
                  # history allow; batches are padded to their longest source (about 90).
                  "--max_source_seq_length", "192", "--max_target_seq_length", "16",
                  "--per_gpu_train_batch_size", "48", "--learning_rate", "2e-3",
                  "--num_warmup_steps", "50", "--num_training_steps", "1200",
                  "--label_smoothing", "0", "--logging_steps", "500", "--save_steps", "0",
                  "--seed", "42"]
    predictions = tmp_path / "predictions_dev.json"
    # No --history_format: decoding takes the one the model was trained with
    # (preprocessing_config.json).
    decode_argv = ["--do_decode", "--do_eval", "--model_path", str(model_out),
                   "--input_file", str(dev_file), "--output_file", str(predictions),
                   "--cache_dir", str(tmp_path / "cache"),
                   "--beam_size", "1", "--max_tgt_length", "16", "--batch_size", "64"]
    start = time.perf_counter()
    assert run_seq2seq.main(train_argv) == 0
    assert run_seq2seq.main(decode_argv) == 0
    seconds = time.perf_counter() - start
    model = json.loads((tmp_path / "eval_results_dev.json").read_text(encoding="utf-8"))["overall"]
    answers = {(p["id"], p["turn_id"]): p["answer"]
               for p in json.loads(predictions.read_text(encoding="utf-8"))}
    extractive = [answers[str(d["id"]), a["turn_id"]] == a["input_text"]
                  for d in dev["data"] for a in d["Answers"] if answer_kind(a) == EXTRACTIVE]
    print(f"model {model} ({sum(extractive)}/{len(extractive)} extractive answers exact) "
          f"in {seconds:.0f} s; every answer {UNKNOWN_TEXT}: {unknown}; "
          f"sentence overlap: {overlap}; question-kind prior: {prior}")

    assert model["turns"] == unknown["turns"] == overlap["turns"] == prior["turns"] > 200
    assert unknown["f1"] < 25 and overlap["f1"] < 25 and prior["f1"] < 45  # as trivial as we think
    # It copies values out of the passage, which none of the baselines does exactly.
    assert sum(extractive) / len(extractive) >= MIN_EXTRACTIVE_EXACT
    assert model["f1"] >= MIN_F1
    assert model["em"] >= MIN_EM
    assert model["f1"] >= max(unknown["f1"], overlap["f1"]) + MIN_MARGIN_OVER_BASELINES
    assert model["f1"] >= prior["f1"] + MIN_MARGIN_OVER_PRIOR
