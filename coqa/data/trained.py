"""What a trained model folder remembers of how it was trained, and what kind it is.

Every folder a training run saves (the final model and each `checkpoint-N`) holds
`preprocessing_config.json`: the pipeline that wrote it and the settings that shaped its
inputs (the extractive `FeatureConfig`, the seq2seq source settings). Every place that
loads a trained model reads them here, uses them by default, and lets a flag given on
the command line win with one warning naming flag, trained value and given value.

The kind of a folder is told by the file its model saver writes: `convqa_config.json`
(run_coqa.py), `seq2seq_config.json` (run_seq2seq.py). A folder with neither holds no
trained heads: a pretrained encoder, a `coqa.tools.tiny` folder, an s2s-ft checkpoint.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Dict, Iterable, Mapping, Optional

from coqa.data.errors import UsageError
from coqa.data.files import write_json

logger = logging.getLogger(__name__)

PREPROCESSING_FILE = "preprocessing_config.json"
PREPROCESSING_FORMAT = 1
EXTRACTIVE, SEQ2SEQ = "extractive", "seq2seq"
# The file each pipeline's model saver writes, and the script that trains that kind.
MARKER_FILES = {EXTRACTIVE: "convqa_config.json", SEQ2SEQ: "seq2seq_config.json"}
SCRIPTS = {EXTRACTIVE: "run_coqa.py", SEQ2SEQ: "run_seq2seq.py"}


def folder_kind(folder: str | Path) -> Optional[str]:
    """EXTRACTIVE or SEQ2SEQ for a folder one of our training runs saved, else None."""
    for kind, marker in MARKER_FILES.items():
        if (Path(folder) / marker).is_file():
            return kind
    return None


def require_trained(folder: str | Path, pipeline: str) -> None:
    """Refuse, in one line naming the folder, a folder that holds no model `pipeline`
    trained: a pretrained encoder (its QA heads would be random) or the other pipeline's
    model."""
    kind = folder_kind(folder)
    if kind == pipeline:
        return
    if kind is not None:
        raise UsageError(f"{folder} is {_article(kind)} {kind} model ({SCRIPTS[kind]} saved "
                         f"it), not {_article(pipeline)} {pipeline} one: {_use_instead(kind)}")
    raise UsageError(f"no trained QA heads in {folder}: train it with --do_train first, or "
                     f"pass a folder {SCRIPTS[pipeline]} saved")


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _use_instead(kind: str) -> str:
    if kind == SEQ2SEQ:
        return "decode it with run_seq2seq.py --do_decode, or chat with python -m coqa.chat --seq2seq"
    return "evaluate it with run_coqa.py --do_eval, or chat with python -m coqa.chat (no --seq2seq)"


def save_preprocessing(directory: str | Path, pipeline: str, settings: Mapping[str, Any]) -> None:
    """Write `directory/preprocessing_config.json` (atomically)."""
    write_json(Path(directory) / PREPROCESSING_FILE,
               {"format": PREPROCESSING_FORMAT, "pipeline": pipeline, "settings": dict(settings)})


def read_preprocessing(directory: str | Path, pipeline: str) -> Dict[str, Any]:
    """The settings a `pipeline` model in `directory` was trained with. A missing,
    unreadable or foreign file is one UsageError naming it: never a silent default."""
    path = Path(directory) / PREPROCESSING_FILE
    if not path.is_file():
        raise UsageError(f"{directory} holds a trained {pipeline} model but no {PREPROCESSING_FILE} "
                         f"(saved by an older version of this toolkit?): the settings it was "
                         f"trained with are unknown; retrain it, or write that file as "
                         f"docs/MODEL.md describes")
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise UsageError(f"{path} cannot be read ({type(err).__name__}: {err})".splitlines()[0]) from None
    if not (isinstance(stored, dict) and isinstance(stored.get("settings"), dict)):
        raise UsageError(f"{path} is not a preprocessing config (no \"settings\" object)")
    if stored.get("format") != PREPROCESSING_FORMAT:
        raise UsageError(f"{path} has format {stored.get('format')!r}; this version reads "
                         f"format {PREPROCESSING_FORMAT}")
    if stored.get("pipeline") != pipeline:
        raise UsageError(f"{path} was written for a {stored.get('pipeline')} model, not a "
                         f"{pipeline} one")
    return stored["settings"]


def merge_settings(trained: Mapping[str, Any], given: Mapping[str, Any], explicit: Iterable[str],
                   flags: Mapping[str, str], folder: str | Path) -> Dict[str, Any]:
    """The trained settings, except those whose flag was given explicitly (the flag wins):
    each explicit value that differs from the trained one is logged once, naming the flag,
    the trained value and the given value. `given` and `flags` are keyed by setting name;
    `explicit` holds the setting names given on the command line."""
    merged = dict(trained)
    for name in explicit:
        if name not in given:
            continue
        if name in trained and trained[name] != given[name]:
            logger.warning("%s %s given, but the model in %s was trained with %s: using %s",
                           flags.get(name, "--" + name), given[name], folder, trained[name],
                           given[name])
        merged[name] = given[name]
    return merged
