#!/usr/bin/env python
"""UniLM-style seq2seq for conversational QA: fine-tune (default) or decode (--do_decode).

Training flags are those of UniLM s2s-ft's run_seq2seq.py; decoding flags those of its
decode_seq2seq.py (decoding is implied by --model_path and --input_file without
--train_file, so the old decode command runs as it was). Reads top to bottom: parse, set
up, data, model, train or decode, save.
"""
from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import torch

from coqa.cli import (UsageError, check_input_file, check_output_file, check_resume,
                      exit_on_bad_input, precision_from, prepare_output_dir, setup_logging,
                      train_config_from)
from coqa.data.cache import choose_cache_dir
from coqa.data.files import write_json
from coqa.data.folders import encoder_max_positions, load_tokenizer
from coqa.train.checkpoints import model_saver, save_final
from coqa.train.distributed import barrier, cleanup_distributed, init_distributed, log_level
from coqa.train.config import TrainConfig
from coqa.train.loop import train
from coqa.train.optim import count_parameters
from coqa.train.rng import set_seed
from seq2seq.arguments import build_parser, ignored_flags
from seq2seq.config import SourceConfig
from seq2seq.decoding import DecodeConfig, resolve_ignore_ids
from seq2seq.examples import load_or_build_examples, log_examples
from seq2seq.model import Seq2SeqConfig
from seq2seq.predicted import HistoryRun, decode_with_histories, history_sources_for
from seq2seq.steps import (check_lengths, decode_answers, load_seq2seq_model, read_trained_args,
                           training_set, write_answers)

logger = logging.getLogger("run_seq2seq")
DEFAULT_HISTORY = "QAQAFQ"
# TrainConfig fields under their s2s-ft flag names, for resume-mismatch messages.
TRAIN_FLAG_NAMES = {"warmup_steps": "--num_warmup_steps", "max_steps": "--num_training_steps",
                    "num_train_epochs": "--num_training_epochs (0: set by --num_training_steps)"}
REQUIRED = {"train": ("train_file", "output_dir", "model_name_or_path"),
            "decode": ("model_path", "input_file", "output_file")}


@dataclass(frozen=True)
class FineTuneRun:
    """What fine_tune reads, checked once from the flags (see `fine_tune_run`)."""

    train_file: str
    output_dir: str
    init_model: str            # --resume_from_checkpoint, else --model_name_or_path
    resuming: bool
    overwrite_output_dir: bool
    cache_dir: str
    skip_invalid: bool
    seed: int
    source: SourceConfig
    model: Seq2SeqConfig
    train: TrainConfig


def fine_tune_run(args, args_dict: dict, tokenizer) -> FineTuneRun:
    """The training flags as typed configs; a bad one is a one-line error before any work."""
    check_input_file(args.train_file, "--train_file")
    source = SourceConfig(max_source_seq_length=args.max_source_seq_length,
                          max_target_seq_length=args.max_target_seq_length,
                          history_format=args_dict["history_format"],
                          max_query_length=args.history_tokens, doc_stride=args.window_stride,
                          history_len=2 if args.history_turns is None else args.history_turns)
    model_config = Seq2SeqConfig(
        max_source_length=args.max_source_seq_length, max_target_length=args.max_target_seq_length,
        mask_way=args.mask_way, label_smoothing=args.label_smoothing, keep_prob=args.keep_prob,
        random_prob=args.random_prob, mask_token_id=tokenizer.mask_token_id,
        sep_token_id=tokenizer.sep_token_id)
    epochs = args.num_training_epochs if args.num_training_steps <= 0 else 0
    train_config = train_config_from(
        args, precision_from(args, torch.cuda.is_available()), num_train_epochs=float(epochs),
        max_steps=args.num_training_steps, warmup_steps=args.num_warmup_steps)
    check_resume(train_config, TRAIN_FLAG_NAMES)
    return FineTuneRun(
        train_file=args.train_file, output_dir=args.output_dir,
        init_model=args.resume_from_checkpoint or args.model_name_or_path,
        resuming=bool(args.resume_from_checkpoint), overwrite_output_dir=args.overwrite_output_dir,
        cache_dir=choose_cache_dir(args.cached_train_features_file or args.cache_dir,
                                   args.train_file, args.output_dir),
        skip_invalid=args.skip_invalid, seed=args.seed, source=source, model=model_config,
        train=train_config)


