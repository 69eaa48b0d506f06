"""What both entry scripts (and the tools) share: logging set-up, one-line errors, the
system flags, precision, the TrainConfig builder and the output folder. This is the only
library module that reads an argparse Namespace; it never writes into one."""
from __future__ import annotations

import argparse
import functools
import logging
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence

from coqa.data.errors import ConvQAError, UsageError, cannot_write
from coqa.train.config import AdversarialConfig, TrainConfig

LOG_FORMAT = "%(asctime)s - %(levelname)s - %(name)s -   %(message)s"

__all__ = ["OneLineParser", "UsageError", "add_system_flags", "apply_tf32", "check_input_file",
           "check_output_file", "check_resume", "explicit_dests", "exit_on_bad_input", "precision_from",
           "prepare_output_dir", "setup_logging", "train_config_from"]
logger = logging.getLogger(__name__)
# What a run writes before it has really started: a folder holding only these is reusable.
WRITTEN_AT_START = ("args.json",)
# What either entry script writes into --output_dir (patterns for Path.match): removed by
# --overwrite_output_dir.
RUN_OUTPUTS = ("checkpoint-*", ".tmp-*", ".old-*", "runs", "cache", "cached_*", "args.json",
               "eval_results*.json", "predictions_*.json", "nbest_predictions_*.json",
               "model.safetensors", "pytorch_model.bin", "config.json", "convqa_config.json",
               "seq2seq_config.json", "preprocessing_config.json", "tokenizer.json",
               "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
               "vocab.txt", "vocab.json", "merges.txt", "sentencepiece.bpe.model", "spm.model",
               "chat_template.jinja")


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (`prog: error: ...`) and exit code 2,
    without the multi-line usage block; --help still prints everything."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def explicit_dests(parser: argparse.ArgumentParser, argv: Optional[Sequence[str]]) -> frozenset:
    """The `dest` names of the flags given on the command line `argv` (abbreviations and
    `--flag=value` included), told apart from those left at their defaults."""
    argv = list(sys.argv[1:] if argv is None else argv)
    saved = {}
    for action in parser._actions:
        saved[action] = (action.default, action.required)
        action.default, action.required = argparse.SUPPRESS, False
    try:
        given, _ = parser.parse_known_args(argv)
    finally:
        for action, (default, required) in saved.items():
            action.default, action.required = default, required
    return frozenset(vars(given))


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
            return getattr(err, "exit_code", 2)
        except KeyboardInterrupt:  # outside training (which says where to resume from)
            print("error: interrupted (Ctrl-C)", file=sys.stderr)
            return 130

    return wrapper


def add_system_flags(parser: argparse.ArgumentParser) -> None:
    """Device, precision and launcher flags of both entry scripts."""
    group = parser.add_argument_group("system")
    group.add_argument("--no_cuda", action="store_true", help="run on CPU even with a GPU")
    group.add_argument("--local_rank", "--local-rank", dest="local_rank", type=int, default=-1,
                       help="set by the old torch.distributed.launch (which spells it "
                            "--local-rank since torch 2.0); torchrun uses LOCAL_RANK")
    group.add_argument("--ddp_timeout", type=float, default=3 * 3600,
                       help="under torchrun: seconds a process waits for the others, in a "
                            "collective or while rank 0 evaluates, decodes or writes alone "
                            "(default 10800; NCCL's own default, 600, is too short for a "
                            "full evaluation)")
    group.add_argument("--fp16", action="store_true", help="fp16 autocast with GradScaler (GPU)")
    group.add_argument("--fp16_opt_level", default="O1",
                       help="accepted for compatibility and ignored; native AMP is used")
    group.add_argument("--bf16", action="store_true",
                       help="bf16 autocast (decoding: the model in bf16)")
    group.add_argument("--no_tf32", action="store_true",
                       help="on a GPU, keep float32 matrix multiplies and cuDNN in full float32; "
                            "by default they use TF32 (Ampere and later: several times faster, "
                            "inputs rounded to 10 mantissa bits, float32 accumulation)")
    group.add_argument("--torch_compile", action="store_true", help="torch.compile the model")
    group.add_argument("--server_ip", default="", help="accepted for compatibility and ignored")
    group.add_argument("--server_port", default="", help="accepted for compatibility and ignored")


