"""Command-line flags of run_coqa.py: every flag of the old transformers-coqa script, with
its default, plus the new ones. Grouped for `--help`; converted once into typed configs."""
from __future__ import annotations

import argparse

from coqa.cli import OneLineParser, add_optimizer_flags, add_resume_flags, add_system_flags
from coqa.data.history import HISTORY_CHOICES
from coqa.extractive.config import MIDDLE_KINDS
from coqa.extractive.history_marks import HISTORY_ENCODINGS
from coqa.extractive.labels import OUTSIDE_WINDOW_LABELS
from coqa.extractive.postprocess import NULL_SCORE_REDUCE
from coqa.train.config import ADVERSARIAL_METHODS


def _model_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--model_type", required=True, help="backbone family (bert, roberta, "
                       "macbert, electra...): accepted and ignored, the folder's config decides")
    group.add_argument("--model_name_or_path", required=True,
                       help="local folder with config.json, vocab and (optionally) weights")
    group.add_argument("--config_name", default="", help="config folder if not model_name_or_path")
    group.add_argument("--tokenizer_name", default="", help="tokenizer folder if not model_name_or_path")
    group.add_argument("--cache_dir", default="", help="where to keep feature caches; "
                       "empty: the data file's folder, or OUTPUT_DIR/cache when that folder "
                       "is read-only")
    group.add_argument("--middle", choices=MIDDLE_KINDS, default="none",
                       help="layer between encoder and heads")
    group.add_argument("--exact_match", action=argparse.BooleanOptionalAction, default=False,
                       help="add a learned, zero-initialised embedding of each token's "
                            "exact-match flag (does its id occur in the question / in the "
                            "window) to its word embedding, as DrQA did. Use it for encoders "
                            "trained from scratch (tiny models: it is what lets them learn "
                            "yes / no); off by default, so that the old command lines build "
                            "the old model (a saved model keeps its own setting)")
    group.add_argument("--rtransformer_bidirectional", action="store_true",
                       help="R-Transformer self-attention sees both sides (default causal)")
    group.add_argument("--do_lower_case", action="store_true",
                       help="lower-case the text (without it: the tokenizer folder's own "
                            "setting; lower-casing a folder saved cased is said in one line)")


def _data_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data")
    group.add_argument("--data_dir", default=None, help="folder holding train_file / predict_file")
    group.add_argument("--train_file", default=None, help="ConvQA_CN v3.0 or CoQA JSON to train on")
    group.add_argument("--predict_file", default=None, help="JSON to evaluate / predict on")
    group.add_argument("--max_seq_length", type=int, default=512, help="tokens per feature")
    group.add_argument("--doc_stride", type=int, default=128,
                       help="tokens between the starts of consecutive passage windows")
    group.add_argument("--max_query_length", type=int, default=64,
                       help="tokens of history + question (the tail is kept)")
    group.add_argument("--history_len", type=int, default=2,
                       help="previous turns the model sees (in the query, or marked in the "
                            "passage: --history_encoding)")
    group.add_argument("--history_encoding", choices=HISTORY_ENCODINGS, default="concat",
                       help="how the previous turns are shown: concat (their questions and "
                            "answers joined before the question), hae (the query is the "
                            "question alone; a learned, zero-initialised embedding of how many "
                            "turns ago a passage token was an answer is added to its word "
                            "embedding: Qu et al. 2019), markers (the query is the question "
                            "alone; marker tokens [A1] ... [/A1] around the previous answers in "
                            "the passage, numbered by turn distance: MarCQAp). A saved model "
                            "keeps its own; docs/MODEL.md 'History encodings'")
    group.add_argument("--outside_window", choices=OUTSIDE_WINDOW_LABELS, default="cls",
                       help="training label of a passage window that does not hold the answer "
                            "span: cls (the CLS token's span, as Hugging Face's run_qa.py: "
                            "'not in this window', kept apart from 无法作答, which is then "
                            "learned from unanswerable turns only), or unknown (无法作答, as the "
                            "old scripts: every such window teaches 'cannot be answered'; on "
                            "real passages the model then answers 无法作答 to everything, "
                            "docs/MODEL.md 'Real encoder')")
    group.add_argument("--threads", type=int, default=1, help="processes for preprocessing")
    group.add_argument("--overwrite_cache", action="store_true", help="rebuild cached features")
    group.add_argument("--skip_invalid", action="store_true",
                       help="skip (and report) invalid turns instead of stopping")


