#!/usr/bin/env python
"""Extractive conversational QA on ConvQA_CN / CoQA: fine-tune, evaluate, predict.

Reads top to bottom: parse, set up, load tokenizer and model, train, evaluate, save.
Command lines of the old transformers-coqa `run_coqa.py` run unchanged; see --help.

A trained model remembers how its features were built (`preprocessing_config.json`):
evaluating or continuing it uses those settings, and a flag given explicitly wins with
one warning naming flag, trained value and given value.
"""
from __future__ import annotations

import dataclasses
import logging
import sys
from pathlib import Path
from typing import AbstractSet, Dict, Optional, Sequence

from coqa.cli import (UsageError, apply_tf32, check_resume, exit_on_bad_input, explicit_dests,
                      precision_from, prepare_output_dir, setup_logging, train_config_from)
from coqa.extractive.arguments import build_parser
from coqa.extractive.config import ModelConfig
from coqa.train.config import AdversarialConfig

logger = logging.getLogger("run_coqa")


def configs_from(args, explicit: AbstractSet[str], cuda_available: bool):
    """Typed configs from the flags, built once; invalid values raise ConfigError. The
    feature settings stay a dict, checked here unless a trained model completes them."""
    from coqa.data.trained import EXTRACTIVE, folder_kind
    from coqa.extractive.features import FeatureConfig
    from coqa.extractive.inference import InferenceConfig
    from coqa.extractive.postprocess import PostprocessConfig

    features = dict(max_seq_length=args.max_seq_length, doc_stride=args.doc_stride,
                    max_query_length=args.max_query_length, history_len=args.history_len,
                    outside_window=args.outside_window, history_encoding=args.history_encoding)
    # A trained model's own settings fill in the flags not given, so only the merged
    # settings can be checked (load_tokenizer_and_model): --max_seq_length 64 with a model
    # trained on 24 query tokens is fine although the default 64 would leave no window.
    if folder_kind(args.resume_from_checkpoint or args.model_name_or_path) != EXTRACTIVE:
        FeatureConfig(**features)
    hae_turns = args.history_len if args.history_encoding == "hae" else 0
    model = ModelConfig(middle=args.middle, exact_match=args.exact_match,
                        rtransformer_bidirectional=args.rtransformer_bidirectional,
                        history_answer_turns=hae_turns)
    post = PostprocessConfig(n_best_size=args.n_best_size, max_answer_length=args.max_answer_length,
                             null_score_reduce=args.null_score_reduce,
                             max_context_only=args.max_context_only,
                             null_score_diff_threshold=args.null_score_diff_threshold)
    adversarial = AdversarialConfig(method=args.adversarial_method if args.adversarial else None,
                                    epsilon=args.adversarial_epsilon, pgd_steps=args.pgd_steps)
    train_config = train_config_from(
        args, precision_from(args, cuda_available), num_train_epochs=args.num_train_epochs,
        max_steps=args.max_steps, warmup_steps=args.warmup_steps,
        warmup_steps_flag="--warmup_steps" if "warmup_steps" in explicit else "",
        adversarial=adversarial)
    inference = InferenceConfig(args.per_gpu_eval_batch_size, train_config.precision)
    return features, model, post, train_config, inference


def check_lengths(args, max_seq_length: int) -> None:
    from coqa.data.folders import encoder_max_positions

    positions = encoder_max_positions(args.config_name or args.model_name_or_path,
                                      "config" if args.config_name else "model")
    if max_seq_length > positions:
        raise UsageError(f"--max_seq_length {max_seq_length} exceeds the model's "
                         f"{positions} positions ({args.model_name_or_path})")


@exit_on_bad_input
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    explicit = explicit_dests(parser, argv)
    if not (args.do_train or args.do_eval or args.do_predict):
        raise UsageError("nothing to do: give --do_train, --do_eval and/or --do_predict")
    return run(args, explicit)


