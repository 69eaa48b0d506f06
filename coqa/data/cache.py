"""The keyed feature cache shared by both pipelines.

The old scripts keyed their cache by split, model name and sequence length only, so a
changed stride or history length silently reused stale features. Here the key holds
every setting that changes the features, a hash of the data file, a fingerprint of the
tokenizer vocabulary and a format version; a corrupt cache file is rebuilt with a warning.

A cache file is an .npz of plain numpy arrays plus a JSON header, read with
allow_pickle=False: loading a cache runs no code, whatever the file holds.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import zipfile
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional, Tuple, TypeVar

import numpy as np

from coqa.data.errors import UsageError
from coqa.data.files import write_atomically

logger = logging.getLogger(__name__)

# Bump when the layout of cached features changes.
CACHE_FORMAT_VERSION = 3  # 2: the file holds its key; 3: .npz + JSON header, no pickle
HEADER_NAME = "__cache_header__"   # the array holding the JSON header (UTF-8 bytes)
ZIP_MAGIC = b"PK\x03\x04"

Arrays = Dict[str, np.ndarray]
C = TypeVar("C")


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
    """`cache_dir/cached_<prefix>_<key>.npz`, e.g. cached_train_bert-base-chinese_512_<key>.npz."""
    return Path(cache_dir) / f"cached_{prefix}_{key}.npz"


def choose_cache_dir(explicit: Optional[str | Path], data_file: str | Path,
                     output_dir: Optional[str | Path]) -> str:
    """The folder for a data file's feature cache: `explicit` (a flag) when given, which
    must be writable; else the data file's folder, or `output_dir/cache` when that folder is
    read-only (common for shared data on clusters), said in one log line."""
    if explicit:
        if not _writable(Path(explicit)):
            raise UsageError(f"the cache folder {explicit} is not writable: give a writable "
                             f"folder, or leave the cache flag out to cache next to the data")
        return str(explicit)
    default = Path(data_file).parent
    if output_dir is None or _writable(default):
        return str(default)
    fallback = Path(output_dir) / "cache"
    logger.warning("The data folder %s is not writable: caching features in %s instead",
                   default, fallback)
    return str(fallback)


def _writable(folder: Path) -> bool:
    """Whether files can be created in `folder`, or in the folder that `mkdir -p` would
    create it in (its nearest existing ancestor) when it does not exist yet."""
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            return False
        probe = probe.parent
    return probe.is_dir() and os.access(probe, os.W_OK | os.X_OK)


def load_or_build(path: str | Path, build: Callable[[], C],
                  from_arrays: Callable[[Arrays, Dict[str, Any]], C],
                  overwrite: bool = False) -> C:
    """Load features from `path`, or build and save them (atomically) when absent,
    corrupt, written for other settings or another format, or `overwrite` is set.

    `build()` returns an object with `to_arrays() -> (arrays, metadata)`;
    `from_arrays(arrays, metadata)` rebuilds it. The file is an .npz of those arrays, read
    with allow_pickle=False so that loading runs no code, plus a JSON header with the key
    (the last part of the file name, `cache_path`), the format version and the metadata. A
    file whose key or version differs (copied from other settings under the expected name)
    is rebuilt with a warning, never reused; old pickled caches are never read."""
    path = Path(path)
    key = path.stem.rsplit("_", 1)[-1]
    _mention_pickles(path)
    if path.is_file() and not overwrite:
        loaded = _load(path, key, from_arrays)
        if loaded is not None:
            logger.info("Loading features from cached file %s", path)
            return loaded
    features = build()
    save_cache(path, key, features)
    logger.info("Saving features into cached file %s", path)
    return features


def _load(path: Path, key: str, from_arrays: Callable[[Arrays, Dict[str, Any]], C]
          ) -> Optional[C]:
    """The object cached in `path`, or None (with a warning) when the file is unusable."""
    try:
        arrays, header = read_cache(path)
    except Exception as err:  # any failure to read means the file is unusable
        logger.warning("Cached file %s is corrupt (%s: %s); rebuilding it",
                       path, type(err).__name__, err)
        return None
    found, version = header.get("key"), header.get("format")
    if found != key or version != CACHE_FORMAT_VERSION:
        logger.warning("Cached file %s was not written for these settings (its key is %s, "
                       "expected %s; format %s, expected %s); rebuilding it",
                       path, found, key, version, CACHE_FORMAT_VERSION)
        return None
    try:
        return from_arrays(arrays, header.get("meta", {}))
    except Exception as err:  # missing or misshapen fields: a damaged file
        logger.warning("Cached file %s is corrupt (%s: %s); rebuilding it",
                       path, type(err).__name__, err)
        return None


def read_cache(path: str | Path) -> Tuple[Arrays, Dict[str, Any]]:
    """(arrays, header) of a cache file. Raises on anything but an .npz of plain arrays
    with a JSON header: numpy refuses pickled (object) arrays and pickle files here."""
    with open(path, "rb") as handle:
        if handle.read(4) != ZIP_MAGIC:
            raise ValueError("not an .npz archive")
        handle.seek(0)
        with np.load(handle, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
    header = json.loads(arrays.pop(HEADER_NAME).tobytes().decode("utf-8"))
    if not isinstance(header, dict):
        raise ValueError("the header is not a JSON object")
    return arrays, header


def save_cache(path: str | Path, key: str, obj: Any) -> None:
    """Write `obj.to_arrays()` and its header to `path` atomically (see `load_or_build`)."""
    arrays, meta = obj.to_arrays()
    if HEADER_NAME in arrays:
        raise ValueError(f"{HEADER_NAME} is the name of the cache header, not of an array")
    header = json.dumps({"key": key, "format": CACHE_FORMAT_VERSION,
                         "type": type(obj).__name__, "meta": meta}, ensure_ascii=False)
    payload = {**arrays, HEADER_NAME: np.frombuffer(header.encode("utf-8"), dtype=np.uint8)}
    for name, array in payload.items():
        if np.asarray(array).dtype.hasobject:
            raise TypeError(f"cache array {name!r} holds Python objects; metadata goes into "
                            f"the JSON header")

    def write(out) -> None:
        # What np.savez writes, with allow_pickle=False on the writing side too.
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            for name, array in payload.items():
                with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)
    write_atomically(path, write)


def _mention_pickles(path: Path) -> None:
    """One log line about pickled caches of the same prefix left by older versions: they
    are never loaded (unpickling runs code), only pointed out for deletion."""
    prefix = path.stem.rsplit("_", 1)[0]
    try:
        old = sorted(path.parent.glob(f"{prefix}_*.pkl"))
    except OSError:
        return
    if old:
        logger.info("Ignoring %d pickled cache file(s) of an older version, e.g. %s: they are "
                    "never loaded and can be deleted", len(old), old[0])