def fine_tune(run: FineTuneRun, args_dict: dict, dist, tokenizer) -> None:
    """Train on the training file and save the model into the output folder."""
    output_dir = prepare_output_dir(run.output_dir, True, run.overwrite_output_dir, run.resuming)
    barrier(dist)
    if dist.is_main:
        write_json(output_dir / "args.json", args_dict)
    model = load_seq2seq_model(run.init_model, run.model, trained=run.resuming)
    logger.info("Total parameter number: %d", count_parameters(model))
    if not dist.is_main:
        barrier(dist)
    data = load_or_build_examples(run.train_file, tokenizer, run.source, True, run.cache_dir,
                                  skip_invalid=run.skip_invalid)
    if dist.is_main:
        barrier(dist)
    log_examples(data, tokenizer, count=3)
    model.to(dist.device)
    save_model = model_saver(tokenizer, args_dict)
    train(model, training_set(data, model, run.seed), run.train, save_model, dist=dist)
    if dist.is_main:
        save_final(save_model, model, output_dir)


@dataclass(frozen=True)
class DecodeRun:
    """What decode_file reads, checked once from the flags (see `decode_run`)."""

    model_path: str
    config_path: Optional[str]
    cache_dir: str
    skip_invalid: bool
    history_source: Optional[str]
    half: bool
    max_seq_length: Optional[int]
    # History flags given on the command line (None: the model's args.json, else defaults).
    history_turns: Optional[int]
    history_format: Optional[str]
    history_tokens: Optional[int]
    window_stride: Optional[int]
    fallback: Seq2SeqConfig    # an s2s-ft ckpt-N folder has no seq2seq_config.json
    decode: DecodeConfig
    files: HistoryRun


def decode_run(args, dist, tokenizer) -> DecodeRun:
    """The decoding flags as typed configs. Every flag and path is checked before the model
    is loaded: no decoding is lost."""
    check_input_file(args.input_file, "--input_file")
    check_output_file(args.output_file, "--output_file")
    if args.batch_size < 1:
        raise UsageError(f"--batch_size must be at least 1, got {args.batch_size}")
    if args.subset < 0:
        raise UsageError(f"--subset must be >= 0 (0: every example), got {args.subset}")
    if args.min_len > args.max_tgt_length:
        raise UsageError(f"--min_len {args.min_len} is above --max_tgt_length "
                         f"{args.max_tgt_length}: no answer could be that long")
    config = DecodeConfig(beam_size=args.beam_size, max_tgt_length=args.max_tgt_length,
                          min_len=args.min_len, length_penalty=args.length_penalty,
                          forbid_duplicate_ngrams=args.forbid_duplicate_ngrams,
                          ngram_size=args.ngram_size, forbid_ignore_word=args.forbid_ignore_word,
                          method=args.decode_method)
    if args.mode != "s2s":
        raise UsageError(f"--mode {args.mode}: only s2s (sequence-to-sequence) decoding exists here")
    if args.max_seq_length is not None and args.max_tgt_length >= args.max_seq_length - 2:
        raise UsageError(f"--max_tgt_length {args.max_tgt_length} must be below --max_seq_length "
                         f"{args.max_seq_length} - 2 (room for [CLS], a source token and [SEP])")
    half = args.fp16 and dist.device.type == "cuda"
    ignored = ignored_flags(args) + (["--fp16 (no CUDA device: fp32)"] if args.fp16 and not half
                                     else [])
    if ignored:
        logger.info("Ignored (decode_seq2seq.py flags with no counterpart here): %s",
                    ", ".join(ignored))
    # An s2s-ft ckpt-N folder has no seq2seq_config.json: s2s-ft's settings, these lengths.
    total = args.max_seq_length or encoder_max_positions(args.model_path, config_file=args.config_path)
    fallback = Seq2SeqConfig(max_source_length=max(2, total - args.max_tgt_length),
                             max_target_length=args.max_tgt_length,
                             mask_token_id=tokenizer.mask_token_id,
                             sep_token_id=tokenizer.sep_token_id)
    files = HistoryRun(args.input_file, Path(args.output_file), args.split, args.batch_size,
                       args.nbest, args.do_rule, args.do_eval, args.subset)
    return DecodeRun(
        model_path=args.model_path, config_path=args.config_path,
        cache_dir=choose_cache_dir(args.cache_dir, args.output_file, Path(args.output_file).parent),
        skip_invalid=args.skip_invalid, history_source=args.history_source, half=half,
        max_seq_length=args.max_seq_length, history_turns=args.history_turns,
        history_format=args.history_format, history_tokens=args.history_tokens,
        window_stride=args.window_stride, fallback=fallback, decode=config, files=files)


