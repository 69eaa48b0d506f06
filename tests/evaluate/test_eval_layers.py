"""The evaluator's import rules: the core modules use the standard library only; the
comparison modules import numpy, matplotlib, tensorboard and tqdm inside functions only,
so `python -m evaluate` (and `python -m evaluate.compare --help`) need none of them."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "evaluate"
OPTIONAL = {"compare.py", "bootstrap.py", "events.py", "plots.py"}
LAZY_ALLOWED = {"numpy", "matplotlib", "tensorboard", "tqdm"}


def imports(tree: ast.AST):
    """(top-level package, inside a function?) for every import in a module."""
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                found.extend((alias.name.split(".")[0], in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0:
                found.append((child.module.split(".")[0], in_function))
            visit(child, inside)
    visit(tree, False)
    return found


@pytest.mark.parametrize("module", sorted(p.name for p in PACKAGE.glob("*.py")))
def test_module_imports(module):
    tree = ast.parse((PACKAGE / module).read_text(encoding="utf-8"))
    for name, in_function in imports(tree):
        if name in sys.stdlib_module_names or name in ("evaluate", "__future__"):
            continue
        assert module in OPTIONAL and in_function and name in LAZY_ALLOWED, (module, name)


def test_core_cli_loads_no_third_party_module():
    code = ("import sys, evaluate, evaluate.__main__, evaluate.per_turn, evaluate.compare; "
            "print(sorted(m for m in ('numpy', 'matplotlib', 'tensorboard', 'tqdm', 'torch') "
            "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=PACKAGE.parent,
                            capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