def load_tokenizer_and_model(args, explicit: AbstractSet[str], flag_features, model_config):
    """(tokenizer, model, feature config) of this run. Training starts from a pretrained
    encoder or a saved model (whose feature settings carry over unless a flag says
    otherwise); evaluation needs trained heads and uses the model's own settings. The
    tokenizer and model are made ready for the history encoding (marker tokens)."""
    from coqa.data.folders import EXTRACTIVE_MODEL_TYPES, check_model_folder, load_tokenizer
    from coqa.data.trained import EXTRACTIVE, folder_kind
    from coqa.extractive.features import FeatureConfig
    from coqa.extractive.loading import (load_model, load_trained_model, prepare_history_encoding,
                                         trained_feature_config)

    model_path = args.resume_from_checkpoint or args.model_name_or_path
    folder = check_model_folder(model_path, EXTRACTIVE_MODEL_TYPES, args.config_name or None)
    tokenizer = load_tokenizer(args.tokenizer_name or args.model_name_or_path,
                               True if args.do_lower_case else None)
    folder.check_tokenizer(tokenizer)
    if args.do_train:
        feature_config = (trained_feature_config(model_path, flag_features, explicit)
                          if folder_kind(model_path) == EXTRACTIVE else FeatureConfig(**flag_features))
        model = load_model(model_path, model_config, args.config_name, explicit)
    else:
        trained = load_trained_model(model_path, flag_features, explicit,
                                     dataclasses.asdict(model_config))
        model, feature_config = trained.model, trained.features
    prepare_history_encoding(tokenizer, model, feature_config, model_path)
    return tokenizer, model, feature_config


def run(args, explicit: AbstractSet[str]) -> int:
    # Imported once the flags are parsed: a typo is answered without loading torch.
    import torch

    from coqa.data.files import write_json
    from coqa.data.trained import EXTRACTIVE
    from coqa.extractive.display import log_features
    from coqa.extractive.loading import feature_settings
    from coqa.extractive.steps import (DataSettings, during_training_evaluator, load_features,
                                       resolve_data_file, sized_for_device)
    from coqa.train.checkpoints import model_saver, save_final
    from coqa.train.devices import log_idle_gpus_hint
    from coqa.train.distributed import (barrier, cleanup_distributed, init_distributed,
                                        interruption_said_once, log_level, main_rank_alone)
    from coqa.train.loop import train
    from coqa.train.optim import count_parameters
    from coqa.train.rng import set_seed

    flag_features, model_config, post_config, train_config, inference = configs_from(
        args, explicit, torch.cuda.is_available())
    check_resume(train_config, {})
    dist = init_distributed(args.no_cuda, args.local_rank, args.ddp_timeout)
    setup_logging(log_level(dist))
    apply_tf32(args, dist.device)
    log_idle_gpus_hint(dist.device, "run_coqa.py")
    model_path = args.resume_from_checkpoint or args.model_name_or_path
    output_dir = prepare_output_dir(args.output_dir, args.do_train, args.overwrite_output_dir,
                                    bool(args.resume_from_checkpoint), starts_from=[model_path],
                                    removes=dist.is_main)
    barrier(dist)  # every rank has checked output_dir before rank 0 writes into it
    logger.warning("Process rank: %s, device: %s, n_gpu: %s, distributed training: %s, "
                   "16-bits training: %s", dist.local_rank, dist.device,
                   int(dist.device.type == "cuda"), dist.distributed, train_config.precision)
    set_seed(args.seed)

    tokenizer, model, feature_config = load_tokenizer_and_model(args, explicit, flag_features,
                                                                model_config)
    check_lengths(args, feature_config.max_seq_length)
    inference = sized_for_device(inference, "per_gpu_eval_batch_size" in explicit, model,
                                 feature_config.max_seq_length, dist.device)
    # args.json records what this run really uses: the model's own settings, not the flags'.
    args_dict = {**vars(args), **feature_settings(feature_config),
                 **{name: getattr(model.config, name) for name in
                    ("middle", "exact_match", "rtransformer_bidirectional",
                     "history_answer_turns")}}
    logger.info("Training/evaluation parameters %s", args_dict)
    if dist.is_main:
        write_json(output_dir / "args.json", args_dict)
    logger.info("Total parameter number: %d", count_parameters(model))
    data = DataSettings(feature_config, args.cache_dir, Path(args.model_name_or_path.rstrip("/")).name,
                        args.overwrite_cache, args.threads, args.skip_invalid, str(output_dir))

    if args.do_train:
        train_file = resolve_data_file(args.data_dir, args.train_file, "--train_file")
        train_features = load_features(train_file, "train", tokenizer, data, dist)
        log_features(train_features, tokenizer, count=3)
        model.to(dist.device)
        evaluate_fn = None
        if args.evaluate_during_training:  # rank 0 evaluates; the others wait in a barrier
            predict_file = resolve_data_file(args.data_dir, args.predict_file, "--predict_file")
            evaluate_fn = main_rank_alone(dist, lambda: during_training_evaluator(
                model, load_features(predict_file, "dev", tokenizer, data), predict_file,
                output_dir, inference, post_config, dist.device))
        save_model = model_saver(tokenizer, args_dict, EXTRACTIVE, feature_settings(feature_config))
        with interruption_said_once(dist):  # Ctrl-C: rank 0 alone says where to resume
            train(model, train_features, train_config, save_model, dist=dist,
                  evaluate_fn=evaluate_fn)
        if dist.is_main:
            save_final(save_model, model, output_dir)

    if args.do_eval or args.do_predict:  # on rank 0; the others wait outside any collective
        all_results = main_rank_alone(dist, lambda: evaluate_targets(
            args, explicit, model, output_dir, tokenizer, data, inference, post_config,
            dist.device))
        if all_results:
            write_json(output_dir / "eval_results.json",
                       all_results["final"] if list(all_results) == ["final"] else all_results)
    cleanup_distributed()
    return 0


