"""Checkpoints: `output_dir/checkpoint-N` written atomically (model, optimizer, scheduler,
scaler, every rank's random state, position), restored exactly, and cleaned up after a
kill during a save. Also the model saver both entry scripts give the loop."""
from __future__ import annotations

import json
import logging
import os
import pickle
import shutil
import tempfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import torch
from torch import nn

from coqa.data.files import write_json
from coqa.data.errors import ConfigError, UsageError, cannot_write
from coqa.data.folders import check_weights_file
from coqa.data.trained import save_preprocessing
from coqa.train.config import TrainConfig
from coqa.train.rng import gather_rng_states, set_rng_state
from coqa.train.step import OptimizerStep

logger = logging.getLogger(__name__)

CHECKPOINT_PREFIX = "checkpoint-"
STATE_FILES = ("optimizer.pt", "scheduler.pt", "rng_state.pt", "trainer_state.json")
TRAINER_STATE_VERSION = 1
STATE_KEYS = ("global_step", "epoch", "steps_in_epoch", "total_loss", "num_examples",
              "global_batch_size", "config")
# TrainConfig fields that shape the optimizer schedule: a resume must not change them.
SCHEDULE_FIELDS = ("learning_rate", "head_learning_rate", "warmup_steps", "warmup_ratio", "freeze_word_embeddings",
                   "max_steps", "num_train_epochs",
                   "per_device_batch_size", "gradient_accumulation_steps", "seed")

SaveModel = Callable[[nn.Module, Path], None]


@dataclass
class Progress:
    """Where the run is; saved in trainer_state.json."""

    global_step: int = 0
    epoch: int = 0
    steps_in_epoch: int = 0     # optimizer steps already done in `epoch`
    total_loss: float = 0.0     # sum of optimizer-step losses (for the average)


def model_saver(tokenizer, args_dict: Dict[str, Any], pipeline: str,
                preprocessing: Mapping[str, Any]) -> SaveModel:
    """`save_model(model, directory)` for the loop: the model's own `save` (weights and
    configs), the tokenizer, the preprocessing settings every loader reads back
    (`coqa.data.trained`) and args.json. Both entry scripts use it."""
    def save(model: nn.Module, directory: Path) -> None:
        model.save(directory)
        tokenizer.save_pretrained(str(directory))
        save_preprocessing(directory, pipeline, preprocessing)
        write_json(Path(directory) / "args.json", args_dict)
    return save


def save_final(save_model: SaveModel, model: nn.Module, output_dir: Path) -> None:
    """The trained model in output_dir, written to a temporary folder first then moved in."""
    tmp = None
    try:
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-final-", dir=output_dir))
        save_model(model, tmp)
        for item in tmp.iterdir():
            os.replace(item, output_dir / item.name)
        tmp.rmdir()
    except OSError as err:
        raise cannot_write(err, _written_file(err, tmp or output_dir, output_dir)) from None
    finally:
        if tmp is not None and tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    logger.info("Saving model to %s", output_dir)


def _written_file(err: OSError, tmp: Path, final: Path) -> Path:
    """The file a failed save was writing, under its final folder's name."""
    if not err.filename:
        return final
    name = Path(str(err.filename))
    try:
        return final / name.relative_to(tmp)
    except ValueError:
        return name


def latest_checkpoint(output_dir: Path) -> Optional[Path]:
    """The complete `checkpoint-N` folder with the highest N, if any."""
    found = [p for p in Path(output_dir).glob(f"{CHECKPOINT_PREFIX}*")
             if p.name[len(CHECKPOINT_PREFIX):].isdigit() and (p / "trainer_state.json").is_file()]
    return max(found, key=lambda p: int(p.name[len(CHECKPOINT_PREFIX):]), default=None)


