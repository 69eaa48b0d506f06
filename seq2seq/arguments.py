"""Command-line flags of run_seq2seq.py: UniLM s2s-ft's run_seq2seq.py training flags with
their defaults, every flag of the old decode_seq2seq.py (those with no counterpart here are
accepted and named in the log as ignored), and the new ones."""
from __future__ import annotations

import argparse
from typing import List

from coqa.data.history import HISTORY_CHOICES
from coqa.cli import OneLineParser, add_optimizer_flags, add_resume_flags, add_system_flags
from seq2seq.config import HISTORY_FORMATS
from seq2seq.decoding import DECODE_METHODS
from seq2seq.model import MASK_WAYS

MODEL_TYPES = ("unilm", "bert", "roberta", "minilm")
# decode_seq2seq.py flags that mean nothing here, and why.
IGNORED_DECODE_FLAGS = {
    "amp": "apex AMP (use --fp16 or --bf16)",
    "tokenized_input": "token lists in the input are recognised as such",
    "need_score_traces": "no pickled beam traces (--nbest writes scores and n-best lists)",
    "s2s_special_token": "UniLM v1 [S2S_SEP]/[S2S_CLS] tokens",
    "s2s_add_segment": "UniLM v1 extra segments",
    "s2s_share_segment": "UniLM v1 extra segments",
    "pos_shift": "position-shifted models (s2s-ft fine-tuning never makes them)",
}


def _model_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--model_type", choices=MODEL_TYPES, default="unilm",
                       help="backbone family: accepted and ignored (the folder's config decides)")
    group.add_argument("--model_name_or_path", default=None,
                       help="local folder: config.json, vocab and weights (transformers format "
                            "or a legacy pytorch_model.bin)")
    group.add_argument("--config_name", default=None,
                       help="accepted for compatibility and ignored (the config.json of "
                            "model_name_or_path is used)")
    group.add_argument("--tokenizer_name", default=None, help="tokenizer folder if not model_name_or_path")
    group.add_argument("--cache_dir", default=None, help="where to keep feature caches")
    group.add_argument("--do_lower_case", action="store_true",
                       help="lower-case input (the tokenizer folder's setting otherwise)")
    group.add_argument("--mask_way", choices=MASK_WAYS, default="pseudo",
                       help="s2s-ft pseudo-mask objective, or plain teacher forcing")


def _data_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data")
    group.add_argument("--train_file", default=None,
                       help="ConvQA_CN / CoQA JSON, or JSON lines with src and tgt")
    group.add_argument("--cached_train_features_file", default=None,
                       help="folder for the training feature cache (default: next to the data)")
    group.add_argument("--max_source_seq_length", type=int, default=464, help="source tokens")
    group.add_argument("--max_target_seq_length", type=int, default=48, help="target tokens incl. [SEP]")
    group.add_argument("--history_format", choices=HISTORY_FORMATS, default=None,
                       help="how previous turns form the source (training default QAQAFQ; "
                            "decoding default: the format the model was trained with)")
    group.add_argument("--skip_invalid", action="store_true", help="skip (and report) invalid turns")
    group.add_argument("--history_tokens", type=int, default=None,
                       help="history + question keeps its last N tokens (dialogue files; default "
                            "min(60, (source length - 3) // 2); decoding: the model's)")
    group.add_argument("--history_turns", type=int, default=None,
                       help="previous turns in the history (default 2; decoding: the model's)")
    group.add_argument("--window_stride", type=int, default=None,
                       help="tokens between the starts of two passage windows (dialogue files; "
                            "default min(128, half the shortest window); decoding: the model's)")


def _train_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("train")
    group.add_argument("--output_dir", default=None, help="checkpoints and logs")
    group.add_argument("--overwrite_output_dir", action="store_true",
                       help="train into a non-empty output_dir (its model is replaced)")
    group.add_argument("--log_dir", default=None,
                       help="accepted for compatibility and ignored (TensorBoard writes to "
                            "output_dir/runs)")
    add_optimizer_flags(group, learning_rate=5e-5)
    group.add_argument("--label_smoothing", type=float, default=0.1, help="label smoothing")
    group.add_argument("--num_training_steps", type=int, default=-1, help="steps; overrides epochs")
    group.add_argument("--num_training_epochs", type=int, default=10, help="epochs")
    group.add_argument("--num_warmup_steps", type=int, default=0, help="linear warmup steps")
    group.add_argument("--random_prob", type=float, default=0.1, help="pseudo token: random token")
    group.add_argument("--keep_prob", type=float, default=0.1, help="pseudo token: true token")
    group.add_argument("--logging_steps", type=int, default=500, help="steps between log lines")
    group.add_argument("--save_steps", type=int, default=1500, help="steps between checkpoints")
    group.add_argument("--seed", type=int, default=42, help="random seed")
    add_resume_flags(group)


