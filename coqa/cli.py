"""What both entry scripts (and the tools) share: logging set-up, one-line errors, the
system flags, precision, the TrainConfig builder and the output folder. This is the only
library module that reads an argparse Namespace; it never writes into one."""
from __future__ import annotations

import argparse
import functools
import logging
import sys
from pathlib import Path
from typing import Callable, Optional, Sequence

from coqa.data.errors import ConvQAError, UsageError
from coqa.train.config import AdversarialConfig, TrainConfig

LOG_FORMAT = "%(asctime)s - %(levelname)s - %(name)s -   %(message)s"

__all__ = ["OneLineParser", "UsageError", "add_system_flags", "exit_on_bad_input",
           "precision_from", "prepare_output_dir", "setup_logging", "train_config_from"]


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (`prog: error: ...`) and exit code 2,
    without the multi-line usage block; --help still prints everything."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def setup_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(format=LOG_FORMAT, datefmt="%m/%d/%Y %H:%M:%S", level=level)


def exit_on_bad_input(main: Callable[[Optional[Sequence[str]]], int]):
    """Wrap `main(argv)`: bad input or settings (any `ConvQAError`) print one line on
    stderr and exit 2, no traceback. Every other exception is a bug and keeps its
    traceback."""

    @functools.wraps(main)
    def wrapper(argv: Optional[Sequence[str]] = None) -> int:
        try:
            return main(argv)
        except ConvQAError as err:
            print(f"error: {err.one_line()}", file=sys.stderr)
        return 2

    return wrapper


def add_system_flags(parser: argparse.ArgumentParser) -> None:
    """Device, precision and launcher flags of both entry scripts."""
    group = parser.add_argument_group("system")
    group.add_argument("--no_cuda", action="store_true", help="run on CPU even with a GPU")
    group.add_argument("--local_rank", type=int, default=-1,
                       help="set by the old torch.distributed.launch; torchrun uses LOCAL_RANK")
    group.add_argument("--fp16", action="store_true", help="fp16 autocast with GradScaler (GPU)")
    group.add_argument("--fp16_opt_level", default="O1",
                       help="accepted for compatibility and ignored; native AMP is used")
    group.add_argument("--bf16", action="store_true", help="bf16 autocast")
    group.add_argument("--torch_compile", action="store_true", help="torch.compile the model")
    group.add_argument("--server_ip", default="", help="accepted for compatibility and ignored")
    group.add_argument("--server_port", default="", help="accepted for compatibility and ignored")


def precision_from(args: argparse.Namespace, cuda_available: bool) -> str:
    """fp32, bf16 or fp16 from --fp16 / --bf16 / --no_cuda."""
    if args.fp16 and args.bf16:
        raise UsageError("--fp16 and --bf16 cannot be combined")
    if args.fp16 and (args.no_cuda or not cuda_available):
        raise UsageError("--fp16 needs a CUDA GPU (use --bf16 on CPU)")
    return "fp16" if args.fp16 else "bf16" if args.bf16 else "fp32"


def train_config_from(args: argparse.Namespace, precision: str, *, num_train_epochs: float,
                      max_steps: int, warmup_steps: int,
                      adversarial: Optional[AdversarialConfig] = None) -> TrainConfig:
    """The TrainConfig of either entry script: the flags both share are read here, the
    three whose names differ (s2s-ft's num_training_epochs...) are passed in."""
    return TrainConfig(
        output_dir=args.output_dir, per_device_batch_size=args.per_gpu_train_batch_size,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        learning_rate=args.learning_rate, weight_decay=args.weight_decay,
        adam_epsilon=args.adam_epsilon, max_grad_norm=args.max_grad_norm,
        num_train_epochs=num_train_epochs, max_steps=max_steps, warmup_steps=warmup_steps,
        logging_steps=args.logging_steps, save_steps=args.save_steps, seed=args.seed,
        precision=precision, torch_compile=args.torch_compile,
        resume_from_checkpoint=args.resume_from_checkpoint,
        adversarial=adversarial or AdversarialConfig())


def prepare_output_dir(output_dir: str, training: bool, overwrite: bool, resuming: bool) -> Path:
    """Create output_dir; refuse to train into a non-empty one unless told to."""
    folder = Path(output_dir)
    if training and folder.is_dir() and any(folder.iterdir()) and not (overwrite or resuming):
        raise UsageError(f"output directory {output_dir} already exists and is not empty; "
                         f"use --overwrite_output_dir to train into it")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