def decode_file(run: DecodeRun, dist, tokenizer) -> None:
    """Decode the input file with the model; with --do_eval also score the answers."""
    files, config = run.files, run.decode
    model = load_seq2seq_model(run.model_path, run.fallback, trained=True,
                               config_file=run.config_path)
    model = (model.half() if run.half else model).to(dist.device)
    source = decode_source(run, model.config)
    check_lengths(model, source.max_source_seq_length, config.max_tgt_length)
    data = load_or_build_examples(files.input_file, tokenizer, source, False, run.cache_dir,
                                  skip_invalid=run.skip_invalid)
    ignore = resolve_ignore_ids(config.forbid_ignore_word, tokenizer.get_vocab())
    histories, dialogues = history_sources_for(files.input_file, run.history_source,
                                               run.skip_invalid, files.score)
    if dialogues and not (files.subset > 0 and histories == ("gold",)):
        decode_with_histories(model, data, dialogues, histories, tokenizer, source, config,
                              ignore, files)
        return
    if files.subset > 0:
        data = data.subset(files.subset)
    passages = data.passages if files.do_rule else None
    if passages is not None and not all(passages):
        logger.warning("--do_rule: %d of %d examples have no passage; their answers stay as "
                       "decoded", sum(not p for p in passages), len(passages))
    answers, details = decode_answers(model, data, tokenizer, config, files.batch_size, ignore,
                                      files.nbest, passages)
    write_answers(data, answers, files.output_file)
    if files.nbest:
        write_json(files.output_file.with_suffix(".nbest.json"), details)
    logger.info("Wrote %d answers to %s", len(answers), files.output_file)
    if files.score and data.file_format != "coqa":
        logger.warning("--do_eval: JSON lines hold no gold answers to score; score the output "
                       "with python -m evaluate --data-file <the ConvQA_CN file>")
    elif files.score:
        results = score_decoded(files.input_file, str(files.output_file), subset=files.subset > 0)
        from evaluate.report import format_results
        print(format_results(results))
        logger.info("Results: %s", {k: v for k, v in results.items() if k != "breakdown"})
        write_json(files.output_file.with_name(f"eval_results_{files.split}.json"), results)


def decode_source(run: DecodeRun, model_config: Seq2SeqConfig) -> SourceConfig:
    """How the decoded sources are built: --max_seq_length - --max_tgt_length tokens (the old
    meaning) or the training length; history settings from the flags, else the model's
    args.json, else the defaults."""
    trained = read_trained_args(run.model_path)
    length = (run.max_seq_length - run.decode.max_tgt_length if run.max_seq_length
              else model_config.max_source_length)

    def pick(name: str, default):
        value = getattr(run, name)
        return value if value is not None else trained.get(name, default)

    turns = pick("history_turns", None)
    return SourceConfig(max_source_seq_length=length,
                        max_target_seq_length=max(2, model_config.max_target_length),
                        history_format=pick("history_format", None) or DEFAULT_HISTORY,
                        max_query_length=pick("history_tokens", None),
                        doc_stride=pick("window_stride", None),
                        history_len=2 if turns is None else turns)


def score_decoded(gold_file: str, prediction_file: str, subset: bool) -> dict:
    """Per-domain EM/F1 of the decoded answers; a --subset run is scored on its own turns."""
    import dataclasses

    from evaluate import read_gold, read_predictions, score

    gold, predictions = read_gold(gold_file), read_predictions(prediction_file)
    if subset:
        gold = dataclasses.replace(gold, turns=tuple(t for t in gold.turns if t.key in predictions))
        logger.info("--subset: scoring the %d decoded turns only", len(gold.turns))
    return score(gold, predictions)


@exit_on_bad_input
def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    decoding = args.do_decode or bool(args.model_path and args.input_file and not args.train_file)
    # Training saves the history format it used in args.json, for decoding to pick up.
    args_dict = {**vars(args), "history_format": args.history_format or DEFAULT_HISTORY}
    dist = init_distributed(args.no_cuda, args.local_rank)
    setup_logging(log_level(dist))
    logger.info("Training/evaluation parameters %s", args)
    for flag in REQUIRED["decode" if decoding else "train"]:
        if not getattr(args, flag):
            raise UsageError(f"--{flag} is required for {'decoding' if decoding else 'training'}")
    set_seed(args.seed)
    tokenizer = load_tokenizer(args.tokenizer_name or args.model_path or args.model_name_or_path or "",
                               True if args.do_lower_case else None)
    if decoding:
        if dist.is_main:
            decode_file(decode_run(args, dist, tokenizer), dist, tokenizer)
    else:
        fine_tune(fine_tune_run(args, args_dict, tokenizer), args_dict, dist, tokenizer)
    cleanup_distributed()
    return 0


if __name__ == "__main__":
    sys.exit(main())