def save_checkpoint(step: OptimizerStep, progress: Progress,
                    save_model: SaveModel) -> Optional[Path]:
    """Write `output_dir/checkpoint-N` atomically (main rank only; every rank must call:
    the random states are gathered). Returns the folder on the main rank."""
    rng_states = gather_rng_states(step.dist)
    if not step.dist.is_main:
        return None
    out = Path(step.config.output_dir)
    final = out / f"{CHECKPOINT_PREFIX}{progress.global_step}"
    tmp = out / f".tmp-{final.name}-{os.getpid()}"
    logger.info("Saving model checkpoint to %s", final)
    try:
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        save_model(step.model, tmp)
        _write_training_state(step, progress, rng_states, tmp)
        _replace_dir(tmp, final)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise cannot_write(err, _written_file(err, tmp, final)) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("Saving optimizer and scheduler states to %s", final)
    return final


def _write_training_state(step: OptimizerStep, progress: Progress, rng_states: list[dict],
                          directory: Path) -> None:
    torch.save(step.optimizer.state_dict(), directory / "optimizer.pt")
    torch.save(step.scheduler.state_dict(), directory / "scheduler.pt")
    if step.scaler is not None:
        torch.save(step.scaler.state_dict(), directory / "scaler.pt")
    torch.save({"world_size": step.dist.world_size, "ranks": rng_states},
               directory / "rng_state.pt")
    config = step.config
    state = {
        "version": TRAINER_STATE_VERSION,
        "global_step": progress.global_step,
        "epoch": progress.epoch,
        "steps_in_epoch": progress.steps_in_epoch,
        "batches_in_epoch": progress.steps_in_epoch * config.gradient_accumulation_steps,
        "total_loss": progress.total_loss,
        "num_examples": len(step.dataset),
        "world_size": step.dist.world_size,
        "global_batch_size": config.per_device_batch_size * step.dist.world_size,
        "config": asdict(config),
    }
    (directory / "trainer_state.json").write_text(
        json.dumps(state, indent=2, ensure_ascii=False, default=str), encoding="utf-8")


def _replace_dir(tmp: Path, final: Path) -> None:
    """Rename `tmp` to `final`; an existing `final` is moved aside first, then deleted."""
    if not final.exists():
        os.replace(tmp, final)
        return
    old = final.with_name(f".old-{final.name}-{os.getpid()}")
    os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def remove_interrupted_saves(output_dir: Path) -> None:
    """Clean up after a run killed inside `save_checkpoint` or `save_final`: delete its
    `.tmp-checkpoint-*` and `.tmp-final-*` folders (maybe half-written), and put back a
    `checkpoint-N` moved aside to `.old-checkpoint-N-*` whose replacement never arrived
    (else delete the old copy).
    `checkpoint-N` folders themselves are always complete."""
    stale_saves = [*output_dir.glob(f".tmp-{CHECKPOINT_PREFIX}*"), *output_dir.glob(".tmp-final-*")]
    for stale in sorted(stale_saves):
        logger.warning("Removing %s, left by an interrupted save", stale)
        shutil.rmtree(stale, ignore_errors=True)
    for old in sorted(output_dir.glob(f".old-{CHECKPOINT_PREFIX}*")):
        final = output_dir / old.name[len(".old-"):].rsplit("-", 1)[0]
        if final.exists():
            shutil.rmtree(old, ignore_errors=True)
        else:
            logger.warning("Restoring %s from %s, left by an interrupted checkpoint save",
                           final, old)
            os.replace(old, final)


def read_trainer_state(directory: Path) -> Dict[str, Any]:
    """trainer_state.json of a `checkpoint-N` folder, after checking that the folder is a
    complete checkpoint; every defect is a one-line UsageError naming the file."""
    directory = Path(directory)
    if not directory.is_dir():
        raise UsageError(f"--resume_from_checkpoint {directory} does not exist")
    state_file = directory / "trainer_state.json"
    if not state_file.is_file():
        latest = latest_checkpoint(directory)
        hint = (f"it is a run folder; its latest checkpoint is {latest}" if latest is not None
                else f"resume from a {CHECKPOINT_PREFIX}N folder of the run")
        raise UsageError(f"{directory} is not a training checkpoint (no trainer_state.json; "
                         f"a final model cannot be resumed): {hint}")
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise UsageError(f"{state_file} is broken ({err})") from None
    missing = [k for k in STATE_KEYS if not isinstance(state, dict) or k not in state]
    if missing or not isinstance(state["config"], dict):
        raise UsageError(f"{state_file} is not a trainer state (missing {', '.join(missing) or 'config'})")
    for name in STATE_FILES[:3]:
        if not (directory / name).is_file():
            raise UsageError(f"{directory / name} is missing: the checkpoint is incomplete")
        check_weights_file(directory / name)
    return state