def add_optimizer_flags(group, learning_rate: float) -> None:
    """Batch, AdamW and clipping flags, the same in both entry scripts but for the default
    learning rate (each keeps its old script's)."""
    group.add_argument("--per_gpu_train_batch_size", type=int, default=8, help="batch per device")
    group.add_argument("--learning_rate", type=float, default=learning_rate,
                       help="peak AdamW learning rate")
    group.add_argument("--head_learning_rate", type=float, default=None,
                       help="peak learning rate of what the pretrained encoder lacks (the "
                            "extractive middle layer and heads; the seq2seq masked-LM head's "
                            "transform and bias); default --learning_rate. AdamW moves each "
                            "weight by about the learning rate a step, so a new head on a "
                            "pretrained encoder (multilingual-e5) learns faster with a larger one")
    group.add_argument("--gradient_accumulation_steps", type=int, default=1,
                       help="micro-batches per optimizer step")
    group.add_argument("--weight_decay", type=float, default=0.01, help="AdamW weight decay")
    group.add_argument("--adam_epsilon", type=float, default=1e-8, help="AdamW epsilon")
    group.add_argument("--max_grad_norm", type=float, default=1.0,
                       help="gradient clipping norm; <= 0 disables clipping")
    group.add_argument("--freeze_embeddings", action="store_true",
                       help="do not train the word-embedding matrix (nor an output layer tied "
                            "to it): with a large vocabulary (multilingual-e5-small: 96M of its "
                            "118M parameters) it is most of the optimizer's work")
    group.add_argument("--warmup_ratio", type=float, default=None,
                       help="linear warm-up over this share of all optimizer steps (e.g. 0.1), "
                            "instead of a fixed number of warm-up steps; cannot be combined "
                            "with an explicit number of warm-up steps")


def add_resume_flags(group) -> None:
    group.add_argument("--resume_from_checkpoint", default=None,
                       help="checkpoint-N folder to continue from exactly")
    group.add_argument("--ignore_resume_mismatch", action="store_true",
                       help="resume although learning rate, warm-up, steps, epochs, batch size "
                            "or accumulation differ from the checkpoint's")


def apply_tf32(args: argparse.Namespace, device) -> bool:
    """On a CUDA device, TF32 for float32 matrix multiplies and cuDNN (convolutions, RNNs)
    unless --no_tf32, which sets full float32 (also undoing an earlier call in this
    process). Elsewhere nothing changes. Called by both entry scripts once the device is
    known; returns whether TF32 is on."""
    if device.type != "cuda":
        return False
    import torch

    enabled = not args.no_tf32
    torch.set_float32_matmul_precision("high" if enabled else "highest")
    torch.backends.cudnn.allow_tf32 = enabled
    logger.info("float32 matrix multiplies on %s: %s", device,
                "TF32 (--no_tf32 for full float32)" if enabled else "full float32 (--no_tf32)")
    return enabled


def precision_from(args: argparse.Namespace, cuda_available: bool) -> str:
    """fp32, bf16 or fp16 from --fp16 / --bf16 / --no_cuda."""
    if args.fp16 and args.bf16:
        raise UsageError("--fp16 and --bf16 cannot be combined")
    if args.fp16 and (args.no_cuda or not cuda_available):
        raise UsageError("--fp16 needs a CUDA GPU (use --bf16 on CPU)")
    return "fp16" if args.fp16 else "bf16" if args.bf16 else "fp32"


def train_config_from(args: argparse.Namespace, precision: str, *, num_train_epochs: float,
                      max_steps: int, warmup_steps: int, warmup_steps_flag: str = "",
                      adversarial: Optional[AdversarialConfig] = None) -> TrainConfig:
    """The TrainConfig of either entry script: the flags both share are read here, the
    three whose names differ (s2s-ft's num_training_epochs...) are passed in.
    `warmup_steps_flag` names the warm-up steps flag when it was given explicitly."""
    if args.warmup_ratio is not None and warmup_steps_flag:
        raise UsageError(f"give --warmup_ratio {args.warmup_ratio} or {warmup_steps_flag} "
                         f"{warmup_steps}, not both")
    return TrainConfig(
        output_dir=args.output_dir, per_device_batch_size=args.per_gpu_train_batch_size,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        learning_rate=args.learning_rate, head_learning_rate=args.head_learning_rate,
        weight_decay=args.weight_decay,
        adam_epsilon=args.adam_epsilon, max_grad_norm=args.max_grad_norm,
        num_train_epochs=num_train_epochs, max_steps=max_steps, warmup_steps=warmup_steps,
        warmup_ratio=args.warmup_ratio, freeze_word_embeddings=args.freeze_embeddings,
        logging_steps=args.logging_steps, save_steps=args.save_steps, seed=args.seed,
        precision=precision, torch_compile=args.torch_compile,
        resume_from_checkpoint=args.resume_from_checkpoint,
        ignore_resume_mismatch=getattr(args, "ignore_resume_mismatch", False),
        adversarial=adversarial or AdversarialConfig())


