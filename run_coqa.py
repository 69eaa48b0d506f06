#!/usr/bin/env python
"""Extractive conversational QA on ConvQA_CN / CoQA: fine-tune, evaluate, predict.

Reads top to bottom: parse, set up, load tokenizer and model, train, evaluate, save.
Command lines of the old transformers-coqa `run_coqa.py` run unchanged; see --help.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Optional, Sequence

import torch

from coqa.cli import (UsageError, check_resume, exit_on_bad_input, precision_from,
                      prepare_output_dir, setup_logging, train_config_from)
from coqa.data.files import write_json
from coqa.data.folders import encoder_max_positions, load_tokenizer
from coqa.data.history import resolve_history_sources
from coqa.data.readers import load_dialogues
from coqa.extractive.arguments import build_parser
from coqa.extractive.display import log_features
from coqa.extractive.features import FeatureConfig
from coqa.extractive.inference import InferenceConfig
from coqa.extractive.loading import load_model
from coqa.extractive.model import ModelConfig
from coqa.extractive.postprocess import PostprocessConfig
from coqa.extractive.predicted import EvalInputs, evaluate_histories
from coqa.extractive.steps import (DataSettings, during_training_evaluator, evaluation_targets,
                                   load_features, resolve_data_file)
from coqa.train.checkpoints import model_saver, save_final
from coqa.train.config import AdversarialConfig
from coqa.train.distributed import barrier, cleanup_distributed, init_distributed, log_level
from coqa.train.loop import train
from coqa.train.optim import count_parameters
from coqa.train.rng import set_seed

logger = logging.getLogger("run_coqa")


def configs_from(args):
    """Typed configs from the flags, built once; invalid values raise ConfigError."""
    features = FeatureConfig(max_seq_length=args.max_seq_length, doc_stride=args.doc_stride,
                             max_query_length=args.max_query_length, history_len=args.history_len)
    model = ModelConfig(middle=args.middle, exact_match=args.exact_match,
                        rtransformer_bidirectional=args.rtransformer_bidirectional)
    post = PostprocessConfig(n_best_size=args.n_best_size, max_answer_length=args.max_answer_length,
                             null_score_reduce=args.null_score_reduce,
                             max_context_only=args.max_context_only)
    adversarial = AdversarialConfig(method=args.adversarial_method if args.adversarial else None,
                                    epsilon=args.adversarial_epsilon, pgd_steps=args.pgd_steps)
    train_config = train_config_from(
        args, precision_from(args, torch.cuda.is_available()),
        num_train_epochs=args.num_train_epochs, max_steps=args.max_steps,
        warmup_steps=args.warmup_steps, adversarial=adversarial)
    return features, model, post, train_config


def check_lengths(args) -> None:
    positions = encoder_max_positions(args.config_name or args.model_name_or_path,
                                      "config" if args.config_name else "model")
    if args.max_seq_length > positions:
        raise UsageError(f"--max_seq_length {args.max_seq_length} exceeds the model's "
                         f"{positions} positions ({args.model_name_or_path})")


@exit_on_bad_input
def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if not (args.do_train or args.do_eval or args.do_predict):
        raise UsageError("nothing to do: give --do_train, --do_eval and/or --do_predict")
    feature_config, model_config, post_config, train_config = configs_from(args)
    check_lengths(args)
    check_resume(train_config, {})
    dist = init_distributed(args.no_cuda, args.local_rank)
    setup_logging(log_level(dist))
    output_dir = prepare_output_dir(args.output_dir, args.do_train, args.overwrite_output_dir,
                                    bool(args.resume_from_checkpoint))
    barrier(dist)  # every rank has checked output_dir before rank 0 writes into it
    logger.warning("Process rank: %s, device: %s, n_gpu: %s, distributed training: %s, "
                   "16-bits training: %s", dist.local_rank, dist.device,
                   int(dist.device.type == "cuda"), dist.distributed, train_config.precision)
    logger.info("Training/evaluation parameters %s", args)
    args_dict = vars(args)
    if dist.is_main:
        write_json(output_dir / "args.json", args_dict)
    set_seed(args.seed)

    tokenizer = load_tokenizer(args.tokenizer_name or args.model_name_or_path,
                               True if args.do_lower_case else None)
    model_path = args.resume_from_checkpoint or args.model_name_or_path
    model = load_model(model_path, model_config, args.config_name)
    logger.info("Total parameter number: %d", count_parameters(model))
    data = DataSettings(feature_config, args.cache_dir, Path(args.model_name_or_path.rstrip("/")).name,
                        args.overwrite_cache, args.threads, args.skip_invalid, str(output_dir))

    inference = InferenceConfig(args.per_gpu_eval_batch_size, train_config.precision)
    if args.do_train:
        train_file = resolve_data_file(args.data_dir, args.train_file, "--train_file")
        train_features = load_features(train_file, "train", tokenizer, data, dist)
        log_features(train_features, tokenizer, count=3)
        model.to(dist.device)
        evaluate_fn = None
        if args.evaluate_during_training and dist.is_main:
            predict_file = resolve_data_file(args.data_dir, args.predict_file, "--predict_file")
            evaluate_fn = during_training_evaluator(
                model, load_features(predict_file, "dev", tokenizer, data), predict_file,
                output_dir, inference, post_config, dist.device)
        save_model = model_saver(tokenizer, args_dict)
        train(model, train_features, train_config, save_model, dist=dist, evaluate_fn=evaluate_fn)
        if dist.is_main:
            save_final(save_model, model, output_dir)

    if (args.do_eval or args.do_predict) and dist.is_main:
        predict_file = resolve_data_file(args.data_dir, args.predict_file, "--predict_file")
        dialogues = load_dialogues(predict_file, args.skip_invalid, questions_only=True).dialogues
        sources = resolve_history_sources(args.history_source, predict_file, dialogues, args.do_eval)
        logger.info("History at prediction: %s", " and ".join(sources))
        inputs = EvalInputs(predict_file, output_dir, dialogues,
                            load_features(predict_file, "dev", tokenizer, data)
                            if "gold" in sources else None,
                            tokenizer, feature_config, inference, post_config, dist.device,
                            score=args.do_eval)
        targets = evaluation_targets(output_dir, args.do_train, model_path, args.eval_all_checkpoints)
        logger.info("Evaluate the following checkpoints: %s", targets)
        all_results = {}
        for target in targets:
            suffix = Path(target).name if target.rstrip("/").split("/")[-1].startswith("checkpoint-") else ""
            target_model = model if target == targets[-1] and args.do_train else load_model(target, model_config)
            results = evaluate_histories(target_model, inputs, sources, suffix)
            if results is not None:
                logger.info("Results: %s", {k: v for k, v in results.items()
                                            if k not in ("breakdown", "predicted_history")})
                all_results[suffix or "final"] = results
        if all_results:
            write_json(output_dir / "eval_results.json",
                       all_results["final"] if list(all_results) == ["final"] else all_results)
    cleanup_distributed()
    return 0


if __name__ == "__main__":
    sys.exit(main())