def resume_mismatches(state: Dict[str, Any], config: TrainConfig) -> List[Tuple[str, Any, Any]]:
    """(field, checkpoint value, new value) for each schedule-shaping setting that differs."""
    saved = state["config"]
    # A field the checkpoint predates had its default then.
    defaults = {f.name: f.default for f in fields(TrainConfig)}
    return [(name, saved.get(name, defaults[name]), getattr(config, name))
            for name in SCHEDULE_FIELDS if saved.get(name, defaults[name]) != getattr(config, name)]


def _load(path: Path, **kwargs) -> Any:
    """torch.load of a checkpoint state file; an unreadable file is a one-line UsageError."""
    try:
        return torch.load(path, weights_only=True, **kwargs)
    except (RuntimeError, pickle.UnpicklingError, EOFError, OSError) as err:
        raise UsageError(f"{path} cannot be read ({type(err).__name__}): the checkpoint "
                         f"is damaged") from None


def restore(step: OptimizerStep, directory: Path, per_epoch: int) -> Progress:
    """Load optimizer, scheduler, scaler, random states and position from a checkpoint."""
    state = read_trainer_state(directory)
    _check_compatible(step, state, per_epoch)
    device = step.dist.device
    try:
        step.optimizer.load_state_dict(_load(directory / "optimizer.pt", map_location=device))
        step.scheduler.load_state_dict(_load(directory / "scheduler.pt"))
    except (ValueError, KeyError) as err:
        raise UsageError(f"{directory / 'optimizer.pt'} does not fit this model ({err}); "
                         f"is it another run's checkpoint?") from None
    if step.scaler is not None and (directory / "scaler.pt").is_file():
        step.scaler.load_state_dict(_load(directory / "scaler.pt"))
    ranks = _load(directory / "rng_state.pt")["ranks"]
    if step.dist.rank >= len(ranks):
        logger.warning("No saved random state for rank %d; dropout will not replay exactly",
                       step.dist.rank)
    set_rng_state(ranks[min(step.dist.rank, len(ranks) - 1)], device)
    progress = Progress(state["global_step"], state["epoch"], state["steps_in_epoch"],
                        state["total_loss"])
    if step.dist.is_main:
        logger.info("  Continuing training from checkpoint %s", directory)
        logger.info("  Continuing training from epoch %d, step %d of that epoch", progress.epoch,
                    progress.steps_in_epoch)
        logger.info("  Continuing training from global step %d", progress.global_step)
    return progress


def _check_compatible(step: OptimizerStep, state: dict, per_epoch: int) -> None:
    """Resuming replays the data order, which needs the same data, seed and step size."""
    config = step.config
    saved = state["config"]
    expected = {
        "num_examples": (state["num_examples"], len(step.dataset)),
        "global batch size": (state["global_batch_size"],
                              config.per_device_batch_size * step.dist.world_size),
        "gradient_accumulation_steps": (saved["gradient_accumulation_steps"],
                                        config.gradient_accumulation_steps),
        "seed": (saved["seed"], config.seed),
    }
    changed = [f"{name} was {was} in the checkpoint, now {now}"
               for name, (was, now) in expected.items() if was != now]
    if changed and config.ignore_resume_mismatch:
        logger.warning("Resuming anyway (ignore_resume_mismatch): %s", "; ".join(changed))
    elif changed:
        raise ConfigError(f"cannot resume from {config.resume_from_checkpoint}: "
                          f"{'; '.join(changed)} (another run's checkpoint, or other data?)")
    if state["steps_in_epoch"] >= per_epoch:
        raise ConfigError("cannot resume: the checkpoint's position is past the end of its epoch")
