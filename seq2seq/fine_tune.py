"""run_seq2seq.py's fine-tuning program (flags: `seq2seq.arguments.fine_tune_parser`).

Reads top to bottom: flags to typed configs, output folder and args.json, model, examples
(cached), train, save. Every saved folder holds preprocessing_config.json with the source
settings, which decoding and chat read back (`seq2seq.loading`).
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import AbstractSet, Any, Dict

import torch

from coqa.cli import (apply_tf32, check_input_file, check_resume, precision_from,
                      prepare_output_dir, setup_logging, train_config_from)
from coqa.data.cache import choose_cache_dir
from coqa.data.files import write_json
from coqa.data.folders import SEQ2SEQ_MODEL_TYPES, check_model_folder, load_tokenizer
from coqa.data.trained import SEQ2SEQ
from coqa.train.checkpoints import model_saver, save_final
from coqa.train.config import TrainConfig
from coqa.train.devices import log_idle_gpus_hint
from coqa.train.distributed import (barrier, cleanup_distributed, init_distributed,
                                    interruption_said_once, log_level)
from coqa.train.loop import train
from coqa.train.optim import count_parameters
from coqa.train.rng import set_seed
from seq2seq.config import DEFAULT_HISTORY_FORMAT, SourceConfig
from seq2seq.examples import load_or_build_examples, log_examples
from seq2seq.loading import trained_source_config
from seq2seq.model import Seq2SeqConfig
from seq2seq.steps import load_seq2seq_model, training_set
from seq2seq.weights import ROBERTA_MODEL_TYPES

logger = logging.getLogger("run_seq2seq")
# TrainConfig fields under their s2s-ft flag names, for resume-mismatch messages.
TRAIN_FLAG_NAMES = {"warmup_steps": "--num_warmup_steps", "max_steps": "--num_training_steps",
                    "num_train_epochs": "--num_training_epochs (0: set by --num_training_steps)"}


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


def fine_tune_run(args, explicit: AbstractSet[str], tokenizer) -> FineTuneRun:
    """The training flags as typed configs; a bad one is a one-line error before any work."""
    check_input_file(args.train_file, "--train_file")
    source = SourceConfig(max_source_seq_length=args.max_source_seq_length,
                          max_target_seq_length=args.max_target_seq_length,
                          history_format=args.history_format or DEFAULT_HISTORY_FORMAT,
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
        max_steps=args.num_training_steps, warmup_steps=args.num_warmup_steps,
        warmup_steps_flag="--num_warmup_steps" if "num_warmup_steps" in explicit else "")
    check_resume(train_config, TRAIN_FLAG_NAMES)
    if args.resume_from_checkpoint:  # the flags build the examples; say where they differ
        trained_source_config(args.resume_from_checkpoint, source,
                              frozenset(dataclasses.asdict(source)))
    return FineTuneRun(
        train_file=args.train_file, output_dir=args.output_dir,
        init_model=args.resume_from_checkpoint or args.model_name_or_path,
        resuming=bool(args.resume_from_checkpoint), overwrite_output_dir=args.overwrite_output_dir,
        cache_dir=choose_cache_dir(args.cached_train_features_file or args.cache_dir,
                                   args.train_file, args.output_dir),
        skip_invalid=args.skip_invalid, seed=args.seed, source=source, model=model_config,
        train=train_config)


def recorded_args(args, source: SourceConfig) -> Dict[str, Any]:
    """args.json: the flags, the source settings under their flag names as resolved (a
    flag left out records its default, not None)."""
    return {**vars(args), "history_format": source.history_format,
            "history_tokens": source.max_query_length, "history_turns": source.history_len,
            "window_stride": source.doc_stride}


def fine_tune(run: FineTuneRun, args_dict: Dict[str, Any], dist, tokenizer) -> None:
    """Train on the training file and save the model into the output folder."""
    output_dir = prepare_output_dir(run.output_dir, True, run.overwrite_output_dir, run.resuming,
                                    starts_from=[run.init_model], removes=dist.is_main)
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
    save_model = model_saver(tokenizer, args_dict, SEQ2SEQ, dataclasses.asdict(run.source))
    with interruption_said_once(dist):  # Ctrl-C: rank 0 alone says where to resume
        train(model, training_set(data, model, run.seed), run.train, save_model, dist=dist)
    if dist.is_main:
        save_final(save_model, model, output_dir)


def run(args, explicit: AbstractSet[str]) -> int:
    """Fine-tune as the parsed flags say; `explicit`: the dests given on the command line."""
    dist = init_distributed(args.no_cuda, args.local_rank, args.ddp_timeout)
    setup_logging(log_level(dist))
    apply_tf32(args, dist.device)
    log_idle_gpus_hint(dist.device, "run_seq2seq.py")
    logger.info("Training/evaluation parameters %s", args)
    set_seed(args.seed)
    folder = check_model_folder(args.resume_from_checkpoint or args.model_name_or_path,
                                SEQ2SEQ_MODEL_TYPES + ROBERTA_MODEL_TYPES,
                                args.config_name or None)
    tokenizer = load_tokenizer(args.tokenizer_name or args.model_name_or_path,
                               True if args.do_lower_case else None)
    folder.check_tokenizer(tokenizer)
    run_config = fine_tune_run(args, explicit, tokenizer)
    fine_tune(run_config, recorded_args(args, run_config.source), dist, tokenizer)
    cleanup_distributed()
    return 0
