"""The folder tree is the architecture: these import rules are read from every module's
imports (ast, so imports inside functions count too).

- coqa.data and coqa.train import neither coqa.extractive, coqa.tools nor seq2seq: they are
  shared and know no model;
- seq2seq never imports coqa.extractive or coqa.tools;
- coqa.extractive never imports seq2seq or coqa.tools;
- coqa.repl (the chat loop both chat tools share) knows no model;
- nothing in coqa imports seq2seq (`python -m coqa.chat --seq2seq` hands over to
  `python -m seq2seq.chat` by exec, not by import);
- evaluate imports nothing of the project (its core is also standard library only,
  tests/evaluate/test_eval_imports.py);
- no package module imports an entry script (run_coqa, run_seq2seq) or a test;
- no module of the packages or the scripts imports a private name of another module.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator, List, Set, Tuple

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("coqa", "seq2seq", "evaluate")
ENTRY_SCRIPTS = ("run_coqa", "run_seq2seq")
OURS = PACKAGES + ENTRY_SCRIPTS + ("tests", "scripts", "data")

# (importing package prefix, forbidden prefixes)
RULES: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    ("coqa.data", ("coqa.extractive", "coqa.tools", "seq2seq", "coqa.train", "coqa.cli")),
    ("coqa.train", ("coqa.extractive", "coqa.tools", "seq2seq", "coqa.cli")),
    ("coqa.cli", ("coqa.extractive", "coqa.tools", "seq2seq")),
    ("coqa.repl", ("coqa.extractive", "coqa.tools", "seq2seq", "coqa.train")),
    ("coqa", ("seq2seq",)),
    ("coqa.extractive", ("seq2seq", "coqa.tools")),
    ("seq2seq", ("coqa.extractive", "coqa.tools")),
    ("evaluate", ("coqa", "seq2seq", *ENTRY_SCRIPTS, "tests", "scripts")),
    ("coqa", (*ENTRY_SCRIPTS, "tests", "scripts")),
    ("seq2seq", (*ENTRY_SCRIPTS, "tests", "scripts")),
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_modules() -> Iterator[Path]:
    for package in PACKAGES:
        yield from sorted((REPO / package).rglob("*.py"))


def imported_modules(path: Path) -> Set[str]:
    """Every module an `import` or `from ... import` in the file names, relative imports
    resolved; `from a import b` counts both a and a.b (b may be a submodule)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = module_name(path).split(".")
    if path.name != "__init__.py":
        here = here[:-1]
    found: Set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(here[:len(here) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def violations() -> List[str]:
    found = []
    for path in package_modules():
        name = module_name(path)
        imports = imported_modules(path)
        for owner, forbidden in RULES:
            if not within(name, owner):
                continue
            for module in sorted(imports):
                if any(within(module, bad) for bad in forbidden):
                    found.append(f"{name} imports {module} (rule: {owner} never imports "
                                 f"{', '.join(forbidden)})")
    return found


def test_import_rules_hold():
    assert violations() == []


def test_the_rules_see_imports_inside_functions():
    """A guard on the checker itself: an import in a function body is found."""
    source = REPO / "coqa" / "data" / "outputs.py"  # imports evaluate inside a function
    assert "evaluate.read_gold" in imported_modules(source)


@pytest.fixture(scope="module")
def loaded_after_import():
    """{module: the coqa.extractive and coqa.tools modules loaded once it is imported}, from
    one fresh interpreter (it starts torch once, not once a module): run_seq2seq first,
    then seq2seq.chat. Imports only add to sys.modules, so nothing loaded after both means
    nothing loaded by either alone."""
    import json
    import subprocess
    import sys

    code = ("import importlib, json, sys; found = {}\n"
            "for name in ('run_seq2seq', 'seq2seq.chat'):\n"
            "    importlib.import_module(name)\n"
            "    found[name] = sorted(m for m in sys.modules\n"
            "                         if m.startswith(('coqa.extractive', 'coqa.tools')))\n"
            "print(json.dumps(found))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, check=True).stdout.strip()
    return json.loads(out)


def test_seq2seq_entry_script_loads_no_extractive_module(loaded_after_import):
    """What the rules mean at run time: importing run_seq2seq loads no coqa.extractive."""
    assert loaded_after_import["run_seq2seq"] == []


def test_seq2seq_chat_loads_no_extractive_module(loaded_after_import):
    assert loaded_after_import["seq2seq.chat"] == []


@pytest.mark.parametrize("folder", [*PACKAGES, "scripts"])
def test_no_private_names_across_modules(folder):
    """`from module import _name` between our own modules (scripts reaching into each
    other or into the packages) is how copies and sys.path tricks start: public names only."""
    offenders = []
    for path in sorted((REPO / folder).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and not node.level:
                top = (node.module or "").split(".")[0]
                local = (REPO / "scripts" / f"{top}.py").is_file()
                if top in OURS or local:
                    offenders += [f"{path.relative_to(REPO)}: {node.module}.{a.name}"
                                  for a in node.names if a.name.startswith("_")]
    assert offenders == []
