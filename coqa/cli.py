"""What every command-line entry point shares: logging set-up and one-line errors."""
from __future__ import annotations

import argparse
import functools
import logging
import sys
from typing import Callable, Optional, Sequence

from coqa.errors import DataError

LOG_FORMAT = "%(asctime)s - %(levelname)s - %(name)s -   %(message)s"


class UsageError(Exception):
    """A flag or a path that cannot work (missing model folder, impossible length...)."""


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (`prog: error: ...`) and exit code 2,
    without the multi-line usage block; --help still prints everything."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def setup_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(format=LOG_FORMAT, datefmt="%m/%d/%Y %H:%M:%S", level=level)


def exit_on_bad_input(main: Callable[[Optional[Sequence[str]]], int]):
    """Wrap `main(argv)`: bad input prints one line on stderr and exits 2, no traceback."""

    @functools.wraps(main)
    def wrapper(argv: Optional[Sequence[str]] = None) -> int:
        try:
            return main(argv)
        except DataError as err:
            print(f"error: {err.one_line()}", file=sys.stderr)
        except UsageError as err:
            print(f"error: {err}", file=sys.stderr)
        return 2

    return wrapper
