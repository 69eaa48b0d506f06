"""run_seq2seq.py's decoding program (flags: `seq2seq.arguments.decode_parser`).

Reads top to bottom: flags to typed configs (every path and flag checked before the model
is loaded: no decoding is lost), the model with the source settings it was trained with
(`seq2seq.loading`), examples (cached), decode with gold and/or predicted history, write,
score.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import AbstractSet, Optional

from coqa.cli import (UsageError, apply_tf32, check_input_file, check_output_file,
                      setup_logging)
from coqa.data.cache import choose_cache_dir
from coqa.data.outputs import OutputNames, predict_write_score
from coqa.data.folders import (SEQ2SEQ_MODEL_TYPES, check_model_folder, encoder_max_positions,
                               load_tokenizer)
from coqa.train.devices import (MAX_DECODE_BATCH, choose_batch_size, decoder_bytes_per_source,
                                log_idle_gpus_hint)
from coqa.train.distributed import cleanup_distributed, init_distributed, log_level, main_rank_alone
from coqa.train.rng import set_seed
from seq2seq.arguments import ignored_flags
from seq2seq.config import DEFAULT_HISTORY_FORMAT, SourceConfig
from seq2seq.decoding import DecodeConfig, cast_for_decoding, resolve_ignore_ids
from seq2seq.examples import load_or_build_examples
from seq2seq.loading import (check_tokenizer_of, explicit_settings, load_trained_seq2seq,
                             trained_kind)
from seq2seq.model import Seq2SeqConfig
from seq2seq.predicted import HistoryRun, answers_writer, history_answerer, history_sources_for
from seq2seq.steps import check_lengths

logger = logging.getLogger("run_seq2seq")


@dataclass(frozen=True)
class DecodeRun:
    """What decode_file reads, checked once from the flags (see `decode_run`)."""

    model_path: str
    config_path: Optional[str]
    cache_dir: str
    skip_invalid: bool
    history_source: Optional[str]
    half: bool                   # --fp16 on a GPU: the model in float16
    bf16: bool                   # --bf16: the model in bfloat16 (a CPU allowed)
    given: SourceConfig          # the source settings of the flags and defaults
    explicit: frozenset          # the source settings given on the command line (they win)
    fallback: Seq2SeqConfig      # an s2s-ft ckpt-N folder has no seq2seq_config.json
    decode: DecodeConfig
    files: HistoryRun
    batch_size_given: bool = True  # False: --batch_size left out, chosen by memory on a GPU


def check_decode_flags(args) -> DecodeConfig:
    """The decoding settings, each checked; nothing is loaded yet."""
    check_input_file(args.input_file, "--input_file")
    check_output_file(args.output_file, "--output_file")
    if args.batch_size < 1:
        raise UsageError(f"--batch_size must be at least 1, got {args.batch_size}")
    if args.subset < 0:
        raise UsageError(f"--subset must be >= 0 (0: every example), got {args.subset}")
    if args.min_len > args.max_tgt_length:
        raise UsageError(f"--min_len {args.min_len} is above --max_tgt_length "
                         f"{args.max_tgt_length}: no answer could be that long")
    if args.mode != "s2s":
        raise UsageError(f"--mode {args.mode}: only s2s (sequence-to-sequence) decoding exists here")
    if args.max_seq_length is not None and args.max_tgt_length >= args.max_seq_length - 2:
        raise UsageError(f"--max_tgt_length {args.max_tgt_length} must be below --max_seq_length "
                         f"{args.max_seq_length} - 2 (room for [CLS], a source token and [SEP])")
    return DecodeConfig(beam_size=args.beam_size, max_tgt_length=args.max_tgt_length,
                        min_len=args.min_len, length_penalty=args.length_penalty,
                        forbid_duplicate_ngrams=args.forbid_duplicate_ngrams,
                        ngram_size=args.ngram_size, forbid_ignore_word=args.forbid_ignore_word,
                        method=args.decode_method)


def decode_run(args, explicit: AbstractSet[str], dist, tokenizer) -> DecodeRun:
    """The decoding flags as typed configs."""
    config = check_decode_flags(args)
    if args.fp16 and args.bf16:
        raise UsageError("--fp16 and --bf16 cannot be combined")
    half = args.fp16 and dist.device.type == "cuda"
    ignored = ignored_flags(args) + (["--fp16 (no CUDA device: fp32)"] if args.fp16 and not half
                                     else [])
    if ignored:
        logger.info("Ignored (decode_seq2seq.py flags with no counterpart here): %s",
                    ", ".join(ignored))
    trained_kind(args.model_path)  # an unusable folder is refused before its config is read
    # Sources of --max_seq_length - --max_tgt_length tokens (decode_seq2seq.py's meaning);
    # without --max_seq_length a trained folder uses its own length, an s2s-ft ckpt-N the
    # encoder's positions.
    total = args.max_seq_length or encoder_max_positions(args.model_path,
                                                         config_file=args.config_path)
    # At least [CLS], one token and [SEP]: a --max_tgt_length too long for the positions
    # is refused by check_lengths, naming them.
    source_length = max(3, total - args.max_tgt_length)
    fallback = Seq2SeqConfig(max_source_length=source_length, max_target_length=args.max_tgt_length,
                             mask_token_id=tokenizer.mask_token_id,
                             sep_token_id=tokenizer.sep_token_id)
    given = SourceConfig(max_source_seq_length=source_length,
                         max_target_seq_length=max(2, args.max_tgt_length),
                         history_format=args.history_format or DEFAULT_HISTORY_FORMAT,
                         max_query_length=args.history_tokens, doc_stride=args.window_stride,
                         history_len=2 if args.history_turns is None else args.history_turns)
    files = HistoryRun(args.input_file, Path(args.output_file), args.split, args.batch_size,
                       args.nbest, args.do_rule, args.do_eval, args.subset)
    return DecodeRun(
        model_path=args.model_path, config_path=args.config_path,
        cache_dir=choose_cache_dir(args.cache_dir, args.output_file, Path(args.output_file).parent),
        skip_invalid=args.skip_invalid, history_source=args.history_source, half=half,
        bf16=args.bf16,
        given=given, explicit=explicit_settings(explicit), fallback=fallback, decode=config,
        files=files, batch_size_given="batch_size" in explicit)


def decode_file(run: DecodeRun, dist, tokenizer) -> None:
    """Decode the input file with the model; with --do_eval also score the answers."""
    files, config = run.files, run.decode
    trained = load_trained_seq2seq(run.model_path, run.given, run.explicit, run.fallback,
                                   run.config_path)
    model, source = trained.model, trained.source
    model = cast_for_decoding(model, "fp16" if run.half else "bf16" if run.bf16 else "fp32",
                              dist.device)
    check_lengths(model, source.max_source_seq_length, config.max_tgt_length)
    encoder = model.mlm.config
    files = dataclasses.replace(files, batch_size=choose_batch_size(
        files.batch_size, run.batch_size_given, dist.device,
        decoder_bytes_per_source(source.max_source_seq_length, config.max_tgt_length,
                                 encoder.hidden_size, encoder.num_attention_heads,
                                 encoder.num_hidden_layers, config.beam_size),
        MAX_DECODE_BATCH, "--batch_size"))
    data = load_or_build_examples(files.input_file, tokenizer, source, False, run.cache_dir,
                                  skip_invalid=run.skip_invalid)
    ignore = resolve_ignore_ids(config.forbid_ignore_word, tokenizer.get_vocab())
    histories, dialogues = history_sources_for(files.input_file, run.history_source,
                                               run.skip_invalid, files.score)
    if files.subset > 0:
        if "predicted" in histories:
            raise UsageError("--subset decodes the first examples of the file; predicted "
                             "history needs whole dialogues: drop --subset")
        data = data.subset(files.subset)
    score = files.score
    if score and data.file_format != "coqa":
        logger.warning("--do_eval: JSON lines hold no gold answers to score; score the output "
                       "with python -m evaluate --data-file <the ConvQA_CN file>")
        score = False
    answer = history_answerer(model, data, dialogues, tokenizer, source, config, ignore, files)
    predict_write_score(answer, histories,
                        OutputNames.s2s_ft(files.output_file, files.split, files.nbest, score),
                        files.input_file, score, write_predictions=answers_writer(data),
                        decoded_turns_only=files.subset > 0)


def run(args, explicit: AbstractSet[str]) -> int:
    """Decode as the parsed flags say; `explicit`: the dests given on the command line."""
    dist = init_distributed(args.no_cuda, args.local_rank, args.ddp_timeout)
    setup_logging(log_level(dist))
    apply_tf32(args, dist.device)
    log_idle_gpus_hint(dist.device, "run_seq2seq.py")
    logger.info("Decoding parameters %s", args)
    set_seed(args.seed)
    folder = check_model_folder(args.model_path, SEQ2SEQ_MODEL_TYPES, args.config_path or None)
    tokenizer = load_tokenizer(args.tokenizer_name or args.model_path,
                               True if args.do_lower_case else None)
    if args.tokenizer_name:
        check_tokenizer_of(tokenizer, args.tokenizer_name, args.model_path)
    folder.check_tokenizer(tokenizer)
    # Rank 0 decodes alone; under torchrun the others wait outside any collective.
    main_rank_alone(dist, lambda: decode_file(decode_run(args, explicit, dist, tokenizer), dist,
                                              tokenizer))
    cleanup_distributed()
    return 0
