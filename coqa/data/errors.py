"""The project's error hierarchy. Every `ConvQAError` is bad input or settings that cannot
work: entry scripts print it in one line and exit 2 (`coqa.cli.exit_on_bad_input`). Any
other exception is a bug and keeps its traceback."""
from __future__ import annotations

import errno
from dataclasses import dataclass
from os import PathLike
from typing import Optional, Union


class ConvQAError(Exception):
    """Base of the errors a user can fix: printed in one line, exit code 2."""

    def one_line(self) -> str:
        return str(self)


class DataError(ConvQAError):
    """A defect in an input file, located by file, dialogue id and turn."""

    def __init__(self, message: str, file: str = "", dialogue_id: Optional[str] = None,
                 turn: Optional[int] = None):
        self.message = message
        self.file = str(file)
        self.dialogue_id = dialogue_id
        self.turn = turn
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """`FILE: dialogue ID: turn N: message`, leaving out the parts that are unknown."""
        parts = [p for p in (self.file,) if p]
        if self.dialogue_id is not None:
            parts.append(f"dialogue {self.dialogue_id}")
        if self.turn is not None:
            parts.append(f"turn {self.turn}")
        parts.append(self.message)
        return ": ".join(parts)


class ConfigError(ConvQAError, ValueError):
    """Settings that cannot work (raised by the frozen configs' validators, checked once
    where the configs are built). Also a ValueError, as invalid values are."""


class UsageError(ConvQAError):
    """A flag or a path that cannot work (missing model folder, impossible length...)."""


class Interrupted(ConvQAError):
    """Ctrl-C during training: one line saying where to resume from, exit code 130."""

    exit_code = 130


def cannot_write(err: OSError, path: Union[str, PathLike]) -> UsageError:
    """A failed write of `path` as a one-line UsageError naming it; a full disk is said in
    words."""
    target = path
    if err.errno == errno.ENOSPC:
        return UsageError(f"cannot write {target}: the disk is full (no space left on device)")
    return UsageError(f"cannot write {target}: {err.strerror or err}")


@dataclass(frozen=True)
class SkippedTurn:
    """A turn left out under `skip_invalid`, with the reason (always reported, never silent)."""

    file: str
    dialogue_id: str
    turn: Optional[int]
    reason: str

    def one_line(self) -> str:
        turn = f" turn {self.turn}" if self.turn is not None else ""
        return f"{self.file}: dialogue {self.dialogue_id}{turn}: {self.reason}"
