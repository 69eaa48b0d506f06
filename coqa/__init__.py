"""Chinese conversational QA, in layers: coqa.data (dialogues, history, windows, cache)
and coqa.train (the loop) are shared and know no model; coqa.extractive is the extractive
model; coqa.tools the python -m commands; coqa.cli what both entry scripts share.

The evaluator is the top-level package `evaluate`, the name of Hugging Face's `evaluate`
library too; coqa itself imports it. Where `import evaluate` would find another package
(Hugging Face's installed in the same environment, or a folder named evaluate in the
current directory or on PYTHONPATH), importing coqa stops every program of ours with one
line naming both paths and what to do, instead of a puzzling "No module named
'evaluate.answer_kinds'" later.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Optional

OUR_EVALUATE = Path(__file__).resolve().parent.parent / "evaluate" / "__init__.py"


def evaluate_conflict() -> Optional[str]:
    """None when `import evaluate` finds this toolkit's evaluator, else the one-line
    message. Finds the module without importing it (Hugging Face's is heavy)."""
    module = sys.modules.get("evaluate")
    if module is not None:  # already imported: ours has evaluate_files and read_gold
        if hasattr(module, "evaluate_files") and hasattr(module, "read_gold"):
            return None
        found = getattr(module, "__file__", None) or repr(module)
    else:
        spec = importlib.util.find_spec("evaluate")
        found = spec.origin if spec is not None else None
        if found is not None and Path(found).resolve() == OUR_EVALUATE:
            return None
    return (f"`import evaluate` finds {found or 'nothing'}, not this toolkit's evaluator "
            f"{OUR_EVALUATE.parent}: Hugging Face's `evaluate` library has the same name; "
            "uninstall it from this environment (pip uninstall evaluate) or use a separate "
            "one, and run from a folder without its own evaluate/")


_conflict = evaluate_conflict()
if _conflict is not None:
    print(f"error: {_conflict}", file=sys.stderr)
    raise SystemExit(2)