def _train_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("train")
    group.add_argument("--do_train", action="store_true", help="fine-tune on train_file")
    group.add_argument("--output_dir", required=True, help="checkpoints, predictions, logs")
    group.add_argument("--overwrite_output_dir", action="store_true",
                       help="train into a non-empty output_dir")
    add_optimizer_flags(group, learning_rate=3e-5)
    group.add_argument("--num_train_epochs", type=float, default=2.0, help="epochs")
    group.add_argument("--max_steps", type=int, default=-1, help="optimizer steps; overrides epochs")
    group.add_argument("--warmup_steps", type=int, default=2000, help="linear warmup steps")
    group.add_argument("--logging_steps", type=int, default=50, help="steps between log lines")
    group.add_argument("--save_steps", type=int, default=5000, help="steps between checkpoints")
    group.add_argument("--seed", type=int, default=42, help="random seed")
    add_resume_flags(group)
    group.add_argument("--adversarial", action="store_true",
                       help="adversarial training on the word embeddings (FGM by default)")
    group.add_argument("--adversarial_method", choices=[m for m in ADVERSARIAL_METHODS if m], default="fgm",
                       help="FGM (one extra pass) or PGD (pgd_steps extra passes)")
    group.add_argument("--adversarial_epsilon", type=float, default=1.0, help="perturbation size")
    group.add_argument("--pgd_steps", type=int, default=3, help="PGD steps K")


def _eval_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("eval")
    group.add_argument("--do_eval", action="store_true", help="predict and score predict_file")
    group.add_argument("--do_predict", action="store_true",
                       help="predict answers for predict_file (gold answers not needed), no scoring")
    group.add_argument("--evaluate_during_training", action="store_true",
                       help="evaluate at every checkpoint")
    group.add_argument("--eval_all_checkpoints", action="store_true",
                       help="evaluate every checkpoint-N in output_dir too")
    group.add_argument("--per_gpu_eval_batch_size", type=int, default=8, help="batch per device")
    group.add_argument("--n_best_size", type=int, default=20, help="candidates kept per answer")
    group.add_argument("--max_answer_length", type=int, default=30, help="longest span, in tokens")
    group.add_argument("--null_score_reduce", choices=NULL_SCORE_REDUCE, default="min",
                       help="how a turn's unknown (无法作答) score combines over its passage "
                            "windows: min, as the old coqa_metrics.py (windows without the "
                            "span are trained as unknown), or max; yes / no always take the max")
    group.add_argument("--null_score_diff_threshold", type=float, default=0.0,
                       help="answer 无法作答 when its score minus the best other answer's is "
                            "above this (as Hugging Face's run_qa.py): higher answers 无法作答 "
                            "less often; 0 keeps 'the best candidate wins'. --do_eval reports "
                            "the best one on the dev file (best_f1_thresh in eval_results.json). "
                            "An inference setting: not saved with the model")
    group.add_argument("--max_context_only", action=argparse.BooleanOptionalAction, default=False,
                       help="a span may start only at a token of the window where that token "
                            "has the most context (the old token_is_max_context)")
    group.add_argument("--history_source", choices=HISTORY_CHOICES, default=None,
                       help="history of each turn at prediction: the gold answers of the turns "
                            "before it, the model's own (predicted, turn by turn across "
                            "dialogues), or both side by side; default gold, predicted for a "
                            "predict_file without Answers")
    group.add_argument("--verbose_logging", action="store_true",
                       help="accepted for compatibility and ignored (the log is always the same)")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="run_coqa.py", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Extractive conversational QA: BERT-family encoder, optional BiLSTM / "
                    "R-Transformer middle layer, span and yes / no / unknown heads.")
    for add in (_model_flags, _data_flags, _train_flags, _eval_flags, add_system_flags):
        add(parser)
    return parser
