"""Command-line flags of run_seq2seq.py's two programs, and how a command line picks one.

- fine-tuning (`fine_tune_parser`): UniLM s2s-ft's run_seq2seq.py flags with their
  defaults, plus ours;
- decoding (`decode_parser`): every flag of the old decode_seq2seq.py (those with no
  counterpart here are accepted and named in the log as ignored), plus ours.

A command line decodes with --do_decode, or with --model_path and --input_file but no
--train_file (as decode_seq2seq.py ran); otherwise it fine-tunes. Nothing here imports
torch: a typo is answered at once.
"""
from __future__ import annotations

import argparse
from typing import List, Optional, Sequence

from coqa.cli import OneLineParser, UsageError, add_optimizer_flags, add_resume_flags, add_system_flags
from coqa.data.history import HISTORY_CHOICES
from seq2seq.config import DEFAULT_HISTORY_FORMAT, HISTORY_FORMATS

FINE_TUNE, DECODE = "fine-tune", "decode"
MODEL_TYPES = ("unilm", "bert", "roberta", "minilm")
# seq2seq.model.MASK_WAYS and seq2seq.decoding.DECODE_METHODS, spelled out so that parsing
# imports no torch (tests/seq2seq/test_arguments.py keeps them equal).
MASK_WAYS = ("pseudo", "teacher_forcing")
DECODE_METHODS = ("kv_cache", "hidden_states", "recompute")
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
HOW_TO_CHOOSE = ("python run_seq2seq.py --do_train --help lists the fine-tuning flags, "
                 "python run_seq2seq.py --do_decode --help the decoding flags")


def _model_flags(parser: argparse.ArgumentParser, decoding: bool) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--model_type", choices=MODEL_TYPES, default="unilm",
                       help="backbone family: accepted and ignored (the folder's config decides)")
    if not decoding:
        group.add_argument("--model_name_or_path", default=None,
                           help="local folder: config.json, vocab and weights (transformers "
                                "format or a legacy pytorch_model.bin)")
        group.add_argument("--config_name", default=None,
                           help="accepted for compatibility and ignored (the config.json of "
                                "model_name_or_path is used)")
    group.add_argument("--tokenizer_name", default=None,
                       help="tokenizer folder if not the model folder")
    group.add_argument("--cache_dir", default=None,
                       help="where to keep feature caches; without it: next to --train_file "
                            "when fine-tuning (--output_dir/cache when that folder is "
                            "read-only), next to --output_file when decoding")
    group.add_argument("--do_lower_case", action="store_true",
                       help="lower-case input (the tokenizer folder's setting otherwise; "
                            "lower-casing a folder saved cased is said in one line)")
    if not decoding:
        group.add_argument("--mask_way", choices=MASK_WAYS, default="pseudo",
                           help="s2s-ft pseudo-mask objective, or plain teacher forcing")


def _source_flags(group, decoding: bool) -> None:
    """How a dialogue turn becomes a source. Decoding uses the settings the model was
    trained with unless a flag is given (it then wins, with a warning)."""
    trained = "; decoding: the model's" if decoding else ""
    group.add_argument("--history_format", choices=HISTORY_FORMATS, default=None,
                       help=f"how previous turns form the source (default {DEFAULT_HISTORY_FORMAT}"
                            f"{trained})")
    group.add_argument("--history_tokens", "--max_query_length", dest="history_tokens",
                       type=int, default=None,
                       help=f"history + question keeps its last N tokens (dialogue files; "
                            f"default min(60, (source length - 3) // 2){trained})")
    group.add_argument("--history_turns", "--history_len", dest="history_turns", type=int,
                       default=None, help=f"previous turns in the history (default 2{trained})")
    group.add_argument("--window_stride", "--doc_stride", dest="window_stride", type=int,
                       default=None,
                       help=f"tokens between the starts of two passage windows (dialogue "
                            f"files; default min(128, half the shortest window){trained})")
    group.add_argument("--skip_invalid", action="store_true", help="skip (and report) invalid turns")


def _data_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data")
    group.add_argument("--train_file", default=None,
                       help="ConvQA_CN / CoQA JSON, or JSON lines with src and tgt")
    group.add_argument("--cached_train_features_file", default=None,
                       help="folder for the training feature cache (default: next to the data)")
    group.add_argument("--max_source_seq_length", type=int, default=464, help="source tokens")
    group.add_argument("--max_target_seq_length", type=int, default=48,
                       help="target tokens incl. [SEP]")
    _source_flags(group, decoding=False)


def _train_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("train")
    group.add_argument("--do_train", action="store_true",
                       help="fine-tune (the default without --do_decode; selects this --help)")
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
    group.add_argument("--num_warmup_steps", type=int, default=0,
                       help="linear warm-up steps (or --warmup_ratio, not both)")
    group.add_argument("--random_prob", type=float, default=0.1, help="pseudo token: random token")
    group.add_argument("--keep_prob", type=float, default=0.1, help="pseudo token: true token")
    group.add_argument("--logging_steps", type=int, default=500, help="steps between log lines")
    group.add_argument("--save_steps", type=int, default=1500, help="steps between checkpoints")
    group.add_argument("--seed", type=int, default=42, help="random seed")
    add_resume_flags(group)


