"""Writing output files safely: through a temporary file and a rename (never a half-written
file), with the mode the umask allows (as `open` would give, not the 0600 of mkstemp and of
safetensors' writer, so colleagues on a shared machine can read predictions and models),
and a failed write as a one-line UsageError naming the file."""
from __future__ import annotations

import errno
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Callable, Iterator, Union

from coqa.data.errors import cannot_write

PathLike = Union[str, os.PathLike]


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows (/proc), since
    setting it to read it back races with other threads creating files."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def default_file_mode() -> int:
    """The mode a new file gets from `open`: 0666 less the umask (0644 under umask 022)."""
    return 0o666 & ~current_umask()


def default_folder_mode() -> int:
    """The mode a new folder gets from `mkdir`: 0777 less the umask (0755 under umask 022)."""
    return 0o777 & ~current_umask()


def write_atomically(path: PathLike, write: Callable[[IO[bytes]], None]) -> None:
    """Call `write(handle)` on a temporary binary file next to `path`, give it the usual
    mode, then rename it to `path`. A failed write (full disk, read-only folder, a file in
    the way) leaves no temporary file and is a one-line UsageError naming `path`."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        with os.fdopen(handle, "wb") as out:
            os.fchmod(out.fileno(), default_file_mode())
            write(out)
        os.replace(tmp, path)
    except OSError as err:
        _remove(tmp)
        raise cannot_write(err, path) from None
    except BaseException:
        _remove(tmp)
        raise


def _remove(tmp) -> None:
    if tmp is not None and os.path.exists(tmp):
        os.unlink(tmp)


def write_json(path: PathLike, obj: Any) -> None:
    """Write JSON (UTF-8, indented) atomically, see `write_atomically`."""
    def dump(out: IO[bytes]) -> None:
        out.write(json.dumps(obj, ensure_ascii=False, indent=2).encode("utf-8"))
    write_atomically(path, dump)


def give_default_mode(path: PathLike) -> None:
    """chmod a file written by a library that creates it 0600 (safetensors does, through
    its own temporary file) to the mode `open` would have given it."""
    os.chmod(path, default_file_mode())


@contextmanager
def writing_weights(path: PathLike) -> Iterator[None]:
    """Around safetensors' `save_file(..., path)`: the written file gets the usual mode,
    and a SafetensorError becomes an OSError naming the file (ENOSPC when the disk is
    full, else EIO), which the checkpoint code reports in one line. safetensors' writer
    wraps the OS error in its own type."""
    from safetensors import SafetensorError

    try:
        yield
    except SafetensorError as err:
        message = str(err)
        full = ("no space left" in message.lower() or "os error 28" in message
                or "code: 28" in message or "StorageFull" in message)
        code = errno.ENOSPC if full else errno.EIO
        raise OSError(code, f"{os.strerror(code)} ({message})", str(path)) from None
    give_default_mode(path)
