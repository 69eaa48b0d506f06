"""The console commands of `pip install -e .` (pyproject.toml): each runs the `main` of
its `python -m` module, which keeps working too.

    convqa-eval      python -m evaluate
    convqa-compare   python -m evaluate.compare
    convqa-chat      python -m coqa.chat
    convqa-validate  python -m coqa.tools.validate
    convqa-convert   python -m coqa.tools.convert
    convqa-import-e5 python -m coqa.tools.import_e5
    convqa-sweep     python -m coqa.tools.sweep

Importing `coqa` first checks that `import evaluate` finds this toolkit's evaluator and not
Hugging Face's library of the same name (`coqa.evaluate_conflict`), so each command
imports its module only after that check.
"""
from __future__ import annotations

import importlib
import sys


def _run(module: str) -> int:
    return importlib.import_module(module).main()


def evaluate_main() -> int:
    return _run("evaluate.__main__")


def compare_main() -> int:
    return _run("evaluate.compare")


def chat_main() -> int:
    return _run("coqa.chat")


def validate_main() -> int:
    return _run("coqa.tools.validate")


def convert_main() -> int:
    return _run("coqa.tools.convert")


def import_e5_main() -> int:
    return _run("coqa.tools.import_e5")


def sweep_main() -> int:
    return _run("coqa.tools.sweep")


if __name__ == "__main__":
    sys.exit(f"usage: one of the convqa-* commands ({__doc__.splitlines()[0]})")