def _decode_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("decode")
    group.add_argument("--do_decode", action="store_true",
                       help="decode --input_file with --model_path (implied by those two "
                            "without --train_file, as decode_seq2seq.py ran)")
    group.add_argument("--do_eval", action="store_true", help="score the decoded answers")
    group.add_argument("--model_path", default=None,
                       help="trained model folder: ours (the output_dir or a checkpoint-N) or "
                            "s2s-ft's ckpt-N")
    group.add_argument("--config_path", default=None,
                       help="encoder config.json, if not the one in --model_path")
    group.add_argument("--max_seq_length", type=int, default=None,
                       help="source + target tokens, as decode_seq2seq.py: sources keep "
                            "max_seq_length - max_tgt_length tokens (default: the source length "
                            "the model was trained with)")
    group.add_argument("--input_file", default=None, help="ConvQA_CN / CoQA JSON or JSON lines")
    group.add_argument("--output_file", default=None, help="predictions JSON to write")
    group.add_argument("--split", default="dev", help="name used in output file names")
    group.add_argument("--seed", type=int, default=42, help="random seed")
    group.add_argument("--history_source", choices=HISTORY_CHOICES, default=None,
                       help="history in each dialogue source: the gold answers of the turns "
                            "before it, the model's own (predicted, decoded turn by turn "
                            "across dialogues), or both side by side; default gold, predicted "
                            "for an input_file without Answers")
    _source_flags(group, decoding=True)
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
    group.add_argument("--decode_method", choices=DECODE_METHODS, default="kv_cache",
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


def fine_tune_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="run_seq2seq.py", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="UniLM-style seq2seq fine-tuning of free-form conversational answers. "
                    "Every flag of s2s-ft's run_seq2seq.py is accepted. The saved model "
                    "remembers its source settings (preprocessing_config.json); decoding "
                    "uses them. Decoding is the other program: " + HOW_TO_CHOOSE + ".")
    for add in (lambda p: _model_flags(p, decoding=False), _data_flags, _train_flags,
                add_system_flags):
        add(parser)
    return parser


def decode_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="run_seq2seq.py --do_decode", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Key/value-cached greedy / beam decoding of free-form conversational "
                    "answers with a model run_seq2seq.py trained (or an s2s-ft ckpt-N). Every "
                    "flag of the old decode_seq2seq.py is accepted; those with no meaning here "
                    "are listed last and named in the log as ignored. Sources are built as the "
                    "model was trained (its preprocessing_config.json); a history or length "
                    "flag given explicitly wins, with a warning.")
    for add in (lambda p: _model_flags(p, decoding=True), _decode_flags, add_system_flags,
                _ignored_flags):
        add(parser)
    return parser


def dispatcher_help() -> str:
    return ("usage: run_seq2seq.py [FLAGS]\n\n"
            "UniLM-style seq2seq for conversational QA: two programs behind one script.\n\n"
            "  fine-tuning (the default): s2s-ft's run_seq2seq.py flags, e.g.\n"
            "    python run_seq2seq.py --train_file F --model_name_or_path DIR --output_dir OUT\n"
            "  decoding: --do_decode, or --model_path and --input_file without --train_file\n"
            "    (decode_seq2seq.py's flags), e.g.\n"
            "    python run_seq2seq.py --model_path OUT --input_file F --output_file P.json\n\n"
            f"Each program has its own flags: {HOW_TO_CHOOSE}.\n")


def _given(argv: Sequence[str]) -> set:
    """The flag names (before any `=value`) of argv, up to a `--`."""
    names = set()
    for token in argv:
        if token == "--":
            break
        if token.startswith("-"):
            names.add(token.split("=", 1)[0])
    return names


def mode_of(argv: Sequence[str]) -> Optional[str]:
    """DECODE or FINE_TUNE for this command line; None for a bare --help (the dispatcher's
    own). Flags are matched by their full names, as the old scripts' users wrote them."""
    given = _given(argv)
    if "--do_decode" in given and "--do_train" in given:
        return DECODE  # the decode parser refuses --do_train, naming it
    if "--do_decode" in given or ({"--model_path", "--input_file"} <= given
                                  and "--train_file" not in given):
        return DECODE
    chosen = given & {"--do_train", "--train_file", "--model_path", "--input_file"}
    if given & {"-h", "--help"} and not chosen:
        return None
    return FINE_TUNE


def parser_for(mode: str) -> argparse.ArgumentParser:
    return decode_parser() if mode == DECODE else fine_tune_parser()


def parse_mode_args(mode: str, argv: Sequence[str]) -> argparse.Namespace:
    """The flags of `mode`'s program; a flag that only the other program knows is one line
    saying so."""
    parser = parser_for(mode)
    args, extra = parser.parse_known_args(argv)
    if extra:
        other = parser_for(FINE_TUNE if mode == DECODE else DECODE)
        known = other._option_string_actions  # every option string of the other program
        for name in (token.split("=", 1)[0] for token in extra if token.startswith("--")):
            if name in known:
                what = "a fine-tuning" if mode == DECODE else "a decoding"
                doing = ("this command decodes (--do_decode, or --model_path and --input_file "
                         "without --train_file)" if mode == DECODE else
                         "this command fine-tunes (decoding needs --do_decode, or --model_path "
                         "and --input_file without --train_file)")
                parser.error(f"{name} is {what} flag, and {doing}")
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


# The flags each program cannot run without (checked before torch is imported).
REQUIRED = {DECODE: ("model_path", "input_file", "output_file"),
            FINE_TUNE: ("train_file", "output_dir", "model_name_or_path")}


def check_required(mode: str, args: argparse.Namespace) -> None:
    """One line naming the first required flag of `mode` that is missing."""
    for flag in REQUIRED[mode]:
        if not getattr(args, flag):
            what = ("decoding (see run_seq2seq.py --do_decode --help)" if mode == DECODE else
                    "fine-tuning (decoding: --do_decode; see run_seq2seq.py --help)")
            raise UsageError(f"--{flag} is required for {what}")
