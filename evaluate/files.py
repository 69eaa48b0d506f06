"""Writing the evaluator's output files atomically: into a temporary file beside the target,
then renamed over it, so a reader (or a run killed half-way) never sees a half-written
scores file, per-turn file, report or chart, and an earlier file stays whole until the new
one is complete. Standard library only (the evaluator imports nothing of the toolkit).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO, Any, Callable

from evaluate.errors import EvalInputError


def _file_mode() -> int:
    """What `open(path, "w")` would give (0666 less the umask), not mkstemp's 0600."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def write_atomically(path: str | Path, write: Callable[[IO[Any]], None], binary: bool = False,
                     newline: str | None = None) -> None:
    """Call `write(handle)` on a temporary file in `path`'s folder (text UTF-8, or binary),
    then rename it to `path`. A failure leaves no temporary file and any earlier `path`
    unchanged; an OSError is an EvalInputError naming `path`."""
    path = Path(path)
    tmp = None
    try:
        handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.fchmod(handle, _file_mode())
        if binary:
            out = os.fdopen(handle, "wb")
        else:
            out = os.fdopen(handle, "w", encoding="utf-8", newline=newline)
        with out:
            write(out)
        os.replace(tmp, path)
        tmp = None
    except OSError as err:
        raise EvalInputError(f"{path}: cannot write ({err.strerror})") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def write_text(path: str | Path, text: str) -> None:
    """`text` (UTF-8) written atomically to `path`."""
    write_atomically(path, lambda out: out.write(text))
