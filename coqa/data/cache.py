"""The keyed feature cache shared by both pipelines.

The old scripts keyed their cache by split, model name and sequence length only, so a
changed stride or history length silently reused stale features. Here the key holds
every setting that changes the features, a hash of the data file, a fingerprint of the
tokenizer vocabulary and a format version; a corrupt cache file is rebuilt with a warning.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, Mapping

from coqa.data.errors import cannot_write

logger = logging.getLogger(__name__)

# Bump when the layout of cached features changes.
CACHE_FORMAT_VERSION = 2  # 2: the file holds its key


def file_digest(path: str | Path) -> str:
    """sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def vocab_fingerprint(vocab: Mapping[str, int], extra: Mapping[str, Any] | None = None) -> str:
    """sha256 of a tokenizer vocabulary (token → id) plus tokenizer settings (lower-casing...)."""
    payload = json.dumps([sorted(vocab.items()), dict(extra or {})], ensure_ascii=False,
                         sort_keys=True, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def tokenizer_fingerprint(tokenizer) -> str:
    """Hash of the vocabulary plus the settings that change tokens (lower-casing...)."""
    extra: Dict[str, Any] = {"class": type(tokenizer).__name__,
                             "do_lower_case": getattr(tokenizer, "do_lower_case", None)}
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        state = json.loads(backend.to_str())
        extra["normalizer"] = state.get("normalizer")
        extra["pre_tokenizer"] = state.get("pre_tokenizer")
    return vocab_fingerprint(tokenizer.get_vocab(), extra)


def cache_key(settings: Mapping[str, Any], data_file: str | Path, tokenizer_fingerprint: str) -> str:
    """A short hex key that changes whenever any feature-changing input changes."""
    payload = json.dumps({"settings": dict(settings), "data": file_digest(data_file),
                          "tokenizer": tokenizer_fingerprint, "version": CACHE_FORMAT_VERSION},
                         sort_keys=True, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def cache_path(cache_dir: str | Path, prefix: str, key: str) -> Path:
    """`cache_dir/cached_<prefix>_<key>.pkl`, e.g. cached_train_bert-base-chinese_512_<key>.pkl."""
    return Path(cache_dir) / f"cached_{prefix}_{key}.pkl"


def load_or_build(path: str | Path, build: Callable[[], Any], overwrite: bool = False) -> Any:
    """Load features from `path`, or build and save them (atomically) when absent,
    corrupt, written for other settings, or `overwrite` is set.

    The file stores its key (the last part of its name, `cache_path`) next to the
    features, and the key is checked on load: a cache file copied from other settings
    under the expected name is rebuilt with a warning, never reused."""
    path = Path(path)
    key = path.stem.rsplit("_", 1)[-1]
    if path.is_file() and not overwrite:
        try:
            with open(path, "rb") as handle:
                stored = pickle.load(handle)
        except Exception as err:  # any unpickling failure means the file is unusable
            logger.warning("Cached file %s is corrupt (%s: %s); rebuilding it",
                           path, type(err).__name__, err)
        else:
            found = stored.get("key") if isinstance(stored, dict) and "features" in stored else None
            if found == key and stored.get("version") == CACHE_FORMAT_VERSION:
                logger.info("Loading features from cached file %s", path)
                return stored["features"]
            logger.warning("Cached file %s was not written for these settings (%s); "
                           "rebuilding it", path,
                           f"its key is {found}, expected {key}" if found is not None
                           else f"it holds a {type(stored).__name__}, not keyed features")
    features = build()
    save_atomically(path, {"key": key, "version": CACHE_FORMAT_VERSION, "features": features})
    logger.info("Saving features into cached file %s", path)
    return features


def save_atomically(path: Path, obj: Any) -> None:
    """Write to a temporary file in the same folder, then rename: never a half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            pickle.dump(obj, out, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError as err:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise cannot_write(err, path) from None
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path: Path, obj: Any) -> None:
    """Write JSON through a temporary file and a rename: never a half-written file. A
    failed write (full disk, a folder in the way) is a one-line UsageError naming `path`."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(obj, out, ensure_ascii=False, indent=2)
        os.replace(tmp, path)
    except OSError as err:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        raise cannot_write(err, path) from None