def evaluate_targets(args, explicit: AbstractSet[str], model, output_dir: Path, tokenizer, data,
                     inference, post_config, device) -> Dict[str, dict]:
    """Predict (and with --do_eval score) the trained model and, with
    --eval_all_checkpoints, every checkpoint-N; each with features built with its own
    trained settings. Returns the results by suffix ("final" for the model itself)."""
    from coqa.data.history import resolve_history_sources
    from coqa.data.readers import load_dialogues
    from coqa.extractive.loading import load_trained_model, prepare_history_encoding
    from coqa.extractive.predicted import EvalInputs, evaluate_histories
    from coqa.extractive.steps import evaluation_targets, load_features, resolve_data_file

    predict_file = resolve_data_file(args.data_dir, args.predict_file, "--predict_file")
    dialogues = load_dialogues(predict_file, args.skip_invalid, questions_only=True).dialogues
    sources = resolve_history_sources(args.history_source, predict_file, dialogues, args.do_eval)
    logger.info("History at prediction: %s", " and ".join(sources))
    inputs_by_features: Dict[object, EvalInputs] = {}

    def inputs_for(features) -> EvalInputs:
        if features not in inputs_by_features:
            settings = dataclasses.replace(data, features=features)
            gold = (load_features(predict_file, "dev", tokenizer, settings)
                    if "gold" in sources else None)
            inputs_by_features[features] = EvalInputs(
                predict_file, output_dir, dialogues, gold, tokenizer, features, inference,
                post_config, device, score=args.do_eval)
        return inputs_by_features[features]

    model_path = args.resume_from_checkpoint or args.model_name_or_path
    targets = evaluation_targets(output_dir, args.do_train, model_path, args.eval_all_checkpoints)
    logger.info("Evaluate the following checkpoints: %s", targets)
    all_results = {}
    for target in targets:
        suffix = Path(target).name if Path(target).name.startswith("checkpoint-") else ""
        if target == targets[-1]:  # the model already loaded (or just trained)
            target_model, features = model, data.features
        else:
            trained = load_trained_model(target, data.features, explicit)
            target_model, features = trained.model, trained.features
            prepare_history_encoding(tokenizer, target_model, features, target)
        results = evaluate_histories(target_model, inputs_for(features), sources, suffix)
        if results is not None:
            logger.info("Results: %s", {k: v for k, v in results.items()
                                        if k not in ("breakdown", "predicted_history")})
            all_results[suffix or "final"] = results
    return all_results


if __name__ == "__main__":
    sys.exit(main())