def _decode_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("decode (--do_decode)")
    group.add_argument("--history_source", choices=HISTORY_CHOICES, default=None,
                       help="history in each dialogue source: the gold answers of the turns "
                            "before it, the model's own (predicted, decoded turn by turn "
                            "across dialogues), or both side by side; default gold, predicted "
                            "for an input_file without Answers")
    group.add_argument("--do_decode", action="store_true",
                       help="decode --input_file with --model_path (implied by those two "
                            "without --train_file, as decode_seq2seq.py ran)")
    group.add_argument("--do_eval", action="store_true", help="score the decoded answers")
    group.add_argument("--model_path", default=None,
                       help="trained model folder: ours (checkpoint-N) or s2s-ft's ckpt-N")
    group.add_argument("--config_path", default=None,
                       help="encoder config.json, if not the one in --model_path")
    group.add_argument("--max_seq_length", type=int, default=None,
                       help="source + target tokens, as decode_seq2seq.py: sources keep "
                            "max_seq_length - max_tgt_length tokens (default: the length the "
                            "model was trained with)")
    group.add_argument("--input_file", default=None, help="ConvQA_CN / CoQA JSON or JSON lines")
    group.add_argument("--output_file", default=None, help="predictions JSON to write")
    group.add_argument("--split", default="dev", help="name used in output file names")
    group.add_argument("--batch_size", type=int, default=4, help="sources per decoding batch")
    group.add_argument("--beam_size", type=int, default=1, help="beam width (1 = greedy)")
    group.add_argument("--length_penalty", type=float, default=0.0, help="length penalty alpha")
    group.add_argument("--min_len", type=int, default=1, help="shortest answer, in tokens")
    group.add_argument("--forbid_duplicate_ngrams", action="store_true", help="block repeated n-grams")
    group.add_argument("--ngram_size", type=int, default=3, help="n of the blocked n-grams")
    group.add_argument("--forbid_ignore_word", default=None,
                       help="'|'-separated tokens exempt from n-gram blocking")
    group.add_argument("--max_tgt_length", type=int, default=48, help="longest decoded answer")
    group.add_argument("--subset", type=int, default=0, help="decode only the first N (0: all)")
    group.add_argument("--nbest", action="store_true", help="also write n-best lists and scores")
    group.add_argument("--do_rule", action="store_true",
                       help="an answer found in its passage is written as the passage spells "
                            "it (case, accents, spacing between Latin words)")
    group.add_argument("--mode", choices=("s2s", "l2r", "both"), default="s2s",
                       help="decode_seq2seq.py's attention mode; only s2s exists here")
    group.add_argument("--decode_method", choices=DECODE_METHODS,
                       default="kv_cache",
                       help="how each step is computed (same tokens): key/value cache, "
                            "s2s-ft's hidden states, or full recomputation")


def _ignored_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "decode_seq2seq.py flags with no counterpart here (accepted, named once in the log "
        "as ignored)")
    for name, why in IGNORED_DECODE_FLAGS.items():
        group.add_argument(f"--{name}", action="store_true", help=f"ignored: {why}")


def ignored_flags(args: argparse.Namespace) -> List[str]:
    """The ignored decode_seq2seq.py flags that this command line sets."""
    return [f"--{name}" for name in IGNORED_DECODE_FLAGS if getattr(args, name)]


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="run_seq2seq.py", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="UniLM-style seq2seq fine-tuning (default) and beam-search decoding "
                    "(--do_decode, or --model_path and --input_file without --train_file) of "
                    "free-form conversational answers. Every flag of s2s-ft's run_seq2seq.py "
                    "and of the old decode_seq2seq.py is accepted; those with no meaning here "
                    "are listed last and named in the log as ignored.")
    for add in (_model_flags, _data_flags, _train_flags, _decode_flags, add_system_flags,
                _ignored_flags):
        add(parser)
    return parser