def prepare_output_dir(output_dir: str, training: bool, overwrite: bool, resuming: bool,
                       starts_from: Sequence[str] = (), removes: bool = True) -> Path:
    """Create output_dir and check that it is writable; refuse to train into a non-empty
    one unless told to. A folder holding only what a failed start wrote (args.json) is
    not "non-empty". With `overwrite` (and not resuming), what an earlier run of this
    toolkit wrote there is removed first, so that nothing of it (a checkpoint, a
    prediction file) passes for this run's; other files are left and named.
    `starts_from`: the folders the run loads a model from, which must survive.
    `removes`: False on all but the main rank of a distributed run, which check the same
    things (so that every rank refuses together) but leave the removal to the main rank:
    ranks deleting the same files at once fail on each other's deletions."""
    folder = Path(output_dir)
    if training and folder.is_dir() and not resuming:
        if overwrite:
            refuse_deleting_start(folder, starts_from)
            if removes:
                remove_previous_run(folder)
        elif any(p.name not in WRITTEN_AT_START for p in folder.iterdir()):
            raise UsageError(f"output directory {output_dir} already exists and is not empty; "
                             f"use --overwrite_output_dir to train into it")
    _check_writable_folder(folder, "--output_dir")
    return folder


def _is_within(path: Path, folder: Path) -> bool:
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


def refuse_deleting_start(folder: Path, starts_from: Sequence[str]) -> None:
    """One line if clearing `folder` would delete a folder the run loads its model from."""
    for start in starts_from:
        if start and _is_within(Path(start), folder):
            raise UsageError(f"--overwrite_output_dir would delete {start}, which this run "
                             f"loads its model from: train into another --output_dir")


def remove_previous_run(folder: Path) -> None:
    """Delete what this toolkit writes into an output folder (`RUN_OUTPUTS`), logging what
    was removed and naming every other file, which is left in place."""
    ours = [p for p in sorted(folder.iterdir()) if any(p.match(g) for g in RUN_OUTPUTS)]
    others = [p.name for p in sorted(folder.iterdir()) if p not in ours]
    for path in ours:
        try:
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
        except OSError as err:
            raise cannot_write(err, path) from None
    if ours:
        logger.warning("--overwrite_output_dir: removed %d items of an earlier run from %s: %s",
                       len(ours), folder, ", ".join(p.name for p in ours))
    if others:
        logger.warning("--overwrite_output_dir: left %d items this toolkit did not write in %s: %s",
                       len(others), folder, ", ".join(others))


def _check_writable_folder(folder: Path, flag: str) -> None:
    """Create `folder` if needed, and write (then delete) a probe file in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except FileExistsError:
        raise UsageError(f"{flag} {folder}: {folder} or a folder above it is a regular "
                         f"file") from None
    except NotADirectoryError:
        raise UsageError(f"{flag} {folder}: a folder above it is a regular file") from None
    except OSError as err:
        raise cannot_write(err, folder) from None


def check_input_file(path: str, flag: str) -> Path:
    """An input file that exists and is a regular file."""
    file = Path(path)
    if file.is_dir():
        raise UsageError(f"{flag} {path} is a directory, not a file")
    if not file.is_file():
        raise UsageError(f"{flag} {path} does not exist")
    return file


def check_output_file(path: str, flag: str) -> Path:
    """An output file that can be written: not a directory, its folder writable (created
    if needed). Checked before the work that produces it."""
    file = Path(path)
    if file.is_dir():
        raise UsageError(f"{flag} {path} is a directory, not a file")
    _check_writable_folder(file.parent, flag)
    return file


def check_resume(config: TrainConfig, flag_names: Mapping[str, str]) -> None:
    """Before anything is loaded: --resume_from_checkpoint must be a complete checkpoint
    whose schedule settings (learning rate, warm-up, steps, epochs, batch size,
    accumulation, seed) equal this command line's; a mismatch is refused in one line
    naming each flag with its old and new value, unless ignore_resume_mismatch."""
    if not config.resume_from_checkpoint:
        return
    from coqa.train.checkpoints import read_trainer_state, resume_mismatches  # imports torch

    state = read_trainer_state(Path(config.resume_from_checkpoint))
    flag_names = {"per_device_batch_size": "--per_gpu_train_batch_size", **flag_names}
    changed = [f"{flag_names.get(name, '--' + name)} was {old}, now {new}"
               for name, old, new in resume_mismatches(state, config)]
    if not changed:
        return
    if config.ignore_resume_mismatch:
        logger.warning("Resuming from %s although %s (--ignore_resume_mismatch): the "
                       "optimizer and scheduler continue from their saved state",
                       config.resume_from_checkpoint, "; ".join(changed))
        return
    raise UsageError(f"cannot resume from {config.resume_from_checkpoint}: "
                     f"{'; '.join(changed)} (use the checkpoint's values, or "
                     f"--ignore_resume_mismatch)")
